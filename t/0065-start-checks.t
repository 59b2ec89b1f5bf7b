#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# What -n and the daemon's start say and refuse before anything runs
# (issue 10 B1, B2, B4, B5, B9).
. "$T/lib.sh"
setup
GOOD=$W/good.conf
cp -p "$CONF" "$GOOD"
KUVERT_PID=
LOCK_PID=
stop_helpers() {
	for p in $KUVERT_PID $LOCK_PID; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	KUVERT_PID=; LOCK_PID=
}
trap 'stop_helpers; cleanup' EXIT

# conf NAME LINES...: $W/NAME.conf, the sink's configuration plus LINES.
conf() {
	name=$1; shift
	write_config "$@"
	case " $* " in  # a defaultkey given replaces alice's
	*" defaultkey = "*) sed -i '0,/^defaultkey = /{/^defaultkey = /d}' "$CONF" ;;
	esac
	mv "$CONF" "$W/$name.conf"
	CONF=$W/$name.conf
}

# B9: -h prints the real search order, ~/.kuvert included.
"$KOVERTO" -h > "$W/help"
check "-h: exit 0" [ $? = 0 ]
check "-h names ~/.kuvert" grep -q '~/.kuvert' "$W/help"
check "-h: \$KOVERTO_CONF before ~/.kuvert before the default" \
	grep -q 'KOVERTO_CONF, else ~/.kuvert if it exists, else /etc/koverto/koverto.conf' "$W/help"

# B2: every configured signing key must exist with its secret and sign.
"$GPG" --homedir "$W/g" --batch --quiet --import "$T/keys/hank.sec.asc" "$T/keys/ivan.sec.asc" 2>/dev/null
refused() { # DESCRIPTION EXPECTED-TEXT CONFIG-LINES...
	what=$1; want=$2; shift 2
	conf refused "$@"
	"$KOVERTO" -c "$CONF" -n >/dev/null 2>"$W/err"
	s=$?
	check "-n, $what: exit 78" [ "$s" = 78 ]
	check "-n, $what: says why" grep -q -- "$want" "$W/err"
	"$KOVERTO" -c "$CONF" -o >/dev/null 2>"$W/err"
	s=$?
	check "start, $what: exit 78" [ "$s" = 78 ]
	check "start, $what: says why" grep -q -- "$want" "$W/err"
}
refused "defaultkey not in the keyring" "defaultkey 0xDEADBEEFDEADBEEF cannot sign: not in the secret keyring" \
	"defaultkey = 0xDEADBEEFDEADBEEF"
refused "defaultkey of 17 digits" 'defaultkey.*not a key ID or fingerprint.*0xDEADBEEFDEADBEEF1' \
	"defaultkey = 0xDEADBEEFDEADBEEF1"
refused "defaultkey without its secret key" "defaultkey $(fpr bob) cannot sign: not in the secret keyring" \
	"defaultkey = $(fpr bob)"
refused "queue key expired" "key in \[queue fallback\] $(fpr hank) cannot sign: expired" \
	"[queue fallback]" "key = $(fpr hank)"
refused "queue key revoked" "key in \[queue must-encrypt\] $(fpr ivan) cannot sign: revoked" \
	"[queue must-encrypt]" "key = $(fpr ivan)"
conf keys "defaultaction = fallback" "[queue sign-only]" "key = 0x$(fpr sam | cut -c25-40)"
"$KOVERTO" -c "$CONF" -n >/dev/null 2>"$W/err"
check "-n: a usable key by its long ID passes" [ $? = 0 ]
check "-n: with nothing to warn about, stderr is empty" [ ! -s "$W/err" ]

# B1, issue 12: Kuvert's listener options configure koverto's listener;
# with only half of them nothing listens (as with Kuvert): say so, loudly.
conf listener "defaultaction = fallback" "maport = 2587" "ma-user = app" "ma-pass = s3cret-pw"
"$KOVERTO" -c "$CONF" -n >/dev/null 2>"$W/err"
check "-n, listener options: valid" [ $? = 0 ]
check "-n, listener options: nothing to warn about" [ ! -s "$W/err" ]
conf halflistener "defaultaction = fallback" "maport = 2587" "ma-user = app"
"$KOVERTO" -c "$CONF" -n >/dev/null 2>"$W/err"
check "-n, ma-user without ma-pass: still valid" [ $? = 0 ]
check "-n, ma-user without ma-pass: a warning says nothing listens" \
	grep -q 'warning: .*ma-user is set but ma-pass is not: .*nothing listens on 127.0.0.1:2587' "$W/err"
oneshot
check "start, ma-user without ma-pass: runs" [ "$STATUS" = 0 ]
check "start, ma-user without ma-pass: the log warns" grep -q 'warning: ma-user is set but ma-pass is not' "$W/log"

# B4: the Kuvert queue's default sends plaintext: say so.
"$KOVERTO" -c "$GOOD" -n >/dev/null 2>"$W/err"
check "-n, defaultaction none: valid" [ $? = 0 ]
check "-n, defaultaction none: a warning says mail goes out unprotected" \
	grep -q 'warning: .*defaultaction is none: .*neither signed nor encrypted' "$W/err"
conf fallback "defaultaction = fallback"
"$KOVERTO" -c "$CONF" -n >/dev/null 2>"$W/err"
check "-n, defaultaction fallback: no warning" sh -c "! grep -q defaultaction '$W/err'"

# B2 on reload: a key that cannot sign keeps the running configuration.
conf reload "defaultaction = fallback"
start_daemon
sed -i "s/^defaultkey = .*/defaultkey = $(fpr bob)/" "$CONF"
"$KOVERTO" -c "$CONF" -r
check "reload, defaultkey without its secret: refused, the old one kept" \
	wait_for 20 grep -q "reload: keys: defaultkey $(fpr bob) cannot sign: not in the secret keyring; keeping the running configuration" "$W/log"
stop_daemon

# B5: with can-detach, every refusal is seen before the terminal is let go.
detach_refused() { # DESCRIPTION EXPECTED-TEXT
	"$KOVERTO" -c "$CONF" >/dev/null 2>"$W/err"
	s=$?
	if [ "$s" = 0 ]; then  # it detached: stop what it left running
		q=$(sed -n 's/^queuedir = //p' "$CONF")
		wait_for 10 test -s "$q/koverto.pid" && kill "$(cat "$q/koverto.pid")"
	fi
	check "can-detach, $1: exit status not 0 ($s)" [ "$s" != 0 ]
	check "can-detach, $1: the reason is printed" grep -q -- "$2" "$W/err"
}
conf detach "can-detach = t" "defaultkey = 0xDEADBEEFDEADBEEF"
detach_refused "bad defaultkey" "defaultkey 0xDEADBEEFDEADBEEF cannot sign"
check "can-detach, bad defaultkey: no daemon left" [ ! -s "$W/q/koverto.pid" ]

conf detach "can-detach = t" "defaultaction = fallback"
mkdir -p "$W/tk"
/usr/bin/python3 -c 'import os; os.execv("/bin/sleep", ["kuvert", "60"])' &
KUVERT_PID=$!
echo "$KUVERT_PID" > "$W/tk/kuvert.$(id -u).pid"
TMPDIR=$W/tk detach_refused "a Kuvert running" "a running Kuvert (pid $KUVERT_PID"
stop_helpers

conf held "defaultaction = fallback"
"$KOVERTO" -c "$CONF" 2>>"$W/stderr" &
LOCK_PID=$!
wait_for 20 test -s "$W/q/koverto.pid" || bail "first daemon did not start"
conf detach "can-detach = t" "defaultaction = fallback"
detach_refused "queue locked" "in use by another koverto (pid $LOCK_PID)"
stop_helpers

conf detach "can-detach = t" "defaultaction = fallback"
sed -i "s|^logfile = .*|logfile = $W/nolog/deeper/log|" "$CONF"
detach_refused "log cannot be opened" "nolog/deeper/log"

: > "$W/afile"
conf detach "can-detach = t" "defaultaction = fallback"
sed -i "s|^queuedir = .*|queuedir = $W/afile/q|" "$CONF"
detach_refused "queue cannot be made" "$W/afile/q"

done_testing
