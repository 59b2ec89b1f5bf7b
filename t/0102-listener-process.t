#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 12: the listener's process. The daemon runs it as a process of
# its own that keeps none of the daemon's descriptors and nothing of the
# GnuPG home; starts it again when it dies; replaces it at a reload (a
# client added works); and at a stop lets a message in progress finish
# (250) while an idle session hears 421, then waits for it.
. "$T/lib.sh"
setup
listen_config "[client app]" "password = $(hash_pw app-pw)" "queue = sign-only" \
	"senders = app@example\\.org"
start_listener

lpid=$(listener_pid)
check "the listener runs" [ -n "$lpid" ]
check "in a process group of its own" [ "$(pgid_of "$lpid")" = "$lpid" ]
check "it does not hold the daemon's lock" sh -c "! (ls -l /proc/$lpid/fd | grep -q koverto.pid)"
check "nor the daemon's inotify" sh -c "! (ls -l /proc/$lpid/fd | grep -q inotify)"
check "nor anything of the GnuPG home" sh -c "! (ls -l /proc/$lpid/fd | grep -q '$W/g')"
check "and starts no gpg" [ -z "$(ps -o pid= --ppid "$lpid")" ]

send() {
	swaks_tls app app-pw app@example.org carol@example.net --header "Subject: $1" > "$W/$1.out" 2>&1
	grep -q '^<~  250 2.0.0 .*queued as' "$W/$1.out"
}
check "a mail goes in" send one

# Killed: started again, and it works.
kill -9 "$lpid"
check "a killed listener is logged" wait_for 10 grep -q "listener: killed by signal 9; starting it again in 1 s" "$W/log"
check "and started again" wait_for 10 sh -c "[ \$(grep -c 'listener: ready on' '$W/log') -ge 2 ]"
lpid2=$(listener_pid)
check "as a new process" [ -n "$lpid2" ] && [ "$lpid2" != "$lpid" ]
check "a mail goes in after the restart" send two

# A reload with one more client: the new listener knows it.
cat >> "$CONF" <<EOF
[client second]
password = $(hash_pw second-pw)
queue = fallback
senders = .*@example\\.org
EOF
kill -USR1 "$DAEMON_PID"
check "reload: a new listener is ready" wait_for 10 sh -c "[ \$(grep -c 'listener: ready on' '$W/log') -ge 3 ]"
check "reload: the old one has gone" wait_for 10 sh -c "! kill -0 $lpid2 2>/dev/null"
lpid3=$(listener_pid)
swaks_tls second second-pw x@example.org bob@example.net > "$W/second.out" 2>&1
check "reload: the new client logs in" grep -q '^<~  250 2.0.0 .*queued as' "$W/second.out"

# A stop: the message being received is finished and queued; an idle
# session hears 421; then daemon and listener are gone.
"$PY" - "$SUBSPORT" "$CA/ca.pem" "$DAEMON_PID" > "$W/drain.out" 2>&1 <<'PYEOF'
import base64, os, signal, socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[2])
def session():
    t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="127.0.0.1")
    f = t.makefile("rb")
    def cmd(line):
        t.sendall(line)
        while True:
            r = f.readline()
            if r[3:4] != b"-":
                return r.decode().strip()
    f.readline()
    cmd(b"EHLO drain.example.org\r\n")
    print("auth", cmd(b"AUTH PLAIN " + base64.b64encode(b"\0app\0app-pw") + b"\r\n"))
    return t, f, cmd
busy = session()
idle = session()
print("mail", busy[2](b"MAIL FROM:<app@example.org>\r\n"))
print("rcpt", busy[2](b"RCPT TO:<carol@example.net>\r\n"))
print("data", busy[2](b"DATA\r\n"))
busy[0].sendall(b"From: app@example.org\r\nSubject: drained\r\n\r\nfirst half\r\n")
os.kill(int(sys.argv[3]), signal.SIGTERM)
print("idle", idle[1].readline().decode().strip())
time.sleep(0.5)
busy[0].sendall(b"second half\r\n")
print("end", busy[2](b".\r\n"))
print("next", busy[2](b"NOOP\r\n"))
PYEOF
wait "$DAEMON_PID"
STATUS=$?
DAEMON_PID=
check "stop: the idle session heard 421" grep -q '^idle 421 4.3.2' "$W/drain.out"
check "stop: the message in progress was queued" grep -q '^end 250 2.0.0' "$W/drain.out"
check "stop: then the session heard 421" grep -q '^next 421' "$W/drain.out"
check "stop: the daemon exited 0" [ "$STATUS" = 0 ]
check "stop: the listener is gone" sh -c "[ -n '$lpid3' ] && ! kill -0 '$lpid3' 2>/dev/null"
check "stop: logged" grep -q "listener: stopped" "$W/log"
check "the drained mail waits in its queue" grep -lq "Subject: drained" "$W"/q/sign-only/new/* "$W"/q/sign-only/cur/*
[ "$tap_failed" = 0 ] || diag "$(cat "$W/drain.out")"
done_testing
