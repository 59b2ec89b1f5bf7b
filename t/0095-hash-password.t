#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# koverto hash-password (issue 12): a hash from stdin or, on a terminal,
# asked twice without echo; the hash verifies with crypt(3) and loads as a
# [client] password; sysexits statuses; the password never shows.
. "$T/lib.sh"
work_dir kovh
PW='c0rrect horse;#"battery'

# verify PASSWORD HASH: crypt(3) of PASSWORD with HASH's salt is HASH.
verify() {
	"$PY" -W ignore -c 'import crypt, sys; sys.exit(crypt.crypt(sys.argv[1], sys.argv[2]) != sys.argv[2])' "$1" "$2"
}

printf '%s\n' "$PW" | "$KOVERTO" hash-password >"$W/out" 2>"$W/err"
check "stdin: exit 0" [ $? = 0 ]
HASH=$(cat "$W/out")
check "stdin: one line, a yescrypt hash" sh -c "[ \$(wc -l < '$W/out') = 1 ] && grep -q '^\\\$y\\\$' '$W/out'"
check "stdin: nothing on stderr" [ ! -s "$W/err" ]
check "stdin: the hash verifies with crypt(3)" verify "$PW" "$HASH"
check "stdin: not with another password" sh -c "! \"$PY\" -W ignore -c 'import crypt,sys; sys.exit(crypt.crypt(sys.argv[1], sys.argv[2]) != sys.argv[2])' 'c0rrect horse' '$HASH'"
H2=$(printf '%s\n' "$PW" | "$KOVERTO" hash-password)
check "a new salt each time" [ "$H2" != "$HASH" ] && check "both verify" verify "$PW" "$H2"
H3=$(printf '%s\r\n' "$PW" | "$KOVERTO" hash-password)
check "a CRLF line end is not part of the password" verify "$PW" "$H3"
H4=$(printf '%s' "$PW" | "$KOVERTO" hash-password)
check "a last line without line end" verify "$PW" "$H4"
H5=$(printf 'first\nsecond\n' | "$KOVERTO" hash-password)
check "only the first line is read" verify first "$H5"

# The hash loads as a client's password.
cat > "$W/koverto.conf" <<CONF
[koverto]
queuedir = $W/q
tempdir = $W/tmp
msserver = 127.0.0.1
defaultaction = fallback
[listen]
submission = 127.0.0.1:2525
[client app]
password = $HASH
queue = fallback
senders = app@example\.org
CONF
chmod 600 "$W/koverto.conf"
"$KOVERTO" -c "$W/koverto.conf" -n >"$W/n.out" 2>"$W/n.err"
check "the hash loads as [client] password (koverto -n)" [ $? = 0 ]
sed -i "s|^password = .*|password = $PW|" "$W/koverto.conf"
"$KOVERTO" -c "$W/koverto.conf" -n >"$W/n.out" 2>"$W/n.err"
check "a password in clear is refused (78)" [ $? = 78 ]
check "... pointing to koverto hash-password" grep -q 'make one with `koverto hash-password`' "$W/n.err"
check "... without showing it" sh -c "! grep -qF 'c0rrect' '$W/n.err'"

st() { "$@" >>"$W/bad.out" 2>>"$W/bad.err"; echo $?; }
check "empty input: 65" [ "$(printf '' | st "$KOVERTO" hash-password)" = 65 ]
check "empty line: 65" [ "$(printf '\n' | st "$KOVERTO" hash-password)" = 65 ]
check "a NUL byte: 65" [ "$(printf 'a\000b\n' | st "$KOVERTO" hash-password)" = 65 ]
check "longer than libxcrypt takes (511 octets): 65" \
	[ "$(head -c 512 /dev/zero | tr '\0' x | st "$KOVERTO" hash-password)" = 65 ]
check "511 octets: 0" [ "$(head -c 511 /dev/zero | tr '\0' x | st "$KOVERTO" hash-password)" = 0 ]
check "a password as argument: 64" [ "$(printf 'x\n' | st "$KOVERTO" hash-password "$PW")" = 64 ]
check "... not echoed" sh -c "! grep -qF 'c0rrect' '$W/bad.err'"
check "--help: 0" [ "$(st "$KOVERTO" hash-password --help)" = 0 ]

# On a terminal: asked twice, echo off, echo back on afterwards.
cat > "$W/askpw.py" <<'PY'
import os, pty, signal, sys, termios, time
signal.alarm(30)   # never hang the suite
koverto, first, second, interrupt = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
pid, fd = pty.fork()
if pid == 0:
    os.execv(koverto, [koverto, "hash-password"])
out = b""
def read_until(token, limit=20):
    global out
    end = time.time() + limit
    while token not in out and time.time() < end:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return token in out
ok = read_until(b"Password: ")
echo_while_asked = bool(termios.tcgetattr(fd)[3] & termios.ECHO)
if interrupt:
    os.write(fd, b"\x03")
else:
    os.write(fd, first.encode() + b"\n")
    ok = ok and read_until(b"Again: ")
    os.write(fd, second.encode() + b"\n")
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
echo_after = bool(termios.tcgetattr(fd)[3] & termios.ECHO)
_, status = os.waitpid(pid, 0)
code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
sys.stdout.write("prompts=%d echo_while_asked=%d echo_after=%d status=%d\n" % (ok, echo_while_asked, echo_after, code))
sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
PY
"$PY" "$W/askpw.py" "$KOVERTO" "$PW" "$PW" 0 > "$W/tty.out" 2>&1
check "tty: both prompts, echo off while asked, 0" \
	grep -qx 'prompts=1 echo_while_asked=0 echo_after=1 status=0' "$W/tty.out"
check "tty: the password is not echoed" sh -c "! grep -qF 'c0rrect' '$W/tty.out'"
TH=$(grep '^\$y\$' "$W/tty.out")
check "tty: the hash printed verifies" verify "$PW" "$TH"
"$PY" "$W/askpw.py" "$KOVERTO" "$PW" "other" 0 > "$W/tty2.out" 2>&1
check "tty: two different passwords: 65, echo back on" \
	grep -qx 'prompts=1 echo_while_asked=0 echo_after=1 status=65' "$W/tty2.out"
check "tty: ... and says so, no hash" sh -c "grep -q 'the two passwords differ' '$W/tty2.out' && ! grep -q '^\\\$y' '$W/tty2.out'"
"$PY" "$W/askpw.py" "$KOVERTO" "" "" 1 > "$W/tty3.out" 2>&1
check "tty: ^C at the prompt: killed by SIGINT, echo back on" \
	grep -qx 'prompts=1 echo_while_asked=0 echo_after=1 status=130' "$W/tty3.out"
done_testing
