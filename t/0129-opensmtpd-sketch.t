#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# koverto(8)'s OpenSMTPD example (issue 13), with Debian 12's own smtpd
# (t/opensmtpd.sh): all local mail into the fallback queue, koverto's
# output relayed by smtpd from a tagged port. As first written (a maildir
# action without virtual) smtpd refuses every remote recipient; as fixed,
# mail goes round through koverto and out once. Then the same with an mda
# action running koverto submit: OpenSMTPD also calls it once per
# recipient, and the whole round holds.
. "$T/lib.sh"
. "$T/opensmtpd.sh"
need_root
setup
smtpd_setup
PK=$(free_port)
# koverto sends to smtpd's tagged port PK; smtpd relays to the sink
# (the example's `relay` goes by MX: here `relay host` the sink).
sed -i "s/^msport = .*/msport = $PK/" "$CONF"
start_daemon_as

# run_smtpd ACTION-LINE: the example with that koverto action, on PIN
# (the example's `listen on lo`, port 25) and PK.
run_smtpd() {
	tries=0
	while :; do
		PIN=$(free_port)
		cat > "$W/smtpd.conf" <<EOF
listen on 127.0.0.1 port $PIN
listen on 127.0.0.1 port $PK tag KOVERTO
action "relay" relay host smtp://127.0.0.1:$PORT
$1
match from local tag KOVERTO for any action "relay"
match from local for any action "koverto"
EOF
		smtpd_start "$W/smtpd.conf" "$PIN" "$PK" && return 0
		tries=$((tries + 1))
		[ "$tries" -ge 5 ] && bail "smtpd: no free port after 5 tries: $(tail -3 "$W/smtpd.log")"
	done
}
# send SUBJECT RECIPIENTS: one mail from alice to PIN; status in SENT.
send() {
	SENT=0
	printf 'From: alice@example.org\nTo: %s\nSubject: %s\nMessage-ID: <%s@example.org>\n\nBody %s.\n' \
		"$2" "$1" "$1" "$1" |
		swaks --server "127.0.0.1:$PIN" --from alice@example.org --to "$2" --data - >"$W/swaks.$1" 2>&1 ||
		SENT=$?
}

# as first written: maildir ... user kov, no virtual
run_smtpd "action \"koverto\" maildir \"$W/q/fallback\" user $KOVUSER"
send old bob@example.net
check "old example (no virtual): the recipient is refused" [ "$SENT" != 0 ]
check "... 550 Invalid recipient" grep -q '<\*\* *550 .*Invalid recipient' "$W/swaks.old"
smtpd_stop

# as fixed: virtual { "@" = the queue's owner }
# (two lines, as in koverto(8))
run_smtpd "action \"koverto\" maildir \"$W/q/fallback\" \\
	virtual { \"@\" = $KOVUSER }"
send fixed 'bob@example.net,dave@example.com,o&brien@example.com'
check "fixed example: accepted" [ "$SENT" = 0 ]
check "fixed example: three copies reached the sink" wait_sink 3
b=$(grep -l "Subject: fixed" $(sink_for bob@example.net))
check "... bob's encrypted" [ "$(content_type "$b")" = multipart/encrypted ]
d=$(grep -l "Subject: fixed" $(sink_for dave@example.com))
check "... dave's signed" [ "$(content_type "$d")" = multipart/signed ]
verify_signed "$d"
check "... by alice" grep -q "VALIDSIG $(fpr alice)" "$W/verify.status"
check "... o&brien's to o&brien (Delivered-To holds the address as given)" \
	[ -n "$(grep -l "Subject: fixed" $(sink_for 'o&brien@example.com'))" ]
check "koverto's output went out by the tagged port, not round again" \
	[ "$(grep -c ': received from <.*> into [^ ]* for ' "$W/log")" = 3 ]
check "... one file per recipient" wait_for 20 sh -c \
	"[ \$(grep -c 'queue=fallback from=alice@example.org rcpt=1 delivered=1 ' '$W/log') = 3 ]"
smtpd_stop

# an mda action: koverto submit, once per recipient as well. OpenSMTPD
# replaces the characters !#$%&'*?`{|}~ of %{rcpt} by ':' (its guard
# against the shell): o&brien@example.com comes as o:brien@example.com,
# which an address-list parser reads as the group "o" holding
# brien@example.com. koverto submit refuses it (64), so OpenSMTPD fails
# that recipient for good; nothing goes to brien.
run_smtpd "action \"koverto\" mda \"$KOVERTO submit -C $CONF --queue fallback -f '%{sender}' -- '%{rcpt}'\" virtual { \"@\" = $KOVUSER }"
send mda 'bob@example.net,dave@example.com,o&brien@example.com'
check "mda: accepted" [ "$SENT" = 0 ]
mda_out() { [ -n "$(grep -l "Subject: mda" $(sink_for bob@example.net) $(sink_for dave@example.com) /dev/null)" ] &&
	[ "$(grep -l "Subject: mda" $(sink_for bob@example.net) $(sink_for dave@example.com) /dev/null | wc -l)" = 2 ]; }
check "mda: bob's and dave's copies reached the sink" wait_for 20 mda_out
check "mda: koverto submit ran once per recipient" wait_for 20 sh -c \
	"[ \$(grep -c 'queue=fallback from=alice@example.org rcpt=1 delivered=1 ' '$W/log') = 5 ]"
check "mda: o&brien's copy failed in OpenSMTPD (submit: bad recipient address)" \
	wait_for 20 grep -q 'mda delivery .*to=<o&brien@example.com> .*result=PermFail' "$W/smtpd.log"
check "mda: nothing went to brien or o:brien" \
	[ -z "$(sink_for brien@example.com)$(sink_for o:brien@example.com)" ]
smtpd_stop
quiet() { ! listening "$PIN" && ! listening "$PK"; }
check "smtpd stopped: nothing listens on its ports" quiet
stop_daemon
check "koverto stopped: exit 0 (under valgrind: no memory error)" [ "$STATUS" = 0 ]
done_testing
