#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 13, the same class as koverto submit --mta in the other direction:
# koverto running a sendmail program (msp) must read its exit status as an
# MTA does. 71 (EX_OSERR: cannot fork, no memory) is temporary for Postfix's
# pipe(8) and for sysexits(3), as 75 is: the recipient stays pending and
# the mail is retried, never failed and reported. Other statuses keep their
# meaning (t/0005-msp.t).
. "$T/lib.sh"
setup
cat > "$W/fake-sendmail" <<SH
#!/bin/sh
cat > "$W/msp.mail"
echo "sendmail: fatal: cannot fork" >&2
exit \$(cat "$W/msp-status")
SH
chmod +x "$W/fake-sendmail"
sed -i '/^msserver/d; /^msport/d' "$CONF"
echo "msp = $W/fake-sendmail -oi" >> "$CONF"

echo 71 > "$W/msp-status"
printf 'From: alice@example.org\nTo: dave@example.com\nSubject: oserr\n\nOSERR body\n' | submit sign-only
oneshot
check "msp exit 71: the run says try again later (75)" [ "$STATUS" = 75 ]
check "msp exit 71: nothing failed" [ -z "$(ls "$W/q/failed" 2>/dev/null | grep '\.reason$')" ]
check "msp exit 71: the mail waits in its queue" [ "$(ls "$W/q/sign-only/cur" | wc -l)" = 1 ]
check "msp exit 71: the log says deferred, with the program's message" \
	grep -q "deferred for dave@example.com: msp exited with status 71: sendmail: fatal: cannot fork" "$W/log"
echo 0 > "$W/msp-status"
oneshot
check "once the program works: delivered (0)" [ "$STATUS" = 0 ]
check "the log says sent" grep -q "result=sent" "$W/log"
done_testing
