#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The listener's login refusals: a wrong password and an unknown user get
# byte-identical replies, both after a delay (>= 0.4 s: the random delay
# before every failure); AUTH before STARTTLS is 538, MAIL before AUTH 530,
# and three failed AUTHs close the session with 421. Nothing is queued.
. "$T/lib.sh"
. "$T/ltest.sh"
lsetup

# The same reply for a wrong password and for an unknown user, each in its
# own session (the third failure of one session would close it).
for who in "plain mon wrong-password" "plain nobody $MON_PW" "plain mon $TICK_PW" "login nobody x"; do
	set -- $who
	{ tls_hello; echo "auth-$1 $2 $3"; echo "expect 535"; echo "print r"; echo "line QUIT"; echo "expect 221"; } |
		raw >> "$W/refusals" 2>>"$W/raw.err" || not_ok "AUTH $1 as $2: refused with 535 ($(tail -3 "$W/raw.err"))"
done
check "four refusals measured" [ "$(wc -l < "$W/refusals")" = 4 ]
check "wrong password, unknown user, another client's password, AUTH LOGIN: byte-identical replies" \
	[ "$(cut -f3 "$W/refusals" | sort -u | wc -l)" = 1 ]
diag "refusal delays (s): $(cut -f2 "$W/refusals" | tr '\n' ' ')"
check "every refusal came after at least 0.4 s" \
	awk -F'\t' '$2 < 0.4 { bad = 1 } END { exit bad }' "$W/refusals"
check "the reply says nothing but that the login failed" \
	awk -F'\t' '$3 !~ /^535 5\.7\.8 [^\/]*\\r\\n$/ { bad = 1 } END { exit bad }' "$W/refusals"

# The right password works (the refusals above were not a broken login).
logs_in() { login mon "$MON_PW" | raw 2>>"$W/raw.err"; }
check "the right password: 235" logs_in

# AUTH before STARTTLS: 538, not even a check; MAIL before AUTH: 530.
check "AUTH before STARTTLS: 538 5.7.11" raw 2>>"$W/raw.err" <<RAW
expect 220
ehlo c.test
lacks AUTH
auth-plain mon $MON_PW
expect 538
line QUIT
expect 221
RAW
check "MAIL before STARTTLS: 530 5.7.0" raw 2>>"$W/raw.err" <<RAW
expect 220
ehlo c.test
line MAIL FROM:<alice@example.org>
expect 530
RAW
check "MAIL after STARTTLS but before AUTH: 530 5.7.0" raw 2>>"$W/raw.err" <<RAW
expect 220
ehlo c.test
starttls
ehlo c.test
has AUTH PLAIN LOGIN
line MAIL FROM:<alice@example.org>
expect 530
line RCPT TO:<bob@example.net>
expect 5
RAW

# Three failed AUTHs: the third 535, then 421 and the session is closed.
check "three failed AUTHs: 535, then 421 and closed" raw --timeout 30 2>>"$W/raw.err" <<RAW
expect 220
ehlo c.test
starttls
ehlo c.test
auth-plain mon bad1
expect 535
auth-plain mon bad2
expect 535
auth-login mon bad3
expect 535
expect 421
eof
RAW
# All applications on this host share 127.0.0.1: failures of one account
# (above: mon, nobody) must not lock another out. tick logs in right after.
tick_in() { login tick "$TICK_PW" | raw --timeout 30 2>>"$W/raw.err"; }
check "after all those failures from 127.0.0.1, another client (tick) still logs in" tick_in
# The user name is the client's: one that looks like a key=value pair (and
# like a log line's end) is quoted in the log, not taken as a second pair.
{ tls_hello; echo 'auth-plain app"_user=tick wrong'; echo "expect 535"; echo "line QUIT"; echo "expect 221"; } |
	raw 2>>"$W/raw.err" || not_ok "AUTH as a hostile user name: refused with 535 ($(tail -3 "$W/raw.err"))"
check "a user name with = and \" is quoted in the log line" \
	grep -q 'AUTH refused: user="app\\"_user=tick": wrong password' "$W/log"
check "refused logins are logged, the password is not" sh -c "grep -qi 'auth' '$W/log' && ! grep -q 'wrong-password' '$W/log' '$W/stderr'"
check "nothing was queued" nothing_queued
check "the sink got nothing" [ "$(sink_count)" = 0 ]
done_testing
