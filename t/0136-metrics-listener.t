#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# metrics-file (issue 15): the listener process reports its sessions, the
# mails it queued per client and the logins it refused to the daemon over
# its socket, and the daemon's file counts them exactly, each client's
# series there at 0 from the start.
. "$T/lib.sh"
. "$T/ltest.sh"
M=
lsetup_metrics() {
	setup
	M=$W/koverto.prom
	KOVERTO_LINES="metrics-file = $M"
	test_ca
	clients > "$W/clients"
	set --
	while IFS= read -r line; do set -- "$@" "$line"; done < "$W/clients"
	listen_config "$@"
	start_listener
	LPORT=$SUBPORT
}
lsetup_metrics
value() { awk -v s="$1" '$1 == s { print $2 }' "$M"; }
expect() { # SERIES VALUE
	got=$(value "$1")
	if [ "$got" = "$2" ]; then ok "$1 = $2"; else not_ok "$1 = $2 (got '$got')"; fi
}

check "the file is there at the start" wait_for 10 test -s "$M"
expect 'koverto_listener_messages_total{client="tick"}' 0
expect 'koverto_listener_sessions_total' 0

{ tls_hello; echo "auth-plain mon wrong-password"; echo "expect 535"; echo "line QUIT"; echo "expect 221"; } |
	raw 2>>"$W/raw.err" || not_ok "a wrong password: 535 ($(tail -3 "$W/raw.err"))"
check "a mail from client mon" swaks_tls mon "$MON_PW" alice@example.org bob@example.net \
	--header "Subject: metrics" --body "counted" > "$W/swaks.out" 2>&1
check "it reaches the sink" wait_sink 1
check "the file counts it within seconds" \
	wait_for 10 sh -c "grep -q '^koverto_listener_messages_total{client=\"mon\"} 1\$' '$M'"
stop_daemon
expect 'koverto_listener_sessions_total' 2
expect 'koverto_listener_messages_total{client="mon"}' 1
expect 'koverto_listener_messages_total{client="tick"}' 0
expect 'koverto_listener_auth_failures_total{reason="credentials"}' 1
expect 'koverto_listener_auth_failures_total{reason="backoff"}' 0
expect 'koverto_listener_auth_failures_total{reason="port"}' 0
expect 'koverto_messages_received_total{queue="fallback"}' 1
expect 'koverto_recipients_total{queue="fallback",outcome="encrypted"}' 1
done_testing
