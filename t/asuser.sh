# SPDX-License-Identifier: GPL-3.0-or-later
# koverto as an unprivileged user, for the tests of an MTA in front of it
# (t/postfix.sh, t/opensmtpd.sh): Postfix's pipe(8) never runs a command
# as root, and OpenSMTPD never delivers to root. Source after t/lib.sh.
#
#   need_root [WHY]          root, or SKIP (FAIL under CI=true)
#   kov_user                 KOVUSER (default kovtest) exists; $W/kh its home
#   as_kov CMD...            CMD as KOVUSER, in the foreground
#   start_daemon_as [args]   start_daemon (lib.sh), as KOVUSER
#   app_queues CIVICRM_KEY   the three applications' queues, for the CONF
KOVUSER=${KOVUSER:-kovtest}

need_root() {
	[ "$(id -u)" = 0 ] && return 0
	skip_unless_ok "not root${1:+: $1}"
}

# kov_user: KOVUSER, a system user with its own group, no login and no
# home, made if missing (two tests may race: the loser finds it there);
# $W/kh, a home of its own for the test.
kov_user() {
	getent passwd "$KOVUSER" >/dev/null ||
		useradd --system --user-group --home-dir /nonexistent --no-create-home \
			--shell /usr/sbin/nologin --comment "koverto tests" "$KOVUSER" 2>>"$W/useradd.err" ||
		getent passwd "$KOVUSER" >/dev/null || bail "cannot add user $KOVUSER: $(cat "$W/useradd.err")"
	mkdir -p "$W/kh"
	chown "$KOVUSER:" "$W/kh"
}

# as_kov COMMAND...: COMMAND as KOVUSER, in the environment of the test
# but for its home and runtime directory (gpgconf would look in root's).
as_kov() {
	env -u XDG_RUNTIME_DIR HOME="$W/kh" setpriv --reuid="$KOVUSER" --regid="$KOVUSER" --init-groups -- "$@"
}

# start_daemon_as [koverto args]: start_daemon (lib.sh), as KOVUSER.
start_daemon_as() {
	readies=$(grep -c "ready:" "$W/log" 2>/dev/null)
	# A simple command, not as_kov: its $! is the daemon's own PID (setpriv
	# execs it), which cleanup kills; a function would leave a subshell.
	env -u XDG_RUNTIME_DIR HOME="$W/kh" setpriv --reuid="$KOVUSER" --regid="$KOVUSER" --init-groups -- \
		"$KOVERTO" -c "$CONF" "$@" 2>>"$W/stderr" &
	DAEMON_PID=$!
	wait_for 20 sh -c "[ \$(grep -c 'ready:' '$W/log') -gt ${readies:-0} ]" ||
		bail "daemon did not start: $(cat "$W/stderr")"
}

# app_queues CIVICRM_KEY: the named queues of three applications behind
# the MTA: monitoring (must-encrypt, sam's key), tickets (fallback,
# alice's), civicrm (sign-only, CIVICRM_KEY), each with its senders.
app_queues() {
	cat <<CONF
[queue monitoring]
policy = must-encrypt
key = $(fpr sam)
senders = nagios@example\\.org

[queue tickets]
policy = fallback
key = $(fpr alice)
senders = .*@tickets\\.example\\.org

[queue civicrm]
policy = sign-only
key = $1
senders = newsletter@example\\.org
CONF
}
