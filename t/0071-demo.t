#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 10 B8: scripts/demo with its output redirected to a file keeps all
# of it (tee /dev/stderr used to truncate the file when stderr went there
# too, and sent the mail text past a `> file` alone).
. "$T/lib.sh"
W=$(mktemp -d /tmp/kovt.XXXXXX)
trap cleanup EXIT
top=$(cd "$T/.." && pwd)

STATUS=0
KOVERTO=$KOVERTO sh "$top/scripts/demo" > "$W/both" 2>&1 || STATUS=$?
check "demo > file 2>&1: exits 0" [ "$STATUS" = 0 ]
check "demo > file 2>&1: no hole of NUL bytes" sh -c "[ \$(tr -cd '\\000' < '$W/both' | wc -c) = 0 ]"
for part in "A throwaway keyring" "A local SMTP sink" "The configuration" "Starting the daemon" \
	'Hello, this is the plaintext of "must-encrypt to bob"' "1. must-encrypt, to bob" \
	"bob decrypts it" "4. must-encrypt, to bob and dave" "koverto's log"; do
	check "demo > file 2>&1: holds \"$part\"" grep -qF "$part" "$W/both"
done
check "demo > file 2>&1: the first line is the first heading" sh -c "sed -n 2p '$W/both' | grep -q 'A throwaway keyring'"

STATUS=0
KOVERTO=$KOVERTO sh "$top/scripts/demo" > "$W/out" 2>"$W/err" || STATUS=$?
check "demo > file: exits 0" [ "$STATUS" = 0 ]
check "demo > file: the mail shown went to the file" grep -qF 'Subject: must-encrypt to bob' "$W/out"
check "demo > file: nothing on stderr" [ ! -s "$W/err" ]
done_testing
