#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 15: koverto status on a spool with hostile names and files in it.
# Names with terminal escapes, newlines, bidi overrides and bytes that are
# not UTF-8 are shown escaped (and the JSON stays valid); a symbolic link
# where a mail, a state file, a reason or a queue's directory should be is
# reported and never followed out of the spool; a FIFO is not opened; a
# missing queue directory is reported, not made. strace shows that status
# takes no lock, opens nothing for writing and makes or removes nothing.
: "${KOVERTO:?set KOVERTO to the koverto binary}"
: "${T:?set T to the t/ directory}"
. "$T/lib.sh"
need_strace
work_dir kovst
keyring
write_config
st() { TZ=UTC timeout 20 "$KOVERTO" status -c "$CONF" "$@"; }

# ---- a missing queue directory is reported, not made ----
st > "$W/missing.txt" 2>&1
check "missing queuedir: exit 0" [ $? = 0 ]
check "missing queuedir: reported" grep -q "queue directory $W/q: missing" "$W/missing.txt"
check "missing queuedir: not made" [ ! -e "$W/q" ]
st --json > "$W/missing.json"
check "missing queuedir: --json says so" "$PY" -c 'import json,sys; s=json.loads(open(sys.argv[1]).readline()); assert "missing" in s["problem"], s' "$W/missing.json"

printf 'From: alice@example.org\nTo: bob@example.net\nSubject: ok\n\nOK\n' | submit fallback
printf 'X-Kuvert-To: secret@leak.example\nFrom: spy@leak.example\n\nSECRET\n' > "$W/secret"
esc=$(printf '\033')
nl='
'
q=$W/q
# new/: a name with a terminal escape and a newline, one not UTF-8, one
# with a right-to-left override.
printf 'From: alice@example.org\nTo: carl@example.net\n\nX\n' > "$q/fallback/new/evil${esc}[2J${nl}forged line"
printf 'From: alice@example.org\nTo: carl@example.net\n\nX\n' > "$q/fallback/new/$(printf 'latin\377name')"
printf 'From: alice@example.org\nTo: carl@example.net\n\nX\n' > "$q/fallback/new/$(printf 'rlo\342\200\256txt.exe')"
# cur/: a link to a file outside the spool, a FIFO, a mail whose state
# file is a link out of the spool, a mail with a header that never ends.
ln -s "$W/secret" "$q/fallback/cur/link-out"
mkfifo "$q/fallback/cur/fifo"
printf 'From: alice@example.org\nTo: dora@example.net\n\nX\n' > "$q/fallback/cur/linked-state"
ln -s "$W/secret" "$q/state/fallback.linked-state"
{ printf 'From: alice@example.org\nTo: ed@example.net\n'; i=0; while [ $i -lt 3000 ]; do printf 'X-Pad: %0500d\n' $i; i=$((i + 1)); done; } > "$q/fallback/cur/endless"
printf '[mail]\nattempts=2\nnext-attempt=1\n' > "$q/state/fallback.endless"
# failed/: a name with an escape; its reason with an escape and an override;
# a reason that is a link out of the spool.
printf 'From: alice@example.org\nTo: fay@example.net\n\nX\n' > "$q/failed/fallback.bad${esc}]0;title${esc}\\"
printf 'reason \033[31mred\342\200\256 evil\n' > "$q/failed/fallback.bad${esc}]0;title${esc}\\.reason"
printf 'From: alice@example.org\nTo: gil@example.net\n\nX\n' > "$q/failed/fallback.linked-reason"
ln -s "$W/secret" "$q/failed/fallback.linked-reason.reason"
# a queue's directory that is a link to a Maildir outside the spool
mkdir -p "$W/outside/new" "$W/outside/cur" "$W/outside/tmp"
cp "$W/secret" "$W/outside/new/outside-mail"
rm -rf "$q/sign-only" && ln -s "$W/outside" "$q/sign-only"
# a pid file naming a live process (this shell) that holds no lock
echo $$ > "$q/koverto.pid"

snap() {
	( cd "$q" && find . -printf '%p %y %s %m %T@ %l\n' | sort && find . -type f -exec sha256sum {} + | sort )
}
snap > "$W/before"

st > "$W/out.txt" 2>"$W/out.err"
check "exit 0" [ $? = 0 ]
check "a FIFO does not hang it, nor anything on stderr" [ ! -s "$W/out.err" ]
check "no raw control byte in the output" sh -c "! LC_ALL=C grep -q '[[:cntrl:]]' '$W/out.txt' || [ \"\$(LC_ALL=C tr -d '\n' < '$W/out.txt' | LC_ALL=C grep -c '[[:cntrl:]]')\" = 0 ]"
check "the escape shown escaped" grep -q 'reason \\x1b\[31mred\\u202e evil' "$W/out.txt"
check "no line forged by a newline in a name" sh -c "! grep -q '^forged line' '$W/out.txt'"
check "the pid file of a process without the lock: not running" grep -q '^daemon: not running$' "$W/out.txt"
check "fallback: 4 waiting, 2 failed" sh -c "awk '\$1 == \"fallback\" { print \$3, \$6 }' '$W/out.txt' | grep -qx '4 2'"
check "a link in cur/: reported, not followed" sh -c "grep -A2 'link-out' '$W/out.txt' | grep -q 'a symbolic link: not followed'"
check "a FIFO in cur/: reported, not opened" sh -c "grep -A2 ' fifo ' '$W/out.txt' | grep -q 'not a regular file'"
check "a state file that is a link: not followed" sh -c "grep -A3 'linked-state' '$W/out.txt' | grep -q 'state/fallback.linked-state: a symbolic link: not followed'"
check "a reason that is a link: not followed" sh -c "grep -A2 'linked-reason' '$W/out.txt' | grep -q 'reason: fallback.linked-reason.reason: a symbolic link: not followed'"
check "a header without end: read as far as the limit" grep -q 'pending ed@example.net' "$W/out.txt"
check "a queue directory that is a link: reported, not followed" grep -q 'sign-only is a symbolic link: not followed' "$W/out.txt"
check "nothing from outside the spool shown" sh -c "! grep -q 'leak.example\|outside-mail' '$W/out.txt'"

st --json > "$W/out.json" 2>"$W/json.err"
check "--json: exit 0" [ $? = 0 ]
check "--json: every line valid JSON, names escaped, nothing from outside" "$PY" - "$W/out.json" <<'PYEOF'
import json, sys
raw = open(sys.argv[1], "rb").read()
assert b"\x1b" not in raw and b"leak.example" not in raw and b"outside-mail" not in raw
lines = [json.loads(l) for l in raw.decode("utf-8").splitlines()]
ids = {m["queue_id"] for m in lines[1:]}
assert "evil\\x1b[2J\\x0aforged line" in ids, ids
assert "latin\\xffname" in ids, ids
assert "rlo\\u202etxt.exe" in ids, ids
assert "bad\\x1b]0;title\\x1b\\" in ids, ids
link = [m for m in lines[1:] if m["queue_id"] == "link-out"][0]
assert link["problem"] == "a symbolic link: not followed" and link["recipients"] == [], link
q = {x["name"]: x for x in lines[0]["queues"]}
assert "symbolic link" in q["sign-only"]["problem"] and q["sign-only"]["waiting"] == 0, q
PYEOF

st --summary > "$W/summary.txt"
check "--summary: the same counts on a hostile spool" sh -c "awk '\$1 == \"fallback\" { print \$3, \$4, \$5, \$6 }' '$W/summary.txt' | grep -qx '4 2 2 2'"

st --mail link-out > "$W/mail.txt"
check "--mail on a link: reported, not followed" sh -c "grep -q '^problem: a symbolic link: not followed' '$W/mail.txt' && ! grep -q leak '$W/mail.txt'"
st --mail outside-mail > /dev/null 2>&1
check "--mail does not look through a linked queue directory" [ $? = 1 ]

# A lock held on the pid file (flock, as the daemon holds it) by a live
# process named in it: running. koverto.pid's content changes for this
# check only, and is put back with its mtime.
cp -p "$q/koverto.pid" "$W/pid.saved"
"$PY" -c 'import fcntl, sys, time
f = open(sys.argv[1])
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").write("locked\n")
time.sleep(60)' "$q/koverto.pid" "$W/locked" &
locker=$!
wait_for 10 test -s "$W/locked"
echo "$locker" > "$q/koverto.pid"
st > "$W/locked.txt"
check "a pid file locked, its pid alive: running" grep -q "^daemon: running, pid $locker, since " "$W/locked.txt"
kill "$locker"; wait "$locker" 2>/dev/null
cat "$W/pid.saved" > "$q/koverto.pid"
touch -r "$W/pid.saved" "$q/koverto.pid"

# strace: no lock, no write, nothing made or removed, nothing renamed (the
# binary itself: under scripts/memcheck, not valgrind, whose own files would show).
# LeakSanitizer cannot run under ptrace: off for the traced runs (ASan builds).
ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0"
export ASAN_OPTIONS
strace -f -qq -o "$W/strace" -e trace=flock,fcntl,open,openat,creat,mkdir,mkdirat,unlink,unlinkat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,chmod,fchmod,fchmodat,chown,fchown,fchownat,utimensat,truncate,ftruncate \
	"${KOVERTO_BIN:-$KOVERTO}" status -c "$CONF" --json > /dev/null 2>&1
strace -f -qq -o "$W/strace2" -e trace=flock,fcntl,open,openat,creat,mkdir,mkdirat,unlink,unlinkat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,utimensat,truncate \
	"${KOVERTO_BIN:-$KOVERTO}" status -c "$CONF" --mail linked-state > /dev/null 2>&1
cat "$W/strace2" >> "$W/strace"
strace -f -qq -o "$W/strace3" -e trace=flock,fcntl,open,openat,creat,mkdir,mkdirat,unlink,unlinkat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,utimensat,truncate \
	"${KOVERTO_BIN:-$KOVERTO}" status -c "$CONF" --summary > /dev/null 2>&1
cat "$W/strace3" >> "$W/strace"
check "strace: it ran" grep -q 'fallback' "$W/strace"
check "strace: no flock, no F_SETLK" sh -c "! grep -E 'flock\\(|F_SETLK|F_OFD_SETLK' '$W/strace'"
check "strace: nothing opened for writing or created" sh -c "! grep -E 'open(at)?\\(.*(O_WRONLY|O_RDWR|O_CREAT|O_TRUNC)' '$W/strace' | grep -v '/dev/null\\|/dev/tty'"
check "strace: nothing made, removed, renamed, linked or touched" sh -c "! grep -E '^[0-9]+ +(creat|mkdir|mkdirat|unlink|unlinkat|rename|renameat|renameat2|link|linkat|symlink|symlinkat|chmod|fchmodat|chown|fchownat|utimensat|truncate)\\(' '$W/strace'"
check "strace: the only ftruncate is the header memfd's" sh -c "! grep -E '^[0-9]+ +ftruncate\\(' '$W/strace' | grep -v 'ftruncate([0-9]*, 0)'"

snap > "$W/after"
check "the spool is the same to the byte and the nanosecond" cmp -s "$W/before" "$W/after"
done_testing
