#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 10 A9: a symbolic link (or a FIFO, or a directory) placed in new/,
# in cur/ or in the Kuvert queue is never followed: it is failed unread,
# moved to the failed area with a reason, and the target's bytes reach no
# one. A FIFO does not hang a worker.
. "$T/lib.sh"
setup
write_config "defaultaction = fallback" "mail-timeout = 5"
for Q in must-encrypt fallback sign-only; do mkdir -p "$W/q/$Q/tmp" "$W/q/$Q/new" "$W/q/$Q/cur"; done
chmod -R 700 "$W/q"

# A file the daemon can read, which nobody asked it to send.
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: secret\n\nSECRET-TARGET\n' > "$W/secret"
chmod 600 "$W/secret"
for Q in must-encrypt fallback sign-only; do
	ln -s "$W/secret" "$W/q/$Q/new/link"
	ln -s "$W/secret" "$W/q/$Q/cur/curlink"
	ln -s "$W/nothing" "$W/q/$Q/new/dangling"
done
ln -s "$W/secret" "$W/q/4711"
mkfifo "$W/q/fallback/new/fifo"
mkdir "$W/q/sign-only/new/adir"
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: fine\n\nFINE\n' > "$W/q/fallback/new/fine"

oneshot
check "-o: exit 1, mail failed (status $STATUS)" [ "$STATUS" = 1 ]
check "the target's bytes reached no one" no_plaintext SECRET-TARGET
check "the regular mail beside them is delivered" [ "$(sink_count)" = 1 ]
for Q in must-encrypt fallback sign-only; do
	check "$Q: the link in new/ is in failed/, still a link" [ -L "$W/q/failed/$Q.link" ]
	check "$Q: the link in cur/ too" [ -L "$W/q/failed/$Q.curlink" ]
	check "$Q: a dangling link too" [ -L "$W/q/failed/$Q.dangling" ]
	check "$Q: with a reason naming the link" grep -q "symbolic link" "$W/q/failed/$Q.link.reason"
done
check "the Kuvert queue's link is parked as .4711" [ -L "$W/q/.4711" ]
check "with its reason" grep -q "symbolic link" "$W/q/.4711.reason"
check "the FIFO is failed, not waited on" grep -q "not a regular file" "$W/q/failed/fallback.fifo.reason"
check "a directory in new/ is failed too" grep -q "not a regular file" "$W/q/failed/sign-only.adir.reason"
check "the target is untouched" grep -q SECRET-TARGET "$W/secret"
check "nothing is left in new/ or cur/" [ -z "$(find "$W/q/fallback" "$W/q/must-encrypt" "$W/q/sign-only" -path '*/new/*' -o -path '*/cur/*')" ]

# Purged after failed-retention like any failed mail: the links go (their
# targets stay), and the directory too.
for r in "$W"/q/failed/*.reason "$W"/q/.*.reason; do touch -d '2 days ago' "$r"; done
write_config "defaultaction = fallback" "mail-timeout = 5" "failed-retention = 1d"
oneshot
check "failed-retention purges the failed links and the directory" [ -z "$(ls -A "$W/q/failed")" ]
check "and the parked Kuvert link" [ ! -L "$W/q/.4711" ]
check "the targets stay" grep -q SECRET-TARGET "$W/secret"

# The daemon: a link made in new/ is no Maildir delivery (no rename, no
# close: inotify does not wake for it); the rescan finds it.
write_config "defaultaction = fallback" "mail-timeout = 5" "interval = 1"
start_daemon
ln -s "$W/secret" "$W/q/fallback/new/later"
check "the daemon fails a link made in new/ at its rescan" wait_for 20 test -L "$W/q/failed/fallback.later"
ln -s "$W/secret" "$W/q/4712"
check "and one in the Kuvert queue" wait_for 20 test -L "$W/q/.4712"
stop_daemon
check "the target's bytes reached no one" no_plaintext SECRET-TARGET
done_testing
