#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Keys from a git repository (issue 14, "Tests"): the daemon runs with
# `keydir = ` a real git checkout of verified keys (t/keydir-repo.sh), and
# the host deploys with git: a `git pull` (signature checked first, as
# the README shows) that adds carol's key: her next mail is encrypted to
# her subkey (the PKESK packet's key ID); a pull that replaces judy's old
# key by her new one, while mails to her go out continuously: each one is
# encrypted to the old or the new subkey, none to neither, none refused,
# none in plaintext, and the next one after it to the new subkey; a pull
# that deletes bob's file, with mails during it: the next fallback mail is
# signed only (bob's imported key is not used through the keyring), the
# next must-encrypt mail is refused into failed/; a `git checkout` back to
# the first commit, mails to judy all along: each to her new or old key,
# then her old key again, bob's (retired) key used again, carol refused.
# None of these keys is in koverto's keyring: they come from the
# directory only. Mails go out under must-encrypt during every change, and
# everything the sink got is searched for their bodies.
. "$T/lib.sh"
. "$T/keydir-repo.sh"
setup
trap keydir_cleanup EXIT
keydir_supported
for n in bob carol judy-old judy-new; do
	"$GPG" --homedir "$W/g" --batch --yes --delete-keys "$(fpr "$n")" 2>>"$W/gpg.err" || bail "cannot delete $n"
done
keydir_repo
keydir_deploy
write_config "keydir = $KEYS"
BOB=$(subkey_id bob) CAROL=$(subkey_id carol) OLD=$(subkey_id judy-old) NEW=$(subkey_id judy-new)
t0=$(date +%s)

loads=$(keydir_loads)
start_daemon
check "a keydir load at start" keydir_wait_load "$loads"
diag "$(grep 'keydir loaded:' "$W/log" | tail -1)"
check "the load names the directory and 2 accepted files" grep -q "keydir loaded: dir=$KEYS accepted=2 refused=0" "$W/log"
kmail must-encrypt bob@example.net start-bob-1
kmail must-encrypt carol@example.net start-carol-1
kmail must-encrypt judy@example.net start-judy-1
check "start: bob's and judy's mails out" wait_for 20 all_out start-[bj][a-z]* 2
check "start: carol's refused" wait_for 20 out_or_refused start-carol 1
check "start: bob's mail is encrypted to his subkey" enc_all_to start-bob 1 "$BOB"
check "start: judy's mail to the subkey of her file's key (the 2021 one)" enc_all_to start-judy 1 "$OLD"
check "start: carol has no key yet: refused, not sent" [ -n "$(refused start-carol)" ] && [ -z "$(subject start-carol)" ]

# 1. The host deploys a commit that adds carol: fetch, check the commit's
# signature (alice's key in the operators' keyring, here the reader's),
# fast-forward.
keydir_publish k1-add
deploy() {
	kgit -C "$KEYS" fetch -q origin &&
	kgit -C "$KEYS" verify-commit origin/main 2>>"$W/verify.err" &&
	kgit -C "$KEYS" merge -q --ff-only origin/main
}
during must-encrypt carol@example.net add-carol deploy
check "add: the deploy (fetch, verify-commit, merge) worked" [ "$CSTATUS" = 0 ]
n=$(burst_sent)
check "add: each of $n mails out or refused" wait_for 30 out_or_refused add-carol "$n"
check "add: those that went out are encrypted to carol's subkey" enc_all_to add-carol 2 "$CAROL"
check "add: none of them in plaintext" no_leak add-carol
kmail must-encrypt carol@example.net next-carol-1
check "add: the next mail goes out" wait_for 20 all_out next-carol 1
check "add: the next mail is encrypted to carol's subkey $CAROL" enc_all_to next-carol 1 "$CAROL"

# 2. A pull that replaces judy's key, mails to her all along: each out,
# to the old or the new subkey.
keydir_publish k2-replace
during must-encrypt judy@example.net replace-judy kgit -C "$KEYS" pull -q --ff-only
check "replace: git pull worked" [ "$CSTATUS" = 0 ]
n=$(burst_sent)
check "replace: all $n mails went out" wait_for 30 all_out replace-judy "$n"
check "replace: none refused" [ -z "$(refused replace-judy)" ]
check "replace: each to judy's old or new subkey, never neither" enc_all_to replace-judy 1 "$OLD" "$NEW"
check "replace: none of them in plaintext" no_leak replace-judy
diag "replace: $(for f in $(subject replace-judy); do pkesk "$f"; done | sort | uniq -c | tr '\n' ' ')(old $OLD new $NEW)"
kmail must-encrypt judy@example.net next-judy-1
check "replace: the next mail goes out" wait_for 20 all_out next-judy 1
check "replace: the next mail is encrypted to the new subkey $NEW only" enc_all_to next-judy 1 "$NEW"
check "replace: ... and not to the old one" not_to next-judy "$OLD"

# 3. A pull that deletes bob's file, mails to him all along (must-encrypt:
# out to his key before, refused after, never plaintext).
keydir_publish k3-delete
during must-encrypt bob@example.net delete-bob kgit -C "$KEYS" pull -q --ff-only
check "delete: git pull worked" [ "$CSTATUS" = 0 ]
n=$(burst_sent)
check "delete: each of $n mails out or refused" wait_for 30 out_or_refused delete-bob "$n"
check "delete: those that went out are encrypted to bob's subkey" enc_all_to delete-bob 0 "$BOB"
check "delete: none of them in plaintext" no_leak delete-bob
kmail fallback bob@example.net next-fallback-1
check "delete: the next fallback mail goes out" wait_for 20 all_out next-fallback 1
f=$(subject next-fallback)
check "delete: ... signed, not encrypted: bob's imported key is not used any more" [ "$(content_type "$f")" = multipart/signed ]
check "delete: ... alice's signature verifies" verify_signed "$f"
kmail must-encrypt bob@example.net next-bob-1
check "delete: the next must-encrypt mail is refused into failed/" wait_for 20 out_or_refused next-bob 1
check "delete: ... not sent" [ -n "$(refused next-bob)" ] && [ -z "$(subject next-bob)" ]
check "delete: ... the reason names bob" grep -q 'bob@example.net' "$(refused next-bob).reason"
check "delete: ... nothing of it reached the sink" no_leak next-bob

# 4. Back to the first commit by `git checkout` (a rollback): judy's old
# key again, with mails to her all along; bob's file is back, and his key,
# retired since the delete, is used again; carol's file is gone.
if [ -z "$LIGHT" ]; then
	during must-encrypt judy@example.net rollback-judy kgit -C "$KEYS" checkout -q k0-base
	check "rollback: git checkout k0-base worked" [ "$CSTATUS" = 0 ]
	n=$(burst_sent)
	check "rollback: all $n mails went out" wait_for 30 all_out rollback-judy "$n"
	check "rollback: none refused" [ -z "$(refused rollback-judy)" ]
	check "rollback: each to judy's new or old subkey, never neither" enc_all_to rollback-judy 1 "$OLD" "$NEW"
	check "rollback: none of them in plaintext" no_leak rollback-judy
else
	diag "LIGHT (valgrind): the checkout without mails during it (the replace ran those paths)"
	loads=$(keydir_loads)
	check "rollback: git checkout k0-base worked" kgit -C "$KEYS" checkout -q k0-base
	check "rollback: a load after it" keydir_wait_load "$loads"
fi
kmail must-encrypt judy@example.net back-judy-1
kmail must-encrypt bob@example.net back-bob-1
kmail must-encrypt carol@example.net back-carol-1
check "rollback: judy's and bob's next mails out" wait_for 20 all_out back-[jb][a-z]* 2
check "rollback: carol's next mail refused" wait_for 20 out_or_refused back-carol 1
check "rollback: judy's next mail to her old subkey again" enc_all_to back-judy 1 "$OLD"
check "rollback: bob's next mail to his subkey again" enc_all_to back-bob 1 "$BOB"
check "rollback: carol's mail (file gone) refused, not sent" [ -n "$(refused back-carol)" ] && [ -z "$(subject back-carol)" ]
check "rollback: none of them in plaintext" no_leak back-

stop_daemon
check "the daemon stops cleanly" [ "$STATUS" = 0 ]
diag "$(grep -c 'keydir loaded:' "$W/log") keydir loads; $(($(date +%s) - t0)) s with the daemon"
done_testing
