#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 10 A7 and B6: koverto submit (and kuvert_submit) without recipients,
# or with -t, sends a bounce to its Resent-* recipients as sendmail -t does,
# not to the original To; and it takes -c FILE, as the daemon does.
. "$T/lib.sh"
setup
write_config "defaultaction = fallback"
bounce='From: alice@example.org\nTo: bob@example.net\nSubject: bounced\nResent-From: alice@example.org\nResent-To: carol@example.net\nResent-Cc: dave@example.com\n\nRESENT body\n'

printf "$bounce" | submit fallback -t
check "policy queue -t: the envelope is Resent-To/-Cc" grep -qx 'X-Kuvert-To: carol@example.net, dave@example.com' "$W"/q/fallback/new/*
oneshot
check "policy queue -t: delivered" [ "$STATUS" = 0 ]
check "policy queue -t: bob (the original To) got nothing" [ -z "$(sink_for bob@example.net)" ]
check "policy queue -t: carol got it" [ -n "$(sink_for carol@example.net)" ]
check "policy queue -t: dave got it" [ -n "$(sink_for dave@example.com)" ]
rm -f "$SINK"/0*

printf "$bounce" | submit must-encrypt
oneshot
check "no recipients: not to bob either" [ -z "$(sink_for bob@example.net)" ]
check "no recipients: must-encrypt refused dave (no key), so nothing was sent" [ "$(sink_count)" = 0 ]
rm -f "$SINK"/0*

# The Kuvert queue, as after Kuvert's kuvert_submit -t: Kuvert's bounce
# shortcut, to the Resent-* addresses only.
printf "$bounce" | "$KOVERTO" submit -C "$CONF" -t
f=$(ls "$W/q" | grep -E '^[0-9]+$')
check "Kuvert queue: no X-Kuvert-To written for a bounce" sh -c "! grep -qi '^X-Kuvert-To' '$W/q/$f'"
oneshot
check "Kuvert queue: delivered" [ "$STATUS" = 0 ]
check "Kuvert queue: bob got nothing" [ -z "$(sink_for bob@example.net)" ]
check "Kuvert queue: carol got it" [ -n "$(sink_for carol@example.net)" ]
rm -f "$SINK"/0*

# B6: -c FILE as for the daemon.
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: c\n\nC body\n' | "$KOVERTO" submit -c "$CONF" --queue fallback 2>>"$W/submit.err"
check "-c FILE: queued" [ "$?" = 0 ]
check "-c FILE: in the configured queue" [ "$(ls "$W/q/fallback/new" | wc -l)" = 1 ]
printf 'From: alice@example.org\nTo: bob@example.net\n\nx\n' | "$KOVERTO" submit --queue fallback -c 2>>"$W/submit.err"
check "-c without FILE: usage error 64" [ "$?" = 64 ]
done_testing
