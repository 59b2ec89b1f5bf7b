#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""A raw SMTP client for the listener's hard tests: it sends exactly the
bytes a script says, in the groups it says (pipelining, bytes after
STARTTLS, a bare LF, a cut in the middle of DATA, a stall), and checks the
replies. Loopback only. Run it with /usr/bin/python3.

  smtp-raw.py --port PORT [--host 127.0.0.1] [--implicit-tls]
              [--cafile CA] [--cert CRT --key KEY] [--timeout SEC] < SCRIPT

SCRIPT holds one step per line (blank lines and lines starting with # are
skipped). In TEXT, Python escapes are decoded (\\r, \\n, \\x00, \\\\); the
result is sent as Latin-1 octets.

  line TEXT        send TEXT plus CRLF, in one write
  send TEXT        send TEXT as it is (no CRLF added), in one write
  expect CODE      read one reply (multi-line: up to "NNN "); its first line
                   must start with CODE ("250", "535 5.7.8", "4"); the
                   reply and the seconds since the last send are kept
  expect-any       read one reply, whatever it is
  print LABEL      write "LABEL<TAB>SECONDS<TAB>REPLY" of the last reply to
                   stdout (REPLY with \\r and \\n escaped)
  has TEXT         the last reply (or what `eof` read) contains TEXT
  lacks TEXT       ... does not contain TEXT
  ehlo NAME        EHLO NAME, expect 250
  starttls         STARTTLS, expect 220, then the TLS handshake
  tls              only the TLS handshake (after a raw STARTTLS)
  auth-plain U P   AUTH PLAIN with an initial response
  auth-login U P   AUTH LOGIN, user and password on their own lines
                   (both only send; follow with expect)
  body N           send N octets of message text (CRLF lines of 78), no end
  data FILE        send FILE as message text: LF ends become CRLF, dots
                   stuffed, then the CRLF.CRLF end
  eof              read until the server closes (fails after --timeout);
                   what came is kept (has/lacks check it)
  sleep SEC        wait, holding the connection (a stalled client); ends
                   early when the server sends something or closes
  close            close our side now (e.g. in the middle of DATA)
  reset            close with RST (SO_LINGER 0)
  touch FILE       create FILE (a signal to the test that this step ran)

Exit 0 when every step passed, 1 on the first failing step (what failed on
stderr with the transcript), 2 on a bad script. The transcript (C: / S:)
goes to stderr with --verbose.
"""

import argparse
import base64
import codecs
import os
import select
import socket
import ssl
import struct
import sys
import time


class StepFailed(Exception):
    pass


class Client:
    def __init__(self, args):
        self.args = args
        self.sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b''
        self.last = ''
        self.elapsed = 0.0
        self.t_sent = time.monotonic()
        self.transcript = []
        if args.implicit_tls:
            self.handshake()

    def log(self, who, data):
        text = data.decode('latin-1') if isinstance(data, bytes) else data
        if len(text) > 300:
            text = text[:300] + f'... ({len(text)} chars)'
        self.transcript.append(f'{who}: {text!r}')
        if self.args.verbose:
            print(f'{who}: {text!r}', file=sys.stderr)

    def context(self):
        ctx = ssl.create_default_context(cafile=self.args.cafile) if self.args.cafile \
            else ssl._create_unverified_context()
        if self.args.cert:
            ctx.load_cert_chain(self.args.cert, self.args.key)
        return ctx

    def handshake(self):
        if self.buf:
            raise StepFailed(f'bytes before the TLS handshake: {self.buf!r}')
        try:
            self.sock = self.context().wrap_socket(self.sock, server_hostname=self.args.host)
        except (ssl.SSLError, OSError) as e:
            raise StepFailed(f'TLS handshake failed: {e}') from None
        self.log('*', f'TLS {self.sock.version()}')

    def send(self, data):
        self.log('C', data)
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise StepFailed(f'send failed: {e}') from None
        self.t_sent = time.monotonic()

    def recv(self):
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise StepFailed(f'no reply within {self.args.timeout} s') from None
        except (ConnectionResetError, ssl.SSLError) as e:
            self.log('*', f'recv: {e}')
            self.closed_how = f'reset ({e})'
            return b''
        return chunk

    def reply(self):
        """One whole reply: lines up to one with "NNN " (or a bare "NNN")."""
        lines = []
        while True:
            while b'\r\n' not in self.buf:
                chunk = self.recv()
                if not chunk:
                    got = b''.join(lines) + self.buf
                    raise StepFailed(f'connection {getattr(self, "closed_how", "closed")} while waiting '
                                     f'for a reply (got {got!r})')
                self.buf += chunk
            line, self.buf = self.buf.split(b'\r\n', 1)
            lines.append(line + b'\r\n')
            if len(line) < 4 or line[3:4] != b'-':
                break
        text = b''.join(lines).decode('latin-1')
        self.elapsed = time.monotonic() - self.t_sent
        self.log('S', text)
        self.last = text
        return text

    def eof(self):
        got = self.buf
        self.buf = b''
        deadline = time.monotonic() + self.args.timeout
        while True:
            if time.monotonic() > deadline:
                raise StepFailed(f'the server did not close within {self.args.timeout} s (got {got!r})')
            chunk = self.recv()
            if not chunk:
                break
            got += chunk
        self.elapsed = time.monotonic() - self.t_sent
        self.last = got.decode('latin-1')
        self.log('S', f'{self.last} <EOF>')


def unescape(text):
    return codecs.decode(text, 'unicode_escape').encode('latin-1')


def body(n):
    """@n octets of text in CRLF lines of at most 78 (no line starts with '.')."""
    out, line = bytearray(), b'x' * 76 + b'\r\n'
    while len(out) + len(line) <= n:
        out += line
    rest = n - len(out)
    if rest >= 3:
        out += b'y' * (rest - 2) + b'\r\n'
    else:
        out += b'z' * rest
    return bytes(out)


def stuffed(path):
    with open(path, 'rb') as f:
        raw = f.read()
    lines = raw.replace(b'\r\n', b'\n').split(b'\n')
    if lines and lines[-1] == b'':
        lines.pop()
    out = b''.join((b'.' + l if l.startswith(b'.') else l) + b'\r\n' for l in lines)
    return out + b'.\r\n'


def run(c, steps):
    for n, (verb, arg) in enumerate(steps, 1):
        try:
            step(c, verb, arg)
        except StepFailed as e:
            print(f'smtp-raw: step {n} "{verb} {arg}" failed: {e}', file=sys.stderr)
            for t in c.transcript[-12:]:
                print(f'  {t}', file=sys.stderr)
            return 1
    return 0


def step(c, verb, arg):
    a = arg.split(' ')
    if verb == 'line':
        c.send(unescape(arg) + b'\r\n')
    elif verb == 'send':
        c.send(unescape(arg))
    elif verb == 'expect':
        r = c.reply()
        if not r.startswith(arg):
            raise StepFailed(f'expected {arg!r}, got {r!r}')
    elif verb == 'expect-any':
        c.reply()
    elif verb == 'print':
        esc = c.last.replace('\r', '\\r').replace('\n', '\\n')
        print(f'{arg}\t{c.elapsed:.3f}\t{esc}', flush=True)
    elif verb == 'has':
        if unescape(arg).decode('latin-1') not in c.last:
            raise StepFailed(f'{arg!r} not in {c.last!r}')
    elif verb == 'lacks':
        if unescape(arg).decode('latin-1') in c.last:
            raise StepFailed(f'{arg!r} in {c.last!r}')
    elif verb == 'ehlo':
        c.send(b'EHLO ' + arg.encode() + b'\r\n')
        r = c.reply()
        if not r.startswith('250'):
            raise StepFailed(f'EHLO: {r!r}')
    elif verb == 'starttls':
        c.send(b'STARTTLS\r\n')
        r = c.reply()
        if not r.startswith('220'):
            raise StepFailed(f'STARTTLS: {r!r}')
        c.handshake()
    elif verb == 'tls':
        c.handshake()
    elif verb == 'auth-plain':
        cred = base64.b64encode(b'\0' + a[0].encode() + b'\0' + a[1].encode())
        c.send(b'AUTH PLAIN ' + cred + b'\r\n')
    elif verb == 'auth-login':
        c.send(b'AUTH LOGIN\r\n')
        r = c.reply()
        if not r.startswith('334'):
            raise StepFailed(f'AUTH LOGIN: {r!r}')
        c.send(base64.b64encode(a[0].encode()) + b'\r\n')
        r = c.reply()
        if not r.startswith('334'):
            raise StepFailed(f'AUTH LOGIN user: {r!r}')
        c.send(base64.b64encode(a[1].encode()) + b'\r\n')
    elif verb == 'body':
        c.send(body(int(arg)))
    elif verb == 'data':
        c.send(stuffed(arg))
    elif verb == 'eof':
        c.eof()
    elif verb == 'sleep':
        # Held until the server says something or closes: waiting on after
        # that only makes the test slower (a killed listener, a timeout);
        # what it sent stays for the next step.
        if c.buf:
            time.sleep(float(arg))
        else:
            select.select([c.sock], [], [], float(arg))
    elif verb == 'close':
        c.log('*', 'close')
        c.sock.close()
    elif verb == 'reset':
        c.log('*', 'reset')
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        c.sock.close()
    elif verb == 'touch':
        open(arg, 'a').close()
    else:
        raise ValueError(verb)


VERBS = {'line', 'send', 'expect', 'expect-any', 'print', 'has', 'lacks', 'ehlo', 'starttls',
         'tls', 'auth-plain', 'auth-login', 'body', 'data', 'eof', 'sleep', 'close', 'reset',
         'touch'}


def main():
    p = argparse.ArgumentParser(description='raw SMTP client for the listener tests')
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--implicit-tls', action='store_true')
    p.add_argument('--cafile')
    p.add_argument('--cert')
    p.add_argument('--key')
    p.add_argument('--timeout', type=float, default=20.0)
    p.add_argument('--verbose', action='store_true')
    args = p.parse_args()
    if args.host not in ('127.0.0.1', '::1', 'localhost'):
        p.error('loopback only')
    steps = []
    for raw in sys.stdin.read().splitlines():
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        verb, _, arg = line.partition(' ')
        if verb not in VERBS:
            print(f'smtp-raw: unknown step {verb!r}', file=sys.stderr)
            return 2
        steps.append((verb, arg))
    try:
        c = Client(args)
    except OSError as e:
        print(f'smtp-raw: cannot connect to {args.host}:{args.port}: {e}', file=sys.stderr)
        return 1
    except StepFailed as e:
        print(f'smtp-raw: {e}', file=sys.stderr)
        return 1
    return run(c, steps)


if __name__ == '__main__':
    sys.exit(main())
