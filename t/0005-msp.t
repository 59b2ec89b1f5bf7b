#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Without msserver, copies go to the msp program: run without a shell,
# "-f SENDER -- RECIPIENTS" as separate arguments, the mail on stdin with LF.
. "$T/lib.sh"
setup
cat > "$W/fake-sendmail" <<SH
#!/bin/sh
n=\$(ls "$W/msp" | grep -c args)
n=\$((n + 1))
for a in "\$@"; do printf '%s\n' "\$a"; done > "$W/msp/\$n.args"
cat > "$W/msp/\$n.mail"
exit \$(cat "$W/msp-status" 2>/dev/null || echo 0)
SH
chmod +x "$W/fake-sendmail"
mkdir "$W/msp"
sed -i '/^msserver/d; /^msport/d' "$CONF"
echo "msp = $W/fake-sendmail -oi -oem" >> "$CONF"

printf 'From: alice@example.org\nTo: bob@example.net, dave@example.com\nSubject: msp\n\nMSP body\n' | submit fallback
oneshot
check "msp: exit 0" [ "$STATUS" = 0 ]
check "msp: two runs (signed + encrypted)" [ "$(ls "$W/msp" | grep -c args)" = 2 ]
a=$(grep -l "^bob@example.net$" "$W"/msp/*.args)
check "msp: argv is msp args, -f sender, --, recipient" [ "$(tr '\n' ' ' < "$a")" = "-oi -oem -f alice@example.org -- bob@example.net " ]
m=${a%.args}.mail
check "msp: LF line ends, no CR" sh -c "! grep -q \"\$(printf '\r')\" '$m'"
check "msp: bob's copy is encrypted" grep -q "multipart/encrypted" "$m"
check "msp: no plaintext to the encrypted copy" sh -c "! grep -q 'MSP body' '$m'"

echo 75 > "$W/msp-status"
printf 'From: alice@example.org\nTo: dave@example.com\nSubject: msp2\n\nMSP2\n' | submit sign-only
oneshot
check "msp exit 75: deferred" [ "$STATUS" = 75 ]
echo 1 > "$W/msp-status"
oneshot
check "msp exit 1: failed" [ "$STATUS" = 1 ]
check "msp exit 1: reason names the status" grep -q "status 1" "$W"/q/failed/*.reason
done_testing
