#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Keys from a directory per listener client (issue 14: "one application
# limited to its own set of keys"), and koverto -n. The global keydir has
# judy's OLDER key; clients of the same queue (fallback):
# - std (no keydir of its own): judy gets her file's key;
# - plain (keydir =): the directory is off, the keyring's newer key;
# - strict (keydir-only = yes): bob, who has no file, gets no key: his
#   mail is signed, not encrypted, though the keyring has his key.
# koverto -n: a keydir (global, queue, client) that is missing or not
# readable is a configuration error, exit 78.
. "$T/lib.sh"
setup
KD=$W/kd
mkdir "$KD"
cp "$T/keys/judy-old.pub.asc" "$KD/judy@example.net.asc"
KOVERTO_LINES="keydir = $KD"
listen_config \
	"[client std]" "password = $(hash_pw std-pw)" "queue = fallback" "senders = .*@example\\.org" \
	"[client plain]" "password = $(hash_pw plain-pw)" "queue = fallback" "senders = .*@example\\.org" \
	"keydir =" \
	"[client strict]" "password = $(hash_pw strict-pw)" "queue = fallback" "senders = .*@example\\.org" \
	"keydir-only = yes"
check "koverto -n takes the keydirs" "$KOVERTO" -c "$CONF" -n
t0=$(date +%s)
start_listener

send() { # CLIENT TO SUBJECT
	swaks_tls "$1" "$1-pw" alice@example.org "$2" --header "Subject: $3" --body "BODY-$3" \
		> "$W/swaks.$3" 2>&1
	check "$1: mail $3 accepted" grep -q '^<~  250 2.0.0' "$W/swaks.$3"
}
send std judy@example.net std-judy
send plain judy@example.net plain-judy
send strict bob@example.net strict-bob
send std bob@example.net std-bob
check "four mails reach the sink" wait_sink 4
stop_daemon

subkey() {
	"$GPG" --homedir "$W/r" --batch --with-colons --list-keys "$(fpr "$1")" 2>/dev/null |
		awk -F: '$1 == "sub" && $12 ~ /e/ { print $5 }'
}
got() { grep -l "^Subject: $1[[:space:]]*\$" "$SINK"/*.eml 2>/dev/null | head -1; }
enc_ids() { decrypt "$1" > "$W/plain" && enc_to | tr '\n' ' '; }
check "std: judy's file's key (the older)" [ "$(enc_ids "$(got std-judy)")" = "$(subkey judy-old) " ]
check "plain (keydir =): the keyring's newer key" [ "$(enc_ids "$(got plain-judy)")" = "$(subkey judy-new) " ]
f=$(got strict-bob)
check "strict (keydir-only): bob's mail is signed, not encrypted" [ "$(content_type "$f")" = multipart/signed ]
check "strict: the outcome line says keysrc=keydir" grep -q "to=<bob@example.net> .*keysrc=keydir" "$W/log"
check "std: bob's keyring key" [ "$(enc_ids "$(got std-bob)")" = "$(subkey bob) " ]
diag "took $(($(date +%s) - t0)) s"

# koverto -n: missing or unreadable keydirs, at each level.
n_status() { "$KOVERTO" -c "$1" -n > /dev/null 2> "$W/n.err"; echo $?; }
sed "s|^keydir = .*|keydir = $W/nokeys|" "$CONF" > "$W/bad1.conf"; chmod 600 "$W/bad1.conf"
check "-n: a missing global keydir exits 78" [ "$(n_status "$W/bad1.conf")" = 78 ]
check "-n: ... and names it" grep -q "key \"keydir\": not a directory: \"$W/nokeys\"" "$W/n.err"
sed "s|^keydir =\$|keydir = $W/sink/000001.eml|" "$CONF" > "$W/bad2.conf"; chmod 600 "$W/bad2.conf"
check "-n: a client keydir that is a file exits 78" [ "$(n_status "$W/bad2.conf")" = 78 ]
check "-n: ... in [client plain]" grep -q 'key "keydir" in \[client plain\]: not a directory' "$W/n.err"
if [ "$(id -u)" != 0 ]; then
	chmod 000 "$KD"
	check "-n: an unreadable keydir exits 78" [ "$(n_status "$CONF")" = 78 ]
	check "-n: ... cannot read" grep -q "cannot read directory \"$KD\": Permission denied" "$W/n.err"
	chmod 700 "$KD"
fi
done_testing
