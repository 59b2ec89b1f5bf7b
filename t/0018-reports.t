#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Permanent failures: an RFC 3464 report to the sender (dsn = on) that never
# carries the body; no report about a report; mail that comes back into a
# queue (our trace header) or has too many hops is failed as a loop.
. "$T/lib.sh"
setup
write_config "dsn = on" "mail-on-error = postmaster@example.org"

printf 'RCPT dave@example.com 550 5.1.1 no such user\n' > "$W/replies"
printf 'From: alice@example.org\nTo: dave@example.com\nBcc: carol@example.net\nSubject: dsn-one\n\nBODY-MARKER-ONE\n' | submit sign-only
oneshot
d=$(sink_for alice@example.org)
check "a report went to the sender" [ -n "$d" ]
check "from the null sender" [ "$(envelope "$d" mail_from)" = "" ]
check "it is multipart/report" [ "$(content_type "$d")" = multipart/report ]
check "it names the recipient and the status" sh -c "grep -q 'Final-Recipient: rfc822; *dave@example.com' '$d' && grep -q 'Status: 5.1.1' '$d'"
check "it never carries the body" sh -c "! grep -q BODY-MARKER-ONE '$d'"
check "nor the Bcc" sh -c "! grep -qi '^Bcc:' '$d'"
rm -f "$SINK"/0* "$W"/q/failed/*; : > "$W/replies"

printf 'From: alice@example.org\nTo: dave@example.com\nSubject: dsn-two\n\nMUST-ENCRYPT-SECRET\n' | submit must-encrypt
oneshot
d=$(sink_for alice@example.org)
check "must-encrypt refused: a report to the sender" [ -n "$d" ]
check "must-encrypt refused: status 5.7.1" grep -q "Status: 5.7.1" "$d"
check "must-encrypt refused: the plaintext reached no server" no_plaintext MUST-ENCRYPT-SECRET
rm -f "$SINK"/0* "$W"/q/failed/*

printf 'RCPT dave@example.com 550 5.1.1 no such user\n' > "$W/replies"
printf 'From: MAILER-DAEMON@example.org\nTo: dave@example.com\nSubject: bounce\n\nB\n' | submit sign-only -f '<>' dave@example.com
oneshot
check "the null sender's failure: no report, no alert" [ "$(sink_count)" = 0 ]
check "but the log has it" grep -q "no alert mailed" "$W/log"
rm -f "$W"/q/failed/*; : > "$W/replies"

printf 'From: alice@example.org\nTo: dave@example.com\nSubject: loop\n\nLOOP\n' | submit sign-only
oneshot
sent=$(sink_files | head -1)
check "every copy carries our trace" grep -q "^X-Koverto-Trace: $(hostname);" "$sent"
cp "$sent" "$W/q/fallback/tmp/back"; mv "$W/q/fallback/tmp/back" "$W/q/fallback/new/back"
rm -f "$SINK"/0*
oneshot
check "a mail that comes back is failed as a loop" grep -q "mail loop: it already passed through koverto" "$W"/q/failed/fallback.back.reason
check "and nothing is sent to its recipients" [ -z "$(sink_for dave@example.com)" ]
rm -f "$SINK"/0* "$W"/q/failed/*

{ for i in 1 2 3 4 5 6 7 8 9 10 11; do echo "Received: from relay$i.example.org"; done
  printf 'From: alice@example.org\nTo: dave@example.com\nSubject: hops\n\nHOPS\n'; } | submit sign-only
oneshot
check "more than max-hops Received headers: failed as a loop" grep -q "11 hops" "$W"/q/failed/*.reason

# Failed mail is purged after failed-retention (plaintext at rest).
write_config "failed-retention = 1d"
touch -d '2 days ago' "$W"/q/failed/*.reason
printf 'parked\n' > "$W/q/.99"; printf 'old\n' > "$W/q/.99.reason"; touch -d '2 days ago' "$W/q/.99.reason"
printf 'fresh\n' > "$W/q/.98"; printf 'new\n' > "$W/q/.98.reason"
oneshot
check "failed mail older than failed-retention is purged" [ -z "$(ls "$W/q/failed")" ]
check "parked Kuvert mail too" [ ! -e "$W/q/.99" ]
check "younger failed mail stays" [ -e "$W/q/.98" ]
check "the log says so" grep -q "purged 2 failed mails" "$W/log"
done_testing
