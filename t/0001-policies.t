#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# One plaintext mail into each policy queue; what the sink got is decrypted
# and verified with gpg, never compared as ciphertext.
. "$T/lib.sh"
setup

mail() {
	cat <<MAIL
From: Alice Sender <alice@example.org>
To: Bob <bob@example.net>, dave@example.com
Subject: $1
Message-ID: <$1@example.org>

Secret body $1: the eagle lands at noon.
MAIL
}

mail fallback-one | submit fallback
mail sign-only-one | submit sign-only
oneshot
check "one-shot run exits 0" [ "$STATUS" = 0 ]
check "three copies reached the sink" [ "$(sink_count)" = 3 ]

# fallback: bob encrypted, dave signed
f=$(grep -l "Subject: fallback-one" $(sink_for bob@example.net))
check "fallback: bob's copy is multipart/encrypted" [ "$(content_type "$f")" = multipart/encrypted ]
check "fallback: bob's copy holds no plaintext" sh -c "! grep -q 'eagle' '$f'"
decrypt "$f" > "$W/plain"
check "fallback: bob's copy decrypts to the body" grep -q "Secret body fallback-one" "$W/plain"
check "fallback: bob's copy is signed by alice inside" grep -q "GOODSIG" "$W/decrypt.status"
check "fallback: encrypted to bob's key only" [ "$(enc_to)" = "$(enc_subkey bob@example.net)" ]
check "fallback: outer Subject stays outside" grep -q "^Subject: fallback-one" "$f"
check "fallback: bob's copy envelope is bob only" [ "$(envelope "$f" rcpt_tos)" = bob@example.net ]
check "fallback: envelope sender is alice" [ "$(envelope "$f" mail_from)" = alice@example.org ]
d=$(grep -l "Subject: fallback-one" $(sink_for dave@example.com))
check "fallback: dave's copy is multipart/signed" [ "$(content_type "$d")" = multipart/signed ]
check "fallback: dave's signature verifies" verify_signed "$d"
check "fallback: signed by alice" grep -q "VALIDSIG $(fpr alice)" "$W/verify.status"
check "fallback: micalg is declared" grep -qi 'micalg="\{0,1\}pgp-sha' "$d"

# sign-only: everybody signed, nobody encrypted
s=$(grep -l "Subject: sign-only-one" $(sink_files))
check "sign-only: one copy for both" [ "$(envelope "$s" rcpt_tos)" = bob@example.net,dave@example.com ]
check "sign-only: multipart/signed" [ "$(content_type "$s")" = multipart/signed ]
check "sign-only: signature verifies" verify_signed "$s"

# log lines
check "log: encrypted copy names key and signer" grep -q "sent encrypted to bob@example.net with key $(fpr bob) signed with key $(fpr alice)" "$W/log"
check "log: signed copy" grep -q "sent signed to dave@example.com with key $(fpr alice)" "$W/log"
check "log: one final key=value line per mail" [ "$(grep -c 'result=sent' "$W/log")" = 2 ]
check "queue is empty afterwards" [ -z "$(find "$W/q/fallback/cur" "$W/q/fallback/new" "$W/q/sign-only/cur" -type f)" ]
done_testing
