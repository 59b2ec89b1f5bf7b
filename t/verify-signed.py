#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""verify-signed.py MAIL PART SIG: split an RFC 3156 multipart/signed mail as
it was received into the signed part's exact bytes (between the first
boundary line and the CRLF before the next) and the signature, for gpg
--verify. Exits 1 when the mail is not multipart/signed."""
import email, re, sys

raw = open(sys.argv[1], "rb").read()
msg = email.message_from_bytes(raw)
if msg.get_content_type() != "multipart/signed":
    sys.exit("not multipart/signed: " + msg.get_content_type())
boundary = msg.get_boundary().encode()
delim = b"\r\n--" + boundary
start = raw.index(b"--" + boundary + b"\r\n") + len(boundary) + 4
end = raw.index(delim, start)
open(sys.argv[2], "wb").write(raw[start:end])
sig = msg.get_payload()[1].get_payload(decode=True)
open(sys.argv[3], "wb").write(sig)
