#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""classify.py: what one program did with one Kuvert queue file, as text.

  /usr/bin/python3 t/kuvert/classify.py --sink DIR --reader HOME
      --fingerprints t/keys/fingerprints --queue QUEUEDIR --name NAME
      --original FILE

DIR holds what the SMTP sink (t/sink.py) accepted during the run
(NNNNNN.eml + NNNNNN.json), QUEUEDIR/NAME was the all-digit queue file and
FILE is a copy of it as it was written. HOME is a GnuPG home with every
fixture secret key (t/keys/setup-reader). Output, one fact per line, sorted
so that two runs can be compared as text (never the ciphertext):

  ADDRESS: CLASS[ & CLASS...]   for every recipient named in the queue file
                                (To, Cc, Bcc, Resent-To/Cc/Bcc, X-Kuvert-To)
                                and everyone who got a copy; CLASS is
      nothing                   no copy
      unchanged                 sent as it was (not signed, not encrypted)
      signed(SIGNER)            RFC 3156 multipart/signed, signature good
      encrypted(K1,K2)+signed(SIGNER)
                                multipart/encrypted to exactly these keys
                                (the encryption subkeys, named by their
                                primary key), signed inside by SIGNER
                                (+unsigned when not)
    names are the fixture names of t/keys/fingerprints (an unknown key is
    shown by its ID); "!nobody" is appended when the body's first line is not
    in the decoded content; more than one copy for one address is "A & B".
  headers: to=...; cc=...; leaked=...; x-mailer=yes|no; envelope-from=...
                                per distinct set of outgoing header facts:
                                To/Cc as parsed addresses ("(none)" absent,
                                "(empty)" present but empty), which of
                                Bcc/X-Kuvert*/Resent-Bcc left the program
  mail: sent | rejected | untouched | kept | gone
                                the queue file afterwards: removed; parked as
                                .NAME; still there byte for byte; still there,
                                changed; or moved somewhere else (neither).
"""

import argparse
import email
import email.policy
import email.utils
import json
import os
import re
import subprocess
import sys
import tempfile

ADDRESS_HEADERS = ('to', 'cc', 'bcc', 'resent-to', 'resent-cc', 'resent-bcc',
                   'x-kuvert-to')
LEAKS = ('bcc', 'resent-bcc', 'x-kuvert', 'x-kuvert-to', 'x-kuvert-from')


class Keys:
    """Fixture names for key IDs and fingerprints, from the reader keyring."""

    def __init__(self, reader, fingerprints):
        self.reader = reader
        names = {}
        with open(fingerprints, encoding='ascii') as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    names[parts[1].upper()] = parts[0]
        self.by_id = {}
        out = gpg(reader, '--with-colons', '--list-keys').stdout
        primary = None
        pending = None          # the pub/sub record waiting for its fpr line
        for line in out.splitlines():
            f = line.split(':')
            if f[0] in ('pub', 'sub'):
                pending = f
            elif f[0] == 'fpr' and pending is not None:
                fpr = f[9].upper()
                if pending[0] == 'pub':
                    primary = names.get(fpr, fpr)
                self.by_id[fpr] = primary
                self.by_id[pending[4].upper()] = primary
                pending = None

    def name(self, keyid):
        return self.by_id.get(keyid.upper(), keyid.upper())


def gpg(home, *args, stdin=None):
    return subprocess.run(['gpg', '--homedir', home, '--batch', '--no-tty'] + list(args),
                          input=stdin, capture_output=True, check=False,
                          text=isinstance(stdin, str) or stdin is None)


def status_lines(text):
    for line in text.splitlines():
        if line.startswith('[GNUPG:] '):
            yield line[9:].split()


def body_text(entity):
    """All decoded text of a MIME entity, for finding the body marker."""
    out = []
    for part in entity.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if payload is not None:
            out.append(payload.decode('utf-8', 'replace'))
    return '\n'.join(out)


def signer_of(status, keys):
    for f in status:
        if f[0] == 'VALIDSIG':
            return keys.name(f[-1])
    return None


def classify_signed(raw, msg, keys):
    boundary = msg.get_boundary()
    if boundary is None:
        return 'signed(BAD: no boundary)', ''
    b = boundary.encode()
    try:
        start = raw.index(b'--' + b + b'\r\n') + len(b) + 4
        end = raw.index(b'\r\n--' + b, start)
    except ValueError:
        return 'signed(BAD: parts not found)', ''
    parts = msg.get_payload()
    if len(parts) != 2 or parts[1].get_content_type() != 'application/pgp-signature':
        return 'signed(BAD: not RFC 3156)', ''
    with tempfile.TemporaryDirectory(prefix='kvcls') as tmp:
        part_file = os.path.join(tmp, 'part')
        sig_file = os.path.join(tmp, 'sig')
        with open(part_file, 'wb') as f:
            f.write(raw[start:end])
        with open(sig_file, 'wb') as f:
            f.write(parts[1].get_payload(decode=True) or b'')
        r = gpg(keys.reader, '--status-fd', '1', '--verify', sig_file, part_file)
    who = signer_of(status_lines(r.stdout), keys)
    if r.returncode != 0 or who is None:
        return 'signed(BAD)', body_text(parts[0])
    return f'signed({who})', body_text(parts[0])


def classify_encrypted(msg, keys):
    parts = msg.get_payload()
    if (msg.get_param('protocol') != 'application/pgp-encrypted' or len(parts) != 2
            or parts[0].get_content_type() != 'application/pgp-encrypted'):
        return 'encrypted(BAD: not RFC 3156)', ''
    armored = parts[1].get_payload(decode=True) or b''
    r = subprocess.run(['gpg', '--homedir', keys.reader, '--batch', '--no-tty',
                        '--status-fd', '2', '--decrypt'],
                       input=armored, capture_output=True, check=False)
    status = list(status_lines(r.stderr.decode('utf-8', 'replace')))
    to = sorted({keys.name(f[1]) for f in status if f[0] == 'ENC_TO'})
    cls = 'encrypted(' + ','.join(to) + ')'
    if r.returncode != 0:
        return cls + '+undecryptable', ''
    who = signer_of(status, keys)
    cls += f'+signed({who})' if who else '+unsigned'
    inner = email.message_from_bytes(r.stdout, policy=email.policy.compat32)
    return cls, body_text(inner)


def addresses(value):
    """A parsed address header as canonical text: display names with white
    space collapsed, groups as NAME:members;."""
    if value is None:
        return '(none)'
    try:
        groups = value.groups
    except AttributeError:      # unparseable: keep the text
        return 'unparsed:' + ' '.join(str(value).split())
    out = []
    for g in groups:
        members = []
        for a in g.addresses:
            name = ' '.join(a.display_name.split())
            members.append(f'{name} <{a.addr_spec}>' if name else a.addr_spec)
        if g.display_name is not None:
            out.append(f'{g.display_name}:' + ', '.join(members) + ';')
        else:
            out.extend(members)
    return ', '.join(out) if out else '(empty)'


def header_facts(msg, mail_from):
    leaked = [h for h in LEAKS if msg.get(h) is not None]
    return '; '.join([
        'to=' + addresses(msg['to']),
        'cc=' + addresses(msg['cc']),
        'leaked=' + (','.join(leaked) if leaked else '-'),
        'x-mailer=' + ('yes' if msg.get('x-mailer') is not None else 'no'),
        'envelope-from=' + (mail_from or '<>'),
    ])


def classify_copy(raw, keys, marker):
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    ctype = msg.get_content_type()
    if ctype == 'multipart/signed':
        cls, text = classify_signed(raw, msg, keys)
    elif ctype == 'multipart/encrypted':
        cls, text = classify_encrypted(msg, keys)
    else:
        cls, text = 'unchanged', body_text(msg)
    if marker and marker not in text:
        cls += '!nobody'
    return cls


def named_recipients(original):
    msg = email.message_from_bytes(original, policy=email.policy.compat32)
    found = set()
    for h in ADDRESS_HEADERS:
        values = msg.get_all(h) or []
        for _, addr in email.utils.getaddresses(values):
            if '@' in addr:
                found.add(addr.lower())
    return found


def body_marker(original):
    """The first non-blank line of the body: every copy must carry it."""
    _, sep, body = original.partition(b'\n\n')
    for line in body.decode('utf-8', 'replace').splitlines():
        if line.strip():
            return line.strip()
    return ''


def mail_state(queue, name, original):
    path = os.path.join(queue, name)
    parked = os.path.exists(os.path.join(queue, '.' + name))
    if os.path.exists(path):
        with open(path, 'rb') as f:
            return 'untouched' if f.read() == original else 'kept'
    return 'rejected' if parked else 'sent'


def classify(args):
    keys = Keys(args.reader, args.fingerprints)
    with open(args.original, 'rb') as f:
        original = f.read()
    marker = body_marker(original)
    got = {}
    facts = set()
    for entry in sorted(os.listdir(args.sink)):
        if not re.fullmatch(r'\d+\.json', entry):
            continue
        with open(os.path.join(args.sink, entry), encoding='utf-8') as f:
            env = json.load(f)
        with open(os.path.join(args.sink, entry[:-5] + '.eml'), 'rb') as f:
            raw = f.read()
        cls = classify_copy(raw, keys, marker)
        facts.add(header_facts(email.message_from_bytes(raw, policy=email.policy.default),
                               env['mail_from'].lower()))
        for rcpt in env['rcpt_tos']:
            got.setdefault(rcpt.lower(), []).append(cls)
    lines = []
    for addr in sorted(named_recipients(original) | set(got)):
        lines.append(f'{addr}: ' + (' & '.join(sorted(got[addr])) if addr in got else 'nothing'))
    lines.extend('headers: ' + h for h in sorted(facts))
    lines.append('mail: ' + mail_state(args.queue, args.name, original))
    return lines


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--sink', required=True)
    p.add_argument('--reader', required=True)
    p.add_argument('--fingerprints', required=True)
    p.add_argument('--queue', required=True)
    p.add_argument('--name', required=True)
    p.add_argument('--original', required=True)
    for line in classify(p.parse_args()):
        print(line)
    return 0


if __name__ == '__main__':
    sys.exit(main())
