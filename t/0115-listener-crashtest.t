#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# kill -9 of the SMTP listener at random moments, bounded for CI:
# scripts/crashtest --kill listener with 20 mails sent over STARTTLS + AUTH
# by a client that sends a mail again until it hears 250, and 4 kills (the daemon's restart back-off doubles: 1+2+4+8 s). Every
# mail is accepted in the end, every (mail, recipient) arrives, twice only
# for a mail one of whose attempts ended without 250, no half mail is sent
# or left; the daemon restarts the listener each time and survives.
# CRASH_MAILS and CRASH_KILLS override the sizes.
. "$T/lib.sh"
mails=20 kills=4
head -c 4 "$KOVERTO" | grep -q ELF || { mails=10 kills=3; diag "koverto is a wrapper: $mails mails, $kills kills"; }
out=$(mktemp /tmp/kovlc.XXXXXX)
trap 'rm -f "$out"' EXIT
status=0
sh "$T/../scripts/crashtest" --kill listener --mails "${CRASH_MAILS:-$mails}" --kills "${CRASH_KILLS:-$kills}" \
	> "$out" 2>&1 || status=$?
relay_tap "$out"
check "crashtest --kill listener exits 0" [ "$status" = 0 ]
done_testing
