#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 13, more than one koverto host: a private Postfix in front of two
# koverto hosts (two work directories, queues, logs, listener ports and
# copies of the keys, each its own daemon), doc/scale-out.md's pattern.
# Three applications log in to Postfix with SASL (Dovecot, t/postfix.sh)
# and send N mails (500; 40 under valgrind); check_sasl_access sends each
# login's mail to its own smtp transport, which logs in to koverto as its
# [client] (mon and tix by client certificate, crm by SASL PLAIN), and
# randmap picks the host, the other host being the fallback relay. Host a is killed (kill -9
# of its daemon and listener) while mail flows and started again. Checks:
# every (mail, recipient) arrived, exactly once but where Postfix logged
# that a host went away after the end of the data ("message may be sent
# more than once": the duplicate window of every SMTP hop); each with its
# application's policy and key; no plaintext of must-encrypt mail; both
# hosts did part of the work; nothing bounced or was left in any queue.
. "$T/lib.sh"
. "$T/scale.sh"
FRONT_SASL=1
scale_require_postfix
n=${SCALE_MAILS:-500}
[ "$KOVERTO" != "${KOVERTO_BIN:-$KOVERTO}" ] && { n=40; diag "koverto is a wrapper: $n mails"; }
scale_setup
host_start a
host_start b
front_start

# Two batches: the first, spread over n/100 s (faster than the pair
# encrypts, so host a has a queue when it dies), during which host a is
# killed and started again; the second once it is back, so it must take
# a share of new mail again (randmap: each of m mails to a with p = 1/2).
m=$((n / 10)); [ "$m" -lt 20 ] && m=20
t0=$(now)
send_apps 0 $((n - m)) "$(awk -v n="$n" 'BEGIN { print n / 100 }')" 2>"$W/send.err" &
send_pid=$!
# Kill host a once a quarter of the mail has reached the hosts and a has
# accepted mail it has not sent: from an eighth on, its daemon is held
# (SIGSTOP) while its listener goes on accepting, so that it has such
# mail at the kill however fast it works.
received() { cat "$W/a/log" "$W/b/log" | grep -c ': received from <[^>]*> into [^ ]* client='; }
queued_a() { find "$W/a/q" -path '*/new/*' -type f -o -path '*/cur/*' -type f | wc -l; }
eighth() { [ "$(received)" -ge $((n / 8)) ]; }
wait_for 60 eighth || diag "only $(received) received after 60 s"
kill -STOP "$HPID_a"
ripe() { [ "$(received)" -ge $((n / 4)) ] && [ "$(queued_a)" -ge 3 ]; }
wait_for 60 ripe || diag "not ripe: $(received) received, $(queued_a) in a's queue"
a_queued=$(queued_a)
at_kill=$(received)
host_kill a
a_kill=$(grep -c . "$W/a/log")
diag "host a killed after $at_kill mails were received, $a_queued in its queue"
# Down for 2 s: new mail meanwhile goes to b.
sleep 2
host_start a
a_restart=$(grep -c . "$W/a/log")
wait "$send_pid"
s1=$?
send_apps $((n - m)) "$m" 1 2>>"$W/send.err"
s2=$?
accepted() { [ "$s1" = 0 ] && [ "$s2" = 0 ]; }
check "the applications' $n mails were all accepted by Postfix" accepted
[ -s "$W/send.err" ] && diag "$(head -3 "$W/send.err")"
expected_total=$(( (n + 2) / 3 * 2 + n / 3 + (n + 1) / 3 ))
check "expected pairs" [ "$(wc -l < "$W/expected")" = "$expected_total" ]
# Everything arrives (up to 120 s under load).
i=0
while [ "$(sink_pairs | sort -u | wc -l)" -lt "$expected_total" ] && [ "$i" -lt 240 ]; do
	sleep 0.5
	i=$((i + 1))
done
front_queue_empty() { [ -z "$(find "$FRONT/spool/active" "$FRONT/spool/deferred" "$FRONT/spool/incoming" -type f 2>/dev/null)" ]; }
wait_for 60 front_queue_empty
t1=$(now)
check "Postfix's queue is empty" front_queue_empty
sink_pairs | sort > "$W/got"
sort -u "$W/got" > "$W/got.u"
sort "$W/expected" > "$W/exp"
check "every (mail, recipient) arrived" [ -z "$(comm -23 "$W/exp" "$W/got.u")" ]
check "nothing arrived that was not sent" [ -z "$(comm -13 "$W/exp" "$W/got.u")" ]
# Duplicates: only where Postfix says the host went away after the final
# dot, and at most once per such event.
uniq -d "$W/got" | cut -d' ' -f1 | sort -u > "$W/dup.ids"
awk '/message may be sent more than once/ { sub(":", "", $6); print $6 }' "$FRONT/maillog" | sort -u > "$W/maybe.qids"
awk '/cleanup.*message-id=/ { q = $6; sub(":", "", q); m = $7; sub("message-id=", "", m); print q, m }' "$FRONT/maillog" |
	sort > "$W/qid.mid"
join "$W/maybe.qids" "$W/qid.mid" | cut -d' ' -f2 | sort -u > "$W/maybe.ids"
dups=$(wc -l < "$W/dup.ids")
check "every duplicate is one Postfix logged as 'may be sent more than once' ($dups duplicated, $(wc -l < "$W/maybe.ids") such)" \
	[ -z "$(comm -23 "$W/dup.ids" "$W/maybe.ids")" ]
check "no (mail, recipient) arrived three times" [ -z "$(uniq -c "$W/got" | awk '$1 > 2')" ]
# A login may use its own senders only (reject_sender_login_mismatch).
"$PY" - "$FPORT_sasl" > "$W/mismatch.out" 2>&1 <<'PYEOF'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.login("mon", "mon-login")
try:
    s.sendmail("tickets@example.org", ["bob@example.net"], "From: tickets@example.org\r\n\r\nx\r\n")
    print("accepted")
except smtplib.SMTPRecipientsRefused as e:
    print("refused", list(e.recipients.values())[0][0])
PYEOF
check "Postfix refuses mon's login with tickets' sender ($(cat "$W/mismatch.out"))" grep -q '^refused 553$' "$W/mismatch.out"
check "nothing bounced" sh -c "! grep -q 'status=bounced' '$FRONT/maillog'"
check "nothing deferred: while a was down its share went to b at once" \
	sh -c "! grep -q 'status=deferred' '$FRONT/maillog'"
diag "Postfix: $(grep -c 'Connection refused' "$FRONT/maillog") connections refused, $(grep -c 'status=deferred' "$FRONT/maillog") deliveries deferred, $(grep -c 'lost connection' "$FRONT/maillog") connections lost"
check "must-encrypt: no plaintext of mon's mail at the sink" no_plaintext "secret-mon-"
check "tix to bob: no plaintext either (bob has a key)" sh -c "! grep -rlE 'secret-tix-[0-9]*[02468]\$' '$SINK' | grep -q ."
# Policy and key per application, from both hosts' logs: every copy of
# mon's encrypted and signed by sam, tix's by alice, crm's signed by carol.
"$PY" - "$W/a/log" "$W/b/log" "$(fpr sam)" "$(fpr alice)" "$(fpr carol)" > "$W/keys.out" <<'PYEOF'
import re, sys
sam, alice, carol = sys.argv[3:6]
client, sent = {}, []
for path in sys.argv[1:3]:
    for line in open(path):
        m = re.search(r"id=(\S+): from client (\S+)$", line)
        if m: client[m.group(1)] = m.group(2)
        m = re.search(r"id=(\S+): sent (encrypted|signed) to (\S+) with key (\S+)(?: signed with key (\S+))?", line)
        if m: sent.append(m.groups())
bad = 0
for id_, how, rcpt, key, signer in sent:
    app = client.get(id_)
    ok = ((app == "mon" and how == "encrypted" and signer == sam) or
          (app == "tix" and ((how == "encrypted" and signer == alice and rcpt == "bob@example.net") or
                             (how == "signed" and key == alice and rcpt == "dave@example.com"))) or
          (app == "crm" and how == "signed" and key == carol))
    if not ok:
        bad += 1
        print("bad:", app, id_, how, rcpt, key, signer)
print("copies sent", len(sent), "bad", bad)
PYEOF
check "every copy with its application's policy and key ($(tail -1 "$W/keys.out"))" \
	sh -c "tail -1 '$W/keys.out' | grep -q ' bad 0\$'"
# The bytes, not only the log: one copy of each application verified.
mon=$(grep -l 'scale-mon-' $(sink_files) | head -1)
mon_ok() { decrypt "$mon" >/dev/null && grep -q "VALIDSIG $(fpr sam)" "$W/decrypt.status"; }
check "mon's copy decrypts, signed by sam" mon_ok
crm=$(grep -l 'scale-crm-' $(sink_files) | head -1)
crm_ok() { verify_signed "$crm" && grep -q "VALIDSIG.* $(fpr carol)\$" "$W/verify.status"; }
check "crm's copy is signed by carol" crm_ok
# Both hosts did part of the work; host a also after its restart.
ra=$(grep -c ': received from <[^>]*> into [^ ]* client=' "$W/a/log")
ra_after=$(tail -n +"$a_restart" "$W/a/log" | grep -c ': received from <[^>]*> into [^ ]* client=')
# The mail host a had accepted before the kill: sent by a, after its restart.
"$PY" - "$W/a/log" "$a_kill" "$a_restart" > "$W/a.waited" <<'PYEOF'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
cut, restart = int(sys.argv[2]), int(sys.argv[3])
before = {m.group(1) for l in lines[:cut] for m in [re.search(r"session=\S+ id=(\S+): received from <[^>]*> into \S+ client=", l)] if m}
done_before = {m.group(1) for l in lines[:cut] for m in [re.search(r"id=(\S+) queue=.* result=sent", l)] if m}
after = {m.group(1) for l in lines[cut:] for m in [re.search(r"id=(\S+) queue=.* result=sent", l)] if m}
late = {m.group(1) for l in lines[restart:] for m in [re.search(r"id=(\S+) queue=.* result=sent", l)] if m}
waiting = before - done_before
print(len(waiting), len(waiting & after), len(waiting & late))
PYEOF
read a_waiting a_finished a_late < "$W/a.waited"
diag "host a: $a_waiting accepted mails not yet sent at the kill; $a_finished sent since ($a_late after its restart, the others by workers that had them in hand); $ra_after new ones received after the restart"
waited() { [ "$a_waiting" -gt 0 ] && [ "$a_finished" = "$a_waiting" ] && [ "$a_late" -gt 0 ]; }
check "host a's accepted mail waited in its queue and left after its restart ($a_finished of $a_waiting, $a_late after the restart)" waited
check "host a takes new mail again after its restart ($ra_after)" [ "$ra_after" -gt 0 ]
rb=$(grep -c ': received from <[^>]*> into [^ ]* client=' "$W/b/log")
diag "received: host a $ra, host b $rb ($at_kill before the kill)"
share() { [ "$ra" -ge $((n / 10)) ] && [ "$rb" -ge $((n / 10)) ]; }
check "both hosts took a share (a $ra, b $rb, of $n)" share
keys_unchanged() { host_keys_unchanged a && host_keys_unchanged b; }
check "neither host changed its copy of the keys" keys_unchanged
check "both hosts' queues are empty" sh -c "[ -z \"\$(find '$W/a/q' '$W/b/q' -path '*/new/*' -type f -o -path '*/cur/*' -type f)\" ]"
secs=$(echo "$t1 - $t0" | bc 2>/dev/null || awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
diag "$n mails, $expected_total copies in ${secs}s ($(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.1f", n / s }') mails/s); duplicates $dups"
check "both hosts stop cleanly" hosts_stop_cleanly a b
done_testing
