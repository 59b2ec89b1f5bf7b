# SPDX-License-Identifier: GPL-3.0-or-later
# Shared helpers for the tests of Postfix in front of koverto (issue 13):
# a private Postfix instance (`postfix -c $PF`: its own configuration,
# queue and data directories, logging to a file, smtpd on a free loopback
# port, not chrooted, master as root), a private Dovecot that only does
# SASL authentication for it (its own base_dir, a passwd-file of {CRYPT}
# hashes, the auth socket at the instance's private/auth), and koverto
# run as an unprivileged user (Postfix's pipe(8) never runs a command as
# root). Everything is stopped by PID at exit, also when the test fails.
#
#   . "$T/lib.sh"; . "$T/postfix.sh"   (which sources t/asuser.sh)
#   pf_require                 # root, postfix, dovecot: else SKIP (FAIL under CI=true)
#   pf_setup                   # setup (lib.sh) + kovtest + traps; KOVUSER
#   pf_init                    # PF=$W/pf (configuration), PFQ (queue), PFD (data),
#                              # PFPORT; the instance's plumbing
#   pf_main  "key = value"...  # set main.cf parameters (postconf -e); pf_main_file FILE
#   pf_master < lines          # more master.cf lines; @PFPORT@ is the smtpd port
#   dv_init; dv_user NAME PW   # Dovecot auth for them (smtpd_sasl_path = private/auth)
#   dv_start
#   pf_start                   # check, start, wait until smtpd answers
#   kov_own; start_daemon_as   # koverto's files to KOVUSER, the daemon as KOVUSER
#   pf_swaks USER PASSWORD FROM TO [swaks args...]
#   as_kov CMD...              # CMD as KOVUSER
#   pf_queue_ids / pf_flush / pf_log / pf_reload / pf_postmap / pf_stop / dv_stop
#
# Used by t/0120-0124 and by t/0125-0127 (scale-out). Change it with them.
. "$T/asuser.sh"

PF=
PFQ=
PFD=
PFPORT=
PF_MASTER_PID=
DV=
DV_PID=

# pf_require: this test needs root (Postfix's master, useradd, chown) and
# the postfix and dovecot-core packages (scripts/deps). Otherwise it is
# skipped, except under CI=true, where it fails.
pf_require() {
	why=
	[ "$(id -u)" = 0 ] || why="not root"
	[ -z "$why" ] && ! command -v postfix >/dev/null 2>&1 && why="postfix is not installed (scripts/deps)"
	[ -z "$why" ] && ! [ -x /usr/sbin/dovecot ] && why="dovecot-core is not installed (scripts/deps)"
	[ -z "$why" ] && ! command -v setpriv >/dev/null 2>&1 && why="setpriv (util-linux) is missing"
	skip_unless_ok "$why"
}

# pf_setup [setup args]: lib.sh's setup, KOVUSER, a work dir others can
# traverse (Postfix's smtpd runs as postfix, pipe as KOVUSER) and the
# cleanup that stops Postfix and Dovecot before lib.sh's.
pf_setup() {
	setup "$@"
	kov_user
	chmod 711 "$W"
	trap pf_cleanup EXIT
}

pf_cleanup() {
	pf_stop
	dv_stop
	# koverto's gpg-agent runs as KOVUSER: kill it as KOVUSER.
	[ -d "$W/g" ] && as_kov gpgconf --homedir "$W/g" --kill all 2>/dev/null
	cleanup
}

# kov_own: koverto's queue, GnuPG home, log, temp dir and configuration
# belong to KOVUSER (after setup/write_config; again after each new CONF).
kov_own() {
	mkdir -p "$W/q" "$W/tmp"
	chmod 700 "$W/q" "$W/tmp"
	touch "$W/log" "$W/stderr"
	chown -R "$KOVUSER:" "$W/q" "$W/tmp" "$W/g" "$W/log" "$W/kh" "$CONF"
	# stderr stays root's: the shell that starts the daemon opens it.
}

# pf_services: master.cf's lines for Postfix's own services, unchrooted
# (the smtp client and tlsproxy only where a test relays: add them).
pf_services() {
	cat <<'EOF'
cleanup   unix  n       -       n       -       0       cleanup
pickup    unix  n       -       n       60      1       pickup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

# pf_init: PF, the instance's main.cf and master.cf with what every test
# instance needs and nothing about koverto: its own directories, loopback
# only, a log file through postlogd, no local delivery, nothing relayed,
# the internal services (unchrooted). pf_main and pf_master add the rest.
pf_init() {
	PF=$W/pf PFQ=$W/pfq PFD=$W/pfd
	mkdir -p "$PF" "$PFQ" "$PFD"
	chown postfix: "$PFD"
	PFPORT=$(free_port)
	cat > "$PF/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PFQ
data_directory = $PFD
mail_owner = postfix
setgid_group = postdrop
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = postfix.koverto.test
mydomain = koverto.test
myorigin = \$myhostname
mydestination =
relay_domains =
local_recipient_maps =
local_transport = error:5.1.1 no local delivery
default_transport = error:5.3.0 no delivery from this instance
biff = no
EOF
	pf_services > "$PF/master.cf.in"
	# The queue's directories (private/ for Dovecot's socket), as postfix
	# check makes them.
	cp "$PF/master.cf.in" "$PF/master.cf"
	postfix -c "$PF" check >>"$PF/start.log" 2>&1 || bail "postfix check: $(tail -5 "$PF/start.log")"
}

# pf_main "NAME = VALUE"...: set main.cf parameters (postconf -e: an existing
# one is replaced in place, so Postfix never warns of an overridden entry).
# Lines that are empty or comments are skipped. pf_main_file FILE: each line of FILE.
pf_main() {
	for line in "$@"; do
		case $line in '' | '#'*) continue ;; esac
		postconf -c "$PF" -e "$line" || bail "postconf -e: $line"
	done
}
pf_main_file() {
	while IFS= read -r line; do pf_main "$line"; done < "$1"
}
# pf_master: more master.cf lines from stdin; @PFPORT@ becomes the port.
pf_master() { cat >> "$PF/master.cf.in"; }

pf_master_pid() {
	p=$(tr -dc 0-9 < "$PFQ/pid/master.pid" 2>/dev/null)
	[ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"
}
# pf_answers: smtpd on PFPORT greets.
pf_answers() {
	"$PY" -c 'import smtplib,sys; s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=5); s.quit()' "$PFPORT"
}

# pf_start: postfix check, start, until smtpd greets on PFPORT. A port that
# somebody took meanwhile: a new one, up to 5 tries.
pf_start() {
	tries=0
	while :; do
		sed "s/@PFPORT@/$PFPORT/g" "$PF/master.cf.in" > "$PF/master.cf"
		postfix -c "$PF" check >>"$PF/start.log" 2>&1 || bail "postfix check: $(tail -5 "$PF/start.log")"
		postfix -c "$PF" start >>"$PF/start.log" 2>&1 || bail "postfix start: $(tail -5 "$PF/start.log")"
		wait_for 10 pf_master_pid >/dev/null || bail "postfix master did not start: $(tail -5 "$PF/start.log")"
		PF_MASTER_PID=$(pf_master_pid)
		wait_for 10 pf_answers && return 0
		tries=$((tries + 1))
		[ "$tries" -ge 5 ] && bail "postfix: smtpd does not answer on $PFPORT: $(tail -5 "$PF/maillog")"
		pf_stop
		PFPORT=$(free_port)
	done
}

# pf_stop: stop the instance and wait for its master to be gone (a kill
# by PID if it does not go).
pf_stop() {
	[ -n "$PF_MASTER_PID" ] || return 0
	postfix -c "$PF" stop >>"$PF/start.log" 2>&1
	wait_for 10 sh -c "! kill -0 $PF_MASTER_PID" || kill -9 "$PF_MASTER_PID" 2>/dev/null
	PF_MASTER_PID=
}

# pf_reload: postfix reload (main.cf or master.cf changed).
pf_reload() {
	sed "s/@PFPORT@/$PFPORT/g" "$PF/master.cf.in" > "$PF/master.cf"
	postfix -c "$PF" reload >>"$PF/start.log" 2>&1
}

# pf_log: the instance's log. pf_queue_ids: the IDs of the mails in its
# queue (postqueue -j). pf_flush: postqueue -f (deliver the deferred now).
pf_log() { cat "$PF/maillog" 2>/dev/null; }
pf_queue_ids() {
	postqueue -c "$PF" -j 2>/dev/null | "$PY" -c '
import json, sys
for line in sys.stdin:
    print(json.loads(line)["queue_id"])'
}
pf_queue_count() { pf_queue_ids | grep -c .; }
pf_flush() { postqueue -c "$PF" -f; }
# pf_postmap FILE: a hash: table from FILE (FILE.db).
pf_postmap() { postmap -c "$PF" "hash:$1"; }

# pf_swaks USER PASSWORD FROM TO [swaks args...]: one mail over STARTTLS +
# AUTH PLAIN to the instance (the test CA's server certificate, verified).
pf_swaks() {
	u=$1 p=$2 f=$3 t=$4; shift 4
	swaks --server "127.0.0.1:$PFPORT" -tls --tls-ca-path "$CA/ca.pem" --tls-verify \
		--auth PLAIN --auth-user "$u" --auth-password "$p" --from "$f" --to "$t" "$@"
}

# Dovecot that only authenticates, for the instance's smtpd: DV=$W/dv.
# dv_init: DV and its directories, an empty passwd-file, and dovecot.conf
#   (below) unless the test writes its own $DV/dovecot.conf afterwards.
# dv_user NAME PASSWORD [HASH]: a passwd-file line NAME:{CRYPT}HASH
#   (default: SHA-512 crypt of PASSWORD, as crypt(3) checks it).
# dv_start: dovecot -F with $DV/dovecot.conf plus log_path, until the auth
#   socket is in the instance's private/ directory (pf_init first).
dv_init() {
	DV=$W/dv
	mkdir -p "$DV/run" "$DV/state"
	: > "$DV/passwd"
	chown root:dovecot "$DV/passwd"
	chmod 640 "$DV/passwd"
	cat > "$DV/dovecot.conf" <<EOF
base_dir = $DV/run
state_dir = $DV/state
protocols =
ssl = no
auth_mechanisms = plain login
passdb {
  driver = passwd-file
  args = scheme=CRYPT username_format=%u $DV/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener $PFQ/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
EOF
}
dv_user() {
	h=${3:-$(openssl passwd -6 "$2")}
	printf '%s:{CRYPT}%s\n' "$1" "$h" >> "$DV/passwd"
}
dv_start() {
	echo "log_path = $DV/log" >> "$DV/dovecot.conf"
	/usr/sbin/dovecot -F -c "$DV/dovecot.conf" >>"$DV/start.log" 2>&1 &
	DV_PID=$!
	wait_for 10 test -S "$PFQ/private/auth" ||
		bail "dovecot did not start: $(tail -5 "$DV/start.log" "$DV/log" 2>/dev/null)"
}

dv_stop() {
	[ -n "$DV_PID" ] || return 0
	kill "$DV_PID" 2>/dev/null
	wait "$DV_PID" 2>/dev/null
	DV_PID=
}
