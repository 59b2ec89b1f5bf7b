#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 12: Kuvert's listener. maport, ma-user and ma-pass start a
# loopback listener as Kuvert's did: AUTH PLAIN or LOGIN without TLS, one
# user, into the Kuvert queue, where Kuvert's rules decide (here
# defaultaction fallback: bob encrypted, dave signed). A client that
# talked to Kuvert talks to koverto unchanged (swaks, as to Kuvert).
# [client] users may not log in there, nor Kuvert's user on the TLS port.
. "$T/lib.sh"
setup
MAPORT=$(free_port)
KOVERTO_LINES="defaultaction = fallback
maport = $MAPORT
ma-user = kuvertuser
ma-pass = kuvert secret"
listen_config "[client app]" "password = $(hash_pw app-pw)" "queue = sign-only" "senders = .*"
start_listener
check "Kuvert's port is served" grep -q "listener: ready on .*127.0.0.1:$MAPORT (Kuvert)" "$W/log"

kuvert_swaks() {
	swaks --server "127.0.0.1:$MAPORT" --auth "$1" --auth-user "$2" --auth-password "$3" \
		--from alice@example.org --to "$4" --header "Subject: $5" --body "Kuvert body $5" \
		> "$W/$5.out" 2>&1
}
kuvert_swaks PLAIN kuvertuser 'kuvert secret' bob@example.net plain-1
check "AUTH PLAIN without TLS: queued" grep -q '^<-  250 2.0.0 .*queued as' "$W/plain-1.out"
check "AUTH was offered without TLS" grep -q '^<-  250.AUTH PLAIN LOGIN' "$W/plain-1.out"
kuvert_swaks LOGIN kuvertuser 'kuvert secret' dave@example.com login-1
check "AUTH LOGIN without TLS: queued" grep -q '^<-  250 2.0.0 .*queued as' "$W/login-1.out"
id=$(sed -n 's/^<-  250 2.0.0 .*queued as \([0-9]*\).*/\1/p' "$W/login-1.out" | tr -d '\r')
check "the id is a Kuvert queue name (digits)" sh -c "[ -n '$id' ] && expr '$id' : '[0-9]*$' >/dev/null"
check "log: into the Kuvert queue" grep -q "session=[^ ]* id=$id: received from <.*> into kuvert client=kuvert " "$W/log"

kuvert_swaks PLAIN kuvertuser wrong bob@example.net wrong-1
check "wrong password: 535" grep -q '^<\*\* 535 5.7.8' "$W/wrong-1.out"
kuvert_swaks PLAIN app app-pw bob@example.net app-1
check "a [client] user may not log in on Kuvert's port" grep -q '^<\*\* 535 5.7.8' "$W/app-1.out"
swaks_tls kuvertuser 'kuvert secret' alice@example.org bob@example.net > "$W/tls.out" 2>&1
check "nor Kuvert's user on the TLS port" grep -q '^<~\* 535 5.7.8' "$W/tls.out"

wait_sink 2 || diag "sink: $(sink_count)"
check "two mails reached the sink" [ "$(sink_count)" = 2 ]
b=$(grep -l "Subject: plain-1" $(sink_files))
check "Kuvert's rules: bob encrypted" [ "$(content_type "$b")" = multipart/encrypted ]
d=$(grep -l "Subject: login-1" $(sink_files))
check "Kuvert's rules: dave signed" [ "$(content_type "$d")" = multipart/signed ]
check "dave: signature verifies" verify_signed "$d"
check "by alice" grep -q "VALIDSIG $(fpr alice)" "$W/verify.status"
check "a Received field with ESMTPA" grep -q "with ESMTPA id $id" "$d"
done_testing
