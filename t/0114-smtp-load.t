#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The listener under load, bounded for CI: scripts/loadtest --smtp with 50
# concurrent authenticated STARTTLS sessions (curl -Z), once with the
# default limits (16 sessions per address: the rest must get a clean 421)
# and once with limits above 50 (all accepted). Every accepted mail is
# delivered exactly once, nothing else is. The issue's run of 200 is
# `scripts/loadtest --smtp 200` (see there). SMTP_LOAD overrides 50.
. "$T/lib.sh"
n=${SMTP_LOAD:-50}
head -c 4 "$KOVERTO" | grep -q ELF || { n=10; diag "koverto is a wrapper: $n sessions"; }
out=$(mktemp /tmp/kovsl.XXXXXX)
trap 'rm -f "$out"' EXIT
run() {
	name=$1; shift
	status=0
	sh "$T/../scripts/loadtest" --smtp "$n" --timeout 120 "$@" > "$out" 2>&1 || status=$?
	relay_tap "$out" "$name: "
	check "$name: loadtest exits 0" [ "$status" = 0 ]
}
run "default limits"
run "raised limits" --listen "max-sessions = $((n + 8))" --listen "max-sessions-per-ip = $((n + 8))"
check "raised limits: all $n accepted, none refused" grep -qE "accepted / refused 421 +$n / 0\$" "$out"
done_testing
