#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The must-encrypt property (issue 10): whatever a mail looks like, not one
# body byte leaves must-encrypt readable. t/mail-gen.py makes hostile mails
# (random MIME trees, every transfer encoding, labels that claim encryption
# over plaintext, two Content-Type fields, plaintext beside genuine
# ciphertext, genuine PGP/MIME and S/MIME), each with a unique marker in its body, half
# to a recipient without a key and half to one with a key; koverto -o sends
# them to the sink; the checker looks for any marker readable in anything the
# sink got, in any encoding or MIME part, and checks that the keyed copies
# decrypt to their marker and the keyless ones were refused.
# PROP_COUNT (mails) and PROP_SEED override the size and the seed; the seed
# is printed, and a failing case is replayed with
#   t/mail-gen.py gen --seed SEED --only CASE --out DIR --gpghome H
# The long run by hand: scripts/must-encrypt-property (doc/reliability.md).
. "$T/lib.sh"
setup
# The reports a refusal makes (to postmaster and, as a DSN, to the sender)
# reach the sink too, and are searched like the copies.
write_config "mail-on-error = postmaster@example.org" "dsn = true"
# 16 families x 2 recipients: 300 mails cover each family 9 times or more,
# in some 25 s on a quiet machine.
count=${PROP_COUNT:-300}
# A wrapper instead of the binary (scripts/memcheck runs koverto under
# valgrind, some 20 times slower): one round of the families.
head -c 4 "$KOVERTO" | grep -q ELF || { count=${PROP_COUNT:-30}; diag "koverto is a wrapper: $count mails"; }
seed=${PROP_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
diag "seed $seed, $count mails (replay: PROP_SEED=$seed PROP_COUNT=$count)"

# tap_relay FILE: the checker's "ok - " / "not ok - " lines become ours.
tap_relay() {
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok "${line#ok - }" ;;
		"not ok - "*) not_ok "${line#not ok - }" ;;
		*) echo "$line" ;;
		esac
	done < "$1"
}

"$PY" "$T/mail-gen.py" gen --seed "$seed" --count "$count" --out "$W/in" --gpghome "$W/r" ||
	bail "mail-gen.py gen failed (seed $seed)"
"$PY" "$T/mail-gen.py" selftest --cases "$W/in/cases.tsv" > "$W/selftest.out"
tap_relay "$W/selftest.out"

refused=0
while IFS="$(printf '\t')" read -r j _ rcpt _; do
	file=$(printf '%s/in/%06d.eml' "$W" "$j")
	submit must-encrypt "$rcpt" < "$file" 2>>"$W/submit.err" || refused=$((refused + 1))
done < "$W/in/cases.tsv"
check "koverto submit took every mail ($refused refused)" [ "$refused" = 0 ]

start=$(date +%s)
oneshot
diag "koverto -o: status $STATUS in $(( $(date +%s) - start )) s"
check "koverto -o: 1 (some mails failed), not a crash or a deferral" [ "$STATUS" = 1 ]

"$PY" "$T/mail-gen.py" check --seed "$seed" --cases "$W/in/cases.tsv" --sink "$SINK" \
	--reader "$W/r" --failed "$W/q/failed" > "$W/check.out" 2>&1
tap_relay "$W/check.out"
check "nothing left in the queue" [ -z "$(find "$W/q/must-encrypt/new" "$W/q/must-encrypt/cur" -type f)" ]
done_testing
