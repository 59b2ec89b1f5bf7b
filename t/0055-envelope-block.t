#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 10 A3 and A8: only the block of pseudo-headers the writer of the
# queue file put on top is the envelope. The same lines in the mail's own
# header (which whoever sends mail writes) never count and never leave;
# koverto submit drops them before it writes its own; and the rewrite of a
# partly delivered mail reads the envelope as the reader does.
. "$T/lib.sh"
setup
write_config "defaultaction = fallback"

no_x_kuvert() { ! grep -qi '^X-Kuvert' "$1"; }

oneshot  # makes the queue directories
# An MTA's Maildir copy: below Delivered-To, the mail's own X-Kuvert-To.
m=$W/q/fallback/tmp/mta.1
printf 'Return-Path: <alice@example.org>\nDelivered-To: bob@example.net\nReceived: from mx by mx; Tue, 25 Nov 2026 10:00:01 +0000\nX-Kuvert-To: mallory@example.org\nX-Kuvert-From: mallory@example.org\nFrom: alice@example.org\nTo: bob@example.net\nSubject: mta\n\nMTA body\n' > "$m"
mv "$m" "$W/q/fallback/new/mta.1"
oneshot
c=$(sink_files)
check "Maildir copy: delivered" [ "$STATUS" = 0 ]
check "Maildir copy: to its Delivered-To, not to the mail's X-Kuvert-To" [ "$(envelope "$c" rcpt_tos)" = bob@example.net ]
check "Maildir copy: from its Return-Path" [ "$(envelope "$c" mail_from)" = alice@example.org ]
check "Maildir copy: the mail's X-Kuvert lines did not leave" no_x_kuvert "$c"
rm -f "$SINK"/0*

# koverto submit with a recipient: the mail's X-Kuvert-To adds nobody,
# whether on top, further down, or spelt with a blank before the colon.
printf 'X-Kuvert-To: mallory@example.org\nFrom: alice@example.org\nTo: bob@example.net\nX-Kuvert-To : eve@example.org,\n mallory@example.org\nX-Kuvert-From: mallory@example.org\nSubject: sub\n\nSUB body\n' | submit fallback carol@example.net
q=$(ls "$W"/q/fallback/new/*)
check "submit: one X-Kuvert-To in the queue file, ours" [ "$(grep -ci '^X-Kuvert-To' "$q")" = 1 ]
check "submit: it names carol" grep -qx 'X-Kuvert-To: carol@example.net' "$q"
check "submit: one X-Kuvert-From, From's address" [ "$(grep -ci '^X-Kuvert-From' "$q")" = 1 ]
check "submit: mallory and eve are gone from the file" sh -c "! grep -q 'mallory\|eve@' '$q'"
oneshot
check "submit: carol only" [ "$(envelope "$(sink_files)" rcpt_tos)" = carol@example.net ]
check "submit: sent from alice" [ "$(envelope "$(sink_files)" mail_from)" = alice@example.org ]
rm -f "$SINK"/0*

# The envelope given on the command line still needs nothing of the mail.
printf 'From: friends:;\nSubject: bare\n\nBARE body\n' | submit fallback -f alice@example.org carol@example.net
check "submit -f and a recipient: a mail without From or To is queued" [ "$?" = 0 ]
oneshot
check "and goes to carol" [ "$(envelope "$(sink_files)" rcpt_tos)" = carol@example.net ]
rm -f "$SINK"/0*

# -t: the headers decide, not an X-Kuvert-To the mail starts with.
printf 'X-Kuvert-To: mallory@example.org\nFrom: alice@example.org\nTo: bob@example.net\nSubject: t\n\nT body\n' | submit fallback -t
oneshot
check "submit -t: bob only" [ "$(envelope "$(sink_files)" rcpt_tos)" = bob@example.net ]
rm -f "$SINK"/0*

# The Kuvert queue: a file as kuvert_submit writes it; a second
# X-Kuvert-To in the mail's header below From counts for nothing.
printf 'X-Kuvert-To: carol@example.net\nFrom: alice@example.org\nTo: bob@example.net\nX-Kuvert-To: mallory@example.org\nSubject: kq\n\nKQ body\n' > "$W/q/4242"
oneshot
check "Kuvert queue: carol only" [ "$(envelope "$(sink_files)" rcpt_tos)" = carol@example.net ]
rm -f "$SINK"/0*

# A8: partly delivered, then failed. The envelope line has a blank before
# its colon and a continuation line, as GMime reads it: the parked file
# must name dave only, so the retry recipe mails nobody twice.
printf 'RCPT dave@example.com 550 5.1.1 no such user\n' > "$W/replies"
printf 'X-Kuvert-From: alice@example.org\nX-Kuvert-To : bob@example.net,\n dave@example.com\nFrom: alice@example.org\nTo: bob@example.net, dave@example.com\nSubject: partial\n\nPARTIAL\n' > "$W/q/888"
oneshot
check "partial: failed" [ "$STATUS" = 1 ]
check "partial: bob got it" [ -n "$(sink_for bob@example.net)" ]
check "partial: the parked envelope has one X-Kuvert-To" [ "$(grep -ci '^X-Kuvert-To' "$W/q/.888")" = 1 ]
check "partial: it names dave only" grep -qx "X-Kuvert-To: dave@example.com" "$W/q/.888"
check "partial: the sender stays" grep -qx "X-Kuvert-From: alice@example.org" "$W/q/.888"
check "partial: no stray continuation line" sh -c "! grep -q '^ dave' '$W/q/.888'"
: > "$W/replies"
mv "$W/q/.888" "$W/q/888"
oneshot
check "renamed back: delivered" [ "$STATUS" = 0 ]
check "renamed back: bob did not get it twice" [ "$(sink_for bob@example.net | wc -l)" = 1 ]
check "renamed back: dave got it" [ -n "$(sink_for dave@example.com)" ]
done_testing
