#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Named queues and reload (issue 12, koverto -r): a queue the new file adds
# gets its Maildir and a watch, and what already waits in it goes out; one
# it removes is no longer served: its mail is kept, unsent, and the log
# says so, until the queue is back. interval is an hour: what goes out
# here goes because of inotify and the reload, not the safety rescan.
. "$T/lib.sh"
setup
write_config "interval = 3600" "retry-first = 10"
cp "$CONF" "$W/base.conf"
start_daemon
mail() { printf 'From: alice@example.org\nTo: bob@example.net, dave@example.com\nSubject: %s\n\nbody %s\n' "$1" "$1"; }
# mta QUEUE NAME: a Maildir delivery, as an MTA makes it.
mta() { mail "$2" > "$W/q/$1/tmp/$2"; mv "$W/q/$1/tmp/$2" "$W/q/$1/new/$2"; }
reloads() { grep -c "reload: configuration" "$W/log"; }
reload() {
	n=$(reloads)
	"$KOVERTO" -c "$CONF" -r
	wait_for 20 sh -c "[ \$(grep -c 'reload: configuration' '$W/log') -gt $n ]"
}
# sent SUBJECT: the copy at the sink with that Subject (lines end in CRLF there).
sent() { grep -lE "^Subject: $1[[:space:]]*\$" $(sink_files) 2>/dev/null | head -1; }

# A Maildir that is no queue yet: what is put there waits.
mkdir -m 700 "$W/q/tickets" "$W/q/tickets/tmp" "$W/q/tickets/new" "$W/q/tickets/cur"
mta tickets early
mail f1 | submit fallback
wait_sink 2
check "not configured: its mail is not sent" [ -z "$(sent early)" ]
check "submit --queue tickets: 64 while not configured" sh -c "echo x | '$KOVERTO' submit -C '$CONF' --queue tickets bob@example.net 2>/dev/null; [ \$? = 64 ]"

cp "$W/base.conf" "$CONF"
printf '[queue tickets]\npolicy = sign-only\nkey = %s\n[queue fresh]\npolicy = fallback\n' "$(fpr sam)" >> "$CONF"
# A queue directory others may enter: the reload is refused, nothing changes.
chmod 755 "$W/q/tickets"
"$KOVERTO" -c "$CONF" -r
check "a queue directory open to others: the reload is refused" wait_for 20 grep -q "reload: queue directory $W/q/tickets: mode 0755 lets others in; it must be 0700; keeping the running configuration" "$W/log"
check "and the queue is not served" [ -z "$(sent early)" ] && [ ! -e "$W/q/fresh" ]
chmod 700 "$W/q/tickets"
check "reload adding two queues" reload
check "what waited in the added queue goes out" wait_sink 3
e=$(sent early)
verify_signed "$e"
check "its signature is sam's" grep -q "VALIDSIG $(fpr sam)" "$W/verify.status"
check "sign-only: one copy for both" [ "$(envelope "$e" rcpt_tos)" = bob@example.net,dave@example.com ]
check "the new queue's Maildir was made, mode 0700" [ "$(stat -c %a "$W/q/fresh" "$W/q/fresh/new")" = "700
700" ]
mail later | submit tickets
check "the added queue is watched" wait_sink 4
mail fresh-one | submit fresh
check "so is the new one" wait_sink 6
check "fresh (fallback): dave signed, bob encrypted" [ "$(content_type "$(grep -l 'Subject: fresh-one' $(sink_for bob@example.net))")" = multipart/encrypted ]

# Removed with mail in it: kept, not sent, and said. orphan1 waits in cur/
# for a retry (the server deferred it), orphan2 arrives after the reload.
echo "MAIL * 451x1 4.3.0 try again later" > "$W/replies"
mail orphan1 | submit tickets
check "orphan1 deferred" wait_for 20 grep -q "queue=tickets .*result=deferred" "$W/log"
cp "$W/base.conf" "$CONF"
printf '[queue fresh]\npolicy = fallback\n' >> "$CONF"
n_before=$(sink_count)
check "reload removing a queue" reload
check "the log says its mail is kept, unprocessed" grep -q "queue tickets is not in the configuration but holds 1 mails in $W/q/tickets/new and cur: they are kept, not processed" "$W/log"
mta tickets orphan2
mail f2 | submit fallback
check "other mail still goes out" wait_sink $((n_before + 2))
check "a mail arriving in the removed queue is not sent" [ -z "$(sent orphan2)" ]
check "it stays in the removed queue's new/" [ -f "$W/q/tickets/new/orphan2" ]
check "submit --queue tickets: 64 again" sh -c "echo x | '$KOVERTO' submit -C '$CONF' --queue tickets bob@example.net 2>/dev/null; [ \$? = 64 ]"
check "the deferred one, due now, is not handed to a worker" wait_for 40 grep -q "queue tickets is no longer configured; the mail stays in it, unprocessed" "$W/log"
check "it was not sent" [ -z "$(sent orphan1)" ]
check "it stays in cur/ with its state" sh -c "[ \$(ls '$W/q/tickets/cur' | wc -l) = 1 ] && ls '$W/q/state' | grep -q '^tickets\\.'"

# Back: everything waiting there goes out.
n_before=$(sink_count)
cp "$W/base.conf" "$CONF"
printf '[queue tickets]\npolicy = sign-only\n' >> "$CONF"
check "reload putting it back" reload
check "the kept mail goes out once the queue is back" wait_sink $((n_before + 2))
check "orphan1 went out" [ -n "$(sent orphan1)" ]
check "orphan2 went out" [ -n "$(sent orphan2)" ]
check "each once" [ "$(grep -lE '^Subject: orphan[12][[:space:]]*$' "$SINK"/*.eml | wc -l)" = 2 ]
stop_daemon
check "daemon stopped cleanly" [ "$STATUS" = 0 ]
done_testing
