#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# One mail cannot take the daemon down or block the queue: a gpg that
# hangs is killed at the time limit, a worker that crashes is replaced,
# and a mail that does either three times is failed with that reason.
. "$T/lib.sh"
setup
# Only a signing run hangs or crashes: the gpg --version that GPGME runs
# as a fresh worker starts must not, or the workers started while the
# test still holds the crash switch die idle and stop the daemon.
cat > "$W/gpg" <<SH
#!/bin/sh
case "\$*" in *sign*) ;; *) exec gpg "\$@" ;; esac
[ -e "$W/hang" ] && exec sleep 30 </dev/null 2>/dev/null
# The worker leads its own process group: crash it from its gpg, and wait
# for it to go (under valgrind a signal lands late: an early exit of this
# gpg would fail the mail before the worker crashed).
if [ -e "$W/crash" ]; then
	worker=\$(ps -o pgid= -p \$\$ | tr -d ' ')
	kill -SEGV "\$worker"
	while kill -0 "\$worker" 2>/dev/null; do sleep 0.1; done
	exit 1
fi
exec gpg "\$@"
SH
chmod +x "$W/gpg"
write_config "gpg = $W/gpg" "mail-timeout = 2s" "workers = 2"
start_daemon

touch "$W/hang"
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: hang\n\nHANG\n' | submit fallback
check "a hanging gpg: failed after three time limits" wait_for 60 sh -c "grep -q 'time limit' '$W'/q/failed/*.reason"
check "the log says so" grep -q "exceeded the time limit of 2 s" "$W/log"
rm -f "$W/hang"
# The rest must not hang on a busy machine under valgrind, where a
# genuine signing run can outlast two seconds: a generous limit now.
stop_daemon
write_config "gpg = $W/gpg" "mail-timeout = 120s" "workers = 2"
start_daemon
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: after-hang\n\nOK\n' | submit fallback
check "the next mail goes through" wait_sink 1
rm -f "$W"/q/failed/*

touch "$W/crash"
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: crash\n\nCRASH\n' | submit fallback
check "a crashing worker: the mail fails after three crashes" wait_for 60 sh -c "grep -q 'crashed' '$W'/q/failed/*.reason"
rm -f "$W/crash"
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: after-crash\n\nOK\n' | submit fallback
check "the daemon survives and the next mail goes through" wait_sink 2
check "the daemon is still the same process" kill -0 "$DAEMON_PID"
stop_daemon
check "and stops cleanly" [ "$STATUS" = 0 ]

# A mail that makes a library allocate without end must not take the
# machine along: a worker's data is capped (worker-memory, in MB), and
# its gpg inherits the cap. (Not under AddressSanitizer, which reserves
# terabytes of shadow memory: there the worker runs without a cap; and
# valgrind, scripts/memcheck's "#!" wrapper, keeps a client's RLIMIT_DATA
# to itself.)
asan=
ldd "$KOVERTO" 2>/dev/null | grep -q libasan && asan=1
[ "$(head -c 2 "$KOVERTO")" = '#!' ] && asan=valgrind
data_limit() { awk '/^Max data size/ { print $4 }' "/proc/$1/limits"; }
cat > "$W/gpg-ulimit" <<SH
#!/bin/sh
ulimit -d > "$W/gpg-data-limit"
exec gpg "\$@"
SH
chmod +x "$W/gpg-ulimit"
write_config "gpg = $W/gpg-ulimit" "worker-memory = 300"
start_daemon
workers=$(pgrep -P "$DAEMON_PID" | tr '\n' ' ')
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: capped\n\nOK\n' | submit fallback
wait_sink 3
if [ "$asan" = valgrind ]; then
	diag "under valgrind: the cap is not visible from outside, not checked"
elif [ -n "$asan" ]; then
	check "ASan build: the worker has no data cap" [ "$(data_limit ${workers%% *})" = unlimited ]
else
	check "worker-memory 300: the worker's data is capped at 300 MB" [ "$(data_limit ${workers%% *})" = $((300 << 20)) ]
	check "and its gpg's (ulimit -d, KB)" [ "$(cat "$W/gpg-data-limit")" = $((300 << 10)) ]
fi
stop_daemon

# A daemon killed outright: its idle workers exit at once (EOF on their
# socket). One with a mail in hand finishes it first, holding the queue
# lock so that the next daemon does not take it back meanwhile (t/0062).
write_config "worker-memory = 0"
start_daemon
workers=$(pgrep -P "$DAEMON_PID" | tr '\n' ' ')
check "the daemon has worker processes" [ -n "$workers" ]
check "worker-memory 0: no cap" [ "$(data_limit ${workers%% *})" = unlimited ]
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=
check "killing the daemon ends its idle workers" wait_for 10 sh -c "! kill -0 $workers 2>/dev/null"
done_testing
