#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The client's own X-Kuvert-* and X-Koverto-* lines have no effect: the
# mail goes only to the envelope recipients and is signed with the key of
# the client that logged in, whatever the mail claims (any case, folded,
# on top or further down). The same holds for a file an MTA drops into a
# queue: a client line there names no client.
. "$T/lib.sh"
. "$T/ltest.sh"
lsetup

# deliver CLIENT PASSWORD FROM RCPT FILE: one mail through the listener.
deliver() {
	raw 2>>"$W/raw.err" <<RAW
$(login "$1" "$2")
$(to_data "$3" "$4")
data $5
expect 250
line QUIT
expect 221
RAW
}
signer() { verify_signed "$1" && awk '$2 == "VALIDSIG" { print $3 }' "$W/verify.status"; }

# mon (key: the default, alice) forges tick's client line (key sam) and
# extra recipients.
printf '%s\n' "X-Kuvert-To: carol@example.net" "X-Koverto-Client: tick" "x-kuvert-from: eve@example.org" \
	"X-KUVERT-TO: hank@example.net," "	ivan@example.net" "X-Koverto-Key: $(fpr sam)" \
	"From: alice@example.org" "To: dave@example.com" "X-kuvert-to: erin@example.net" \
	"Subject: forged pseudo-headers" "Message-ID: <forged@c.test>" "" "FORGED-BODY-MARKER" > "$W/forged.eml"
check "the mail with forged lines is accepted" deliver mon "$MON_PW" alice@example.org dave@example.com "$W/forged.eml"
check "delivered" wait_sink 1
f=$(latest)
check "only to the envelope recipient dave ($(envelope "$f" rcpt_tos))" [ "$(envelope "$f" rcpt_tos)" = dave@example.com ]
check "nothing went to carol, hank, ivan or erin" [ "$(sink_count)" = 1 ]
check "the envelope sender is the MAIL FROM" [ "$(envelope "$f" mail_from)" = alice@example.org ]
s=$(signer "$f")
check "signed with mon's key (alice), not the forged client's (sam): $s" [ "$s" = "$(fpr alice)" ]
check "no X-Kuvert- or X-Koverto-Client/-Key line left the gateway" sh -c "! grep -qiE '^X-(Kuvert-|Koverto-(Client|Key))' '$f'"
check "the body arrived" grep -q FORGED-BODY-MARKER "$f"
received() { "$PY" -c 'import email,sys; m=email.message_from_binary_file(open(sys.argv[1],"rb")); print(" ".join(" ".join(v.split()) for v in m.get_all("Received") or []))' "$1"; }
check "a Received line names the client and ESMTPSA ($(received "$f" | cut -c1-120))" sh -c "echo '$(received "$f")' | grep -q 'ESMTPSA.*client mon'"

# tick's own mail is signed with its own key: the forged line above would
# have made a difference.
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: tick own\nMessage-ID: <tick@c.test>\n\nTICK-OWN\n' > "$W/tick.eml"
check "tick's mail is accepted" deliver tick "$TICK_PW" alice@example.org bob@example.net "$W/tick.eml"
check "delivered" wait_sink 2
f=$(latest)
decrypt "$f" > "$W/tick.out"
check "tick's mail: encrypted (must-encrypt) to bob" grep -q TICK-OWN "$W/tick.out"
check "tick's mail: signed with tick's key (sam), although From is alice" grep -q "VALIDSIG $(fpr sam)" "$W/decrypt.status"

# Mail that came in another way names no client by a line of its own: an
# MTA's Maildir delivery (its Return-Path/Delivered-To on top, the mail's
# own header below), and koverto submit.
stop_daemon
m=$W/q/fallback/tmp/mta.1
printf 'Return-Path: <alice@example.org>\nDelivered-To: dave@example.com\nX-Koverto-Client: tick\nX-Koverto-Key: %s\nFrom: alice@example.org\nTo: dave@example.com\nSubject: mta claims tick\n\nMTA-CLAIM\n' "$(fpr sam)" > "$m"
mv "$m" "$W/q/fallback/new/mta.1"
printf 'X-Koverto-Client: tick\nFrom: alice@example.org\nTo: dave@example.com\nSubject: submit claims tick\n\nSUBMIT-CLAIM\n' | submit fallback dave@example.com
oneshot
check "an MTA's file and a submitted mail claiming a client: delivered" [ "$STATUS" = 0 ]
for marker in MTA-CLAIM SUBMIT-CLAIM; do
	f=$(grep -l "$marker" "$SINK"/*.eml)
	s=$(signer "$f")
	check "$marker: signed with the queue's key (alice), not the claimed client's (sam): $s" [ "$s" = "$(fpr alice)" ]
	check "$marker: the claim did not leave" sh -c "! grep -qi '^X-Koverto-Client' '$f'"
done
done_testing
