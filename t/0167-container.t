#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 16: the container. Builds packaging/Containerfile with podman (on a
# Debian 12 minbase image imported from debootstrap's root: this machine
# reaches no container registry), runs it with the configuration, the
# keys and queues, and the logs on volumes, on the host's network with an
# SMTP sink on loopback; checks that koverto runs as UID 10001 under tini,
# that a mail submitted with `podman exec` goes out signed, that gpg-agent
# leaves no zombie, and that `podman stop` (SIGTERM) ends it cleanly with
# status 0. Root, podman and plain runs only; skipped otherwise, and when
# no container runs here. Where the default runtime cannot start one (no
# systemd, cgroups v1, rlimits: as on this project's machines), it retries
# with runc, cgroupfs and no default ulimits.
. "$T/lib.sh"
why=
[ "$(id -u)" = 0 ] || why="needs root"
[ -z "$why" ] && ! command -v podman >/dev/null && why="podman is not installed"
[ -z "$why" ] && [ -n "${KOVERTO_BIN:-}" ] && why="plain runs only (under valgrind)"
[ -z "$why" ] && ldd "$KOVERTO" 2>/dev/null | grep -q libasan && why="plain runs only (under ASan)"
if [ -n "$why" ]; then echo "1..0 # SKIP $why"; exit 0; fi
started=$(date +%s)
work_dir kovc
CACHE=${KOV_DEB_CACHE:-/var/cache/koverto-test}
BASE=localhost/koverto-test-base:bookworm
IMAGE=localhost/koverto-test:latest
NAME=kovt-$$
stop_daemon_at_exit() { podman rm -f -t 0 "$NAME" >/dev/null 2>&1; }

# ---- an engine that runs, and a base image ---------------------------------
mkdir -p "$CACHE"
if ! podman image exists "$BASE"; then
	if [ ! -s "$CACHE/bookworm-minbase.tgz" ]; then
		mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
		debootstrap --variant=minbase bookworm "$W/mb" "$mirror" >"$W/debootstrap.log" 2>&1 ||
			{ echo "1..0 # SKIP debootstrap cannot run here"; exit 0; }
		tar -C "$W/mb" -czf "$CACHE/bookworm-minbase.tgz.$$" . &&
			mv "$CACHE/bookworm-minbase.tgz.$$" "$CACHE/bookworm-minbase.tgz"
		rm -rf "$W/mb"
	fi
	podman import "$CACHE/bookworm-minbase.tgz" "$BASE" >/dev/null 2>"$W/import.err" ||
		{ echo "1..0 # SKIP podman cannot import an image: $(tail -1 "$W/import.err")"; exit 0; }
fi
if ! podman run --rm --network=host "$BASE" true 2>"$W/run.err"; then
	printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n' \
		> "$W/containers.conf"
	CONTAINERS_CONF=$W/containers.conf
	export CONTAINERS_CONF
	podman run --rm --network=host "$BASE" true 2>>"$W/run.err" ||
		{ echo "1..0 # SKIP podman cannot run a container here: $(tail -1 "$W/run.err")"; exit 0; }
	diag "podman runs containers with runc, cgroupfs and no default ulimits: $(head -1 "$W/run.err")"
fi

# ---- the image -------------------------------------------------------------
top=$(cd "$T/.." && pwd)
podman build --network=host --build-arg BASE="$BASE" -f "$top/packaging/Containerfile" \
	-t "$IMAGE" "$top" >"$W/build.log" 2>&1
check "podman build -f packaging/Containerfile" [ $? = 0 ] || bail "$(tail -5 "$W/build.log")"
diag "image built in $(( $(date +%s) - started )) s"

# ---- the volumes, as an operator prepares them -----------------------------
sh "$T/keys/setup-reader" "$W/r" || bail "cannot make the reader keyring"
start_sink
mkdir -p "$W/etc" "$W/state/spool" "$W/logs"
sh "$T/keys/setup-home" "$W/state/gnupg" || bail "cannot make the keyring"
gpgconf --homedir "$W/state/gnupg" --kill all 2>/dev/null
podman run --rm --entrypoint cat "$IMAGE" /etc/koverto/koverto.conf > "$W/etc/koverto.conf"
sed -i -e "s/^msserver = localhost/msserver = 127.0.0.1/" -e "s/^msport = 25/msport = $PORT/" \
	-e "s/^# defaultkey = .*/defaultkey = $(fpr alice)/" "$W/etc/koverto.conf"
check "the image's configuration uses the state volume" grep -qx 'queuedir = /var/lib/koverto/spool' "$W/etc/koverto.conf"
chmod 700 "$W/state" "$W/state/spool" "$W/logs"
chmod 600 "$W/etc/koverto.conf"
chown -R 10001:10001 "$W/etc" "$W/state" "$W/logs"

# ---- run, send, stop -------------------------------------------------------
podman run -d --name "$NAME" --network=host -v "$W/etc:/etc/koverto:ro" -v "$W/state:/var/lib/koverto" \
	-v "$W/logs:/var/log/koverto" "$IMAGE" >/dev/null 2>"$W/run.err"
check "podman run (the volumes mounted)" [ $? = 0 ] || diag "$(cat "$W/run.err")"
wait_for 30 sh -c "podman logs '$NAME' 2>&1 | grep -q 'ready: watching /var/lib/koverto/spool'" ||
	diag "logs: $(podman logs "$NAME" 2>&1 | tail -5)"
check "PID 1 is tini" [ "$(podman exec "$NAME" cat /proc/1/comm 2>/dev/null)" = tini ]
check "koverto runs as UID 10001" sh -c "podman exec '$NAME' sh -c '
	for p in /proc/[0-9]*; do [ \"\$(cat \$p/comm)\" = koverto ] && awk \"/^Uid:/ { print \\\$2 }\" \$p/status; done' |
	sort -u | grep -qx 10001"
printf 'From: alice@example.org\nTo: carol@example.net\nSubject: box\n\nMARK-BOX\n' |
	podman exec -i "$NAME" koverto submit --queue sign-only 2>"$W/submit.err"
check "podman exec koverto submit queues a mail" [ $? = 0 ] || diag "$(cat "$W/submit.err")"
wait_sink 1 || diag "logs: $(podman logs "$NAME" 2>&1 | tail -5)"
check "the mail reaches the sink, signed" verify_signed "$(latest)"
check "signed with the key on the volume (alice)" grep -q "VALIDSIG $(fpr alice)" "$W/verify.status"
check "gpg-agent runs, its socket in /run/user/10001, not on the volume" sh -c "
	podman exec '$NAME' sh -c 'for p in /proc/[0-9]*; do cat \$p/comm; done' | grep -qx gpg-agent &&
	[ ! -S '$W/state/gnupg/S.gpg-agent' ]"
# The agent ends (as when its idle time is up): PID 1 must reap it, or it
# stays a zombie (koverto as PID 1 would never wait for it).
podman exec "$NAME" gpgconf --homedir /var/lib/koverto/gnupg --kill gpg-agent
states() {
	podman exec "$NAME" sh -c 'for p in /proc/[0-9]*; do echo "$(cat $p/comm) $(cut -d" " -f3 $p/stat)"; done' 2>/dev/null
}
wait_for 10 sh -c "! podman exec '$NAME' sh -c 'for p in /proc/[0-9]*; do cat \$p/comm; done' | grep -qx gpg-agent"
states > "$W/states"
check "the ended gpg-agent is reaped: no zombie" sh -c "! grep -q ' Z\$' '$W/states'" ||
	diag "processes: $(tr '\n' ';' < "$W/states")"
t0=$(date +%s)
podman stop -t 60 "$NAME" >/dev/null 2>&1
took=$(( $(date +%s) - t0 ))
check "podman stop: koverto ends on SIGTERM in ${took} s, status 0" sh -c "
	[ \"\$(podman inspect -f '{{.State.ExitCode}}' '$NAME')\" = 0 ] && [ $took -lt 30 ]"
check "the log says it stopped" sh -c "podman logs '$NAME' 2>&1 | grep -q 'koverto stopping'"
# Each build leaves the previous image's layers untagged (the build stage
# alone is 1 GB): those from before this run go; this run's stay as the
# cache of the next.
podman image prune -f --filter label=org.koverto.image=1 --filter "until=$started" >/dev/null 2>&1
diag "t/0167 took $(( $(date +%s) - started )) s"
done_testing
