# SPDX-License-Identifier: GPL-3.0-or-later
# Helpers for the listener's hard tests (t/0105-0119): sourced after
# t/lib.sh. A daemon with the SMTP listener on a free loopback port, two
# clients, a raw client (t/smtp-raw.py) and a look into every queue.
#
#   lsetup [extra [listen] lines...]   setup + certificate + config + daemon
#   raw [smtp-raw options] < SCRIPT    the raw client on the listener
#   queued                             every file in any queue (tmp/ too)
#
# Clients (passwords in the clear here, their $6$ hashes in the config):
#   mon   password MON_PW,  queue fallback,     senders alice@example.org
#   tick  password TICK_PW, queue must-encrypt, senders sam@example.org and
#         alice@example.org, its own key sam
MON_PW=mon-Secret-1
TICK_PW=tick-Secret-2
LPORT=
# hash PASSWORD: a $6$ crypt(3) hash (fast to check: the tests log in often).
hash() { openssl passwd -6 -salt "$(head -c 12 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 16)" "$1"; }
# free_port: a loopback port nobody listens on right now.
free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# lcert: the listener's certificate (CA = the certificate itself) in $W/tls.
lcert() {
	[ -f "$W/tls/cert.pem" ] || sh "$T/mkcert" "$W/tls" || bail "mkcert failed"
	CA=$W/tls/cert.pem
}
# listen_config [extra [listen] lines...]: $CONF with a listener on LPORT.
listen_config() {
	write_config
	{
		echo "[listen]"
		echo "submission = 127.0.0.1:$LPORT"
		echo "tls-cert = $W/tls/cert.pem"
		echo "tls-key = $W/tls/key.pem"
		echo "hostname = koverto.test"
		for line in "$@"; do echo "$line"; done
		echo "[client mon]"
		echo "password = $(hash "$MON_PW")"
		echo "queue = fallback"
		echo 'senders = alice@example\.org'
		echo "[client tick]"
		echo "password = $(hash "$TICK_PW")"
		echo "queue = must-encrypt"
		echo "key = $(fpr sam)"
		echo 'senders = (sam|alice)@example\.org'
	} >> "$CONF"
}
# greets PORT: something on PORT answers 220.
greets() {
	"$PY" - "$1" <<'PYEOF'
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=2)
sys.exit(0 if s.recv(512).startswith(b'220') else 1)
PYEOF
}
# start_listener [koverto args]: the daemon, then wait for LPORT to greet.
start_listener() {
	start_daemon "$@"
	wait_for 20 greets "$LPORT" || bail "the listener does not answer on $LPORT: $(tail -5 "$W/log")"
}
# lsetup [extra [listen] lines...]: everything, the daemon running.
# A port taken between free_port and the bind: try another.
lsetup() {
	setup
	lcert
	for try in 1 2 3; do
		LPORT=$(free_port)
		listen_config "$@"
		start_daemon
		wait_for 20 greets "$LPORT" && return 0
		stop_daemon
	done
	bail "the listener does not answer: $(tail -5 "$W/log")"
}
# raw [options] < SCRIPT: t/smtp-raw.py on the listener, trusting its certificate.
raw() { "$PY" "$T/smtp-raw.py" --port "$LPORT" --cafile "$CA" "$@"; }
# login CLIENT PASSWORD: the steps up to an authenticated session.
login() {
	printf 'expect 220\nehlo client.test\nstarttls\nehlo client.test\nauth-plain %s %s\nexpect 235\n' "$1" "$2"
}
# queued: every file in any queue of $W/q (tmp/, new/, cur/ of each Maildir,
# and the Kuvert queue's files at the top), one path a line.
queued() {
	find "$W/q" -type f \( -path "$W/q/*/tmp/*" -o -path "$W/q/*/new/*" -o -path "$W/q/*/cur/*" \
		-o \( -path "$W/q/*" ! -path "$W/q/*/*" \) \) 2>/dev/null | grep -v '/\.lock$' | grep -v '/q/[^/]*\.pid$'
}
nothing_queued() { [ -z "$(queued)" ]; }
# mailfile SUBJECT MARKER [From]: a small mail in $W/mail.eml.
mailfile() {
	printf 'From: %s\nTo: Bob <bob@example.net>\nSubject: %s\nMessage-ID: <%s@client.test>\n\n%s\n' \
		"${3:-alice@example.org}" "$1" "$1" "$2" > "$W/mail.eml"
}
# tls_hello: the steps up to EHLO after STARTTLS.
tls_hello() { printf 'expect 220\nehlo client.test\nstarttls\nehlo client.test\n'; }
