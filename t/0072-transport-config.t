#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 10 B3: a transport configuration that cannot work with the server
# is an error that says so (error level, naming the option), the mail is
# kept (deferred, nothing sent, no report to the sender), and
# `koverto -n --connect` finds it without sending mail.
. "$T/lib.sh"
W0=$(mktemp -d /tmp/kovc.XXXXXX)
sh "$T/mkcert" "$W0" >/dev/null 2>&1 || bail "mkcert failed"
setup
cp "$W0/cert.pem" "$W/ca.pem"; cp "$W0/key.pem" "$W/key.pem"; rm -rf "$W0"
# The sink from setup offers neither STARTTLS nor AUTH.
connect() { STATUS=0; "$KOVERTO" -c "$CONF" -n --connect > "$W/out" 2> "$W/err" || STATUS=$?; }
queued() { find "$W/q" -path '*/cur/*' -type f | grep -c .; }

# 1. ssl = starttls against a server without STARTTLS.
write_config "ssl = starttls" "ssl-ca = $W/ca.pem"
printf 'From: alice@example.org\nTo: dave@example.com\nSubject: s\n\nNO-STARTTLS-BODY\n' | submit fallback
oneshot
check "no STARTTLS: -o says deferred (75)" [ "$STATUS" = 75 ]
check "no STARTTLS: nothing sent" [ "$(sink_count)" = 0 ]
check "no STARTTLS: an error-level line naming ssl" grep -q 'error: deliver: configuration error: ssl = starttls, but 127.0.0.1:[0-9]* offers no STARTTLS' "$W/log"
check "no STARTTLS: the mail is kept" [ "$(queued)" = 1 ]
check "no STARTTLS: nothing failed" sh -c "[ -z \"\$(ls '$W/q/failed' 2>/dev/null)\" ]"
check "no STARTTLS: no report mailed to the sender" [ "$(sink_count)" = 0 ]
connect
check "no STARTTLS: -n --connect exits 78 (EX_CONFIG)" [ "$STATUS" = 78 ]
check "no STARTTLS: -n --connect says why" grep -q 'ssl = starttls, but 127.0.0.1:[0-9]* offers no STARTTLS' "$W/err"
rm -rf "$W/q"

# 2. msuser/mspass against a server that offers no AUTH (plain AUTH on loopback is allowed).
write_config "msuser = alice" "mspass = S3cr3t-pass"
printf 'From: alice@example.org\nTo: dave@example.com\nSubject: a\n\nNO-AUTH-BODY\n' | submit fallback
oneshot
check "no AUTH: -o says deferred (75)" [ "$STATUS" = 75 ]
check "no AUTH: nothing sent without logging in" [ "$(sink_count)" = 0 ]
check "no AUTH: no MAIL command reached the server" sh -c "! grep -q ' MAIL ' '$SINK/log'"
check "no AUTH: an error-level line naming msuser" grep -q 'error: deliver: configuration error: msuser is set, but 127.0.0.1:[0-9]* offers no AUTH' "$W/log"
check "no AUTH: the mail is kept" [ "$(queued)" = 1 ]
connect
check "no AUTH: -n --connect exits 78" [ "$STATUS" = 78 ]
check "no AUTH: -n --connect says why" grep -q 'msuser is set, but 127.0.0.1:[0-9]* offers no AUTH' "$W/err"
check "no AUTH: -n --connect said QUIT" sh -c "tail -3 '$SINK/log' | grep -q 'QUIT -> 221'"
check "no AUTH: -n --connect sent no mail" [ "$(sink_count)" = 0 ]
rm -rf "$W/q"

# 3. The same configurations against a server that offers both: -n --connect passes.
kill "$SINK_PID"; wait "$SINK_PID" 2>/dev/null
start_sink --tls-cert "$W/ca.pem" --tls-key "$W/key.pem" --starttls --auth "alice:S3cr3t-pass"
write_config "ssl = starttls" "ssl-ca = $W/ca.pem" "msuser = alice" "mspass = S3cr3t-pass"
connect
check "a working server: -n --connect exits 0" [ "$STATUS" = 0 ]
check "a working server: says what it checked" grep -q 'connected to 127.0.0.1:[0-9]*, STARTTLS with a verified certificate, logged in with msuser; no mail sent' "$W/out"
check "a working server: STARTTLS, AUTH, NOOP and QUIT at the sink" sh -c "grep -q 'STARTTLS -> 220' '$SINK/log' && grep -q 'AUTH PLAIN user=alice -> 235' '$SINK/log' && grep -q 'NOOP -> 250' '$SINK/log' && grep -q 'QUIT -> 221' '$SINK/log'"
check "a working server: no MAIL, no mail" sh -c "! grep -q ' MAIL ' '$SINK/log' && [ \$(ls '$SINK' | grep -c json) = 0 ]"

# 4. A wrong password: the login is refused, a configuration error too.
write_config "ssl = starttls" "ssl-ca = $W/ca.pem" "msuser = alice" "mspass = wrong"
connect
check "wrong password: -n --connect exits 78" [ "$STATUS" = 78 ]
check "wrong password: says msuser/mspass" grep -q 'msuser/mspass: 127.0.0.1:[0-9]* refused the login: 535' "$W/err"
check "wrong password: not in the message" sh -c "! grep -q wrong '$W/err'"

# 5. An untrusted certificate (no ssl-ca): named, exit 78.
write_config "ssl = starttls" "msuser = alice" "mspass = S3cr3t-pass"
connect
check "untrusted certificate: -n --connect exits 78" [ "$STATUS" = 78 ]
check "untrusted certificate: says ssl-ca" grep -q 'ssl-ca: the certificate of 127.0.0.1:[0-9]* cannot be verified' "$W/err"

# 6. A server that refuses with a reply holding escape sequences: temporary
#    (75), and its text reaches the terminal escaped.
kill "$SINK_PID"; wait "$SINK_PID" 2>/dev/null
ESC=$(printf '\033')
start_sink --greeting "554 5.3.2 ${ESC}[2J${ESC}]0;pwned$(printf '\007') no service"
write_config
connect
check "refusing server: -n --connect exits 75" [ "$STATUS" = 75 ]
check "refusing server: its reply is shown" grep -qF '554 5.3.2 \x1b[2J\x1b]0;pwned\x07 no service' "$W/err"
check "refusing server: no ESC or BEL on the terminal" sh -c "! grep -q '[$ESC$(printf '\007')]' '$W/err'"

# 7. Nobody listening: not a configuration error, temporary (75).
kill "$SINK_PID"; wait "$SINK_PID" 2>/dev/null; SINK_PID=
write_config
connect
check "nobody listening: -n --connect exits 75" [ "$STATUS" = 75 ]
check "nobody listening: says it cannot reach the server" grep -q 'cannot reach the server' "$W/err"
check "--connect without -n is a usage error" sh -c "'$KOVERTO' -c '$CONF' --connect 2>/dev/null; [ \$? = 64 ]"
done_testing
