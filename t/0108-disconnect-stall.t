#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# A client that goes away in the middle of DATA (FIN or RST, after a whole
# line or in the middle of one) leaves nothing in any queue (Kuvert queues
# half a mail and sends it). A stalled client does not hold up others: while
# one holds its session (at the greeting, in the TLS handshake, in the middle
# of DATA), a second client completes a mail, and the first can finish
# afterwards.
. "$T/lib.sh"
. "$T/ltest.sh"
lsetup

# cut HOW TEXT: a transaction to dave, TEXT sent after DATA, then HOW.
cut() {
	raw 2>>"$W/raw.err" <<RAW
$(login mon "$MON_PW")
$(to_data alice@example.org dave@example.com)
send From: alice@example.org\r\nTo: dave@example.com\r\nSubject: cut\r\n\r\n$2
body 20000
send CUT-TAIL-MARKER
sleep 0.5
$1
RAW
}
# scratch: tempdir files with content (the listener may buffer there).
scratch() { find "$W/tmp" -type f -size +0 2>/dev/null; }
for how in close reset; do
	for text in 'CUT-MARKER whole line\r\n' 'CUT-MARKER half a li'; do
		case $text in *n) where="after a whole line" ;; *) where="in the middle of a line" ;; esac
		cut "$how" "$text" || not_ok "the cut client ran ($how)"
		check "$how in the middle of DATA, $where: nothing left in any queue, tmp/ included" \
			wait_for 10 nothing_queued
		check "$how, $where: no scratch file with content" wait_for 10 sh -c "[ -z \"\$(find '$W/tmp' -type f -size +0 2>/dev/null)\" ]"
	done
done
check "a cut just before the final dot: nothing queued either" raw 2>>"$W/raw.err" <<RAW
$(login mon "$MON_PW")
$(to_data alice@example.org dave@example.com)
send From: alice@example.org\r\nSubject: cut\r\n\r\nCUT-MARKER almost\r\n
close
RAW
check "... and after the final dot's line without its CRLF" raw 2>>"$W/raw.err" <<RAW
$(login mon "$MON_PW")
$(to_data alice@example.org dave@example.com)
send From: alice@example.org\r\nSubject: cut\r\n\r\nCUT-MARKER almost\r\n.
close
RAW
check "cuts at the end: nothing queued" wait_for 10 nothing_queued

# A second client is served while the first stalls.
mailfile "second client" SECOND-MARKER
second() {
	raw 2>>"$W/raw.err" <<RAW
$(login tick "$TICK_PW")
$(to_data sam@example.org bob@example.net)
data $W/mail.eml
expect 250
line QUIT
expect 221
RAW
}
n=0
for stall in greeting tls data; do
	n=$((n + 1))
	rm -f "$W/stalled" "$W/first.done"
	case $stall in
	greeting) first="expect 220
touch $W/stalled
sleep 6
ehlo client.test
line QUIT
expect 221" ;;
	tls) first="expect 220
ehlo client.test
line STARTTLS
expect 220
touch $W/stalled
sleep 6
tls
ehlo client.test
line QUIT
expect 221" ;;
	data) first="$(login mon "$MON_PW")
$(to_data alice@example.org dave@example.com)
send From: alice@example.org\r\nTo: dave@example.com\r\nSubject: slow\r\n\r\nSLOW-MARKER
touch $W/stalled
sleep 6
send  first part\r\nrest\r\n.\r\n
expect 250
line QUIT
expect 221" ;;
	esac
	( printf '%s\n' "$first" | raw --timeout 30 2>>"$W/raw.err" && touch "$W/first.done" ) &
	pid=$!
	wait_for 20 test -e "$W/stalled" || not_ok "the first client got to its stall ($stall)"
	t0=$(now)
	second; st=$?
	t1=$(now)
	check "stalled at the $stall: a second client completed a mail meanwhile ($(echo "$t1 - $t0" | bc) s)" \
		[ "$st" = 0 ]
	check "... while the first still held its session" [ ! -e "$W/first.done" ]
	wait "$pid"
	check "... and the first completed afterwards" [ -e "$W/first.done" ]
done
check "the second client's mails all arrived" wait_sink 4
check "the slow mail arrived whole" sh -c "grep -l SLOW-MARKER '$SINK'/*.eml | xargs grep -q 'rest'"
check "no cut mail reached the sink" sh -c "! grep -rq CUT-MARKER '$SINK'"
done_testing
