#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# metrics-file (issue 15): a worker killed at mail-timeout loses only the
# events of the mail in hand. The watcher counts each restart, and the
# mail it fails after the third; the numbers of mail done before stay.
. "$T/lib.sh"
setup
M=$W/koverto.prom
write_config "workers = 1" "metrics-file = $M"
value() { awk -v s="$1" '$1 == s { print $2 }' "$M"; }
expect() { # SERIES VALUE
	got=$(value "$1")
	if [ "$got" = "$2" ]; then ok "$1 = $2"; else not_ok "$1 = $2 (got '$got')"; fi
}

start_daemon
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: first\n\nFIRST\n' | submit fallback
check "a first mail is delivered" wait_sink 1
stop_daemon

# The sink now takes the data and answers the final dot only after 30 s:
# each attempt overruns mail-timeout and its worker is killed.
sink_stop
start_sink --delay-after 30
write_config "workers = 1" "metrics-file = $M" "mail-timeout = 1"
start_daemon
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: hangs\n\nHANGS\n' | submit fallback
check "the hanging mail is failed after three killed workers" \
	wait_for 60 sh -c "ls '$W/q/failed' | grep -q '^fallback\.'"
check "the file says so within seconds" \
	wait_for 10 sh -c "grep -q '^koverto_worker_restarts_total 3\$' '$M'"
stop_daemon
expect 'koverto_worker_restarts_total' 3
expect 'koverto_messages_failed_total{queue="fallback"}' 1
# Counters start again at each start: the first daemon's mail is not here.
expect 'koverto_recipients_total{queue="fallback",outcome="encrypted"}' 0
# The killed workers' events (the mail's first attempt) were lost with them.
expect 'koverto_messages_received_total{queue="fallback"}' 0
expect 'koverto_queue_messages{queue="fallback",state="failed"}' 1
expect 'koverto_queue_messages{queue="fallback",state="active"}' 0
done_testing
