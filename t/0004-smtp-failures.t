#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# SMTP failures: a 4xx keeps the mail for a retry that addresses only the
# recipients still pending; a 5xx fails that recipient with the server's
# reply kept; a dead server defers everything.
. "$T/lib.sh"
setup

printf 'RCPT carol@example.net 451x1 4.7.1 greylisted, try later\n' > "$W/replies"
printf 'From: alice@example.org\nTo: dave@example.com\nCc: carol@example.net\nSubject: partial\n\nPARTIAL\n' | submit sign-only
oneshot
check "4xx: one-shot exits 75 (deferred)" [ "$STATUS" = 75 ]
check "4xx: dave got it" [ "$(envelope "$(sink_files)" rcpt_tos)" = dave@example.com ]
check "4xx: the mail waits in cur/" [ "$(ls "$W/q/sign-only/cur" | wc -l)" = 1 ]
check "4xx: state records dave delivered" grep -q "state=delivered" "$W"/q/state/sign-only.*
check "4xx: log says deferred with the reply" grep -q "deferred for carol@example.net: 451" "$W/log"
oneshot
check "retry: exit 0" [ "$STATUS" = 0 ]
check "retry: carol got it" [ -n "$(sink_for carol@example.net)" ]
check "retry: dave got it exactly once" [ "$(sink_for dave@example.com | wc -l)" = 1 ]
check "retry: queue and state are empty" [ -z "$(find "$W/q/sign-only/cur" "$W/q/state" -type f)" ]
rm -f "$SINK"/0*

printf 'RCPT dave@example.com 550 5.1.1 no such user\n' > "$W/replies"
printf 'From: alice@example.org\nTo: dave@example.com, bob@example.net\nSubject: perm\n\nPERM\n' | submit sign-only
oneshot
check "5xx: one-shot exits 1 (failed)" [ "$STATUS" = 1 ]
check "5xx: bob got it" [ -n "$(sink_for bob@example.net)" ]
check "5xx: mail in failed/" [ "$(ls "$W/q/failed" | grep -vc reason)" = 1 ]
check "5xx: reason keeps the server's reply" grep -q "550.*no such user" "$W"/q/failed/*.reason
rm -f "$SINK"/0* "$W"/q/failed/*

printf 'DATA * 554 5.6.0 content rejected\n' > "$W/replies"
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: data\n\nDATA\n' | submit fallback
oneshot
check "DATA 5xx: failed" [ "$STATUS" = 1 ]
check "DATA 5xx: reason recorded" grep -q "554" "$W"/q/failed/*.reason
rm -f "$W"/q/failed/*

: > "$W/replies"
kill "$SINK_PID"; wait "$SINK_PID" 2>/dev/null; SINK_PID=
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: down\n\nDOWN\n' | submit fallback
oneshot
check "server down: deferred (75)" [ "$STATUS" = 75 ]
check "server down: mail kept" [ "$(ls "$W/q/fallback/cur" | wc -l)" = 1 ]
check "server down: nothing failed" [ -z "$(ls "$W/q/failed")" ]
start_sink
write_config
oneshot
check "server back: delivered (0)" [ "$STATUS" = 0 ]
check "server back: bob got it" [ -n "$(sink_for bob@example.net)" ]
done_testing
