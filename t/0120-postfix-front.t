#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 13: Postfix in front of koverto, end to end, with the configuration
# of doc/deploy-postfix.md (read out of it: the blocks marked
# "<!-- tested: NAME -->", with the production paths, port and user
# replaced below). A private Postfix instance with TLS (the test CA) and
# SASL logins through a private Dovecot (passwd-file of {CRYPT} hashes:
# yescrypt from koverto hash-password and SHA-512 crypt) takes mail from
# three applications (swaks, STARTTLS + AUTH) and routes each login by
# check_sasl_access → FILTER to its pipe transport, which runs koverto
# submit --mta as an unprivileged user into that login's koverto queue:
# monitoring (must-encrypt, sam's key), tickets (fallback, alice's key),
# civicrm (sign-only, a key made here). Checks: each mail comes out per its
# queue's policy and key; a wrong password (535) and a wrong sender (553)
# are refused by Postfix; the null sender with a From the queue does not
# allow gets through Postfix but nothing readable leaves koverto; the
# loopback limit exemption is empty; with the queue unwritable Postfix
# defers (never bounces), and after postqueue -f the mail arrives exactly
# once; the must-encrypt mail's plaintext is nowhere at the sink.
. "$T/lib.sh"
. "$T/postfix.sh"
pf_require
t0=$(date +%s)
pf_setup
test_ca
DOC=$T/../doc/deploy-postfix.md

# The third signing key (civicrm's), made here: the fixture has two secret keys.
"$GPG" --homedir "$W/g" --batch --quiet --passphrase '' \
	--quick-gen-key 'CiviCRM <newsletter@example.org>' ed25519 sign 2d 2>>"$W/gpg.err" ||
	bail "cannot make civicrm's key: $(cat "$W/gpg.err")"
CRM=$("$GPG" --homedir "$W/g" --batch --with-colons --list-secret-keys newsletter@example.org 2>/dev/null |
	awk -F: '$1 == "fpr" { print $10; exit }')
"$GPG" --homedir "$W/g" --batch --export "$CRM" | "$GPG" --homedir "$W/r" --batch --quiet --import 2>>"$W/gpg.err"

app_queues "$CRM" >> "$CONF"
kov_own
start_daemon_as

# ---- the Postfix instance and its Dovecot, from the document ----
pf_init
dv_init
# doc_block NAME: the contents of the fenced block after "<!-- tested: NAME -->",
# with the production paths, port and user replaced by the test's.
doc_block() {
	awk -v m="<!-- tested: $1 -->" '
		$0 == m { f = 1; next }
		f == 1 && /^```/ { f = 2; next }
		f == 2 && /^```/ { exit }
		f == 2 { print }' "$DOC" | sed \
		-e "s|/etc/postfix-koverto|$PF|g" \
		-e "s|/var/spool/postfix-koverto|$PFQ|g" \
		-e "s|/var/lib/postfix-koverto|$PFD|g" \
		-e "s|/etc/koverto/smtp/key.pem|$CA/server.key|g" \
		-e "s|/etc/koverto/smtp/cert.pem|$CA/server.pem|g" \
		-e "s|/etc/koverto/smtp/passwd|$DV/passwd|g" \
		-e "s|/run/dovecot-koverto|$DV/run|g" \
		-e "s|/var/lib/dovecot-koverto|$DV/state|g" \
		-e "s|/etc/koverto/koverto.conf|$CONF|g" \
		-e "s|/usr/bin/koverto|$KOVERTO|g" \
		-e "s|127.0.0.1:2525|127.0.0.1:@PFPORT@|g" \
		-e "s|user=koverto |user=$KOVUSER |g"
}
for b in main.cf master.cf sender_logins login_queue dovecot.conf; do
	doc_block "$b" > "$W/doc.$b"
	[ -s "$W/doc.$b" ] || bail "doc/deploy-postfix.md has no tested block $b"
	grep -vE '^ *#' "$W/doc.$b" | grep -E '/etc/(postfix-|koverto)|/var/|/run/|/usr/local|:2525|user=koverto ' &&
		bail "block $b: a production path is left (add it to doc_block)"
done
# The instance's plumbing (pf_init), then the document's main.cf, then only
# the test's logging (a later line wins).
pf_main_file "$W/doc.main.cf"
pf_main "maillog_file = $PF/maillog" "syslog_name = postfix-koverto-test"
pf_master < "$W/doc.master.cf"
cp "$W/doc.sender_logins" "$PF/sender_logins"
cp "$W/doc.login_queue" "$PF/login_queue"
# A login the operator forgot in login_queue (the test's, not the document's).
echo "stray@example.org stray" >> "$PF/sender_logins"
pf_postmap "$PF/sender_logins" && pf_postmap "$PF/login_queue" || bail "postmap failed"
cp "$W/doc.dovecot.conf" "$DV/dovecot.conf"
# monitoring's password as the document says (koverto hash-password: $y$),
# the others as SHA-512 crypt.
dv_user monitoring mon-pw "$(echo mon-pw | "${KOVERTO_BIN:-$KOVERTO}" hash-password)"
dv_user tickets tix-pw
dv_user civicrm crm-pw
dv_user stray stray-pw
dv_start
pf_start
diag "postfix on 127.0.0.1:$PFPORT, set up in $(($(date +%s) - t0)) s"

# ---- three applications ----
pf_swaks monitoring mon-pw nagios@example.org bob@example.net \
	--header "Subject: mon" --body "MON-SECRET the eagle lands at noon" > "$W/sw.mon" 2>&1
check "monitoring: Postfix queued it (250 after STARTTLS + AUTH)" grep -q '^<~  250 2.0.0 Ok: queued' "$W/sw.mon"
pf_swaks tickets tix-pw help@tickets.example.org bob@example.net,dave@example.com \
	--header "Subject: tix" --body "TIX-BODY ticket 42" > "$W/sw.tix" 2>&1
check "tickets: Postfix queued it" grep -q '^<~  250 2.0.0 Ok: queued' "$W/sw.tix"
pf_swaks civicrm crm-pw newsletter@example.org bob@example.net \
	--header "Subject: crm" --body "CRM-BODY newsletter" > "$W/sw.crm" 2>&1
check "civicrm: Postfix queued it" grep -q '^<~  250 2.0.0 Ok: queued' "$W/sw.crm"
wait_sink 4 || diag "sink has $(sink_count) of 4: $(tail -3 "$W/log")"

# subject_at SUBJECT RCPT: the sink's copy with SUBJECT for envelope recipient RCPT.
subject_at() {
	for f in $(sink_for "$2"); do
		"$PY" -c 'import email,sys; m=email.message_from_binary_file(open(sys.argv[1],"rb")); sys.exit(m["Subject"] != sys.argv[2])' "$f" "$1" && echo "$f"
	done
}
m=$(subject_at mon bob@example.net)
check "monitoring: one copy for bob" [ "$(echo "$m" | wc -w)" = 1 ]
check "monitoring (must-encrypt): multipart/encrypted" [ "$(content_type "$m")" = multipart/encrypted ]
decrypt "$m" > "$W/mon.plain"
check "monitoring: decrypts to its body" grep -q "MON-SECRET" "$W/mon.plain"
check "monitoring: signed inside with its queue's key (sam)" grep -q "VALIDSIG $(fpr sam)" "$W/decrypt.status"
check "monitoring: encrypted to bob's key only" [ "$(enc_to)" = "$(enc_subkey bob@example.net)" ]
check "monitoring: envelope sender as Postfix got it" [ "$(envelope "$m" mail_from)" = nagios@example.org ]

m=$(subject_at tix bob@example.net)
check "tickets (fallback): bob's copy encrypted" [ "$(content_type "$m")" = multipart/encrypted ]
decrypt "$m" > "$W/tix.plain"
check "tickets: bob's copy signed inside with alice's key" grep -q "VALIDSIG $(fpr alice)" "$W/decrypt.status"
m=$(subject_at tix dave@example.com)
check "tickets: dave (no key) gets it signed" [ "$(content_type "$m")" = multipart/signed ]
verify_signed "$m"
check "tickets: dave's copy signed with alice's key" grep -q "VALIDSIG $(fpr alice)" "$W/verify.status"

m=$(subject_at crm bob@example.net)
check "civicrm (sign-only): bob's copy signed, not encrypted" [ "$(content_type "$m")" = multipart/signed ]
verify_signed "$m"
check "civicrm: signed with its own key" grep -q "VALIDSIG $CRM" "$W/verify.status"
# The hop koverto's loop detection counts (doc, "the other direction").
check "the mail carries the front Postfix's Received: (one hop) and koverto's trace" \
	sh -c "[ \$(grep -c '^Received: ' '$m') = 1 ] && grep -q '^	by koverto-in.example.org (Postfix) with ESMTPSA' '$m' && grep -q '^X-Koverto-Trace: ' '$m'"

# ---- refusals by Postfix ----
pf_swaks monitoring wrong-pw nagios@example.org bob@example.net > "$W/sw.badpw" 2>&1
check "wrong password: 535 5.7.8" grep -q '^<~\* 535 5.7.8' "$W/sw.badpw"
pf_swaks monitoring mon-pw help@tickets.example.org bob@example.net \
	--body "WRONG-SENDER" > "$W/sw.badfrom" 2>&1
check "a sender of another login: 553 5.7.1 not owned" grep -q '^<~\* 553 5.7.1 .*not owned by user monitoring' "$W/sw.badfrom"
swaks --server "127.0.0.1:$PFPORT" --auth PLAIN --auth-user monitoring --auth-password mon-pw \
	--from nagios@example.org --to bob@example.net > "$W/sw.clear" 2>&1
check "no AUTH before STARTTLS" grep -q 'did not advertise authentication' "$W/sw.clear"
check "the running instance has no loopback exemption from its limits" \
	[ "$(postconf -c "$PF" -h smtpd_client_event_limit_exceptions)" = "" ]

# The null sender skips Postfix's login check; the queue's senders stops it.
fails=$(ls "$W/q/failed" 2>/dev/null | grep -c '^monitoring\..*\.reason$')
pf_swaks monitoring mon-pw '<>' bob@example.net --header "From: mallory@evil.example" \
	--header "Subject: null" --body "NULL-SECRET forged" > "$W/sw.null" 2>&1
check "null sender, foreign From: Postfix takes it (its login check skips <>)" grep -q '^<~  250 2.0.0 Ok: queued' "$W/sw.null"
wait_for 20 sh -c "[ \$(ls '$W/q/failed' | grep -c '^monitoring\..*\.reason\$') -gt $fails ]"
check "null sender: koverto fails it in its queue" \
	sh -c "grep -q 'not allowed in queue monitoring' '$W'/q/failed/monitoring.*.reason"
check "null sender: nothing of it was sent" no_plaintext "NULL-SECRET"

# A login with a password and senders but no line in login_queue: refused
# (no FILTER, so no mail of it may be taken at all).
pf_swaks stray stray-pw stray@example.org bob@example.net \
	--header "Subject: stray" --body "STRAY-SECRET" > "$W/sw.stray" 2>&1
check "a login without a queue: refused (554 5.7.1)" grep -q '^<~\* 554 5.7.1 .*Access denied' "$W/sw.stray"
check "a login without a queue: nothing of it reached the sink" no_plaintext "STRAY-SECRET"

# ---- the queue briefly unwritable: Postfix defers, never bounces ----
chmod 500 "$W/q/tickets/tmp"
pf_swaks tickets tix-pw help@tickets.example.org bob@example.net \
	--header "Subject: later" --body "LATER-BODY" > "$W/sw.later" 2>&1
check "unwritable queue: Postfix still takes the mail" grep -q '^<~  250 2.0.0 Ok: queued' "$W/sw.later"
qid=$(sed -n 's/^<~  250 2.0.0 Ok: queued as \([0-9A-Za-z]*\).*/\1/p' "$W/sw.later")
wait_for 20 grep -q "$qid: .*status=deferred" "$PF/maillog"
check "the pipe's 75 makes Postfix defer it" grep -q "$qid: .*relay=kov-tickets.*status=deferred" "$PF/maillog"
check "the deferral says why (koverto submit's message)" grep -q "$qid: .*status=deferred.*koverto submit: queue directory" "$PF/maillog"
pf_queue_ids > "$W/pfq.ids"
check "it waits in Postfix's queue (postqueue -j)" grep -qx "$qid" "$W/pfq.ids"
chmod 700 "$W/q/tickets/tmp"
n=$(sink_count)
pf_flush
wait_for 20 grep -q "$qid: .*status=sent" "$PF/maillog"
check "writable again, postqueue -f: the pipe delivers it" grep -q "$qid: .*relay=kov-tickets.*status=sent" "$PF/maillog"
wait_sink $((n + 1))
check "it arrives exactly once" [ "$(subject_at later bob@example.net | wc -l)" = 1 ]
check "Postfix's queue is empty" [ "$(postqueue -c "$PF" -j | wc -l)" = 0 ]
check "Postfix bounced nothing of it" sh -c "! grep -q '$qid: .*status=bounced' '$PF/maillog'"
check "no must-encrypt plaintext anywhere at the sink" no_plaintext "MON-SECRET"
check "the refused sender's mail went nowhere" no_plaintext "WRONG-SENDER"
diag "$(($(date +%s) - t0)) s in all"
done_testing
