#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The Kuvert queue: all-digit files at the top of queuedir, written in place
# under flock (as kuvert_submit does) or by koverto submit without --queue,
# decided by defaultaction and rules, parked as .N when they fail.
. "$T/lib.sh"
setup
write_config "defaultaction = fallback" "mail-on-error = postmaster@example.org"

printf 'From: alice@example.org\nTo: bob@example.net, dave@example.com\nSubject: kq\n\nKQ body\n' | "$KOVERTO" submit -C "$CONF"
f=$(ls "$W/q" | grep -E '^[0-9]+$')
check "submit without --queue writes an all-digit file at the top" [ -n "$f" ]
check "it is 0600" [ "$(stat -c %a "$W/q/$f")" = 600 ]
check "nothing else is left at the top" [ -z "$(ls -A "$W/q" | grep '^\.')" ]
oneshot
check "defaultaction fallback: exit 0" [ "$STATUS" = 0 ]
check "bob encrypted" [ "$(content_type "$(sink_for bob@example.net)")" = multipart/encrypted ]
check "dave signed" [ "$(content_type "$(sink_for dave@example.com)")" = multipart/signed ]
check "the queue file is gone" [ -z "$(ls "$W/q" | grep -E '^[0-9]+$')" ]
rm -f "$SINK"/0*

# kuvert_submit's way: open, flock, write in place, close. The daemon waits
# for the lock and takes the file when it is closed.
start_daemon
(
	flock -x 9
	printf 'X-Kuvert-To: carol@example.net\nFrom: alice@example.org\nTo: bob@example.net\nSubject: locked\n\nLOCKED\n' >&9
	sleep 1
	check "not taken while its writer holds the lock" [ "$(sink_count)" = 0 ]
) 9>"$W/q/424242"
check "taken once the writer closes it" wait_sink 1
check "the envelope decided: carol only" [ "$(envelope "$(latest)" rcpt_tos)" = carol@example.net ]
stop_daemon
rm -f "$SINK"/0*

# A failure parks the file as .N with a reason, and the alert says how to retry.
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: park\n\nPARK\n' > "$W/q/777"
printf 'RCPT bob@example.net 550 5.1.1 no such user\n' > "$W/replies"
oneshot
check "5xx: failed (1)" [ "$STATUS" = 1 ]
check "parked as .777" [ -f "$W/q/.777" ]
check "with its reason beside it" grep -q "550" "$W/q/.777.reason"
a=$(sink_for postmaster@example.org)
check "the alert names the parked file and how to retry" grep -q "777" "$a"
rm -f "$SINK"/0* "$W/q/.777" "$W/q/.777.reason"

# Partly delivered, then failed: the parked file's envelope names only the
# recipients that did not get it, so renaming it back sends nothing twice.
printf 'RCPT dave@example.com 550 5.1.1 no such user\n' > "$W/replies"
printf 'From: alice@example.org\nTo: bob@example.net, dave@example.com\nSubject: partial\n\nPARTIAL\n' > "$W/q/888"
oneshot
check "partial: failed" [ "$STATUS" = 1 ]
check "partial: bob got it" [ -n "$(sink_for bob@example.net)" ]
check "partial: the parked envelope names dave only" grep -qx "X-Kuvert-To: dave@example.com" "$W/q/.888"
: > "$W/replies"
mv "$W/q/.888" "$W/q/888"
oneshot
check "renamed back: delivered" [ "$STATUS" = 0 ]
check "renamed back: bob did not get it twice" [ "$(sink_for bob@example.net | wc -l)" = 1 ]
check "renamed back: dave got it" [ -n "$(sink_for dave@example.com)" ]

# Installed as kuvert_submit, the binary is koverto submit.
# The binary itself (not a wrapper such as scripts/memcheck's): the name matters.
ln -s "${KOVERTO_BIN:-$KOVERTO}" "$W/kuvert_submit"
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: ks\n\nKS\n' | KOVERTO_CONF=$CONF "$W/kuvert_submit" -oi -F "Alice Sender" bob@example.net
check "kuvert_submit: queued into the Kuvert queue" [ -n "$(ls "$W/q" | grep -E '^[0-9]+$')" ]
check "kuvert_submit: -F's argument did not become a recipient" grep -qx "X-Kuvert-To: bob@example.net" "$W"/q/[0-9]*
done_testing
