# SPDX-License-Identifier: GPL-3.0-or-later
# Helpers for the listener's hard tests (t/0105-0119), on top of t/lib.sh's
# listener helpers (test_ca, listen_config, start_listener): two clients, a
# raw client (t/smtp-raw.py) and a look into every queue.
#
#   lsetup [extra [listen] lines...]   setup + CA + config + daemon + listener
#   raw [smtp-raw options] < SCRIPT    the raw client on the STARTTLS port
#   login CLIENT PW, to_data FROM TO   steps of a raw script
#   queued                             every file in any queue (tmp/ too)
#
# Clients (passwords in the clear here, their $6$ hashes in the config):
#   mon   password MON_PW,  queue fallback,     senders alice@example.org
#   tick  password TICK_PW, queue must-encrypt, senders sam@ and alice@
#         example.org, its own key sam
MON_PW=mon-Secret-1
TICK_PW=tick-Secret-2
LPORT=
# clients: the [client] sections of mon and tick.
clients() {
	printf '%s\n' "[client mon]" "password = $(hash_pw "$MON_PW")" "queue = fallback" \
		'senders = alice@example\.org' \
		"[client tick]" "password = $(hash_pw "$TICK_PW")" "queue = must-encrypt" "key = $(fpr sam)" \
		'senders = (sam|alice)@example\.org'
}
# greets PORT: something on PORT answers 220.
greets() {
	"$PY" - "$1" <<'PYEOF'
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=2)
sys.exit(0 if s.recv(512).startswith(b'220') else 1)
PYEOF
}
# lsetup [extra [listen] lines...]: everything, the daemon and its listener running.
lsetup() {
	setup
	test_ca
	clients > "$W/clients"
	set -- "$@"
	while IFS= read -r line; do set -- "$@" "$line"; done < "$W/clients"
	listen_config "$@"
	start_listener
	LPORT=$SUBPORT
}
# raw [options] < SCRIPT: t/smtp-raw.py on the listener, trusting the test CA.
raw() { "$PY" "$T/smtp-raw.py" --port "$LPORT" --cafile "$CA/ca.pem" "$@"; }
# tls_hello: the steps up to EHLO after STARTTLS.
tls_hello() { printf 'expect 220\nehlo client.test\nstarttls\nehlo client.test\n'; }
# login CLIENT PASSWORD: the steps up to an authenticated session.
login() { tls_hello; printf 'auth-plain %s %s\nexpect 235\n' "$1" "$2"; }
# to_data FROM TO: the steps of a transaction up to its 354.
to_data() { printf 'line MAIL FROM:<%s>\nexpect 250\nline RCPT TO:<%s>\nexpect 250\nline DATA\nexpect 354\n' "$1" "$2"; }
# queued: every file in any queue of $W/q (tmp/, new/, cur/ of each Maildir,
# and the Kuvert queue's files at the top, dot-files included).
queued() {
	find "$W/q" -type f \( -path "$W/q/*/tmp/*" -o -path "$W/q/*/new/*" -o -path "$W/q/*/cur/*" \
		-o \( -path "$W/q/*" ! -path "$W/q/*/*" \) \) 2>/dev/null | grep -vE '/q/[^/]*(lock|pid)$'
}
nothing_queued() { [ -z "$(queued)" ]; }
# mailfile SUBJECT MARKER [From]: a small mail in $W/mail.eml.
mailfile() {
	printf 'From: %s\nTo: Bob <bob@example.net>\nSubject: %s\nMessage-ID: <%s@client.test>\n\n%s\n' \
		"${3:-alice@example.org}" "$1" "$(echo "$1" | tr ' ' .)" "$2" > "$W/mail.eml"
}
