#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# OpenSMTPD in front of koverto (issue 13), the recipe of
# doc/deploy-opensmtpd.md with Debian 12's own smtpd (t/opensmtpd.sh):
# three applications on three loopback ports, each tagged, its sender
# restricted, and delivered by a maildir action into its named koverto
# queue (must-encrypt, fallback, sign-only, each with its own key). Each
# mail leaves as its queue's policy and key say; a wrong sender and an
# untagged listener are refused; must-encrypt mail is never readable at
# the sink; a forged From: passes OpenSMTPD but not the queue's senders.
. "$T/lib.sh"
. "$T/opensmtpd.sh"
need_root
setup
"$GPG" --homedir "$W/g" --batch --quiet --import "$T/keys/carol.sec.asc" 2>/dev/null ||
	bail "cannot import carol's secret key"
app_queues "$(fpr carol)" >> "$CONF"
smtpd_setup
start_daemon_as

# The recipe, on free ports; a fourth listener without a tag stands for
# any other way in (it must reach no queue).
smtpd_conf() {
	cat > "$W/smtpd.conf" <<EOF
listen on 127.0.0.1 port $PM tag monitoring
listen on 127.0.0.1 port $PT tag tickets
listen on 127.0.0.1 port $PC tag civicrm
listen on 127.0.0.1 port $PU

action "monitoring" maildir "$W/q/monitoring" virtual { "@" = $KOVUSER }
action "tickets"    maildir "$W/q/tickets"    virtual { "@" = $KOVUSER }
action "civicrm"    maildir "$W/q/civicrm"    virtual { "@" = $KOVUSER }

match from local tag monitoring mail-from "nagios@example.org"     for any action "monitoring"
match from local tag tickets    mail-from "@tickets.example.org"   for any action "tickets"
match from local tag civicrm    mail-from "newsletter@example.org" for any action "civicrm"
match from any tag monitoring for any reject
match from any tag tickets    for any reject
match from any tag civicrm    for any reject
match from any for any reject
EOF
}
tries=0
while :; do
	PM=$(free_port) PT=$(free_port) PC=$(free_port) PU=$(free_port)
	smtpd_conf
	smtpd_start "$W/smtpd.conf" "$PM" "$PT" "$PC" "$PU" && break
	tries=$((tries + 1))
	[ "$tries" -ge 5 ] && bail "smtpd: no free ports after 5 tries: $(tail -3 "$W/smtpd.log")"
done
ok "smtpd -n accepts the recipe; smtpd listens on the four ports"

mail() {
	cat <<MAIL
From: ${3:-$2}
To: $4
Subject: $1
Message-ID: <$1@example.org>

Secret body $1: the eagle lands at noon.
MAIL
}
# send SUBJECT PORT SENDER RECIPIENTS [FROM-HEADER]: one mail by plain SMTP;
# swaks' status in SENT, its dialogue in $W/swaks.SUBJECT.
send() {
	SENT=0
	mail "$1" "$3" "${5:-}" "$4" |
		swaks --server "127.0.0.1:$2" --from "$3" --to "$4" --data - >"$W/swaks.$1" 2>&1 || SENT=$?
}

send mon-ok "$PM" nagios@example.org bob@example.net
check "monitoring port, its sender: accepted" [ "$SENT" = 0 ]
send mon-two "$PM" nagios@example.org bob@example.net,dave@example.com
send tick "$PT" help@tickets.example.org bob@example.net,dave@example.com
send crm "$PC" newsletter@example.org bob@example.net
check "tickets and civicrm ports, their senders: accepted" [ "$SENT" = 0 ]
send mon-forged "$PM" nagios@example.org bob@example.net "Boss <ceo@example.org>"
check "monitoring port, its envelope sender, another From: accepted by OpenSMTPD" [ "$SENT" = 0 ]

send wrong-mon "$PM" newsletter@example.org bob@example.net
check "monitoring port, civicrm's sender: refused" [ "$SENT" != 0 ]
check "... with 550 at RCPT" grep -q '<\*\* *550 .*Invalid recipient' "$W/swaks.wrong-mon"
send wrong-tick "$PT" nagios@example.org bob@example.net
check "tickets port, monitoring's sender: refused" [ "$SENT" != 0 ]
send untagged "$PU" nagios@example.org bob@example.net
check "the untagged listener: refused" [ "$SENT" != 0 ]
check "... with 550 at RCPT" grep -q '<\*\* *550 .*Invalid recipient' "$W/swaks.untagged"

# 5 copies out (mon-ok, mon-two to bob, tick to bob and dave, crm), 2 failed
failed() { ls "$W/q/failed" 2>/dev/null | grep -c '\.reason$'; }
check "5 copies reached the sink" wait_sink 5
check "2 mails failed" wait_for 20 sh -c "[ \$(ls '$W/q/failed' | grep -c '\\.reason\$') -ge 2 ]"

# monitoring (must-encrypt, key sam)
m=$(grep -l "Subject: mon-ok" $(sink_files))
check "monitoring: one copy" [ "$(echo "$m" | wc -w)" = 1 ]
check "monitoring: multipart/encrypted" [ "$(content_type "$m")" = multipart/encrypted ]
decrypt "$m" > "$W/plain"
check "monitoring: decrypts to the body" grep -q "Secret body mon-ok" "$W/plain"
check "monitoring: signed inside with its queue's key (sam)" grep -q "VALIDSIG $(fpr sam)" "$W/decrypt.status"
check "monitoring: encrypted to bob only" [ "$(enc_to)" = "$(enc_subkey bob@example.net)" ]
check "monitoring: envelope sender from Return-Path" [ "$(envelope "$m" mail_from)" = nagios@example.org ]
# one file per recipient: bob's copy of mon-two goes out alone, dave's fails
m2=$(grep -l "Subject: mon-two" $(sink_files))
check "monitoring, bob and dave (no key): bob's copy encrypted" [ "$(content_type "$m2")" = multipart/encrypted ]
check "... to bob alone" [ "$(envelope "$m2" rcpt_tos)" = bob@example.net ]
check "... dave's copy failed: no key" sh -c "grep -q 'no usable key for dave@example.com' '$W'/q/failed/monitoring.*.reason"
check "monitoring: no plaintext of any of its mails at the sink" no_plaintext "Secret body mon-"
check "monitoring: a forged From: is failed by the queue's senders" \
	sh -c "grep -q 'sender ceo@example.org is not allowed in queue monitoring' '$W'/q/failed/monitoring.*.reason"

# tickets (fallback, key alice): one copy per recipient
b=$(grep -l "Subject: tick" $(sink_for bob@example.net))
check "tickets: bob's copy encrypted" [ "$(content_type "$b")" = multipart/encrypted ]
decrypt "$b" > "$W/plain"
check "tickets: bob's copy signed inside by its queue's key (alice)" grep -q "VALIDSIG $(fpr alice)" "$W/decrypt.status"
d=$(grep -l "Subject: tick" $(sink_for dave@example.com))
check "tickets: dave's copy signed, not encrypted" [ "$(content_type "$d")" = multipart/signed ]
verify_signed "$d"
check "tickets: dave's copy signed by alice" grep -q "VALIDSIG $(fpr alice)" "$W/verify.status"
check "tickets: two deliveries of one recipient each" wait_for 20 sh -c \
	"[ \$(grep -c 'queue=tickets from=help@tickets.example.org rcpt=1 delivered=1 ' '$W/log') = 2 ]"

# civicrm (sign-only, key carol): signed although bob has a key
c=$(grep -l "Subject: crm" $(sink_files))
check "civicrm: multipart/signed" [ "$(content_type "$c")" = multipart/signed ]
verify_signed "$c"
check "civicrm: signed by its queue's key (carol)" grep -q "VALIDSIG $(fpr carol)" "$W/verify.status"

check "sink got exactly 5 copies" [ "$(sink_count)" = 5 ]
check "nothing of the refused mails was delivered" sh -c "! grep -rqE 'Subject: (wrong-|untagged)' '$SINK' '$W/q'"
check "the queues are empty" [ -z "$(find "$W/q/monitoring" "$W/q/tickets" "$W/q/civicrm" -type f)" ]

procs="$SMTPD_PID $(descendants "$SMTPD_PID" | cut -d' ' -f1)"
check "smtpd runs as several processes" [ "$(echo $procs | wc -w)" -ge 5 ]
smtpd_stop
gone=1
for p in "$PM" "$PT" "$PC" "$PU"; do listening "$p" && gone=0; done
check "smtpd stopped: none of its ports listens" [ "$gone" = 1 ]
left=0
for p in $procs; do kill -0 "$p" 2>/dev/null && left=1; done
check "... and none of its processes is left" [ "$left" = 0 ]
stop_daemon
check "koverto stopped: exit 0 (under valgrind: no memory error)" [ "$STATUS" = 0 ]
done_testing
