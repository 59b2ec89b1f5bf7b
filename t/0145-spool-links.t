#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 15 hardening: a symbolic link (to a file outside the spool, or
# dangling) or a FIFO planted in state/, new/, cur/ and failed/ is never
# followed nor waited on. The daemon does not hang, reads nothing through
# a link and deletes no target; what it skips it logs once; `koverto
# status` still answers. (new/ and cur/ alone: t/0061.)
. "$T/lib.sh"
setup
write_config "defaultaction = fallback" "mail-timeout = 5" "failed-retention = 1d"
for Q in must-encrypt fallback sign-only; do mkdir -p "$W/q/$Q/tmp" "$W/q/$Q/new" "$W/q/$Q/cur"; done
mkdir -p "$W/q/state" "$W/q/failed"
chmod -R 700 "$W/q"

# Outside the spool: a state that, if read, would say bob has his copy.
printf '[mail]\nattempts=41\n[addr:bob%%40example.net]\nstate=delivered\n[addr:bob@example.net]\nstate=delivered\n' > "$W/secret"
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: secret\n\nSECRET-TARGET\n' >> "$W/secret"
touch -d '3 days ago' "$W/secret"
cp -p "$W/secret" "$W/secret.orig"
mail() { printf 'From: alice@example.org\nTo: bob@example.net\nSubject: %s\n\nbody %s\n' "$1" "$1"; }

# state/: a FIFO, a link out, a dangling link, each beside a claimed mail;
# a FIFO as the reservation's state/<q>.<id>.tmp.
for id in sfifo slink sdangle stmp; do mail "$id" > "$W/q/fallback/cur/$id"; done
mkfifo "$W/q/state/fallback.sfifo"
ln -s "$W/secret" "$W/q/state/fallback.slink"
ln -s "$W/nothing" "$W/q/state/fallback.sdangle"
mkfifo "$W/q/state/fallback.stmp.tmp"
# new/ and cur/: a FIFO and links (failed unread, t/0061).
ln -s "$W/secret" "$W/q/fallback/new/nlink"
ln -s "$W/nothing" "$W/q/fallback/cur/cdangle"
mkfifo "$W/q/fallback/new/nfifo"
# failed/: a failed mail whose reason is a link to an old file, one whose
# reason is a FIFO, a link and a FIFO as failed mails with old reasons.
mail old > "$W/q/failed/fallback.rlink"
ln -s "$W/secret" "$W/q/failed/fallback.rlink.reason"
mail old > "$W/q/failed/fallback.rfifo"
mkfifo "$W/q/failed/fallback.rfifo.reason"
ln -s "$W/secret" "$W/q/failed/fallback.flink"
mkfifo "$W/q/failed/fallback.ffifo"
for f in flink ffifo; do echo why > "$W/q/failed/fallback.$f.reason"; touch -d '2 days ago' "$W/q/failed/fallback.$f.reason"; done

st() { timeout 20 "$KOVERTO" status -c "$CONF" "$@"; }
st > "$W/status.txt" 2>"$W/status.err"
check "koverto status answers with all of it planted (exit $?)" [ -s "$W/status.txt" ]

STATUS=0
timeout 60 "$KOVERTO" -c "$CONF" -o 2>>"$W/stderr" || STATUS=$?
check "-o does not hang (status $STATUS: 1, the new/ links failed)" [ "$STATUS" = 1 ]
for id in sfifo slink sdangle stmp; do
	check "$id: sent" grep -q "id=$id queue=fallback .* delivered=1 .*result=sent" "$W/log"
done
check "four copies went out: the link's 'delivered' was not read" [ "$(sink_count)" = 4 ]
check "the target's bytes reached no one" no_plaintext SECRET-TARGET
check "the link's target is untouched" cmp -s "$W/secret" "$W/secret.orig"
check "a dangling link made no file" [ ! -e "$W/nothing" ]
check "the FIFO state is logged as skipped" grep -q "state .*fallback.sfifo: not a regular file" "$W/log"
check "the link state too" grep -q "state .*fallback.slink: a symbolic link" "$W/log"
check "no state is left behind" [ -z "$(ls "$W/q/state")" ]
check "the new/ link is failed, still a link" [ -L "$W/q/failed/fallback.nlink" ]
check "the FIFO in new/ is failed, not waited on" [ -p "$W/q/failed/fallback.nfifo" ]
check "a reason that is a link purges nothing" [ -f "$W/q/failed/fallback.rlink" ]
check "nor one that is a FIFO" [ -f "$W/q/failed/fallback.rfifo" ]
check "the skipped reason is logged, once" [ "$(grep -c 'fallback.rlink.reason: not a regular file' "$W/log")" = 1 ]
check "a link and a FIFO failed long ago are purged (unlinked)" [ ! -e "$W/q/failed/fallback.flink" ] && [ ! -e "$W/q/failed/fallback.ffifo" ]
check "the target is still there" [ -f "$W/secret" ]

# The daemon: a mail whose state is a FIFO made while it runs; a mail
# whose worker loads a link; rescans log a skipped reason once only.
write_config "defaultaction = fallback" "mail-timeout = 5" "failed-retention = 1d" "interval = 1"
start_daemon
mkfifo "$W/q/state/fallback.dfifo"
mail dfifo > "$W/q/fallback/tmp/dfifo" && mv "$W/q/fallback/tmp/dfifo" "$W/q/fallback/new/dfifo"
check "the daemon delivers a mail whose state is a FIFO" wait_for 30 grep -q "id=dfifo queue=fallback .*result=sent" "$W/log"
sleep 2.5 # two rescans
check "the rescans do not log the skipped reason again (once a run)" [ "$(grep -c 'fallback.rlink.reason: not a regular file' "$W/log")" = 2 ]
st > "$W/status2.txt" 2>&1
check "koverto status answers beside the running daemon" grep -q "running" "$W/status2.txt"
stop_daemon
check "the daemon stopped cleanly (status $STATUS)" [ "$STATUS" = 0 ]

# A queue directory that is a link, and a pid file that is a link: refused.
mkdir -p "$W/outside/new" "$W/outside/cur" "$W/outside/tmp" && chmod -R 700 "$W/outside"
mail outside > "$W/outside/new/o1"
rm -rf "$W/q/sign-only" && ln -s "$W/outside" "$W/q/sign-only"
before=$(sink_count)
oneshot
check "a queue directory that is a link: koverto refuses to start (status $STATUS)" [ "$STATUS" = 78 ]
check "and says why" grep -q "sign-only: a symbolic link: not followed" "$W/stderr"
check "nothing from behind the link was sent" [ "$(sink_count)" = "$before" ]
rm "$W/q/sign-only" && mkdir -p "$W/q/sign-only/new" "$W/q/sign-only/cur" "$W/q/sign-only/tmp" && chmod -R 700 "$W/q/sign-only"
ln -s "$W/secret" "$W/q/koverto.pid"
oneshot
check "a pid file that is a link: refused (status $STATUS)" [ "$STATUS" != 0 ]
check "its target keeps its bytes" cmp -s "$W/secret" "$W/secret.orig"
done_testing
