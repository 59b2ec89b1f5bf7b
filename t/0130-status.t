#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 15: koverto status, against a queue made by the real daemon and the
# sink: one mail deferred by a 451 with a known next retry (its other
# recipient delivered), one failed by a 550, then with the daemon stopped
# one waiting in fallback and one in Kuvert's queue. Both output forms
# (the JSON parsed by Python), --mail on each, an unknown id, and the
# spool byte for byte and mtime for mtime the same afterwards.
. "$T/lib.sh"
setup
KOVERTO_LINES="retry-first = 1h
retry-max = 2h"
listen_config "[client app]" "password = $(hash_pw app-pw)" "queue = fallback" "senders = .*" \
	"[queue alerts]" "policy = sign-only"
printf 'RCPT carol@example.net 451 4.7.1 greylisted, try later\nRCPT dave@example.com 550 5.1.1 no such user\n' > "$W/replies"
start_listener

st() { TZ=UTC "$KOVERTO" status -c "$CONF" "$@"; }

printf 'From: alice@example.org\nTo: bob@example.net, carol@example.net\nSubject: grey\n\nGREY\n' | submit sign-only
check "deferred: carol got a 451" wait_for 30 grep -q 'deferred for carol@example.net' "$W/log"
printf 'From: alice@example.org\nTo: dave@example.com\nSubject: gone\n\nGONE\n' | submit sign-only
check "failed: dave got a 550" wait_for 30 sh -c "ls '$W'/q/failed/*.reason"
wait_for 10 grep -q 'result=failed' "$W/log"
deferred_id=$(ls "$W/q/sign-only/cur")
failed_id=$(ls "$W/q/failed" | grep -v '\.reason$' | sed 's/^sign-only\.//')
next=$(sed -n 's/^next-attempt=//p' "$W/q/state/sign-only.$deferred_id")
diag "deferred $deferred_id next-attempt $next; failed $failed_id"
check "the deferred mail's next retry is in an hour" [ "$next" -gt "$(($(date +%s) + 3500))" ]

# ---- while the daemon runs ----
st > "$W/run.txt" 2>"$W/run.err"
check "status: exit 0 with the daemon running" [ $? = 0 ]
check "the daemon's pid" grep -q "^daemon: running, pid $DAEMON_PID, since " "$W/run.txt"
lpid=$(listener_pid)
check "the listener's pid ($lpid)" grep -q "^listener: running, pid $lpid, since " "$W/run.txt"
st --json > "$W/run.json"
check "--json: the daemon and the listener" "$PY" - "$W/run.json" "$DAEMON_PID" "$lpid" <<'PYEOF'
import json, sys, time
lines = [json.loads(l) for l in open(sys.argv[1])]
s = lines[0]
assert s["koverto_status"] == 1
assert s["daemon"] == {"running": True, "pid": int(sys.argv[2]), "since_time": s["daemon"]["since_time"]}, s
assert abs(s["daemon"]["since_time"] - time.time()) < 300, s
assert s["listener"]["running"] and s["listener"]["pid"] == int(sys.argv[3]), s
assert s["listener_configured"] is True
PYEOF
stop_daemon

# ---- the daemon stopped: a mail waits in fallback, one in Kuvert's queue ----
printf 'From: alice@example.org\nTo: erin@example.org\nSubject: wait\n\nWAIT\n' | submit fallback
waiting_id=$(ls "$W/q/fallback/new")
printf 'From: alice@example.org\nTo: frank@example.org\nSubject: kuvert\n\nKUVERT\n' > "$W/q/4711"
touch -d '2 hours ago' "$W/q/4711"

# The spool as it is, to the byte and the nanosecond.
snap() {
	( cd "$W/q" && find . -printf '%p %y %s %m %T@ %l\n' | sort && find . -type f -exec sha256sum {} + | sort )
}
snap > "$W/before"

st > "$W/out.txt" 2>"$W/out.err"
check "status: exit 0 with the daemon stopped" [ $? = 0 ]
check "nothing on standard error" [ ! -s "$W/out.err" ]
check "daemon: not running" grep -q '^daemon: not running$' "$W/out.txt"
check "listener: not running" grep -q '^listener: not running$' "$W/out.txt"
row() { awk -v q="$1" '$1 == q { print $3, $4, $5, $6 }' "$W/out.txt"; }
check "table: sign-only 0 waiting, 0 active, 1 deferred, 1 failed" [ "$(row sign-only)" = "0 0 1 1" ]
check "table: fallback 1 waiting" [ "$(row fallback)" = "1 0 0 0" ]
check "table: kuvert 1 waiting, oldest 2h" sh -c "awk '\$1 == \"kuvert\"' '$W/out.txt' | grep -Eq ' 1 +0 +0 +0 +2h0[0-9]m\$'"
check "table: must-encrypt empty" [ "$(row must-encrypt)" = "0 0 0 0" ]
check "table: a named queue, with its policy" sh -c "awk '\$1 == \"alerts\" { print \$2, \$3, \$6 }' '$W/out.txt' | grep -qx 'sign-only 0 0'"
next_text=$(TZ=UTC date -d "@$next" +%Y-%m-%dT%H:%M:%S)
check "deferred: id, attempts 1, the next retry's time" \
	grep -q "^  deferred $deferred_id  age [0-9]*[sm]  attempts 1  next retry ${next_text}[-+][0-9]* (in [0-9hm]*)" "$W/out.txt"
check "deferred: the last reply" grep -q '^    last error: 451 4.7.1 greylisted, try later$' "$W/out.txt"
check "deferred: carol pending with her reply" grep -q '^    pending carol@example.net: 451 4.7.1 greylisted, try later$' "$W/out.txt"
check "deferred: bob (delivered) not listed" sh -c "! grep -q 'bob@example.net' '$W/out.txt'"
check "failed: id and the reason file's text" sh -c "grep -A1 '^  failed   $failed_id  age' '$W/out.txt' | grep -q '^    reason: dave@example.com: 550 5.1.1 no such user'"

st --json > "$W/out.json"
check "--json: exit 0" [ $? = 0 ]
check "--json: postqueue -j's shape, a line per mail" "$PY" - "$W/out.json" "$deferred_id" "$failed_id" "$waiting_id" "$next" <<'PYEOF'
import json, sys, time
path, did, fid, wid, nxt = sys.argv[1:]
lines = [json.loads(l) for l in open(path)]   # one object per line, each whole
s, mails = lines[0], lines[1:]
assert s["daemon"]["running"] is False and s["listener"]["running"] is False
q = {x["name"]: x for x in s["queues"]}
assert [x["name"] for x in s["queues"]] == ["kuvert", "must-encrypt", "fallback", "sign-only", "alerts"]
assert q["alerts"]["policy"] == "sign-only" and q["alerts"]["configured"] is True
assert (q["sign-only"]["waiting"], q["sign-only"]["deferred"], q["sign-only"]["failed"]) == (0, 1, 1), q
assert q["fallback"]["waiting"] == 1 and q["kuvert"]["waiting"] == 1
assert abs(time.time() - 7200 - q["kuvert"]["oldest_arrival_time"]) < 120, q["kuvert"]
by = {(m["queue"], m["queue_id"]): m for m in mails}
assert len(mails) == 4, mails
for m in mails:
    for k, t in (("queue_name", str), ("queue_id", str), ("arrival_time", int), ("message_size", int),
                 ("forced_expire", bool), ("sender", str), ("recipients", list)):
        assert isinstance(m[k], t), (k, m)
d = by[("sign-only", did)]
assert d["queue_name"] == "deferred" and d["state"] == "deferred", d
assert d["sender"] == "alice@example.org"
assert d["recipients"] == [{"address": "carol@example.net", "delay_reason": "451 4.7.1 greylisted, try later"}], d
assert d["next_attempt_time"] == int(nxt) and d["attempts"] == 1, d
assert d["last_error"] == "451 4.7.1 greylisted, try later"
assert d["path"] == "sign-only/cur/" + did
f = by[("sign-only", fid)]
assert f["queue_name"] == "hold" and f["state"] == "failed", f
assert "550 5.1.1 no such user" in f["failed_reason"], f
assert [r["address"] for r in f["recipients"]] == ["dave@example.com"], f
w = by[("fallback", wid)]
assert w["queue_name"] == "incoming" and w["recipients"] == [{"address": "erin@example.org"}], w
assert w["message_size"] > 40 and w["next_attempt_time"] is None
k = by[("kuvert", "4711")]
assert k["queue_name"] == "incoming" and k["recipients"] == [{"address": "frank@example.org"}], k
PYEOF

st --summary > "$W/sum.txt"
table() { sed -n '/^QUEUE/,/^$/p' "$1" | awk 'NF { print $1, $2, $3, $4, $5, $6 }'; }
table "$W/out.txt" > "$W/table-full"
table "$W/sum.txt" > "$W/table-summary"
check "--summary: the same counts" cmp -s "$W/table-full" "$W/table-summary"
check "--summary: no mail listed" sh -c "! grep -q '^  [a-z]' '$W/sum.txt'"
st --summary --json > "$W/sum.json"
check "--summary --json: the summary line alone, the same counts" "$PY" - "$W/sum.json" "$W/out.json" <<'PYEOF'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = json.loads(open(sys.argv[2]).readline())
assert len(a) == 1
strip = lambda s: [dict(q) for q in s["queues"]]
assert strip(a[0]) == strip(b), (a[0]["queues"], b["queues"])
PYEOF
st --summary --mail x > /dev/null 2>&1
check "--summary with --mail: 64" [ $? = 64 ]

# ---- --mail ----
st --mail "$deferred_id" > "$W/m1.txt"
check "--mail deferred: exit 0" [ $? = 0 ]
check "--mail deferred: where" grep -q "^file: sign-only/cur/$deferred_id$" "$W/m1.txt"
check "--mail deferred: state and attempts" sh -c "grep -q '^state: deferred$' '$W/m1.txt' && grep -q '^attempts: 1$' '$W/m1.txt'"
check "--mail deferred: the next retry" grep -q "^next retry: ${next_text}" "$W/m1.txt"
check "--mail deferred: bob delivered, carol pending" sh -c "grep -q '^    delivered bob@example.net$' '$W/m1.txt' && grep -q '^    pending carol@example.net: 451' '$W/m1.txt'"
check "--mail deferred: its log lines" sh -c "grep -q '^  .*id=$deferred_id: deferred for carol@example.net' '$W/m1.txt' && grep -q '^  .*id=$deferred_id: sent signed to bob@example.net' '$W/m1.txt'"
check "--mail deferred: no other mail's lines" sh -c "! grep -q 'id=$failed_id' '$W/m1.txt'"
st --mail "$failed_id" > "$W/m2.txt"
check "--mail failed: where, reason, log" sh -c "grep -q '^file: failed/sign-only.$failed_id$' '$W/m2.txt' && grep -q '^reason: dave@example.com: 550' '$W/m2.txt' && grep -q 'id=$failed_id queue=sign-only .*result=failed' '$W/m2.txt'"
st --mail "$waiting_id" > "$W/m3.txt"
check "--mail waiting: where and whom" sh -c "grep -q '^state: waiting$' '$W/m3.txt' && grep -q '^file: fallback/new/$waiting_id$' '$W/m3.txt' && grep -q '^    pending erin@example.org$' '$W/m3.txt'"
st --mail 4711 > "$W/m4.txt"
check "--mail on a Kuvert queue file" sh -c "grep -q '^queue: kuvert$' '$W/m4.txt' && grep -q '^file: 4711$' '$W/m4.txt'"
st --json --mail "$deferred_id" > "$W/m1.json"
check "--mail --json: the mail, every recipient, its log" "$PY" - "$W/m1.json" "$deferred_id" <<'PYEOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 1
m = lines[0]
assert m["queue_id"] == sys.argv[2] and m["state"] == "deferred"
assert {r["address"]: r["state"] for r in m["recipients"]} == {"bob@example.net": "delivered", "carol@example.net": "pending"}, m
assert any("deferred for carol@example.net" in l for l in m["log"]) and m["log_problem"] is None, m
PYEOF
st --mail no-such-mail > "$W/m5.txt" 2>"$W/m5.err"
check "--mail unknown: exit 1" [ $? = 1 ]
check "--mail unknown: says so" grep -q 'no mail "no-such-mail" in' "$W/m5.err"
st --mail ../../etc/passwd > /dev/null 2>&1
check "--mail with a path: unknown, exit 1" [ $? = 1 ]

sed -e '/^logfile =/d' -e '/^\[koverto\]$/a syslog = mail' "$CONF" > "$W/syslog.conf"
chmod 600 "$W/syslog.conf"
TZ=UTC "$KOVERTO" status -c "$W/syslog.conf" --mail "$deferred_id" > "$W/m6.txt"
check "--mail, logging to syslog: says where the lines are" grep -q '^log: no logfile configured; its lines went to syslog: look for the id in the system log' "$W/m6.txt"

snap > "$W/after"
check "status changed nothing in the spool (bytes, modes, mtimes)" cmp -s "$W/before" "$W/after"

# ---- errors ----
st --bogus > /dev/null 2>&1
check "an unknown option: 64" [ $? = 64 ]
st stray > /dev/null 2>&1
check "a stray argument: 64" [ $? = 64 ]
"$KOVERTO" status -c "$W/nonexistent.conf" > /dev/null 2>&1
check "no configuration: 78" [ $? = 78 ]
done_testing
