#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Named queues across a restart (issue 12): mail deferred in a named
# queue's cur/ with its state/<queue>.<id>, and mail an MTA delivered into
# its new/ while no daemon ran, are all taken by the next daemon. The
# built-in queues keep the state/ and failed/ names they always had
# (state/fallback.<id>), so a spool written before named queues existed
# reads as before.
. "$T/lib.sh"
setup
cat >> "$CONF" <<CONF
retry-first = 1
[queue tickets]
policy = fallback
CONF
# The first two transactions are deferred by the server.
echo "MAIL * 451x2 4.3.0 try again later" > "$W/replies"

mail() { printf 'From: alice@example.org\nTo: bob@example.net\nSubject: %s\n\nbody %s\n' "$1" "$1"; }
mail in-tickets | submit tickets
mail in-fallback | submit fallback
oneshot
check "first run: both deferred (75)" [ "$STATUS" = 75 ]
check "nothing reached the sink" [ "$(sink_count)" = 0 ]
tid=$(ls "$W/q/tickets/cur")
fid=$(ls "$W/q/fallback/cur")
check "the named queue's mail waits in its cur/" [ -n "$tid" ] && [ -f "$W/q/tickets/cur/$tid" ]
check "with its state as state/tickets.ID" [ -f "$W/q/state/tickets.$tid" ]
check "the built-in keeps its state name state/fallback.ID" [ -f "$W/q/state/fallback.$fid" ]

# An MTA's Maildir delivery while no daemon runs.
mail by-mta > "$W/q/tickets/tmp/1700000000.mta.host"
mv "$W/q/tickets/tmp/1700000000.mta.host" "$W/q/tickets/new/"

start_daemon
check "the restarted daemon delivers all three" wait_sink 3
check "the mail from new/ went out" grep -q "Subject: by-mta" $(sink_files)
check "the deferred named-queue mail went out" grep -q "Subject: in-tickets" $(sink_files)
check "the deferred built-in mail went out" grep -q "Subject: in-fallback" $(sink_files)
check "each once" [ "$(sink_count)" = 3 ]
wait_for 10 sh -c "[ -z \"\$(find '$W/q/tickets' '$W/q/fallback' '$W/q/state' -type f)\" ]"
check "queues and state are empty afterwards" [ -z "$(find "$W/q/tickets" "$W/q/fallback" "$W/q/state" -type f)" ]
check "log: the named queue in the ready line" grep -q "ready: watching $W/q (must-encrypt, fallback, sign-only, tickets, kuvert)" "$W/log"
check "log: id=$tid queue=tickets result=sent" grep -q "id=$tid queue=tickets .*result=sent" "$W/log"
stop_daemon
check "daemon stopped cleanly" [ "$STATUS" = 0 ]
done_testing
