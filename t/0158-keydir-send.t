#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Keys from a directory, the sending side (issue 14): the daemon with a
# keydir, real gpg, the real sink. judy's file holds her OLDER key (the
# keyring alone takes the newer one), frank's a key the keyring does not
# find valid, carol's file holds bob's key (refused). must-encrypt is
# keydir-only; the queue "plain" turns the directory off.
# - a file's key is the one the mail is encrypted to (the PKESK key ID);
# - keydir-only refuses an address without a file under must-encrypt, and
#   nothing readable reaches the sink;
# - a mail to one keydir and one keyring recipient is one copy to both;
# - the file's subkey is pinned: a newer one the keyring has for that key
#   is not used (it is where the directory is off);
# - per queue: "keydir =" gives the keyring's answer back;
# - explain says source, file, fingerprint and why carol's file was refused.
. "$T/lib.sh"
setup
KD=$W/kd
mkdir "$KD"
cp "$T/keys/judy-old.pub.asc" "$KD/judy@example.net.asc"
cp "$T/keys/frank.pub.asc" "$KD/frank@example.net.asc"
cp "$T/keys/bob.pub.asc" "$KD/carol@example.net.asc"
write_config "keydir = $KD" \
	"[queue must-encrypt]" "keydir-only = yes" \
	"[queue plain]" "policy = fallback" "keydir ="

# subkey NAME: the long key ID of t/keys key NAME's encryption subkey.
subkey() {
	"$GPG" --homedir "$W/r" --batch --with-colons --list-keys "$(fpr "$1")" 2>/dev/null |
		awk -F: '$1 == "sub" && $12 ~ /e/ { print $5 }'
}
JUDY_OLD=$(subkey judy-old)
JUDY_NEW=$(subkey judy-new)
BOB=$(subkey bob)
FRANK=$(subkey frank)
[ -n "$JUDY_OLD" ] && [ -n "$JUDY_NEW" ] && [ -n "$BOB" ] && [ -n "$FRANK" ] || bail "no subkeys"
# judy-old gets a NEWER encryption subkey in koverto's keyring (not in her
# file): gpg would pick it for her key; the file's subkey is pinned.
"$GPG" --homedir "$W/r" --batch --quiet --passphrase '' --quick-add-key "$(fpr judy-old)" cv25519 encr \
	2>>"$W/gpg.err" || bail "cannot add a subkey: $(cat "$W/gpg.err")"
"$GPG" --homedir "$W/r" --batch --export "$(fpr judy-old)" | "$GPG" --homedir "$W/g" --batch --quiet --import 2>>"$W/gpg.err"
JUDY_ADDED=$(subkey judy-old | grep -v "$JUDY_OLD")
[ -n "$JUDY_ADDED" ] || bail "no added subkey"
mail() { printf 'From: alice@example.org\nTo: %s\nSubject: %s\n\nBODY-%s\n' "$1" "$2" "$2"; }
# got MARKER: the .eml of the mail whose subject is MARKER (decrypted: the sink sees
# only the outer header, which keeps the subject).
got() { grep -l "^Subject: $1[[:space:]]*\$" "$SINK"/*.eml 2>/dev/null | head -1; }
# enc_ids FILE.eml: the key IDs its ciphertext is for (PKESK packets), sorted.
enc_ids() {
	decrypt "$1" > "$W/plain" && enc_to | tr '\n' ' '
}

t0=$(date +%s)
start_daemon
mail judy@example.net one | submit must-encrypt
mail bob@example.net two | submit must-encrypt
mail 'judy@example.net, bob@example.net' three | submit fallback
mail frank@example.net four | submit fallback
mail judy@example.net five | submit plain
check "four mails reach the sink" wait_sink 4
check "the refused one is logged" wait_for 20 grep -q "no file in keydir" "$W/log"
stop_daemon
check "daemon stops cleanly" [ "$STATUS" = 0 ]

f=$(got one)
check "judy (must-encrypt): encrypted to her file's key, the older one" [ "$(enc_ids "$f")" = "$JUDY_OLD " ]
check "judy's mail decrypts to its body" grep -q "BODY-one" "$W/plain"
check "bob (must-encrypt, keydir-only, no file): nothing at the sink" [ -z "$(got two)" ]
check "bob: nothing readable anywhere at the sink" no_plaintext "BODY-two"
check "bob: the log says why" grep -q "bob@example.net.*no file in keydir" "$W/log"
f=$(got three)
check "judy + bob (fallback): one copy to both" [ "$(envelope "$f" rcpt_tos)" = "bob@example.net,judy@example.net" ]
check "judy + bob: encrypted to judy's file's key and bob's keyring key" \
	[ "$(enc_ids "$f")" = "$(printf '%s\n%s\n' "$JUDY_OLD" "$BOB" | sort | tr '\n' ' ')" ]
check "the outcome line says keysrc=keydir for judy" \
	grep -q "queue=fallback .*to=<judy@example.net> .*status=sent .* keysrc=keydir\$" "$W/log"
check "the outcome line says keysrc=keyring for bob" \
	grep -q "queue=fallback .*to=<bob@example.net> .*status=sent .* keysrc=keyring\$" "$W/log"
check "no keysrc where the directory is off (queue plain)" sh -c "! grep -q 'queue=plain .*keysrc=' '$W/log'"
f=$(got four)
check "frank (valid only through the directory): encrypted to his key" [ "$(enc_ids "$f")" = "$FRANK " ]
f=$(got five)
check "queue plain (keydir =): the keyring's choice for judy, the newest subkey" [ "$(enc_ids "$f")" = "$JUDY_ADDED " ]

# explain: text and JSON.
"$KOVERTO" explain -c "$CONF" --queue fallback -f alice@example.org --no-mail judy@example.net \
	carol@example.net bob@example.net dave@example.com > "$W/explain" 2>>"$W/explain.err"
check "explain runs" [ $? = 0 ]
diag "$(grep -E '^(keydir|recipient|  source|  keydir|  key)' "$W/explain" | head -20)"
check "explain: judy from the directory, her file" grep -q '^  source: keydir, file "judy@example.net.asc"$' "$W/explain"
check "explain: judy's key is the older one" grep -q "^  key: $(fpr judy-old) " "$W/explain"
check "explain: bob from the keyring" sh -c "sed -n '/^recipient: bob@/,/^recipient/p' '$W/explain' | grep -q '^  source: keyring\$'"
check "explain: carol's file refused, with the reason" \
	sh -c "sed -n '/^recipient: carol@/,/^recipient/p' '$W/explain' | grep -q '^  keydir file refused: .*no user ID with address carol@example.net'"
check "explain: the directory as the daemon published it" \
	grep -q "^keydir: $KD (as the daemon published it)\$" "$W/explain"
# A directory no daemon has published: explain reads it itself, in memory.
cp -r "$KD" "$W/kd2"
sed "s|^keydir = .*|keydir = $W/kd2|" "$CONF" > "$W/kd2.conf" && chmod 600 "$W/kd2.conf"
"$KOVERTO" explain -c "$W/kd2.conf" --queue fallback --no-mail judy@example.net > "$W/explain2" 2>>"$W/explain.err"
check "explain: a directory not published yet is read in memory, and says so" \
	grep -q "^keydir: $W/kd2 (not published by the daemon yet: read here, in memory)\$" "$W/explain2"
check "explain: ... with the same answer for judy" grep -q "^  key: $(fpr judy-old) " "$W/explain2"
check "explain: ... and nothing published by it" [ ! -e "$W/q/.keydir/$(printf %s "$W/kd2" | sha256sum | cut -c1-16)/current" ]
"$KOVERTO" explain -c "$CONF" --queue must-encrypt --json -f alice@example.org --no-mail judy@example.net \
	bob@example.net > "$W/explain.json" 2>>"$W/explain.err"
check "explain --json (must-encrypt): source, file, subkey, not-in-keydir" "$PY" - "$W/explain.json" "$(fpr judy-old)" <<'PYEOF'
import json, sys
p = json.load(open(sys.argv[1]))
assert p["keydir"]["only"] is True and p["keydir"]["published"] is True, p["keydir"]
r = {x["address"]: x["key"] for x in p["recipients"]}
j, b = r["judy@example.net"], r["bob@example.net"]
assert j["source"] == "keydir" and j["keydir_file"] == "judy@example.net.asc", j
assert j["chosen"]["fingerprint"] == sys.argv[2] and j["chosen"]["validity"] == "full", j
assert j["keydir_subkey"] and len(j["keydir_subkey"]) == 40, j
assert b["source"] == "keydir" and b["problem"] == "not-in-keydir" and b["chosen"] is None, b
assert p["verdict"] == "refused" if "verdict" in p else True
PYEOF
# A key whose user ID is not UTF-8 and holds an escape (gpg stores the
# owner's bytes): explain's JSON stays valid and its text has no control.
mkdir -m 700 "$W/u"
"$GPG" --homedir "$W/u" --batch --quiet --passphrase '' --utf8-strings --quick-gen-key \
	"$(printf 'Bad\351\033[2J <u@example.net>')" ed25519 sign,cert never 2>>"$W/gpg.err"
U=$("$GPG" --homedir "$W/u" --batch --with-colons --list-keys 2>/dev/null | awk -F: '$1 == "fpr" { print $10; exit }')
"$GPG" --homedir "$W/u" --batch --quiet --passphrase '' --quick-add-key "$U" cv25519 encr never 2>>"$W/gpg.err"
"$GPG" --homedir "$W/u" --batch --armor --export "$U" > "$KD/u@example.net.asc"
"$GPG" --homedir "$W/u" --batch --armor --export "$U" | "$GPG" --homedir "$W/g" --batch --quiet --import 2>>"$W/gpg.err"
gpgconf --homedir "$W/u" --kill all 2>/dev/null
cp "$KD/u@example.net.asc" "$W/kd2/"
"$KOVERTO" explain -c "$W/kd2.conf" --queue fallback --json -f alice@example.org --no-mail u@example.net \
	> "$W/u.json" 2>>"$W/explain.err"
check "explain --json: valid JSON for a user ID that is not UTF-8" "$PY" -c '
import json, sys
p = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
k = p["recipients"][0]["key"]["chosen"]
assert k is not None and "\x1b" not in json.dumps(k), k' "$W/u.json"
"$KOVERTO" explain -c "$W/kd2.conf" --queue fallback -f alice@example.org --no-mail u@example.net \
	> "$W/u.txt" 2>>"$W/explain.err"
check "explain: no escape character reaches the terminal" sh -c "grep -q '^  key: $U ' '$W/u.txt' && ! grep -q \"\$(printf '\033')\" '$W/u.txt'"
diag "took $(($(date +%s) - t0)) s"
done_testing
