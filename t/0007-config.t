#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Configuration errors: one line naming the file and what is wrong, exit 78.
. "$T/lib.sh"
setup

"$KOVERTO" -c "$CONF" -n > "$W/out"
check "-n on a good file exits 0" [ $? = 0 ]
check "-n says so" grep -q "is valid" "$W/out"

bad() { # DESCRIPTION EXPECTED-TEXT CONFIG-LINES...
	desc=$1; want=$2; shift 2
	printf '%s\n' "$@" > "$W/bad.conf"; chmod 600 "$W/bad.conf"
	"$KOVERTO" -c "$W/bad.conf" -n 2>"$W/err" >/dev/null
	s=$?
	check "$desc: exit 78" [ "$s" = 78 ]
	check "$desc: message names it" grep -q -- "$want" "$W/err"
	check "$desc: one line" [ "$(wc -l < "$W/err")" = 1 ]
}
bad "unknown option" 'bad.conf:2.*frobnicate' "[koverto]" "frobnicate = 1"
bad "bad number" 'bad.conf:2.*msport' "[koverto]" "msport = 58x"
bad "bad boolean" 'bad.conf:2.*alwaystrust' "[koverto]" "alwaystrust = maybe"
bad "bad action" 'defaultaction' "[koverto]" "defaultaction = encrypt"
bad "bad ssl" 'ssl' "[koverto]" "ssl = tls"
"$KOVERTO" -c "$W/missing.conf" -n 2>"$W/err"
check "missing file: exit 78" [ $? = 78 ]
check "missing file: named" grep -q "missing.conf" "$W/err"
KOVERTO_CONF=$CONF "$KOVERTO" -n >/dev/null
check "\$KOVERTO_CONF is used without -c" [ $? = 0 ]

printf '[koverto]\nqueuedir = %s\n' "$W/noq/deeper/q" > "$W/q.conf"
"$KOVERTO" -c "$W/q.conf" -o 2>"$W/err"
check "queue directory that cannot be made: exit 78" [ $? = 78 ]
"$KOVERTO" -c "$CONF" bogus 2>/dev/null
check "stray argument: exit 64" [ $? = 64 ]
done_testing
