#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Named queues in the configuration (issue 12): a name that could collide
# with what else is in queuedir or leave it, a named queue without a
# policy, a built-in given another policy: each refused with exit 78 and a
# message naming the file, the line and the section; koverto -n, the
# daemon and koverto submit alike. Nothing is created for a refused file.
. "$T/lib.sh"
setup
cp "$CONF" "$W/base.conf"

# bad LINES... : the file with LINES appended must be refused.
bad() {
	cp "$W/base.conf" "$CONF"
	for line in "$@"; do echo "$line" >> "$CONF"; done
	STATUS=0
	"$KOVERTO" -c "$CONF" -n > "$W/out" 2>&1 || STATUS=$?
}
first=$(($(wc -l < "$W/base.conf") + 1))

bad "[queue ../etc]" "policy = fallback"
check "[queue ../etc]: exit 78" [ "$STATUS" = 78 ]
check "names file, line and section" grep -qF "$CONF:$first: section [queue ../etc]: a queue name is letters a-z" "$W/out"
bad "[queue state]" "policy = fallback"
check "[queue state]: refused" grep -qF "$CONF:$first: section [queue state]: \"state\" cannot be a queue name" "$W/out"
bad "[queue 12345]" "policy = fallback"
check "[queue 12345]: refused (Kuvert's queue file names)" grep -qF "$CONF:$first: section [queue 12345]: a queue name cannot be all digits" "$W/out"
bad "[queue a.b]" "policy = fallback"
check "[queue a.b]: refused" [ "$STATUS" = 78 ]
bad "[queue tickets]" "key = $(fpr alice)"
check "no policy: exit 78" [ "$STATUS" = 78 ]
check "no policy: says so" grep -qF "$CONF:$first: section [queue tickets]: no policy; say which: policy = must-encrypt, fallback or sign-only" "$W/out"
bad "[queue tickets]" "policy = encrypt"
check "unknown policy: refused on its line" grep -qF "$CONF:$((first + 1)): key \"policy\" in [queue tickets]: \"encrypt\" is not a policy" "$W/out"
bad "[queue sign-only]" "policy = must-encrypt"
check "a built-in with another policy: refused" grep -qF "$CONF:$((first + 1)): key \"policy\" in [queue sign-only]: the built-in queue sign-only has policy sign-only and no other" "$W/out"
check "nothing was created for the refused files" [ ! -e "$W/q" ]

# The daemon and submit refuse the same file the same way.
STATUS=0; "$KOVERTO" -c "$CONF" -o 2>"$W/err" || STATUS=$?
check "the daemon: exit 78" [ "$STATUS" = 78 ]
STATUS=0; echo x | "$KOVERTO" submit -C "$CONF" --queue sign-only bob@example.net 2>"$W/err" || STATUS=$?
check "submit: exit 78" [ "$STATUS" = 78 ]
check "submit: names the line" grep -qF "$CONF:$((first + 1)):" "$W/err"

# A named queue's key is checked like any configured signing key.
bad "[queue tickets]" "policy = fallback" "key = $(fpr bob)"
check "a named queue's key without its secret: refused" grep -qF "key in [queue tickets] $(fpr bob) cannot sign: not in the secret keyring" "$W/out"
check "with a non-zero exit" [ "$STATUS" != 0 ]
# And a listener client's own key.
bad "[client app]" "password = $(hash_pw app-pw)" "queue = fallback" "senders = .*" "key = $(fpr bob)"
check "a client's key without its secret: refused" grep -qF "key in [client app] $(fpr bob) cannot sign: not in the secret keyring" "$W/out"
check "with exit 78" [ "$STATUS" = 78 ]

# Fine: a built-in saying its own policy, and named queues.
bad "[queue sign-only]" "policy = sign-only" "[queue Tickets-1]" "policy = fallback" "[queue a_b]" "policy = must-encrypt"
check "good named queues: koverto -n exits 0" [ "$STATUS" = 0 ]
check "-n does not create the queues" [ ! -e "$W/q" ]
printf "From: alice@example.org\nSubject: x\n\nx\n" | "$KOVERTO" submit -C "$CONF" --queue tickets-1 bob@example.net 2>"$W/err"
check "a section name in capitals is that queue in lower case" [ "$(ls "$W/q/tickets-1/new" | wc -l)" = 1 ]
check "submit made every configured queue's Maildir" [ -d "$W/q/a_b/new" ] && [ -d "$W/q/a_b/cur" ] && [ -d "$W/q/a_b/tmp" ]
done_testing
