#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Keys from a directory (issue 14): a half-written file is never acted on.
# A writer (not git) writes half of a key file, pauses 3 s with the file
# open, writes the rest and closes it, while mails go out under
# must-encrypt, with a periodic rescan every second (keydir-rescan = 1: a
# rescan during the pause sees a file whose mtime is over 2 s old, but
# still open for writing). Rewriting judy's file in place with her new key:
# every mail goes out to her old or new subkey (the old file's key stays
# until the new one is closed), none is refused, no refusal of the half
# file is logged, the next mail uses the new key. A new file for carol
# written the same way: no refusal logged for the half, her mails are
# refused (no key) until it is closed, then encrypted to her; none leaks.
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
WRITER_PID=
trap '[ -n "$WRITER_PID" ] && kill "$WRITER_PID" 2>/dev/null; keydir_cleanup' EXIT
t0=$(date +%s)

# slow_write SRC DEST: half of SRC into DEST, 3 s with DEST open, the rest,
# close; in the background (WRITER_PID). $W/writer.half once half is written.
slow_write() {
	size=$(wc -c < "$1")
	half=$((size / 2))
	rm -f "$W/writer.half"
	{
		head -c "$half" "$1"
		touch "$W/writer.half"
		sleep 3
		tail -c +"$((half + 1))" "$1"
	} > "$2" &
	WRITER_PID=$!
}
# while_writing QUEUE ADDRESS NAME SRC DEST: mails NAME-i to ADDRESS from
# before the writer starts until a load after it closed the file.
while_writing() {
	loads=$(keydir_loads)
	burst_start "$1" "$2" "$3"
	wait_for 30 sh -c "[ \$(wc -l < '$W/burst.sent') -ge $((BURST_MIN / 2)) ]"
	slow_write "$4" "$5"
	wait_for 10 test -e "$W/writer.half"
	h=$(burst_sent)
	wait "$WRITER_PID"
	WRITER_PID=
	diag "$3: $(($(burst_sent) - h)) mails while the file was half written"
	keydir_wait_load "$loads" || diag "$3: no keydir load after the file was closed"
	n=$(burst_sent)
	wait_for 30 sh -c "[ \$(wc -l < '$W/burst.sent') -ge $((n + 2)) ]"
	burst_stop
}
refused_lines() { grep -c "keydir refused:.*$1" "$W/log" 2>/dev/null; }

start_daemon
check "a keydir load at start" keydir_wait_load 0

# 1. judy's file rewritten in place with her new key.
while_writing must-encrypt judy@example.net judy "$T/keys/judy-new.pub.asc" "$KEYS/judy@example.net.asc"
n=$(burst_sent)
check "judy: all $n mails went out" wait_for 30 all_out judy "$n"
check "judy: none refused" [ -z "$(refused judy)" ]
check "judy: each to her old or new subkey, never neither" enc_all_to judy 1 "$OLD" "$NEW"
check "judy: none in plaintext" no_leak judy
check "judy: the half-written file was not refused" [ "$(refused_lines judy@example.net.asc)" = 0 ]
diag "judy: $(for f in $(subject judy); do pkesk "$f"; done | sort | uniq -c | tr '\n' ' ')(old $OLD new $NEW)"
kmail must-encrypt judy@example.net next-judy-1
check "judy: the next mail goes out" wait_for 20 all_out next-judy 1
check "judy: the next mail is encrypted to the new subkey" enc_all_to next-judy 1 "$NEW"
check "judy: ... not to the old one" not_to next-judy "$OLD"

# 2. A new file for carol, written the same way.
if [ -z "$LIGHT" ]; then
	while_writing must-encrypt carol@example.net carol "$T/keys/carol.pub.asc" "$KEYS/carol@example.net.asc"
	n=$(burst_sent)
	check "carol: each of $n mails out or refused" wait_for 30 out_or_refused carol "$n"
	check "carol: those out (at least the 2 after the load) are encrypted to her subkey" enc_all_to carol 2 "$CAROL"
	check "carol: none in plaintext" no_leak carol
	check "carol: the half-written file was not refused" [ "$(refused_lines carol@example.net.asc)" = 0 ]
else
	diag "LIGHT (valgrind): carol's new file skipped (judy's ran the same paths)"
fi

stop_daemon
check "the daemon stops cleanly" [ "$STATUS" = 0 ]
check "no keydir refusal at all" [ "$(refused_lines '')" = 0 ]
diag "$(grep -c 'keydir loaded:' "$W/log") keydir loads; $(($(date +%s) - t0)) s with the daemon"
done_testing
