#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 10 A9: no control character from an SMTP reply or a Maildir file
# name reaches the log file or stderr raw; each is shown escaped (\x1b).
. "$T/lib.sh"
setup
ESC=$(printf '\033')
BEL=$(printf '\007')

# A refusal whose text clears the screen and retitles the terminal.
printf 'RCPT carol@example.net 550 5.1.1 %s[2J%s]0;pwned%s no such user\n' "$ESC" "$ESC" "$BEL" > "$W/replies"
printf 'From: alice@example.org\nTo: carol@example.net\nSubject: esc\n\nESC reply\n' | submit fallback
# A Maildir name with ESC, as a local writer may choose it.
m=$W/q/fallback/tmp/x
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: name\n\nESC name\n' > "$m"
mv "$m" "$W/q/fallback/new/mta.${ESC}[31mred.1"
oneshot -d

check "the sink got the mail with the ESC name" [ "$(sink_count)" = 1 ]
check "the refusal was logged" grep -q '550 5.1.1' "$W/log"
check "log file: no ESC or BEL" sh -c "! grep -q '[$ESC$BEL]' '$W/log'"
check "stderr (debug on): no ESC or BEL" sh -c "! grep -q '[$ESC$BEL]' '$W/stderr'"
check "log file: the reply's ESC shown as \\x1b" grep -qF '\x1b[2J\x1b]0;pwned\x07 no such user' "$W/log"
check "log file: the file name's ESC shown as \\x1b" grep -qF 'mta.\x1b[31mred.1' "$W/log"
check "stderr: the debug dialog escaped too" grep -qF 'smtp< 550 5.1.1 \x1b[2J' "$W/stderr"
check "every log line is printable text" sh -c "! LC_ALL=C grep -q '[[:cntrl:]]' '$W/log'"
# The same text goes on into the failed area's .reason file: escaped there too.
check "the refused mail failed, with a reason file" sh -c "ls '$W'/q/failed/*.reason >/dev/null"
check ".reason: no ESC or BEL" sh -c "! grep -q '[$ESC$BEL]' '$W'/q/failed/*.reason"
check ".reason: the reply's ESC shown as \\x1b" grep -qF '550 5.1.1 \x1b[2J\x1b]0;pwned\x07 no such user' "$W"/q/failed/fallback.*.reason
done_testing
