#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 12: only the listener names a client, and a client's key signs
# only that client's mail in that client's queue. A mail that claims a
# client by its own X-Koverto-Client line, through koverto submit, raw in
# another queue, or inside the DATA of another client, is signed as any
# mail of its queue (alice, the default key), never with the client's
# key (sam); the worker warns where the line was on top of a queue file.
. "$T/lib.sh"
setup
listen_config \
	"[client vip]" "password = $(hash_pw vip-pw)" "queue = sign-only" "key = $(fpr sam)" \
	"senders = .*@example\\.org" \
	"[client plain]" "password = $(hash_pw plain-pw)" "queue = fallback" "senders = .*@example\\.org"
start_listener

mail() { printf 'X-Koverto-Client: vip\nFrom: carl@example.org\nTo: dave@example.com\nSubject: %s\n\nbody %s\n' "$1" "$1"; }
# 1. koverto submit: the mail's own line is dropped.
mail via-submit | submit sign-only
# 2. Raw into another queue (fallback), the line on top: ignored, warned.
mail raw-other > "$W/q/fallback/tmp/raw1"
mv "$W/q/fallback/tmp/raw1" "$W/q/fallback/new/raw1"
# 3. Inside the DATA of another client: removed by the listener.
printf 'X-Koverto-Client: vip\r\nFrom: carl@example.org\r\nTo: dave@example.com\r\nSubject: in-data\r\n\r\nbody\r\n' > "$W/m.eml"
curl -sS --ssl-reqd --cacert "$CA/ca.pem" -u plain:plain-pw --mail-from carl@example.org \
	--mail-rcpt dave@example.com -T "$W/m.eml" "smtp://127.0.0.1:$SUBPORT" > "$W/curl.out" 2>&1
check "the other client's mail is accepted" [ $? = 0 ]
# 4. The client itself, by the listener: its key.
swaks_tls vip vip-pw carl@example.org dave@example.com --header "Subject: genuine" > "$W/vip.out" 2>&1
check "vip's own mail is accepted" grep -q '^<~  250 2.0.0' "$W/vip.out"

wait_sink 4 || diag "sink: $(sink_count)"
signer_of() {
	f=$(grep -l "Subject: $1" $(sink_files)) && verify_signed "$f" &&
		awk '$2 == "VALIDSIG" { print $NF }' "$W/verify.status"
}
check "submit: signed with the queue's way (alice), not vip's key" [ "$(signer_of via-submit)" = "$(fpr alice)" ]
check "raw in another queue: alice, not vip's key" [ "$(signer_of raw-other)" = "$(fpr alice)" ]
check "raw in another queue: the worker warns" \
	grep -q 'id=raw1: X-Koverto-Client "vip" ignored: no client of queue fallback' "$W/log"
check "inside DATA: alice, not vip's key" [ "$(signer_of in-data)" = "$(fpr alice)" ]
check "the genuine client: its key (sam)" [ "$(signer_of genuine)" = "$(fpr sam)" ]
check "no client line leaves" sh -c "! grep -rqi '^X-Koverto-Client' '$SINK'"
done_testing
