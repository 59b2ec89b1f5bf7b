#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The hostile-mail corpus (t/corpus, README.md there): each mail is dropped
# Maildir-style into the fallback queue, alone, and `koverto -o` runs on it
# under a time limit. Each must end as t/corpus/EXPECTED says (delivered in
# the expected shapes, or failed with the expected reason), without a crash
# or a hang, with nothing lost and nothing injected at the sink.
. "$T/lib.sh"
setup
C=$W/corpus
Q=$W/q/fallback
OUT=$W/out
LIMIT=${KOVERTO_CORPUS_TIMEOUT:-120}
# Under scripts/memcheck (KOVERTO a valgrind wrapper, some 20 times
# slower, most of it start-up) each mail goes alone through the plain
# binary for its outcome, and then every mail of the corpus at once through
# one koverto under valgrind (at the end), the generated ones made smaller
# (make-corpus: KOV_CORPUS_SMALL): the same code for every mail, one start
# instead of one a mail, a 64 KiB header line instead of 1 MiB.
RUN=$KOVERTO
batch=
[ "$KOVERTO" != "${KOVERTO_BIN:-$KOVERTO}" ] && { RUN=$KOVERTO_BIN; batch=1; }
(umask 077 && mkdir -p "$C" "$OUT" "$Q/tmp" "$Q/new" "$Q/cur" "$W/leftover")
cp "$T"/corpus/*.eml "$C"/ || bail "cannot copy the corpus"
"$PY" "$T/corpus/make-corpus" "$C" "$W/r" || bail "make-corpus failed"

trim() { sed 's/^[[:space:]]*//; s/[[:space:]]*$//'; }
# elapsed START: seconds since START (date +%s.%N), two decimals.
elapsed() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }'; }

# drop N FILE ENVELOPE: queue FILE as a Maildir writer would (tmp/, then
# rename into new/), the X-Kuvert envelope in front of it unless ENVELOPE
# is "-". Sets ID.
drop() {
	ID=$(date +%s).corpus$1.$$
	{
		if [ "$3" != - ]; then
			echo "X-Kuvert-From: alice@example.org"
			echo "X-Kuvert-To: $3"
		fi
		cat "${CD:-$C}/$2"
	} > "$Q/tmp/$ID"
	mv "$Q/tmp/$ID" "$Q/new/$ID"
}

# leftovers: the queue's new/ and cur/ after a run, moved aside so that the
# next mail starts from an empty queue (a crash must not cascade).
leftovers() {
	left=$(find "$Q/new" "$Q/cur" -type f | wc -l)
	find "$Q/new" "$Q/cur" -type f -exec mv {} "$W/leftover/" \;
	return 0
}

n=0
total_start=$(date +%s.%N)
grep -v '^[[:space:]]*\(#\|$\)' "$T/corpus/EXPECTED" > "$W/expected"
while IFS='|' read -r name envelope outcome detail; do
	name=$(printf '%s\n' "$name" | trim)
	envelope=$(printf '%s\n' "$envelope" | trim)
	outcome=$(printf '%s\n' "$outcome" | trim)
	detail=$(printf '%s\n' "$detail" | trim)
	n=$((n + 1))
	case_name=$name
	[ "$envelope" != - ] && case_name="$name [to=$envelope]"
	[ -f "$C/$name" ] || { not_ok "$case_name: no such corpus mail"; continue; }
	# CORPUS_ONLY=REGEX runs only the matching mails (while debugging one).
	if [ -n "${CORPUS_ONLY:-}" ] && ! printf '%s\n' "$name" | grep -Eq -- "$CORPUS_ONLY"; then
		continue
	fi

	drop "$n" "$name" "$envelope" < /dev/null
	start=$(date +%s.%N)
	STATUS=0
	timeout -k 10 "$LIMIT" "$RUN" -c "$CONF" -o 2>>"$W/stderr" < /dev/null || STATUS=$?
	secs=$(elapsed "$start")
	diag "$case_name: exit $STATUS in ${secs}s"
	echo "$secs $case_name" >> "$W/times"

	case $STATUS in
	0|1|75) ok "$case_name: no crash, no hang (exit $STATUS)" ;;
	124|137) not_ok "$case_name: no hang: killed after ${LIMIT}s" ;;
	*) not_ok "$case_name: no crash: exit $STATUS"; tail -5 "$W/stderr" | sed 's/^/# /' ;;
	esac
	leftovers
	check "$case_name: nothing left in new/ or cur/" [ "$left" = 0 ]

	dir=$OUT/$n
	mkdir -p "$dir"
	find "$SINK" -maxdepth 1 -name '0*' -exec mv {} "$dir/" \;
	failed=$W/q/failed/fallback.$ID
	case $outcome in
	failed)
		check "$case_name: exit 1 (failed)" [ "$STATUS" = 1 ]
		check "$case_name: in failed/ with its reason" sh -c '[ -f "$1" ] && [ -f "$1.reason" ]' - "$failed"
		if grep -qF -- "$detail" "$failed.reason" 2>/dev/null; then
			ok "$case_name: reason says \"$detail\""
		else
			not_ok "$case_name: reason says \"$detail\""
			head -c 300 "$failed.reason" 2>/dev/null | sed 's/^/# reason: /'; echo
		fi
		check "$case_name: nothing reached the sink" [ -z "$(ls "$dir")" ]
		;;
	processed)
		check "$case_name: exit 0 (delivered)" [ "$STATUS" = 0 ]
		if [ -f "$failed.reason" ]; then
			not_ok "$case_name: not failed"
			head -c 300 "$failed.reason" | sed 's/^/# reason: /'; echo
		else
			ok "$case_name: not failed"
		fi
		# shellcheck disable=SC2086 # detail is a list of words
		if "$PY" "$T/corpus/check-sink" "$W/r" "$dir" "$C/$name" $detail > "$W/check.out" 2>&1; then
			ok "$case_name: at the sink as $detail, clean"
		else
			not_ok "$case_name: at the sink as $detail, clean"
			sed 's/^/# /' "$W/check.out"
		fi
		;;
	*)
		not_ok "$case_name: EXPECTED names outcome \"$outcome\""
		;;
	esac
	rm -f "$failed" "$failed.reason"
done < "$W/expected"

diag "corpus: $n runs in $(elapsed "$total_start")s; slowest:"
sort -n -r "$W/times" | head -3 | sed 's/^/#   /'

if [ -n "$batch" ]; then
	# Every row of EXPECTED again, all queued, one run under valgrind:
	# no crash, no memory error (exit 99), nothing left, the same failures
	# and the same transactions at the sink as the runs one by one.
	want_sent=$(find "$OUT" -type f -name '*.json' | wc -l)
	want_failed=$(grep -c '| *failed *|' "$W/expected")
	rm -f "$SINK"/0*
	CD=$W/corpus-small
	mkdir -p "$CD"
	cp "$T"/corpus/*.eml "$CD"/ || bail "cannot copy the corpus"
	KOV_CORPUS_SMALL=1 "$PY" "$T/corpus/make-corpus" "$CD" "$W/r" || bail "make-corpus failed"
	n=0
	while IFS='|' read -r name envelope outcome detail; do
		n=$((n + 1))
		name=$(printf '%s\n' "$name" | trim)
		envelope=$(printf '%s\n' "$envelope" | trim)
		[ -f "$C/$name" ] && drop "$n" "$name" "$envelope" < /dev/null
	done < "$W/expected"
	start=$(date +%s.%N)
	STATUS=0
	timeout -k 10 $((LIMIT * 5)) "$KOVERTO" -c "$CONF" -o 2>>"$W/stderr" < /dev/null || STATUS=$?
	diag "corpus: all $n at once under valgrind: exit $STATUS in $(elapsed "$start")s"
	check "all at once under valgrind: no crash, no memory error (exit $STATUS)" \
		sh -c '[ "$1" = 0 ] || [ "$1" = 1 ]' - "$STATUS"
	leftovers
	check "all at once: nothing left in new/ or cur/" [ "$left" = 0 ]
	check "all at once: $want_failed failed, as one by one" \
		[ "$(find "$W/q/failed" -name '*.reason' | wc -l)" = "$want_failed" ]
	check "all at once: $want_sent transactions at the sink, as one by one" [ "$(sink_count)" = "$want_sent" ]
fi
ls "$C" | grep '\.eml$' | sort > "$W/have"
cut -d'|' -f1 "$W/expected" | trim | sort -u > "$W/listed"
check "EXPECTED lists every corpus mail" [ -z "$(comm -23 "$W/have" "$W/listed")" ]
# GLib and GMime criticals (a broken precondition) go to the log or stderr.
check "no GLib or GMime critical in any run" sh -c "! grep -qE 'CRITICAL|assertion .* failed' '$W/log' '$W/stderr'"
done_testing
