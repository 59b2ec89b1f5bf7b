#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# must-encrypt never leaks: a failure is injected at each step (key gone
# between submit and send, gpg failing, gpg-agent gone, SMTP 4xx/5xx after
# the first recipient, the daemon killed mid-delivery) and nothing any
# server received may hold the plaintext of the body or of an attachment,
# in any transfer encoding.
. "$T/lib.sh"
setup
mail() { # MARKER RECIPIENTS
	"$PY" - "$1" "$2" <<'PYEOF'
import sys
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "alice@example.org"; m["To"] = sys.argv[2]; m["Subject"] = "matrix"
m.set_content("BODY-" + sys.argv[1] + " the secret body\n")
m.add_attachment(("ATTACH-" + sys.argv[1] + " secret attachment\n").encode() * 20,
                 maintype="application", subtype="octet-stream", filename="secret.bin")
sys.stdout.write(m.as_string())
PYEOF
}
markers=
inject() { markers="$markers BODY-$1 ATTACH-$1"; mail "$1" "$2" | submit must-encrypt; }
leak_free() { "$PY" "$T/no-plaintext.py" "$SINK" $markers; }

# 1. The key disappears between submit and send.
inject keygone carol@example.net
"$GPG" --homedir "$W/g" --batch --yes --delete-keys "$(fpr carol)" 2>/dev/null
oneshot
check "key removed after submit: refused (1)" [ "$STATUS" = 1 ]

# 2. gpg fails when it encrypts.
cat > "$W/gpg-fail" <<'SH'
#!/bin/sh
case " $* " in *" --encrypt "*|*" -e "*) exit 2 ;; esac
exec gpg "$@"
SH
chmod +x "$W/gpg-fail"
write_config "gpg = $W/gpg-fail"
inject gpgfail bob@example.net
oneshot
check "gpg failing: not delivered (status $STATUS)" [ "$STATUS" != 0 ]
rm -rf "$W/q/must-encrypt/cur"/* "$W"/q/state/* "$W"/q/failed/*

# 3. gpg-agent gone and cannot be started.
write_config
gpgconf --homedir "$W/g" --kill gpg-agent
echo "agent-program /nonexistent/gpg-agent" >> "$W/g/gpg.conf"
inject agentgone bob@example.net
oneshot
check "gpg-agent gone: deferred (75), not sent" [ "$STATUS" = 75 ]
sed -i '/agent-program/d' "$W/g/gpg.conf"
rm -rf "$W/q/must-encrypt/cur"/* "$W"/q/state/*

# 4. SMTP 4xx and 5xx after the first recipient.
printf 'RCPT judy@example.net 451 4.7.1 later\nRCPT jimbob@example.net 550 5.1.1 no\n' > "$W/replies"
inject smtp "bob@example.net, judy@example.net, jimbob@example.net"
oneshot
check "4xx/5xx after the first recipient: bob got ciphertext" [ "$(content_type "$(sink_for bob@example.net)")" = multipart/encrypted ]
: > "$W/replies"
rm -rf "$W/q/must-encrypt/cur"/* "$W"/q/state/*

# 5. The daemon is killed in the middle of a delivery, then restarted.
kill "$SINK_PID"; wait "$SINK_PID" 2>/dev/null
start_sink --delay 2
write_config
setsid "$KOVERTO" -c "$CONF" 2>>"$W/stderr" &
DAEMON_PID=$!
wait_for 20 grep -q "ready:" "$W/log"
inject crash bob@example.net
wait_for 20 grep -q "MAIL FROM" "$SINK/log"
kill -9 "-$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=
oneshot
check "killed mid-delivery: delivered after the restart" [ "$STATUS" = 0 ]
check "killed mid-delivery: bob got ciphertext" [ "$(content_type "$(sink_for bob@example.net | tail -1)")" = multipart/encrypted ]

check "no plaintext of any body or attachment reached any server" leak_free
check "the checker finds a leak when there is one" sh -c "! '$PY' '$T/no-plaintext.py' '$T/../t/mail' 'From:' >/dev/null"
done_testing
