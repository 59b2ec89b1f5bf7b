#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# kill -9 of the listener: in the middle of DATA, and during the enqueue,
# held at the right moment by strace (a delay injected into the syscall:
# the link that names the file, the rename into new/, the fsync of the
# directory after it). No half mail in any queue; a mail whose hand-over
# had finished is whole and delivered once; the daemon restarts the
# listener and a new session works. The daemon and its workers carry on.
. "$T/lib.sh"
. "$T/ltest.sh"
command -v strace >/dev/null || bail "strace is not installed (scripts/deps)"
lsetup
STRACE_PID=
trap '[ -n "$STRACE_PID" ] && kill "$STRACE_PID" 2>/dev/null; cleanup' EXIT

# client N TAIL: a mail "crash N" to dave (signed: readable at the sink),
# DATA sent up to a point, $W/hold.N touched, then (after up to 20 s) TAIL.
client() {
	raw --timeout 30 2>>"$W/raw.$1.err" <<RAW
$(login mon "$MON_PW")
$(to_data alice@example.org dave@example.com)
send From: alice@example.org\r\nTo: dave@example.com\r\nSubject: crash $1\r\nMessage-ID: <crash.$1@c.test>\r\n\r\nCRASH-$1 first half\r\n
$2
RAW
}
# restarted OLDPID: a new listener (another pid) that answers.
restarted() {
	p=$(listener_pid)
	[ -n "$p" ] && [ "$p" != "$1" ] && greets "$LPORT"
}
session_works() {
	mailfile "after $1" "AFTER-$1" alice@example.org
	raw 2>>"$W/raw.err" <<RAW
$(login mon "$MON_PW")
$(to_data alice@example.org dave@example.com)
data $W/mail.eml
expect 250
RAW
}
in_new_or_cur() { find "$W/q" -type f \( -path '*/new/*' -o -path '*/cur/*' \) | wc -l; }

# 1. In the middle of DATA.
L=$(listener_pid)
check "the listener runs as its own process ($L)" [ -n "$L" ]
client 1 "touch $W/hold.1
sleep 20
send CRASH-1 second half\r\n.\r\n
expect 250" &
cpid=$!
wait_for 20 test -e "$W/hold.1" || not_ok "client 1 reached DATA"
kill -KILL "$L"
wait "$cpid"; st=$?
check "kill -9 in the middle of DATA: the client got no 250" [ "$st" != 0 ]
check "nothing in any queue, tmp/ included" nothing_queued
check "the daemon restarted the listener" wait_for 30 restarted "$L"
check "the daemon itself still runs" kill -0 "$DAEMON_PID"
check "a new session works" session_works 1

# hold SYSCALL [WHEN]: strace on the listener delaying SYSCALL by 5 s (its
# WHEN-th call in a thread); STRACE_PID. A kill -9 sent meanwhile takes
# effect when the delay ends, before the syscall runs (ptrace).
hold() {
	L=$(listener_pid)
	strace -f -qq -o "$W/strace.$1" -p "$L" -e trace="$1" \
		-e inject="$1:delay_enter=5000000${2:+:when=$2}" 2>>"$W/strace.err" &
	STRACE_PID=$!
	# attached once strace shows it in /proc (TracerPid of the listener)
	wait_for 10 sh -c "grep -q \"TracerPid:[[:space:]]*$STRACE_PID\" /proc/$L/status"
}
# in_syscall NAME: a thread of the listener L is stopped in NAME (x86_64
# numbers; elsewhere a second's grace instead).
in_syscall() {
	case $(uname -m):$1 in
	x86_64:linkat) nr=265 ;; x86_64:rename) nr=82 ;; x86_64:fsync) nr=74 ;;
	*) sleep 1; return 0 ;;
	esac
	cat /proc/"$L"/task/*/syscall 2>/dev/null | grep -q "^$nr "
}
unhold() { kill "$STRACE_PID" 2>/dev/null; wait "$STRACE_PID" 2>/dev/null; STRACE_PID=; }

# 2. During the enqueue: held before the file gets its name (linkat), in
# the rename into new/, and in the fsync of the directory after it.
n=1
for point in linkat rename "fsync 2"; do
	n=$((n + 1))
	set -- $point
	hold "$1" "${2:-}" || { not_ok "strace attached to the listener ($point)"; continue; }
	client "$n" "send CRASH-$n second half\r\n.\r\n
touch $W/sent.$n
expect 250" &
	cpid=$!
	wait_for 20 test -e "$W/sent.$n" || not_ok "client $n sent the end of DATA"
	# the listener is now inside the held syscall
	wait_for 10 in_syscall "$1" || not_ok "the listener reached $point"
	before=$(in_new_or_cur)
	tmpfiles=$(find "$W/q" -type f -path "$W/q/*/tmp/*" | wc -l)
	diag "$point held: $tmpfiles named file(s) in tmp/, $before in new/ or cur/"
	kill -KILL "$L"
	wait "$cpid"; st=$?
	unhold
	check "kill -9 in $point: the client got no 250" [ "$st" != 0 ]
	check "$point: the daemon restarted the listener" wait_for 30 restarted "$L"
	check "$point: a new session works" session_works "$n"
done
check "the mails after each kill arrived" wait_sink 4
# What a kill may leave: in linkat, nothing; in the rename, at most a whole
# file in tmp/ (never delivered); in the fsync after the rename, a whole
# mail in new/, delivered once (its client, told nothing, may send it again).
sleep 2
check "no mail of a kill before the rename was delivered" sh -c "! grep -lq -e 'CRASH-[123]' '$SINK'/*.eml"
c4=$(grep -l 'CRASH-4 first half' "$SINK"/*.eml 2>/dev/null | wc -l)
check "the mail killed after its rename into new/ was delivered at most once ($c4)" [ "$c4" -le 1 ]
if [ "$c4" = 1 ]; then
	check "... and whole" grep -q "CRASH-4 second half" "$(grep -l 'CRASH-4 first half' "$SINK"/*.eml)"
fi
check "no half mail reached the sink" sh -c "for f in \$(grep -l 'first half' '$SINK'/*.eml); do grep -q 'second half' \"\$f\" || exit 1; done"
check "the queue holds nothing in new/ or cur/ at the end" wait_for 20 sh -c "[ -z \"\$(find '$W/q' -type f \\( -path '*/new/*' -o -path '*/cur/*' \\))\" ]"
left=$(find "$W/q" -type f -path "$W/q/*/tmp/*")
[ -n "$left" ] && diag "left in tmp/ by the kills: $(echo "$left" | wc -l) file(s): $(for f in $left; do printf '%s (%s bytes) ' "${f#$W/q/}" "$(stat -c %s "$f")"; done)"
check "no half mail left in any tmp/ (every file there is whole)" sh -c "for f in \$(find '$W/q' -type f -path '$W/q/*/tmp/*'); do grep -q 'second half' \"\$f\" || exit 1; done"
check "the daemon still runs" kill -0 "$DAEMON_PID"
done_testing
