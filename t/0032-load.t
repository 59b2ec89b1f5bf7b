#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Load, bounded for CI: scripts/loadtest with 300 mails queued at once, a
# sink that waits 0.01 s per transaction and answers 451 to the first 20
# RCPTs. Asserts correctness only (every mail delivered exactly once,
# nothing left in the queue), never timing. LOAD_MAILS overrides the size.
. "$T/lib.sh"
# A wrapper instead of the binary (scripts/memcheck runs koverto under
# valgrind, some 20 times slower): fewer mails.
mails=300
head -c 4 "$KOVERTO" | grep -q ELF || { mails=80; diag "koverto is a wrapper: $mails mails"; }
out=$(mktemp /tmp/kovload.XXXXXX)
trap 'rm -f "$out"' EXIT
status=0
sh "$T/../scripts/loadtest" --mails "${LOAD_MAILS:-$mails}" --delay 0.01 --fail 20 --probe 0 > "$out" 2>&1 || status=$?
relay_tap "$out"
check "loadtest exits 0" [ "$status" = 0 ]
done_testing
