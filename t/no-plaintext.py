#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""no-plaintext.py DIR MARKER...: exit 1 if any MARKER appears in anything
an SMTP sink stored in DIR, raw or after decoding any MIME part (base64,
quoted-printable): a plaintext body or attachment that leaked is found in
whatever transfer encoding it travelled."""
import email, glob, sys
from email import policy

def texts(path):
    raw = open(path, "rb").read()
    yield raw
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    for part in msg.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if payload:
            yield payload

leaks = []
for path in sorted(glob.glob(sys.argv[1] + "/*.eml")):
    for blob in texts(path):
        for marker in sys.argv[2:]:
            if marker.encode() in blob:
                leaks.append((path, marker))
for path, marker in sorted(set(leaks)):
    print(f"# LEAK: {marker} in {path}")
sys.exit(1 if leaks else 0)
