#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Keys from a directory, the watcher's side (issue 14): the daemon loads
# the keydir at start, imports what the keyring lacks (keep-uid: only the
# file's address) and publishes <queuedir>/.keydir/<hash>/current; a file
# added appears in the manifest within the debounce; a file written in two
# halves 3 s apart is neither read half nor refused, and is taken once
# closed; a delete and a write 50 ms apart (git checkout) are one load;
# with inotify off (KOVERTO_KEYDIR_NO_INOTIFY=1, the tests' switch) the
# keydir-rescan finds a changed file whose mtime was set back 10 s.
. "$T/lib.sh"
setup
K=$W/keys
mkdir "$K"
# carol and judy's newer key are not in koverto's keyring: the keydir brings them.
"$GPG" --homedir "$W/g" --batch --yes --quiet --delete-keys "$(fpr carol)" "$(fpr judy-new)" ||
	bail "cannot delete keys"
cp "$T/keys/bob.pub.asc" "$K/bob@example.net.asc"
write_config "keydir = $K"
S=$W/q/.keydir/$(printf %s "$K" | sha256sum | cut -c1-16)
MAN=$S/current
gen() { sed -n 's/^generation //p' "$MAN"; }
loads() { grep -c "keydir loaded:" "$W/log"; }
ring_uids() { "$GPG" --homedir "$W/g" --batch --with-colons --list-keys "$1" 2>/dev/null | awk -F: '$1 == "uid" { print $10 }'; }
ms() { date +%s%3N; }

start_daemon
check "the manifest is published at start" grep -q "^entry bob@example.net bob@example.net.asc " "$MAN"
check "the snapshot directory is 0700" [ "$(stat -c %a "$S")" = 700 ]
check "a load was logged" grep -q "keydir loaded: dir=$K accepted=1 refused=0" "$W/log"
check "bob's key, the keyring's own, is not koverto's" sh -c "! grep -q '^imported $(fpr bob)' '$MAN'"

# A file added.
t0=$(ms)
cp "$T/keys/carol.pub.asc" "$K/carol@example.net.asc"
check "carol's file is in the manifest soon" wait_for 5 grep -q "^entry carol@example.net " "$MAN"
diag "carol's file published after $(( $(ms) - t0 )) ms"
check "carol's key is koverto's: recorded as imported, in use" grep -q "^imported $(fpr carol) 0\$" "$MAN"
check "the keyring has carol's key with her address only" [ "$(ring_uids "$(fpr carol)")" = "Carol Keyed <carol@example.net>" ]
check "the load says it imported one" grep -q "keydir loaded: dir=$K accepted=2 refused=0 imported=1" "$W/log"

# Two halves, 3 s apart, through one open descriptor.
half=$(( $(wc -c < "$T/keys/judy-new.pub.asc") / 2 ))
(
	head -c "$half" "$T/keys/judy-new.pub.asc"
	sleep 3
	tail -c +"$((half + 1))" "$T/keys/judy-new.pub.asc"
) > "$K/judy@example.net.asc" &
WRITER=$!
# (The sleeps below give something that must NOT happen the time to.)
sleep 1.5
check "half-written: not in the manifest" sh -c "! grep -q '^entry judy@' '$MAN'"
check "half-written: not refused" sh -c "! grep -q 'judy@' '$MAN'"
wait "$WRITER"
check "closed: judy's file is in the manifest" wait_for 5 grep -q "^entry judy@example.net .* $(fpr judy-new) " "$MAN"
check "no refusal of judy's file was ever logged" sh -c "! grep -q 'keydir refused:.*judy' '$W/log'"

# git checkout: delete, then write, 50 ms apart: one load, bob never gone.
g0=$(gen)
l0=$(loads)
old=$(awk '$2 == "bob@example.net" { print $4 }' "$MAN")
rm "$K/bob@example.net.asc"
sleep 0.05
{ cat "$T/keys/bob.pub.asc"; echo; } > "$K/bob@example.net.asc"
check "bob's new bytes are published" wait_for 5 sh -c "grep '^entry bob@' '$MAN' | grep -qv ' $old '"
sleep 1
check "one load for the delete and the write (generation $g0 -> $(gen))" [ "$(gen)" = $((g0 + 1)) ]
check "one load logged" [ "$(loads)" = $((l0 + 1)) ]

# carol's file goes: her key (koverto's) is retired, still hidden, kept for the grace.
rm "$K/carol@example.net.asc"
check "carol's key is retired" wait_for 5 grep -q "keydir retired: fpr=$(fpr carol) dir=$K" "$W/log"
check "and recorded as retired since then" grep -q "^imported $(fpr carol) [1-9][0-9]*\$" "$MAN"
check "but still in the keyring (grace)" [ -n "$(ring_uids "$(fpr carol)")" ]
stop_daemon
check "daemon stops cleanly" [ "$STATUS" = 0 ]

# Without inotify: the rescan (every second here) finds what changed, even
# with an mtime 10 s in the past.
echo "keydir-rescan = 1" >> "$CONF"
KOVERTO_KEYDIR_NO_INOTIFY=1 start_daemon
g0=$(gen)
check "a restart publishes nothing new" sh -c "sleep 1.5; [ \$(sed -n 's/^generation //p' '$MAN') = $g0 ]"
cp "$T/keys/jimbob.pub.asc" "$K/jimbob@example.net.asc"
{ cat "$T/keys/carol.pub.asc"; echo; } > "$K/carol@example.net.asc"
touch -d '10 seconds ago' "$K/jimbob@example.net.asc" "$K/carol@example.net.asc"
t0=$(ms)
check "the rescan finds the new file" wait_for 5 grep -q "^entry jimbob@example.net " "$MAN"
diag "rescan found it after $(( $(ms) - t0 )) ms"
check "and carol's changed bytes" sh -c "[ \"\$(awk '\$2 == \"carol@example.net\" { print \$4 }' '$MAN')\" = \"\$({ cat '$T/keys/carol.pub.asc'; echo; } | sha256sum | cut -c1-64)\" ]"

# SIGUSR1 with another keydir: loaded and published at the reload.
K2=$W/keys2
mkdir "$K2"
cp "$T/keys/bob.pub.asc" "$K2/bob@example.net.asc"
cp "$T/keys/erin.pub.asc" "$K2/erin@example.net.asc"
sed -i "s|^keydir = .*|keydir = $K2|" "$CONF"
MAN2=$W/q/.keydir/$(printf %s "$K2" | sha256sum | cut -c1-16)/current
kill -USR1 "$DAEMON_PID"
check "the reload publishes the new keydir" wait_for 10 grep -q "^entry bob@example.net " "$MAN2"
check "erin's key (no encryption subkey) is refused, with the reason in the manifest" \
	grep -q "^refused erin@example.net.asc " "$MAN2"
check "and in the log, once" [ "$(grep -c "keydir refused: dir=$K2 file=erin@example.net.asc reason=" "$W/log")" = 1 ]
stop_daemon
check "daemon stops cleanly" [ "$STATUS" = 0 ]
done_testing
