#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 10 A5: whatever a Maildir name holds (a newline, a CR, invalid
# UTF-8, a terminal escape, 250 bytes, a leading dash, another mail's name
# plus ".reason" or ".tmp", the name of a mail in cur/), each mail is
# delivered exactly once or failed and reported, and -o never exits 0 while
# one is undelivered. Odd names are claimed under a safe unique name, the
# original logged escaped: no piece of one name can address another mail
# or make a worker exit.
. "$T/lib.sh"
setup
write_config "defaultaction = fallback"
for Q in must-encrypt fallback sign-only; do mkdir -p "$W/q/$Q/tmp" "$W/q/$Q/new" "$W/q/$Q/cur"; done
chmod -R 700 "$W/q"

nl='
'
cr=$(printf '\r')
esc=$(printf '\033')
long=$(printf '%0250d' 7 | tr 0 L)
# NAMES: one per line would split at the newline; a function yields them.
each_name() {
	"$@" "a${nl}b"
	"$@" "b"
	"$@" "${nl}"
	"$@" "c${cr}"
	"$@" "$(printf 'u\377\376')"
	"$@" "${esc}[31mred"
	"$@" "$long"
	"$@" "-x"
	"$@" "b.reason"
	"$@" "b.tmp"
	"$@" "sp ace"
	"$@" "1 b"
}
n=0
# put QUEUE SUB NAME: a mail with its own marker, written to tmp/ and renamed.
put() {
	n=$((n + 1))
	printf 'From: alice@example.org\nTo: bob@example.net\nSubject: name %d\n\nMARK-%d\n' "$n" "$n" > "$W/q/$1/tmp/m"
	mv "$W/q/$1/tmp/m" "$W/q/$1/$2/$3"
}
put_new() { put "$Q" new "$1"; }
put_cur() { put "$Q" cur "$1"; }
for Q in must-encrypt fallback sign-only; do
	each_name put_new
	each_name put_cur
done
# The Kuvert queue: only all-digit names are its files (as in Kuvert).
printf 'X-Kuvert-To: bob@example.net\nFrom: alice@example.org\nSubject: kq\n\nKQ\n' > "$W/q/456"
printf 'From: alice@example.org\nSubject: odd\n\nODD\n' > "$W/q/123${nl}456"
total=$((n + 1))

left() { find "$W/q/must-encrypt" "$W/q/fallback" "$W/q/sign-only" -path '*/new/*' -o -path '*/cur/*' | wc -l; }
oneshot
check "-o: exit 0 once every mail is delivered (status $STATUS)" [ "$STATUS" = 0 ]
check "every mail reached the sink exactly once ($(sink_count) of $total)" [ "$(sink_count)" = "$total" ]
check "nothing is left in new/ or cur/ ($(left))" [ "$(left)" = 0 ]
check "nothing failed" [ -z "$(ls "$W/q/failed")" ]
check "no state is left" [ -z "$(ls "$W/q/state")" ]
check "the Kuvert queue file went" [ ! -e "$W/q/456" ]
check "a non-digit name in queuedir is no Kuvert queue file: untouched" [ -e "$W/q/123${nl}456" ]
check "no worker exited or saw a bad request" sh -c "! grep -qE 'bad request|worker ended|processing ended' '$W/log'"
check "the original name is logged escaped" grep -qF 'claimed fallback/new/"a\x0ab"' "$W/log"
check "a terminal escape is logged escaped" grep -qF '"\x1b[31mred"' "$W/log"
check "no raw escape or CR in the log" sh -c "! grep -q '[$esc$cr]' '$W/log'"
check "no log line starts with a piece of a name" sh -c "! grep -qvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' '$W/log'" || sed -n 1,3p "$W/log"

# The same through the daemon: inotify, and a name equal to a mail
# still in cur/ (deferred) must not replace it.
rm -f "$SINK"/0*
printf 'RCPT carol@example.net 451 4.7.1 later\n' > "$W/replies"
start_daemon
Q=fallback
printf 'From: alice@example.org\nTo: carol@example.net\nSubject: deferred\n\nDEFERRED\n' > "$W/q/fallback/tmp/m"
mv "$W/q/fallback/tmp/m" "$W/q/fallback/new/same"
check "a deferred mail stays in cur/" wait_for 20 grep -q "id=same.*deferred" "$W/log"
put_new same
n0=$n
each_name put_new
check "the daemon delivers each of them once" wait_sink $((n - n0 + 1))
sleep 1
check "and no more ($(sink_count))" [ "$(sink_count)" = $((n - n0 + 1)) ]
check "the deferred mail is still there, not replaced" grep -q DEFERRED "$W/q/fallback/cur/same"
check "no worker exited" sh -c "! grep -qE 'bad request|worker ended|processing ended' '$W/log'"
stop_daemon
check "the daemon exits 0" [ "$STATUS" = 0 ]
done_testing
