#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Does what `koverto explain --json` said agree with what the daemon did?

  explain-agree.py EXPLAIN.json LOG-EXCERPT SINK-DIR ADDRESS

EXPLAIN.json: explain's plan for one mail. LOG-EXCERPT: the daemon's log
lines for that mail alone. SINK-DIR: the messages the sink received for
it alone (*.eml + *.json). ADDRESS: the recipient to compare. Exits 0
when they agree, else 1 and says where they differ. Used by t/0080.
"""
import email
import glob
import json
import sys

plan_file, log_file, sink, address = sys.argv[1:5]
plan = json.load(open(plan_file))
log = open(log_file).read()
problems = []


def expect(cond, what):
    if not cond:
        problems.append(what)


def received():
    """(content type, envelope recipients) of every message the sink got."""
    got = []
    for j in sorted(glob.glob(sink + "/*.json")):
        env = json.load(open(j))
        msg = email.message_from_binary_file(open(j[:-5] + ".eml", "rb"))
        got.append((msg.get_content_type(), env["rcpt_tos"]))
    return got


r = [x for x in plan["recipients"] if x["address"] == address]
expect(len(r) == 1, "explain names %s once" % address)
r = r[0] if r else {}
got = received()
to_them = [t for t, rcpts in got if address in rcpts]
if plan["verdict"] == "refused":
    expect('result=failed reason="%s' % plan["refused"] in log,
           "daemon failed the mail with explain's reason: %s" % plan["refused"])
    expect(not got, "a refused mail reached nobody")
else:
    signer = plan["signer"]["key"]["fingerprint"] if plan["signer"] and plan["signer"]["key"] else None
    decision = r.get("decision")
    if decision == "encrypt":
        key = r["key"]["chosen"]["fingerprint"]
        line = "sent encrypted to %s with key %s" % (address, key)
        line += " signed with key %s" % signer if signer else ", unsigned: no signing key"
        expect(line in log, "daemon log has: " + line)
        expect(to_them == ["multipart/encrypted"], "sink: encrypted to %s, got %s" % (address, to_them))
    elif decision == "sign" and signer:
        line = "sent signed to %s with key %s" % (address, signer)
        expect(line in log, "daemon log has: " + line)
        expect(to_them == ["multipart/signed"], "sink: signed to %s, got %s" % (address, to_them))
    elif decision == "sign":
        expect("failed for %s: no signing key" % address in log, "daemon: no signing key for " + address)
        expect(not to_them, "nothing unsigned reached " + address)
    elif decision == "unchanged":
        expect("sent unchanged to %s" % address in log, "daemon log: sent unchanged to " + address)
        expect(to_them == ["text/plain"], "sink: unchanged to %s, got %s" % (address, to_them))
    else:
        expect(False, "explain's decision for %s: %s" % (address, decision))
for p in problems:
    print("# disagree: " + p)
sys.exit(1 if problems else 0)
