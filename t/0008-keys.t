#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Keys: the newest of two, a signing key per sender and per queue, a key
# that is present but not valid, no signing key at all, and keyring
# changes taking effect without a reload.
. "$T/lib.sh"
setup

subkey_of_fpr() { "$GPG" --homedir "$W/r" --with-colons --list-keys "$1" | awk -F: '$1=="sub" && $12 ~ /e/ {print $5}'; }

printf 'From: Sam <sam@example.org>\nTo: judy@example.net, jimbob@example.net\nSubject: keys\n\nKEYS\n' | submit fallback
oneshot
f=$(sink_for judy@example.net)
decrypt "$f" >/dev/null
check "judy: encrypted to the newest of her two keys (and jimbob)" sh -c "enc_to() { awk '\$2 == \"ENC_TO\" { print \$3 }' '$W/decrypt.status'; }; enc_to | grep -qx '$(subkey_of_fpr "$(fpr judy-new)")' && ! enc_to | grep -qx '$(subkey_of_fpr "$(fpr judy-old)")'"
check "sam's From: signed with sam's own key" grep -q "VALIDSIG $(fpr sam)" "$W/decrypt.status"
check "log names judy's newest key" grep -q "$(fpr judy-new)" "$W/log"
rm -f "$SINK"/0*

printf 'From: alice@example.org\nTo: frank@example.net\nSubject: frank\n\nFRANK\n' | submit fallback
oneshot
check "frank (not valid): signed only" [ "$(content_type "$(sink_files)")" = multipart/signed ]
check "frank: the log says present but not valid" grep -qi "frank@example.net: .*not valid" "$W/log"
rm -f "$SINK"/0*

# The queue's own key wins over From's key.
echo "[queue sign-only]" >> "$CONF"; echo "key = $(fpr sam)" >> "$CONF"
printf 'From: alice@example.org\nTo: dave@example.com\nSubject: qkey\n\nQKEY\n' | submit sign-only
oneshot
verify_signed "$(sink_files)"
check "queue key: signed by sam although From is alice" grep -q "VALIDSIG $(fpr sam)" "$W/verify.status"
rm -f "$SINK"/0*
write_config

# No signing key at all: a copy that would only be signed fails; an
# encrypted one goes out unsigned, and the log says so.
sed -i '/^defaultkey/d' "$CONF"
printf 'From: nobody@example.org\nTo: dave@example.com, bob@example.net\nSubject: nokey\n\nNOKEY-SECRET\n' | submit fallback
oneshot
check "no signing key: failed for dave" [ "$STATUS" = 1 ]
check "no signing key: dave never got it unsigned" [ -z "$(sink_for dave@example.com)" ]
check "no signing key: bob got it encrypted" [ "$(content_type "$(sink_for bob@example.net)")" = multipart/encrypted ]
check "no signing key: log says unsigned" grep -q "unsigned" "$W/log"
check "no signing key: reason recorded" grep -q "no signing key" "$W"/q/failed/*.reason
rm -f "$SINK"/0*
write_config

# Keyring change without reload: carol's key removed while the daemon runs.
rm -f "$SINK"/0*
start_daemon
printf 'From: alice@example.org\nTo: carol@example.net\nSubject: before\n\nBEFORE\n' | submit fallback
wait_sink 1
check "before removal: carol encrypted" [ "$(content_type "$(latest)")" = multipart/encrypted ]
"$GPG" --homedir "$W/g" --batch --yes --delete-keys "$(fpr carol)" 2>/dev/null
printf 'From: alice@example.org\nTo: carol@example.net\nSubject: after\n\nAFTER\n' | submit fallback
wait_sink 2
check "after removal, no reload: carol signed only" [ "$(content_type "$(latest)")" = multipart/signed ]
# koverto keeps what gpg listed while the keyring files stay as they were:
# an import and a trust change alone must each show in the next mail.
"$GPG" --homedir "$W/g" --batch --quiet --import "$T/keys/carol.pub.asc" 2>/dev/null
grep "$(fpr carol)" "$T/keys/ownertrust" | "$GPG" --homedir "$W/g" --batch --import-ownertrust 2>/dev/null
rm -f "$SINK"/0*
printf 'From: alice@example.org\nTo: carol@example.net\nSubject: back\n\nBACK\n' | submit fallback
wait_sink 1
check "imported again, no reload: carol encrypted" [ "$(content_type "$(latest)")" = multipart/encrypted ]
rm -f "$SINK"/0*
printf 'From: alice@example.org\nTo: frank@example.net\nSubject: untrusted\n\nUNTRUSTED\n' | submit fallback
wait_sink 1
check "frank's key not valid: signed only" [ "$(content_type "$(latest)")" = multipart/signed ]
echo "$(fpr frank):6:" | "$GPG" --homedir "$W/g" --batch --import-ownertrust 2>/dev/null
rm -f "$SINK"/0*
printf 'From: alice@example.org\nTo: frank@example.net\nSubject: trusted\n\nTRUSTED\n' | submit fallback
wait_sink 1
check "frank trusted, no reload: encrypted" [ "$(content_type "$(latest)")" = multipart/encrypted ]
done_testing
