#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Non-SMTP input is cut off: an HTTP request, a "Header:" line, binary
# garbage, bytes sent before the greeting; bytes pipelined after STARTTLS
# end the session without a 220 and without TLS (command injection,
# CVE-2011-0411); commands pipelined after EHLO or DATA, where RFC 2920
# forbids it, end it too. Three bad commands: 421. The listener serves
# the next client as before.
. "$T/lib.sh"
. "$T/ltest.sh"
lsetup

# cutoff NAME SCRIPT: the server closes; what it sent before holds no 250/354.
cutoff() {
	name=$1; shift
	if printf '%s\n' "$@" | raw --timeout 15 2>>"$W/raw.err"; then ok "$name"; else not_ok "$name"; fi
}
cutoff "an HTTP request is cut off" "expect 220" "send GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" "eof" "lacks 250" "lacks 5"
cutoff "an HTTP POST (after EHLO) is cut off" "expect 220" "ehlo c.test" "send POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc" "eof" "lacks 250"
cutoff "a CONNECT is cut off" "expect 220" "line CONNECT 127.0.0.1:25 HTTP/1.0" "eof" "lacks 250"
cutoff "a Header: line is cut off" "expect 220" "line User-Agent: evil" "eof" "lacks 250"
cutoff "binary garbage is cut off" "expect 220" 'send \x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n' "eof" "lacks 250"
# Bytes before the greeting: the listener is held (SIGSTOP) while the client
# connects and talks, so that its bytes are surely there before it greets.
L=$(listener_pid)
kill -STOP "$L"
printf '%s\n' "send EHLO early.test\r\n" "touch $W/early.sent" "eof" "lacks 250" | raw --timeout 15 2>>"$W/raw.err" &
early=$!
wait_for 10 test -e "$W/early.sent"
kill -CONT "$L"
if wait "$early"; then ok "bytes before the greeting: closed"; else not_ok "bytes before the greeting: closed"; fi
cutoff "STARTTLS with EHLO pipelined behind it: closed, no 220, no TLS" \
	"expect 220" "ehlo c.test" "send STARTTLS\r\nEHLO injected.test\r\n" "eof" "lacks 220" "lacks 250"
cutoff "STARTTLS with AUTH pipelined behind it: closed" \
	"expect 220" "ehlo c.test" "send STARTTLS\r\nAUTH PLAIN $(printf '\0mon\0%s' "$MON_PW" | base64)\r\n" "eof" "lacks 220" "lacks 235"
cutoff "STARTTLS with a half line behind it: closed" \
	"expect 220" "ehlo c.test" "send STARTTLS\r\nMAIL FR" "eof" "lacks 220"
# The TLS attempt after such a cut fails: no handshake on a closed session.
if printf '%s\n' "expect 220" "ehlo c.test" "send STARTTLS\r\nNOOP\r\n" "tls" | raw --timeout 10 2>>"$W/raw.err"; then
	not_ok "no TLS handshake after bytes pipelined behind STARTTLS"
else
	ok "no TLS handshake after bytes pipelined behind STARTTLS"
fi
cutoff "EHLO with MAIL pipelined behind it: closed" \
	"expect 220" "send EHLO c.test\r\nMAIL FROM:<alice@example.org>\r\n" "eof" "lacks 250 2.1.0"
cutoff "DATA with the message pipelined behind it: closed, nothing queued" \
	"$(login mon "$MON_PW")" "line MAIL FROM:<alice@example.org>" "expect 250" "line RCPT TO:<dave@example.com>" \
	"expect 250" "send DATA\r\nFrom: alice@example.org\r\n\r\nPIPELINED-DATA\r\n.\r\n" "eof" "lacks 250"
cutoff "three unknown commands after STARTTLS: 421 and closed" "$(tls_hello)" "line FOO" "expect 5" "line BAR" "expect 5" \
	"line BAZ" "expect 5" "expect 421" "eof"
cutoff "three unknown commands before STARTTLS (answered 530): 421 and closed" "expect 220" "ehlo c.test" \
	"line FOO" "expect 5" "line BAR" "expect 5" "line BAZ" "expect 5" "expect 421" "eof"
cutoff "three MAIL before AUTH (530): 421 and closed" "$(tls_hello)" \
	"line MAIL FROM:<a@b.example>" "expect 530" "line MAIL FROM:<a@b.example>" "expect 530" \
	"line MAIL FROM:<a@b.example>" "expect 530" "expect 421" "eof"
# MAIL, RCPT and RSET may be pipelined (RFC 2920): a whole transaction works.
check "MAIL/RCPT/RSET pipelined: served" raw 2>>"$W/raw.err" <<RAW
$(login mon "$MON_PW")
line MAIL FROM:<alice@example.org>\r\nRCPT TO:<dave@example.com>\r\nRSET\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<dave@example.com>
expect 250
expect 250
expect 250
expect 250
expect 250
line DATA
expect 354
send From: alice@example.org\r\nSubject: after garbage\r\n\r\nAFTER-GARBAGE\r\n.\r\n
expect 250
RAW
check "the mail after all that arrived" wait_sink 1
check "nothing else was sent" [ "$(sink_count)" = 1 ]
check "nothing is left in a queue" wait_for 10 nothing_queued
check "no pipelined or injected text reached the sink" sh -c "! grep -rq PIPELINED-DATA '$SINK'"
check "the cuts are logged" grep -qiE "non-SMTP|pipelined" "$W/log"
done_testing
