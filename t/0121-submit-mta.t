#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# koverto submit --mta (issue 13): an MTA's delivery agent (Postfix's
# pipe(8)) retries only on 75 (and 71) and bounces the mail to its sender on
# every other status. Under --mta every failure that is not the mail's own
# exits 75; a mail that can never be taken exits 65. Without --mta the
# sysexits statuses stay as sendmail's (t/0011-submit.t).
. "$T/lib.sh"
setup
good='From: alice@example.org\nTo: bob@example.net\nSubject: s\n\nbody\n'

# st ARGS...: the exit status of koverto submit ARGS with the good mail.
st() { printf "$good" | "$KOVERTO" submit "$@" 2>>"$W/submit.err"; echo $?; }
# both WHAT PLAIN MTA ARGS...: the status without --mta is PLAIN, with it MTA.
both() {
	what=$1 plain=$2 mta=$3; shift 3
	check "$what: $plain" [ "$(st "$@")" = "$plain" ]
	check "$what, --mta: $mta" [ "$(st --mta "$@")" = "$mta" ]
}
both "queued" 0 0 -C "$CONF" --queue fallback -f alice@example.org -- bob@example.net
check "--mta queued the mail as without it" [ "$(ls "$W/q/fallback/new" | wc -l)" = 2 ]
rm -f "$W"/q/fallback/new/*

# Not the mail's fault: the MTA keeps it and tries again.
both "unknown queue" 64 75 -C "$CONF" --queue nowhere -f alice@example.org -- bob@example.net
both "unknown option" 64 75 -C "$CONF" --queue fallback -Z -f alice@example.org -- bob@example.net
check "--mta after an option that is not understood still counts: 75" \
	[ "$(st -C "$CONF" --queue fallback -Z --mta -- bob@example.net)" = 75 ]
both "option without its value" 64 75 -C "$CONF" --queue fallback -f
both "configuration missing" 78 75 -C "$W/none.conf" --queue fallback -- bob@example.net
chmod 644 "$CONF"
echo "mspass = secret" >> "$CONF"
both "configuration with a password readable by others" 78 75 -C "$CONF" --queue fallback -- bob@example.net
write_config
chmod 755 "$W/q"
both "queue directory open to others" 78 75 -C "$CONF" --queue fallback -- bob@example.net
chmod 700 "$W/q"
mv "$W/q/fallback/tmp" "$W/tmp.saved" && : > "$W/q/fallback/tmp"
both "queue's tmp/ not a directory" 78 75 -C "$CONF" --queue fallback -- bob@example.net
rm "$W/q/fallback/tmp" && mv "$W/tmp.saved" "$W/q/fallback/tmp"
check "reading the mail fails (I/O error): 74" \
	[ "$("$KOVERTO" submit -C "$CONF" --queue fallback -- bob@example.net < "$W" 2>/dev/null; echo $?)" = 74 ]
check "reading the mail fails, --mta: 75" \
	[ "$("$KOVERTO" submit --mta -C "$CONF" --queue fallback -- bob@example.net < "$W" 2>/dev/null; echo $?)" = 75 ]
# The queue's tmp/ unwritable for its owner (as for Postfix's pipe user);
# root writes anyway, so as nobody in a queue of nobody's.
if [ "$(id -u)" = 0 ] && getent passwd nobody >/dev/null; then
	chmod 711 "$W"
	mkdir -m 700 "$W/nq" "$W/ng"
	saved=$CONF
	config_file "$W/nobody.conf" "$W/nq" "$W/nobody.log"
	CONF=$saved
	sed -i "s|^gnupghome = .*|gnupghome = $W/ng|" "$W/nobody.conf"
	chown -R nobody "$W/nq" "$W/ng" "$W/nobody.conf"
	nob() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
	nob sh -c "printf '$good' | '$KOVERTO' submit -C '$W/nobody.conf' --queue fallback" 2>>"$W/submit.err"
	chmod 500 "$W/nq/fallback/tmp"
	s=$(nob sh -c "printf '$good' | '$KOVERTO' submit -C '$W/nobody.conf' --queue fallback; echo \$?" 2>>"$W/submit.err")
	check "queue's tmp/ not writable: 78" [ "$s" = 78 ]
	s=$(nob sh -c "printf '$good' | '$KOVERTO' submit --mta -C '$W/nobody.conf' --queue fallback; echo \$?" 2>>"$W/submit.err")
	check "queue's tmp/ not writable, --mta: 75" [ "$s" = 75 ]
	chmod 700 "$W/nq/fallback/tmp"
	s=$(nob sh -c "printf '$good' | '$KOVERTO' submit --mta -C '$W/nobody.conf' --queue fallback; echo \$?" 2>>"$W/submit.err")
	check "writable again, --mta: 0" [ "$s" = 0 ]
	check "nobody's queue holds the two mails taken, nothing else" [ "$(ls "$W/nq/fallback/new" | wc -l)" = 2 ]
	rm -rf "$W/nq" "$W/ng"
else
	diag "not root: the unwritable-queue case (78 → 75) runs in t/0120-postfix-front.t"
fi

# The mail's own fault: bounced, --mta or not.
both "bad recipient (the envelope is the mail's)" 64 65 -C "$CONF" --queue fallback -f alice@example.org -- -oQ@x
both "bad sender" 64 65 -C "$CONF" --queue fallback -f 'a,b@example.org' -- bob@example.net
check "empty input, --mta: 65" [ "$(printf '' | "$KOVERTO" submit --mta -C "$CONF" --queue fallback 2>/dev/null; echo $?)" = 65 ]
check "no header, --mta: 65" [ "$(head -c 2000 /dev/urandom | "$KOVERTO" submit --mta -C "$CONF" --queue fallback 2>/dev/null; echo $?)" = 65 ]
check "no recipient, --mta: 65" [ "$(printf 'From: a@example.org\nSubject: x\n\nbody\n' | "$KOVERTO" submit --mta -C "$CONF" --queue fallback 2>/dev/null; echo $?)" = 65 ]
check "nothing was queued by a failure" [ -z "$(ls "$W/q/fallback/new")" ]
check "nothing left in tmp/" [ -z "$(ls "$W/q/fallback/tmp")" ]
check "the message still says what went wrong" grep -q "unknown queue" "$W/submit.err"
# Postfix's pipe(8) reads a reply code at the start of the output as the
# status: the message must not start with one.
check "no message starts with a 4.x.x/5.x.x code" sh -c "! grep -Eq '^[45]\.[0-9]' '$W/submit.err'"
done_testing
