#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Named queues (issue 12): [queue NAME] with a policy, its own key and
# senders. Mail submitted with koverto submit --queue NAME comes out as its
# policy says, signed with its key; a named must-encrypt queue with a
# recipient without a key sends nothing; its sender restriction holds; an
# unknown queue is a usage error that names the known ones.
. "$T/lib.sh"
setup
cat >> "$CONF" <<CONF
[queue monitoring]
policy = must-encrypt
key = $(fpr sam)
senders = alice@example\\.org

[queue tickets]
policy = fallback

[queue crm_2]
policy = sign-only
key = $(fpr sam)
CONF

mail() {
	cat <<MAIL
From: Alice Sender <alice@example.org>
To: $2
Subject: $1
Message-ID: <$1@example.org>

Secret body $1: the eagle lands at noon.
MAIL
}

check "koverto -n takes the named queues" "$KOVERTO" -c "$CONF" -n
mail mon-ok "Bob <bob@example.net>" | submit monitoring
check "submit --queue monitoring: into its Maildir" [ "$(ls "$W/q/monitoring/new" | wc -l)" = 1 ]
check "queue directories are mode 0700" [ "$(stat -c %a "$W/q/monitoring" "$W/q/tickets/new" "$W/q/crm_2/cur" | sort -u)" = 700 ]
mail mon-nokey "Bob <bob@example.net>, dave@example.com" | submit monitoring
printf 'From: sam@example.org\nTo: bob@example.net\nSubject: mon-sam\n\nSAM-SECRET\n' | submit monitoring
mail tick "Bob <bob@example.net>, dave@example.com" | submit tickets
mail crm "Bob <bob@example.net>" | submit crm_2
oneshot
check "one-shot run: 1 (mail failed)" [ "$STATUS" = 1 ]

# monitoring (must-encrypt, key sam): bob's copy encrypted, signed by sam inside
m=$(grep -l "Subject: mon-ok" $(sink_files))
check "monitoring: one copy reached the sink" [ "$(echo "$m" | wc -w)" = 1 ]
check "monitoring: multipart/encrypted" [ "$(content_type "$m")" = multipart/encrypted ]
check "monitoring: holds no plaintext" sh -c "! grep -q eagle '$m'"
decrypt "$m" > "$W/plain"
check "monitoring: decrypts to the body" grep -q "Secret body mon-ok" "$W/plain"
check "monitoring: signed inside with the queue's key (sam)" grep -q "VALIDSIG $(fpr sam)" "$W/decrypt.status"
check "monitoring: encrypted to bob's key only" [ "$(enc_to)" = "$(enc_subkey bob@example.net)" ]
check "log: queue=monitoring result=sent" grep -q "queue=monitoring from=alice@example.org rcpt=1 delivered=1 .*result=sent" "$W/log"

# monitoring, dave has no key: nothing to anybody, failed under the queue's name
check "monitoring, a recipient without key: nothing of it was sent" no_plaintext "Secret body mon-nokey"
check "monitoring, refused: parked as failed/monitoring.ID" sh -c "grep -l 'no usable key for dave@example.com' '$W'/q/failed/monitoring.*.reason"
check "monitoring: a sender outside senders is refused" sh -c "grep -l 'sender sam@example.org is not allowed in queue monitoring' '$W'/q/failed/monitoring.*.reason"
check "monitoring: nothing of sam's mail was sent" no_plaintext SAM-SECRET
check "monitoring: its Maildir is empty" [ -z "$(find "$W/q/monitoring/new" "$W/q/monitoring/cur" -type f)" ]

# tickets (fallback, no key of its own): bob encrypted, dave signed by alice (From's own)
t=$(grep -l "Subject: tick" $(sink_for bob@example.net))
check "tickets: bob's copy encrypted" [ "$(content_type "$t")" = multipart/encrypted ]
decrypt "$t" > "$W/plain"
check "tickets: bob's copy decrypts, signed by alice" grep -q "VALIDSIG $(fpr alice)" "$W/decrypt.status"
d=$(grep -l "Subject: tick" $(sink_for dave@example.com))
check "tickets: dave's copy signed" [ "$(content_type "$d")" = multipart/signed ]
verify_signed "$d"
check "tickets: dave's copy is signed by alice" grep -q "VALIDSIG $(fpr alice)" "$W/verify.status"

# crm_2 (sign-only, key sam): signed by sam, not encrypted although bob has a key
c=$(grep -l "Subject: crm" $(sink_files))
check "crm_2: multipart/signed" [ "$(content_type "$c")" = multipart/signed ]
verify_signed "$c"
check "crm_2: signed with the queue's key (sam)" grep -q "VALIDSIG $(fpr sam)" "$W/verify.status"
check "sink got exactly 4 copies" [ "$(sink_count)" = 4 ]

# explain sees the named queue's policy and key
mail x "bob@example.net" | "$KOVERTO" explain -c "$CONF" --queue crm_2 --json > "$W/plan.json"
check "explain --queue crm_2: queue and policy" "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["queue"] == "crm_2" and d["policy"] == "sign-only", d
assert d["signer"]["key"]["fingerprint"] == sys.argv[2], d["signer"]
' "$W/plan.json" "$(fpr sam)"

# unknown queues: usage error naming the known ones, nothing written
code() { "$@" >/dev/null 2>"$W/err"; echo $?; }
for q in nope state failed kuvert2 Monitoring ../fallback 123; do
	check "submit --queue $q: exit 64" [ "$(echo x | code "$KOVERTO" submit -C "$CONF" --queue "$q" bob@example.net)" = 64 ]
done
check "the message lists the queues" grep -q "must-encrypt, fallback, sign-only, monitoring, tickets, crm_2" "$W/err"
esc=$(printf 'x\033[31m')
check "an unknown name with a terminal escape: 64" [ "$(echo x | code "$KOVERTO" submit -C "$CONF" --queue "$esc" bob@example.net)" = 64 ]
check "the escape is shown escaped, not sent to the terminal" sh -c "grep -qF 'unknown queue \"x\\033[31m\"' '$W/err' && ! grep -q \"\$(printf '\\033')\" '$W/err'"
check "explain --queue nope: exit 64" [ "$(code "$KOVERTO" explain -c "$CONF" --queue nope --no-mail bob@example.net)" = 64 ]
check "nothing was queued by them" [ -z "$(find "$W/q" -path "$W/q/failed" -prune -o -type f -newer "$W/plan.json" -print | grep -v 'koverto.pid')" ]
done_testing
