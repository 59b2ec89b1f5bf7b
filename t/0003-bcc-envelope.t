#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Bcc recipients get copies of their own; the envelope decides who gets
# what: explicit envelope > Delivered-To > To/Cc/Bcc.
. "$T/lib.sh"
setup

printf 'From: alice@example.org\nTo: bob@example.net\nCc: carol@example.net\nBcc: judy@example.net, dave@example.com\nSubject: bcc\n\nBCC body\n' | submit fallback
oneshot
check "bcc: exit 0" [ "$STATUS" = 0 ]
check "bcc: three transactions" [ "$(sink_count)" = 3 ]
check "bcc: no Bcc header left anywhere" sh -c "! grep -qi '^Bcc:' '$SINK'/*.eml"
f=$(sink_for bob@example.net)
check "bcc: To/Cc share one encrypted copy" [ "$(envelope "$f" rcpt_tos)" = bob@example.net,carol@example.net ]
decrypt "$f" >/dev/null
check "bcc: that copy is encrypted to bob and carol only" [ "$(enc_to)" = "$(printf '%s\n%s\n' "$(enc_subkey bob@example.net)" "$(enc_subkey carol@example.net)" | sort)" ]
j=$(sink_for judy@example.net)
check "bcc: judy has a copy of her own" [ "$(envelope "$j" rcpt_tos)" = judy@example.net ]
decrypt "$j" >/dev/null
check "bcc: judy's copy is encrypted to judy's newest key alone" [ "$(enc_to)" = "$("$GPG" --homedir "$W/r" --with-colons --list-keys "$(fpr judy-new)" | awk -F: '$1=="sub" && $12 ~ /e/ {print $5}')" ]
d=$(sink_for dave@example.com)
check "bcc: keyless dave is signed only" [ "$(content_type "$d")" = multipart/signed ]
check "bcc: dave's copy goes to dave alone" [ "$(envelope "$d" rcpt_tos)" = dave@example.com ]
rm -f "$SINK"/0*

# Explicit envelope: only carol (not in To/Cc: a Bcc), from the -f sender.
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: env\n\nENV body\n' | submit fallback -f envelope@example.org -oi carol@example.net
oneshot
check "envelope: one copy" [ "$(sink_count)" = 1 ]
c=$(sink_for carol@example.net)
check "envelope: carol only, bob dropped" [ "$(envelope "$c" rcpt_tos)" = carol@example.net ]
check "envelope: sender from -f" [ "$(envelope "$c" mail_from)" = envelope@example.org ]
check "envelope: pseudo-headers removed" sh -c "! grep -qi '^X-Kuvert' '$c'"
rm -f "$SINK"/0*

# Delivered-To from a Maildir-delivering MTA: this copy is carol's only.
m=$W/q/fallback/tmp/mta.1
printf 'Return-Path: <bounce@example.org>\nDelivered-To: carol@example.net\nDelivered-To: relay@example.org\nFrom: alice@example.org\nTo: bob@example.net, carol@example.net\nSubject: dt\n\nDT body\n' > "$m"
mv "$m" "$W/q/fallback/new/mta.1"
oneshot
c=$(sink_files)
check "delivered-to: one copy" [ "$(sink_count)" = 1 ]
check "delivered-to: to carol only" [ "$(envelope "$c" rcpt_tos)" = carol@example.net ]
check "delivered-to: Return-Path is the envelope sender" [ "$(envelope "$c" mail_from)" = bounce@example.org ]
check "delivered-to: Delivered-To not passed on" sh -c "! grep -qi '^Delivered-To' '$c'"
rm -f "$SINK"/0*

# Explicit envelope beats Delivered-To.
printf 'X-Kuvert-To: bob@example.net\nDelivered-To: carol@example.net\nFrom: alice@example.org\nTo: bob@example.net, carol@example.net\nSubject: both\n\nBOTH\n' > "$W/q/fallback/tmp/mta.2"
mv "$W/q/fallback/tmp/mta.2" "$W/q/fallback/new/mta.2"
oneshot
check "explicit > delivered-to: bob only" [ "$(envelope "$(sink_files)" rcpt_tos)" = bob@example.net ]
rm -f "$SINK"/0*

# Group syntax: nobody from the group, the Bcc still gets it.
printf 'From: alice@example.org\nTo: undisclosed-recipients:;\nBcc: bob@example.net\nSubject: group\n\nGROUP\n' | submit fallback
oneshot
check "group syntax: exit 0" [ "$STATUS" = 0 ]
check "group syntax: bob only" [ "$(envelope "$(sink_files)" rcpt_tos)" = bob@example.net ]
done_testing
