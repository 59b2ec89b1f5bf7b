#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# A client that connects while the listener is still starting (its first
# port listening, the next one not bound yet) is greeted, not cut off
# (issue 15: under load, one session in ten of t/0114 ended in curl's
# "response reading failed" with no line in the log). The test holds the
# second port, so that the listener waits for it (it retries a port in
# use for 5 s); the client connects to the first port meanwhile; then the
# test lets go of the second. A listener that accepted on its first port
# before the second was bound lost that client: adding the port cancelled
# the accept in progress, which still took the connection, and GLib
# closed it without a word. Then: every session in the log has its
# "closed:" line.
. "$T/lib.sh"
. "$T/ltest.sh"
setup
test_ca
clients > "$W/clients"
set --
while IFS= read -r line; do set -- "$@" "$line"; done < "$W/clients"
listen_config "$@"

# early.py PORT HOLD_PORT HELD_FILE TIMEOUT: hold HOLD_PORT (HELD_FILE when
# it is held); connect to PORT as soon as it listens; let go of HOLD_PORT;
# read the greeting; QUIT. Prints what it read; exit 0 if greeted.
cat > "$W/early.py" <<'PYEOF'
import socket, sys, time
port, hold_port, held, timeout = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
hold = socket.socket()
hold.bind(('127.0.0.1', hold_port))
hold.listen(1)
open(held, 'w').close()
end = time.monotonic() + timeout
while True:
    try:
        c = socket.create_connection(('127.0.0.1', port), timeout=1)
        break
    except OSError:
        if time.monotonic() > end:
            print('never connected')
            sys.exit(2)
        time.sleep(0.01)
hold.close()
c.settimeout(timeout)
got = b''
try:
    while not any(l.startswith(b'220 ') for l in got.split(b'\r\n')):
        b = c.recv(4096)
        if not b:
            break
        got += b
    if b'220 ' in got:
        c.sendall(b'QUIT\r\n')
        while True:
            b = c.recv(4096)
            if not b:
                break
            got += b
except OSError as e:
    got += f' [{e}]'.encode()
print(repr(got))
sys.exit(0 if b'220 ' in got and b'221' in got else 1)
PYEOF
# The second port may be taken by someone else before the test holds it:
# new ports then, as start_listener does.
for try in 1 2 3 4 5; do
	"$PY" "$W/early.py" "$SUBPORT" "$SUBSPORT" "$W/held" $((20 * ${KOV_WAIT_SCALE:-1})) > "$W/early.out" 2>&1 &
	early=$!
	wait_for 10 sh -c "test -e '$W/held' || ! kill -0 $early" && [ -e "$W/held" ] && break
	wait "$early"
	[ "$try" = 5 ] && bail "the test could not hold port $SUBSPORT: $(cat "$W/early.out")"
	SUBPORT=$(free_port) SUBSPORT=$(free_port)
	listen_config_write
done
start_daemon
st=0
wait "$early" || st=$?
check "the client that came while the listener was starting was greeted and said QUIT (status $st)" \
	[ "$st" = 0 ]
[ "$st" = 0 ] || diag "it read: $(tr '\\' / < "$W/early.out")"
wait_for 20 grep -q 'listener: ready on' "$W/log" || bail "the listener did not start: $(tail -5 "$W/log")"
check "the listener came up on both ports" grep -q "listener: ready on 127.0.0.1:$SUBPORT (STARTTLS), 127.0.0.1:$SUBSPORT (TLS)" "$W/log"
check "its session is logged, closed by QUIT" grep -q 'session=[0-9a-f]* ip=127.0.0.1: closed: QUIT' "$W/log"
# A second client, as usual.
LPORT=$SUBPORT
check "the next client is served as before" raw --timeout 15 2>>"$W/raw.err" <<RAW
expect 220
ehlo c.test
line QUIT
expect 221
RAW
stop_daemon
# Every session id in the log has a line that ends it.
missing=
for s in $(grep -o 'session=[0-9a-f]*' "$W/log" | sort -u); do
	grep -qE "$s ip=[^ ]*: (closed|refused): " "$W/log" || missing="$missing $s"
done
check "every session in the log has its closed line (missing:${missing:- none})" [ -z "$missing" ]
check "two sessions, both closed by QUIT" [ "$(grep -c ': closed: QUIT$' "$W/log")" = 2 ]
done_testing
