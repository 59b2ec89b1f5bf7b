#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 10 A6: a state save that fails after an accepted transaction (here
# an I/O error injected into the rename of the state file by strace)
# stops the mail before its next transaction; koverto 0.1.0 logged it and
# sent the next copy. The next run sends what is still pending.
: "${KOVERTO:?set KOVERTO to the koverto binary}"
: "${T:?set T to the t/ directory}"
. "$T/lib.sh"
need_strace
setup
oneshot # makes the queue
id=1800000000.M1P1.host
printf 'From: alice@example.org\nTo: dave@example.com, bob@example.net\nSubject: eio\n\nEIO\n' > "$W/q/fallback/tmp/$id"
mv "$W/q/fallback/tmp/$id" "$W/q/fallback/new/$id"
rcpt_count() { grep -cF "RCPT TO:<$1> -> 250" "$SINK/log"; }

# dave's copy (signed) goes first; the save of its outcome fails.
STATUS=0
# LeakSanitizer cannot run under ptrace: off for this one run of an ASan build.
ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0" \
strace -f -qq -o /dev/null -P "$W/q/state/fallback.$id.tmp" -e trace=rename \
	-e inject=rename:error=EIO "$KOVERTO" -c "$CONF" -o 2>>"$W/stderr" || STATUS=$?
check "deferred (status $STATUS)" [ "$STATUS" = 75 ]
check "the failed save is logged" grep -q "id=$id: state: cannot write .*Input/output error; nothing more is sent" "$W/log"
check "dave's copy went out" [ "$(rcpt_count dave@example.com)" = 1 ]
check "bob's copy was not sent after the failed save" [ "$(rcpt_count bob@example.net)" = 0 ]
check "the mail waits in cur/" [ -e "$W/q/fallback/cur/$id" ]

oneshot
check "the next run delivers (status $STATUS)" [ "$STATUS" = 0 ]
check "bob got it once" [ "$(rcpt_count bob@example.net)" = 1 ]
# dave's acceptance could not be recorded: the one copy that may come twice.
n=$(rcpt_count dave@example.com)
check "dave got it at most twice ($n)" [ "$n" -le 2 ]
check "nothing left" [ -z "$(find "$W/q/fallback/cur" "$W/q/state" -type f)" ]
done_testing
