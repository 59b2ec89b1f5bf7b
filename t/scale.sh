# SPDX-License-Identifier: GPL-3.0-or-later
# Helpers for the scale-out tests (t/0125-0127, doc/scale-out.md): several
# koverto hosts on one machine, each a daemon with its own work directory,
# queue, log, listener port and copy of the keys, all delivering to the
# test's one sink; and a private Postfix instance in front of them that
# spreads each application's mail over the hosts. Source after t/lib.sh
# and setup (W, PORT, CA from test_ca).
. "$T/postfix.sh"   # pf_services, Dovecot's helpers

# scale_setup: setup, the test CA, hosts a and b, the front before them;
# at exit everything is stopped (scale_cleanup).
scale_setup() {
	setup
	test_ca
	CRM_HASH=$(hash_pw crm-pw)
	host_setup a
	host_setup b
	front_setup a b
	stop_daemon_at_exit() { scale_cleanup; }
}

# host_setup NAME: koverto host NAME in $W/NAME: a copy of the keyring of
# scale_keys (the checksums of its key files in $W/NAME/keys.sum), its
# queue, log, tempdir and a configuration with a [listen] section on a
# free port (HPORT_NAME) and the three applications as [client]s: mon
# and tix by the test CA's client1 and client2 certificates, crm by the
# password hash CRM_HASH (set it first).
host_setup() {
	h=$W/$1
	SCALE_HOSTS="${SCALE_HOSTS:-} $1"
	mkdir -p "$h/tmp"
	chmod 700 "$h/tmp"
	[ -d "$W/keys" ] || scale_keys
	cp -a "$W/keys" "$h/g"
	host_keysum "$1" > "$h/keys.sum"
	p=$(free_port)
	eval "HPORT_$1=$p"
	{
		echo "[koverto]"
		echo "queuedir = $h/q"
		echo "tempdir = $h/tmp"
		echo "gnupghome = $h/g"
		echo "defaultkey = $(fpr alice)"
		echo "msserver = 127.0.0.1"
		echo "msport = $PORT"
		echo "logfile = $h/log"
		echo "[listen]"
		echo "submission = 127.0.0.1:$p"
		echo "tls-cert = $CA/server.pem"
		echo "tls-key = $CA/server.key"
		echo "hostname = $1.koverto.test"
		echo "max-sessions-per-ip = 200"
		echo "max-sessions = 200"
		echo "[client mon]"
		echo "certificate = $(cat "$CA/client1.sha256")"
		echo "queue = must-encrypt"
		echo "key = $(fpr sam)"
		echo "senders = nagios@example\\.org"
		echo "[client tix]"
		echo "certificate = $(cat "$CA/client2.sha256")"
		echo "queue = fallback"
		echo "key = $(fpr alice)"
		echo "senders = tickets@example\\.org"
		echo "[client crm]"
		echo "password = $CRM_HASH"
		echo "queue = sign-only"
		echo "key = $(fpr carol)"
		echo "senders = crm@example\\.org"
	} > "$h/koverto.conf"
	chmod 600 "$h/koverto.conf"
}

# front_setup HOST...: a private Postfix instance in FRONT=$W/front (its own
# config, queue and data directories, log file $FRONT/maillog), listening on
# three loopback ports, one per application (FPORT_mon, FPORT_tix,
# FPORT_crm), and on FPORT_sasl for SASL logins mon, tix and crm (with
# FRONT_SASL set, see front_sasl); each application's mail goes to its own smtp transport
# (kov-APP), which logs in to koverto as that application's [client];
# the next hop is picked at random among the HOSTs (randmap) and every
# HOST is the transport's fallback relay, in order.
front_setup() {
	FRONT=$W/front
	mkdir -p "$FRONT/etc" "$FRONT/spool" "$FRONT/data"
	chown postfix "$FRONT/data"
	chmod 755 "$W" "$FRONT"
	pf_sites=
	for hst in "$@"; do
		pf_sites="$pf_sites${pf_sites:+, }[127.0.0.1]:$(eval echo "\$HPORT_$hst")"
	done
	{
		cat <<CF
compatibility_level = 3.6
queue_directory = $FRONT/spool
data_directory = $FRONT/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = front.koverto.test
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
maillog_file_prefixes = $FRONT
maillog_file = $FRONT/maillog
default_transport = kov-unrouted
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_client_event_limit_exceptions =
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_connect_timeout = 5s
smtp_tls_security_level = secure
smtp_tls_CAfile = $CA/ca.pem
smtp_tls_secure_cert_match = localhost
smtp_fallback_relay = $pf_sites
CF
		# randmap:{} splits its results at blanks, and an access map's
		# result may name a restriction class but not hold a table: so
		# one class per application and host, picked by randmap.
		classes=
		for app in mon tix crm; do
			printf 'to_%s = check_client_access randmap:{' "$app"
			sep=
			for hst in "$@"; do
				printf '%s%s_%s' "$sep" "$app" "$hst"
				sep=', '
				classes="$classes${classes:+, }${app}_$hst"
			done
			printf '}, permit_mynetworks, reject\n'
			for hst in "$@"; do
				printf '%s_%s = check_client_access static:{FILTER kov-%s:[127.0.0.1]:%s}\n' \
					"$app" "$hst" "$app" "$(eval echo "\$HPORT_$hst")"
			done
		done
		echo "smtpd_restriction_classes = to_mon, to_tix, to_crm, $classes"
	} > "$FRONT/etc/main.cf"
	FPORT_mon=$(free_port) FPORT_tix=$(free_port) FPORT_crm=$(free_port) FPORT_sasl=$(free_port)
	{
		for app in mon tix crm; do
			echo "127.0.0.1:$(eval echo "\$FPORT_$app") inet n - n - - smtpd"
			echo "  -o syslog_name=postfix/front-$app -o smtpd_recipient_restrictions=to_$app"
		done
		# doc/scale-out.md's front: SASL logins (Dovecot, front_sasl),
		# each login tied to its sender and routed to its class.
		cat <<CF
127.0.0.1:$FPORT_sasl inet n - n - - smtpd
  -o syslog_name=postfix/front-sasl
  -o smtpd_sasl_auth_enable=yes -o smtpd_sasl_type=dovecot -o smtpd_sasl_path=private/auth
  -o { smtpd_sender_login_maps = inline:{ nagios@example.org=mon, tickets@example.org=tix, crm@example.org=crm } }
  -o smtpd_sender_restrictions=reject_sender_login_mismatch
  -o { smtpd_recipient_restrictions = check_sasl_access inline:{ mon=to_mon, tix=to_tix, crm=to_crm }, reject }
CF
		pf_services
		cat <<CF
smtp      unix  -       -       n       -       -       smtp
tlsproxy  unix  -       -       n       -       0       tlsproxy
kov-mon   unix  -       -       n       -       -       smtp
  -o syslog_name=postfix/kov-mon
  -o smtp_tls_cert_file=$CA/client1.pem -o smtp_tls_key_file=$CA/client1.key
kov-tix   unix  -       -       n       -       -       smtp
  -o syslog_name=postfix/kov-tix
  -o smtp_tls_cert_file=$CA/client2.pem -o smtp_tls_key_file=$CA/client2.key
kov-crm   unix  -       -       n       -       -       smtp
  -o syslog_name=postfix/kov-crm
  -o smtp_sasl_auth_enable=yes -o smtp_sasl_password_maps=static:crm:crm-pw
  -o smtp_sasl_tls_security_options=noanonymous
CF
	} > "$FRONT/etc/master.cf"
}
# front_start / front_stop: the instance; front_stop (also at exit, by
# scale_cleanup) waits until its master is gone, and kills it by PID if
# it does not go.
front_master_pid() {
	p=$(tr -dc 0-9 < "$FRONT/spool/pid/master.pid" 2>/dev/null)
	[ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"
}
front_answers() {
	"$PY" -c 'import smtplib,sys; smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=5).quit()' "$FPORT_crm"
}
front_start() {
	postfix -c "$FRONT/etc" check 2>>"$W/front.err" || bail "postfix check: $(cat "$W/front.err")"
	[ -n "${FRONT_SASL:-}" ] && front_sasl
	postfix -c "$FRONT/etc" start 2>>"$W/front.err" || bail "postfix start: $(cat "$W/front.err")"
	wait_for 10 front_master_pid >/dev/null || bail "postfix master did not start: $(tail -3 "$FRONT/maillog")"
	FRONT_PID=$(front_master_pid)
	wait_for 10 front_answers || bail "postfix does not answer: $(tail -3 "$FRONT/maillog")"
}
# front_sasl: with FRONT_SASL set, front_start starts a Dovecot that only
# authenticates (t/postfix.sh's dv_*), its socket in the instance's
# private/, the applications' logins mon, tix and crm (passwords
# APP-login) in its passwd-file.
front_sasl() {
	PFQ=$FRONT/spool
	dv_init
	for app in mon tix crm; do dv_user "$app" "$app-login"; done
	dv_start
}
front_stop() {
	[ -n "${FRONT_PID:-}" ] || return 0
	postfix -c "$FRONT/etc" stop 2>>"$W/front.err"
	wait_for 10 sh -c "! kill -0 $FRONT_PID" || kill -9 "$FRONT_PID" 2>/dev/null
	FRONT_PID=
}

# scale_keys: the keyring every host gets a copy of, $W/keys: the test's
# ($W/g) plus carol's secret key (crm signs with it), each secret key used
# once. gpg-agent keeps a secret key imported from OpenPGP in that form
# and rewrites its file in its own format the first time it uses it: a
# copy made before that would change under the host (and a read-only one
# could never be converted), so the keys are settled before they are
# copied, as doc/scale-out.md advises.
scale_keys() {
	cp -a "$W/g" "$W/keys"
	rm -f "$W/keys"/S.* "$W/keys"/*.lock
	"$GPG" --homedir "$W/keys" --batch --quiet --import "$T/keys/carol.sec.asc" 2>/dev/null ||
		bail "cannot import carol's secret key"
	for k in alice sam carol; do
		echo settle | "$GPG" --homedir "$W/keys" --batch --quiet -u "$(fpr "$k")" --sign > /dev/null 2>&1 ||
			bail "cannot sign with $k's key"
	done
	gpgconf --homedir "$W/keys" --kill all 2>/dev/null
	rm -f "$W/keys"/S.* "$W/keys/pubring.kbx~"
}
# host_keysum NAME: checksums of host NAME's key files (public keyring,
# trust, secret keys). The tests run as root, whom file modes do not stop,
# so "the host never writes its keys" is checked by these instead.
host_keysum() {
	(cd "$W/$1/g" && sha256sum pubring.kbx trustdb.gpg private-keys-v1.d/*)
}
# host_keys_unchanged NAME: host NAME's key files are as host_setup left them.
host_keys_unchanged() { host_keysum "$1" | cmp -s - "$W/$1/keys.sum"; }

# host_start NAME: start host NAME's daemon (HPID_NAME) and wait until its
# listener is ready (a new "listener: ready on" line in its log).
host_start() {
	h=$W/$1
	n0=$(grep -c 'listener: ready on' "$h/log" 2>/dev/null)
	"$KOVERTO" -c "$h/koverto.conf" 2>>"$h/stderr" &
	eval "HPID_$1=$!"
	wait_for 30 sh -c "[ \$(grep -c 'listener: ready on' '$h/log') -gt ${n0:-0} ]" ||
		bail "host $1 did not start: $(cat "$h/stderr")"
}
# host_kill NAME: kill -9 host NAME's daemon and its listener (a crash of
# the host's koverto; its workers, in process groups of their own, finish
# the mail in hand as after any crash, koverto(8)).
host_kill() {
	d=$(eval echo "\$HPID_$1")
	l=$(ps -e -o pid=,ppid=,comm= | awk -v d="$d" '$2 == d && $3 == "koverto-listen" { print $1 }')
	kill -9 "$d" $l 2>/dev/null
	wait "$d" 2>/dev/null
	eval "HPID_$1="
}
# host_stop NAME: stop host NAME's daemon (SIGTERM) and wait for it; its
# exit status in HSTATUS (under valgrind, 99 for a memory error).
host_stop() {
	HSTATUS=
	d=$(eval echo "\${HPID_$1:-}")
	[ -n "$d" ] || return 0
	kill "$d" 2>/dev/null
	wait "$d" 2>/dev/null
	HSTATUS=$?
	eval "HPID_$1="
}
# hosts_stop_cleanly NAME...: stop each host; all exited 0.
hosts_stop_cleanly() {
	hsc=0
	for hst in "$@"; do
		host_stop "$hst"
		[ "$HSTATUS" = 0 ] || { diag "host $hst exited with $HSTATUS"; hsc=1; }
	done
	return $hsc
}

# send_apps FIRST N SECONDS: mails FIRST to FIRST+N-1 into the front,
# spread over about SECONDS, over the three applications' ports in turn
# (mail I from application I mod 3; one SMTP session per application, in
# parallel), each with a
# Message-ID <scale-APP-I@koverto.test> and a body line secret-APP-I:
#   mon  nagios@example.org   -> bob@example.net, carol@example.net
#   tix  tickets@example.org  -> bob@example.net (I even), dave@example.com (I odd)
#   crm  crm@example.org      -> dave@example.com
# With FRONT_SASL set, all three log in on the SASL port instead (as mon,
# tix, crm). The expected (Message-ID, recipient) pairs are added to
# $W/expected, one a line.
send_apps() {
	"$PY" - "$2" "$FPORT_mon" "$FPORT_tix" "$FPORT_crm" "$W/expected" "$3" "$1" "${FRONT_SASL:+$FPORT_sasl}" <<'PYEOF'
import smtplib, sys, threading, time
n, first = int(sys.argv[1]), int(sys.argv[7])
sasl = int(sys.argv[8]) if sys.argv[8] else 0
start, span = time.monotonic(), float(sys.argv[6])
ports = dict(mon=int(sys.argv[2]), tix=int(sys.argv[3]), crm=int(sys.argv[4]))
sender = dict(mon="nagios@example.org", tix="tickets@example.org", crm="crm@example.org")
def rcpts(app, i):
    if app == "mon": return ["bob@example.net", "carol@example.net"]
    if app == "tix": return ["bob@example.net"] if i % 2 == 0 else ["dave@example.com"]
    return ["dave@example.com"]
apps = ["mon", "tix", "crm"]
work = {a: [] for a in apps}
for i in range(first, first + n):
    work[apps[i % 3]].append(i)
errors = []
def run(app):
    if sasl:
        s = smtplib.SMTP("127.0.0.1", sasl, timeout=60)
        s.login(app, app + "-login")
    else:
        s = smtplib.SMTP("127.0.0.1", ports[app], timeout=60)
    for i in work[app]:
        pause = start + span * (i - first) / n - time.monotonic()
        if pause > 0: time.sleep(pause)
        to = rcpts(app, i)
        msg = ("From: %s\r\nTo: %s\r\nSubject: scale %s %d\r\nMessage-ID: <scale-%s-%d@koverto.test>\r\n"
               "\r\nsecret-%s-%d\r\n" % (sender[app], ", ".join(to), app, i, app, i, app, i))
        try:
            s.sendmail(sender[app], to, msg)
        except Exception as e:
            errors.append("%s %d: %s" % (app, i, e))
    s.quit()
ts = [threading.Thread(target=run, args=(a,)) for a in apps]
for t in ts: t.start()
for t in ts: t.join()
with open(sys.argv[5], "a") as f:
    for app in apps:
        for i in work[app]:
            for r in rcpts(app, i):
                f.write("<scale-%s-%d@koverto.test> %s\n" % (app, i, r))
for e in errors: print(e, file=sys.stderr)
sys.exit(1 if errors else 0)
PYEOF
}
# sink_pairs: "Message-ID recipient" of every copy at the sink, one a line
# (a copy with two envelope recipients gives two lines).
sink_pairs() {
	"$PY" - "$SINK" <<'PYEOF'
import email, glob, json, sys
for j in sorted(glob.glob(sys.argv[1] + "/*.json")):
    with open(j[:-5] + ".eml", "rb") as f:
        m = email.message_from_binary_file(f)
    for r in json.load(open(j))["rcpt_tos"]:
        print(m.get("Message-ID", "-"), r)
PYEOF
}

# scale_cleanup: at exit, stop Postfix and the hosts, and the hosts' gpg
# agents (cleanup does the test's own).
scale_cleanup() {
	front_stop
	[ -n "${DV_PID:-}" ] && dv_stop
	for hst in ${SCALE_HOSTS:-}; do
		host_stop "$hst"
		gpgconf --homedir "$W/$hst/g" --kill all 2>/dev/null
	done
}

# scale_require_postfix: Postfix, libsasl2-modules, with FRONT_SASL Dovecot
# (scripts/deps), and root (postfix -c DIR start runs master as root);
# without them skip, but fail under CI=true.
scale_require_postfix() {
	why=
	[ "$(id -u)" = 0 ] || why="not root"
	command -v postfix >/dev/null 2>&1 || [ -x /usr/sbin/postfix ] || why="${why:+$why, }postfix is not installed"
	# The smtp client's SASL PLAIN (crm's login to koverto) is Cyrus's
	# plugin from libsasl2-modules, only recommended by libsasl2-2:
	# without it "SASL authentication failure: No worthy mechs found".
	ls /usr/lib/*/sasl2/libplain.so* >/dev/null 2>&1 || why="${why:+$why, }libsasl2-modules is not installed"
	[ -z "${FRONT_SASL:-}" ] || [ -x /usr/sbin/dovecot ] || why="${why:+$why, }dovecot-core is not installed"
	[ -z "$why" ] && { PATH=$PATH:/usr/sbin; return 0; }
	if [ "${CI:-}" = true ]; then bail "$why (scripts/deps installs postfix; CI runs as root)"; fi
	echo "1..0 # SKIP $why"
	exit 0
}
