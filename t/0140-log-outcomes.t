#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 15, logs: one key=value line per recipient outcome in Postfix's
# words (sent, deferred, bounced, refused, failed), read back by a strict
# logfmt parser: keys in the documented order, each once, the values
# right; a server reply that holds " status=sent" and quotes stays one value.
. "$T/lib.sh"
setup

# lf.py LOG [KEY=VALUE...]: every "id=... queue=..." line of LOG must be
# strict logfmt with the outcome keys in order (else exit 2); prints how
# many outcome lines (those with status=) have all the KEY=VALUE pairs.
cat > "$W/lf.py" <<'PY'
import re, sys
ORDER = "id queue from to action key signer relay attempts delay size dsn status reply reason truncated".split()
KEY = re.compile(r'([a-z_]+)=')
BARE = re.compile(r'[^ "=\\\x00-\x1f\x7f]*')
def parse(s):
    kv, i = [], 0
    while i < len(s):
        m = KEY.match(s, i)
        if not m: raise ValueError("no key at %d: %r" % (i, s[i:]))
        k, i = m.group(1), m.end()
        if s[i:i+1] == '"':
            i += 1; v = ''
            while True:
                if i >= len(s): raise ValueError("unterminated quote")
                c = s[i]
                if c == '"': i += 1; break
                if ord(c) < 0x20 or c == '\x7f': raise ValueError("raw control")
                if c == '\\':
                    n = s[i+1:i+2]
                    if n in ('"', '\\'): v += n; i += 2
                    elif n == 'x' and re.fullmatch(r'[0-9a-f]{2}', s[i+2:i+4]): v += chr(int(s[i+2:i+4], 16)); i += 4
                    elif n == 'u' and re.fullmatch(r'[0-9a-f]{4}', s[i+2:i+6]): v += chr(int(s[i+2:i+6], 16)); i += 6
                    else: raise ValueError("bad escape")
                else: v += c; i += 1
        else:
            b = BARE.match(s, i); v, i = b.group(0), b.end()
        kv.append((k, v))
        if i < len(s):
            if s[i] != ' ' or i + 1 == len(s): raise ValueError("no single space after %s= at %d" % (k, i))
            i += 1
    return kv
want = dict(a.split('=', 1) for a in sys.argv[2:])
found = 0
for line in open(sys.argv[1], encoding='utf-8'):
    line = line.rstrip('\n')
    m = re.search(r'koverto\[\d+\]: \w+: (id=\S+ queue=.*)', line)
    if not m: continue
    if len(m.group(1).encode()) > 1024: sys.exit("longer than 1 KB: " + line)
    try: kv = parse(m.group(1))
    except ValueError as e: sys.exit("not logfmt (%s): %s" % (e, line))
    keys = [k for k, _ in kv]
    if len(set(keys)) != len(keys): sys.exit("a key twice: " + line)
    if 'status' not in keys: continue
    if [k for k in ORDER if k in keys] != keys: sys.exit("keys out of order: " + line)
    d = dict(kv)
    if d['status'] not in ('sent', 'deferred', 'bounced', 'refused', 'failed'): sys.exit("status: " + line)
    if all(d.get(k) == v for k, v in want.items()): found += 1
print(found)
PY
lf() { "$PY" "$W/lf.py" "$W/log" "$@"; }
lf_ok() { lf >/dev/null; }
# has N KEY=VALUE...: exactly N outcome lines with those values
has() { n=$1; shift; [ "$(lf "$@")" = "$n" ]; }

A=$(fpr alice); B=$(fpr bob)
relay=127.0.0.1:$PORT

# sent: encrypted to bob (his key, signed by alice), signed to dave (no key).
printf 'From: alice@example.org\nTo: bob@example.net, dave@example.com\nSubject: s\n\nS\n' | submit fallback
oneshot
check "sent: exit 0" [ "$STATUS" = 0 ]
check "sent: every id= line is strict logfmt, keys in order" lf_ok
check "sent: bob's line" has 1 queue=fallback from='<alice@example.org>' to='<bob@example.net>' \
	action=encrypted key="$B" signer="$A" relay="$relay" attempts=1 dsn=2.0.0 status=sent
check "sent: dave's line" has 1 to='<dave@example.com>' action=signed signer="$A" relay="$relay" \
	dsn=2.0.0 status=sent
check "sent: dave's line has no key=" sh -c "grep 'to=<dave@example.com>' '$W/log' | grep -vq ' key='"
check "sent: the server's reply" sh -c "grep 'to=<bob@example.net>.* status=sent reply=\"250 ' '$W/log'"
check "sent: delay and size" sh -c "grep 'to=<bob@example.net>' '$W/log' | grep -q ' delay=[0-9]*\.[0-9][0-9] size=[0-9][0-9]* '"
check "sent: the prose line stays" grep -q "sent encrypted to bob@example.net with key $B signed with key $A" "$W/log"
check "sent: the per-mail line stays" grep -q "result=sent" "$W/log"
check "sent: the received line" grep -q ": received from <alice@example.org> into fallback for bob@example.net,dave@example.com$" "$W/log"

# deferred (451 with its enhanced code), then bounced (550) with a reply
# that tries to forge a status and a second value.
printf 'RCPT carol@example.net 451x1 4.7.1 greylisted, try later\nRCPT bob@example.net 550 5.1.1 no such user status=sent reply="x" \\ end\n' > "$W/replies"
printf 'From: alice@example.org\nTo: carol@example.net, bob@example.net\nSubject: d\n\nD\n' | submit sign-only
oneshot
check "deferred+bounced: exit 75 (carol waits)" [ "$STATUS" = 75 ]
check "deferred: carol's line" has 1 queue=sign-only to='<carol@example.net>' action=signed \
	relay="$relay" attempts=1 dsn=4.7.1 status=deferred reply='451 4.7.1 greylisted, try later'
check "bounced: bob's line keeps the hostile reply as one value" has 1 to='<bob@example.net>' \
	dsn=5.1.1 status=bounced reply='550 5.1.1 no such user status=sent reply="x" \ end'
check "bounced: no forged status=sent for bob" has 0 to='<bob@example.net>' queue=sign-only status=sent
oneshot
check "retry: exit 1 (bob failed)" [ "$STATUS" = 1 ]
check "retry: carol sent, attempts=2" has 1 queue=sign-only to='<carol@example.net>' attempts=2 status=sent

# refused: must-encrypt with a recipient without a key: nothing is sent.
: > "$W/replies"
printf 'From: alice@example.org\nTo: bob@example.net, dave@example.com\nSubject: r\n\nR\n' | submit must-encrypt
oneshot
check "refused: dave's line" has 1 queue=must-encrypt to='<dave@example.com>' action=none dsn=5.7.1 \
	status=refused reason='refused: no usable key for dave@example.com (no key)'
check "refused: bob's line (refused with the mail)" has 1 queue=must-encrypt to='<bob@example.net>' action=none status=refused
check "refused: no key= or signer= on a refused line" sh -c "! grep 'status=refused' '$W/log' | grep -q 'key='"
check "refused: no relay= on a refused line" sh -c "! grep 'status=refused' '$W/log' | grep -q relay="

# A recipient address that holds a quote and " result=sent": the refusal's
# reason carries it, in the outcome line and the per-mail line alike.
printf 'From: alice@example.org\nTo: "x\\" result=sent status=sent"@example.com\nSubject: q\n\nQ\n' | submit must-encrypt
oneshot
check "hostile address: refused, one value" has 1 to='<"x\" result=sent status=sent"@example.com>' status=refused
check "hostile address: every id= line still strict logfmt (the per-mail line's reason too)" lf_ok

# failed: no signing key for a copy that would only be signed.
sed -i '/^defaultkey/d' "$CONF"
printf 'From: nobody@example.org\nTo: dave@example.com, bob@example.net\nSubject: f\n\nF\n' | submit fallback
oneshot
check "failed: dave's line" has 1 from='<nobody@example.org>' to='<dave@example.com>' action=signed \
	status=failed reason='no signing key: koverto never sends such a copy unsigned'
check "failed: bob's line (sent encrypted, unsigned)" has 1 from='<nobody@example.org>' \
	to='<bob@example.net>' action=encrypted key="$B" status=sent
check "failed: bob's line has no signer" sh -c "grep 'from=<nobody@example.org> to=<bob@example.net>' '$W/log' | grep -v signer= | grep -q status=sent"

# bounced at the end of the queue lifetime: 4.4.7 and koverto's reason.
# The first attempt runs without a lifetime (under valgrind on a busy
# machine it came 6 s after the mail was queued: past a 1 s lifetime
# already, so it bounced at once); the second with 1 s, over 2 s later.
write_config
printf 'RCPT carol@example.net 451 4.3.0 try later\n' > "$W/replies"
printf 'From: alice@example.org\nTo: carol@example.net\nSubject: e\n\nE\n' | submit sign-only
oneshot
t0=$(date +%s)
check "lifetime: deferred first" has 1 to='<carol@example.net>' attempts=1 dsn=4.3.0 status=deferred
write_config "queue-lifetime = 1s"
wait_for 5 sh -c "[ \$(date +%s) -ge $((t0 + 2)) ]"
oneshot
check "lifetime: exit 1" [ "$STATUS" = 1 ]
check "lifetime: bounced with 4.4.7" has 1 to='<carol@example.net>' attempts=2 dsn=4.4.7 status=bounced \
	reason='gave up after 1 s: 451 4.3.0 try later'
check "all lines strict logfmt" lf_ok
done_testing
