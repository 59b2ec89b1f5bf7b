#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Crash safety, bounded for CI: scripts/crashtest with 60 mails and 10
# random kill -9 of the daemon's process group, over SMTP and over msp.
# Every (mail, recipient) arrives; twice only for a transaction in flight
# at a kill; nothing the daemon started outlives it; the queue, state/ and
# failed/ end empty. Then a short run that kills the daemon's pid alone,
# as the OOM killer does. CRASH_MAILS and CRASH_KILLS override the sizes
# of the first two.
. "$T/lib.sh"
# A wrapper instead of the binary (scripts/memcheck runs koverto under
# valgrind, some 20 times slower): a smaller run, still with kills.
mails=60 kills=10 pid_mails=20 pid_kills=4
head -c 4 "$KOVERTO" | grep -q ELF || {
	mails=12 kills=4 pid_mails=8 pid_kills=2
	diag "koverto is a wrapper: $mails mails, $kills kills"
}
out=$(mktemp /tmp/kovcrash.XXXXXX)
trap 'rm -f "$out"' EXIT

# crashtest NAME ARGS...: run it; its TAP lines become ours, prefixed.
crashtest() {
	name=$1; shift
	status=0
	sh "$T/../scripts/crashtest" "$@" > "$out" 2>&1 || status=$?
	relay_tap "$out" "$name: "
	check "$name: crashtest exits 0" [ "$status" = 0 ]
}

for transport in smtp msp; do
	crashtest "$transport" --mails "${CRASH_MAILS:-$mails}" --kills "${CRASH_KILLS:-$kills}" \
		--kill group --transport "$transport"
done
crashtest "pid only" --mails "$pid_mails" --kills "$pid_kills" --kill pid --transport smtp
done_testing
