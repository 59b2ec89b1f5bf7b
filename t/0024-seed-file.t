#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# gpg's random_seed file: its lock makes concurrent gpg runs wait for each
# other, so with more than one worker koverto says so at start when the
# home's gpg.conf lacks no-random-seed-file. The option takes effect: gpg
# writes no random_seed then. Mail goes out either way.
. "$T/lib.sh"
setup
mail() {
	printf 'From: alice@example.org\nTo: bob@example.net\nSubject: seed %s\n\nSEED\n' "$1" | submit fallback
}
sent() { [ "$STATUS" = 0 ] && [ "$(sink_count)" = "$1" ]; }
notices() { grep -c 'no "no-random-seed-file"' "$W/log"; }

write_config "workers = 2"
mail 1; oneshot
check "with the option: the mail is sent" sent 1
check "with the option: no notice" [ "$(notices)" = 0 ]
check "with the option: gpg wrote no random_seed" [ ! -e "$W/g/random_seed" ]

sed -i '/^no-random-seed-file/d' "$W/g/gpg.conf"
mail 2; oneshot
check "without it: the mail is sent" sent 2
check "without it, 2 workers: one notice at start" [ "$(notices)" = 1 ]
check "the notice names the worker count and the manual" \
	grep -q '2 workers will wait for each other.*koverto(8), PERFORMANCE' "$W/log"
check "without it: gpg keeps a random_seed" [ -e "$W/g/random_seed" ]

write_config "workers = 1"
mail 3; oneshot
check "one worker: the mail is sent" sent 3
check "one worker: nothing to wait for, no notice" [ "$(notices)" = 1 ]

rm "$W/g/gpg.conf"
write_config "workers = 2"
mail 4; oneshot
check "no gpg.conf at all: the mail is sent" sent 4
check "no gpg.conf at all, 2 workers: the notice" [ "$(notices)" = 2 ]
done_testing
