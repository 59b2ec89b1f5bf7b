#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 12: the SMTP listener. Three applications, each a client with its
# own password, queue and key, send over STARTTLS + AUTH with three real
# clients (swaks, curl, Python's smtplib). Each mail comes out of its
# queue as the queue's policy says, signed with its client's key (sam),
# or with the default key (alice) for the client that has none; the id
# in the 250 is the queue file's name that the worker logs.
. "$T/lib.sh"
setup
listen_config \
	"[client monitoring]" "password = $(hash_pw 'mon pw')" "queue = must-encrypt" \
	"key = $(fpr sam)" "senders = nagios@example\\.org" \
	"[client tickets]" "password = $(hash_pw tix-pw)" "queue = fallback" \
	"senders = .*@tickets\\.example\\.org" \
	"[client crm]" "password = $(hash_pw crm-pw)" "queue = sign-only" "key = $(fpr sam)" \
	"senders = (news|events)@example\\.org"
start_listener

# swaks: monitoring, must-encrypt, to bob (who has a key).
swaks_tls monitoring 'mon pw' nagios@example.org bob@example.net \
	--header "Subject: mon-1" --body "Disk full on db1 MARK-MON" > "$W/swaks.out" 2>&1
check "swaks: queued (250 after DATA)" grep -q '^<~  250 2.0.0 .*queued as' "$W/swaks.out"
mon_id=$(sed -n 's/^<~  250 2.0.0 .*queued as \([^ ]*\).*/\1/p' "$W/swaks.out" | tr -d '\r')
check "swaks: STARTTLS was used" grep -q '^<-  220 .*TLS' "$W/swaks.out"

# curl: tickets, fallback, to dave (no key).
printf 'From: Help <help@tickets.example.org>\r\nTo: dave@example.com\r\nSubject: tix-1\r\n\r\nTicket body MARK-TIX\r\n' > "$W/tix.eml"
curl -sS --ssl-reqd --cacert "$CA/ca.pem" -u tickets:tix-pw --mail-from help@tickets.example.org \
	--mail-rcpt dave@example.com -T "$W/tix.eml" "smtp://127.0.0.1:$SUBPORT/app.example.org" \
	> "$W/curl.out" 2>&1
check "curl: accepted" [ $? = 0 ]

# Python's smtplib: crm, sign-only, to carol and dave.
"$PY" - "$SUBPORT" "$CA/ca.pem" > "$W/py.out" 2>&1 <<'PYEOF'
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
msg = ("From: News <news@example.org>\r\nTo: carol@example.net, dave@example.com\r\n"
       "Subject: crm-1\r\n\r\nNewsletter body MARK-CRM\r\n.leading dot\r\n")
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="crm.example.org") as s:
    s.starttls(context=ctx)
    s.login("crm", "crm-pw")
    print(s.sendmail("news@example.org", ["carol@example.net", "dave@example.com"], msg))
    print("OK")
PYEOF
check "smtplib: accepted" grep -q '^OK' "$W/py.out"

wait_sink 3 || diag "sink: $(sink_count) mails; log: $(tail -5 "$W/log")"
check "three copies reached the sink" [ "$(sink_count)" = 3 ]

# must-encrypt: bob's copy encrypted, signed by monitoring's key (sam).
m=$(grep -l "Subject: mon-1" $(sink_files))
check "monitoring: encrypted" [ "$(content_type "$m")" = multipart/encrypted ]
check "monitoring: no plaintext left" no_plaintext MARK-MON
decrypt "$m" > "$W/plain"
check "monitoring: decrypts to the body" grep -q "MARK-MON" "$W/plain"
check "monitoring: signed by its client's key (sam)" grep -q "VALIDSIG $(fpr sam)" "$W/decrypt.status"
check "monitoring: envelope" [ "$(envelope "$m" rcpt_tos)" = bob@example.net ]
check "monitoring: envelope sender" [ "$(envelope "$m" mail_from)" = nagios@example.org ]
check "monitoring: a Received field with ESMTPSA, the id and the client" \
	sh -c "grep -A1 '^Received: from ' '$m' | grep -q 'by koverto.test (koverto) with ESMTPSA id $mon_id' && grep -q '(client monitoring);' '$m'"

# fallback: dave has no key: signed by the default key (alice).
t=$(grep -l "Subject: tix-1" $(sink_files))
check "tickets: signed" [ "$(content_type "$t")" = multipart/signed ]
check "tickets: signature verifies" verify_signed "$t"
check "tickets: by the default key (no key of its own)" grep -q "VALIDSIG $(fpr alice)" "$W/verify.status"

# sign-only: one signed copy, by sam; dot-stuffing undone.
c=$(grep -l "Subject: crm-1" $(sink_files))
check "crm: one copy for carol and dave" [ "$(envelope "$c" rcpt_tos)" = carol@example.net,dave@example.com ]
check "crm: signed" [ "$(content_type "$c")" = multipart/signed ]
check "crm: signature verifies" verify_signed "$c"
check "crm: by its client's key (sam)" grep -q "VALIDSIG $(fpr sam)" "$W/verify.status"
check "crm: the leading dot arrives unstuffed" grep -q '^\.leading dot' "$c"

# Nothing private leaves: the envelope block stays home.
check "no X-Kuvert-* or X-Koverto-Client line left" sh -c "! grep -rqi '^X-Kuvert-\|^X-Koverto-Client' '$SINK'"

# The log: one line per accepted mail; its id is the worker's id.
check "log: received line for monitoring" \
	grep -q "session=[^ ]* id=$mon_id: received from <nagios@example.org> into must-encrypt client=monitoring ip=127.0.0.1 helo=.* rcpt=1 size=[0-9]*$" "$W/log"
check "log: the worker's line has the same id" grep -q "id=$mon_id .*result=sent" "$W/log"
check "log: received line for tickets" grep -q "session=.*: received from <.*> into fallback client=tickets " "$W/log"
check "log: received line for crm" grep -q "session=.*: received from <.*> into sign-only client=crm .*helo=crm.example.org rcpt=2 " "$W/log"
check "queues empty afterwards" [ -z "$(find "$W/q"/*/new "$W/q"/*/cur "$W/q"/*/tmp -type f)" ]

lpid=$(listener_pid)
check "the listener is a process of its own" [ -n "$lpid" ]
stop_daemon
check "daemon stops cleanly" [ "$STATUS" = 0 ]
check "the listener stopped with it" sh -c "! kill -0 '$lpid' 2>/dev/null"
check "its port is closed" sh -c "! swaks --server 127.0.0.1:$SUBPORT --quit-after CONNECT >/dev/null 2>&1"
done_testing
