#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Every session the listener opens ends with one info line that says why
# (issue 15: a session must never end without a word): "closed: REASON",
# or "refused: REASON" for one turned away at the door with 421. The ways
# a session ends here: QUIT; the client closes after the greeting, after
# EHLO, after a mail; the client resets; a stalled client times out; a
# non-SMTP client; one that talks first; a failed TLS handshake on the implicit TLS port; one
# too many from the address.
. "$T/lib.sh"
. "$T/ltest.sh"
lsetup "timeout-greeted = 2s" "max-sessions-per-ip = 2"

session() {
	name=$1; shift
	if raw --timeout 15 "$@" 2>>"$W/raw.err"; then ok "$name"; else not_ok "$name"; fi
}
session "QUIT after the greeting" <<RAW
expect 220
line QUIT
expect 221
eof
RAW
session "the client closes after the greeting" <<RAW
expect 220
close
RAW
session "the client closes after EHLO" <<RAW
expect 220
ehlo c.test
close
RAW
session "the client resets after EHLO" <<RAW
expect 220
ehlo c.test
reset
RAW
mailfile "closed after a mail" "CLOSE-LINES"
session "a mail, then the client closes without QUIT" <<RAW
$(login mon "$MON_PW")
$(to_data alice@example.org bob@example.net)
data $W/mail.eml
expect 250
close
RAW
session "a stalled client hears 421 after timeout-greeted" <<RAW
expect 220
ehlo c.test
expect 421
eof
RAW
session "a non-SMTP client is cut off" <<RAW
expect 220
line GET / HTTP/1.0
eof
RAW
session "a client that talks before the greeting is cut off" <<RAW
send EHLO early.test\r\n
eof
lacks 250
RAW
session "a failed TLS handshake on the implicit TLS port" --port "$SUBSPORT" <<RAW
send not a TLS client hello\r\n
eof
RAW
# Two sessions held (max-sessions-per-ip = 2), the third is refused.
held=
for i in 1 2; do
	printf '%s\n' "expect 220" "touch $W/held$i" "sleep 1" "line QUIT" "expect 221" |
		raw --timeout 15 2>>"$W/raw.err" > /dev/null &
	held="$held $!"
done
wait_for 10 sh -c "test -e '$W/held1' && test -e '$W/held2'"
session "a third from the address hears 421" <<RAW
expect 421
eof
RAW
for p in $held; do wait "$p" || not_ok "a held session ended badly"; done
stop_daemon

grep -E 'session=[0-9a-f]+ ' "$W/log" > "$W/sessions.log"
sids=$(grep -oE 'session=[0-9a-f]+' "$W/sessions.log" | sort -u)
missing= twice=
for s in $sids; do
	n=$(grep -cE "$s ip=[^ ]*: (closed|refused): " "$W/sessions.log")
	[ "$n" = 0 ] && missing="$missing $s"
	[ "$n" -gt 1 ] && twice="$twice $s"
done
check "every session in the log has its closed (or refused) line (missing:${missing:- none})" [ -z "$missing" ]
check "none has two (twice:${twice:- none})" [ -z "$twice" ]
check "12 sessions logged ($(echo "$sids" | wc -w))" [ "$(echo "$sids" | wc -w)" = 12 ]
has() { check "log: $1" grep -qE "session=[0-9a-f]+ ip=127\.0\.0\.1: $1" "$W/sessions.log"; }
has "closed: QUIT$"
check "log: three QUIT (two held sessions)" [ "$(grep -c ': closed: QUIT$' "$W/sessions.log")" = 3 ]
check "log: three clients went away (after the greeting, after EHLO, after a mail)" \
	[ "$(grep -c ': closed: the client went away$' "$W/sessions.log")" = 3 ]
has "closed: .*[Rr]eset by peer"
has "closed: timeout \(waiting for a command\)$"
has "closed: non-SMTP input$"
has "closed: input before the greeting$"
has "closed: TLS handshake: "
has "refused: too many sessions from this address$"
check "the mail was queued" grep -q 'received from <alice@example.org> into fallback client=mon ' "$W/sessions.log"
check "no close line below info" sh -c "! grep -E 'debug: session=.*(closed|went away|cannot write)' '$W/log'"
done_testing
