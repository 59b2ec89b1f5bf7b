#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""koverto's test SMTP sink: a real SMTP server (Debian's aiosmtpd) on loopback.

Run it with /usr/bin/python3 (the Python that has aiosmtpd):

  /usr/bin/python3 t/sink.py --dir DIR [--port-file FILE]
      [--tls-cert CRT --tls-key KEY (--starttls | --implicit-tls)]
      [--require-starttls] [--auth USER:PASS] [--auth-mech PLAIN|LOGIN]
      [--auth-plaintext-ok] [--replies FILE] [--delay SECONDS] [--delay-after SECONDS]
      [--data-size-limit BYTES] [--greeting TEXT]

It binds 127.0.0.1 on port 0 (never any other address), and once it accepts
connections writes the chosen port to --port-file atomically (tmp + rename):
wait for that file to appear. It runs until SIGTERM (or SIGINT), then exits 0.

What a test can look at, all in DIR:
  NNNNNN.eml   every accepted message: the DATA bytes exactly as received
               (dot-unstuffed, CRLF kept), numbered from 000001.
  NNNNNN.json  written after the .eml, by rename, and before the 250 to the
               end of DATA is sent, so wait for the .json:
               {"mail_from": "a@b" or "" for <>, "rcpt_tos": [accepted only],
                "tls": bool, "auth": user or null, "time": float}
  log          one line per SMTP event, "conn=N EVENT ... -> CODE", e.g.
                 conn=1 CONNECT 127.0.0.1:40000
                 conn=1 EHLO host -> 250
                 conn=1 STARTTLS -> 220
                 conn=1 AUTH PLAIN user=alice -> 235
                 conn=1 MAIL FROM:<a@b> SIZE=42 -> 250
                 conn=1 RCPT TO:<c@d> -> 451
                 conn=1 DATA -> 250
                 conn=1 QUIT -> 221
                 conn=1 DISCONNECT
               plus "conn=N TLS established", "conn=N TLS handshake failed:
               WHY", and "conn=N REPLY 530 ..." for a refusal before any
               command ran (--require-starttls). A line is written before its
               reply is sent, so a client that got the reply finds the line.
               Count "CONNECT" lines to check connection reuse. AUTH lines
               carry the user name only, never the password or any base64.

--replies FILE injects replies. One rule per line (blank lines and lines
starting with # are ignored):
    <verb> <match> <code>[xN] <text...>
verb is MAIL, RCPT or DATA; match is an address (case-insensitive) or *;
code is a 3-digit reply code, optionally suffixed xN: "451x2" means "answer
this the first 2 times the rule matches, then behave normally". For MAIL the
address matched is the sender, for RCPT the recipient, for DATA the sender or
any accepted recipient. DATA rules answer the final reply, after the message
was received (nothing is stored then). Examples:
    RCPT carol@example.net 451x1 4.7.1 try later
    DATA * 554 5.6.0 no thanks
    MAIL * 421 4.3.2 shutting down
The first matching rule that is still active wins. The file is re-read at
every MAIL, RCPT and DATA, so a test may change it while the sink runs (write
a temp file and rename it over). The xN counters live as long as the sink
and are keyed by the rule's text. A reply of 421 closes the connection, as
real servers do. A malformed rule in the file given at start stops the sink
(exit 2); one written later is reported on stderr and in the log, and ignored.

--delay SECONDS sleeps before answering the end of DATA (slow-server tests).
--delay-after SECONDS stores the message first and then sleeps before the
250: a server that has taken the mail while its client still waits (a
client cut now sends it again on retry unless it finishes).

--greeting TEXT answers every connection with TEXT (a whole reply line,
code included, e.g. "554 5.3.2 no service") instead of the 220 greeting;
unless TEXT starts with 2 the connection is then closed, as RFC 5321 3.1
lets a server refuse. It is logged as "conn=N REPLY TEXT". TEXT may hold
any character but CR and LF (tests of how clients show foreign text).

A server that offers neither STARTTLS nor AUTH is the sink without the TLS
and --auth options: it offers only what it is given.

TLS: --tls-cert/--tls-key with --starttls (offer STARTTLS; --require-starttls
refuses other commands before it with 530) or --implicit-tls (TLS from
connect, smtps). t/mkcert makes a self-signed pair for 127.0.0.1/localhost.

AUTH: --auth USER:PASS offers AUTH PLAIN and LOGIN (--auth-mech limits it to
one) and requires it: MAIL without AUTH gets 530. aiosmtpd offers AUTH only
over TLS: after STARTTLS, or from the start with --implicit-tls (the whole
connection is TLS). To test AUTH over plaintext (allowed by koverto on
loopback only) give --auth-plaintext-ok, which is refused together with any
TLS option.

SIZE and 8BITMIME are advertised as aiosmtpd does (SIZE = --data-size-limit,
default 32 MiB). No SMTPUTF8.
"""

import argparse
import asyncio
import functools
import json
import logging
import os
import re
import signal
import ssl
import sys
import time
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, TLSSetupException

RULE_RE = re.compile(r'^(MAIL|RCPT|DATA)\s+(\S+)\s+(\d{3})(?:x(\d+))?(?:\s+(.*))?$',
                     re.IGNORECASE)


def die(msg):
    print('sink: ' + msg, file=sys.stderr)
    sys.exit(2)


class Replies:
    """The --replies rules: re-read at every command, counters kept here."""

    def __init__(self, path, report):
        self.path = path
        self.report = report    # called with the text of a malformed rule
        self.fired = {}         # rule text -> times it answered

    def load(self):
        if self.path is None:
            return []
        try:
            with open(self.path, encoding='utf-8') as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        rules = []
        for n, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            m = RULE_RE.match(line)
            if m is None:
                self.report(f'replies: {self.path}:{n}: malformed rule ignored: {line}')
                continue
            verb, match, code, times, text = m.groups()
            rules.append((line, verb.upper(), match.lower(), code,
                          int(times) if times is not None else None, text or ''))
        return rules

    def lookup(self, verb, addresses):
        """The reply a rule wants for @verb on @addresses, or None."""
        addresses = [a.lower() for a in addresses]
        for key, rverb, match, code, times, text in self.load():
            if rverb != verb or (match != '*' and match not in addresses):
                continue
            if times is not None and self.fired.get(key, 0) >= times:
                continue
            self.fired[key] = self.fired.get(key, 0) + 1
            return f'{code} {text}'.rstrip()
        return None


class Sink:
    """Shared state of the sink: message numbering, the log, the rules."""

    def __init__(self, args):
        self.dir = args.dir
        self.delay = args.delay
        self.delay_after = args.delay_after
        self.auth = args.auth
        self.greeting = args.greeting
        self.seq = 0
        self.connections = 0
        self.logfd = os.open(os.path.join(self.dir, 'log'),
                             os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.replies = Replies(args.replies, self.report)

    def report(self, msg):
        print('sink: ' + msg, file=sys.stderr)
        self.log(msg)

    def log(self, line):
        # One write per line on an O_APPEND fd: a reader never sees half a line.
        clean = ''.join(c if c.isprintable() else '?' for c in line)
        os.write(self.logfd, (clean + '\n').encode('utf-8', 'backslashreplace'))

    def store(self, envelope, tls, user):
        self.seq += 1
        base = os.path.join(self.dir, f'{self.seq:06d}')
        tmp = os.path.join(self.dir, f'.{self.seq:06d}.tmp')
        with open(tmp, 'wb') as f:
            f.write(envelope.original_content)
        os.rename(tmp, base + '.eml')
        mail_from = envelope.mail_from
        meta = {
            'mail_from': '' if mail_from == '<>' else mail_from,
            'rcpt_tos': list(envelope.rcpt_tos),
            'tls': tls,
            'auth': user,
            'time': time.time(),
        }
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(meta, f)
            f.write('\n')
        os.rename(tmp, base + '.json')

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode('utf-8', 'replace')
        password = auth_data.password.decode('utf-8', 'replace')
        server.auth_attempt = f'{mechanism} user={user}'
        want_user, _, want_pass = self.auth.partition(':')
        if user == want_user and password == want_pass:
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)


class Handler:
    """aiosmtpd hooks: injected replies, storing messages."""

    def __init__(self, sink):
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address, options):
        reply = self.sink.replies.lookup('MAIL', [address])
        if reply is not None and not reply.startswith('2'):
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return reply or '250 OK'

    async def handle_RCPT(self, server, session, envelope, address, options):
        reply = self.sink.replies.lookup('RCPT', [address])
        if reply is not None and not reply.startswith('2'):
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return reply or '250 OK'

    async def handle_DATA(self, server, session, envelope):
        if self.sink.delay > 0:
            await asyncio.sleep(self.sink.delay)
        reply = self.sink.replies.lookup('DATA', [envelope.mail_from] + envelope.rcpt_tos)
        if reply is not None and not reply.startswith('2'):
            return reply
        self.sink.store(envelope, server.is_tls(), server.auth_user)
        seq = self.sink.seq
        if self.sink.delay_after > 0:
            await asyncio.sleep(self.sink.delay_after)
        return reply or f'250 OK queued as {seq:06d}'


class SinkSMTP(SMTP):
    """aiosmtpd's SMTP with one log line per command and 421 closing."""

    LOGGED = ('HELO', 'EHLO', 'STARTTLS', 'AUTH', 'MAIL', 'RCPT', 'DATA',
              'RSET', 'NOOP', 'QUIT', 'VRFY')

    def __init__(self, sink, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sink = sink
        self.conn = 0
        self.current = None         # (verb, arg) of the command being answered
        self.auth_attempt = None
        self.auth_user = None
        self.gone = False
        self.greeted = False
        for verb in self.LOGGED:
            self._smtp_methods[verb] = self._logged(verb, self._smtp_methods[verb])

    def is_tls(self):
        return self.transport is not None and \
            self.transport.get_extra_info('ssl_object') is not None

    def _logged(self, verb, method):
        @functools.wraps(method)    # keeps aiosmtpd's syntax attributes for HELP
        async def wrapper(arg):
            self.current = (verb, arg)
            self.auth_attempt = None
            try:
                await method(arg)
            finally:
                if self.current is not None:    # no final reply was pushed
                    self._log_command(None)

        return wrapper

    def _log_command(self, code):
        verb, arg = self.current
        self.current = None
        if verb == 'AUTH':
            # Only the mechanism word: the rest of the line is base64 credentials.
            mech = (arg or '').split()[:1]
            what = 'AUTH ' + (self.auth_attempt or (mech[0] if mech else ''))
            if code == '235' and self.auth_attempt:
                self.auth_user = self.auth_attempt.split('user=', 1)[1]
        else:
            what = verb + (' ' + arg if arg else '')
        self.sink.log(f'conn={self.conn} {what} -> {code}')

    async def push(self, status):
        if not self.greeted:
            self.greeted = True     # aiosmtpd's first push is its greeting
            if self.sink.greeting is not None:
                self.sink.log(f'conn={self.conn} REPLY {self.sink.greeting}')
                await super().push(self.sink.greeting)
                if not self.sink.greeting.startswith('2') and self.transport is not None:
                    self.transport.close()
                return
        text = status.decode('ascii', 'replace') if isinstance(status, bytes) else status
        code = text[:3]
        final = len(text) == 3 or text[3] == ' '
        # Log before the reply leaves: a client that got it finds the line.
        if self.current is not None and final and code not in ('334', '354'):
            self._log_command(code)
        elif self.current is None and final and code[:1] in ('4', '5'):
            # refused before any command method ran (e.g. 530 STARTTLS first)
            self.sink.log(f'conn={self.conn} REPLY {text}')
        await super().push(status)
        if code == '421' and self.transport is not None:
            self.transport.close()

    async def handle_exception(self, error):
        # A client refusing our certificate is an expected event in TLS
        # tests: one log line, not a traceback. Anything else is a sink bug.
        if isinstance(error, TLSSetupException):
            cause = error.__cause__ if error.__cause__ is not None else error
            self.sink.log(f'conn={self.conn} TLS handshake failed: {cause}')
            self.current = None
            return '454 4.7.0 TLS handshake failed'
        return await super().handle_exception(error)

    def connection_made(self, transport):
        fresh = self._original_transport is None
        super().connection_made(transport)
        if fresh:
            self.sink.connections += 1
            self.conn = self.sink.connections
            peer = transport.get_extra_info('peername')
            self.sink.log(f'conn={self.conn} CONNECT {peer[0]}:{peer[1]}'
                          + (' TLS' if self.is_tls() else ''))
        else:
            self.sink.log(f'conn={self.conn} TLS established')

    def connection_lost(self, error):
        if not self.gone:           # aiosmtpd may call this twice after a TLS failure
            self.gone = True
            self.sink.log(f'conn={self.conn} DISCONNECT')
        super().connection_lost(error)


def parse_args():
    p = argparse.ArgumentParser(description='koverto test SMTP sink (see the top of this file)')
    p.add_argument('--dir', required=True, help='where messages and the log go')
    p.add_argument('--port-file', help='write the bound port here once listening')
    p.add_argument('--tls-cert')
    p.add_argument('--tls-key')
    tls = p.add_mutually_exclusive_group()
    tls.add_argument('--starttls', action='store_true')
    tls.add_argument('--implicit-tls', action='store_true')
    p.add_argument('--require-starttls', action='store_true')
    p.add_argument('--auth', metavar='USER:PASS')
    p.add_argument('--auth-mech', choices=('PLAIN', 'LOGIN'))
    p.add_argument('--auth-plaintext-ok', action='store_true',
                   help='offer AUTH without TLS (loopback tests only; not with TLS options)')
    p.add_argument('--replies', metavar='FILE')
    p.add_argument('--delay', type=float, default=0.0)
    p.add_argument('--delay-after', type=float, default=0.0)
    p.add_argument('--data-size-limit', type=int, default=32 * 1024 * 1024)
    p.add_argument('--greeting', metavar='TEXT',
                   help='answer each connection with this reply line instead of 220')
    args = p.parse_args()

    using_tls = args.starttls or args.implicit_tls
    if using_tls and not (args.tls_cert and args.tls_key):
        die('--starttls/--implicit-tls need --tls-cert and --tls-key')
    if (args.tls_cert or args.tls_key) and not using_tls:
        die('--tls-cert/--tls-key need --starttls or --implicit-tls')
    if args.require_starttls and not args.starttls:
        die('--require-starttls needs --starttls')
    if args.auth is not None and ':' not in args.auth:
        die('--auth takes USER:PASS')
    if args.auth_plaintext_ok and (using_tls or args.auth is None):
        die('--auth-plaintext-ok goes with --auth and without TLS options')
    if args.auth_mech and args.auth is None:
        die('--auth-mech needs --auth')
    if args.greeting is not None and (not re.match(r'^[2-5]\d\d[ -]', args.greeting + ' ')
                                      or '\r' in args.greeting or '\n' in args.greeting):
        die('--greeting takes one reply line: a 3-digit code, then text')
    if args.replies is not None:
        # Validate the rules given at start: a test with a typo should fail loudly.
        bad = []
        Replies(args.replies, bad.append).load()
        if bad:
            die(bad[0].replace(' ignored', ''))
    if not os.path.isdir(args.dir):
        die(f'--dir {args.dir}: not a directory')
    return args


def tls_context(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.tls_cert, args.tls_key)
    return ctx


def write_port_file(path, port):
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='ascii') as f:
        f.write(f'{port}\n')
    os.rename(tmp, path)


async def serve(args):
    loop = asyncio.get_running_loop()
    sink = Sink(args)
    handler = Handler(sink)
    ctx = tls_context(args) if args.tls_cert else None
    smtp_kwargs = dict(
        hostname='sink.localhost',          # no DNS lookup for getfqdn()
        data_size_limit=args.data_size_limit,
        tls_context=ctx if args.starttls else None,
        require_starttls=args.require_starttls,
        # implicit TLS: the whole connection is encrypted, so AUTH may go at once
        auth_require_tls=not (args.auth_plaintext_ok or args.implicit_tls),
        auth_required=args.auth is not None,
        authenticator=sink.authenticate if args.auth is not None else None,
        auth_exclude_mechanism=[m for m in ('PLAIN', 'LOGIN') if args.auth_mech and m != args.auth_mech],
        loop=loop,
    )
    server = await loop.create_server(lambda: SinkSMTP(sink, handler, **smtp_kwargs),
                                      host='127.0.0.1', port=0,
                                      ssl=ctx if args.implicit_tls else None)
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        write_port_file(args.port_file, port)
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    await stop
    server.close()


def main():
    args = parse_args()
    # aiosmtpd warns when AUTH is required without TLS: that is the point of
    # --auth-plaintext-ok, and the warning would only clutter test output.
    warnings.simplefilter('ignore')
    # aiosmtpd itself warns on every AUTH (Session.login_data deprecation);
    # keep its errors (session exceptions) on stderr, drop the noise.
    logging.getLogger('mail.log').setLevel(logging.ERROR)
    asyncio.run(serve(args))
    return 0


if __name__ == '__main__':
    sys.exit(main())
