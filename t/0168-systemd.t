#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 16: the unit under a real systemd. The test machines do not boot
# systemd, so this runs it as PID 1 in a privileged podman container made
# from the image of t/0167 (the Debian package installed) plus systemd:
# `systemctl start koverto` returns once koverto said READY=1 (its STATUS=
# shown by systemctl), gpg signs and encrypts inside the whole sandbox of
# packaging/koverto.service.in (ProtectSystem=strict, SystemCallFilter,
# MemoryDenyWriteExecute, ...), `systemctl reload` and `stop` work, and
# `systemd-analyze security` rates the running unit. Root, podman and
# plain runs only; skipped where podman cannot run containers.
. "$T/lib.sh"
why=
[ "$(id -u)" = 0 ] || why="needs root"
[ -z "$why" ] && ! command -v podman >/dev/null && why="podman is not installed"
[ -z "$why" ] && [ -n "${KOVERTO_BIN:-}" ] && why="plain runs only (under valgrind)"
[ -z "$why" ] && ldd "$KOVERTO" 2>/dev/null | grep -q libasan && why="plain runs only (under ASan)"
if [ -n "$why" ]; then echo "1..0 # SKIP $why"; exit 0; fi
started=$(date +%s)
work_dir kovs
CACHE=${KOV_DEB_CACHE:-/var/cache/koverto-test}
BASE=localhost/koverto-test-base:bookworm
IMAGE=localhost/koverto-test-systemd:latest
NAME=kovs-$$
stop_daemon_at_exit() { podman rm -f -t 0 "$NAME" >/dev/null 2>&1; }
in_box() { podman exec -i "$NAME" "$@"; }

if ! podman image exists "$BASE"; then
	[ -s "$CACHE/bookworm-minbase.tgz" ] || { echo "1..0 # SKIP no minbase root cached (t/0165 makes it)"; exit 0; }
	podman import "$CACHE/bookworm-minbase.tgz" "$BASE" >/dev/null 2>"$W/import.err" ||
		{ echo "1..0 # SKIP podman cannot import an image"; exit 0; }
fi
if ! podman run --rm --network=host "$BASE" true 2>"$W/run.err"; then
	printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n' \
		> "$W/containers.conf"
	CONTAINERS_CONF=$W/containers.conf
	export CONTAINERS_CONF
	podman run --rm --network=host "$BASE" true 2>>"$W/run.err" ||
		{ echo "1..0 # SKIP podman cannot run a container here: $(tail -1 "$W/run.err")"; exit 0; }
fi
top=$(cd "$T/.." && pwd)
podman build --network=host --build-arg BASE="$BASE" -f "$top/packaging/Containerfile" \
	-t localhost/koverto-test:latest "$top" >"$W/build.log" 2>&1 || bail "image: $(tail -5 "$W/build.log")"
# systemd as PID 1. (The spool stays where the image has it,
# /var/lib/koverto/spool: the StateDirectory, writable in the sandbox.)
cat > "$W/Containerfile" <<'CF'
FROM localhost/koverto-test:latest
USER root
RUN apt-get update && apt-get install -y --no-install-recommends systemd systemd-sysv \
 && rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["/lib/systemd/systemd"]
CMD []
CF
podman build --network=host -t "$IMAGE" "$W" >"$W/build-sd.log" 2>&1 || bail "systemd image: $(tail -5 "$W/build-sd.log")"
diag "images built in $(( $(date +%s) - started )) s"
podman run -d --name "$NAME" --privileged --systemd=always --network=host "$IMAGE" >/dev/null 2>"$W/run.err" ||
	{ echo "1..0 # SKIP podman cannot run systemd as PID 1 here: $(tail -1 "$W/run.err")"; exit 0; }
wait_for 30 sh -c "podman exec '$NAME' systemctl is-system-running 2>/dev/null | grep -Eq 'running|degraded'" ||
	{ echo "1..0 # SKIP systemd did not come up in the container"; exit 0; }

sh "$T/keys/setup-reader" "$W/r" || bail "cannot make the reader keyring"
start_sink
for k in alice.sec.asc bob.pub.asc; do
	in_box runuser -u koverto -- gpg --homedir /var/lib/koverto/gnupg --batch --quiet --import < "$T/keys/$k"
done
in_box runuser -u koverto -- gpg --homedir /var/lib/koverto/gnupg --batch --quiet --import-ownertrust \
	< "$T/keys/ownertrust"
in_box sh -c "echo no-random-seed-file > /var/lib/koverto/gnupg/gpg.conf && chown koverto: /var/lib/koverto/gnupg/gpg.conf &&
	sed -i -e 's/^msserver = localhost/msserver = 127.0.0.1/' -e 's/^msport = 25/msport = $PORT/' \
		-e 's/^# defaultkey = .*/defaultkey = $(fpr alice)/' /etc/koverto/koverto.conf"
in_box systemctl start koverto 2>"$W/start.err"
check "systemctl start koverto (Type=notify)" [ $? = 0 ] || diag "$(in_box journalctl -u koverto --no-pager | tail -5)"
check "systemd shows koverto's STATUS=" sh -c "podman exec '$NAME' systemctl show -p StatusText koverto |
	grep -q '^StatusText=watching /var/lib/koverto/spool (must-encrypt'"
check "it runs as koverto" [ "$(in_box systemctl show -p User --value koverto)" = koverto ]
printf 'From: alice@example.org\nTo: carol@example.net\nSubject: s1\n\nMARK-SIGN\n' |
	in_box runuser -u koverto -- koverto submit --queue sign-only
printf 'From: alice@example.org\nTo: bob@example.net\nSubject: s2\n\nMARK-ENC\n' |
	in_box runuser -u koverto -- koverto submit --queue must-encrypt
wait_sink 2 || diag "journal: $(in_box journalctl -u koverto --no-pager | tail -5)"
m=$(grep -l "Subject: s1" $(sink_files) 2>/dev/null)
check "in the sandbox, gpg signs" verify_signed "$m"
m=$(grep -l "Subject: s2" $(sink_files) 2>/dev/null)
check "in the sandbox, gpg encrypts (must-encrypt), nothing in plaintext" sh -c "
	[ -n '$m' ] && grep -q 'BEGIN PGP MESSAGE' '$m'" && no_plaintext MARK-ENC
in_box systemctl reload koverto
check "systemctl reload returns (RELOADING=1, then READY=1)" [ $? = 0 ]
wait_for 10 sh -c "podman exec '$NAME' journalctl -u koverto --no-pager | grep -q 'reload: configuration'"
check "reloaded, and active" sh -c "
	podman exec '$NAME' journalctl -u koverto --no-pager | grep -q 'reload: configuration' &&
	podman exec '$NAME' systemctl is-active koverto | grep -qx active" ||
	diag "$(in_box journalctl -u koverto --no-pager | tail -5)"
exposure=$(in_box systemd-analyze security koverto 2>/dev/null |
	sed -n 's/.*Overall exposure level for koverto.service: \([0-9.]*\).*/\1/p')
check "systemd-analyze security of the running unit: $exposure, at most 2.0" \
	awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 2.0) }'
in_box systemctl stop koverto
check "systemctl stop: clean (inactive, not failed)" [ "$(in_box systemctl is-active koverto)" = inactive ]
check "the stop went through koverto's own path" sh -c "
	podman exec '$NAME' journalctl -u koverto --no-pager | grep -q 'stopping: finishing the mail in hand'"
# Each build leaves the previous image's layers untagged (the build stage
# alone is 1 GB): those from before this run go; this run's stay as the
# cache of the next.
podman image prune -f --filter label=org.koverto.image=1 --filter "until=$started" >/dev/null 2>&1
diag "t/0168 took $(( $(date +%s) - started )) s"
done_testing
