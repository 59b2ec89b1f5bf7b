#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The daemon: instant pickup through inotify, one daemon per queue
# directory, mail a killed run left claimed is taken back, SIGTERM exits 0.
. "$T/lib.sh"
setup
mkdir -p "$W/q"; chmod 700 "$W/q"
# A mail a crashed run had claimed (in cur/, no state yet).
"$KOVERTO" -c "$CONF" -n >/dev/null
mkdir -p "$W/q/fallback/cur"
printf 'From: alice@example.org\nTo: dave@example.com\nSubject: crashed\n\nCRASHED\n' > "$W/q/fallback/cur/left.1"
chmod 700 "$W/q" "$W/q/fallback" "$W/q/fallback/cur"

# A state file whose mail is gone (killed between the two removals).
mkdir -p "$W/q/state"; chmod 700 "$W/q/state"
printf '[mail]\nattempts=1\n' > "$W/q/state/fallback.gone.1"
start_daemon
check "a state file without its mail is removed at start" [ ! -e "$W/q/state/fallback.gone.1" ]
check "pid file holds the daemon's pid" [ "$(cat "$W/q/koverto.pid")" = "$DAEMON_PID" ]
check "a claimed mail from a dead run is taken back" wait_for 20 grep -q "Subject: crashed" "$SINK/000001.eml"

printf 'From: alice@example.org\nTo: bob@example.net\nSubject: live\n\nLIVE\n' | submit fallback
check "a submitted mail is picked up at once" wait_for 20 test -e "$SINK/000002.json"

# A writer that renames into new/ by hand (an MTA's maildir delivery).
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: maildir\n\nM\n' > "$W/q/sign-only/tmp/x"
mv "$W/q/sign-only/tmp/x" "$W/q/sign-only/new/x"
check "a maildir delivery is picked up" wait_for 20 test -e "$SINK/000003.json"

"$KOVERTO" -c "$CONF" 2>"$W/second.err"
s=$?
check "a second daemon on the same queue is refused" [ "$s" != 0 ]
check "with a clear message naming the pid" grep -q "in use by another koverto (pid $DAEMON_PID)" "$W/second.err"

"$KOVERTO" -c "$CONF" -k
check "koverto -k stops it" wait_for 20 sh -c "! kill -0 $DAEMON_PID"
wait "$DAEMON_PID"; STATUS=$?; DAEMON_PID=
check "and it exits 0" [ "$STATUS" = 0 ]
check "its pid file is gone" [ ! -e "$W/q/koverto.pid" ]
check "queue directories are 0700" [ "$(stat -c %a "$W/q/fallback/new")" = 700 ]
done_testing
