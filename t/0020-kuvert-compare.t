#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Proof against the real thing: every case of t/kuvert/cases (config lines,
# a queue file, what Kuvert 2.2.5 does with it, and whether koverto does the
# same or differs on purpose) is fed to the installed kuvert and to koverto:
# the same Kuvert-format configuration file, the same all-digit queue file,
# each with its own copy of the same GnuPG home, each delivering to the SMTP
# sink. t/kuvert/compare.py runs them and prints one TAP line per case.
#
#   KUVERT_ONLY=1    run only the Kuvert side, checked against the table
#   KUVERT_RECORD=1  run only the Kuvert side, write its results into the table
#   KUVERT_CASES="03 17 beside"  run only these cases ("beside": koverto
#                    next to a running Kuvert daemon)
# Without kuvert installed the test is skipped, except under CI=true, where
# that is a failure. koverto without Kuvert queue support fails it.
set -u
if [ -n "${KUVERT_ONLY:-}${KUVERT_RECORD:-}" ]; then
	KOVERTO=${KOVERTO:-/nonexistent/koverto}
fi
: "${T:?set T to the t/ directory}"

if ! command -v kuvert >/dev/null 2>&1; then
	if [ "${CI:-}" = true ]; then
		echo "not ok 1 - kuvert is not installed: under CI=true the comparison with Kuvert 2.2.5 must run (scripts/deps installs the kuvert package)"
		echo "1..1"
		exit 1
	fi
	echo "1..0 # SKIP kuvert is not installed (apt-get install kuvert; under CI=true this fails)"
	exit 0
fi

. "$T/lib.sh"
version=$(dpkg-query -W -f='${Version}' kuvert 2>/dev/null || echo unknown)
case $version in
2.2.5*) ;;
*) diag "kuvert package version $version: the table records Kuvert 2.2.5" ;;
esac
if [ -z "${KUVERT_ONLY:-}${KUVERT_RECORD:-}" ] && [ ! -x "$KOVERTO" ]; then
	bail "KOVERTO=$KOVERTO is not an executable"
fi

setup
# Kuvert's own copy of the same keyring; lib.sh's cleanup stops the agents
# of $W/g and $W/r, this adds the third one.
KHOME=$W/k
sh "$T/keys/setup-home" "$KHOME" || bail "cannot make Kuvert's keyring"
trap 'gpgconf --homedir "$KHOME" --kill all 2>/dev/null; cleanup' EXIT

set -- --cases "$T/kuvert/cases" --work "$W" --port "$PORT" --sink "$SINK" \
	--reader "$W/r" --kuvert-home "$KHOME" --koverto-home "$W/g" \
	--fingerprints "$T/keys/fingerprints"
[ -n "${KUVERT_ONLY:-}" ] && set -- "$@" --kuvert-only
[ -n "${KUVERT_RECORD:-}" ] && set -- "$@" --record
[ -n "${KUVERT_CASES:-}" ] && set -- "$@" --only "$KUVERT_CASES"
# koverto under valgrind (scripts/memcheck: a wrapper instead of the
# binary): koverto against the table's record of Kuvert, every second case
# (each section of the table keeps cases); plain and ASan runs do it all.
if [ -z "${KUVERT_ONLY:-}${KUVERT_RECORD:-}${KUVERT_CASES:-}" ] && ! head -c 4 "$KOVERTO" | grep -q ELF; then
	diag "koverto is a wrapper: koverto's side only, every second case"
	set -- "$@" --koverto-only --every 2
fi

# compare.py prints the TAP lines and the plan itself.
if "$PY" "$T/kuvert/compare.py" "$@"; then
	status=0
else
	status=1
	tap_failed=1
fi
exit "$status"
