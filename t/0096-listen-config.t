#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The listener's configuration through koverto -n (issue 12): Kuvert's
# maport/mahost/ma-user/ma-pass in a ~/.kuvert file, [listen] and
# [client] in INI; every refusal exits 78 naming file, line and what is
# wrong, and no password or hash shows.
. "$T/lib.sh"
work_dir kovl
HASH=$(printf 'app-pw\n' | "$KOVERTO" hash-password) || bail "no hash"
printf 'not parsed at load\n' > "$W/cert.pem"
printf 'not parsed at load\n' > "$W/key.pem"
chmod 600 "$W/key.pem"

# n FILE: koverto -n's status; its stderr in $W/err.
n() { "$KOVERTO" -c "$1" -n >/dev/null 2>"$W/err"; echo $?; }
kuvert_file() { # LINES...
	{ echo "msserver 127.0.0.1"; echo "queuedir $W/q"; echo "tempdir $W/tmp"
	  echo "defaultaction fallback"; for l in "$@"; do echo "$l"; done; } > "$W/dot-kuvert"
	chmod 600 "$W/dot-kuvert"
}
ini_file() { # LINES...
	{ echo "[koverto]"; echo "msserver = 127.0.0.1"; echo "queuedir = $W/q"
	  echo "tempdir = $W/tmp"; echo "defaultaction = fallback"
	  for l in "$@"; do echo "$l"; done; } > "$W/k.conf"
	chmod 600 "$W/k.conf"
}

kuvert_file "maport 2600" "ma-user app" "ma-pass Kuv3rt-secret"
check "Kuvert's listener options: valid" [ "$(n "$W/dot-kuvert")" = 0 ]
check "... and nothing to warn about" [ ! -s "$W/err" ]
kuvert_file "maport 2600" "mahost ::1" "ma-user app" "ma-pass Kuv3rt-secret"
check "mahost ::1: valid" [ "$(n "$W/dot-kuvert")" = 0 ]
kuvert_file "maport 2600" "mahost 192.0.2.1" "ma-user app" "ma-pass Kuv3rt-secret"
check "mahost off loopback: 78" [ "$(n "$W/dot-kuvert")" = 78 ]
check "... naming the line and why" \
	grep -q "dot-kuvert:6: key \"mahost\": \"192.0.2.1\" is not a loopback IP address" "$W/err"
check "... without the password" sh -c "! grep -q Kuv3rt '$W/err'"
chmod 640 "$W/dot-kuvert"
check "ma-pass in a group-readable file: 78" [ "$(n "$W/dot-kuvert")" = 78 ]

client="[client app]|password = $HASH|queue = fallback|senders = app@example\\.org"
with_client() { # LINES...: ini_file with the client after them
	old_ifs=$IFS; IFS="|"; set -f; set -- "$@" $client; set +f; IFS=$old_ifs
	ini_file "$@"
}
with_client "[listen]" "submission = 127.0.0.1:2525"
check "[listen] on loopback with a client: valid" [ "$(n "$W/k.conf")" = 0 ]
check "... and nothing to warn about" [ ! -s "$W/err" ]
with_client "[listen]" "submission = 0.0.0.0:587"
check "off loopback without TLS: 78" [ "$(n "$W/k.conf")" = 78 ]
check "... says TLS is needed" grep -q 'k.conf:7: key "submission" in \[listen\]: 0.0.0.0:587 is not a loopback address' "$W/err"
with_client "[listen]" "submissions = 127.0.0.1:4465"
check "submissions without TLS: 78" [ "$(n "$W/k.conf")" = 78 ]
with_client "[listen]" "submission = 0.0.0.0:587" "submissions = [::1]:4465" \
	"tls-cert = $W/cert.pem" "tls-key = $W/key.pem"
check "off loopback with TLS: valid" [ "$(n "$W/k.conf")" = 0 ]
chmod 644 "$W/key.pem"
check "a tls-key others may read: 78" [ "$(n "$W/k.conf")" = 78 ]
check "... says chmod 600" grep -q 'may be read by its group and others (mode 0644); chmod 600 it' "$W/err"
chmod 600 "$W/key.pem"
ini_file "[listen]" "submission = 127.0.0.1:2525"
check "a listener without clients: 78" [ "$(n "$W/k.conf")" = 78 ]
check "... says nobody could log in" grep -q 'no \[client NAME\] section, so nobody could log in' "$W/err"
with_client "[listen]" "submission = 127.0.0.1:2525"
chmod 640 "$W/k.conf"
check "a client's hash in a group-readable file: 78" [ "$(n "$W/k.conf")" = 78 ]
check "... and the hash is not shown" sh -c "! grep -qF '$HASH' '$W/err'"
with_client "[listen]" "submission = 127.0.0.1:2525"
sed -i 's/^queue = fallback/queue = nowhere/' "$W/k.conf"
check "a client's unknown queue: 78" [ "$(n "$W/k.conf")" = 78 ]
check "... named with its line" grep -q 'k.conf:10: key "queue" in \[client app\]: no such queue: "nowhere"' "$W/err"
with_client
check "a client but no [listen] address: valid" [ "$(n "$W/k.conf")" = 0 ]
check "... with a warning" grep -q 'warning: .*\[client\] sections but no submission or submissions address' "$W/err"
done_testing
