#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Kuvert's listener, unchanged for its users: a Kuvert-format configuration
# in the style of Kuvert's example ~/.kuvert (maport, ma-user, ma-pass), and
# swaks talking to it exactly as to Kuvert: AUTH PLAIN and AUTH LOGIN
# without TLS on 127.0.0.1. The mail lands in the Kuvert queue and goes out
# as Kuvert's rules say. With kuvert installed, the same swaks commands run
# against Kuvert 2.2.5's own listener first: the same reply codes, and its
# mail lands in its queue.
. "$T/lib.sh"
. "$T/ltest.sh"
setup
export GNUPGHOME="$W/g"   # both programs: Kuvert has no gnupghome option
command -v swaks >/dev/null || bail "swaks is not installed (scripts/deps)"

# kuvert_conf FILE QUEUEDIR PORT LOG: Kuvert's example configuration, adapted.
kuvert_conf() {
	cat > "$1" <<CONF
# ~/.kuvert: example configuration file for kuvert v2 (as Debian ships it), adapted
defaultkey 0x$(fpr alice)
logfile $4
mail-on-error postmaster@example.org
queuedir $2
tempdir $W/tmp
interval ${KINTERVAL:-60}
identify f
preamble f
msserver 127.0.0.1
msport $PORT
maport $3
ma-user yourname
ma-pass somethingSECRET
defaultaction fallback
alwaystrust t
use-agent t

# action specifications for recipients are given with some leading whitespace
 dave@example\.com	signonly
 (majordomo|-request)@	none
 carol@example\.net none
CONF
	chmod 600 "$1"
}
printf 'From: alice@example.org\nTo: bob@example.net, dave@example.com, carol@example.net\nSubject: via swaks\nMessage-ID: <swaks.%s@client.test>\n\nSWAKS-MARKER body\n' "$$" > "$W/mail.eml"
# talk PORT MECH: swaks as a Kuvert user runs it; the reply codes in order.
talk() {
	swaks --server "127.0.0.1:$1" --auth "$2" --auth-user yourname --auth-password somethingSECRET \
		--from alice@example.org --to bob@example.net,dave@example.com,carol@example.net \
		--data "@$W/mail.eml" --timeout 20 > "$W/swaks.$2.$3" 2>&1
	st=$?
	sed -n 's/^<[-~*]* *\([0-9][0-9][0-9]\)[ -].*/\1/p' "$W/swaks.$2.$3" | uniq | tr '\n' ' '
	return $st
}

if command -v kuvert >/dev/null 2>&1; then
	# The reference: Kuvert 2.2.5's listener (interval 3600: it only queues).
	KP=$(free_port)
	mkdir -p "$W/kq" "$W/ktmp"; chmod 700 "$W/kq" "$W/ktmp"
	KINTERVAL=3600 kuvert_conf "$W/kuvert.rc" "$W/kq" "$KP" "$W/kuvert.log"
	TMPDIR=$W/ktmp kuvert -c "$W/kuvert.rc" </dev/null >"$W/kuvert.out" 2>&1 &
	KPID=$!
	if wait_for 30 greets "$KP"; then
		for mech in PLAIN LOGIN; do
			codes=$(talk "$KP" "$mech" kuvert) && st=0 || st=$?
			echo "$codes" > "$W/codes.kuvert.$mech"
			check "Kuvert 2.2.5: swaks AUTH $mech without TLS succeeds ($codes)" [ "$st" = 0 ]
		done
		check "Kuvert 2.2.5: two files in its queue" [ "$(ls "$W/kq" | grep -cE '^[0-9]+$')" = 2 ]
	else
		not_ok "Kuvert 2.2.5's listener did not start: $(tail -3 "$W/kuvert.out")"
	fi
	snap=$(descendants "$KPID")
	kill "$KPID"; wait "$KPID" 2>/dev/null
	for p in $(echo "$snap" | awk '{ print $1 }'); do kill "$p" 2>/dev/null; done
else
	[ "${CI:-}" = true ] && not_ok "kuvert is not installed: under CI=true the reference must run (scripts/deps)"
	diag "kuvert is not installed: no reference run"
fi

# koverto on the same configuration (its own queue and port).
for try in 1 2 3; do
	LPORT=$(free_port)
	kuvert_conf "$W/dot.kuvert" "$W/q" "$LPORT" "$W/log"
	CONF=$W/dot.kuvert
	start_daemon
	wait_for 20 greets "$LPORT" && break
	stop_daemon
	[ "$try" = 3 ] && bail "koverto's Kuvert listener does not answer: $(tail -n 5 "$W/log" "$W/stderr")"
done
n=0
for mech in PLAIN LOGIN; do
	codes=$(talk "$LPORT" "$mech" koverto) && st=0 || st=$?
	check "koverto: swaks AUTH $mech without TLS on 127.0.0.1 succeeds ($codes)" [ "$st" = 0 ]
	if [ -f "$W/codes.kuvert.$mech" ]; then
		check "koverto: the same reply codes as Kuvert 2.2.5 ($(cat "$W/codes.kuvert.$mech"))" \
			[ "$codes" = "$(cat "$W/codes.kuvert.$mech")" ]
	fi
	n=$((n + 2))
	check "AUTH $mech: delivered (bob and dave in one transaction, carol in another)" wait_sink "$n"
done
check "it went through the Kuvert queue" grep -qE "queue=kuvert|into queue kuvert|kuvert queue" "$W/log"
for f in $(sink_for bob@example.net); do
	check "bob (defaultaction fallback): encrypted" [ "$(content_type "$f")" = multipart/encrypted ]
done
for f in $(sink_for dave@example.com); do
	check "dave (rule signonly): signed" [ "$(content_type "$f")" = multipart/signed ]
done
for f in $(sink_for carol@example.net); do
	check "carol (rule none): as it was" grep -q SWAKS-MARKER "$f"
done
check "wrong password: refused" sh -c "! swaks --server 127.0.0.1:$LPORT --auth PLAIN --auth-user yourname \
	--auth-password wrong --from alice@example.org --to bob@example.net --data '@$W/mail.eml' >'$W/swaks.wrong' 2>&1"
check "... with 535" grep -q '535' "$W/swaks.wrong"
check "the Kuvert queue is empty again" wait_for 10 sh -c "[ -z \"\$(ls '$W/q' | grep -E '^[0-9]+\$')\" ]"
done_testing
