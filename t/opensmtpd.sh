# SPDX-License-Identifier: GPL-3.0-or-later
# OpenSMTPD in front of koverto, for the end-to-end tests (t/0128, t/0129).
# Source after t/lib.sh. The real Debian binary, not installed: the
# opensmtpd package conflicts with postfix (both are a
# mail-transport-agent), so `apt-get download` fetches it into a cache
# beside the koverto binary and `dpkg-deb -x` unpacks it there.
#
# The binary has paths compiled in (strings usr/sbin/smtpd): its helpers
# in /usr/libexec/opensmtpd (mail.maildir for a maildir action, table-*
# for proc tables), its spool /var/spool/smtpd, its control socket
# /var/run/smtpd.sock, its chroot /var/lib/opensmtpd/empty, and its users
# opensmtpd and opensmtpq (the names the package's postinst creates).
# So smtpd_start runs it as root in a mount namespace of its own
# (unshare -m): a tmpfs on /var/spool and on /run (a spool and a control
# socket of its own: two instances never meet, and nothing queued
# survives the test) and the unpacked helpers bound on
# /usr/libexec/opensmtpd. On the machine it leaves the two users and two
# empty directories, as the package would (the chroot and the mount
# point); nothing runs or listens after smtpd_stop.
#
# OpenSMTPD refuses to deliver to root ("not allowed to deliver to:
# root"), so koverto runs as an unprivileged user (t/asuser.sh: KOVUSER,
# kov_user, start_daemon_as).
. "$T/asuser.sh"
SMTPD_PID=

# smtpd_lock: one writer at a time for the cache, the users and the
# directories (tests run in parallel). Held on fd 8 until smtpd_unlock.
smtpd_lock() {
	lockdir=/run/lock
	[ -d "$lockdir" ] || lockdir=/tmp
	exec 8>>"$lockdir/koverto-opensmtpd.lock"
	flock -w 120 8 || bail "opensmtpd: lock not free after 120 s"
}
smtpd_unlock() { exec 8>&-; }

# smtpd_fetch: SMTPD_ROOT, the unpacked package; SMTPD, its smtpd.
# SMTPD_CACHE (default: beside the koverto binary) keeps it between runs.
smtpd_fetch() {
	SMTPD_CACHE=${SMTPD_CACHE:-$(dirname "${KOVERTO_BIN:-$KOVERTO}")/opensmtpd}
	SMTPD_ROOT=$SMTPD_CACHE/root
	SMTPD=$SMTPD_ROOT/usr/sbin/smtpd
	if [ ! -x "$SMTPD" ]; then
		rm -rf "$SMTPD_CACHE"
		mkdir -p "$SMTPD_CACHE/deb"
		# apt fetches as _apt, which must be able to write there.
		id _apt >/dev/null 2>&1 && chown _apt "$SMTPD_CACHE/deb"
		if ! (cd "$SMTPD_CACHE/deb" && apt-get -q download opensmtpd) >>"$W/apt.log" 2>&1; then
			apt-get -q update >>"$W/apt.log" 2>&1
			(cd "$SMTPD_CACHE/deb" && apt-get -q download opensmtpd) >>"$W/apt.log" 2>&1 ||
				bail "opensmtpd: apt-get download failed: $(tail -3 "$W/apt.log")"
		fi
		dpkg-deb -x "$SMTPD_CACHE"/deb/opensmtpd_*.deb "$SMTPD_ROOT.tmp" &&
			mv "$SMTPD_ROOT.tmp" "$SMTPD_ROOT" ||
			bail "opensmtpd: cannot unpack $(ls "$SMTPD_CACHE"/deb)"
	fi
	SMTPD_VERSION=$(dpkg-deb -f "$SMTPD_CACHE"/deb/opensmtpd_*.deb Version)
	# The package is unpacked, not installed: its libraries come from
	# scripts/deps. Say which one is missing rather than fail in smtpd -n.
	missing=$(ldd "$SMTPD" 2>&1 | awk '/not found/ { print $1 }' | tr '\n' ' ')
	[ -z "$missing" ] || bail "opensmtpd: libraries missing for $SMTPD: $missing(scripts/deps installs them)"
}

# smtpd_system: the users and directories the package would make.
smtpd_system() {
	for u in opensmtpd opensmtpq; do
		getent group "$u" >/dev/null || groupadd --system "$u" || getent group "$u" >/dev/null ||
			bail "opensmtpd: cannot add group $u"
		id "$u" >/dev/null 2>&1 ||
			useradd --system --gid "$u" --home-dir /var/lib/opensmtpd/empty --no-create-home \
				--shell /usr/sbin/nologin --comment "OpenSMTPD (koverto tests)" "$u" ||
			id "$u" >/dev/null 2>&1 || bail "opensmtpd: cannot add user $u"
	done
	mkdir -p /var/lib/opensmtpd/empty /usr/libexec/opensmtpd
}

# smtpd_setup: all of the above, under the lock; then KOVUSER owns the
# work dir, its configuration and koverto's keyring (setup first).
smtpd_setup() {
	need_root "OpenSMTPD needs root"
	# Its compiled-in paths are made its own in a private mount namespace,
	# which a chroot whose / is not a mount point cannot give (unshare:
	# "cannot change root filesystem propagation"): there the test is
	# skipped (failed under CI=true, whose machine is a real one).
	unshare --mount --propagation private true 2>/dev/null ||
		skip_unless_ok "no private mount namespace here (a chroot?): OpenSMTPD's paths cannot be made its own"
	smtpd_lock
	smtpd_fetch
	smtpd_system
	kov_user
	smtpd_unlock
	chown "$KOVUSER:" "$W" "$CONF"
	chown -R "$KOVUSER:" "$W/g"
	diag "OpenSMTPD $SMTPD_VERSION from $SMTPD_CACHE"
}

# listening PORT: something listens on 127.0.0.1:PORT (or on all IPv4
# addresses). From /proc, not ss: iproute2 is not in a minimal Debian.
listening() {
	awk -v p="$(printf ':%04X' "$1")" '($2 == "0100007F" p || $2 == "00000000" p) && $4 == "0A" { f = 1 }
		END { exit !f }' /proc/net/tcp
}

# SMTPD_NS: what smtpd runs in, as root: a mount namespace of its own
# (unshare -m execs it, so $! of a background one is smtpd's pid) with a
# tmpfs on /var/spool and on /run, the unpacked helpers on
# /usr/libexec/opensmtpd, and /etc under an overlay (its upper half on
# that /run) holding an /etc/mailname: else smtpd looks its own name up
# (getaddrinfo with AI_CANONNAME), which is a DNS query where /etc/hosts
# does not name the host (a debootstrapped root has no /etc/hosts), and
# hangs where no resolver answers. Arguments: the unpacked root, the
# command.
SMTPD_NS='
	set -e
	mount -t tmpfs -o mode=0755 koverto-smtpd /var/spool
	mount -t tmpfs -o mode=0755 koverto-smtpd /run
	mount --bind "$1/usr/libexec/opensmtpd" /usr/libexec/opensmtpd
	mkdir /run/etc-up /run/etc-work
	mount -t overlay koverto-smtpd -o lowerdir=/etc,upperdir=/run/etc-up,workdir=/run/etc-work /etc
	hostname > /etc/mailname
	shift
	exec "$@"'

# smtpd_start FILE PORT...: check FILE with smtpd -n, then run smtpd -d -f
# FILE (log: $W/smtpd.log) until every PORT listens. Status 2 if smtpd
# exited first (a port taken meanwhile: the caller picks new ones).
smtpd_start() {
	conf=$1; shift
	unshare --mount --propagation private -- sh -c "$SMTPD_NS" sh "$SMTPD_ROOT" \
		"$SMTPD" -n -f "$conf" >"$W/smtpd-n.out" 2>&1 || bail "smtpd -n: $(cat "$W/smtpd-n.out")"
	unshare --mount --propagation private -- sh -c "$SMTPD_NS" sh "$SMTPD_ROOT" \
		"$SMTPD" -d -f "$conf" >>"$W/smtpd.log" 2>&1 &
	SMTPD_PID=$!
	tries=0
	for p in "$@"; do
		until listening "$p"; do
			kill -0 "$SMTPD_PID" 2>/dev/null || { wait "$SMTPD_PID"; SMTPD_PID=; return 2; }
			tries=$((tries + 1))
			[ "$tries" -ge 200 ] && bail "smtpd did not listen on $p: $(tail -5 "$W/smtpd.log")"
			sleep 0.1
		done
	done
	return 0
}

# smtpd_stop: stop smtpd by its pid (it stops its own children) and wait.
smtpd_stop() {
	[ -n "$SMTPD_PID" ] || return 0
	kill "$SMTPD_PID" 2>/dev/null && wait "$SMTPD_PID" 2>/dev/null
	SMTPD_PID=
}

# At exit: smtpd, then koverto and the gpg-agent it started as KOVUSER
# (its socket is in the home; root's gpgconf would look in /run/user/0).
stop_daemon_at_exit() {
	smtpd_stop
	[ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
	[ -d "$W/g" ] && as_kov gpgconf --homedir "$W/g" --kill all 2>/dev/null
	return 0
}
