#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Keys from a git repository (issue 14): the files koverto refuses, each
# deployed by a `git pull` while mails to its address go out under
# must-encrypt: a file with two keys (frank's and jimbob's), a file whose
# key lacks the file's address (dave@example.com.asc holding bob's key), a
# revoked key (ivan). Each is refused with its reason, logged once (not
# again on later loads while the file stays as it is), shown by
# `koverto explain` (text and --json); its address gets no key from it
# (dave's mail is never encrypted to bob), every mail to it is refused and
# none leaks in plaintext. Then the commit that fixes frank's file: his
# next mail is encrypted to his key, which the keyring alone does not
# trust (unknown validity): the directory's keys are the verified ones.
. "$T/lib.sh"
. "$T/keydir-repo.sh"
setup
trap keydir_cleanup EXIT
keydir_supported
keydir_repo
keydir_publish k3-delete
keydir_deploy
write_config "keydir = $KEYS"
FRANK=$(subkey_id frank) BOB=$(subkey_id bob)
t0=$(date +%s)

# refusals FILE: "keydir refused:" lines for FILE (logfmt quotes the name
# only when it must).
refusals() { grep -E "keydir refused: dir=$KEYS file=\"?$1\"? " "$W/log" 2>/dev/null | wc -l; }
# explain QUEUE ADDRESS [--json]: koverto explain's plan for a mail to ADDRESS.
explain() {
	printf 'From: alice@example.org\nTo: %s\nSubject: explain\n\nbody\n' "$2" |
		"$KOVERTO" explain -c "$CONF" --queue "$1" ${3:+"$3"} 2>>"$W/explain.err"
}

start_daemon
check "a keydir load at start" keydir_wait_load 0
# pull TAG NAME ADDRESS FILE REASON: pull TAG while mails NAME-i go to ADDRESS
# under must-encrypt; FILE is refused for REASON (a fixed string of it); all
# the mails are refused, none leaks; explain shows it.
pull() {
	tag=$1 nm=$2 addr=$3 file=$4 reason=$5
	keydir_publish "$tag"
	during must-encrypt "$addr" "$nm" kgit -C "$KEYS" pull -q --ff-only
	check "$nm: git pull of $tag worked" [ "$CSTATUS" = 0 ]
	n=$(burst_sent)
	check "$nm: all $n mails to $addr refused" wait_for 30 out_or_refused "$nm" "$n"
	check "$nm: none went out" [ -z "$(subject "$nm")" ]
	check "$nm: none of them in plaintext" no_leak "$nm"
	line=$(grep -E "keydir refused: dir=$KEYS file=\"?$file\"? " "$W/log" | tail -1)
	diag "${line#*: }"
	check "$nm: $file refused once, logged with its reason" \
		sh -c "[ $(refusals "$file") = 1 ] && echo '$line' | grep -qiF -- '$reason'"
	if [ -n "$LIGHT" ] && [ "$nm" != two-keys ]; then
		diag "LIGHT (valgrind): explain checked for two-keys only"
		return
	fi
	explain must-encrypt "$addr" > "$W/explain.$nm"
	check "$nm: explain refuses the mail and says why the file was refused" \
		sh -c "grep -q '^verdict: refused' '$W/explain.$nm' && grep -i 'keydir' '$W/explain.$nm' | grep -qiF -- '$reason'"
	explain must-encrypt "$addr" --json > "$W/explain.$nm.json"
	check "$nm: explain --json: source keyring, the file's refusal reason" \
		"$PY" -c 'import json,sys; k = json.load(open(sys.argv[1]))["recipients"][0]["key"]; sys.exit(not (k["source"] == "keyring" and sys.argv[2].lower() in (k["keydir_refused"] or "").lower()))' \
		"$W/explain.$nm.json" "$reason"
}
pull k4-two-keys two-keys frank@example.net frank@example.net.asc "holds 2 keys"
pull k5-no-address no-address dave@example.com dave@example.com.asc "no user ID with address dave@example.com"
check "no-address: bob's key from dave's file is not used for dave" [ -z "$(sink_for dave@example.com)" ]
pull k6-revoked revoked ivan@example.net ivan@example.net.asc "revoked"
check "each refusal logged once, not again on the later loads" \
	[ "$(refusals frank@example.net.asc) $(refusals dave@example.com.asc)" = "1 1" ]

# Under fallback, a refused file's address gets a signed mail, not one
# encrypted to the refused key.
kmail fallback dave@example.com fallback-dave-1
check "fallback to dave (file refused): out" wait_for 20 all_out fallback-dave 1
check "fallback to dave: signed, not encrypted (to bob's key)" [ "$(content_type "$(subject fallback-dave)")" = multipart/signed ]

# The fix: frank's file with his key only.
keydir_publish k7-fixed
loads=$(keydir_loads)
kgit -C "$KEYS" pull -q --ff-only
check "fixed: a load after the pull" keydir_wait_load "$loads"
kmail must-encrypt frank@example.net fixed-frank-1
kmail fallback frank@example.net fixed-frank-2
check "fixed: two mails to frank out" wait_for 20 all_out fixed-frank 2
check "fixed: both encrypted to frank's subkey (valid through the directory)" enc_all_to fixed-frank 2 "$FRANK"
check "fixed: no refusal logged for the fixed file" [ "$(refusals frank@example.net.asc)" = 1 ]
explain must-encrypt frank@example.net > "$W/explain.fixed"
check "fixed: explain says source keydir, the file and the fingerprint" \
	sh -c "grep -Eq 'source:? keydir.*frank@example.net.asc' '$W/explain.fixed' && grep -q '^  key: $(fpr frank)' '$W/explain.fixed'"
explain must-encrypt frank@example.net --json > "$W/explain.fixed.json"
check "fixed: explain --json: source keydir, file, fingerprint, nothing refused" \
	"$PY" -c 'import json,sys; k = json.load(open(sys.argv[1]))["recipients"][0]["key"]; sys.exit(not (k["source"] == "keydir" and k["keydir_file"] == "frank@example.net.asc" and k["chosen"]["fingerprint"] == sys.argv[2] and not k["keydir_refused"]))' \
	"$W/explain.fixed.json" "$(fpr frank)"
explain must-encrypt bob@example.net > "$W/explain.bob"
check "explain: bob (his file deleted, his key in the keyring) says source keyring" grep -Eq "source:? keyring" "$W/explain.bob"
check "no mail ever went to dave encrypted to bob's subkey" not_to fallback-dave "$BOB"

stop_daemon
check "the daemon stops cleanly" [ "$STATUS" = 0 ]
diag "$(($(date +%s) - t0)) s with the daemon"
done_testing
