#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 16: Type=notify. koverto, run as systemd runs it (NOTIFY_SOCKET set,
# can-detach off), says READY=1 only once the queues are watched and the
# listener accepts: while another process holds the listener's port there
# is no READY=1, and when it comes a connection to the port succeeds.
# SIGUSR1 gives RELOADING=1 then READY=1 again, SIGTERM gives STOPPING=1;
# a mail sent while ready goes out signed. t/notify-manager.py plays systemd.
. "$T/lib.sh"
setup
listen_config "[client app]" "password = $(hash_pw app-pw)" "queue = sign-only" "senders = .*"

# Another process holds the STARTTLS port: the listener cannot bind.
"$PY" -c 'import socket,sys,time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); open(sys.argv[2], "w").close()
time.sleep(600)' "$SUBPORT" "$W/blocker.up" &
BLOCKER=$!
wait_for 10 test -e "$W/blocker.up" || bail "blocker did not start"
"$PY" "$T/notify-manager.py" "$W/notify" "$W/notify.log" "$SUBPORT" 2>>"$W/manager.err" &
MANAGER=$!
wait_for 10 test -S "$W/notify" || bail "manager did not start"
stop_daemon_at_exit() {
	[ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
	for p in $BLOCKER $MANAGER; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
}

# The agent that made the keyring goes: the one koverto's gpg starts is checked below.
gpgconf --homedir "$W/g" --kill all
NOTIFY_SOCKET=$W/notify start_daemon
wait_for 20 grep -q 'listener: cannot listen' "$W/log" || diag "log: $(tail -3 "$W/log")"
check "the queues are watched, the port is taken" grep -q 'ready: watching' "$W/log"
sleep 1   # the daemon has had its chance to say READY=1 wrongly
check "no READY=1 while the listener cannot accept" sh -c "! grep -q 'READY=1' '$W/notify.log' 2>/dev/null"

kill "$BLOCKER"; wait "$BLOCKER" 2>/dev/null; BLOCKER=
wait_for 30 grep -q '^READY=1' "$W/notify.log" || diag "notify: $(cat "$W/notify.log" 2>/dev/null)"
check "READY=1 once the listener accepts" grep -q '^READY=1|STATUS=watching .*listener accepting' "$W/notify.log"
check "the port accepted when READY=1 came" [ "$(grep -c '^connect' "$W/notify.log")" = 1 ] &&
	grep -q '^connect ok' "$W/notify.log"

printf 'From: alice@example.org\nTo: carol@example.net\nSubject: n1\n\nMARK-NOTIFY\n' |
	submit sign-only || not_ok "submit"
wait_sink 1
check "a mail goes out signed while ready" verify_signed "$(latest)"
# The gpg-agent that signed it was started by gpg, started by a worker:
# what it got is what koverto hands to the programs it runs.
agent=$(ps -e -o pid=,args= | awk -v h="$W/g" 'index($0, "gpg-agent") && index($0, h) { print $1; exit }')
check "gpg (its agent) did not inherit NOTIFY_SOCKET" \
	sh -c "[ -n '$agent' ] && tr '\\0' '\\n' < /proc/$agent/environ | grep -q '^GNUPGHOME=\\|^PATH=' &&
		! tr '\\0' '\\n' < /proc/$agent/environ | grep -q '^NOTIFY_SOCKET='"

kill -USR1 "$DAEMON_PID"
wait_for 20 sh -c "[ \$(grep -c '^READY=1' '$W/notify.log') -ge 2 ]" || diag "notify: $(cat "$W/notify.log")"
check "SIGUSR1: RELOADING=1, then READY=1" sh -c "grep -E '^(RELOADING|READY)=1' '$W/notify.log' |
	cut -d'|' -f1 | tr '\n' ' ' | grep -qx 'READY=1 RELOADING=1 READY=1 '"
check "READY=1 after the reload with the new listener accepting" \
	[ "$(grep -c '^connect ok' "$W/notify.log")" = 2 ]

stop_daemon
check "SIGTERM: exit 0" [ "$STATUS" = 0 ]
wait_for 5 grep -q '^STOPPING=1' "$W/notify.log"
check "SIGTERM: STOPPING=1 with a status" grep -q '^STOPPING=1|STATUS=stopping' "$W/notify.log"
check "nothing after STOPPING=1" [ "$(tail -1 "$W/notify.log" | cut -d'|' -f1)" = STOPPING=1 ]
diag "notify: $(tr '\n' ';' < "$W/notify.log")"
done_testing
