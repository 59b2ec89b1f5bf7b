#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# query-secret and flush-secret, as Kuvert documents them but with GnuPG
# 2.2 actually asking (loopback pinentry): the program gets the key ID for
# %s, its first output line is the passphrase; a program that fails, or a
# passphrase gpg rejects (flush-secret is run then), defers the mail; the
# right passphrase sends it. The passphrase never appears in a log.
. "$T/lib.sh"
setup
"$GPG" --homedir "$W/g" --batch --pinentry-mode loopback --passphrase 'pat secret' \
	--quick-gen-key 'Pat Protected <pat@example.org>' ed25519 sign never 2>/dev/null
pat=$("$GPG" --homedir "$W/g" --with-colons --list-secret-keys pat@example.org | awk -F: '$1=="fpr" {print $10; exit}')
keyid=0x$(printf '%s' "$pat" | tail -c 16)
check "a passphrase-protected key for pat" [ -n "$pat" ]

cat > "$W/ask" <<SH
#!/bin/sh
echo "ask \$*" >> "$W/calls"
[ -e "$W/ask-fails" ] && { echo "ask: no passphrase today" >&2; exit 1; }
cat "$W/passphrase"
SH
cat > "$W/forget" <<SH
#!/bin/sh
echo "forget \$*" >> "$W/calls"
SH
chmod +x "$W/ask" "$W/forget"
write_config "query-secret = $W/ask --key %s" "flush-secret = $W/forget %s"

printf 'From: pat@example.org\nTo: dave@example.com\nSubject: qs\n\nQS\n' | submit sign-only

touch "$W/ask-fails"
oneshot -d
check "query-secret fails: deferred (75)" [ "$STATUS" = 75 ]
check "query-secret got the key ID" grep -qx "ask --key $keyid" "$W/calls"
check "the log says query-secret failed" grep -q "query-secret .*$keyid" "$W/log"
check "nothing was sent" [ "$(sink_count)" = 0 ]
rm -f "$W/ask-fails"

: > "$W/passphrase"
oneshot -d
check "query-secret prints nothing: deferred (75)" [ "$STATUS" = 75 ]
check "the log says it gave nothing" grep -q "query-secret gave nothing for $keyid" "$W/log"

echo 'wrong secret' > "$W/passphrase"
: > "$W/calls"
oneshot -d
check "a wrong passphrase: deferred (75)" [ "$STATUS" = 75 ]
check "flush-secret ran for the key" grep -qx "forget $keyid" "$W/calls"
check "the log says it was rejected" grep -q "rejected the passphrase for $keyid" "$W/log"
check "still nothing sent" [ "$(sink_count)" = 0 ]

echo 'pat secret' > "$W/passphrase"
oneshot -d
check "the right passphrase: delivered (0)" [ "$STATUS" = 0 ]
"$GPG" --homedir "$W/g" --export "$pat" | "$GPG" --homedir "$W/r" --batch --quiet --import 2>/dev/null
verify_signed "$(sink_files)"
check "signed by pat's key" grep -q "VALIDSIG $pat" "$W/verify.status"
check "no passphrase in the log or on stderr, debug included" sh -c "! grep -rq -e 'pat secret' -e 'wrong secret' '$W/log' '$W/stderr'"
done_testing
