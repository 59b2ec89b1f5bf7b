#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# koverto explain says what the daemon does: every key case of t/keys
# (valid, expired, revoked, not valid, no encryption subkey, two keys for
# one address, no key) in every policy queue, from a sender with a key of
# his own and one without (defaultkey), and with a queue's own key, goes
# through explain --json and then through the daemon (koverto -o, the real
# sink): the decision, the key and the signing key explain names are the
# ones the daemon logged and the sink got (t/explain-agree.py). Also:
# explain sends and writes nothing, its JSON parses, and its exit codes.
. "$T/lib.sh"
setup
AGREE="$PY $T/explain-agree.py"
n=0

# one QUEUE SENDER RECIPIENT: explain, then the daemon, then compare.
one() {
	n=$((n + 1))
	printf 'From: %s\nTo: %s\nSubject: explain %s\n\nBODY-%s\n' "$2" "$3" "$n" "$n" > "$W/mail.$n"
	"$KOVERTO" explain -c "$CONF" --queue "$1" --json < "$W/mail.$n" > "$W/plan.$n" 2>>"$W/explain.err" ||
		{ not_ok "$1 $2 -> $3: explain failed: $(tail -1 "$W/explain.err")"; return; }
	cp "$W/plan.$n" "$W/plan.$1.${2%@*}.${3%@*}"
	lines=$(cat "$W/log" 2>/dev/null | wc -l)
	rm -f "$SINK"/0*
	# Queued by the plain binary: submit is not under test here (t/0011
	# runs it under valgrind), explain and the daemon are.
	"${KOVERTO_BIN:-$KOVERTO}" submit -C "$CONF" --queue "$1" < "$W/mail.$n"
	oneshot
	tail -n +"$((lines + 1))" "$W/log" > "$W/log.$n"
	cp "$W/log.$n" "$W/log.$1.${2%@*}.${3%@*}"
	check "$1 from $2 to $3: explain and the daemon agree" $AGREE "$W/plan.$n" "$W/log.$n" "$SINK" "$3"
}

keys="bob@example.net hank@example.net ivan@example.net frank@example.net erin@example.net judy@example.net dave@example.com"
# Under valgrind (scripts/memcheck) a sample of the matrix, the same code
# paths at less than half the cost (two koverto runs a case): every key
# from sam in fallback, a key, an expired one and none in must-encrypt, a
# key and no key otherwise.
few="bob@example.net dave@example.com"
[ "$KOVERTO" != "${KOVERTO_BIN:-$KOVERTO}" ] && sample=1 || sample=
for q in must-encrypt fallback sign-only; do
	for s in sam@example.org nobody@example.org; do
		rs=$keys
		[ -n "$sample" ] && { [ "$q" = sign-only ] || [ "$s" = nobody@example.org ]; } && rs=$few
		[ -n "$sample" ] && [ "$q.$s" = must-encrypt.sam@example.org ] && rs="$few hank@example.net"
		for r in $rs; do one "$q" "$s" "$r"; done
	done
done
# The cases themselves, as explain tells them (so that agreeing is not
# agreeing on nothing): d QUEUE.SENDER.RECIPIENT (local parts) EXPR.
d() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); r=d['recipients'][0]; print($2)" "$W/plan.$1"; }
check "bob: encrypted to his key" [ "$(d fallback.sam.bob "r['decision'], r['key']['chosen']['fingerprint']")" = "encrypt $(fpr bob)" ]
check "hank: expired" [ "$(d fallback.sam.hank "r['decision'], r['key']['problem']")" = "sign expired" ]
check "ivan: revoked" [ "$(d fallback.sam.ivan "r['key']['problem']")" = "revoked" ]
check "frank: not valid in the web of trust" [ "$(d fallback.sam.frank "r['key']['problem']")" = "not-valid" ]
check "erin: no encryption subkey" [ "$(d fallback.sam.erin "r['key']['problem']")" = "no-encryption-subkey" ]
check "judy: two candidates, the newer wins" [ "$(d fallback.sam.judy "len(r['key']['candidates']), r['key']['chosen']['fingerprint']")" = "2 $(fpr judy-new)" ]
check "dave: no key" [ "$(d fallback.sam.dave "r['key']['problem']")" = "not-found" ]
check "sam signs with his own key" [ "$(d fallback.sam.bob "d['signer']['source'], d['signer']['key']['fingerprint']")" = "sender $(fpr sam)" ]
check "nobody: defaultkey signs" [ "$(d fallback.nobody.bob "d['signer']['source'], d['signer']['key']['fingerprint']")" = "defaultkey $(fpr alice)" ]
check "must-encrypt without a key: refused" [ "$(d must-encrypt.sam.hank "d['verdict']")" = refused ]

# A queue's own key wins over the sender's.
echo "[queue sign-only]" >> "$CONF"; echo "key = $(fpr sam)" >> "$CONF"
one sign-only alice@example.org dave@example.com
check "queue key: explain names it" [ "$(d $n "d['signer']['source'], d['signer']['key']['fingerprint']")" = "configured $(fpr sam)" ]
write_config

# Bcc copies: To and each Bcc apart, as the daemon sends them.
printf 'From: sam@example.org\nTo: bob@example.net\nBcc: carol@example.net, judy@example.net\nSubject: bcc\n\nBCC\n' > "$W/bcc"
"$KOVERTO" explain -c "$CONF" --queue must-encrypt --json < "$W/bcc" > "$W/plan.bcc"
check "bcc: three copies, two of them bcc" [ "$("$PY" -c "import json,sys; print([c['bcc'] for c in json.load(open(sys.argv[1]))['copies']])" "$W/plan.bcc")" = "[False, True, True]" ]
rm -f "$SINK"/0*
submit must-encrypt < "$W/bcc"
oneshot
check "bcc: the daemon sent three transactions" [ "$(sink_count)" = 3 ]

# The checker sees a disagreement: explain's plan with a decision changed.
"$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); d['recipients'][0]['decision']='sign'; json.dump(d, open(sys.argv[2], 'w'))" "$W/plan.fallback.sam.bob" "$W/plan.wrong"
check "a wrong plan does not agree" sh -c "! $AGREE '$W/plan.wrong' '$W/log.fallback.sam.bob' /nonexistent bob@example.net >/dev/null"
"$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); d['recipients'][0]['key']['chosen']['fingerprint']='$(fpr judy-old)'; json.dump(d, open(sys.argv[2], 'w'))" "$W/plan.fallback.sam.judy" "$W/plan.wrong"
check "a wrong key does not agree" sh -c "! $AGREE '$W/plan.wrong' '$W/log.fallback.sam.judy' /nonexistent judy@example.net >/dev/null"

# --no-mail: the addresses alone give the same answer as a mail to them.
"$KOVERTO" explain -c "$CONF" --queue fallback --json -f sam@example.org --no-mail judy@example.net hank@example.net > "$W/nomail"
check "--no-mail: same decisions and keys as with a mail" "$PY" - "$W/nomail" "$W/plan.fallback.sam.judy" "$W/plan.fallback.sam.hank" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
for r, f in zip(d["recipients"], sys.argv[2:]):
    m = json.load(open(f))["recipients"][0]
    assert (r["address"], r["decision"], r["key"]["chosen"]) == (m["address"], m["decision"], m["key"]["chosen"]), (r, m)
PYEOF

# Text output: one line per fact, the verdict and the key.
"$KOVERTO" explain -c "$CONF" --queue must-encrypt -f sam@example.org --no-mail bob@example.net dave@example.com > "$W/text"
check "text: refused, and why" grep -qx "refusal: refused: no usable key for dave@example.com (no key)" "$W/text"
check "text: bob's key" grep -q "^  key: $(fpr bob) \"Bob Keyed <bob@example.net>\" validity=ultimate" "$W/text"

# It sends nothing and writes nothing: the queue, the state, the log and
# the sink are as they were.
snap() { (cd "$W" && find q tmp -printf '%p %s %T@\n' 2>/dev/null | sort; cat log | wc -l; ls sink | wc -l); }
rm -f "$SINK"/0*
snap > "$W/before"
for q in must-encrypt fallback sign-only; do
	"$KOVERTO" explain -c "$CONF" --queue "$q" < "$W/mail.1" > /dev/null
	"$KOVERTO" explain -c "$CONF" --queue "$q" --json --no-mail bob@example.net judy@example.net > "$W/json.$q"
	check "$q: --json parses" "$PY" -m json.tool "$W/json.$q" /dev/null
done
snap > "$W/after"
check "explain wrote nothing and sent nothing" cmp -s "$W/before" "$W/after"

# Exit codes.
code() { "$@" > /dev/null 2>&1; echo $?; }
check "refused must-encrypt: exit 0" [ "$(code "$KOVERTO" explain -c "$CONF" --queue must-encrypt --no-mail dave@example.com)" = 0 ]
check "unknown queue: 64" [ "$(code "$KOVERTO" explain -c "$CONF" --queue nope --no-mail bob@example.net)" = 64 ]
check "--no-mail without addresses: 64" [ "$(code "$KOVERTO" explain -c "$CONF" --no-mail)" = 64 ]
check "not a mail: 65" sh -c "echo garbage | '$KOVERTO' explain -c '$CONF' --queue fallback >/dev/null 2>&1; [ \$? = 65 ]"
check "no configuration: 78" [ "$(code "$KOVERTO" explain -c "$W/none.conf" --no-mail bob@example.net)" = 78 ]
done_testing
