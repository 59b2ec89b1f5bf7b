#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 15: who looks for the daemon never takes its lock. koverto 0.1.0's
# kov_queue_locked_pid (koverto -r, -k, the start-up check) took a shared
# flock on queuedir/koverto.pid for a moment, and a daemon starting in that
# moment failed: "in use by another koverto (pid 0)" (shown here with the
# shared lock held on purpose). Now the lock is looked up in /proc/locks:
# strace shows a start takes its own lock once (LOCK_EX) and that -r, -k and
# status take none, the daemon running or not.
: "${KOVERTO:?set KOVERTO to the koverto binary}"
: "${T:?set T to the t/ directory}"
. "$T/lib.sh"
need_strace
setup
BIN=${KOVERTO_BIN:-$KOVERTO}
# LeakSanitizer cannot run under ptrace: off for the traced runs (ASan builds).
trace() {
	out=$1; shift
	ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0" \
		strace -f -qq -e trace=flock -o "$W/$out" "$BIN" "$@"
}
flocks() { grep -c 'flock(' "$W/$1"; }

trace start-o -c "$CONF" -o 2>>"$W/stderr"
check "a one-shot run: exit 0" [ $? = 0 ]
check "a start takes its lock once, exclusively, and tries no other" \
	sh -c "[ $(flocks start-o) = 1 ] && grep -q 'LOCK_EX|LOCK_NB' '$W/start-o'"

start_daemon
trace reload -c "$CONF" -r
check "-r: the daemon is found" [ $? = 0 ]
check "-r: the daemon reloads" wait_for 20 grep -q 'reload: configuration' "$W/log"
check "-r: no lock taken to find it" [ "$(flocks reload)" = 0 ]
trace status status -c "$CONF" --summary > "$W/status.txt"
check "status: the daemon found" grep -q "^daemon: running, pid $DAEMON_PID" "$W/status.txt"
check "status: no lock taken" [ "$(flocks status)" = 0 ]
trace stop -c "$CONF" -k
check "-k: the daemon is found" [ $? = 0 ]
check "-k: it stops" wait_for 20 sh -c "! kill -0 $DAEMON_PID 2>/dev/null"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=
check "-k: no lock taken to find it" [ "$(flocks stop)" = 0 ]
: > "$W/q/koverto.pid"
trace none -c "$CONF" -k 2>"$W/none.err"
check "-k with no daemon: says so" grep -q 'no daemon is running' "$W/none.err"
check "-k with no daemon: no lock taken" [ "$(flocks none)" = 0 ]

# What a shared lock does to a daemon starting meanwhile, which is why
# nobody may take one to look.
"$PY" -c 'import fcntl, sys, time
f = open(sys.argv[1])
fcntl.flock(f, fcntl.LOCK_SH)
open(sys.argv[2], "w").write("locked\n")
time.sleep(30)' "$W/q/koverto.pid" "$W/shared" &
holder=$!
wait_for 10 test -s "$W/shared"
"$KOVERTO" -c "$CONF" -o 2>"$W/blocked.err"
check "a start while a shared lock is held fails (75)" [ $? = 75 ]
check "... saying the queue is in use" grep -q 'is in use by another koverto' "$W/blocked.err"
kill "$holder"; wait "$holder" 2>/dev/null
done_testing
