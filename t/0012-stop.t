#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# SIGTERM with a backlog: the mail in hand is finished, the rest stays
# queued, the daemon exits 0, and a later run delivers each mail once.
. "$T/lib.sh"
setup --delay 0.5
for i in 1 2 3 4 5 6; do
	printf 'From: alice@example.org\nTo: dave@example.com\nSubject: backlog-%s\n\nB\n' "$i" | submit sign-only
done
start_daemon
wait_sink 1
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"; STATUS=$?; DAEMON_PID=
check "SIGTERM: exit 0" [ "$STATUS" = 0 ]
sent=$(sink_count)
check "SIGTERM: stopped before working through the backlog ($sent sent)" [ "$sent" -lt 6 ]
left=$(find "$W/q/sign-only/new" "$W/q/sign-only/cur" -type f | wc -l)
check "SIGTERM: the rest is still queued" [ $((sent + left)) = 6 ]
check "SIGTERM: the log says it stopped" grep -q "koverto stopping" "$W/log"
oneshot
check "the next run delivers the rest" [ "$STATUS" = 0 ]
check "each mail arrived exactly once" [ "$(grep -h '^Subject: backlog' "$SINK"/*.eml | sort -u | wc -l)" = 6 ] 
check "and nothing twice" [ "$(sink_count)" = 6 ]
done_testing
