#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The listener's limits and the SMTP-smuggling defence: the recipient after
# max-recipients gets 452; a mail over max-size 552 (announced by SIZE= or
# found while reading) with nothing queued; a bare LF or a bare CR in DATA
# (with a smuggled second mail behind "\n.\n") refused, the session closed,
# nothing queued, nothing sent; a text line over 1000 octets and a command
# line over 512 refused. The session goes on after a 552 or a 500.
. "$T/lib.sh"
. "$T/ltest.sh"
lsetup "max-size = 100000"

# 101 recipients, pipelined in one write: 100 accepted, the 101st 452.
{
	login mon "$MON_PW"
	rcpts="MAIL FROM:<alice@example.org>"
	for i in $(seq 1 101); do rcpts="$rcpts\\r\\nRCPT TO:<r$i@example.com>"; done
	printf 'line %s\n' "$rcpts"
	echo "expect 250"
	for i in $(seq 1 100); do echo "expect 250"; done
	echo "expect 452"
	echo "line RSET"
	echo "expect 250"
} > "$W/rcpt.script"
rcpts() { raw < "$W/rcpt.script" 2>>"$W/raw.err"; }
check "101 recipients: 100 accepted, the 101st 452 4.5.3, the session goes on" rcpts

# trans MAILFROM-LINE: the steps of one transaction up to 354, to dave (no key: signed, readable).
trans() {
	login mon "$MON_PW"
	echo "line $1"
	echo "expect 250"
	echo "line RCPT TO:<dave@example.com>"
	echo "expect 250"
	echo "line DATA"
	echo "expect 354"
}
check "SIZE= over max-size: 552 5.3.4 at MAIL" raw 2>>"$W/raw.err" <<RAW
$(login mon "$MON_PW")
line MAIL FROM:<alice@example.org> SIZE=100001
expect 552
line MAIL FROM:<alice@example.org> SIZE=1000
expect 250
RAW
check "200000 octets without SIZE=: 552 5.3.4 at the end, the session goes on" raw 2>>"$W/raw.err" <<RAW
$(trans "MAIL FROM:<alice@example.org>")
send From: alice@example.org\r\nSubject: big\r\n\r\nBIG-MARKER\r\n
body 200000
line .
expect 552
line NOOP
expect 250
RAW
check "too large: nothing queued" nothing_queued

# smuggle ENDING: a mail whose text holds ENDING (a bare line end around a
# dot) and then a second, smuggled transaction. Refused, closed.
smuggle() {
	raw 2>>"$W/raw.err" <<RAW
$(trans "MAIL FROM:<alice@example.org>")
send From: alice@example.org\r\nSubject: smuggle\r\n\r\nSMUGGLE-OUTER$1MAIL FROM:<alice@example.org>\r\nRCPT TO:<dave@example.com>\r\nDATA\r\nFrom: alice@example.org\r\nSubject: inner\r\n\r\nSMUGGLED-INNER\r\n.\r\n
expect 5
eof
RAW
}
check 'bare LF: LF dot LF ends nothing, the mail is refused and the session closed' smuggle '\n.\n'
check 'bare CR: CR dot CR, the same' smuggle '\r.\r'
check 'mixed: CRLF dot LF, the same' smuggle '\r\n.\n'
check 'mixed: LF dot CRLF, the same' smuggle '\n.\r\n'
check "a bare LF inside a line of text: refused" raw 2>>"$W/raw.err" <<RAW
$(trans "MAIL FROM:<alice@example.org>")
send From: alice@example.org\r\nSubject: lf\r\n\r\nBARE-LF-MARKER one\ntwo\r\n.\r\n
expect 5
eof
RAW
check "a bare CR inside a line of text: refused" raw 2>>"$W/raw.err" <<RAW
$(trans "MAIL FROM:<alice@example.org>")
send From: alice@example.org\r\nSubject: cr\r\n\r\nBARE-CR-MARKER one\rtwo\r\n.\r\n
expect 5
eof
RAW
check "a bare LF ending a command: refused and closed" raw 2>>"$W/raw.err" <<RAW
expect 220
send EHLO client.test\n
expect 5
eof
RAW
check "bare line ends: nothing queued" nothing_queued

long=$(head -c 1100 /dev/zero | tr '\0' 'L')
check "a text line of 1102 octets: 500 5.5.6 at the end, the session goes on" raw 2>>"$W/raw.err" <<RAW
$(trans "MAIL FROM:<alice@example.org>")
send From: alice@example.org\r\nSubject: long\r\n\r\nLONG-MARKER\r\n$long\r\n.\r\n
expect 500 5.5.6
line NOOP
expect 250
RAW
check "a text line of exactly 1000 octets with its CRLF is fine" raw 2>>"$W/raw.err" <<RAW
$(trans "MAIL FROM:<alice@example.org>")
send From: alice@example.org\r\nSubject: edge\r\n\r\nEDGE-MARKER\r\n$(head -c 998 /dev/zero | tr '\0' 'E')\r\n.\r\n
expect 250
RAW
check "a command line over 512 octets: 500 5.5.6" raw 2>>"$W/raw.err" <<RAW
expect 220
line EHLO $(head -c 600 /dev/zero | tr '\0' 'h')
expect 500 5.5.6
line NOOP
expect 250
RAW
check "the edge mail was delivered" wait_sink 1
check "nothing refused reached the sink" sh -c "! grep -rqE 'BIG-MARKER|SMUGGLE|BARE-(LF|CR)-MARKER|LONG-MARKER' '$SINK'"
check "only the edge mail reached the sink" [ "$(sink_count)" = 1 ]
done_testing
