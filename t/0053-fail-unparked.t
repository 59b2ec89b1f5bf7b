#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 10, nothing lost: a mail that fails but cannot be parked in the
# failed area (here failed/ is not a directory) stays in cur/, known to
# the daemon, with no report saying it was parked; it is failed and
# reported at a later attempt, once the failed area can take it. Before,
# the daemon forgot it until a restart and the alert named a parked file
# that did not exist.
. "$T/lib.sh"
setup
write_config "dsn = on" "retry-first = 1s" "retry-max = 1s"
start_daemon
rm -rf "$W/q/failed"
: > "$W/q/failed"
# Written as an MTA would (koverto submit checks the whole spool first).
id=1800000000.M2P2.host
printf 'From: alice@example.org\nTo: dave@example.com\nSubject: unparked\n\nUNPARKED-SECRET\n' > "$W/q/must-encrypt/tmp/$id"
mv "$W/q/must-encrypt/tmp/$id" "$W/q/must-encrypt/new/$id"
check "the park fails and says so" wait_for 20 grep -q "kept in cur/, tried again later" "$W/log"
check "the mail is still in cur/" sh -c "[ -n \"\$(ls '$W/q/must-encrypt/cur')\" ]"
check "no report while it is not parked" [ "$(sink_count)" = 0 ]
n=$(grep -c "kept in cur/, tried again later" "$W/log")
check "and it is tried again ($n so far)" wait_for 20 sh -c "[ \$(grep -c 'kept in cur/, tried again later' '$W/log') -gt $n ]"
rm -f "$W/q/failed"
mkdir -m 700 "$W/q/failed"
check "once the failed area can take it, it is parked" wait_for 20 sh -c "ls '$W'/q/failed/*.reason"
check "with its reason" grep -q "no usable key" "$W"/q/failed/*.reason
check "cur/ is empty" wait_for 10 sh -c "[ -z \"\$(ls '$W/q/must-encrypt/cur')\" ]"
wait_sink 1
check "the sender got one report" [ "$(sink_for alice@example.org | wc -l)" = 1 ]
check "and nothing else went out" [ "$(sink_count)" = 1 ]
check "the plaintext reached no server" no_plaintext UNPARKED-SECRET
stop_daemon
check "the daemon stops cleanly" [ "$STATUS" = 0 ]
done_testing
