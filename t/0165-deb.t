#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 16: the Debian package, the way a newcomer meets it. Builds
# koverto_*.deb from this tree with dpkg-buildpackage (in a copy), installs
# it with apt into a fresh Debian 12 root (debootstrap --variant=minbase,
# cached), checks the user, the modes, the conffile and the unit, imports a
# signing key as the user koverto, starts koverto there as koverto with the
# foreground command of doc/install.md, sends a mail through it to an SMTP
# sink on loopback and verifies the signature; then apt remove and apt
# purge, and what each leaves. Root only (chroot, mounts); plain runs only:
# under ASan or valgrind it would build and test the same package again.
# The minbase tarball is cached in $KOV_DEB_CACHE (default
# /var/cache/koverto-test), and so are the .debs apt fetches.
. "$T/lib.sh"
why=
[ "$(id -u)" = 0 ] || why="needs root (chroot, mounts)"
[ -z "$why" ] && [ -n "${KOVERTO_BIN:-}" ] && why="plain runs only (under valgrind)"
[ -z "$why" ] && ldd "$KOVERTO" 2>/dev/null | grep -q libasan && why="plain runs only (under ASan)"
for tool in dpkg-buildpackage dh debootstrap; do
	[ -z "$why" ] && ! command -v $tool >/dev/null && why="$tool is not installed (scripts/deps-test)"
done
if [ -n "$why" ]; then echo "1..0 # SKIP $why"; exit 0; fi
started=$(date +%s)

work_dir kovd
R=$W/root
CACHE=${KOV_DEB_CACHE:-/var/cache/koverto-test}
mkdir -p "$CACHE/archives/partial"
umount_root() {
	for m in var/cache/apt/archives dev/pts dev proc; do
		mountpoint -q "$R/$m" 2>/dev/null && umount -l "$R/$m"
	done
}
stop_daemon_at_exit() {
	[ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
	[ -x "$R/usr/bin/gpgconf" ] && chroot "$R" gpgconf --homedir /var/lib/koverto/gnupg --kill all 2>/dev/null
	umount_root
}
in_root() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 "$@"; }

# ---- the package, from a copy of the tree (tracked and new files) --------
top=$(cd "$T/.." && pwd)
mkdir -p "$W/src/koverto"
(cd "$top" && git ls-files -z --cached --others --exclude-standard |
	xargs -0 sh -c 'for f; do [ -e "$f" ] || [ -L "$f" ] && printf "%s\0" "$f"; done' sh |
	xargs -0 cp -P --parents -t "$W/src/koverto") 2>"$W/copy.err" ||
	bail "cannot copy the tree: $(cat "$W/copy.err")"
(cd "$W/src/koverto" && DEB_BUILD_OPTIONS="nocheck parallel=2" DEB_BUILD_PROFILES=nocheck dpkg-buildpackage -us -uc -b) \
	>"$W/build.log" 2>&1
check "dpkg-buildpackage -us -uc -b builds the package" [ $? = 0 ]
deb=$(ls "$W"/src/koverto_*_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || bail "no koverto_*.deb: $(tail -20 "$W/build.log")"
diag "built $(basename "$deb") in $(( $(date +%s) - started )) s"
if command -v lintian >/dev/null; then
	lintian -I --pedantic "$W"/src/koverto_*.changes >"$W/lintian.out" 2>&1
	check "lintian -I --pedantic: no tags" sh -c "! grep -q '^[EWIPX]:' '$W/lintian.out'"
fi

# ---- a fresh Debian 12 root ------------------------------------------------
mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
if [ ! -s "$CACHE/bookworm-minbase.tgz" ]; then
	debootstrap --variant=minbase bookworm "$W/mb" "$mirror" >"$W/debootstrap.log" 2>&1 ||
		{ echo "1..0 # SKIP debootstrap cannot run here: $(tail -1 "$W/debootstrap.log")"; exit 0; }
	tar -C "$W/mb" -czf "$CACHE/bookworm-minbase.tgz.$$" . &&
		mv "$CACHE/bookworm-minbase.tgz.$$" "$CACHE/bookworm-minbase.tgz"
	rm -rf "$W/mb"
fi
mkdir "$R" && tar -C "$R" -xzf "$CACHE/bookworm-minbase.tgz" || bail "cannot unpack the root"
cp /etc/apt/sources.list.d/debian.sources "$R/etc/apt/sources.list.d/"
rm -f "$R/etc/apt/sources.list"
cp /etc/resolv.conf "$R/etc/resolv.conf"
# No daemon of any package starts in the root.
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d" && chmod 755 "$R/usr/sbin/policy-rc.d"
mount -t proc proc "$R/proc" && mount --bind /dev "$R/dev" && mount --bind /dev/pts "$R/dev/pts" &&
	mount --bind "$CACHE/archives" "$R/var/cache/apt/archives" || bail "cannot mount in the root"
cp "$deb" "$R/tmp/"
in_root apt-get update -qq >"$W/apt.log" 2>&1 &&
	DEBIAN_FRONTEND=noninteractive in_root apt-get install -y -q --no-install-recommends \
		"./tmp/$(basename "$deb")" >>"$W/apt.log" 2>&1 <&-
check "apt install ./koverto_*.deb in a fresh Debian 12 root" [ $? = 0 ] ||
	diag "$(tail -15 "$W/apt.log")"
diag "installed in $(( $(date +%s) - started )) s"

# ---- what the package made -------------------------------------------------
stat_of() { in_root stat -c '%a %U:%G' "$1" 2>/dev/null; }
check "koverto is /usr/bin/koverto, on a user's PATH" in_root sh -c 'command -v koverto | grep -qx /usr/bin/koverto'
check "no kuvert_submit link by default" [ ! -e "$R/usr/bin/kuvert_submit" ]
check "the system user koverto, no login shell" \
	in_root sh -c 'getent passwd koverto | grep -q ":/var/lib/koverto:/usr/sbin/nologin$"'
check "the spool: 0700 koverto:koverto" [ "$(stat_of /var/spool/koverto)" = "700 koverto:koverto" ]
check "the GnuPG home: 0700 koverto:koverto" [ "$(stat_of /var/lib/koverto/gnupg)" = "700 koverto:koverto" ]
check "the configuration: 0600 koverto:koverto" [ "$(stat_of /etc/koverto/koverto.conf)" = "600 koverto:koverto" ]
in_root dpkg-query -W -f='${Conffiles}' koverto > "$W/conffiles" 2>&1
check "the configuration is a conffile" grep -q '^ /etc/koverto/koverto.conf ' "$W/conffiles"
check "the configuration names the spool and the GnuPG home" \
	sh -c "grep -qx 'queuedir = /var/spool/koverto' '$R/etc/koverto/koverto.conf' &&
		grep -qx 'gnupghome = /var/lib/koverto/gnupg' '$R/etc/koverto/koverto.conf'"
unit=$R/lib/systemd/system/koverto.service
check "the unit: Type=notify, User=koverto, ExecStart, ExecReload" sh -c "
	grep -qx 'Type=notify' '$unit' && grep -qx 'User=koverto' '$unit' &&
	grep -qx 'ExecStart=/usr/bin/koverto -c /etc/koverto/koverto.conf' '$unit' &&
	grep -qx 'ExecReload=/bin/kill -USR1 \$MAINPID' '$unit'"
check "ExecReload's /bin/kill is installed with it (procps)" [ -x "$R/bin/kill" ]
check "the unit is not enabled before it is configured" [ ! -e "$R/etc/systemd/system/multi-user.target.wants/koverto.service" ]
check "man koverto(8) is installed" [ -e "$R/usr/share/man/man8/koverto.8.gz" ]
if command -v systemd-analyze >/dev/null; then
	sed "s|^ExecStart=/usr/bin/koverto|ExecStart=$R/usr/bin/koverto|" "$unit" > "$W/koverto.service"
	systemd-analyze verify --man=no "$W/koverto.service" >"$W/verify.out" 2>&1
	check "systemd-analyze verify: clean" sh -c "[ $? = 0 ] && [ ! -s '$W/verify.out' ]" || diag "$(cat "$W/verify.out")"
	exposure=$(systemd-analyze security --offline=true "$W/koverto.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for koverto.service: \([0-9.]*\).*/\1/p')
	check "systemd-analyze security: exposure $exposure, at most 2.0" \
		awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 2.0) }'
fi

# ---- configure as the administrator would, start, send ---------------------
sh "$T/keys/setup-reader" "$W/r" || bail "cannot make the reader keyring"
start_sink
in_root runuser -u koverto -- gpg --homedir /var/lib/koverto/gnupg --batch --quiet --import \
	< "$T/keys/alice.sec.asc" 2>"$W/import.err"
check "the signing key imports as the user koverto" [ $? = 0 ] || diag "$(cat "$W/import.err")"
echo no-random-seed-file > "$R/var/lib/koverto/gnupg/gpg.conf"
in_root chown koverto:koverto /var/lib/koverto/gnupg/gpg.conf
sed -i -e "s/^msserver = localhost/msserver = 127.0.0.1/" -e "s/^msport = 25/msport = $PORT/" \
	-e "s/^# defaultkey = .*/defaultkey = $(fpr alice)/" "$R/etc/koverto/koverto.conf"
# A password makes koverto insist on mode 0600: the package's mode passes.
printf 'mspass = "unused: no msuser"\n' > "$W/auth"
sed -i "/^msport = /r $W/auth" "$R/etc/koverto/koverto.conf"
check "koverto -n: the edited configuration (with mspass) is sound" \
	in_root runuser -u koverto -- koverto -n -c /etc/koverto/koverto.conf
# The foreground command doc/install.md gives for a system without systemd.
chroot "$R" /usr/bin/env -i PATH=/usr/bin:/bin LC_ALL=C.UTF-8 HOME=/var/lib/koverto \
	GNUPGHOME=/var/lib/koverto/gnupg \
	setpriv --reuid=koverto --regid=koverto --init-groups koverto -c /etc/koverto/koverto.conf \
	2>"$W/daemon.err" &
DAEMON_PID=$!
wait_for 30 grep -q 'ready: watching' "$W/daemon.err" || diag "daemon: $(tail -5 "$W/daemon.err")"
uid=$(awk -F: '$1 == "koverto" { print $3 }' "$R/etc/passwd")
check "koverto runs as the user koverto (uid $uid)" \
	[ "$(awk '/^Uid:/ { print $2 }' /proc/$DAEMON_PID/status 2>/dev/null)" = "$uid" ]
printf 'From: alice@example.org\nTo: carol@example.net\nSubject: deb\n\nMARK-DEB\n' |
	in_root runuser -u koverto -- koverto submit --queue sign-only 2>"$W/submit.err"
check "koverto submit as koverto queues it" [ $? = 0 ] || diag "$(cat "$W/submit.err")"
wait_sink 1 || diag "daemon: $(tail -5 "$W/daemon.err")"
check "the first mail reaches the sink, signed" verify_signed "$(latest)"
check "signed with the key imported as koverto (alice)" grep -q "VALIDSIG $(fpr alice)" "$W/verify.status"
kill "$DAEMON_PID"; wait "$DAEMON_PID"; st=$?; DAEMON_PID=
check "SIGTERM: the daemon stops (status $st)" [ "$st" = 0 ]
in_root gpgconf --homedir /var/lib/koverto/gnupg --kill all 2>/dev/null

# ---- remove, purge -------------------------------------------------------
DEBIAN_FRONTEND=noninteractive in_root apt-get remove -y -q koverto >"$W/remove.log" 2>&1 <&-
check "apt remove" [ $? = 0 ] || diag "$(tail -5 "$W/remove.log")"
check "remove: the binary and the unit are gone" sh -c "[ ! -e '$R/usr/bin/koverto' ] && [ ! -e '$unit' ]"
check "remove: the configuration, spool, keys and user stay" sh -c "
	[ -f '$R/etc/koverto/koverto.conf' ] && [ -d '$R/var/spool/koverto' ] &&
	[ -d '$R/var/lib/koverto/gnupg/private-keys-v1.d' ] && grep -q '^koverto:' '$R/etc/passwd'"
DEBIAN_FRONTEND=noninteractive in_root apt-get purge -y -q koverto >"$W/purge.log" 2>&1 <&-
check "apt purge" [ $? = 0 ] || diag "$(tail -5 "$W/purge.log")"
check "purge: the configuration and the spool are gone" sh -c "
	[ ! -e '$R/etc/koverto' ] && [ ! -e '$R/var/spool/koverto' ]"
check "purge: the GnuPG home with its secret key stays, and apt said so" sh -c "
	[ -d '$R/var/lib/koverto/gnupg/private-keys-v1.d' ] &&
	grep -q 'keeping /var/lib/koverto/gnupg' '$W/purge.log'"
check "purge: no statoverride left" sh -c "! chroot '$R' dpkg-statoverride --list | grep -q koverto"
check "purge: dpkg forgets the package" sh -c "! chroot '$R' dpkg-query -W koverto 2>/dev/null"
diag "t/0165 took $(( $(date +%s) - started )) s"
done_testing
