#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Already encrypted is decided from the bytes, not the label (issue 10 A1).
# Each way of labelling plaintext as ciphertext is sent from must-encrypt to
# dave, who has no key: nothing may reach the sink readable (raw or any
# decoded MIME part), and the mail is refused. Genuine PGP/MIME (gpg, in
# Thunderbird's wrapping) and S/MIME (openssl smime) still pass unchanged:
# the same ciphertext, in koverto's own wrapping (no preamble, no part
# descriptions).
. "$T/lib.sh"
setup
no_leak() { "$PY" "$T/no-plaintext.py" "$SINK" "$@"; }
hdr() { printf 'From: alice@example.org\nTo: dave@example.com\nSubject: %s\nMIME-Version: 1.0\n' "$1"; }

printf 'Content-Type: text/plain\n\nthe real secret\n' > "$W/inner"
"$GPG" --homedir "$W/g" --batch --quiet --trust-model always --armor --encrypt \
	-r bob@example.net -o "$W/pgp.asc" "$W/inner"
pgp_parts() { # PROLOGUE EPILOGUE [EXTRA PART]
	printf 'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b"\n\n%s' "$1"
	printf -- '--b\nContent-Type: application/pgp-encrypted\nContent-Description: PGP/MIME version identification\n\nVersion: 1\n\n'
	printf -- '--b\nContent-Type: application/octet-stream; name="encrypted.asc"\nContent-Description: OpenPGP encrypted message\nContent-Disposition: inline; filename="encrypted.asc"\n\n'
	cat "$W/pgp.asc"
	printf '\n%s--b--\n%s' "${3:-}" "$2"
}

# 1. A text/plain part beside the PGP parts.
{ hdr third; pgp_parts "" "" "--b
Content-Type: text/plain

LEAK-THIRD-PART must never leak
"; } | submit must-encrypt
# 2. text/plain where the ciphertext belongs.
{ hdr second; printf 'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b"\n\n'
  printf -- '--b\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\n--b\nContent-Type: text/plain\n\nLEAK-SECOND-PART must never leak\n--b--\n'; } |
	submit must-encrypt
# 3. Two Content-Type fields: GMime reads the last, mail readers the first.
{ hdr two-types; printf 'Content-Type: text/plain\nContent-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b"\n\n'
  printf 'LEAK-TWO-TYPES must never leak\n'; } | submit must-encrypt
# 4. An S/MIME label on base64 plaintext.
{ hdr smime-label; printf 'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\nContent-Transfer-Encoding: base64\n\n'
  printf 'LEAK-SMIME-LABEL must never leak\n' | base64; } | submit must-encrypt
oneshot
check "labels on plaintext: refused (exit 1)" [ "$STATUS" = 1 ]
check "labels on plaintext: no marker reached the sink, raw or decoded" \
	no_leak LEAK-THIRD-PART LEAK-SECOND-PART LEAK-TWO-TYPES LEAK-SMIME-LABEL
check "labels on plaintext: all four refused, none passed on" \
	[ "$(grep -c 'result=failed reason="refused: no usable key for dave@example.com' "$W/log")" = 4 ]
check "labels on plaintext: the log says why they are not ciphertext" \
	[ "$(grep -c 'labelled encrypted but not ciphertext' "$W/log")" = 4 ]

# 5. Plaintext in the preamble and the epilogue of genuine PGP/MIME: the
# ciphertext goes out, in koverto's wrapping, without them.
{ hdr around; pgp_parts "LEAK-PREAMBLE must never leak
" "LEAK-EPILOGUE must never leak
"; } | submit must-encrypt
oneshot
check "preamble/epilogue: the ciphertext passed (exit 0)" [ "$STATUS" = 0 ]
check "preamble/epilogue: no marker reached the sink" no_leak LEAK-PREAMBLE LEAK-EPILOGUE
f=$(sink_for dave@example.com | tail -1)
check "preamble/epilogue: dave got the ciphertext" grep -qF "$(sed -n 3p "$W/pgp.asc")" "$f"

# Genuine PGP/MIME in Thunderbird's wrapping: passes, same ciphertext,
# readable by bob; the preamble and part descriptions are koverto's now.
{ hdr genuine-pgp; pgp_parts "This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)
" ""; } | submit must-encrypt
oneshot
f=$(sink_for dave@example.com | tail -1)
check "genuine PGP/MIME: passed on (exit 0)" [ "$STATUS" = 0 ]
check "genuine PGP/MIME: logged as already encrypted" grep -q "already encrypted" "$W/log"
decrypt "$f" > "$W/dec" 2>/dev/null
check "genuine PGP/MIME: decrypts to the original" cmp -s "$W/dec" "$W/inner"
check "genuine PGP/MIME: not re-encrypted (one session key, to bob)" [ "$(enc_to)" = "$(enc_subkey bob@example.net)" ]
check "genuine PGP/MIME: the wrapping is koverto's" sh -c "! grep -q 'OpenPGP/MIME encrypted message\|Content-Description' '$f'"
check "genuine PGP/MIME: the header kept" grep -q "^Subject: genuine-pgp" "$f"

# Genuine S/MIME (openssl smime -encrypt): passes and decrypts.
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=dave -days 30 \
	-keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null
{ hdr genuine-smime | grep -v MIME-Version; openssl smime -encrypt -aes256 -in "$W/inner" "$W/cert.pem"; } |
	submit must-encrypt
oneshot
f=$(sink_for dave@example.com | tail -1)
check "genuine S/MIME: passed on (exit 0)" [ "$STATUS" = 0 ]
check "genuine S/MIME: the header kept" grep -q "^Subject: genuine-smime" "$f"
openssl smime -decrypt -in "$f" -inkey "$W/key.pem" -recip "$W/cert.pem" -out "$W/sdec" 2>"$W/sdec.err"
check "genuine S/MIME: decrypts to the original" sh -c "tr -d '\\r' < '$W/sdec' | cmp -s - '$W/inner'"
done_testing
