#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# must-encrypt through the listener: a client whose queue is must-encrypt
# sends to a recipient without a key (alone, beside a keyed one, as Bcc
# only in the envelope): the listener takes the mail (250), the worker
# refuses it, and nothing the sink received holds the plaintext of the
# body or of an attachment in any transfer encoding. A mail to keyed
# recipients only goes out encrypted.
. "$T/lib.sh"
. "$T/ltest.sh"
lsetup

markers=
# mail MARKER TO: a mail with a body and an attachment holding MARKER.
mail() {
	markers="$markers BODY-$1 ATTACH-$1"
	"$PY" - "$1" "$2" > "$W/$1.eml" <<'PYEOF'
import sys
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "alice@example.org"; m["To"] = sys.argv[2]; m["Subject"] = "must " + sys.argv[1]
m.set_content("BODY-" + sys.argv[1] + " the secret body\n")
m.add_attachment(("ATTACH-" + sys.argv[1] + " secret attachment\n").encode() * 20,
                 maintype="application", subtype="octet-stream", filename="secret.bin")
sys.stdout.write(m.as_string())
PYEOF
}
# send MARKER RCPT...: tick (must-encrypt) sends $W/MARKER.eml to RCPTs.
send() {
	marker=$1; shift
	{
		login tick "$TICK_PW"
		echo "line MAIL FROM:<alice@example.org>"
		echo "expect 250"
		for r in "$@"; do echo "line RCPT TO:<$r>"; echo "expect 250"; done
		echo "line DATA"
		echo "expect 354"
		echo "data $W/$marker.eml"
		echo "expect 250"
		echo "line QUIT"
		echo "expect 221"
	} | raw 2>>"$W/raw.err"
}
failed_count() { ls "$W/q/failed" 2>/dev/null | grep -vc '\.reason$'; }
mail nokey dave@example.com
check "to a recipient without a key: taken (250)" send nokey dave@example.com
mail mixed "bob@example.net, dave@example.com"
check "to bob (key) and dave (none): taken (250)" send mixed bob@example.net dave@example.com
mail bcc bob@example.net
check "to bob, dave only in the envelope (Bcc): taken (250)" send bcc bob@example.net dave@example.com
check "the three are refused by the worker (failed/)" wait_for 30 sh -c "[ \$(ls '$W/q/failed' 2>/dev/null | grep -vc '\.reason\$') -ge 3 ]"
check "nothing of them reached the sink" [ "$(sink_count)" = 0 ]
check "no plaintext of body or attachment in anything the sink got" "$PY" "$T/no-plaintext.py" "$SINK" $markers
mail keyed bob@example.net
check "to keyed recipients only: taken" send keyed bob@example.net carol@example.net
check "delivered" wait_sink 1
for f in $(sink_files); do
	check "$(envelope "$f" rcpt_tos): multipart/encrypted" [ "$(content_type "$f")" = multipart/encrypted ]
done
check "still no plaintext at the sink" "$PY" "$T/no-plaintext.py" "$SINK" $markers BODY-keyed ATTACH-keyed
only_failed() { [ -z "$(find "$W/q" -type f \( -path '*/new/*' -o -path '*/cur/*' -o -path "$W/q/*/tmp/*" \))" ]; }
check "nothing left in the queue but failed/" wait_for 10 only_failed
done_testing
