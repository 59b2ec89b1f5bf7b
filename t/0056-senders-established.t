#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 10 A4: a queue with senders refuses any mail whose sender cannot be
# established and matched: exactly one From field holding one mailbox, and
# an envelope sender that matches too (the null sender matches nothing).
# Nothing of a refused mail is sent, nothing is signed with the queue's key.
. "$T/lib.sh"
setup
printf '[queue fallback]\nsenders = alice@example\\.org\n' >> "$CONF"

# try DESCRIPTION FROM-LINES [submit args]: the mail must be refused.
try() {
	desc=$1 from=$2; shift 2
	printf "${from}To: bob@example.net\nSubject: $desc\n\nREFUSED-BODY\n" | submit fallback "$@" 2>>"$W/submit.err"
	oneshot
	check "$desc: failed" [ "$STATUS" = 1 ]
	check "$desc: nothing sent" [ "$(sink_count)" = 0 ]
}
try "memberless group" 'From: friends:;\n' -f alice@example.org
try "empty From" 'From:\n' -f alice@example.org
try "memberless group, then a second From" 'From: friends:;\nFrom: mallory@example.org\n' -f alice@example.org
try "two From fields" 'From: alice@example.org\nFrom: mallory@example.org\n' -f alice@example.org
try "two mailboxes in From" 'From: alice@example.org, mallory@example.org\n' -f alice@example.org
try "a group holding the sender" 'From: team: alice@example.org;\n' -f alice@example.org
try "null envelope sender" 'From: alice@example.org\n' -f '<>'
check "the reasons say what is missing" grep -q "sender (no From: with exactly one mailbox) is not allowed in queue fallback" "$W"/q/failed/*.reason
check "the null sender is named" grep -q "sender <> (the null sender) is not allowed in queue fallback" "$W"/q/failed/*.reason
check "nothing of the refused mails was sent" no_plaintext REFUSED-BODY

printf 'From: Alice <alice@example.org>\nTo: bob@example.net\nSubject: ok\n\nOK\n' | submit fallback
oneshot
check "one From mailbox that matches: delivered" [ "$STATUS" = 0 ]
check "and sent" [ "$(sink_count)" = 1 ]
done_testing
