#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# koverto submit: sysexits statuses, sendmail's flags, nothing half-queued.
. "$T/lib.sh"
setup
good='From: alice@example.org\nTo: bob@example.net\nSubject: s\n\nbody\n'

st() { "$@" 2>>"$W/submit.err"; echo $?; }
check "queued: 0" [ "$(printf "$good" | st submit fallback -i -oi -oem -om)" = 0 ]
check "the mail is in new/" [ "$(ls "$W/q/fallback/new" | wc -l)" = 1 ]
check "its file is 0600" [ "$(stat -c %a "$W"/q/fallback/new/*)" = 600 ]

check "unknown queue: 64" [ "$(printf "$good" | st submit nowhere)" = 64 ]
check "unknown option: 64" [ "$(printf "$good" | st submit fallback -Z)" = 64 ]
check "recipient starting with -: 64" [ "$(printf "$good" | st submit fallback -- -oQ@x)" = 64 ]
check "empty input: 65" [ "$(printf '' | st submit fallback)" = 65 ]
check "binary junk: 65" [ "$(head -c 2000 /dev/urandom | st submit fallback)" = 65 ]
check "no recipient: 65" [ "$(printf 'From: a@example.org\nSubject: x\n\nbody\n' | st submit fallback)" = 65 ]
check "no sender: 65" [ "$(printf 'To: b@example.org\nSubject: x\n\nbody\n' | st submit fallback)" = 65 ]
check "bad configuration: 78" [ "$(printf "$good" | st "$KOVERTO" submit -C "$W/none.conf" --queue fallback)" = 78 ]
check "nothing else was queued" [ "$(ls "$W/q/fallback/new" | wc -l)" = 1 ]
check "nothing left in tmp/" [ -z "$(ls "$W/q/fallback/tmp")" ]
check "-f and recipients are recorded as the envelope" sh -c "printf '$good' | '$KOVERTO' submit -C '$CONF' --queue sign-only -f env@example.org carol@example.net && grep -q '^X-Kuvert-To: carol@example.net' '$W'/q/sign-only/new/* && grep -q '^X-Kuvert-From: env@example.org' '$W'/q/sign-only/new/*"
check "-t: the headers decide, explicit recipients ignored" sh -c "printf '$good' | '$KOVERTO' submit -C '$CONF' --queue must-encrypt -t carol@example.net && grep -qx 'X-Kuvert-To: bob@example.net' '$W'/q/must-encrypt/new/*"
check "without -f, the From address is recorded as the sender" grep -qx 'X-Kuvert-From: alice@example.org' "$W"/q/must-encrypt/new/*
rm -f "$W"/q/must-encrypt/new/*
# A received mail sent on: its Delivered-To and Return-Path must not route it.
printf 'Return-Path: <old@example.org>\nDelivered-To: alice@example.org\nFrom: alice@example.org\nTo: bob@example.net\nSubject: fwd\n\nfwd\n' | submit must-encrypt
check "a submitted mail's Delivered-To does not decide its recipients" grep -qx 'X-Kuvert-To: bob@example.net' "$W"/q/must-encrypt/new/*
check "nor does its Return-Path decide the sender" grep -qx 'X-Kuvert-From: alice@example.org' "$W"/q/must-encrypt/new/*
check "-F NAME consumes its argument" sh -c "printf '$good' | '$KOVERTO' submit -C '$CONF' --queue must-encrypt -F 'Alice Sender' -N never bob@example.net"
check "usage errors say what is wrong" grep -q "unknown option -Z" "$W/submit.err"
done_testing
