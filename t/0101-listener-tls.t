#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Issue 12: the listener's TLS. Implicit TLS (the submissions port); a
# client certificate whose SHA-256 is a client's logs that client in
# without AUTH (swaks --tls-cert, curl --cert); an unknown certificate
# logs nobody in (MAIL hears 530, as without one) and is logged; a wrong
# password and an unknown user both hear 535 5.7.8; AUTH is not offered
# before STARTTLS.
. "$T/lib.sh"
setup
test_ca
listen_config \
	"[client pinned]" "certificate = $(cat "$CA/client1.sha256")" "queue = sign-only" \
	"key = $(fpr sam)" "senders = robot@example\\.org" \
	"[client app]" "password = $(hash_pw app-pw)" "queue = sign-only" "senders = app@example\\.org"
start_listener

# Implicit TLS: Python's smtplib over SMTP_SSL, with AUTH.
"$PY" - "$SUBSPORT" "$CA/ca.pem" > "$W/py.out" 2>&1 <<'PYEOF'
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
with smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), context=ctx) as s:
    s.login("app", "app-pw")
    s.sendmail("app@example.org", ["carol@example.net"],
               "From: app@example.org\r\nTo: carol@example.net\r\nSubject: implicit\r\n\r\nbody MARK-IMPLICIT\r\n")
    print("OK")
PYEOF
check "implicit TLS: accepted" grep -q '^OK' "$W/py.out"

# A client certificate mapped to its client: swaks on STARTTLS, no AUTH.
swaks --server "127.0.0.1:$SUBPORT" -tls --tls-cert "$CA/client1.pem" --tls-key "$CA/client1.key" \
	--from robot@example.org --to carol@example.net --header "Subject: cert-swaks" > "$W/swaks.out" 2>&1
check "certificate (swaks): queued without AUTH" grep -q '^<~  250 2.0.0 .*queued as' "$W/swaks.out"
check "certificate (swaks): no AUTH was sent" sh -c "! grep -q '^ ~> AUTH' '$W/swaks.out'"
# The same with curl, on the implicit TLS port.
printf 'From: robot@example.org\r\nTo: carol@example.net\r\nSubject: cert-curl\r\n\r\nbody\r\n' > "$W/m.eml"
curl -sS --cacert "$CA/ca.pem" --cert "$CA/client1.pem" --key "$CA/client1.key" \
	--mail-from robot@example.org --mail-rcpt carol@example.net -T "$W/m.eml" \
	"smtps://127.0.0.1:$SUBSPORT" > "$W/curl.out" 2>&1
check "certificate (curl, implicit TLS): accepted" [ $? = 0 ]
check "log: the client is known by its certificate" \
	grep -q "client=pinned by its certificate" "$W/log"

# Another certificate (signed by the same CA, but not pinned) and a
# stranger's: nobody is logged in.
for c in client2 stranger; do
	swaks --server "127.0.0.1:$SUBPORT" -tls --tls-cert "$CA/$c.pem" --tls-key "$CA/$c.key" \
		--from robot@example.org --to carol@example.net > "$W/$c.out" 2>&1
	check "unknown certificate ($c): MAIL hears 530 5.7.0" grep -q '^<~\* 530 5.7.0' "$W/$c.out"
	check "unknown certificate ($c): logged as refused" \
		grep -q "certificate refused: sha256=$(cat "$CA/$c.sha256") is no client's" "$W/log"
done

# The certificate is no password: with AUTH the same session still works.
swaks --server "127.0.0.1:$SUBPORT" -tls --tls-cert "$CA/stranger.pem" --tls-key "$CA/stranger.key" \
	--auth PLAIN --auth-user app --auth-password app-pw \
	--from app@example.org --to carol@example.net > "$W/both.out" 2>&1
check "unknown certificate, then AUTH: queued" grep -q '^<~  250 2.0.0 .*queued as' "$W/both.out"

# Wrong password and unknown user: the same reply.
swaks_tls app wrong app@example.org carol@example.net > "$W/wrong.out" 2>&1
swaks_tls nobody app-pw app@example.org carol@example.net > "$W/nobody.out" 2>&1
check "wrong password: 535 5.7.8" grep -q '^<~\* 535 5.7.8' "$W/wrong.out"
check "unknown user: the same reply" \
	[ "$(grep '^<~\* 535' "$W/wrong.out")" = "$(grep '^<~\* 535' "$W/nobody.out")" ]
check "log: the refusal, with its session" grep -q "session=[0-9a-f]* ip=127.0.0.1: AUTH refused: user=app: " "$W/log"

# Before STARTTLS: no AUTH offered, AUTH refused.
swaks --server "127.0.0.1:$SUBPORT" --auth PLAIN --auth-user app --auth-password app-pw \
	--from app@example.org --to carol@example.net > "$W/plain.out" 2>&1
check "no TLS: AUTH not advertised" sh -c "! grep -q '250.AUTH' '$W/plain.out'"

wait_sink 4 || diag "sink: $(sink_count)"
check "four mails reached the sink" [ "$(sink_count)" = 4 ]
s=$(grep -l "Subject: cert-swaks" $(sink_files))
check "certificate client: signed" verify_signed "$s"
check "certificate client: by its own key (sam)" grep -q "VALIDSIG $(fpr sam)" "$W/verify.status"
i=$(grep -l "Subject: implicit" $(sink_files))
check "implicit TLS mail: signature verifies" verify_signed "$i"
check "implicit TLS mail: by alice" grep -q "VALIDSIG $(fpr alice)" "$W/verify.status"
done_testing
