/* SPDX-License-Identifier: GPL-3.0-or-later */
/* One fuzz input through the SMTP session machine (lib/intake/session.c),
 * shared by the libFuzzer target (fuzz-session.c) and the replay of its
 * seeds and finds in t/unit/test-session.c. The first octet chooses the
 * listener (bit 0: STARTTLS offered, 1: implicit TLS, 2: AUTH without
 * TLS) and, with the second, the limits; the rest is what the client
 * sends, pushed mostly a line at a time (as a client that waits for each
 * reply), else in pieces of 1 to 64 octets, as a generator seeded from the
 * input says. A host answers every request at random from the
 * same generator (logins succeed, senders pass, messages are queued or
 * not). Promises checked, any break aborts:
 * - a 250 after DATA only when the host answered MESSAGE with QUEUED; the
 *   first reply after 354 is the one the host's answer asks for, or 500,
 *   552, 521 when the message was refused by the machine, for the reason
 *   the octets give;
 * - MESSAGE only for data that ended on CRLF.CRLF with no bare CR or LF,
 *   no line over 1000 octets, not over SIZE; what DATA gave equals those
 *   octets unstuffed with LF line ends, private header fields left out,
 *   as computed here independently; no DATA or ABORT outside a message;
 * - STARTTLS only with no input pending and its line the last one read;
 *   nothing (no output, no other event) until _tls_started;
 * - bounded: pending input after NEED_INPUT at most one AUTH line, a DATA
 *   piece at most 64 KiB + a line, the output of one step at most four
 *   times the piece read plus a constant;
 * - an open request comes back unchanged until answered; a password is
 *   gone once answered; CLOSE gives a reason and stays. */
#pragma once
#include "session-test.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KOV_FUZZ_SESSION_FAIL(...)                                         \
	do {                                                               \
		fprintf(stderr, "fuzz-session: " __VA_ARGS__);             \
		fputc('\n', stderr);                                       \
		abort();                                                   \
	} while (0)

/* How far the inputs got, for the replay to check that its seeds reach
 * the deep states. */
static guint kov_fuzz_session_messages, kov_fuzz_session_handshakes, kov_fuzz_session_aborts;

typedef enum {
	KOV_FUZZ_REF_INCOMPLETE,  /* no end yet */
	KOV_FUZZ_REF_OK,          /* ended on CRLF.CRLF, acceptable */
	KOV_FUZZ_REF_BARE,        /* a bare CR or LF */
	KOV_FUZZ_REF_TOO_LONG,    /* ended, a line over 1000 octets */
	KOV_FUZZ_REF_TOO_BIG,     /* ended, over max_size */
} KovFuzzRef;

/* What the client's message data starting at @in[@at] should give: the
 * verdict, and in @out the octets a host should have been given. Written
 * apart from session.c, line by line, so that the two can disagree. */
static inline KovFuzzRef
kov_fuzz_session_reference(const guint8 *in, gsize size, gsize at, guint64 max_size, GString *out)
{
	gboolean in_header = TRUE, skip = TRUE, too_long = FALSE;
	guint64 total = 0;
	g_string_truncate(out, 0);
	while (at < size) {
		gsize end = at;
		while (end < size && in[end] != '\r' && in[end] != '\n')
			end++;
		if (end == size)
			return KOV_FUZZ_REF_INCOMPLETE;
		if (in[end] == '\n')
			return KOV_FUZZ_REF_BARE;
		if (end + 1 == size)
			return KOV_FUZZ_REF_INCOMPLETE;
		if (in[end + 1] != '\n')
			return KOV_FUZZ_REF_BARE;
		const char *line = (const char *)in + at;
		gsize len = end - at;
		at = end + 2;
		if (len + 2 > 1000) {
			too_long = TRUE;
			continue;
		}
		if (len == 1 && line[0] == '.')
			return too_long ? KOV_FUZZ_REF_TOO_LONG
			       : total > max_size ? KOV_FUZZ_REF_TOO_BIG : KOV_FUZZ_REF_OK;
		if (len > 0 && line[0] == '.') {
			line++;
			len--;
		}
		total += len + 2;
		gboolean keep = TRUE;
		if (in_header) {
			if (len == 0)
				in_header = FALSE;
			else if (line[0] == ' ' || line[0] == '\t')
				keep = !skip;
			else {
				skip = (len >= 9 && g_ascii_strncasecmp(line, "x-kuvert-", 9) == 0)
				       || (len >= 10 && g_ascii_strncasecmp(line, "x-koverto-", 10) == 0);
				keep = !skip;
			}
		}
		if (keep) {
			g_string_append_len(out, line, (gssize)len);
			g_string_append_c(out, '\n');
		}
	}
	return KOV_FUZZ_REF_INCOMPLETE;
}

typedef struct {
	const guint8 *in;      /* the client's octets */
	gsize size;
	gsize pushed;          /* how many were pushed so far */
	gsize piece;           /* the last push */
	GRand *rand;
	KovSmtpConfig config;
	/* the message being received */
	gboolean msg_open;     /* 354 seen, no MESSAGE or ABORT yet */
	gboolean await_first;  /* the first reply after 354 not seen yet */
	gsize data_start;      /* offset of its first octet in @in */
	int answered;          /* the host's answer to MESSAGE, or -1 */
	gboolean aborted;
	GString *data;         /* what DATA gave */
	GString *expect;
	guint queued;          /* QUEUED answers given */
	guint queued_replies;  /* "queued as" replies seen */
} KovFuzzSession;

/* The reply a MESSAGE answer asks for. */
static inline const char *
kov_fuzz_session_code(int outcome)
{
	switch (outcome) {
	case KOV_SMTP_QUEUED: return "250";
	case KOV_SMTP_TEMPFAIL: return "451";
	case KOV_SMTP_SENDER_REFUSED: return "550";
	default: return "554";
	}
}

/* The output of one step: every line CRLF-ended and checked. */
static inline void
kov_fuzz_session_output(KovFuzzSession *f, KovSmtpSession *s)
{
	gsize len;
	const char *out = kov_smtp_session_output(s, &len);
	if (len > 4 * f->piece + 1024)
		KOV_FUZZ_SESSION_FAIL("%zu octets of output for a piece of %zu", len, f->piece);
	if (strlen(out) != len)
		KOV_FUZZ_SESSION_FAIL("a NUL in the output");
	g_auto(GStrv) lines = g_strsplit(out, "\r\n", -1);
	guint n = g_strv_length(lines);
	if (n > 0 && *lines[n - 1] != '\0')
		KOV_FUZZ_SESSION_FAIL("output not ending in CRLF");
	for (guint i = 0; i + 1 < n; i++) {
		const char *l = lines[i];
		if (strlen(l) < 4 || !g_ascii_isdigit(l[0]) || !g_ascii_isdigit(l[1])
		    || !g_ascii_isdigit(l[2]) || (l[3] != ' ' && l[3] != '-')
		    || strchr(l, '\n') != NULL || strchr(l, '\r') != NULL)
			KOV_FUZZ_SESSION_FAIL("a reply line \"%s\"", l);
		if (strstr(l, "queued as") != NULL || strncmp(l, "250 2.0.0 Ok: queued", 20) == 0)
			f->queued_replies++;
		if (f->await_first) {
			f->await_first = FALSE;
			GString *ref = g_string_new(NULL);
			KovFuzzRef verdict = kov_fuzz_session_reference(f->in, f->pushed, f->data_start,
			                                                f->config.max_size, ref);
			g_string_free(ref, TRUE);
			const char *want = NULL;
			if (f->answered >= 0)
				want = kov_fuzz_session_code(f->answered);
			else if (verdict == KOV_FUZZ_REF_TOO_LONG)
				want = "500";
			else if (verdict == KOV_FUZZ_REF_TOO_BIG)
				want = "552";
			else if (verdict == KOV_FUZZ_REF_BARE)
				want = "521";
			if (want == NULL)
				KOV_FUZZ_SESSION_FAIL("\"%s\" after 354 for data judged %d", l, verdict);
			if (strncmp(l, want, 3) != 0)
				KOV_FUZZ_SESSION_FAIL("\"%s\" after 354, %s wanted (verdict %d)", l, want, verdict);
		} else if (strncmp(l, "250 2.0.0 Ok: queued", 20) == 0) {
			KOV_FUZZ_SESSION_FAIL("\"%s\" not after a message", l);
		}
		if (strncmp(l, "354 ", 4) == 0) {
			if (f->msg_open)
				KOV_FUZZ_SESSION_FAIL("354 inside a message");
			if (kov_smtp_session_pending(s) != 0)
				KOV_FUZZ_SESSION_FAIL("354 with input pending");
			f->msg_open = TRUE;
			f->await_first = TRUE;
			f->aborted = FALSE;
			f->answered = -1;
			f->data_start = f->pushed;   /* DATA was the last line read */
			g_string_truncate(f->data, 0);
		}
	}
	if (f->queued_replies > f->queued)
		KOV_FUZZ_SESSION_FAIL("%u queued replies for %u messages queued", f->queued_replies, f->queued);
	kov_smtp_session_output_clear(s);
}

/* Step until the session wants input (TRUE) or is over (FALSE). */
static inline gboolean
kov_fuzz_session_steps(KovFuzzSession *f, KovSmtpSession *s)
{
	for (;;) {
		KovSmtpEvent ev = kov_smtp_session_step(s);
		kov_fuzz_session_output(f, s);
		switch (ev) {
		case KOV_SMTP_NEED_INPUT:
			if (kov_smtp_session_pending(s) > 12288)
				KOV_FUZZ_SESSION_FAIL("%zu octets held", kov_smtp_session_pending(s));
			return TRUE;
		case KOV_SMTP_STARTTLS: {
			if (kov_smtp_session_pending(s) != 0)
				KOV_FUZZ_SESSION_FAIL("STARTTLS with %zu octets pending", kov_smtp_session_pending(s));
			/* its line was the last one read */
			gsize end = f->pushed;
			if (end < 2 || f->in[end - 2] != '\r' || f->in[end - 1] != '\n')
				KOV_FUZZ_SESSION_FAIL("STARTTLS not at the end of the input read");
			gsize start = end - 2;
			while (start > 0 && f->in[start - 1] != '\n')
				start--;
			if (end - 2 - start < 8 || g_ascii_strncasecmp((const char *)f->in + start, "STARTTLS", 8) != 0)
				KOV_FUZZ_SESSION_FAIL("STARTTLS event for another line: \"%.*s\"", (int)(end - start), (const char *)f->in + start);
			if (kov_smtp_session_step(s) != KOV_SMTP_STARTTLS)
				KOV_FUZZ_SESSION_FAIL("STARTTLS not repeated");
			gsize len;
			kov_smtp_session_output(s, &len);
			if (len != 0)
				KOV_FUZZ_SESSION_FAIL("output while the handshake is pending");
			if (g_rand_int_range(f->rand, 0, 8) == 0)
				return FALSE;   /* the handshake failed */
			kov_smtp_session_tls_started(s);
			kov_fuzz_session_handshakes++;
			if (kov_smtp_session_helo(s) != NULL || kov_smtp_session_client(s) != NULL)
				KOV_FUZZ_SESSION_FAIL("state kept across STARTTLS");
			if (g_rand_int_range(f->rand, 0, 4) == 0)
				kov_smtp_session_set_client(s, "cert");
			break;
		}
		case KOV_SMTP_AUTH: {
			const char *user = kov_smtp_session_auth_user(s);
			const char *pass = kov_smtp_session_auth_password(s);
			if (user == NULL || pass == NULL)
				KOV_FUZZ_SESSION_FAIL("AUTH without user or password");
			for (const char *p = user; *p != '\0'; p++)
				if ((guchar)*p < 0x20 || *p == 0x7f)
					KOV_FUZZ_SESSION_FAIL("a control character in a user name");
			if (kov_smtp_session_step(s) != KOV_SMTP_AUTH)
				KOV_FUZZ_SESSION_FAIL("AUTH not repeated");
			gboolean ok = *user != '\0' && g_rand_int_range(f->rand, 0, 4) != 0;
			kov_smtp_session_auth_done(s, ok ? "app" : NULL);
			if (kov_smtp_session_auth_password(s) != NULL)
				KOV_FUZZ_SESSION_FAIL("password kept after AUTH");
			break;
		}
		case KOV_SMTP_MAIL: {
			const char *sender = kov_smtp_session_sender(s);
			if (sender == NULL || strlen(sender) > 254)
				KOV_FUZZ_SESSION_FAIL("sender \"%s\"", sender ? sender : "(null)");
			for (const char *p = sender; *p != '\0'; p++)
				if ((guchar)*p < 0x20 || (guchar)*p > 0x7e)
					KOV_FUZZ_SESSION_FAIL("a sender with octet 0x%02x", (guchar)*p);
			if (kov_smtp_session_client(s) == NULL)
				KOV_FUZZ_SESSION_FAIL("MAIL without a client");
			kov_smtp_session_mail_done(s, g_rand_int_range(f->rand, 0, 4) != 0);
			break;
		}
		case KOV_SMTP_DATA: {
			if (!f->msg_open || f->aborted)
				KOV_FUZZ_SESSION_FAIL("DATA outside a message");
			gsize len;
			const char *d = kov_smtp_session_data(s, &len);
			if (len == 0 || len > 65536 + 1000)
				KOV_FUZZ_SESSION_FAIL("a DATA piece of %zu octets", len);
			if (memchr(d, '\r', len) != NULL)
				KOV_FUZZ_SESSION_FAIL("a CR in DATA");
			if (d[len - 1] != '\n')
				KOV_FUZZ_SESSION_FAIL("DATA ending inside a line");
			g_string_append_len(f->data, d, (gssize)len);
			break;
		}
		case KOV_SMTP_MESSAGE: {
			if (!f->msg_open || f->aborted)
				KOV_FUZZ_SESSION_FAIL("MESSAGE outside a message");
			KovFuzzRef verdict = kov_fuzz_session_reference(f->in, f->pushed, f->data_start,
			                                                f->config.max_size, f->expect);
			if (verdict != KOV_FUZZ_REF_OK)
				KOV_FUZZ_SESSION_FAIL("MESSAGE for data judged %d", verdict);
			if (!g_string_equal(f->data, f->expect))
				KOV_FUZZ_SESSION_FAIL("DATA gave %zu octets, %zu expected", f->data->len, f->expect->len);
			const GPtrArray *rcpts = kov_smtp_session_recipients(s);
			if (rcpts->len == 0 || rcpts->len > f->config.max_recipients)
				KOV_FUZZ_SESSION_FAIL("%u recipients", rcpts->len);
			if (kov_smtp_session_step(s) != KOV_SMTP_MESSAGE)
				KOV_FUZZ_SESSION_FAIL("MESSAGE not repeated");
			int outcome = g_rand_int_range(f->rand, 0, 6);
			if (outcome > KOV_SMTP_REFUSED)
				outcome = KOV_SMTP_QUEUED;
			f->answered = outcome;
			kov_fuzz_session_messages++;
			f->msg_open = FALSE;
			if (outcome == KOV_SMTP_QUEUED)
				f->queued++;
			kov_smtp_session_message_done(s, (KovSmtpOutcome)outcome, "Q1");
			break;
		}
		case KOV_SMTP_ABORT:
			if (!f->msg_open || f->aborted)
				KOV_FUZZ_SESSION_FAIL("ABORT outside a message, or twice");
			f->aborted = TRUE;
			f->msg_open = FALSE;
			kov_fuzz_session_aborts++;
			if (*kov_smtp_session_reason(s) == '\0')
				KOV_FUZZ_SESSION_FAIL("ABORT without a reason");
			break;
		case KOV_SMTP_CLOSE:
			if (*kov_smtp_session_reason(s) == '\0')
				KOV_FUZZ_SESSION_FAIL("CLOSE without a reason");
			if (kov_smtp_session_step(s) != KOV_SMTP_CLOSE)
				KOV_FUZZ_SESSION_FAIL("CLOSE not repeated");
			return FALSE;
		}
	}
}

static inline void
kov_fuzz_session_one(const guint8 *data, gsize size)
{
	if (size < 2)
		return;
	guint32 seed = 2166136261u;   /* FNV-1a: a crash reproduces from the input alone */
	for (gsize i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 16777619u;
	KovFuzzSession f = {
		.in = data + 2,
		.size = size - 2,
		.rand = g_rand_new_with_seed(seed),
		.answered = -1,
		.data = g_string_new(NULL),
		.expect = g_string_new(NULL),
		.config = {
			.hostname = "mx.test",
			.max_size = 64 + 32 * (guint64)data[1],
			.max_recipients = 1 + (data[0] >> 3) % 4,
			.max_mails = 1 + (data[0] >> 5) % 4,
			.max_auth_failures = 3,
			.max_errors = 3,
			.tls_offered = (data[0] & 1) != 0,
			.tls_active = (data[0] & 2) != 0,
			.auth_plaintext = (data[0] & 4) != 0,
		},
	};
	KovSmtpSession *s = kov_smtp_session_new(&f.config);
	f.piece = 0;
	gboolean going = kov_fuzz_session_steps(&f, s);
	while (going && f.pushed < f.size) {
		/* mostly a line at a time, as a client waiting for each reply
		 * sends; else 1 to 64 octets, cutting lines and grouping them */
		gsize want;
		if (g_rand_int_range(f.rand, 0, 8) != 0) {
			const guint8 *lf = memchr(f.in + f.pushed, '\n', f.size - f.pushed);
			want = lf != NULL ? (gsize)(lf - (f.in + f.pushed)) + 1 : f.size - f.pushed;
			want = MIN(want, 16384);
		} else {
			want = (gsize)g_rand_int_range(f.rand, 1, 65);
		}
		f.piece = MIN(want, f.size - f.pushed);
		kov_smtp_session_push(s, (const char *)f.in + f.pushed, f.piece);
		f.pushed += f.piece;
		going = kov_fuzz_session_steps(&f, s);
	}
	kov_smtp_session_free(s);
	g_rand_free(f.rand);
	g_string_free(f.data, TRUE);
	g_string_free(f.expect, TRUE);
}
