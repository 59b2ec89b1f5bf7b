#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# must-encrypt: every recipient needs a usable key or nobody gets anything;
# no plaintext byte of the body ever reaches the sink.
. "$T/lib.sh"
setup
write_config "mail-on-error = postmaster@example.org"

mail() { # SUBJECT RECIPIENTS...
	s=$1; shift
	printf 'From: alice@example.org\nTo: %s\nSubject: %s\n\nPLAINTEXT-%s must never leak.\n' "$*" "$s" "$s"
}

mail ok bob@example.net, carol@example.net | submit must-encrypt
oneshot
check "all keyed: exit 0" [ "$STATUS" = 0 ]
f=$(sink_for bob@example.net)
check "all keyed: one encrypted copy to bob and carol" [ "$(envelope "$f" rcpt_tos)" = bob@example.net,carol@example.net ]
check "all keyed: multipart/encrypted" [ "$(content_type "$f")" = multipart/encrypted ]
decrypt "$f" > "$W/plain"
check "all keyed: decrypts to the body" grep -q "PLAINTEXT-ok" "$W/plain"

n=0
for case in "dave@example.com:no key" "frank@example.net:not valid" "erin@example.net:sign-only key" \
            "hank@example.net:expired" "ivan@example.net:revoked"; do
	addr=${case%%:*}; what=${case#*:}
	n=$((n + 1))
	mail "refuse$n" bob@example.net, "$addr" | submit must-encrypt
	before=$(sink_count)
	oneshot
	check "$what ($addr): exit 1 (failed)" [ "$STATUS" = 1 ]
	check "$what: nothing new went out except the alert" [ "$(ls "$SINK" | grep -c json)" -le $((before + 1)) ]
	check "$what: mail kept in failed/ with a reason" sh -c "grep -l 'no usable key for $addr' '$W'/q/failed/*.reason"
	check "$what: log says refused" grep -q "refused: no usable key for $addr" "$W/log"
done
check "the refused bodies never reached the sink" no_plaintext "PLAINTEXT-refuse"
alert=$(sink_for postmaster@example.org | head -1)
check "an alert went to mail-on-error" [ -n "$alert" ]
check "the alert carries no body" sh -c "! grep -q 'must never leak' $(sink_for postmaster@example.org | tr '\n' ' ')"

# Bcc without a key refuses the whole mail too.
printf 'From: alice@example.org\nTo: bob@example.net\nBcc: dave@example.com\nSubject: bcc\n\nPLAINTEXT-bcc\n' | submit must-encrypt
oneshot
check "keyless Bcc: refused" [ "$STATUS" = 1 ]
check "keyless Bcc: bob got nothing" no_plaintext "PLAINTEXT-bcc"

# X-Kuvert and directives cannot weaken the queue.
printf 'From: alice@example.org\nTo: Dave "action=none" <dave@example.com>\nX-Kuvert: none\nSubject: weaken\n\nPLAINTEXT-weaken\n' | submit must-encrypt
oneshot
check "X-Kuvert: none and action=none do not weaken must-encrypt" [ "$STATUS" = 1 ]
check "weaken attempt: nothing leaked" no_plaintext "PLAINTEXT-weaken"
done_testing
