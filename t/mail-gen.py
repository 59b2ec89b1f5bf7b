#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""mail-gen.py: the must-encrypt property test's generator and checker.

  mail-gen.py gen --seed S --count N --out DIR [--gpghome H] [--only J]
      Writes DIR/NNNNNN.eml (mail J, from 0) and DIR/cases.tsv, one line a
      mail: "J<TAB>FAMILY<TAB>RECIPIENT<TAB>MARKER<TAB>VARIANT". Mail J is
      made from a random generator seeded with (S, J) alone, so
      `--only J` makes the same mail again (a failure is replayed from the
      seed and the case number). Families cycle in the order of FAMILIES
      (every family is covered once count >= 2 * len(FAMILIES)); even J go
      to KEYLESS (no key: must-encrypt must refuse), odd J to KEYED.
      H is a GnuPG home holding KEYED's public key: the "genuine" families
      really encrypt (gpg --encrypt, RFC 3156 PGP/MIME; openssl cms
      -encrypt, RFC 8551 S/MIME, to a certificate made in DIR/smime).
  mail-gen.py check --cases DIR/cases.tsv --sink SINK --reader H
      [--failed QDIR/failed] [--seed S]
      Prints TAP lines ("ok - ..." / "not ok - ...", no numbers) and "#"
      diagnostics; exits 1 on any failure. A leak is any "KOVMARK" in any
      message the sink holds: in its raw bytes, in any MIME part decoded by
      its Content-Transfer-Encoding, decoded as quoted-printable and as
      base64 whatever the label says (runs of base64 lines, garbage
      ignored), in preambles, epilogues and the raw header lines of parts
      (RFC 2047 words decoded), nested message/rfc822 entities, and in
      UTF-16/UTF-32/EBCDIC as well as ASCII. Also: every mail to KEYED
      arrived once as multipart/encrypted that H decrypts to a text holding
      its marker; every non-genuine mail to KEYLESS was refused (its bytes
      are in the failed area, nothing went to KEYLESS); a genuine PGP/MIME
      or S/MIME mail went to either recipient unchanged (the same armor or
      CMS bytes) and decrypts to its marker. A mail whose one ciphertext is
      genuine but has readable text beside it (preamble, epilogue, armor
      headers) may instead go out as that ciphertext alone, in koverto's
      own wrapping (issue 10 A1): counted apart, accepted only when the
      copy carries exactly one armor, taken from the mail, that decrypts.

The marker ("KOVMARK" + 16 hex digits, unique per mail) stands only in
bodies (of the mail or of its parts, including part headers), never in the
top-level header, which a gateway legitimately sends readable.
"""

import argparse
import base64
import binascii
import email
import email.header
import email.policy
import glob
import hashlib
import json
import os
import quopri
import random
import re
import subprocess
import sys

KEYLESS = "dave@example.com"
KEYED = "bob@example.net"
PREFIX = "KOVMARK"
MARK_RE = re.compile(rb"KOVMARK[0-9a-f]{16}")

CTES = ["7bit", "8bit", "quoted-printable", "base64", "binary"]
BOGUS_CTES = ["x-uuencode", "BASE64", "Quoted-Printable", "base-64", "8bit (comment)",
              "quoted-printable; x=y", "", "x-gzip", "7BIT", "base64 base64"]
CHARSETS = ["us-ascii", "utf-8", "iso-8859-1", "windows-1252", "utf-16", "utf-16le",
            "x-unknown", "UTF-8", "koi8-r"]
MULTIS = ["mixed", "alternative", "related", "digest", "parallel", "x-unknown"]


class Gen:
    """One mail's random choices, its marker, and helpers to write MIME."""

    def __init__(self, seed, j, gpghome):
        h = hashlib.sha256(f"{seed}:{j}".encode()).digest()
        self.r = random.Random(h)
        self.marker = PREFIX + h[:8].hex()
        self.j = j
        self.gpghome = gpghome
        self.variant = []
        self.nb = 0

    def note(self, what):
        self.variant.append(what)

    def boundary(self):
        self.nb += 1
        r = self.r
        b = r.choice(["b", "=_Part_", "----=_NextPart_", "kov.", "'()+_,-./:=? "])
        b += f"{self.j}x{self.nb}" + "".join(r.choice("abcdef0123456789") for _ in range(6))
        return b.strip()

    def text(self, with_marker=True):
        r = self.r
        lines = [r.choice(["Hello", "Dear team", "Re: plan", "Minutes", "Hi"]) + ",", ""]
        for _ in range(r.randint(0, 4)):
            lines.append(r.choice(["The numbers are attached.", "Café au lait — naïve façade.",
                                   "Zürich Ærø ĳssel", "=3D=3D not qp", "-----BEGIN PGP MESSAGE-----",
                                   "From the desk", ". a dot line", "x" * r.randint(60, 200)]))
        if with_marker:
            pos = r.randint(0, len(lines))
            lines.insert(pos, r.choice(["secret: %s", "%s", "The code is %s, do not share.",
                                        "  %s  ", ">%s"]) % self.marker)
        return "\n".join(lines) + "\n"

    def charset_bytes(self, text):
        """(charset label, bytes) for text in a random charset."""
        cs = self.r.choice(CHARSETS)
        try:
            data = text.encode({"x-unknown": "utf-8", "UTF-8": "utf-8", "koi8-r": "utf-8"}.get(cs, cs),
                               errors="replace")
        except LookupError:
            data = text.encode("utf-8")
        return cs, data

    def qp(self, data):
        """Quoted-printable with random extra escapes and soft line breaks
        (often inside the marker), so a plain grep cannot see it."""
        r = self.r
        out, line = [], 0
        for b in data:
            if b == 10:
                out.append("\n"); line = 0
                continue
            if b < 32 or b > 126 or b == 61 or r.random() < 0.15:
                s = "=%02X" % b
            else:
                s = chr(b)
            if line + len(s) > 72 or r.random() < 0.05:
                out.append("=\n"); line = 0
            out.append(s); line += len(s)
        return "".join(out).encode()

    def b64(self, data):
        width = self.r.choice([76, 64, 40, 4, 1000])
        s = base64.b64encode(data).decode()
        return ("\n".join(s[i:i + width] for i in range(0, len(s), width)) + "\n").encode()

    def encode(self, cte, data):
        c = cte.lower().split(";")[0].split("(")[0].strip()
        if c == "quoted-printable":
            return self.qp(data)
        if c in ("base64", "base-64", "base64 base64"):
            return self.b64(data)
        if c in ("x-uuencode", "x-gzip", "") and self.r.random() < 0.5:
            return self.b64(data)        # a label nobody decodes over base64
        return data

    def leaf(self, ctype=None, with_marker=True, extra_headers=()):
        """One leaf entity: header lines and body, bytes."""
        r = self.r
        text = self.text(with_marker)
        cs, data = self.charset_bytes(text)
        if ctype is None:
            ctype = r.choice(["text/plain", "text/html", "application/octet-stream",
                              "text/plain", "image/png", "application/pgp-keys", "text/x-unknown"])
        pool = CTES + BOGUS_CTES if r.random() < 0.3 else CTES
        cte = r.choice(pool)
        if cs.startswith("utf-16") and cte.lower() in ("7bit", "8bit", "quoted-printable"):
            cte = "base64"
        hdr = [f"Content-Type: {ctype}; charset={cs}"]
        if r.random() < 0.3:
            hdr.append(f'Content-Disposition: attachment; filename="f{self.j}.txt"')
        hdr.append(f"Content-Transfer-Encoding: {cte}")
        hdr.extend(extra_headers)
        self.note(f"{ctype}/{cs}/{cte or 'empty-cte'}")
        return ("\n".join(hdr) + "\n\n").encode() + self.encode(cte, data)

    def multipart(self, subtype, parts, preamble=b"", epilogue=b"", params="", ctype=None):
        b = self.boundary()
        head = (ctype or f'Content-Type: multipart/{subtype}; boundary="{b}"{params}') + "\n\n"
        body = preamble
        for p in parts:
            body += f"\n--{b}\n".encode() + p
        body += f"\n--{b}--\n".encode() + epilogue
        return head.encode() + body, b

    def tree(self, depth):
        """A random MIME tree, the marker in at least one leaf."""
        r = self.r
        if depth <= 0 or r.random() < 0.3:
            return self.leaf()
        kind = r.random()
        if kind < 0.15:
            inner = self.tree(depth - 1)
            cte = r.choice(["7bit", "8bit", "binary", "base64", "quoted-printable"])
            hdr = f"Content-Type: message/rfc822\nContent-Transfer-Encoding: {cte}\n\n"
            inner_msg = f"From: x@example.org\nSubject: inner {self.j}\nMIME-Version: 1.0\n".encode() + inner
            self.note(f"message/rfc822/{cte}")
            return hdr.encode() + self.encode(cte, inner_msg)
        sub = r.choice(MULTIS)
        n = r.randint(1, 3)
        parts = [self.tree(depth - 1) for _ in range(n)]
        pre = self.text().encode() if r.random() < 0.2 else b""
        epi = self.text().encode() if r.random() < 0.2 else b""
        if pre: self.note("marker-in-preamble")
        if epi: self.note("marker-in-epilogue")
        self.note(f"multipart/{sub}")
        return self.multipart(sub, parts, pre, epi)[0]

    def gpg_encrypt(self, data, comment=None):
        """Armored OpenPGP ciphertext of data to KEYED (needs --gpghome)."""
        if not self.gpghome:
            sys.exit("mail-gen.py: the genuine families need --gpghome")
        cmd = ["gpg", "--homedir", self.gpghome, "--batch", "--quiet", "--no-tty",
               "--trust-model", "always", "--armor", "--encrypt", "-r", KEYED]
        if comment:
            cmd[-3:-3] = ["--comment", comment]
        return subprocess.run(cmd, input=data, stdout=subprocess.PIPE, check=True).stdout

    def pgp_mime(self, ciphertext, version_body=b"Version: 1\n", ctype=None,
                 preamble=b"", epilogue=b"", extra=(), second_ctype="application/octet-stream"):
        v = b"Content-Type: application/pgp-encrypted\nContent-Description: PGP/MIME version identification\n\n" + version_body
        c = (f'Content-Type: {second_ctype}; name="encrypted.asc"\n'
             'Content-Description: OpenPGP encrypted message\n'
             'Content-Disposition: inline; filename="encrypted.asc"\n\n').encode() + ciphertext
        b = self.boundary()
        head = ctype.replace("BOUNDARY", b) if ctype else \
            f'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="{b}"'
        body = preamble + f"\n--{b}\n".encode() + v + f"\n--{b}\n".encode() + c
        for p in extra:
            body += f"\n--{b}\n".encode() + p
        body += f"\n--{b}--\n".encode() + epilogue
        return (head + "\n\n").encode() + body

    def fake_armor(self):
        """An armor block whose body is base64 of plaintext, not OpenPGP."""
        data = self.text().encode()
        return (b"-----BEGIN PGP MESSAGE-----\n\n" + self.b64(data) + b"=abcd\n-----END PGP MESSAGE-----\n")


# --- the families: each returns the body entity (its Content-* header
# lines, a blank line, its body) and says whether it is genuine ciphertext.

def f_plain(g):
    return g.leaf(ctype=g.r.choice(["text/plain", "text/plain", "text/html"])), False

def f_tree(g):
    e = g.tree(g.r.randint(1, 4))
    if not e.startswith(b"Content-Type: multipart") and g.r.random() < 0.7:
        e = g.multipart("mixed", [e, g.leaf()])[0]
    return e, False

def f_pgp_text_second(g):
    """multipart/encrypted (pgp protocol) whose 2nd part is readable text."""
    r = g.r
    second = g.leaf(ctype=r.choice(["text/plain", "application/octet-stream", "text/html"]))
    v = b"Content-Type: application/pgp-encrypted\n\nVersion: 1\n"
    parts = [v, second]
    if r.random() < 0.3:
        parts = [v, b"Content-Type: application/octet-stream\n\n" + g.gpg_encrypt(b"decoy\n"), second]
        g.note("third-part-plaintext")
    return g.multipart("encrypted", parts, params='; protocol="application/pgp-encrypted"')[0], False

def f_pgp_noproto(g):
    """multipart/encrypted without (or with a wrong) protocol, any parts."""
    r = g.r
    params = r.choice(["", '; protocol="application/pkcs7-mime"', '; protocol="text/plain"',
                       "; protocol=", '; protocol="application/pgp-encrypted "'])
    g.note("protocol" + params)
    parts = [g.leaf() for _ in range(r.randint(1, 3))]
    return g.multipart("encrypted", parts, params=params)[0], False

def f_pgp_fake_armor(g):
    """Exact RFC 3156 structure, but the 'ciphertext' is base64 plaintext
    under armor lines, or readable text under them."""
    if g.r.random() < 0.5:
        ct = g.fake_armor(); g.note("armor-over-base64-plaintext")
    else:
        ct = b"-----BEGIN PGP MESSAGE-----\n\n" + g.text().encode() + b"-----END PGP MESSAGE-----\n"
        g.note("armor-over-text")
    return g.pgp_mime(ct), False

def f_pgp_armor_marker(g):
    """Genuine ciphertext, the marker in an armor header or around the armor."""
    r = g.r
    where = r.choice(["comment", "before", "after", "version-part", "armor-header-line"])
    g.note("marker-" + where)
    data = g.text(with_marker=False).encode()
    if where == "comment":
        ct = g.gpg_encrypt(data, comment=f"{g.marker}")
        return g.pgp_mime(ct), False
    ct = g.gpg_encrypt(data)
    if where == "before":
        ct = f"{g.marker} says hi\n".encode() + ct
    elif where == "after":
        ct = ct + f"PS: {g.marker}\n".encode()
    elif where == "armor-header-line":
        ct = ct.replace(b"-----BEGIN PGP MESSAGE-----\n",
                        f"-----BEGIN PGP MESSAGE-----\nComment: {g.marker}\n".encode(), 1)
    else:
        return g.pgp_mime(ct, version_body=f"Version: 1\n{g.marker}\n".encode()), False
    return g.pgp_mime(ct), False

def f_pgp_pre_epi(g):
    """Genuine ciphertext; plaintext in the preamble and/or epilogue."""
    r = g.r
    pre = g.text().encode() if r.random() < 0.6 else b""
    epi = g.text().encode() if not pre or r.random() < 0.4 else b""
    g.note(("preamble " if pre else "") + ("epilogue" if epi else ""))
    ct = g.gpg_encrypt(g.text(with_marker=False).encode())
    return g.pgp_mime(ct, preamble=pre, epilogue=epi), False

def f_pgp_extra_part(g):
    """Genuine ciphertext, then a readable extra part."""
    ct = g.gpg_encrypt(g.text(with_marker=False).encode())
    return g.pgp_mime(ct, extra=[g.leaf(ctype="text/plain")]), False

def f_smime_label(g):
    """application/pkcs7-mime enveloped-data over base64 plaintext."""
    r = g.r
    inner = g.leaf(ctype="text/plain") if r.random() < 0.5 else g.text().encode()
    st = r.choice(["enveloped-data", "enveloped-data", "authEnveloped-data", "signed-data"])
    name = r.choice(['; name="smime.p7m"', ""])
    ct = r.choice(["application/pkcs7-mime", "application/x-pkcs7-mime"])
    cte = r.choice(["base64", "base64", "7bit", "quoted-printable"])
    g.note(f"{ct}/{st}/{cte}")
    hdr = f"Content-Type: {ct}; smime-type={st}{name}\nContent-Transfer-Encoding: {cte}\n"
    if r.random() < 0.5:
        hdr += 'Content-Disposition: attachment; filename="smime.p7m"\n'
    return hdr.encode() + b"\n" + g.encode(cte, inner), False

def f_dup_ctype(g):
    """Two Content-Type fields: text/plain first and multipart/encrypted
    last, or the reverse."""
    r = g.r
    b = g.boundary()
    enc = f'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="{b}"'
    plain = r.choice(["Content-Type: text/plain; charset=utf-8", "Content-type: text/plain",
                      f"Content-Type: text/plain; boundary=\"{b}\""])
    order = r.choice(["plain-then-encrypted", "encrypted-then-plain"])
    g.note(order)
    hdr = [plain, enc] if order == "plain-then-encrypted" else [enc, plain]
    if r.random() < 0.3:
        hdr.insert(1, "X-Spacer: 1")
    second = (b"Content-Type: application/octet-stream\n\n" +
              (g.gpg_encrypt(b"decoy\n") if r.random() < 0.5 else g.fake_armor()))
    body = (g.text().encode() if r.random() < 0.5 else b"")
    body += (f"\n--{b}\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\n--{b}\n").encode()
    body += second + f"\n--{b}--\n".encode() + (g.text().encode() if r.random() < 0.5 else b"")
    if g.marker.encode() not in body:
        body = g.text().encode() + body
    return ("\n".join(hdr) + "\n\n").encode() + body, False

def f_odd_headers(g):
    """multipart/encrypted spelled oddly (case, folding, comments, RFC 2231,
    space before the colon), around readable parts."""
    r = g.r
    b = g.boundary()
    ctype = r.choice([
        f'Content-Type: MULTIPART/ENCRYPTED; PROTOCOL="APPLICATION/PGP-ENCRYPTED"; BOUNDARY="{b}"',
        f'Content-Type:\n multipart/encrypted;\n\tprotocol="application/pgp-encrypted";\n boundary="{b}"',
        f'Content-Type: multipart/encrypted (comment); protocol="application/pgp-encrypted"; boundary="{b}"',
        f"Content-Type: multipart/encrypted; protocol*=us-ascii''application%2Fpgp-encrypted; boundary=\"{b}\"",
        f'Content-Type : multipart/encrypted; protocol="application/pgp-encrypted"; boundary="{b}"',
        f'Content-Type: multipart/encrypted;protocol=application/pgp-encrypted;boundary={b}',
        f'Content-Type: multipart/encrypted; boundary="{b}"; protocol="application/pgp-encrypted"; boundary="x{b}"',
    ])
    g.note(ctype.split(":", 1)[0] + ":" + ctype.split(";", 1)[0].split(":", 1)[1].strip()[:30])
    v = b"Content-Type: application/pgp-encrypted\n\nVersion: 1\n"
    if r.random() < 0.5:
        second = b"Content-Type: application/octet-stream\n\n" + g.fake_armor()
    else:
        second = g.leaf()
    body = f"\n--{b}\n".encode() + v + f"\n--{b}\n".encode() + second + f"\n--{b}--\n".encode()
    return (ctype + "\n\n").encode() + body, False

def f_inline_pgp(g):
    """text/plain holding a genuine armor block and readable text beside it."""
    ct = g.gpg_encrypt(g.text(with_marker=False).encode())
    t = g.text().encode()
    body = (t + ct) if g.r.random() < 0.5 else (ct + t)
    return b"Content-Type: text/plain; charset=us-ascii\n\n" + body, False

def f_part_header(g):
    """The marker in a part's own header (description, filename, RFC 2047)."""
    r = g.r
    enc = email.header.Header(f"report {g.marker}", "utf-8").encode()
    extra = r.choice([(f"Content-Description: {g.marker}",),
                      (f'Content-Disposition: attachment; filename="{g.marker}.txt"',),
                      (f"Content-Description: {enc}",),
                      (f"X-Note: {g.marker}",)])
    g.note(extra[0].split(":")[0])
    p = g.leaf(with_marker=False, extra_headers=extra)
    if b"Content-Disposition" in p and "Content-Disposition" in extra[0]:
        p = p.replace(b'Content-Disposition: attachment; filename="f%d.txt"\n' % g.j, b"", 1)
    return g.multipart(r.choice(MULTIS), [g.leaf(with_marker=False), p])[0], False

def f_rfc822_label(g):
    """message/rfc822 wrapping a labelled-encrypted readable mail."""
    inner_body, _ = f_pgp_text_second(g)
    inner = b"From: x@example.org\nSubject: fwd\nMIME-Version: 1.0\n" + inner_body
    cte = g.r.choice(["7bit", "base64", "quoted-printable"])
    g.note(f"message/rfc822/{cte}")
    e = f"Content-Type: message/rfc822\nContent-Transfer-Encoding: {cte}\n\n".encode() + g.encode(cte, inner)
    if g.r.random() < 0.5:
        return e, False
    return g.pgp_mime(g.gpg_encrypt(b"x\n"), extra=[e]), False

def smime_dir(out):
    """out/smime: a self-signed certificate and its key, made once."""
    d = os.path.join(out, "smime")
    if not os.path.exists(os.path.join(d, "cert.pem")):
        os.makedirs(d, exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "7",
                        "-keyout", os.path.join(d, "key.pem"), "-out", os.path.join(d, "cert.pem"),
                        "-subj", "/CN=bob@example.net"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return d


def f_genuine_smime(g):
    """Genuine S/MIME (openssl cms -encrypt, RFC 8551 enveloped-data)."""
    inner = b"MIME-Version: 1.0\n" + g.leaf(ctype="text/plain")
    d = smime_dir(g.out)
    p = subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-aes256", os.path.join(d, "cert.pem")],
                       input=inner, stdout=subprocess.PIPE, check=True)
    lines = [l for l in p.stdout.split(b"\n") if not l.lower().startswith(b"mime-version:")]
    g.note("genuine-smime")
    return b"\n".join(lines), True


def f_genuine(g):
    """Genuine RFC 3156 PGP/MIME: the marker only inside the ciphertext."""
    inner = g.leaf(ctype="text/plain") if g.r.random() < 0.5 else g.tree(2)
    g.note("genuine")
    return g.pgp_mime(g.gpg_encrypt(inner)), True


FAMILIES = [
    ("plain", f_plain), ("mime-tree", f_tree), ("pgp-text-second", f_pgp_text_second),
    ("pgp-label-noproto", f_pgp_noproto), ("pgp-fake-armor", f_pgp_fake_armor),
    ("pgp-armor-marker", f_pgp_armor_marker), ("pgp-preamble-epilogue", f_pgp_pre_epi),
    ("pgp-extra-part", f_pgp_extra_part), ("smime-label", f_smime_label),
    ("dup-content-type", f_dup_ctype), ("odd-headers", f_odd_headers),
    ("inline-pgp", f_inline_pgp), ("part-header", f_part_header),
    ("rfc822-label", f_rfc822_label), ("genuine-pgp", f_genuine),
    ("genuine-smime", f_genuine_smime),
]
GENUINE = {"genuine-pgp", "genuine-smime"}


def make(seed, j, gpghome, out):
    """Mail j of seed: (family, recipient, marker, variant, bytes)."""
    name, fn = FAMILIES[(j // 2) % len(FAMILIES)]
    rcpt = KEYLESS if j % 2 == 0 else KEYED
    g = Gen(seed, j, gpghome)
    g.out = out
    r = g.r
    entity, _ = fn(g)
    top = ["From: Alice <alice@example.org>", f"To: {rcpt}",
           f"Subject: property {seed}:{j} {name}", f"Message-ID: <prop.{seed}.{j}@example.org>",
           "Date: Mon, 07 Dec 2026 00:00:00 +0000"]
    if r.random() < 0.8:
        top.append("MIME-Version: 1.0")
    if r.random() < 0.2:
        top.append("X-Folded: a\n  folded\n\tline")
        g.note("folded-header")
    if r.random() < 0.1:
        top.append("X-Long: " + "y" * 990)
        g.note("long-header")
    r.shuffle(top)
    mail = ("\n".join(top) + "\n").encode() + entity
    if not mail.endswith(b"\n"):
        mail += b"\n"
    if r.random() < 0.3:
        mail = mail.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        g.note("crlf")
    head = mail.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    assert g.marker.encode() not in head, (name, j)
    return name, rcpt, g.marker, ",".join(g.variant)[:300], mail


def cmd_gen(a):
    os.makedirs(a.out, exist_ok=True)
    js = [a.only] if a.only is not None else range(a.count)
    with open(os.path.join(a.out, "cases.tsv"), "w") as tsv:
        for j in js:
            fam, rcpt, marker, variant, mail = make(a.seed, j, a.gpghome, a.out)
            with open(os.path.join(a.out, "%06d.eml" % j), "wb") as f:
                f.write(mail)
            tsv.write(f"{j}\t{fam}\t{rcpt}\t{marker}\t{variant}\n")


# --- the checker ---------------------------------------------------------

NEEDLE_CODECS = ["ascii", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be", "cp500"]
NEEDLES = [(c, PREFIX.encode(c)) for c in NEEDLE_CODECS]
B64_LINE = re.compile(rb"^[A-Za-z0-9+/=\-_]{4,}\s*$")
HEADERISH = re.compile(rb"^[!-9;-~]+[ \t]*:")


def markers_in(blob, codec):
    """The markers (ASCII text) found in blob read in codec; "KOVMARK?"
    for a prefix that no whole marker follows."""
    needle = PREFIX.encode(codec)
    width = len(needle) // len(PREFIX)
    found, i = set(), blob.find(needle)
    while i >= 0:
        text = blob[i:i + (len(PREFIX) + 16) * width].decode(codec, errors="replace")
        found.add(text if re.fullmatch(PREFIX + "[0-9a-f]{16}", text) else PREFIX + "?")
        i = blob.find(needle, i + 1)
    return found


def b64_runs(blob):
    """Each run of base64-looking lines in blob, decoded (garbage ignored)."""
    run = []
    for line in blob.splitlines() + [b""]:
        if B64_LINE.match(line):
            run.append(line.strip())
            continue
        if run:
            data = b"".join(run).replace(b"-", b"+").replace(b"_", b"/").rstrip(b"=")
            for cut in range(4):  # a run that starts inside a quantum
                d = data[cut:]
                try:
                    yield base64.b64decode(d + b"=" * (-len(d) % 4))
                except (binascii.Error, ValueError):
                    pass
            run = []


def scan(blob, where, hits, depth=0):
    """Record (marker, where) for every readable marker in blob or in what
    any decoding of it shows."""
    if not blob:
        return
    for codec, needle in NEEDLES:
        if needle in blob:
            for m in markers_in(blob, codec):
                hits.add((m, where + ("" if codec == "ascii" else f" as {codec}")))
    if depth >= 3:
        return
    if b"=" in blob:
        q = quopri.decodestring(blob)
        if q != blob:
            scan(q, where + " qp-decoded", hits, depth + 1)
    try:
        whole = base64.b64decode(re.sub(rb"[^A-Za-z0-9+/]", b"", blob) + b"==", validate=False)
        scan(whole, where + " b64-decoded(whole)", hits, depth + 1)
    except (binascii.Error, ValueError):
        pass
    for i, d in enumerate(b64_runs(blob)):
        scan(d, where + f" b64-decoded(run {i})", hits, depth + 1)
    if depth == 0 or HEADERISH.match(blob):
        scan_mime(blob, where, hits, depth + 1)


def scan_mime(blob, where, hits, depth):
    msg = email.message_from_bytes(blob, policy=email.policy.compat32)
    for n, part in enumerate(msg.walk()):
        w = f"{where} part {n} ({part.get_content_type()})"
        for k, v in part.items():
            raw = f"{k}: {v}".encode("utf-8", "surrogateescape")
            scan(raw, w + f" header {k}", hits, 3)
            try:
                dec = "".join(s.decode(c or "utf-8", "replace") if isinstance(s, bytes) else s
                              for s, c in email.header.decode_header(v))
                scan(dec.encode("utf-8", "replace"), w + f" header {k} (RFC 2047)", hits, 3)
            except Exception:
                pass
        for attr in ("preamble", "epilogue"):
            t = getattr(part, attr)
            if t:
                scan(t.encode("utf-8", "surrogateescape"), w + " " + attr, hits, depth)
        if part.is_multipart():
            continue
        raw = part.get_payload(decode=False)
        if isinstance(raw, str):
            scan(raw.encode("utf-8", "surrogateescape"), w + " body", hits, depth)
        try:
            dec = part.get_payload(decode=True)
        except Exception:
            dec = None
        if dec:
            scan(dec, w + " body decoded by its CTE", hits, depth)


def decrypt(path, reader):
    """The text H decrypts the multipart/encrypted message at path to, or None."""
    msg = email.message_from_binary_file(open(path, "rb"), policy=email.policy.compat32)
    if msg.get_content_type() != "multipart/encrypted" or not msg.is_multipart():
        return None
    parts = msg.get_payload()
    if len(parts) != 2:
        return None
    p = subprocess.run(["gpg", "--homedir", reader, "--batch", "--quiet", "--no-tty", "--decrypt"],
                       input=parts[1].get_payload(decode=True) or b"",
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return p.stdout if p.returncode == 0 else None


def smime_decrypt(path, d):
    """What openssl cms decrypts the S/MIME message at path to, or None."""
    p = subprocess.run(["openssl", "cms", "-decrypt", "-binary", "-inkey", os.path.join(d, "key.pem"),
                        "-recip", os.path.join(d, "cert.pem"), "-in", path],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return p.stdout if p.returncode == 0 else None


def smime_payload(data):
    """The DER bytes of a top-level application/pkcs7-mime body."""
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    return None if msg.is_multipart() else msg.get_payload(decode=True)


def armor_of(data):
    m = re.search(rb"-----BEGIN PGP MESSAGE-----.*?-----END PGP MESSAGE-----", data, re.S)
    return m.group(0).replace(b"\r\n", b"\n") if m else None


def armor_payloads(data):
    """The base64 lines of every armor block in @data (armor headers and
    line ends left out): what a rewrapping must carry unchanged."""
    out = set()
    data = data.replace(b"\r\n", b"\n")
    for chunk in data.split(b"-----END PGP MESSAGE-----")[:-1]:
        if b"-----BEGIN PGP MESSAGE-----\n" not in chunk:
            continue
        # the last BEGIN before this END: a stray BEGIN line may stand earlier
        body = chunk.rsplit(b"-----BEGIN PGP MESSAGE-----\n", 1)[1]
        if b"\n\n" in body:          # armor headers, then a blank line
            body = body.split(b"\n\n", 1)[1]
        out.add(b"".join(body.split()))
    return out


def rewrapped(path, src, reader):
    """A mail whose only ciphertext is genuine, with readable text beside it
    (preamble, epilogue, armor headers), goes out as that ciphertext in
    koverto's own wrapping (issue 10 A1): accepted when the copy carries
    exactly one armor, it was in the source, and it decrypts."""
    got = armor_payloads(open(path, "rb").read())
    return len(got) == 1 and got <= armor_payloads(src) and decrypt(path, reader) is not None


def cmd_check(a):
    out = []
    def tap(good, what):
        out.append(("ok - " if good else "not ok - ") + what)
    cases = {}
    for line in open(a.cases):
        j, fam, rcpt, marker, variant = line.rstrip("\n").split("\t")
        cases[marker] = (int(j), fam, rcpt, variant)
    indir = os.path.dirname(a.cases)
    seed = a.seed if a.seed is not None else "?"

    def name(marker):
        j, fam, rcpt, variant = cases.get(marker, (-1, "?", "?", ""))
        return f"case {j} [{fam}] to {rcpt} ({variant})"

    msgs = sorted(glob.glob(os.path.join(a.sink, "*.eml")))
    env = {}
    for p in msgs:
        env[p] = json.load(open(p[:-4] + ".json"))["rcpt_tos"]
    leaks = {}
    for p in msgs:
        hits = set()
        scan(open(p, "rb").read(), os.path.basename(p), hits)
        for m, w in hits:
            leaks.setdefault(m, []).append(w)
    for m in sorted(leaks):
        out.append(f"# LEAK seed {seed} {name(m)} marker {m}:")
        for w in sorted(leaks[m])[:6]:
            out.append(f"#     found in {w}")
        j = cases.get(m, (-1,))[0]
        out.append(f"#     replay: mail-gen.py gen --seed {seed} --only {j} --out DIR --gpghome H")
    fams = [f for f, _ in FAMILIES if any(cases[m][1] == f for m in leaks if m in cases)]
    for fam, _ in FAMILIES:
        tot = [m for m, c in cases.items() if c[1] == fam]
        for rcpt in (KEYLESS, KEYED):
            t = [m for m in tot if cases[m][2] == rcpt]
            n = sum(1 for m in t if m in leaks)
            if t:
                out.append(f"# family {fam:22} to {rcpt:17} leaked {n:3} of {len(t):3}")
    tap(not leaks, f"no marker readable at the sink ({len(msgs)} messages, {len(cases)} mails)"
        + (f"; leaking families: {' '.join(fams)}" if leaks else ""))

    # Per mail: what arrived for it, by its Subject's case number.
    by_case = {}
    for p in msgs:
        msg = email.message_from_binary_file(open(p, "rb"), policy=email.policy.compat32)
        s = re.search(r"property \S+:(\d+) ", str(msg.get("Subject", "")))
        if s:
            by_case.setdefault(int(s.group(1)), []).append(p)
    refused = {}  # marker -> the reason koverto gave, for each mail in failed/
    if a.failed:
        for f in glob.glob(os.path.join(a.failed, "*")):
            if f.endswith(".reason") or not os.path.exists(f + ".reason"):
                continue
            hits = set()
            scan(open(f, "rb").read(), "failed", hits)
            reason = open(f + ".reason", errors="replace").read().strip().splitlines()
            for m, _ in hits:
                if m != PREFIX + "?":
                    refused[m] = reason[0] if reason else "(empty reason)"
    keyed_bad, keyless_bad, genuine_bad = [], [], []
    keyed_n = keyless_n = rewrapped_n = 0
    for marker, (j, fam, rcpt, variant) in sorted(cases.items(), key=lambda kv: kv[1][0]):
        got = [p for p in by_case.get(j, []) if rcpt in env[p]]
        src = open(os.path.join(indir, "%06d.eml" % j), "rb").read()
        if fam in GENUINE:
            if len(got) != 1 or env[got[0]] != [rcpt]:
                genuine_bad.append(f"seed {seed} {name(marker)}: {len(got)} copies")
                continue
            sent = open(got[0], "rb").read()
            if fam == "genuine-smime":
                if smime_payload(sent) != smime_payload(src):
                    genuine_bad.append(f"seed {seed} {name(marker)}: CMS payload changed")
                d = smime_decrypt(got[0], os.path.join(indir, "smime"))
            else:
                if armor_of(src) not in sent.replace(b"\r\n", b"\n"):
                    genuine_bad.append(f"seed {seed} {name(marker)}: armor changed")
                d = decrypt(got[0], a.reader)
            h = set()
            scan(d or b"", "decrypted", h)
            if marker not in {m for m, _ in h}:
                genuine_bad.append(f"seed {seed} {name(marker)}: does not decrypt to its marker")
            continue
        if len(got) == 1 and env[got[0]] == [rcpt] and rewrapped(got[0], src, a.reader):
            rewrapped_n += 1
            continue
        if rcpt == KEYED:
            keyed_n += 1
            if len(got) != 1 or env[got[0]] != [KEYED]:
                keyed_bad.append(f"seed {seed} {name(marker)}: {len(got)} copies"
                                 + ("" if len(got) != 1 else f" to {env[got[0]]}"))
                continue
            d = decrypt(got[0], a.reader)
            h = set()
            scan(d or b"", "decrypted", h)
            if d is None:
                keyed_bad.append(f"seed {seed} {name(marker)}: not a decryptable multipart/encrypted")
            elif marker not in {m for m, _ in h}:
                keyed_bad.append(f"seed {seed} {name(marker)}: decrypted text lacks the marker")
        else:
            keyless_n += 1
            if got:
                keyless_bad.append(f"seed {seed} {name(marker)}: {len(got)} copies sent")
            elif a.failed and marker not in refused:
                keyless_bad.append(f"seed {seed} {name(marker)}: not in the failed area")
    reasons = {}
    for m, r in refused.items():
        r = re.sub(r"[0-9A-F]{16,}", "KEY", r)
        reasons[r] = reasons.get(r, 0) + 1
    for r, n in sorted(reasons.items()):
        out.append(f"# refused {n:4}: {r[:150]}")
    out.append(f"# passed on as their genuine ciphertext, readable wrapping dropped: {rewrapped_n}")
    for what, bad, n in (("every mail to the keyed recipient arrived once, decrypting to its marker",
                          keyed_bad, keyed_n),
                         ("every mail to the keyless recipient was refused and kept in failed/",
                          keyless_bad, keyless_n),
                         ("genuine PGP/MIME and S/MIME passed unchanged to both recipients, decryptable",
                          genuine_bad, sum(1 for c in cases.values() if c[1] in GENUINE))):
        for b in bad[:20]:
            out.append("#   " + b)
        if len(bad) > 20:
            out.append(f"#   ... and {len(bad) - 20} more")
        nbad = len({re.search(r"case (-?\d+)", b).group(1) for b in bad})
        tap(not bad, f"{what} ({n - nbad}/{n})")
    print("\n".join(out))
    return 1 if any(l.startswith("not ok") for l in out) else 0


def cmd_selftest(a):
    """The checker sees each mail's marker in the mail as generated (all
    but the genuine ones), so a clean sink is not a blind checker's."""
    bad, n = [], 0
    for line in open(a.cases):
        j, fam, rcpt, marker, variant = line.rstrip("\n").split("\t")
        hits = set()
        blob = open(os.path.join(os.path.dirname(a.cases), "%06d.eml" % int(j)), "rb").read()
        scan(blob, "mail", hits)
        found = {m for m, _ in hits}
        n += 1
        if (marker in found) == (fam in GENUINE) or found - {marker, PREFIX + "?"}:
            bad.append(f"case {j} [{fam}] ({variant}): found {sorted(found)}")
    for b in bad[:20]:
        print("#   " + b)
    print(("ok - " if not bad else "not ok - ") +
          f"the checker sees the marker of every generated mail but the genuine ones ({n - len(bad)}/{n})")
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--seed", type=int, required=True)
    g.add_argument("--count", type=int, default=60)
    g.add_argument("--only", type=int)
    g.add_argument("--out", required=True)
    g.add_argument("--gpghome")
    c = sub.add_parser("check")
    c.add_argument("--cases", required=True)
    c.add_argument("--sink", required=True)
    c.add_argument("--reader", required=True)
    c.add_argument("--failed")
    c.add_argument("--seed", type=int)
    t = sub.add_parser("selftest")
    t.add_argument("--cases", required=True)
    a = ap.parse_args()
    if a.cmd == "selftest":
        return cmd_selftest(a)
    if a.cmd == "gen":
        cmd_gen(a)
        return 0
    return cmd_check(a)


if __name__ == "__main__":
    sys.exit(main())
