#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# A sender the client may not use: 550 5.7.1 for MAIL FROM (the null sender
# included) and for a From header (also one of two From addresses, also in
# another case), nothing queued; the allowed sender goes through.
. "$T/lib.sh"
. "$T/ltest.sh"
lsetup

# send_as MAILFROM FROMHEADER: one transaction as mon; its final reply is
# printed. The MAIL FROM reply must be $want_mail.
send_as() {
	printf 'From: %s\nTo: dave@example.com\nSubject: sender test\nMessage-ID: <s.%s@c.test>\n\nSENDER-MARKER-%s\n' \
		"$2" "$$" "$3" > "$W/m.eml"
	{
		login mon "$MON_PW"
		echo "line MAIL FROM:<$1>"
		echo "expect 250"
		echo "line RCPT TO:<dave@example.com>"
		echo "expect 250"
		echo "line DATA"
		echo "expect 354"
		echo "data $W/m.eml"
		echo "expect-any"
		echo "print data"
		echo "line QUIT"
		echo "expect 221"
	} | raw 2>>"$W/raw.err" | cut -f3 | sed 's/\\r\\n$//'
}
starts() { case $1 in "$2"*) return 0 ;; esac; return 1; }
mail_refused() {
	{
		login mon "$MON_PW"
		echo "line MAIL FROM:<$1>"
		echo "expect 550 5.7.1"
		echo "line RCPT TO:<bob@example.net>"
		echo "expect 503"
	} | raw 2>>"$W/raw.err"
}
check "MAIL FROM another address: 550 5.7.1 (then RCPT is out of order)" mail_refused eve@example.org
check "MAIL FROM the allowed address with a suffix: 550 5.7.1 (the regex spans the whole address)" \
	mail_refused alice@example.org.evil.test
check "MAIL FROM a prefix of it: 550 5.7.1" mail_refused xalice@example.org
check "MAIL FROM:<> (the null sender): 550 5.7.1" mail_refused ""
r=$(send_as alice@example.org "Eve <eve@example.org>" 1)
check "From a header address the client may not use: 550 5.7.1 ($r)" starts "$r" '550 5.7.1' 
r=$(send_as alice@example.org "alice@example.org, eve@example.org" 2)
check "two From addresses, one not allowed: 550 5.7.1 ($r)" starts "$r" '550 5.7.1'
r=$(send_as alice@example.org "=?utf-8?q?Alice?= <eve@example.org>" 3)
check "an encoded display name does not hide the address: 550 5.7.1 ($r)" starts "$r" '550 5.7.1'
check "nothing was queued" nothing_queued
r=$(send_as ALICE@Example.ORG "Alice <Alice@EXAMPLE.org>" 4)
check "the allowed address, in any case: 250 ($r)" starts "$r" '250 '
check "delivered" wait_sink 1
check "only the allowed mail reached the sink" sh -c "[ \$(grep -l SENDER-MARKER '$SINK'/*.eml | wc -l) = 1 ] && ! grep -q 'SENDER-MARKER-[123]' '$SINK'/*.eml"
check "the refusals are logged" grep -qi "sender" "$W/log"
done_testing
