#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 10 A6: when the per-mail state cannot be saved, nothing more is
# sent. koverto 0.1.0 logged the failed write and went on delivering; each
# retry then sent again what had been accepted (6 copies in 12 s), with no
# backoff and no lifetime, since both lived in the state it could not
# write. Here state/ is a small tmpfs, filled while the first copy of a
# mail is in DATA: that copy is recorded (its room was reserved before it
# was sent), the next one is never sent, retries come with backoff and
# the mail fails at its lifetime with a report that names only the
# recipient who did not get it. A second mail, queued on the full disk,
# sends nothing until the disk has room, then each recipient gets it once.
: "${KOVERTO:?set KOVERTO to the koverto binary}"
: "${T:?set T to the t/ directory}"

# A mount namespace of our own, so that the tmpfs is nobody else's.
if [ -z "${KOV_IN_NS:-}" ]; then
	# In a chroot (a fresh Debian root made by debootstrap) "/" is no mount
	# point and cannot be made private: there the namespace keeps the
	# propagation it has; the tmpfs is unmounted at the end either way.
	for propagation in private unchanged; do
		if [ "$(id -u)" = 0 ] && unshare --mount --propagation $propagation true 2>/dev/null; then
			KOV_IN_NS=1 exec unshare --mount --propagation $propagation sh "$0"
		fi
	done
	if [ "${CI:-}" = true ]; then
		echo "not ok 1 - cannot make a mount namespace (unshare --mount, as root): under CI=true this test must run"
		echo "1..1"
		exit 1
	fi
	echo "1..0 # SKIP needs root and unshare --mount for a tmpfs (under CI=true this fails)"
	exit 0
fi

. "$T/lib.sh"
setup --delay 2
write_config "retry-first = 1s" "retry-max = 8s" "queue-lifetime = 14s" \
	"mail-on-error = postmaster@example.org" "dsn = yes"
mkdir -m 0700 "$W/q" "$W/q/state"
trap 'umount "$W/q/state" 2>/dev/null; cleanup' EXIT
mount -t tmpfs -o size=256k,mode=0700 kovstate "$W/q/state" || bail "cannot mount a tmpfs on $W/q/state"
fill() { dd if=/dev/zero of="$W/q/state/fill" bs=4k 2>/dev/null; true; }
# rcpt_count ADDRESS: how many transactions the sink accepted for ADDRESS.
rcpt_count() { grep -cF "RCPT TO:<$1> -> 250" "$SINK/log"; }

start_daemon
# dave has no key: signed, the first copy; bob's is encrypted, the second.
printf 'From: alice@example.org\nTo: dave@example.com, bob@example.net\nSubject: full\n\nFULL\n' | submit fallback
wait_for 20 grep -qF "RCPT TO:<dave@example.com> -> 250" "$SINK/log" || bail "the first copy never came"
fill # while the sink holds the first copy in DATA (2 s)
check "the mail fails at its lifetime" wait_for 60 sh -c "ls '$W'/q/failed/*.reason >/dev/null 2>&1"
id=$(basename "$W"/q/failed/fallback.*.reason .reason | sed 's/^fallback\.//')
reason=$(cat "$W"/q/failed/*.reason)
diag "reason: $reason"
check "dave got the first copy once" [ "$(rcpt_count dave@example.com)" = 1 ]
check "bob's copy was never sent" [ "$(rcpt_count bob@example.net)" = 0 ]
check "the reason names bob and the state" sh -c "echo '$reason' | grep -q 'bob@example.net: gave up after 14 s: state: no room'"
check "and not dave, who has it" sh -c "! echo '$reason' | grep -q dave"
check "the parked mail is addressed to bob only" grep -qx 'X-Kuvert-To: bob@example.net' "$W/q/failed/fallback.$id"
wait_for 20 sh -c "grep -q '^Subject: koverto: mail' '$SINK'/*.eml"
alert=$(grep -l '^Subject: koverto: mail' "$SINK"/*.eml | head -1)
check "the alert names bob, not dave" sh -c "grep -q 'bob@example.net: gave up' '$alert' && ! grep -q dave '$alert'"
# The attempts: each one deferred, spaced by the backoff (seconds apart).
grep "id=$id queue=fallback .*result=deferred" "$W/log" | sed 's/^[^T]*T\([0-9:]*\).*/\1/' |
	awk -F: '{ t = $1 * 3600 + $2 * 60 + $3; if (NR > 1) printf "%d\n", t - p; p = t }' > "$W/gaps"
diag "gaps between attempts (s): $(tr '\n' ' ' < "$W/gaps")"
attempts=$(grep -c "id=$id queue=fallback .*result=" "$W/log")
check "a handful of attempts in the lifetime, not one a second ($attempts)" [ "$attempts" -le 7 ]
check "no gap shorter than retry-first, none shorter than the one before" awk '$1 < 1 || $1 < p - 1 { bad = 1 } { p = $1 } END { exit bad }' "$W/gaps"
# Under scripts/memcheck an attempt takes seconds: too few for a shape.
if [ -z "${KOVERTO_BIN:-}" ]; then
	check "at least 3 attempts" [ "$attempts" -ge 3 ]
	# (Doubling, 2 then 4 s, plus each attempt's own time, which a busy
	# machine stretches: 4 then 6 s was seen in CI. The shape, not a ratio.)
	check "the gaps grow: the last is longer than the first" awk 'NR == 1 { f = $1 } { l = $1 } END { exit !(NR >= 2 && f >= 1 && l > f) }' "$W/gaps"
fi
check "every attempt after the first said why it sent nothing" [ "$(grep -c "id=$id: state: no room to record" "$W/log")" -ge $((attempts - 1)) ]

# A second mail on a disk with no room at all: no state is ever written,
# nothing is sent, and backoff and lifetime hold anyway, across a
# restart of the daemon (first-seen is when the mail was claimed).
fill2() { dd if=/dev/zero of="$W/q/state/fill2" bs=4k 2>/dev/null; true; }
fill2
printf 'From: alice@example.org\nTo: dave@example.com, bob@example.net\nSubject: nostate\n\nNOSTATE\n' | submit fallback
wait_for 20 sh -c "[ \$(grep ': received from <.*> into ' '$W/log' | sed 's/.*id=\([^:]*\):.*/\1/' | sort -u | wc -l) -ge 2 ]" || bail "the second mail never came"
id2=$(grep ': received from <.*> into ' "$W/log" | sed 's/.*id=\([^:]*\):.*/\1/' | grep -vxF "$id" | head -1)
wait_for 20 sh -c "[ \$(grep -c 'id=$id2 queue=.*result=deferred' '$W/log') -ge 2 ]"
restart=$(date +%s)
stop_daemon
start_daemon
check "the second mail fails at its lifetime" wait_for 60 test -e "$W/q/failed/fallback.$id2.reason"
check "nothing was sent for it" sh -c "[ $(rcpt_count dave@example.com) = 1 ] && [ $(rcpt_count bob@example.net) = 0 ]"
check "its reason: both, the state" grep -q "dave@example.com: gave up after 14 s: state: no room.*bob@example.net: gave up after 14 s: state: no room" "$W/q/failed/fallback.$id2.reason"
attempts2=$(grep -c "id=$id2 queue=fallback .*result=" "$W/log")
check "a handful of attempts, not one a second ($attempts2)" [ "$attempts2" -le 10 ]
check "no state file was ever written for it" [ "$(ls "$W/q/state")" = "$(printf 'fill\nfill2')" ]
wait_for 20 sh -c "grep -l 'Original-Envelope-Id: $id2' '$SINK'/*.eml >/dev/null 2>&1"
dsn=$(grep -l "Original-Envelope-Id: $id2" "$SINK"/*.eml | head -1)
arrival=$("$PY" -c 'import email.utils,re,sys; m=re.search(r"^Arrival-Date: (.*)$", open(sys.argv[1]).read(), re.M); print(int(email.utils.parsedate_to_datetime(m.group(1).strip()).timestamp()))' "$dsn" 2>/dev/null)
diag "arrival $arrival, restart $restart"
check "first-seen survived the restart (the DSN's Arrival-Date is before it)" [ "${arrival:-0}" -gt 0 ] && [ "${arrival:-0}" -lt "$restart" ]

# Room again: the next mail goes out, each recipient once.
rm -f "$W/q/state/fill" "$W/q/state/fill2"
printf 'From: alice@example.org\nTo: dave@example.com, bob@example.net\nSubject: room\n\nROOM\n' | submit fallback
check "with room again, a mail goes out" wait_for 30 sh -c "[ \$(grep -c 'result=sent' '$W/log') -ge 1 ]"
check "dave got it once" [ "$(rcpt_count dave@example.com)" = 2 ]
check "bob got it once" [ "$(rcpt_count bob@example.net)" = 1 ]
# The worker logs result=sent before it removes the mail and its state.
check "no state file left" wait_for 10 sh -c "[ -z \"\$(ls -A '$W/q/state')\" ]"
stop_daemon
check "exit 0" [ "$STATUS" = 0 ]
done_testing
