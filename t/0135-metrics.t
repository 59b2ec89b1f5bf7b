#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# metrics-file (issue 15): a daemon sends mail of every kind through the
# sink (encrypted, signed, unchanged; one must-encrypt mail refused, one
# deferred by a 451 and sent at its retry, one bounced by a 550, with the
# DSNs), and the file it writes says exactly that, is 0644 under umask
# 077, leaves no temporary behind, and passes promtool; so do the alert
# rules of doc/monitoring.md. A file that cannot be written is said once
# and costs no mail.
. "$T/lib.sh"
setup
mkdir "$W/m"
M=$W/m/koverto.prom
write_config "dsn = yes" "retry-first = 1" "metrics-file = $M"

# promtool: Debian's prometheus package (scripts/deps); required under CI=true.
PROMTOOL=$(command -v promtool || true)
if [ -z "$PROMTOOL" ] && [ "${CI:-}" = true ]; then
	not_ok "promtool is not installed: under CI=true the metrics file must be checked (scripts/deps installs prometheus)"
fi

mail() { # FROM-less mail: TO SUBJECT
	printf 'From: alice@example.org\nTo: %s\nSubject: %s\n\nbody of %s\n' "$1" "$2" "$2"
}
printf 'RCPT carol@example.net 451x1 4.7.1 greylisted, try later\nRCPT erin@example.net 550 5.1.1 no such user\n' > "$W/replies"
mail bob@example.net enc | submit must-encrypt
mail dave@example.com refused | submit must-encrypt
mail dave@example.com signed | submit sign-only
mail carol@example.net later | submit sign-only
mail erin@example.net bounced | submit sign-only
mail dave@example.com fallback | submit fallback
mail dave@example.com unchanged | "$KOVERTO" submit -C "$CONF"

# A reader in a loop while the daemon writes: never half a file (the last
# family's line is always there).
reader() {
	n=0 bad=0
	while [ ! -e "$W/reader.stop" ]; do
		if [ -e "$M" ]; then
			n=$((n + 1))
			[ "$(tail -n 1 "$M")" = 'koverto_keys_expiring{kind="signing"} 0' ] || bad=$((bad + 1))
		fi
	done
	echo "$n $bad" > "$W/reader.out"
}
reader &
READER=$!
umask 077
start_daemon
umask 022
# bob, dave three times, carol at her retry, and the two DSNs to alice.
check "all mail and both DSNs reach the sink" wait_sink 7
value() { # the value of the series "$1" in the file
	awk -v s="$1" '$1 == s { print $2 }' "$M"
}
check "the file is written after the activity, within a second or so" \
	wait_for 10 sh -c "grep -q '^koverto_recipients_total{queue=\"sign-only\",outcome=\"signed\"} 2\$' '$M'"
stop_daemon
check "daemon stops cleanly" [ "$STATUS" = 0 ]
touch "$W/reader.stop"
wait "$READER"
read reads bad < "$W/reader.out"
diag "the reader read the file $reads times"
check "a reader never saw half a file" [ "$bad" = 0 -a "$reads" -gt 0 ]

expect() { # SERIES VALUE
	got=$(value "$1")
	if [ "$got" = "$2" ]; then ok "$1 = $2"; else not_ok "$1 = $2 (got '$got')"; fi
}
expect 'koverto_build_info{version="'"$("$KOVERTO" --version | awk '{ print $NF }')"'"}' 1
expect 'koverto_messages_received_total{queue="must-encrypt"}' 2
expect 'koverto_messages_received_total{queue="sign-only"}' 3
expect 'koverto_messages_received_total{queue="fallback"}' 1
expect 'koverto_messages_received_total{queue="kuvert"}' 1
expect 'koverto_recipients_total{queue="must-encrypt",outcome="encrypted"}' 1
expect 'koverto_recipients_total{queue="must-encrypt",outcome="refused"}' 1
expect 'koverto_recipients_total{queue="must-encrypt",outcome="failed"}' 0
expect 'koverto_recipients_total{queue="sign-only",outcome="signed"}' 2
expect 'koverto_recipients_total{queue="sign-only",outcome="bounced"}' 1
expect 'koverto_recipients_total{queue="fallback",outcome="signed"}' 1
expect 'koverto_recipients_total{queue="fallback",outcome="encrypted"}' 0
expect 'koverto_recipients_total{queue="kuvert",outcome="unchanged"}' 1
expect 'koverto_deferrals_total{queue="sign-only"}' 1
expect 'koverto_deferrals_total{queue="must-encrypt"}' 0
expect 'koverto_messages_failed_total{queue="must-encrypt"}' 1
expect 'koverto_messages_failed_total{queue="sign-only"}' 1
expect 'koverto_dsn_sent_total{queue="must-encrypt"}' 1
expect 'koverto_dsn_sent_total{queue="sign-only"}' 1
expect 'koverto_smtp_replies_total{class="2xx"}' 5
expect 'koverto_smtp_replies_total{class="4xx"}' 1
expect 'koverto_smtp_replies_total{class="5xx"}' 1
expect 'koverto_smtp_replies_total{class="none"}' 0
expect 'koverto_delivery_duration_seconds_count{queue="sign-only"}' 2
expect 'koverto_delivery_duration_seconds_bucket{queue="sign-only",le="+Inf"}' 2
expect 'koverto_delivery_duration_seconds_count{queue="must-encrypt"}' 1
expect 'koverto_queue_messages{queue="sign-only",state="failed"}' 1
expect 'koverto_queue_messages{queue="must-encrypt",state="failed"}' 1
expect 'koverto_queue_messages{queue="sign-only",state="deferred"}' 0
expect 'koverto_queue_messages{queue="sign-only",state="new"}' 0
expect 'koverto_worker_restarts_total' 0
expect 'koverto_keys_expiring{kind="recipient"}' 0
expect 'koverto_keys_expiring{kind="signing"}' 0
check "no oldest-mail time for an empty queue" \
	[ -z "$(value 'koverto_queue_oldest_message_timestamp_seconds{queue="sign-only"}')" ]
last=$(value 'koverto_last_delivery_timestamp_seconds{queue="sign-only"}')
start=$(value 'koverto_start_time_seconds')
check "last delivery after the start, not in the future" \
	[ "$last" -ge "$start" -a "$last" -le "$(date +%s)" ]
check "every queue delivered: none has its last delivery at 0" \
	[ "$(grep -c '^koverto_last_delivery_timestamp_seconds{.*} [1-9][0-9]*$' "$M")" = 4 ]
check "mode 0644 under umask 077" [ "$(stat -c %a "$M")" = 644 ]
check "no temporary file left" [ "$(ls -A "$W/m")" = koverto.prom ]
check "no timestamps: every sample line has two fields" \
	[ -z "$(grep -v '^#' "$M" | awk 'NF != 2')" ]
# Every counter and histogram series the configuration knows is there from the start.
check "every queue and outcome at 0 at least" \
	[ "$(grep -c '^koverto_recipients_total{' "$M")" = $((4 * 6)) ]
if [ -n "$PROMTOOL" ]; then
	check "promtool check metrics" sh -c "'$PROMTOOL' check metrics < '$M' > '$W/promtool.out' 2>&1"
	[ -s "$W/promtool.out" ] && diag "$(cat "$W/promtool.out")"
	awk '
		$0 == "<!-- tested: rules -->" { f = 1; next }
		f == 1 && /^```/ { f = 2; next }
		f == 2 && /^```/ { exit }
		f == 2 { print }' "$T/../doc/monitoring.md" > "$W/rules.yml"
	check "doc/monitoring.md has a tested rules block" [ -s "$W/rules.yml" ]
	check "promtool check rules on doc/monitoring.md's rules" \
		sh -c "'$PROMTOOL' check rules '$W/rules.yml' > '$W/rules.out' 2>&1"
	grep -q SUCCESS "$W/rules.out" || diag "$(cat "$W/rules.out")"
elif [ "${CI:-}" != true ]; then
	diag "promtool not installed: the promtool checks are skipped (apt-get install prometheus)"
fi

# A file that cannot be written: said once, mail flows.
write_config "metrics-file = $W/none/koverto.prom"
start_daemon
mail dave@example.com "after" | submit sign-only
check "mail goes on without the metrics file" wait_sink 8
mail dave@example.com "after2" | submit sign-only
check "and on" wait_sink 9
stop_daemon
check "the failure is logged once" [ "$(grep -c 'metrics: cannot create' "$W/log")" = 1 ]
check "nothing written there" [ ! -e "$W/none" ]

# koverto -o writes the file once, at its end.
write_config "metrics-file = $W/m/oneshot.prom"
mail dave@example.com oneshot | submit sign-only
oneshot
check "-o: delivered" [ "$STATUS" = 0 ]
check "-o: the file counts its mail" \
	grep -q '^koverto_recipients_total{queue="sign-only",outcome="signed"} 1$' "$W/m/oneshot.prom"
done_testing
