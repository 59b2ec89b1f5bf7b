# SPDX-License-Identifier: GPL-3.0-or-later
# Shared helpers for koverto's end-to-end TAP tests (t/NNNN-topic.t).
# Each test: `. "$T/lib.sh"; setup; ...; done_testing`. setup makes a short
# work dir under /tmp with koverto's keyring (t/keys/setup-home), a reader
# keyring holding every test secret key (to decrypt and verify what the sink
# got), an SMTP sink on a free loopback port and a configuration. cleanup
# stops only the processes this test started, by PID, and the gpg agents.
set -u
: "${KOVERTO:?set KOVERTO to the koverto binary}"
: "${T:?set T to the t/ directory}"
PY=/usr/bin/python3
GPG=${GPG:-gpg}
tap_n=0
tap_failed=0
SINK_PID=
DAEMON_PID=

ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $*"; }
not_ok() { tap_n=$((tap_n + 1)); tap_failed=1; echo "not ok $tap_n - $*"; }
# check DESCRIPTION COMMAND...: one TAP line from a command's success.
check() {
	desc=$1; shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
diag() { echo "# $*"; }
done_testing() { echo "1..$tap_n"; exit "$tap_failed"; }
bail() { echo "Bail out! $*"; exit 1; }

fpr() { awk -v n="$1" '$1 == n { print $2 }' "$T/keys/fingerprints"; }

# stop_daemon_at_exit: how cleanup stops the daemon; a script that runs it
# otherwise (scripts/crashtest, scripts/loadtest: in a session of its own)
# defines its own after sourcing this file.
stop_daemon_at_exit() {
	[ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
}
sink_stop() {
	[ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
	SINK_PID=
}
cleanup() {
	stop_daemon_at_exit
	sink_stop
	for h in "$W/g" "$W/r"; do
		[ -d "$h" ] && gpgconf --homedir "$h" --kill all 2>/dev/null
	done
	if [ "$tap_failed" = 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$W"; else diag "kept $W"; fi
}

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds; no bare sleeps.
# At most SECONDS (times KOV_WAIT_SCALE, which scripts/memcheck sets: everything is slower
# under valgrind, and a wait for an event costs nothing when all is well).
wait_for() {
	limit=$(( $1 * 10 * ${KOV_WAIT_SCALE:-1} )); shift
	i=0
	while ! "$@" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -ge "$limit" ] && return 1
		sleep 0.1
	done
	return 0
}

# start_sink [sink.py options]: SINK (its directory) and PORT.
start_sink() { start_sink_in "$W/sink" "$@"; }
# start_sink_in DIR [sink.py options]: the sink writing into DIR; SINK=DIR.
start_sink_in() {
	SINK=$1; shift
	mkdir -p "$SINK"
	rm -f "$W/sink.port"
	# $W/replies: injectable replies (t/sink.py --replies); absent means none.
	"$PY" "$T/sink.py" --dir "$SINK" --port-file "$W/sink.port" --replies "$W/replies" "$@" 2>>"$W/sink.err" &
	SINK_PID=$!
	wait_for 20 test -s "$W/sink.port" || bail "SMTP sink did not start: $(cat "$W/sink.err")"
	PORT=$(cat "$W/sink.port")
}

# write_config [extra [koverto] lines...]: $CONF for the sink, alice as defaultkey.
write_config() { config_file "$W/koverto.conf" "$W/q" "$W/log" "$@"; }
# config_file FILE QUEUEDIR LOGFILE [extra lines...]: write_config with
# other names (one work dir, several queues); CONF=FILE.
config_file() {
	CONF=$1
	{
		echo "[koverto]"
		echo "queuedir = $2"
		echo "tempdir = $W/tmp"
		echo "gnupghome = $W/g"
		echo "defaultkey = $(fpr alice)"
		echo "msserver = 127.0.0.1"
		echo "msport = ${PORT:-25}"
		echo "logfile = $3"
		shift 3
		for line in "$@"; do echo "$line"; done
	} > "$CONF"
	chmod 600 "$CONF"
}

# work_dir [PREFIX]: W, a new directory /tmp/PREFIX.XXXXXX; cleanup at exit.
work_dir() {
	W=$(mktemp -d "/tmp/${1:-kovt}.XXXXXX")
	trap cleanup EXIT
	trap 'exit 1' INT TERM
}
# keyring: koverto's GnuPG home, $W/g.
keyring() { sh "$T/keys/setup-home" "$W/g" || bail "cannot make the keyring"; }

setup() {
	work_dir kovt
	keyring
	sh "$T/keys/setup-reader" "$W/r" || bail "cannot make the reader keyring"
	start_sink "$@"
	write_config
}

# submit QUEUE [submit args...] < mail
submit() {
	q=$1; shift
	"$KOVERTO" submit -C "$CONF" --queue "$q" "$@"
}

# oneshot [koverto args]: run koverto -o; its status in $STATUS.
oneshot() {
	STATUS=0
	"$KOVERTO" -c "$CONF" -o "$@" 2>>"$W/stderr" || STATUS=$?
}

start_daemon() {
	readies=$(grep -c "ready:" "$W/log" 2>/dev/null)
	"$KOVERTO" -c "$CONF" "$@" 2>>"$W/stderr" &
	DAEMON_PID=$!
	wait_for 20 sh -c "[ \$(grep -c 'ready:' '$W/log') -gt ${readies:-0} ]" ||
		bail "daemon did not start: $(cat "$W/stderr")"
}

stop_daemon() {
	kill "$DAEMON_PID" && wait "$DAEMON_PID"
	STATUS=$?
	DAEMON_PID=
}

sink_count() { ls "$SINK" | grep -c '\.json$'; }
# sink_files: the .eml files in order of arrival.
sink_files() { ls "$SINK"/*.eml 2>/dev/null | sort; }
# sink_for ADDRESS: the .eml files whose envelope has ADDRESS as a recipient.
sink_for() {
	for j in "$SINK"/*.json; do
		[ -e "$j" ] || continue
		if "$PY" -c 'import json,sys; sys.exit(0 if sys.argv[2] in json.load(open(sys.argv[1]))["rcpt_tos"] else 1)' "$j" "$1"; then
			echo "${j%.json}.eml"
		fi
	done
}
# envelope FILE.eml FIELD: mail_from, or rcpt_tos as a sorted comma list.
envelope() {
	"$PY" -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(",".join(sorted(v)) if isinstance(v, list) else v)' "${1%.eml}.json" "$2"
}
# content_type FILE: the top-level media type, lower case.
content_type() {
	"$PY" -c 'import email,sys; print(email.message_from_binary_file(open(sys.argv[1],"rb")).get_content_type())' "$1"
}
# decrypt FILE.eml: the decrypted inner MIME entity on stdout (reader keyring).
decrypt() {
	"$PY" - "$1" <<'PYEOF' | "$GPG" --homedir "$W/r" --batch --quiet --status-fd 3 --decrypt 3>"$W/decrypt.status" 2>"$W/decrypt.err"
import email, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
assert m.get_content_type() == "multipart/encrypted", m.get_content_type()
parts = m.get_payload()
sys.stdout.write(parts[1].get_payload())
PYEOF
}
# verify_signed FILE.eml: check the multipart/signed signature over the exact bytes sent.
verify_signed() {
	"$PY" "$T/verify-signed.py" "$1" "$W/part" "$W/sig" || return 1
	"$GPG" --homedir "$W/r" --batch --quiet --status-fd 3 --verify "$W/sig" "$W/part" 3>"$W/verify.status" 2>"$W/verify.err"
}
# no_plaintext TEXT: TEXT appears in nothing the sink received.
no_plaintext() { ! grep -rqF -- "$1" "$SINK"; }
# enc_subkey ADDRESS: the long key ID of ADDRESS's encryption subkey(s).
enc_subkey() {
	"$GPG" --homedir "$W/r" --batch --with-colons --list-keys "<$1>" 2>/dev/null |
		awk -F: '$1 == "sub" && $12 ~ /e/ { print $5 }'
}
# enc_to: the key IDs the last decrypted message was encrypted to, sorted.
enc_to() { awk '$2 == "ENC_TO" { print $3 }' "$W/decrypt.status" | sort; }
# wait_sink N: wait until the sink holds at least N messages.
wait_sink() { wait_for 20 sh -c "[ \$(ls '$SINK' | grep -c '\.json\$') -ge $1 ]"; }
# latest: the most recent message at the sink.
latest() { sink_files | tail -1; }

# ---- processes: for the scripts that kill koverto (scripts/crashtest,
# scripts/loadtest) and the tests that run them ----
now() { date +%s.%N; }
# pgid_of PID: its process group (field 5 of stat; the name may hold blanks).
pgid_of() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f3; }
# descendants PID: "PID PGID" of every live process below PID.
descendants() {
	ps -e -o pid=,ppid=,pgid=,stat= | awk -v root="$1" '
		$4 !~ /^Z/ { parent[$1] = $2; group[$1] = $3 }
		END {
			for (p in parent) {
				q = p
				while (q in parent && parent[q] != root && parent[q] > 1) q = parent[q]
				if (q in parent && parent[q] == root) print p, group[p]
			}
		}'
}
# relay_tap FILE [PREFIX]: the TAP lines of a script's output in FILE as
# ours (PREFIX: before each description), its "#" lines as they are; a
# bail-out becomes a failure.
relay_tap() {
	while IFS= read -r line; do
		case $line in
		"ok "*) ok "${2:-}$(echo "$line" | sed 's/^ok [0-9]* - //')" ;;
		"not ok "*) not_ok "${2:-}$(echo "$line" | sed 's/^not ok [0-9]* - //')" ;;
		"Bail out!"*) not_ok "${2:-}${line#Bail out! }" ;;
		"#"*) echo "$line" ;;
		esac
	done < "$1"
}

# ---- the SMTP listener (issue 12): a test CA, ports, a configuration, start ----
# test_ca: the test certificate authority of t/mkca in CA=$W/ca: ca.pem,
# server.pem/.key (127.0.0.1), client1/client2.pem/.key/.sha256, stranger.*
test_ca() { CA=$W/ca; sh "$T/mkca" "$CA" || bail "cannot make the test CA"; }
# free_port: a loopback TCP port nobody listens on right now (another
# process may take it before we do: start_listener retries), and not one
# this test was given before: two calls before anything binds could get
# the same port from the kernel (t/0111 once got "the same address and
# port" for its two listener ports).
free_port() {
	while :; do
		fp=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
			return 1
		[ -n "${W:-}" ] || { echo "$fp"; return 0; }
		if ! grep -qx "$fp" "$W/.ports-given" 2>/dev/null; then
			echo "$fp" >> "$W/.ports-given"
			echo "$fp"
			return 0
		fi
	done
}
# hash_pw PASSWORD: a crypt(3) hash for a [client]'s password.
hash_pw() { openssl passwd -6 "$1"; }
# listen_config [lines...]: CONF as write_config makes it, plus a [listen]
# section: STARTTLS on 127.0.0.1:SUBPORT, implicit TLS on 127.0.0.1:SUBSPORT,
# the test CA's server certificate (test_ca first), hostname koverto.test;
# then LINES: more [listen] options first, then [client NAME] sections.
# KOVERTO_LINES (newline-separated) go into [koverto].
listen_config() {
	[ -n "${CA:-}" ] || test_ca
	: > "$W/listen.lines"
	for line in "$@"; do printf '%s\n' "$line" >> "$W/listen.lines"; done
	SUBPORT=$(free_port)
	SUBSPORT=$(free_port)
	listen_config_write
}
listen_config_write() {
	write_config
	{
		[ -n "${KOVERTO_LINES:-}" ] && printf '%s\n' "$KOVERTO_LINES"
		echo "[listen]"
		echo "submission = 127.0.0.1:$SUBPORT"
		echo "submissions = 127.0.0.1:$SUBSPORT"
		echo "tls-cert = $CA/server.pem"
		echo "tls-key = $CA/server.key"
		echo "hostname = koverto.test"
		cat "$W/listen.lines"
	} >> "$CONF"
}
# listener_ready_count / listener_clash_count: log lines so far.
listener_ready_count() { grep -c 'listener: ready on' "$W/log" 2>/dev/null; }
listener_clash_count() { grep -c 'listener: cannot listen' "$W/log" 2>/dev/null; }
# start_listener [koverto args]: start the daemon with CONF (listen_config)
# and wait until its listener is ready. A port taken meanwhile by someone
# else: new ports (SUBPORT, SUBSPORT), up to 5 tries.
start_listener() {
	tries=0
	while :; do
		ready=$(listener_ready_count) clash=$(listener_clash_count)
		start_daemon "$@"
		wait_for 20 sh -c "[ \$(grep -c 'listener: ready on' '$W/log') -gt ${ready:-0} ] ||
			[ \$(grep -c 'listener: cannot listen' '$W/log') -gt ${clash:-0} ]" ||
			bail "listener did not start: $(tail -5 "$W/log")"
		[ "$(listener_ready_count)" -gt "${ready:-0}" ] && return 0
		tries=$((tries + 1))
		[ "$tries" -ge 5 ] && bail "listener: no free port after 5 tries"
		stop_daemon
		SUBPORT=$(free_port)
		SUBSPORT=$(free_port)
		listen_config_write
	done
}
# listener_pid: the pid of the daemon's listener process (a child of
# DAEMON_PID called koverto-listen).
listener_pid() {
	ps -e -o pid=,ppid=,comm= | awk -v d="$DAEMON_PID" '$2 == d && $3 == "koverto-listen" { print $1 }'
}
# swaks_tls USER PASSWORD FROM TO [swaks args...]: one mail by STARTTLS + AUTH PLAIN.
swaks_tls() {
	u=$1 p=$2 f=$3 t=$4; shift 4
	swaks --server "127.0.0.1:$SUBPORT" -tls --tls-ca-path "$CA/ca.pem" --tls-verify \
		--auth PLAIN --auth-user "$u" --auth-password "$p" --from "$f" --to "$t" "$@"
}

# skip_unless_ok WHY: a test that cannot run here (WHY) is skipped, except
# under CI=true, where it must run: there it fails.
skip_unless_ok() {
	[ -z "$1" ] && return 0
	if [ "${CI:-}" = true ]; then
		echo "not ok 1 - $1: under CI=true this test must run"
		echo "1..1"
		exit 1
	fi
	echo "1..0 # SKIP $1 (under CI=true this fails)"
	exit 0
}

# need_strace: the test looks at syscalls: strace (scripts/deps) or SKIP
# (FAIL under CI=true).
need_strace() {
	command -v strace >/dev/null 2>&1 || skip_unless_ok "strace is not installed (scripts/deps installs it)"
}
