#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 15, logs: when stderr is the systemd journal ($JOURNAL_STREAM holds
# the dev:inode of stderr, systemd.exec(5)) every stderr line starts with
# its sd-daemon(3) priority (<3> error, <4> warning, <6> info, <7> debug)
# and no name of koverto's own, so journalctl -p warning works; the file
# stderr goes to stands in for the journal's stream here.
. "$T/lib.sh"
setup

printf 'RCPT dave@example.com 550 5.1.1 no such user\n' > "$W/replies"
printf 'From: alice@example.org\nTo: dave@example.com, bob@example.net\nSubject: j\n\nJ\n' | submit sign-only
: > "$W/journal"
stream=$(stat -c %d:%i "$W/journal")
STATUS=0
JOURNAL_STREAM=$stream "$KOVERTO" -c "$CONF" -o -d 2>>"$W/journal" || STATUS=$?
check "the mail failed for dave (exit 1)" [ "$STATUS" = 1 ]
check "journal: bob's outcome at <6>" grep -q '^<6>info: id=[^ ]* queue=sign-only .*to=<bob@example.net> .*status=sent' "$W/journal"
check "journal: dave's outcome at <6>" grep -q '^<6>info: id=.*to=<dave@example.com> .*status=bounced' "$W/journal"
check "journal: the failed mail at <3>" grep -q '^<3>error: id=.*: failed: dave@example.com: 550' "$W/journal"
check "journal: debug lines at <7>" grep -q '^<7>debug: ' "$W/journal"
check "journal: every line has its priority" sh -c "! grep -v '^<[3467]>\(error\|warning\|info\|debug\): ' '$W/journal'"
check "journal: lines from the workers too" sh -c "grep -q '^<6>info: id=.*: sent signed to bob@example.net' '$W/journal'"
check "the log file keeps its own format" grep -q '^[0-9T:+-]* koverto\[[0-9]*\]: info: id=.*status=sent' "$W/log"

# Another stream (stderr redirected, the variable inherited): plain lines.
: > "$W/other"
JOURNAL_STREAM=$stream "$KOVERTO" -c "$CONF" -o 2>>"$W/other" || :
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: p\n\nP\n' | submit sign-only
JOURNAL_STREAM=$stream "$KOVERTO" -c "$CONF" -o 2>>"$W/other" || :
check "not the journal: plain lines" grep -q '^koverto: info: id=.*to=<bob@example.net> .*status=sent' "$W/other"
check "not the journal: no priority prefix" sh -c "! grep -q '^<[0-9]>' '$W/other'"
done_testing
