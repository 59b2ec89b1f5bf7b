#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# MIME: a multipart mail with 8-bit text and a binary attachment with an
# 8-bit file name, and non-ASCII headers, comes out 7-bit clean with a
# signature that verifies and an attachment that decodes unchanged.
. "$T/lib.sh"
setup
cmp_attachment() { # FILE: the attachment decodes to the original bytes
	"$PY" - "$1" "$W/blob" <<'PYEOF'
import email, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.default)
want = open(sys.argv[2], "rb").read()
for p in m.walk():
    if p.get_filename() == "Bärbel.bin":
        sys.exit(0 if p.get_payload(decode=True) == want else 1)
sys.exit(2)
PYEOF
}
# mime_round BYTES LABEL: the mail with a BYTES-long attachment, through
# koverto and checked. Up to 1 MiB its scratch files are in memory, above
# in the tempdir: both ways must give the same mail.
mime_round() {
	head -c "$1" /dev/urandom > "$W/blob"
	"$PY" - "$W/blob" > "$W/mail" <<'PYEOF'
import sys
from email.message import EmailMessage
from email.policy import SMTP
m = EmailMessage(policy=SMTP.clone(cte_type="8bit"))
m["From"] = "Alice Sender <alice@example.org>"
m["To"] = "Bob <bob@example.net>, dave@example.com"
m["Subject"] = "Grüße aus Köln – ünïcödé"
m.set_content("Ünïcödé body line\nFrom the start of a line\n.\nend with spaces   \n", cte="8bit")
m.add_alternative("<p>Grüße</p>\n", subtype="html", cte="8bit")
m.add_attachment(open(sys.argv[1], "rb").read(), maintype="application", subtype="octet-stream", filename="Bärbel.bin")
sys.stdout.buffer.write(m.as_bytes())
PYEOF
	submit fallback < "$W/mail"
	oneshot
	check "$2: exit 0" [ "$STATUS" = 0 ]
	d=$(sink_for dave@example.com)
	check "$2: signed copy verifies" verify_signed "$d"
	check "$2: signed copy is 7-bit clean" sh -c "! LC_ALL=C grep -q '[^[:print:][:space:]]' '$d'"
	check "$2: no 8bit or binary transfer encoding inside" sh -c "! grep -qi 'Content-Transfer-Encoding: *\(8bit\|binary\)' '$d'"
	check "$2: signed copy: the attachment decodes unchanged with its name" cmp_attachment "$d"
	check "$2: signed copy: the text decodes unchanged" "$PY" -c "
import email,sys
from email import policy
m=email.message_from_binary_file(open('$d','rb'),policy=policy.default)
t=[p for p in m.walk() if p.get_content_type()=='text/plain'][0].get_content()
sys.exit(0 if 'Ünïcödé body line' in t and 'end with spaces   ' in t else 1)"
	b=$(sink_for bob@example.net)
	decrypt "$b" > "$W/inner"
	check "$2: encrypted copy decrypts" [ -s "$W/inner" ]
	check "$2: encrypted copy: the attachment decodes unchanged" cmp_attachment "$W/inner"
	check "$2: the non-ASCII Subject is kept outside, encoded" grep -q "^Subject: =?utf-8?" "$b"
	rm -f "$SINK"/0*
	check "$2: nothing is left in the tempdir" [ -z "$(ls -A "$W/tmp")" ]
}
mime_round 3000 "small"
mime_round 1500000 "over 1 MiB"

# Mail already encrypted passes through a must-encrypt queue unchanged
# (genuine ciphertext: the label alone is not enough, see 0040-ciphertext.t).
printf 'already encrypted secret\n' | "$GPG" --homedir "$W/g" --batch --quiet --trust-model always \
	--armor --encrypt -r bob@example.net > "$W/enc.asc"
{
	printf 'From: alice@example.org\nTo: dave@example.com\nSubject: already\nMIME-Version: 1.0\n'
	printf 'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b1"\n\n'
	printf -- '--b1\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\n'
	printf -- '--b1\nContent-Type: application/octet-stream\n\n'
	cat "$W/enc.asc"
	printf '\n--b1--\n'
} > "$W/enc"
submit must-encrypt < "$W/enc"
oneshot
check "already encrypted: delivered under must-encrypt" [ "$STATUS" = 0 ]
check "already encrypted: passed on unchanged" grep -qF "$(sed -n 3p "$W/enc.asc")" "$(sink_files)"
check "already encrypted: logged" grep -q "already encrypted" "$W/log"
done_testing
