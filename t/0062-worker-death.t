#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 10 A9: a worker whose daemon is killed (kill -9, as the OOM killer
# does) finishes the mail in hand: a server that has taken the mail and not
# yet answered the final dot gets no second copy. A new daemon waits for
# such workers (they hold the queue lock) instead of taking the mail back
# under them; a worker hung without its daemon dies at its own backstop
# (mail-timeout and as much again) and frees the queue.
. "$T/lib.sh"
# The sink stores each mail at once and answers the final dot 5 s later
# (20 s when koverto is a wrapper: valgrind, some 20 times slower, needs
# longer than 5 s to start the next daemon).
hold=5
head -c 4 "$KOVERTO" | grep -q ELF || hold=20
setup --delay-after $hold
write_config "workers = 1" "mail-timeout = 60"

workers_of() { ps -o pid= --ppid "$1" | tr -d ' '; }
# alive PID: running, not a zombie (an orphan's new parent may reap late).
alive() { s=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null); [ -n "$s" ] && [ "$s" != Z ]; }
start_daemon
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: once\n\nONCE\n' | submit fallback
check "the server has the mail, its reply pending" wait_for 20 test -e "$SINK/000001.json"
wpid=$(workers_of "$DAEMON_PID")
kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=
check "its worker ($wpid) lives on after the daemon's kill -9" alive $wpid
k=0; "$KOVERTO" -c "$CONF" -k 2>"$W/k.err" || k=$?
check "koverto -k meanwhile: no daemon is running (exit $k: $(cat "$W/k.err"))" \
	sh -c "[ $k = 0 ] && grep -q 'no daemon is running' '$W/k.err'"
start_daemon
check "a new daemon waited for it" grep -q "is gone; waiting up to" "$W/log"
check "the worker finished and exited" eval '! alive $wpid'
check "the mail is done: nothing in cur/" [ -z "$(ls "$W/q/fallback/cur")" ]
sleep 1
check "the server got it once ($(sink_count))" [ "$(sink_count)" = 1 ]
check "the finished mail was logged by its worker" grep -q "koverto\[$wpid\]: .*result=sent" "$W/log"
stop_daemon

# A server that never answers: the orphan dies at its backstop (8 + 8 s
# after the mail was handed over) and the queue is free again.
stop_sink() { kill "$SINK_PID"; wait "$SINK_PID" 2>/dev/null; SINK_PID=; }
stop_sink
rm -f "$SINK"/0*
start_sink --delay-after 600
write_config "workers = 1" "mail-timeout = 8"
start_daemon
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: hung\n\nHUNG\n' | submit fallback
check "the server has the second mail" wait_for 20 test -e "$SINK/000001.json"
wpid=$(workers_of "$DAEMON_PID")
kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=
t0=$(date +%s)
check "a hung orphan dies at its backstop" wait_for 30 eval '! alive $wpid'
t1=$(date +%s)
check "not long after twice mail-timeout ($((t1 - t0)) s after the kill)" [ $((t1 - t0)) -le 20 ]
start_daemon
check "then a new daemon starts" kill -0 "$DAEMON_PID"
stop_daemon
done_testing
