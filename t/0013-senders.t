#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# A queue may restrict its senders: the envelope sender and From must both
# match, otherwise the mail fails with that reason and nothing is sent.
. "$T/lib.sh"
setup
printf '[queue fallback]\nsenders = alice@example\\.org\n' >> "$CONF"

printf 'From: alice@example.org\nTo: bob@example.net\nSubject: ok\n\nOK\n' | submit fallback
oneshot
check "allowed sender: delivered" [ "$STATUS" = 0 ]
printf 'From: sam@example.org\nTo: bob@example.net\nSubject: no\n\nSAM-BODY\n' | submit fallback
oneshot
check "other From: failed" [ "$STATUS" = 1 ]
check "other From: the reason names the sender" grep -q "sender sam@example.org is not allowed in queue fallback" "$W"/q/failed/*.reason
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: env\n\nENV-BODY\n' | submit fallback -f sam@example.org bob@example.net
oneshot
check "allowed From but other envelope sender: failed" [ "$STATUS" = 1 ]
check "nothing of the refused mails was sent" [ "$(sink_count)" = 1 ]
printf 'From: alice@example.org.evil\nTo: bob@example.net\nSubject: evil\n\nEVIL\n' | submit fallback
oneshot
check "the pattern matches the whole address" [ "$STATUS" = 1 ]
done_testing
