#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 13, "the other direction" of doc/deploy-postfix.md: koverto delivers
# through a local Postfix (msserver 127.0.0.1), which relays to the mail
# server (the test's SMTP sink). The signature survives the relay, the
# copy carries koverto's X-Koverto-Trace and one Received: of that Postfix.
# A relay that hands koverto's output back into a koverto queue (here: a
# transport for one address that pipes into koverto submit --mta) brings
# the mail back with koverto's own trace, and koverto fails it as a loop at
# once: nothing goes out a second time.
. "$T/lib.sh"
. "$T/postfix.sh"
pf_require
t0=$(date +%s)
pf_setup
SINKPORT=$PORT

# The relay: any recipient to the sink, except loop@example.net, which a
# misrouting transport hands back to koverto (as koverto's queue owner).
pf_init
pf_main "mynetworks = 127.0.0.1/32" \
	"smtpd_relay_restrictions = permit_mynetworks, reject" \
	"smtpd_recipient_restrictions = permit_mynetworks, reject" \
	"default_transport = smtp" \
	"relayhost = [127.0.0.1]:$SINKPORT" \
	"transport_maps = inline:{ loop@example.net=kov-back:koverto }" \
	"maillog_file = $PF/maillog"
pf_master <<EOF
127.0.0.1:@PFPORT@ inet  n       -       n       -       20      smtpd
smtp      unix  -       -       n       -       -       smtp
kov-back  unix  -       n       n       -       2       pipe
  flags=q user=$KOVUSER null_sender=
  argv=$KOVERTO submit --mta -C $W/koverto.conf --queue sign-only -f \${sender} -- \${recipient}
EOF
pf_start

# koverto delivers to the relay.
PORT=$PFPORT
write_config
kov_own
start_daemon_as
mail() {
	printf 'From: alice@example.org\nTo: %s\nSubject: %s\nMessage-ID: <%s@example.org>\n\nbody %s\n' "$1" "$2" "$2" "$2"
}
mail bob@example.net out | as_kov "$KOVERTO" submit -C "$CONF" --queue sign-only
wait_sink 1
m=$(latest)
check "through the local Postfix: the sink got the mail, signed" [ "$(content_type "$m")" = multipart/signed ]
verify_signed "$m"
check "the signature survived the relay (alice's key)" grep -q "VALIDSIG $(fpr alice)" "$W/verify.status"
check "it carries koverto's trace once" [ "$(grep -c '^X-Koverto-Trace: ' "$m")" = 1 ]
check "and one Received: of the Postfix it passed" [ "$(grep -c '^Received: ' "$m")" = 1 ]
check "the Received: is that Postfix's" grep -q 'by postfix.koverto.test' "$m"

# The misrouted one: back into koverto's queue through the pipe.
mail loop@example.net loopy | as_kov "$KOVERTO" submit -C "$CONF" --queue sign-only
wait_for 30 sh -c "grep -q 'mail loop: it already passed through koverto' '$W'/q/failed/*.reason"
check "back in koverto's queue with its own trace: failed as a loop" \
	sh -c "grep -q 'mail loop: it already passed through koverto on ' '$W'/q/failed/sign-only.*.reason"
# pipe(8) logs after koverto submit has exited, through postlogd: the
# daemon may fail the mail before that line is in the file.
wait_for 20 grep -q 'relay=kov-back.*status=sent' "$PF/maillog"
check "Postfix handed it to koverto once (pipe status=sent)" \
	[ "$(grep -c 'relay=kov-back.*status=sent' "$PF/maillog")" = 1 ]
check "the sink got nothing for the looping address" [ -z "$(sink_for loop@example.net)" ]
check "the sink got one mail in all" [ "$(sink_count)" = 1 ]
diag "$(($(date +%s) - t0)) s in all"
done_testing
