#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 10 A2: every address RFC 5321 allows is recorded in the per-mail
# state. A recipient the state could not record (an address literal
# ops@[192.0.2.1]: GKeyFile group names cannot hold brackets) stayed
# pending and got a new copy at every retry. And a state file written by
# koverto 0.1.0 ([rcpt ADDRESS] groups) is still read after an upgrade.
. "$T/lib.sh"
setup
write_config "retry-first = 1s" "retry-max = 1s"
# carol is greylisted once: the mail is deferred after the others got it,
# and their record in the state is what keeps the retry from them.
printf 'RCPT carol@example.net 451x1 4.7.1 greylisted\n' > "$W/replies"
start_daemon
rcpts='ops@[192.0.2.1], "ops=team"@[IPv6:2001:db8::1], "a]b=c;d#e"@example.org, "back\\slash\"q"@example.org, jörg@bücher.example, "john doe"@example.org, carol@example.net'
printf 'From: alice@example.org\nTo: %s\nSubject: literal\n\nLITERAL\n' "$rcpts" | submit sign-only
check "carol gets it at the retry" wait_for 30 sh -c "grep -q carol '$SINK'/*.json"
check "nothing left queued" wait_for 10 sh -c "[ -z \"\$(find '$W/q/sign-only/cur' '$W/q/state' -type f)\" ]"
sleep 2 # a retry that should not happen would come within retry-max
# What was accepted, as koverto sent it (it lower-cases addresses).
for a in 'ops@[192.0.2.1]' '"ops=team"@[ipv6:2001:db8::1]' '"a]b=c;d#e"@example.org' \
	'"back\\slash\"q"@example.org' '"john doe"@example.org' carol@example.net; do
	n=$(grep -cF "RCPT TO:<$a> -> 250" "$SINK/log")
	check "$a got exactly one copy ($n)" [ "$n" = 1 ]
done
# The sink has no SMTPUTF8: it refuses the UTF-8 address for good, and
# that refusal is recorded too (one try, then the mail fails for it).
n=$(grep -c 'failed for jörg@bücher.example' "$W/log")
check "jörg@bücher.example was tried once and its failure recorded ($n)" [ "$n" = 1 ]
check "no state error in the log" sh -c "! grep -i 'cannot record\|state:' '$W/log'"
stop_daemon

rm -f "$W/replies"
# An upgrade: a mail claimed by koverto 0.1.0, bob already delivered,
# carol still pending, in the old format.
id=1700000000.M1P1.host
mkdir -p "$W/q/fallback/cur"
printf 'From: alice@example.org\nTo: bob@example.net, carol@example.net\nSubject: upgrade\n\nUPGRADE\n' > "$W/q/fallback/cur/$id"
cat > "$W/q/state/fallback.$id" <<STATE
[mail]
first-seen=$(date +%s)
attempts=1
next-attempt=0
last-error=451 4.7.1 greylisted

[rcpt bob@example.net]
state=delivered

[rcpt carol@example.net]
state=pending
reason=451 4.7.1 greylisted
STATE
before_bob=$(sink_for bob@example.net | wc -l)
before_carol=$(sink_for carol@example.net | wc -l)
oneshot
check "the old state's mail is delivered (status $STATUS)" [ "$STATUS" = 0 ]
check "bob, delivered before the upgrade, gets nothing again" [ "$(sink_for bob@example.net | wc -l)" = "$before_bob" ]
check "carol, pending, gets it" [ "$(sink_for carol@example.net | wc -l)" = $((before_carol + 1)) ]
check "nothing left" [ -z "$(find "$W/q/fallback/cur" "$W/q/state" -type f)" ]
done_testing
