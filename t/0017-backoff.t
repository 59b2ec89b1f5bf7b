#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The daemon's retry schedule: a deferred mail waits in cur/ and is retried
# with backoff, only for the recipients still pending; after queue-lifetime
# a temporary failure becomes a permanent one.
. "$T/lib.sh"
setup
write_config "retry-first = 1s" "retry-max = 2s" "queue-lifetime = 6s"
printf 'RCPT carol@example.net 451x2 4.7.1 greylisted\n' > "$W/replies"
start_daemon
printf 'From: alice@example.org\nTo: bob@example.net, carol@example.net\nSubject: grey\n\nGREY\n' | submit sign-only
check "bob gets it at once" wait_sink 1
check "carol gets it after two retries" wait_for 30 sh -c "[ -n \"\$(grep -l carol '$SINK'/*.json)\" ]"
check "deferred twice in the log" [ "$(grep -c 'deferred for carol@example.net' "$W/log")" = 2 ]
check "bob got it once" [ "$(grep -l bob "$SINK"/*.json | wc -l)" = 1 ]
check "nothing left queued" wait_for 10 sh -c "[ -z \"\$(find '$W/q/sign-only/cur' '$W/q/state' -type f)\" ]"

printf 'RCPT dave@example.com 451 4.7.1 always later\n' > "$W/replies"
printf 'From: alice@example.org\nTo: dave@example.com\nSubject: never\n\nNEVER\n' | submit sign-only
check "a temporary failure that outlives queue-lifetime fails the mail" wait_for 40 sh -c "grep -q 'gave up after 6 s' '$W'/q/failed/*.reason"
stop_daemon
check "exit 0" [ "$STATUS" = 0 ]
done_testing
