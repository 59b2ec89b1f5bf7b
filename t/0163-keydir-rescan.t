#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Keys from a git repository on a file system that reports no changes (a
# bind mount into a container; here KOVERTO_KEYDIR_NO_INOTIFY=1): only the
# periodic rescan (keydir-rescan = 1) sees a `git pull`. A pull that adds
# carol's key and one that replaces judy's, mails going out under
# must-encrypt all along: judy's each to her old or new subkey, none to
# neither, none refused; carol's refused until the rescan took her file,
# then encrypted to her; nothing in plaintext; the next mails use the new
# keys. A file changed less than 2 s before a rescan waits for the next
# one, so the change takes 2 to 3 s here.
. "$T/lib.sh"
. "$T/keydir-repo.sh"
setup
trap keydir_cleanup EXIT
keydir_supported
for n in carol judy-old judy-new; do
	"$GPG" --homedir "$W/g" --batch --yes --delete-keys "$(fpr "$n")" 2>>"$W/gpg.err" || bail "cannot delete $n"
done
keydir_repo
keydir_deploy
write_config "keydir = $KEYS" "keydir-rescan = 1"
CAROL=$(subkey_id carol) OLD=$(subkey_id judy-old) NEW=$(subkey_id judy-new)
t0=$(date +%s)

export KOVERTO_KEYDIR_NO_INOTIFY=1
start_daemon
check "a keydir load at start" keydir_wait_load 0

if [ -z "$LIGHT" ]; then
	keydir_publish k1-add
	during must-encrypt carol@example.net add-carol kgit -C "$KEYS" pull -q --ff-only
	check "add: git pull worked" [ "$CSTATUS" = 0 ]
	n=$(burst_sent)
	check "add: each of $n mails out or refused" wait_for 30 out_or_refused add-carol "$n"
	check "add: those out (at least the 2 after the rescan) are encrypted to carol's subkey" enc_all_to add-carol 2 "$CAROL"
	check "add: none in plaintext" no_leak add-carol
else
	diag "LIGHT (valgrind): the pull that adds a key skipped (the replace runs the same paths)"
fi

keydir_publish k2-replace
during must-encrypt judy@example.net replace-judy kgit -C "$KEYS" pull -q --ff-only
check "replace: git pull worked" [ "$CSTATUS" = 0 ]
n=$(burst_sent)
check "replace: all $n mails went out" wait_for 30 all_out replace-judy "$n"
check "replace: none refused" [ -z "$(refused replace-judy)" ]
check "replace: each to judy's old or new subkey, never neither" enc_all_to replace-judy 1 "$OLD" "$NEW"
check "replace: none in plaintext" no_leak replace-judy
diag "replace: $(for f in $(subject replace-judy); do pkesk "$f"; done | sort | uniq -c | tr '\n' ' ')(old $OLD new $NEW)"
kmail must-encrypt judy@example.net next-judy-1
check "replace: the next mail goes out" wait_for 20 all_out next-judy 1
check "replace: the next mail is encrypted to the new subkey" enc_all_to next-judy 1 "$NEW"
check "replace: ... not to the old one" not_to next-judy "$OLD"
check "no keydir refusal" [ "$(grep -c 'keydir refused:' "$W/log")" = 0 ]

stop_daemon
check "the daemon stops cleanly" [ "$STATUS" = 0 ]
diag "$(grep -c 'keydir loaded:' "$W/log") keydir loads; $(($(date +%s) - t0)) s with the daemon"
done_testing
