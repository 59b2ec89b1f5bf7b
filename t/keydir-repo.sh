# SPDX-License-Identifier: GPL-3.0-or-later
# The git repository of verified keys for the keydir tests (issue 14,
# t/0160-0164): sourced after t/lib.sh (needs W, T, GPG and the reader
# keyring $W/r, which holds alice's secret key: alice is the operator who
# signs the commits). One linear history of ADDRESS.asc files from t/keys,
# a tag per scenario:
#   k0-base         README.md, bob@example.net.asc (bob),
#                   judy@example.net.asc (judy-old)
#   k1-add          + carol@example.net.asc (carol)
#   k2-replace      judy@example.net.asc now holds judy-new
#   k3-delete       - bob@example.net.asc
#   k4-two-keys     + frank@example.net.asc holding frank AND jimbob
#   k5-no-address   + dave@example.com.asc holding bob's key (no dave UID)
#   k6-revoked      + ivan@example.net.asc (ivan, revoked)
#   k7-fixed        frank@example.net.asc holds frank only
# keydir_repo makes it in $W/origin (the repository the operators push
# to); keydir_deploy clones it into $W/keys at k0-base, as a host's
# checkout: koverto's `keydir`. keydir_publish TAG moves origin's main to
# TAG (what a push does), so that `git pull` on the host brings it.

# kgit ARGS...: git with a fixed identity and no user or system config.
kgit() {
	GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GNUPGHOME="$W/r" \
	GIT_AUTHOR_NAME='Alice Sender' GIT_AUTHOR_EMAIL=alice@example.org \
	GIT_COMMITTER_NAME='Alice Sender' GIT_COMMITTER_EMAIL=alice@example.org \
		git -c advice.detachedHead=false -c init.defaultBranch=main \
			-c user.signingkey="$(fpr alice)" -c gpg.program="$GPG" "$@"
}

# pub NAME...: the armored public keys of t/keys NAMEs, one after the other.
pub() { for n in "$@"; do cat "$T/keys/$n.pub.asc"; done; }

# subkey_id NAME: the long key ID of NAME's encryption subkey (the key ID a
# PKESK packet names), from the t/keys file alone.
subkey_id() {
	"$GPG" --batch --with-colons --show-keys "$T/keys/$1.pub.asc" 2>/dev/null |
		awk -F: '$1 == "sub" && $12 ~ /e/ { print $5; exit }'
}

# kcommit TAG MESSAGE: commit everything in $W/origin (signed by alice), tag it.
kcommit() {
	kgit -C "$W/origin" add -A &&
	kgit -C "$W/origin" commit -q -S -m "$2" &&
	kgit -C "$W/origin" tag "$1"
}

keydir_repo() {
	o=$W/origin
	kgit init -q "$o" || bail "git init failed"
	cat > "$o/README.md" <<-EOF
	Verified OpenPGP keys, one ADDRESS.asc file per address (koverto keydir).
	EOF
	pub bob > "$o/bob@example.net.asc"
	pub judy-old > "$o/judy@example.net.asc"
	kcommit k0-base "bob and judy (her 2021 key), verified by fingerprint" || bail "git commit failed"
	pub carol > "$o/carol@example.net.asc"
	kcommit k1-add "add carol" || bail "git commit failed"
	pub judy-new > "$o/judy@example.net.asc"
	kcommit k2-replace "judy's new key" || bail "git commit failed"
	kgit -C "$o" rm -q "bob@example.net.asc"
	kcommit k3-delete "bob left" || bail "git commit failed"
	pub frank jimbob > "$o/frank@example.net.asc"
	kcommit k4-two-keys "frank (by mistake with jimbob's key too)" || bail "git commit failed"
	pub bob > "$o/dave@example.com.asc"
	kcommit k5-no-address "dave (by mistake bob's key)" || bail "git commit failed"
	pub ivan > "$o/ivan@example.net.asc"
	kcommit k6-revoked "ivan (revoked)" || bail "git commit failed"
	pub frank > "$o/frank@example.net.asc"
	kcommit k7-fixed "frank: his key only" || bail "git commit failed"
	# origin's main starts at the first commit; keydir_publish moves it.
	kgit -C "$o" reset -q --hard k0-base
	kgit -C "$o" config receive.denyCurrentBranch ignore
}

# keydir_deploy [DIR]: the host's checkout (default $W/keys) of origin's main.
keydir_deploy() {
	KEYS=${1:-$W/keys}
	kgit clone -q "$W/origin" "$KEYS" || bail "git clone failed"
}

# keydir_publish TAG: origin's main is TAG now (a push happened).
keydir_publish() { kgit -C "$W/origin" update-ref refs/heads/main "$1"; }

# keydir_loads: the number of "keydir loaded:" log lines so far.
keydir_loads() { c=$(grep -c 'keydir loaded:' "$W/log" 2>/dev/null); echo "${c:-0}"; }
# keydir_wait_load N: wait until there were more than N loads.
keydir_wait_load() {
	wait_for 10 sh -c "[ \$(grep -c 'keydir loaded:' '$W/log') -gt $1 ]"
}

# pkesk FILE.eml: the key IDs the encrypted mail's PKESK packets name,
# sorted, one a line (from the packets alone: no secret key asked).
pkesk() {
	"$PY" -c 'import email,sys; m = email.message_from_binary_file(open(sys.argv[1], "rb")); sys.stdout.write(m.get_payload()[1].get_payload())' \
		"$1" 2>/dev/null | "$GPG" --homedir "$W/g" --batch --list-packets 2>/dev/null |
		sed -n 's/^:pubkey enc packet:.* keyid \([0-9A-Fa-f]*\).*/\1/p' | tr a-f A-F | sort
}

# keydir_supported: the koverto under test knows `keydir` (W's wiring); else
# the test is skipped (fails under CI=true).
keydir_supported() {
	command -v git >/dev/null 2>&1 || skip_unless_ok "git is not installed (scripts/deps installs it)"
	mkdir -p "$W/kprobe"
	config_file "$W/kprobe.conf" "$W/kprobe/q" "$W/kprobe/log" "keydir = $W/kprobe"
	mkdir -p "$W/kprobe/q"
	if ! "$KOVERTO" -c "$W/kprobe.conf" -n > "$W/kprobe.out" 2>&1; then
		grep -qi 'keydir' "$W/kprobe.out" &&
			skip_unless_ok "this koverto does not know keydir yet: $(head -1 "$W/kprobe.out")"
	fi
	return 0
}

# ---- mails sent during a change ----
# Under valgrind (scripts/memcheck: KOVERTO is a wrapper, KOVERTO_BIN the
# binary) every koverto run is some 20 times slower: LIGHT is set, the tests
# skip the repetitions of code paths they already ran (they say which),
# the mails of a burst are 1 s apart instead of 0.2 s, and mails are
# submitted by the binary itself (koverto submit is checked under valgrind
# by its own tests; the daemon is what runs here).
if [ "$KOVERTO" != "${KOVERTO_BIN:-$KOVERTO}" ]; then LIGHT=1 BURST_PACE=1; else LIGHT='' BURST_PACE=0.2; fi
# At least BURST_MIN mails a burst; BURST_MAX only stops a runaway (a load
# that never comes): a burst runs until burst_stop, so that mails are
# still sent after the change, however long it takes.
BURST_MIN=4 BURST_MAX=80
BURST_PID=
# kmail QUEUE ADDRESS NAME: one mail from alice to ADDRESS into QUEUE; its
# body holds SECRET-NAME (must-encrypt) or OPEN-NAME (other queues).
kmail() {
	case $1 in must-encrypt) m=SECRET ;; *) m=OPEN ;; esac
	printf 'From: alice@example.org\nTo: %s\nSubject: %s\n\n%s-%s must never leave in plaintext.\n' \
		"$2" "$3" "$m" "$3" | "${KOVERTO_BIN:-$KOVERTO}" submit -C "$CONF" --queue "$1" 2>>"$W/submit.err"
}
# burst_start QUEUE ADDRESS NAME: mails NAME-1, NAME-2, ... to ADDRESS in
# the background, one after the other, until burst_stop (and at least
# BURST_MIN, at most BURST_MAX), BURST_PACE s apart (the daemon, not the
# sender, is the slow side: more mails would only queue up); each one
# submitted is a line of $W/burst.sent.
burst_start() {
	: > "$W/burst.sent"
	rm -f "$W/burst.stop"
	(
		i=0
		while [ "$i" -lt "$BURST_MAX" ] && { [ ! -e "$W/burst.stop" ] || [ "$i" -lt "$BURST_MIN" ]; }; do
			i=$((i + 1))
			kmail "$1" "$2" "$3-$i" && echo "$3-$i" >> "$W/burst.sent"
			sleep "$BURST_PACE"
		done
	) &
	BURST_PID=$!
}
burst_sent() { wc -l < "$W/burst.sent"; }
burst_stop() {
	touch "$W/burst.stop"
	[ -n "$BURST_PID" ] && wait "$BURST_PID"
	BURST_PID=
}
# during QUEUE ADDRESS NAME COMMAND...: COMMAND (a git pull or checkout)
# while mails NAME-i go to ADDRESS: half the burst before, then COMMAND,
# then the load it causes, then two more mails. COMMAND's status in CSTATUS.
during() {
	q=$1 a=$2 nm=$3; shift 3
	loads=$(keydir_loads)
	burst_start "$q" "$a" "$nm"
	wait_for 30 sh -c "[ \$(wc -l < '$W/burst.sent') -ge $((BURST_MIN / 2)) ]"
	CSTATUS=0
	"$@" || CSTATUS=$?
	keydir_wait_load "$loads" || diag "no 'keydir loaded' line after: $*"
	n=$(burst_sent)
	wait_for 30 sh -c "[ \$(wc -l < '$W/burst.sent') -ge $((n + 2)) ]"
	burst_stop
}
# failed_count: mails of the policy queues in failed/ so far.
failed_count() { find "$W/q/failed" -name '*.reason' 2>/dev/null | wc -l; }
# refused NAME: the mails NAME-i in failed/ (the mail's own file there).
refused() {
	for f in "$W"/q/failed/*; do
		case $f in *.reason) continue ;; esac
		grep -qE "^Subject: $1-[0-9]+[[:space:]]*\$" "$f" 2>/dev/null && echo "$f"
	done
}
# out_or_refused NAME N: N mails NAME-i are at the sink or in failed/
# (for wait_for; a deferred mail is neither).
out_or_refused() { [ $(($(subject "$1" | wc -l) + $(refused "$1" | wc -l))) -ge "$2" ]; }
# all_out NAME N: N mails NAME-i are at the sink.
all_out() { [ "$(subject "$1" | wc -l)" -ge "$2" ]; }
# enc_all_to NAME MIN KEYID...: at least MIN mails NAME-i reached the sink,
# and each is multipart/encrypted to one of the KEYIDs (PKESK key IDs).
enc_all_to() {
	nm=$1 min=$2; shift 2
	c=0
	for f in $(subject "$nm"); do
		c=$((c + 1))
		[ "$(content_type "$f")" = multipart/encrypted ] || { diag "$f: $(content_type "$f")"; return 1; }
		ids=$(pkesk "$f")
		hit=
		for k in "$@"; do echo "$ids" | grep -qx "$k" && hit=1; done
		[ -n "$hit" ] || { diag "$f: encrypted to $(echo "$ids" | tr '\n' ' '), not to any of $*"; return 1; }
	done
	[ "$c" -ge "$min" ] || { diag "$nm: $c mails at the sink, expected at least $min"; return 1; }
}
# no_leak PREFIX: no SECRET-PREFIX marker readable in anything the sink got
# (raw or after decoding any MIME part: t/no-plaintext.py).
no_leak() { "$PY" "$T/no-plaintext.py" "$SINK" "SECRET-$1"; }
# subject NAME: the .eml files at the sink whose Subject is NAME-<number>
# (the subject travels in the clear).
subject() { grep -lE "^Subject: $1-[0-9]+[[:space:]]*\$" "$SINK"/*.eml 2>/dev/null; }
# keydir_cleanup: the burst sender too, then lib.sh's cleanup.
keydir_cleanup() {
	[ -n "$BURST_PID" ] && { touch "$W/burst.stop"; kill "$BURST_PID" 2>/dev/null; wait "$BURST_PID" 2>/dev/null; }
	cleanup
}
# not_to NAME KEYID: no mail NAME-i at the sink names a PKESK for KEYID.
not_to() {
	for f in $(subject "$1"); do pkesk "$f" | grep -qx "$2" && return 1; done
	return 0
}
