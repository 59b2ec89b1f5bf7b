#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# STARTTLS with a verified certificate and AUTH; STARTTLS required fails
# closed; the password never appears in the log, debug included.
. "$T/lib.sh"
W0=$(mktemp -d /tmp/kovc.XXXXXX)
sh "$T/mkcert" "$W0" >/dev/null 2>&1 || bail "mkcert failed"
setup --tls-cert "$W0/cert.pem" --tls-key "$W0/key.pem" --starttls --require-starttls --auth "alice:S3cr3t-pass"
cp "$W0/cert.pem" "$W/ca.pem"; rm -rf "$W0"
write_config "ssl = starttls" "ssl-ca = $W/ca.pem" "msuser = alice" "mspass = S3cr3t-pass"

printf 'From: alice@example.org\nTo: bob@example.net\nSubject: tls\n\nTLS\n' | submit fallback
oneshot -d
check "STARTTLS + AUTH: delivered" [ "$STATUS" = 0 ]
f=$(sink_files)
check "the sink saw TLS" [ "$(envelope "$f" tls)" = True ]
check "the sink saw AUTH as alice" [ "$(envelope "$f" auth)" = alice ]
b64=$(printf '\0alice\0S3cr3t-pass' | base64)
b64p=$(printf 'S3cr3t-pass' | base64)
check "password not in the log or stderr" sh -c "! grep -rqF 'S3cr3t-pass' '$W/log' '$W/stderr'"
check "base64 credentials not in the log or stderr" sh -c "! grep -rqF -e '$b64' -e '$b64p' '$W/log' '$W/stderr'"
check "debug output was on" grep -q "debug" "$W/stderr"

# Untrusted certificate: no ssl-ca.
write_config "ssl = starttls" "msuser = alice" "mspass = S3cr3t-pass"
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: untrusted\n\nUNTRUSTED\n' | submit fallback
oneshot
check "untrusted certificate: deferred, not sent" [ "$STATUS" = 75 ]
check "untrusted certificate: nothing new at the sink" [ "$(sink_count)" = 1 ]
rm -rf "$W/q"

# A server without STARTTLS: fails closed.
kill "$SINK_PID"; wait "$SINK_PID" 2>/dev/null
rm -f "$SINK"/0*
start_sink
write_config "ssl = starttls" "ssl-ca = $W/ca.pem"
printf 'From: alice@example.org\nTo: dave@example.com\nSubject: plain\n\nNO-TLS-BODY\n' | submit fallback
oneshot
check "no STARTTLS offered: deferred" [ "$STATUS" = 75 ]
check "no STARTTLS offered: nothing sent in plaintext" [ "$(sink_count)" = 0 ]
done_testing
