#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Reload (koverto -r, SIGUSR1): a good new configuration applies to the
# next mail, a broken one is reported and the old one kept. can-detach
# puts the daemon in the background; koverto -k stops it.
. "$T/lib.sh"
setup
write_config "defaultaction = none"
start_daemon
kq() { printf 'From: alice@example.org\nTo: bob@example.net\nSubject: %s\n\n%s\n' "$1" "$1" | "$KOVERTO" submit -C "${2:-$CONF}"; }

kq before
wait_sink 1
check "defaultaction none: unchanged" grep -q "^before" "$(latest)"
write_config "defaultaction = fallback"
"$KOVERTO" -c "$CONF" -r
check "koverto -r: the daemon reloads" wait_for 20 grep -q "reload: configuration" "$W/log"
kq after
wait_sink 2
check "after the reload: encrypted" [ "$(content_type "$(latest)")" = multipart/encrypted ]

cp "$CONF" "$W/good.conf"
echo "msport = not-a-port" >> "$CONF"
kill -USR1 "$DAEMON_PID"
check "a broken configuration is reported" wait_for 20 grep -q "keeping the running configuration" "$W/log"
kq still "$W/good.conf"
wait_sink 3
check "and the old one kept" [ "$(content_type "$(latest)")" = multipart/encrypted ]
check "the daemon is still running" kill -0 "$DAEMON_PID"
cp "$W/good.conf" "$CONF"
stop_daemon
check "SIGTERM: exit 0" [ "$STATUS" = 0 ]

write_config "can-detach = t"
"$KOVERTO" -c "$CONF" 2>"$W/detach.err"
check "can-detach: the command returns 0 at once" [ $? = 0 ]
check "can-detach: a daemon runs" wait_for 20 test -s "$W/q/koverto.pid"
pid=$(cat "$W/q/koverto.pid")
kq detached
check "can-detach: it works" wait_sink 4
"$KOVERTO" -c "$CONF" -k
check "koverto -k stops the detached daemon" wait_for 20 sh -c "! kill -0 $pid 2>/dev/null"
done_testing
