#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# mspass-from-query-secret, as Kuvert has it: the SMTP password comes from
# query-secret run with "smtp-password"; a password the server refuses is
# forgotten (flush-secret smtp-password) and the mail deferred, and the
# next attempt asks again. The password never appears in a log.
. "$T/lib.sh"
setup --auth "alice:Sm7p-pass" --auth-plaintext-ok
cat > "$W/ask" <<SH
#!/bin/sh
echo "ask \$*" >> "$W/calls"
cat "$W/password"
SH
cat > "$W/forget" <<SH
#!/bin/sh
echo "forget \$*" >> "$W/calls"
SH
chmod +x "$W/ask" "$W/forget"
write_config "msuser = alice" "mspass-from-query-secret = t" \
	"query-secret = $W/ask %s" "flush-secret = $W/forget %s"

printf 'From: alice@example.org\nTo: bob@example.net\nSubject: pw\n\nPW\n' | submit fallback
# No password file yet: query-secret fails, and nothing is even tried.
oneshot -d
check "query-secret fails: deferred (75)" [ "$STATUS" = 75 ]
check "the reason says query-secret gave no password" grep -q "query-secret gave no smtp-password" "$W/log"
check "no AUTH was attempted" sh -c "! grep -q AUTH '$SINK/log'"

echo 'not-the-pass' > "$W/password"
oneshot -d
check "a refused password: deferred (75)" [ "$STATUS" = 75 ]
check "query-secret was asked for smtp-password" grep -qx "ask smtp-password" "$W/calls"
check "flush-secret forgot it" grep -qx "forget smtp-password" "$W/calls"
check "the log says the server refused it" grep -q "refused the smtp-password" "$W/log"
check "nothing was sent" [ "$(sink_count)" = 0 ]

echo 'Sm7p-pass' > "$W/password"
: > "$W/calls"
oneshot -d
check "the right password: delivered (0)" [ "$STATUS" = 0 ]
check "asked again" grep -qx "ask smtp-password" "$W/calls"
check "the sink saw AUTH as alice" [ "$(envelope "$(sink_files)" auth)" = alice ]
b64=$(printf '\0alice\0Sm7p-pass' | base64)
check "no password in the log or on stderr, debug included" \
	sh -c "! grep -rqF -e 'Sm7p-pass' -e 'not-the-pass' -e '$b64' '$W/log' '$W/stderr'"

# Without query-secret the option cannot work: a configuration error.
write_config "msuser = alice" "mspass-from-query-secret = t"
"$KOVERTO" -c "$CONF" -n >/dev/null 2>"$W/err"; STATUS=$?
check "mspass-from-query-secret without query-secret: exit 78" [ "$STATUS" = 78 ]
check "and it says why" grep -q "mspass-from-query-secret.*needs query-secret" "$W/err"
done_testing
