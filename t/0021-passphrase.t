#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# A signing key protected by a passphrase koverto cannot ask for is a
# temporary failure with a clear message, not a failed mail; once the
# passphrase is preset in gpg-agent (as doc/koverto.8 shows for unattended
# use), the mail goes out.
. "$T/lib.sh"
setup
"$GPG" --homedir "$W/g" --batch --pinentry-mode loopback --passphrase 'pat secret' \
	--quick-gen-key 'Pat Protected <pat@example.org>' ed25519 sign never 2>/dev/null
pat=$("$GPG" --homedir "$W/g" --with-colons --list-secret-keys pat@example.org | awk -F: '$1=="fpr" {print $10; exit}')
grip=$("$GPG" --homedir "$W/g" --with-colons --with-keygrip --list-secret-keys pat@example.org | awk -F: '$1=="grp" {print $10; exit}')
check "a passphrase-protected key for pat" [ -n "$pat" ] && [ -n "$grip" ]

printf 'From: pat@example.org\nTo: dave@example.com\nSubject: pp\n\nPP\n' | submit sign-only
oneshot
check "passphrase needed: deferred (75), not failed" [ "$STATUS" = 75 ]
check "nothing was sent" [ "$(sink_count)" = 0 ]
check "the log says a passphrase is needed" grep -qi "passphrase" "$W/log"
check "the mail waits in cur/" [ "$(ls "$W/q/sign-only/cur" | wc -l)" = 1 ]

echo allow-preset-passphrase >> "$W/g/gpg-agent.conf"
gpgconf --homedir "$W/g" --reload gpg-agent
/usr/lib/gnupg/gpg-preset-passphrase --homedir "$W/g" --preset -P 'pat secret' "$grip" 2>/dev/null ||
	GNUPGHOME="$W/g" /usr/lib/gnupg/gpg-preset-passphrase --preset -P 'pat secret' "$grip"
oneshot
check "after gpg-preset-passphrase: delivered" [ "$STATUS" = 0 ]
"$GPG" --homedir "$W/g" --export "$pat" | "$GPG" --homedir "$W/r" --batch --quiet --import 2>/dev/null
verify_signed "$(sink_files)"
check "signed by pat's key" grep -q "VALIDSIG $pat" "$W/verify.status"
done_testing
