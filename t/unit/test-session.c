/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of the SMTP protocol machine (lib/intake/session.c): a scripted
 * host answers its requests and writes down what came out, replies and
 * events, as one transcript. A client's dialogue is a list of turns (what
 * it sends before waiting for a reply); each is fed whole, then cut at
 * every byte position, byte by byte and in random pieces, and must give
 * the same transcript every time. */
#include "session.h"
#include "../fuzz/fuzz-session-one.h"

#include <string.h>

/* @n copies of @c, freed when the tests end. (borrowed) */
static GPtrArray *garbage;
static const char *
fill(gsize n, char c)
{
	char *s = g_strnfill(n, c);
	g_ptr_array_add(garbage, s);
	return s;
}

/* ---- the scripted host ------------------------------------------------------ */

typedef struct {
	KovSmtpOutcome outcome;   /* what MESSAGE gets */
	const char *id;           /* its queue id */
} KovTestHost;

static const KovTestHost default_host = { KOV_SMTP_QUEUED, "Q1" };

static KovSmtpConfig
test_config(void)
{
	KovSmtpConfig c = {
		.hostname = "mx.test",
		.max_size = 1000,
		.max_recipients = 3,
		.max_mails = 2,
		.max_auth_failures = 3,
		.max_errors = 3,
		.tls_offered = TRUE,
	};
	return c;
}

static const KovSmtpConfig *
config_tls(void)
{
	static KovSmtpConfig c;
	c = test_config();
	c.tls_active = TRUE;
	return &c;
}

static const KovSmtpConfig *
config_starttls(void)
{
	static KovSmtpConfig c;
	c = test_config();
	return &c;
}

/* Kuvert's listener: AUTH without TLS, no STARTTLS. */
static const KovSmtpConfig *
config_plain(void)
{
	static KovSmtpConfig c;
	c = test_config();
	c.tls_offered = FALSE;
	c.auth_plaintext = TRUE;
	return &c;
}

static void
escape_into(GString *log, const char *data, gsize len)
{
	for (gsize i = 0; i < len; i++) {
		guchar c = (guchar)data[i];
		if (c == '\n')
			g_string_append(log, "\\n");
		else if (c < 0x20 || c >= 0x7f || c == '\\')
			g_string_append_printf(log, "\\x%02x", c);
		else
			g_string_append_c(log, (char)c);
	}
}

typedef struct {
	KovSmtpSession *s;
	GString *log;
	GString *data;        /* DATA octets since the last other event */
	const KovTestHost *host;
	gboolean closed;
	gboolean in_tls;      /* between STARTTLS and _tls_started: nothing may happen */
} KovTestRun;

static void
flush_output(KovTestRun *r)
{
	gsize len;
	const char *out = kov_smtp_session_output(r->s, &len);
	g_string_append_len(r->log, out, (gssize)len);
	kov_smtp_session_output_clear(r->s);
}

static void
flush_data(KovTestRun *r)
{
	if (r->data->len == 0)
		return;
	g_string_append(r->log, "[DATA ");
	escape_into(r->log, r->data->str, r->data->len);
	g_string_append(r->log, "]\n");
	g_string_truncate(r->data, 0);
}

/* Step until the machine wants input or closes, answering as the host. */
static void
run_steps(KovTestRun *r)
{
	while (!r->closed) {
		KovSmtpEvent ev = kov_smtp_session_step(r->s);
		flush_output(r);
		if (ev == KOV_SMTP_ABORT)
			g_string_truncate(r->data, 0);   /* the host drops what it had */
		if (ev != KOV_SMTP_DATA && ev != KOV_SMTP_NEED_INPUT)
			flush_data(r);
		switch (ev) {
		case KOV_SMTP_NEED_INPUT:
			return;
		case KOV_SMTP_STARTTLS:
			g_string_append(r->log, "[STARTTLS]\n");
			kov_smtp_session_tls_started(r->s);
			break;
		case KOV_SMTP_AUTH: {
			const char *user = kov_smtp_session_auth_user(r->s);
			const char *pass = kov_smtp_session_auth_password(r->s);
			g_string_append(r->log, "[AUTH ");
			escape_into(r->log, user, strlen(user));
			g_string_append_c(r->log, '/');
			escape_into(r->log, pass, strlen(pass));
			g_string_append(r->log, "]\n");
			gboolean ok = strcmp(user, "alice") == 0 && strcmp(pass, "secret") == 0;
			kov_smtp_session_auth_done(r->s, ok ? "app" : NULL);
			g_assert_null(kov_smtp_session_auth_password(r->s));
			break;
		}
		case KOV_SMTP_MAIL: {
			const char *sender = kov_smtp_session_sender(r->s);
			g_string_append_printf(r->log, "[MAIL %s]\n", sender);
			kov_smtp_session_mail_done(r->s, !g_str_has_prefix(sender, "evil"));
			break;
		}
		case KOV_SMTP_DATA: {
			gsize len;
			const char *d = kov_smtp_session_data(r->s, &len);
			g_assert_cmpuint(len, >, 0);
			g_string_append_len(r->data, d, (gssize)len);
			break;
		}
		case KOV_SMTP_MESSAGE: {
			const GPtrArray *rcpts = kov_smtp_session_recipients(r->s);
			g_string_append(r->log, "[MESSAGE");
			for (guint i = 0; i < rcpts->len; i++)
				g_string_append_printf(r->log, " %s", (const char *)rcpts->pdata[i]);
			g_string_append(r->log, "]\n");
			kov_smtp_session_message_done(r->s, r->host->outcome, r->host->id);
			break;
		}
		case KOV_SMTP_ABORT:
			g_string_truncate(r->data, 0);
			g_string_append_printf(r->log, "[ABORT %s]\n", kov_smtp_session_reason(r->s));
			break;
		case KOV_SMTP_CLOSE:
			g_string_append_printf(r->log, "[CLOSE %s]\n", kov_smtp_session_reason(r->s));
			r->closed = TRUE;
			break;
		}
	}
}

/* The transcript of @turns (NULL-terminated) fed to a new session with
 * @config: each turn pushed in pieces, cut where @cuts (offsets into the
 * whole dialogue, ascending, may be NULL) and at most @piece octets each
 * (0: no limit). (transfer full) */
static char *
dialogue_run(const KovSmtpConfig *config, const KovTestHost *host, const char *const *turns,
             const GArray *cuts, gsize piece)
{
	KovTestRun r = {
		.s = kov_smtp_session_new(config),
		.log = g_string_new(NULL),
		.data = g_string_new(NULL),
		.host = host != NULL ? host : &default_host,
	};
	run_steps(&r);
	gsize offset = 0, cut = 0;
	for (const char *const *turn = turns; *turn != NULL && !r.closed; turn++) {
		gsize len = strlen(*turn), at = 0;
		while (at < len && !r.closed) {
			gsize end = len;
			while (cuts != NULL && cut < cuts->len
			       && g_array_index(cuts, gsize, cut) <= offset + at)
				cut++;
			if (cuts != NULL && cut < cuts->len && g_array_index(cuts, gsize, cut) < offset + len)
				end = g_array_index(cuts, gsize, cut) - offset;
			if (piece > 0 && end - at > piece)
				end = at + piece;
			kov_smtp_session_push(r.s, *turn + at, end - at);
			run_steps(&r);
			at = end;
		}
		offset += len;
	}
	flush_data(&r);
	if (!r.closed)
		g_string_append(r.log, "[EOF]\n");
	kov_smtp_session_free(r.s);
	g_string_free(r.data, TRUE);
	return g_string_free(r.log, FALSE);
}

/* @turns gives @expected whole, cut at every position, byte by byte and
 * in random pieces. */
static void
dialogue_check_host(const KovSmtpConfig *config, const KovTestHost *host,
                    const char *const *turns, const char *expected)
{
	g_autofree char *whole = dialogue_run(config, host, turns, NULL, 0);
	g_assert_cmpstr(whole, ==, expected);
	gsize total = 0;
	for (const char *const *t = turns; *t != NULL; t++)
		total += strlen(*t);
	g_autoptr(GArray) cuts = g_array_new(FALSE, FALSE, sizeof(gsize));
	for (gsize at = 1; at < total; at++) {
		g_array_set_size(cuts, 0);
		g_array_append_val(cuts, at);
		g_autofree char *split = dialogue_run(config, host, turns, cuts, 0);
		if (g_strcmp0(split, expected) != 0)
			g_test_message("cut at %zu", at);
		g_assert_cmpstr(split, ==, expected);
	}
	g_autofree char *bytes = dialogue_run(config, host, turns, NULL, 1);
	g_assert_cmpstr(bytes, ==, expected);
	for (guint round = 0; round < 20; round++) {
		g_array_set_size(cuts, 0);
		for (gsize at = 0; at < total;) {
			at += (gsize)g_test_rand_int_range(1, 40);
			g_array_append_val(cuts, at);
		}
		g_autofree char *random = dialogue_run(config, host, turns, cuts, 0);
		g_assert_cmpstr(random, ==, expected);
	}
}

static void
dialogue_check(const KovSmtpConfig *config, const char *const *turns, const char *expected)
{
	dialogue_check_host(config, NULL, turns, expected);
}

/* Only whole (what happens depends on the cut, by design: pipelining). */
static void
dialogue_check_whole(const KovSmtpConfig *config, const char *const *turns, const char *expected)
{
	g_autofree char *whole = dialogue_run(config, NULL, turns, NULL, 0);
	g_assert_cmpstr(whole, ==, expected);
}

#define GREETING "220 mx.test ESMTP\r\n"
#define EHLO_TLS "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN LOGIN\r\n"
#define EHLO_PRE "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n250 STARTTLS\r\n"
#define EHLO_AUTHED "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n" \
	"250 ENHANCEDSTATUSCODES\r\n"
/* base64 of "\0alice\0secret" and of "\0alice\0wrong" */
#define PLAIN_OK "AGFsaWNlAHNlY3JldA=="
#define PLAIN_BAD "AGFsaWNlAHdyb25n"
#define AUTHED "[AUTH alice/secret]\n235 2.7.0 Authentication successful\r\n"
/* EHLO and a login, as every dialogue after TLS starts */
#define LOGIN_TURNS "EHLO c.test\r\n", "AUTH PLAIN " PLAIN_OK "\r\n"
#define LOGIN_LOG GREETING EHLO_TLS AUTHED

/* ---- the dialogues of real clients ---------------------------------------- */

/* swaks --tls --auth PLAIN --pipeline (it pipelines MAIL, RCPT, DATA) */
static void
test_swaks(void)
{
	const char *const turns[] = {
		"EHLO client.test\r\n",
		"STARTTLS\r\n",
		"EHLO client.test\r\n",
		"AUTH PLAIN " PLAIN_OK "\r\n",
		"MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n",
		"Date: today\r\nFrom: alice@example.org\r\nSubject: test\r\n\r\nThis is a test.\r\n"
		"..dot line\r\n.\r\n",
		"QUIT\r\n",
		NULL,
	};
	dialogue_check(config_starttls(), turns,
		GREETING EHLO_PRE
		"220 2.0.0 Ready to start TLS\r\n[STARTTLS]\n"
		EHLO_TLS AUTHED
		"[MAIL alice@example.org]\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n"
		"[DATA Date: today\\nFrom: alice@example.org\\nSubject: test\\n\\nThis is a test.\\n.dot line\\n]\n"
		"[MESSAGE bob@example.org]\n250 2.0.0 Ok: queued as Q1\r\n"
		"221 2.0.0 Bye\r\n[CLOSE QUIT]\n");
}

/* curl --ssl-reqd -u alice:secret --mail-from --mail-rcpt -T (one command
 * at a time, AUTH PLAIN with initial response, lower-case EHLO name) */
static void
test_curl(void)
{
	const char *const turns[] = {
		"EHLO x1\r\n", "STARTTLS\r\n", "EHLO x1\r\n",
		"AUTH PLAIN " PLAIN_OK "\r\n",
		"MAIL FROM:<alice@example.org> SIZE=40\r\n",
		"RCPT TO:<bob@example.org>\r\n",
		"RCPT TO:<carol@example.org>\r\n",
		"DATA\r\n",
		"Subject: hi\r\n\r\nbody\r\n.\r\n",
		"QUIT\r\n",
		NULL,
	};
	dialogue_check(config_starttls(), turns,
		GREETING EHLO_PRE "220 2.0.0 Ready to start TLS\r\n[STARTTLS]\n" EHLO_TLS AUTHED
		"[MAIL alice@example.org]\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n"
		"[DATA Subject: hi\\n\\nbody\\n]\n"
		"[MESSAGE bob@example.org carol@example.org]\n250 2.0.0 Ok: queued as Q1\r\n"
		"221 2.0.0 Bye\r\n[CLOSE QUIT]\n");
}

/* Python smtplib: lower-case commands, AUTH PLAIN after EHLO, "mail
 * FROM:<...> size=N", "rcpt TO:<...>", "data" */
static void
test_smtplib(void)
{
	const char *const turns[] = {
		"ehlo [127.0.0.1]\r\n", "STARTTLS\r\n", "ehlo [127.0.0.1]\r\n",
		"AUTH PLAIN " PLAIN_OK "\r\n",
		"mail FROM:<alice@example.org> size=25\r\n",
		"rcpt TO:<bob@example.org>\r\n",
		"data\r\n",
		"Subject: x\r\n\r\nhello\r\n.\r\n",
		"quit\r\n",
		NULL,
	};
	dialogue_check(config_starttls(), turns,
		GREETING EHLO_PRE "220 2.0.0 Ready to start TLS\r\n[STARTTLS]\n" EHLO_TLS AUTHED
		"[MAIL alice@example.org]\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n"
		"[DATA Subject: x\\n\\nhello\\n]\n"
		"[MESSAGE bob@example.org]\n250 2.0.0 Ok: queued as Q1\r\n"
		"221 2.0.0 Bye\r\n[CLOSE QUIT]\n");
}

/* Kuvert's clients: AUTH LOGIN without TLS on loopback, two mails, and
 * QUIT pipelined after the end of data as Postfix's client does. */
static void
test_kuvert_login(void)
{
	const char *const turns[] = {
		"EHLO app\r\n",
		"AUTH LOGIN\r\n", "YWxpY2U=\r\n", "c2VjcmV0\r\n",
		"MAIL FROM:<>\r\nRCPT TO:<postmaster>\r\nDATA\r\n",
		"a\r\n.\r\n",
		"MAIL FROM:<a@b.c>\r\nRCPT TO:<\"x y\"@[10.0.0.1]>\r\nDATA\r\n",
		"\r\nb\r\n.\r\nQUIT\r\n",
		NULL,
	};
	dialogue_check(config_plain(), turns,
		GREETING "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
		"250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN LOGIN\r\n"
		"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n" AUTHED
		"[MAIL ]\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
		"[DATA a\\n]\n[MESSAGE postmaster]\n250 2.0.0 Ok: queued as Q1\r\n"
		"[MAIL a@b.c]\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
		"[DATA \\nb\\n]\n[MESSAGE \"x y\"@[10.0.0.1]]\n250 2.0.0 Ok: queued as Q1\r\n"
		"221 2.0.0 Bye\r\n[CLOSE QUIT]\n");
}

/* ---- the rest, case by case ---------------------------------------------- */

#define DATA_GO "354 End data with <CR><LF>.<CR><LF>\r\n"
#define MAIL_OK(a) "[MAIL " a "]\n250 2.1.0 Ok\r\n"

static void
test_ehlo_helo(void)
{
	/* implicit TLS: AUTH, no STARTTLS; after AUTH, no AUTH either */
	const char *const tls[] = { "EHLO c.test\r\n", "AUTH PLAIN " PLAIN_OK "\r\n", "EHLO c.test\r\n",
	                            "HELO c.test\r\n", "RSET\r\n", "NOOP\r\n", "QUIT\r\n", NULL };
	dialogue_check(config_tls(), tls,
		GREETING EHLO_TLS AUTHED EHLO_AUTHED "250 mx.test\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
		"221 2.0.0 Bye\r\n[CLOSE QUIT]\n");
	/* HELO: no extensions, and AUTH after it is out of sequence */
	const char *const helo[] = { "HELO c.test\r\n", "AUTH PLAIN " PLAIN_OK "\r\n", NULL };
	dialogue_check(config_tls(), helo,
		GREETING "250 mx.test\r\n503 5.5.1 Bad sequence of commands\r\n[EOF]\n");
	/* a name that could not go into Received, or none */
	const char *const bad[] = { "EHLO\r\n", "EHLO a (b) c\r\n", "HELO a;b\r\n", NULL };
	dialogue_check(config_tls(), bad,
		GREETING "501 5.5.4 Syntax: EHLO hostname\r\n501 5.5.4 Syntax: EHLO hostname\r\n"
		"501 5.5.4 Syntax: HELO hostname\r\n421 4.7.0 Too many errors, closing connection\r\n"
		"[CLOSE too many errors]\n");
	/* trailing blanks forgiven, any case */
	const char *const lower[] = { "ehlo [IPv6:::1] \r\n", "nOoP whatever\r\n", NULL };
	dialogue_check(config_starttls(), lower, GREETING EHLO_PRE "250 2.0.0 Ok\r\n[EOF]\n");
}

static void
test_other_commands(void)
{
	const char *const turns[] = { "EHLO c.test\r\n", "VRFY root\r\n", "EXPN list\r\n", "HELP\r\n",
	                              "NOOP\r\n", "FOO bar\r\n", NULL };
	dialogue_check(config_tls(), turns,
		GREETING EHLO_TLS "252 2.5.0 Cannot VRFY user, but will accept message\r\n"
		"502 5.5.1 Command not implemented\r\n502 5.5.1 Command not implemented\r\n"
		"250 2.0.0 Ok\r\n500 5.5.2 Syntax error, command unrecognized\r\n"
		"421 4.7.0 Too many errors, closing connection\r\n[CLOSE too many errors]\n");
	/* RSET takes no argument; it ends a transaction */
	const char *const rset[] = { LOGIN_TURNS, "MAIL FROM:<a@b.c>\r\nRSET x\r\nRSET\r\n",
	                             "RCPT TO:<d@e.f>\r\n", NULL };
	dialogue_check(config_tls(), rset,
		LOGIN_LOG MAIL_OK("a@b.c") "501 5.5.4 Syntax: RSET\r\n250 2.0.0 Ok\r\n"
		"503 5.5.1 Need MAIL command\r\n[EOF]\n");
}

/* Before TLS only EHLO/HELO/STARTTLS/NOOP/RSET/QUIT. */
static void
test_before_tls(void)
{
	const char *const turns[] = { "EHLO c.test\r\n", "AUTH PLAIN " PLAIN_OK "\r\n",
	                              "MAIL FROM:<a@b.c>\r\n", "RSET\r\n", "NOOP\r\n", "HELO c\r\n",
	                              "VRFY x\r\n", NULL };
	dialogue_check(config_starttls(), turns,
		GREETING EHLO_PRE
		"538 5.7.11 Encryption required for requested authentication mechanism\r\n"
		"530 5.7.0 Must issue a STARTTLS command first\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
		"250 mx.test\r\n530 5.7.0 Must issue a STARTTLS command first\r\n"
		"421 4.7.0 Too many errors, closing connection\r\n[CLOSE too many errors]\n");
	const char *const rcpt[] = { "RCPT TO:<a@b.c>\r\n", "DATA\r\n", NULL };
	dialogue_check(config_starttls(), rcpt,
		GREETING "530 5.7.0 Must issue a STARTTLS command first\r\n"
		"530 5.7.0 Must issue a STARTTLS command first\r\n[EOF]\n");
	/* no TLS offered and no plaintext AUTH: nobody can log in */
	KovSmtpConfig none = test_config();
	none.tls_offered = FALSE;
	const char *const noauth[] = { "EHLO c\r\n", "STARTTLS\r\n", "AUTH PLAIN " PLAIN_OK "\r\n",
	                               "MAIL FROM:<a@b.c>\r\n", NULL };
	dialogue_check(&none, noauth,
		GREETING "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
		"250 ENHANCEDSTATUSCODES\r\n502 5.5.1 Command not implemented\r\n"
		"538 5.7.11 Encryption required for requested authentication mechanism\r\n"
		"530 5.7.0 Authentication required\r\n421 4.7.0 Too many errors, closing connection\r\n"
		"[CLOSE too many errors]\n");
}

static void
test_starttls(void)
{
	/* the handshake forgets everything: EHLO again */
	const char *const reset[] = { "EHLO c\r\n", "STARTTLS\r\n", "MAIL FROM:<a@b.c>\r\n",
	                              "STARTTLS\r\n", "EHLO c\r\n", "STARTTLS x\r\n", NULL };
	dialogue_check(config_starttls(), reset,
		GREETING EHLO_PRE "220 2.0.0 Ready to start TLS\r\n[STARTTLS]\n"
		"503 5.5.1 Send EHLO first\r\n503 5.5.1 TLS already active\r\n" EHLO_TLS
		"503 5.5.1 TLS already active\r\n421 4.7.0 Too many errors, closing connection\r\n"
		"[CLOSE too many errors]\n");
	/* not offered */
	const char *const plain[] = { "STARTTLS\r\n", NULL };
	dialogue_check(config_plain(), plain, GREETING "502 5.5.1 Command not implemented\r\n[EOF]\n");
	/* input after STARTTLS in the same read: command injection
	 * (CVE-2011-0411): no 220, no handshake, closed */
	const char *const inject[] = { "EHLO c\r\n", "STARTTLS\r\nAUTH PLAIN " PLAIN_OK "\r\n", NULL };
	dialogue_check_whole(config_starttls(), inject,
		GREETING EHLO_PRE "554 5.5.0 Protocol synchronization error\r\n"
		"[CLOSE command pipelined after STARTTLS]\n");
	const char *const inject1[] = { "EHLO c\r\n", "STARTTLS\r\nN", NULL };
	dialogue_check_whole(config_starttls(), inject1,
		GREETING EHLO_PRE "554 5.5.0 Protocol synchronization error\r\n"
		"[CLOSE command pipelined after STARTTLS]\n");
}

/* STARTTLS is answered only by _tls_started: nothing else moves. */
static void
test_starttls_waits(void)
{
	g_autoptr(KovSmtpSession) s = kov_smtp_session_new(config_starttls());
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_NEED_INPUT);
	kov_smtp_session_output_clear(s);
	kov_smtp_session_push(s, "EHLO c\r\n", 8);
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_NEED_INPUT);
	kov_smtp_session_output_clear(s);
	kov_smtp_session_push(s, "STARTTLS\r\n", 10);
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_STARTTLS);
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_STARTTLS);
	gsize len;
	g_assert_cmpstr(kov_smtp_session_output(s, &len), ==, "220 2.0.0 Ready to start TLS\r\n");
	kov_smtp_session_output_clear(s);
	/* pushing now is the host's mistake */
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*want_input*");
	kov_smtp_session_push(s, "x", 1);
	g_test_assert_expected_messages();
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_STARTTLS);
	kov_smtp_session_tls_started(s);
	g_assert_null(kov_smtp_session_helo(s));
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_NEED_INPUT);
	kov_smtp_session_output(s, &len);
	g_assert_cmpuint(len, ==, 0);
}

/* A client known by its certificate needs no AUTH. */
static void
test_certificate_client(void)
{
	g_autoptr(KovSmtpSession) s = kov_smtp_session_new(config_starttls());
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_NEED_INPUT);
	g_assert_cmpint(kov_smtp_session_phase(s), ==, KOV_SMTP_PHASE_GREETED);
	kov_smtp_session_push(s, "STARTTLS\r\n", 10);
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_STARTTLS);
	kov_smtp_session_tls_started(s);
	kov_smtp_session_set_client(s, "app");
	g_assert_cmpstr(kov_smtp_session_client(s), ==, "app");
	g_assert_cmpint(kov_smtp_session_phase(s), ==, KOV_SMTP_PHASE_AUTHENTICATED);
	kov_smtp_session_output_clear(s);
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_NEED_INPUT);
	kov_smtp_session_push(s, "EHLO c\r\n", 8);
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_NEED_INPUT);
	g_assert_cmpstr(kov_smtp_session_output(s, NULL), ==, EHLO_AUTHED);
	g_assert_cmpstr(kov_smtp_session_helo(s), ==, "c");
	kov_smtp_session_output_clear(s);
	kov_smtp_session_push(s, "AUTH PLAIN " PLAIN_OK "\r\n", 11 + strlen(PLAIN_OK) + 2);
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_NEED_INPUT);
	g_assert_cmpstr(kov_smtp_session_output(s, NULL), ==, "503 5.5.1 Bad sequence of commands\r\n");
	kov_smtp_session_output_clear(s);
	kov_smtp_session_push(s, "MAIL FROM:<a@b.c>\r\n", 19);
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_MAIL);
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_MAIL);   /* until answered */
	kov_smtp_session_mail_done(s, TRUE);
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_NEED_INPUT);
	g_assert_cmpstr(kov_smtp_session_output(s, NULL), ==, "250 2.1.0 Ok\r\n");
}

static void
test_auth(void)
{
	/* PLAIN without an initial response; authzid = authcid is fine */
	const char *const plain[] = { "EHLO c\r\n", "AUTH PLAIN\r\n", "YWxpY2UAYWxpY2UAc2VjcmV0\r\n",
	                              "AUTH LOGIN\r\n", NULL };
	dialogue_check(config_tls(), plain,
		GREETING EHLO_TLS "334 \r\n" AUTHED "503 5.5.1 Bad sequence of commands\r\n[EOF]\n");
	/* LOGIN with the user as initial response */
	const char *const login[] = { "EHLO c\r\n", "auth login YWxpY2U=\r\n", "c2VjcmV0\r\n", NULL };
	dialogue_check(config_tls(), login, GREETING EHLO_TLS "334 UGFzc3dvcmQ6\r\n" AUTHED "[EOF]\n");
	/* another authorization identity can never succeed: user "" */
	const char *const authz[] = { "EHLO c\r\n", "AUTH PLAIN Ym9iAGFsaWNlAHNlY3JldA==\r\n", NULL };
	dialogue_check(config_tls(), authz,
		GREETING EHLO_TLS "[AUTH /secret]\n535 5.7.8 Authentication credentials invalid\r\n[EOF]\n");
	/* a user name with a control character: likewise */
	const char *const ctl[] = { "EHLO c\r\n", "AUTH LOGIN YQFi\r\n", "eA==\r\n", NULL };
	dialogue_check(config_tls(), ctl,
		GREETING EHLO_TLS "334 UGFzc3dvcmQ6\r\n[AUTH /x]\n"
		"535 5.7.8 Authentication credentials invalid\r\n[EOF]\n");
	/* cancel, bad base64, malformed PLAIN, unknown mechanism */
	const char *const bad[] = { "EHLO c\r\n", "AUTH LOGIN\r\n", "*\r\n", "AUTH PLAIN YW=x\r\n",
	                            NULL };
	dialogue_check(config_tls(), bad,
		GREETING EHLO_TLS "334 VXNlcm5hbWU6\r\n501 5.0.0 Authentication cancelled\r\n"
		"501 5.5.2 Cannot decode response\r\n[EOF]\n");
	const char *const bad2[] = { "EHLO c\r\n", "AUTH PLAIN YWxpY2U=\r\n", "AUTH PLAIN =\r\n",
	                             "AUTH CRAM-MD5\r\n", NULL };
	dialogue_check(config_tls(), bad2,
		GREETING EHLO_TLS "501 5.5.2 Cannot decode response\r\n501 5.5.2 Cannot decode response\r\n"
		"504 5.5.4 Unrecognized authentication type\r\n"
		"421 4.7.0 Too many errors, closing connection\r\n[CLOSE too many errors]\n");
	/* LOGIN: an empty user, a NUL in it */
	const char *const bad4[] = { "EHLO c\r\n", "AUTH LOGIN\r\n", "\r\n", "AUTH LOGIN AA==\r\n", NULL };
	dialogue_check(config_tls(), bad4,
		GREETING EHLO_TLS "334 VXNlcm5hbWU6\r\n501 5.5.2 Cannot decode response\r\n"
		"501 5.5.2 Cannot decode response\r\n[EOF]\n");
	const char *const bad3[] = { "EHLO c\r\n", "AUTH\r\n", "AUTH PLAIN a b\r\n", NULL };
	dialogue_check(config_tls(), bad3,
		GREETING EHLO_TLS "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n"
		"501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n[EOF]\n");
	/* three failures end the session; errors are another count */
	const char *const fail[] = { "EHLO c\r\n", "AUTH PLAIN " PLAIN_BAD "\r\n", "FOO\r\n",
	                             "AUTH PLAIN " PLAIN_BAD "\r\n", "FOO\r\n",
	                             "AUTH PLAIN " PLAIN_BAD "\r\n", NULL };
	dialogue_check(config_tls(), fail,
		GREETING EHLO_TLS
		"[AUTH alice/wrong]\n535 5.7.8 Authentication credentials invalid\r\n"
		"500 5.5.2 Syntax error, command unrecognized\r\n"
		"[AUTH alice/wrong]\n535 5.7.8 Authentication credentials invalid\r\n"
		"500 5.5.2 Syntax error, command unrecognized\r\n"
		"[AUTH alice/wrong]\n535 5.7.8 Authentication credentials invalid\r\n"
		"421 4.7.0 Too many failed authentications, closing connection\r\n[CLOSE 3 failed AUTH]\n");
	/* a response pipelined after a response: cut off */
	const char *const pipe[] = { "EHLO c\r\n", "AUTH LOGIN\r\n", "YWxpY2U=\r\nc2VjcmV0\r\n", NULL };
	dialogue_check_whole(config_tls(), pipe,
		GREETING EHLO_TLS "334 VXNlcm5hbWU6\r\n554 5.5.0 Protocol synchronization error\r\n"
		"[CLOSE command pipelined after AUTH]\n");
}

/* AUTH lines may be 12288 octets, other commands 512. */
static void
test_line_limits(void)
{
	g_autofree char *user = g_strnfill(9000, 'u');
	g_autofree char *plain = g_strdup_printf("%c%s%csecret", 0, user, 0);
	g_autofree char *b64 = g_base64_encode((const guchar *)plain, 9000 + 8);
	g_autofree char *auth = g_strdup_printf("AUTH PLAIN %s\r\n", b64);   /* 12014 octets */
	g_autofree char *expect = g_strdup_printf(GREETING EHLO_TLS "[AUTH %s/secret]\n"
		"535 5.7.8 Authentication credentials invalid\r\n[EOF]\n", user);
	const char *const big_auth[] = { "EHLO c\r\n", auth, NULL };
	g_autofree char *log = dialogue_run(config_tls(), NULL, big_auth, NULL, 0);
	g_assert_cmpstr(log, ==, expect);
	g_free(log);
	log = dialogue_run(config_tls(), NULL, big_auth, NULL, 7);
	g_assert_cmpstr(log, ==, expect);

	g_autofree char *huge = g_strdup_printf("AUTH PLAIN %s\r\n", fill(12280, 'A'));
	const char *const over_auth[] = { "EHLO c\r\n", huge, "NOOP\r\n", NULL };
	dialogue_check(config_tls(), over_auth,
		GREETING EHLO_TLS "500 5.5.6 Line too long\r\n250 2.0.0 Ok\r\n[EOF]\n");

	/* 510 + CRLF = 512: fine; 511 + CRLF: too long */
	g_autofree char *noop510 = g_strdup_printf("NOOP %s\r\n", fill(505, 'x'));
	g_autofree char *noop511 = g_strdup_printf("NOOP %s\r\n", fill(506, 'x'));
	const char *const cmd[] = { "EHLO c\r\n", noop510, noop511, noop511, noop511, NULL };
	dialogue_check(config_tls(), cmd,
		GREETING EHLO_TLS "250 2.0.0 Ok\r\n500 5.5.6 Line too long\r\n500 5.5.6 Line too long\r\n"
		"500 5.5.6 Line too long\r\n421 4.7.0 Too many errors, closing connection\r\n"
		"[CLOSE too many errors]\n");
	/* a NUL in a command */
	const char *const nul[] = { "EHLO c\r\n", "NOOP\0x\r\n", NULL };
	g_autofree char *nullog = NULL;
	{
		KovTestRun r = { .s = kov_smtp_session_new(config_tls()), .log = g_string_new(NULL),
		                 .data = g_string_new(NULL), .host = &default_host };
		run_steps(&r);
		kov_smtp_session_push(r.s, nul[0], 8);
		run_steps(&r);
		kov_smtp_session_push(r.s, "NOOP\0x\r\n", 8);
		run_steps(&r);
		g_assert_cmpstr(r.log->str, ==, GREETING EHLO_TLS
		                "500 5.5.2 Syntax error, command unrecognized\r\n");
		kov_smtp_session_free(r.s);
		g_string_free(r.data, TRUE);
		g_string_free(r.log, TRUE);
	}
}

/* Non-SMTP input is cut off without a word. */
static void
test_foreign(void)
{
	const char *const http[] = { "GET / HTTP/1.1\r\nHost: x\r\n\r\n", NULL };
	dialogue_check_whole(config_starttls(), http, GREETING "[CLOSE non-SMTP input]\n");
	const char *const post[] = { "POST /x HTTP/1.0\r\n", NULL };
	dialogue_check(config_starttls(), post, GREETING "[CLOSE non-SMTP input]\n");
	const char *const header[] = { "User-Agent: x\r\n", NULL };
	dialogue_check(config_starttls(), header, GREETING "[CLOSE non-SMTP input]\n");
	const char *const tls[] = { "\x16\x03\x01\x02\x00\x01", NULL };
	dialogue_check(config_starttls(), tls, GREETING "[CLOSE non-SMTP input]\n");
	const char *const digit[] = { "1 EHLO\r\n", NULL };
	dialogue_check(config_starttls(), digit, GREETING "[CLOSE non-SMTP input]\n");
	const char *const empty[] = { "\r\n", NULL };
	dialogue_check(config_starttls(), empty, GREETING "[CLOSE non-SMTP input]\n");
	/* later, too */
	const char *const later[] = { "EHLO c\r\n", "CONNECT x:443 HTTP/1.1\r\n", NULL };
	dialogue_check(config_starttls(), later, GREETING EHLO_PRE "[CLOSE non-SMTP input]\n");
	/* a request line over the command cap is still an HTTP request */
	g_autofree char *url = g_strnfill(700, 'u');
	g_autofree char *get = g_strdup_printf("GET /%s HTTP/1.1\r\nHost: x\r\n\r\n", url);
	const char *const long_get[] = { get, NULL };
	dialogue_check(config_starttls(), long_get, GREETING "[CLOSE non-SMTP input]\n");
	g_autofree char *ehlo = g_strdup_printf("EHLO %s\r\n", url);
	const char *const long_ehlo[] = { ehlo, "EHLO c\r\n", NULL };
	dialogue_check(config_starttls(), long_ehlo,
		GREETING "500 5.5.6 Line too long\r\n" EHLO_PRE "[EOF]\n");
	/* but a later empty line is only an error */
	const char *const blank[] = { "EHLO c\r\n", "\r\n", NULL };
	dialogue_check(config_tls(), blank,
		GREETING EHLO_TLS "500 5.5.2 Syntax error, command unrecognized\r\n[EOF]\n");
}

/* RFC 2920 3.1: EHLO, HELO, DATA, STARTTLS, AUTH, QUIT, NOOP end a group. */
static void
test_pipelining(void)
{
	const char *const ehlo[] = { "EHLO c\r\nNOOP\r\n", NULL };
	dialogue_check_whole(config_tls(), ehlo,
		GREETING "554 5.5.0 Protocol synchronization error\r\n[CLOSE command pipelined after EHLO]\n");
	const char *const helo[] = { "HELO c\r\nQUIT\r\n", NULL };
	dialogue_check_whole(config_tls(), helo,
		GREETING "554 5.5.0 Protocol synchronization error\r\n[CLOSE command pipelined after HELO]\n");
	const char *const noop[] = { "NOOP\r\nN", NULL };
	dialogue_check_whole(config_tls(), noop,
		GREETING "554 5.5.0 Protocol synchronization error\r\n[CLOSE command pipelined after NOOP]\n");
	const char *const auth[] = { "EHLO c\r\n", "AUTH PLAIN " PLAIN_OK "\r\nMAIL FROM:<a@b.c>\r\n", NULL };
	dialogue_check_whole(config_tls(), auth,
		GREETING EHLO_TLS "554 5.5.0 Protocol synchronization error\r\n"
		"[CLOSE command pipelined after AUTH]\n");
	/* the message after DATA without waiting for 354 */
	const char *const data[] = { LOGIN_TURNS, "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nx\r\n.\r\n",
	                             NULL };
	dialogue_check_whole(config_tls(), data,
		LOGIN_LOG MAIL_OK("a@b.c") "250 2.1.5 Ok\r\n554 5.5.0 Protocol synchronization error\r\n"
		"[CLOSE command pipelined after DATA]\n");
	/* QUIT with more: just closed */
	const char *const quit[] = { "QUIT\r\nNOOP\r\n", NULL };
	dialogue_check_whole(config_tls(), quit, GREETING "221 2.0.0 Bye\r\n[CLOSE QUIT]\n");
	/* MAIL, RCPT, RSET may be grouped; and the next transaction may
	 * follow the end of data at once */
	const char *const group[] = { LOGIN_TURNS,
		"MAIL FROM:<a@b.c>\r\nRSET\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nRCPT TO:<g@e.f>\r\nDATA\r\n",
		"x\r\n.\r\nMAIL FROM:<evil@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n", NULL };
	dialogue_check(config_tls(), group,
		LOGIN_LOG MAIL_OK("a@b.c") "250 2.0.0 Ok\r\n" MAIL_OK("a@b.c") "250 2.1.5 Ok\r\n"
		"250 2.1.5 Ok\r\n" DATA_GO "[DATA x\\n]\n[MESSAGE d@e.f g@e.f]\n250 2.0.0 Ok: queued as Q1\r\n"
		"[MAIL evil@b.c]\n550 5.7.1 Sender address not allowed\r\n"
		"503 5.5.1 Need MAIL command\r\n503 5.5.1 Need MAIL command\r\n[EOF]\n");
}

static void
test_mail(void)
{
	/* sequence: EHLO first, AUTH first, one MAIL per transaction */
	const char *const seq[] = { "MAIL FROM:<a@b.c>\r\n", "EHLO c\r\n", "MAIL FROM:<a@b.c>\r\n", NULL };
	dialogue_check(config_tls(), seq,
		GREETING "503 5.5.1 Send EHLO first\r\n" EHLO_TLS "530 5.7.0 Authentication required\r\n[EOF]\n");
	const char *const nested[] = { LOGIN_TURNS, "MAIL FROM:<a@b.c>\r\n", "MAIL FROM:<a@b.c>\r\n",
	                               "MAIL FROM:<evil@b.c>\r\n", NULL };
	dialogue_check(config_tls(), nested,
		LOGIN_LOG MAIL_OK("a@b.c") "503 5.5.1 Nested MAIL command\r\n"
		"503 5.5.1 Nested MAIL command\r\n[EOF]\n");
	/* a refused sender: no transaction, the next MAIL may come */
	const char *const refused[] = { LOGIN_TURNS, "MAIL FROM:<evil@b.c>\r\n", "RCPT TO:<d@e.f>\r\n",
	                                "MAIL FROM:<a@b.c>\r\n", NULL };
	dialogue_check(config_tls(), refused,
		LOGIN_LOG "[MAIL evil@b.c]\n550 5.7.1 Sender address not allowed\r\n"
		"503 5.5.1 Need MAIL command\r\n" MAIL_OK("a@b.c") "[EOF]\n");
}

/* RFC 5321 4.1.2 paths, kept as given. */
static void
test_addresses(void)
{
	static const struct {
		const char *path, *bare;
	} good[] = {
		{ "<>", "" },
		{ "<a@b>", "a@b" },
		{ "<Alice.Smith+tag@Example.ORG>", "Alice.Smith+tag@Example.ORG" },
		{ "<!#$%&'*+-/=?^_`{|}~@x-y.z>", "!#$%&'*+-/=?^_`{|}~@x-y.z" },
		{ "<\"a b\\\"c\"@d.e>", "\"a b\\\"c\"@d.e" },
		{ "<a@[192.0.2.1]>", "a@[192.0.2.1]" },
		{ "<a@[IPv6:2001:db8::1]>", "a@[IPv6:2001:db8::1]" },
		{ "<@r1.x,@[192.0.2.1]:a@b.c>", "a@b.c" },   /* source route dropped */
		{ " <a@b.c>", "a@b.c" },                     /* a blank after the colon */
	};
	static const char *const bad[] = {
		"a@b.c", "<a@b.c", "<a>", "<a@>", "<@b.c>", "<a..b@c>", "<.a@c>", "<a.@c>",
		"<a@b..c>", "<a@-b.c>", "<a@b-.c>", "<a@b.c.>", "<a b@c>", "<a@[1.2.3]>",
		"<a@[IPv6:1.2.3.4]>", "<a@[x:y]>", "<a@b_c>", "<\"a\"b@c>", "<@r:>", "<@r,a@b.c>",
		"<a@b.c>x", "<\xc3\xa4@b.c>", "<\"a\x01\"@b.c>", "<a@\xc3\xa4.c>",
		"<postmaster>",
	};
	for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
		g_autofree char *mail = g_strdup_printf("MAIL FROM:%s\r\n", good[i].path);
		g_autofree char *expect = g_strdup_printf(LOGIN_LOG "[MAIL %s]\n250 2.1.0 Ok\r\n[EOF]\n",
		                                          good[i].bare);
		const char *const turns[] = { LOGIN_TURNS, mail, NULL };
		g_autofree char *log = dialogue_run(config_tls(), NULL, turns, NULL, 0);
		g_assert_cmpstr(log, ==, expect);
		if (*good[i].bare == '\0')
			continue;
		/* and as a recipient */
		g_autofree char *rcpt = g_strdup_printf("RCPT TO:%s\r\n", good[i].path);
		g_autofree char *expect2 = g_strdup_printf(LOGIN_LOG MAIL_OK("a@b.c")
		                                           "250 2.1.5 Ok\r\n" DATA_GO "[DATA x\\n]\n"
		                                           "[MESSAGE %s]\n250 2.0.0 Ok: queued as Q1\r\n[EOF]\n",
		                                           good[i].bare);
		const char *const turns2[] = { LOGIN_TURNS, "MAIL FROM:<a@b.c>\r\n", rcpt, "DATA\r\n",
		                               "x\r\n.\r\n", NULL };
		g_free(log);
		log = dialogue_run(config_tls(), NULL, turns2, NULL, 0);
		g_assert_cmpstr(log, ==, expect2);
	}
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *mail = g_strdup_printf("MAIL FROM:%s\r\n", bad[i]);
		const char *const turns[] = { LOGIN_TURNS, mail, NULL };
		g_autofree char *log = dialogue_run(config_tls(), NULL, turns, NULL, 0);
		if (strstr(log, "501 5.1.7") == NULL)
			g_test_message("accepted: %s", bad[i]);
		g_assert_cmpstr(log, ==, LOGIN_LOG "501 5.1.7 Bad sender address syntax\r\n[EOF]\n");
	}
	/* lengths: a local part of 64, an address of 254 octets */
	g_autofree char *l64 = g_strnfill(64, 'l');
	g_autofree char *d = g_strdup_printf("%s.%s.%s.%s", fill(63, 'd'), fill(63, 'd'),
	                                     fill(58, 'd'), "xy");
	g_autofree char *addr254 = g_strdup_printf("%s@%s", l64, d);
	g_assert_cmpuint(strlen(addr254), ==, 254);
	g_autofree char *ok = g_strdup_printf("MAIL FROM:<%s>\r\n", addr254);
	g_autofree char *ok_log = g_strdup_printf(LOGIN_LOG "[MAIL %s]\n250 2.1.0 Ok\r\n[EOF]\n", addr254);
	const char *const t1[] = { LOGIN_TURNS, ok, NULL };
	dialogue_check(config_tls(), t1, ok_log);
	g_autofree char *over = g_strdup_printf("MAIL FROM:<%sx>\r\n", addr254);
	g_autofree char *local65 = g_strdup_printf("MAIL FROM:<%sx@b.c>\r\n", l64);
	g_autofree char *label64 = g_strdup_printf("MAIL FROM:<a@%s.c>\r\n", fill(64, 'd'));
	const char *const t2[] = { LOGIN_TURNS, over, local65, label64, NULL };
	dialogue_check(config_tls(), t2,
		LOGIN_LOG "501 5.1.7 Bad sender address syntax\r\n501 5.1.7 Bad sender address syntax\r\n"
		"501 5.1.7 Bad sender address syntax\r\n421 4.7.0 Too many errors, closing connection\r\n"
		"[CLOSE too many errors]\n");
}

/* MAIL's parameters: SIZE, BODY, AUTH; nothing else. */
static void
test_mail_params(void)
{
	const char *const turns[] = { LOGIN_TURNS,
		"MAIL FROM:<a@b.c> SIZE=1000 BODY=8BITMIME AUTH=<>\r\n", "RSET\r\n",
		"MAIL FROM:<a@b.c> body=7bit\r\n", "RSET\r\n",
		"MAIL FROM:<a@b.c> SIZE=1001\r\n",
		"MAIL FROM:<a@b.c> SIZE=99999999999999999999999\r\n",
		"MAIL FROM:<a@b.c> NOTIFY=NEVER\r\n",
		"MAIL FROM:<a@b.c> SMTPUTF8\r\n", NULL };
	dialogue_check(config_tls(), turns,
		LOGIN_LOG MAIL_OK("a@b.c") "250 2.0.0 Ok\r\n" MAIL_OK("a@b.c") "250 2.0.0 Ok\r\n"
		"552 5.3.4 Message size exceeds fixed limit\r\n501 5.5.4 Bad SIZE parameter\r\n"
		"555 5.5.4 Unsupported parameter\r\n555 5.5.4 Unsupported parameter\r\n"
		"421 4.7.0 Too many errors, closing connection\r\n[CLOSE too many errors]\n");
	const char *const body[] = { LOGIN_TURNS, "MAIL FROM:<a@b.c> BODY=BINARYMIME\r\n",
	                             "MAIL FROM:<a@b.c> SIZE=\r\n", NULL };
	dialogue_check(config_tls(), body,
		LOGIN_LOG "501 5.5.4 Bad BODY parameter\r\n501 5.5.4 Bad SIZE parameter\r\n[EOF]\n");
}

static void
test_rcpt(void)
{
	/* max_recipients is 3 here; a 452 is no error */
	const char *const turns[] = { LOGIN_TURNS, "RCPT TO:<d@e.f>\r\n",
		"MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nRCPT TO:<Postmaster>\r\nRCPT TO:<g@e.f>\r\n"
		"RCPT TO:<h@e.f>\r\nRCPT TO:<i@e.f>\r\nRCPT TO:<j@e.f>\r\nRCPT TO:<k@e.f>\r\n",
		"RCPT TO:<>\r\n", "RCPT TO:<l@e.f> NOTIFY=NEVER\r\n", NULL };
	dialogue_check(config_tls(), turns,
		LOGIN_LOG "503 5.5.1 Need MAIL command\r\n" MAIL_OK("a@b.c")
		"250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n452 4.5.3 Too many recipients\r\n"
		"452 4.5.3 Too many recipients\r\n452 4.5.3 Too many recipients\r\n"
		"452 4.5.3 Too many recipients\r\n501 5.1.3 Bad recipient address syntax\r\n"
		"555 5.5.4 Unsupported parameter\r\n421 4.7.0 Too many errors, closing connection\r\n"
		"[CLOSE too many errors]\n");
}

static void
test_data_sequence(void)
{
	const char *const turns[] = { LOGIN_TURNS, "DATA\r\n", "MAIL FROM:<a@b.c>\r\n", "DATA\r\n",
	                              "RCPT TO:<d@e.f>\r\n", "DATA x\r\n", NULL };
	dialogue_check(config_tls(), turns,
		LOGIN_LOG "503 5.5.1 Need MAIL command\r\n" MAIL_OK("a@b.c") "554 5.5.1 No valid recipients\r\n"
		"250 2.1.5 Ok\r\n501 5.5.4 Syntax: DATA\r\n421 4.7.0 Too many errors, closing connection\r\n"
		"[CLOSE too many errors]\n");
}

#define TXN(from) LOGIN_TURNS, "MAIL FROM:<" from ">\r\nRCPT TO:<d@e.f>\r\nDATA\r\n"
#define TXN_LOG LOGIN_LOG MAIL_OK("a@b.c") "250 2.1.5 Ok\r\n" DATA_GO

/* Dot-stuffing undone; the end only on CRLF.CRLF. */
static void
test_data_dots(void)
{
	const char *const turns[] = { TXN("a@b.c"),
		"..\r\n.x\r\n...\r\n. \r\n .\r\nx.\r\n.\r\n", NULL };
	dialogue_check(config_tls(), turns,
		TXN_LOG "[DATA .\\nx\\n..\\n \\n .\\nx.\\n]\n[MESSAGE d@e.f]\n250 2.0.0 Ok: queued as Q1\r\n[EOF]\n");
	/* no end yet: a client that stops here is dropped by the host (EOF) */
	const char *const open[] = { TXN("a@b.c"), "x\r\n.\r", NULL };
	dialogue_check(config_tls(), open, TXN_LOG "[DATA x\\n]\n[EOF]\n");
	const char *const open2[] = { TXN("a@b.c"), "x\r\n. \r\n", NULL };
	dialogue_check(config_tls(), open2, TXN_LOG "[DATA x\\n \\n]\n[EOF]\n");
	/* an empty message */
	const char *const empty[] = { TXN("a@b.c"), ".\r\n", NULL };
	dialogue_check(config_tls(), empty, TXN_LOG "[MESSAGE d@e.f]\n250 2.0.0 Ok: queued as Q1\r\n[EOF]\n");
}

/* Bare CR or LF anywhere: refused and cut off (SMTP smuggling). */
static void
test_bare_newlines(void)
{
	static const char *const smuggle[] = {
		"x\r\n\n.\r\n",       /* LF.CRLF */
		"x\n.\n",             /* LF.LF */
		"x\r\n.\n",           /* CRLF.LF */
		"x\r\n.\rMAIL\r\n",   /* CRLF.CR */
		"x\rx\r\n.\r\n",
		"x\r\r\n.\r\n",
	};
	for (guint i = 0; i < G_N_ELEMENTS(smuggle); i++) {
		const char *const turns[] = { TXN("a@b.c"), smuggle[i], NULL };
		gboolean lf = strchr(smuggle[i], '\n') < strchr(smuggle[i], '\r')
		              || strstr(smuggle[i], "\n\n") != NULL || strstr(smuggle[i], "\n.\n") != NULL;
		lf = i < 3;
		g_autofree char *expect = g_strdup_printf(TXN_LOG
			"521 5.5.2 Bare CR or LF received, closing connection\r\n[ABORT bare %s in DATA]\n"
			"[CLOSE bare %s in DATA]\n",
			lf ? "LF" : "CR", lf ? "LF" : "CR");
		dialogue_check(config_tls(), turns, expect);
	}
	/* past the cap of a long line, too */
	g_autofree char *tail = g_strdup_printf("%s\n.\r\n", fill(1100, 'x'));
	const char *const far[] = { TXN("a@b.c"), tail, NULL };
	dialogue_check(config_tls(), far, TXN_LOG "[ABORT line too long in DATA]\n"
		"521 5.5.2 Bare CR or LF received, closing connection\r\n[CLOSE bare LF in DATA]\n");
	g_autofree char *cmd_tail = g_strdup_printf("NOOP %s\rx\r\n", fill(600, 'x'));
	const char *const far2[] = { "EHLO c\r\n", cmd_tail, NULL };
	dialogue_check(config_tls(), far2, GREETING EHLO_TLS
		"521 5.5.2 Bare CR or LF received, closing connection\r\n[CLOSE bare CR in command]\n");
	const char *const cmd[] = { "EHLO c\r\n", "NOOP\n", NULL };
	dialogue_check(config_tls(), cmd, GREETING EHLO_TLS
		"521 5.5.2 Bare CR or LF received, closing connection\r\n[CLOSE bare LF in command]\n");
	const char *const cmd2[] = { "EHLO c\r\n", "NOOP\rx", NULL };
	dialogue_check(config_tls(), cmd2, GREETING EHLO_TLS
		"521 5.5.2 Bare CR or LF received, closing connection\r\n[CLOSE bare CR in command]\n");
	const char *const first[] = { "EHLO c\n", NULL };
	dialogue_check(config_tls(), first, GREETING
		"521 5.5.2 Bare CR or LF received, closing connection\r\n[CLOSE bare LF in command]\n");
}

/* A text line over 1000 octets: dropped, read to the end, 500. */
static void
test_data_long_line(void)
{
	g_autofree char *l998 = g_strnfill(998, 'x');
	g_autofree char *ok = g_strdup_printf("%s\r\n.\r\n", l998);   /* 1000 with CRLF */
	KovSmtpConfig big = *config_tls();
	big.max_size = 100000;
	const char *const t1[] = { TXN("a@b.c"), ok, NULL };
	g_autofree char *log = dialogue_run(&big, NULL, t1, NULL, 0);
	g_autofree char *ok_data = g_strdup_printf("[DATA %s\\n]\n[MESSAGE d@e.f]\n"
	                                           "250 2.0.0 Ok: queued as Q1\r\n[EOF]\n", l998);
	g_assert_true(g_str_has_suffix(log, ok_data));
	/* a dot-stuffed line counts as sent */
	g_autofree char *long1 = g_strdup_printf("a\r\n.%s\r\nb\r\n.\r\n", l998);
	g_autofree char *long2 = g_strdup_printf("a\r\n%sy\r\nb\r\n.\r\nNOOP\r\n", l998);
	g_autofree char *long3 = g_strdup_printf("a\r\n%s%s\r\n.\r\n", l998, l998);
	const char *const cases[] = { long1, long2, long3 };
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		const char *const turns[] = { TXN("a@b.c"), cases[i], NULL };
		g_autofree char *expect = g_strdup_printf(
			GREETING "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250-8BITMIME\r\n"
			"250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN LOGIN\r\n" AUTHED MAIL_OK("a@b.c")
			"250 2.1.5 Ok\r\n" DATA_GO
			"[ABORT line too long in DATA]\n500 5.5.6 Line too long\r\n%s[EOF]\n",
			i == 1 ? "250 2.0.0 Ok\r\n" : "");
		KovSmtpConfig c = big;
		dialogue_check(&c, turns, expect);
	}
}

/* Over max_size (1000 here): ABORT once, read to the end, 552; the
 * session goes on. */
static void
test_data_size(void)
{
	g_autofree char *line = g_strnfill(98, 'x');
	GString *msg = g_string_new(NULL);
	for (int i = 0; i < 10; i++)   /* 10 x 100 = 1000: fits */
		g_string_append_printf(msg, "%s\r\n", line);
	g_autofree char *fits = g_strdup_printf("%s.\r\n", msg->str);
	g_string_append(msg, "y\r\n.\r\n");
	g_autofree char *over = g_string_free(msg, FALSE);
	const char *const t1[] = { TXN("a@b.c"), fits, NULL };
	g_autofree char *log = dialogue_run(config_tls(), NULL, t1, NULL, 0);
	g_assert_nonnull(strstr(log, "queued as Q1"));
	const char *const t2[] = { TXN("a@b.c"), over, "MAIL FROM:<a@b.c>\r\n", NULL };
	dialogue_check(config_tls(), t2,
		TXN_LOG "[ABORT message too big]\n552 5.3.4 Message size exceeds fixed limit\r\n"
		MAIL_OK("a@b.c") "[EOF]\n");
}

/* X-Kuvert-* and X-Koverto-* fields leave the header, with their
 * continuation lines; X-Kuvert: and the body stay. */
static void
test_data_private_headers(void)
{
	const char *const turns[] = { TXN("a@b.c"),
		" leading continuation\r\n"
		"X-Kuvert-To: eve@x.y\r\n"
		"From: a@b.c\r\n"
		"x-koverto-client: other\r\n"
		"\tfolded@x.y\r\n"
		" more\r\n"
		"X-KUVERT-FROM:eve@x.y\r\n"
		"X-Kuvert: none\r\n"
		"To: d@e.f,\r\n"
		" g@e.f\r\n"
		"X-Kuverto: x\r\n"
		"X-Koverto: y\r\n"
		"..X-Kuvert-To: dotted@x.y\r\n"
		"\r\n"
		"X-Kuvert-To: body@x.y\r\n"
		".\r\n", NULL };
	dialogue_check(config_tls(), turns,
		TXN_LOG "[DATA From: a@b.c\\nX-Kuvert: none\\nTo: d@e.f,\\n g@e.f\\nX-Kuverto: x\\n"
		"X-Koverto: y\\n.X-Kuvert-To: dotted@x.y\\n\\nX-Kuvert-To: body@x.y\\n]\n"
		"[MESSAGE d@e.f]\n250 2.0.0 Ok: queued as Q1\r\n[EOF]\n");
	/* a message that is all header: the field is still dropped */
	const char *const only[] = { TXN("a@b.c"), "X-Koverto-Client: x\r\n.\r\n", NULL };
	dialogue_check(config_tls(), only,
		TXN_LOG "[MESSAGE d@e.f]\n250 2.0.0 Ok: queued as Q1\r\n[EOF]\n");
}

static void
test_message_outcomes(void)
{
	static const struct {
		KovTestHost host;
		const char *reply;
	} cases[] = {
		{ { KOV_SMTP_QUEUED, "1733.M5P7.q" }, "250 2.0.0 Ok: queued as 1733.M5P7.q\r\n" },
		{ { KOV_SMTP_QUEUED, "a b\r\n250 x" }, "250 2.0.0 Ok: queued\r\n" },
		{ { KOV_SMTP_QUEUED, NULL }, "250 2.0.0 Ok: queued\r\n" },
		{ { KOV_SMTP_TEMPFAIL, NULL }, "451 4.3.0 Temporary failure, try again later\r\n" },
		{ { KOV_SMTP_SENDER_REFUSED, NULL }, "550 5.7.1 Sender address not allowed\r\n" },
		{ { KOV_SMTP_REFUSED, NULL }, "554 5.6.0 Message refused\r\n" },
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		/* the transaction is over either way */
		const char *const turns[] = { TXN("a@b.c"), "x\r\n.\r\n", "RCPT TO:<d@e.f>\r\n", NULL };
		g_autofree char *expect = g_strdup_printf(TXN_LOG "[DATA x\\n]\n[MESSAGE d@e.f]\n%s"
		                                          "503 5.5.1 Need MAIL command\r\n[EOF]\n",
		                                          cases[i].reply);
		dialogue_check_host(config_tls(), &cases[i].host, turns, expect);
	}
}

/* max_mails (2 here) per session, then 421 at the next MAIL. */
static void
test_max_mails(void)
{
	const char *const turns[] = { TXN("a@b.c"), "x\r\n.\r\n",
		"MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n", "y\r\n.\r\n",
		"MAIL FROM:<a@b.c>\r\n", NULL };
	dialogue_check(config_tls(), turns,
		TXN_LOG "[DATA x\\n]\n[MESSAGE d@e.f]\n250 2.0.0 Ok: queued as Q1\r\n"
		MAIL_OK("a@b.c") "250 2.1.5 Ok\r\n" DATA_GO "[DATA y\\n]\n[MESSAGE d@e.f]\n"
		"250 2.0.0 Ok: queued as Q1\r\n"
		"421 4.7.0 Too many messages in one session, closing connection\r\n[CLOSE too many mails]\n");
}

/* Requests stay open until answered; nothing is consumed meanwhile. */
static void
test_request_waits(void)
{
	g_autoptr(KovSmtpSession) s = kov_smtp_session_new(config_tls());
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_NEED_INPUT);
	const char *in = "EHLO c\r\n";
	kov_smtp_session_push(s, in, strlen(in));
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_NEED_INPUT);
	in = "AUTH PLAIN " PLAIN_OK "\r\n";
	kov_smtp_session_push(s, in, strlen(in));
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_AUTH);
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_AUTH);
	g_assert_cmpstr(kov_smtp_session_auth_user(s), ==, "alice");
	g_assert_cmpstr(kov_smtp_session_auth_password(s), ==, "secret");
	g_assert_cmpint(kov_smtp_session_phase(s), ==, KOV_SMTP_PHASE_GREETED);
	kov_smtp_session_auth_done(s, "app");
	g_assert_null(kov_smtp_session_auth_password(s));
	g_assert_null(kov_smtp_session_auth_user(s));
	g_assert_cmpint(kov_smtp_session_phase(s), ==, KOV_SMTP_PHASE_AUTHENTICATED);
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_NEED_INPUT);
	in = "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n";
	kov_smtp_session_push(s, in, strlen(in));
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_MAIL);
	kov_smtp_session_mail_done(s, TRUE);
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_NEED_INPUT);
	g_assert_cmpint(kov_smtp_session_phase(s), ==, KOV_SMTP_PHASE_DATA);
	const GPtrArray *rcpts = kov_smtp_session_recipients(s);
	g_assert_cmpuint(rcpts->len, ==, 1);
	in = "x\r\n.\r\n";
	kov_smtp_session_push(s, in, strlen(in));
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_DATA);
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_MESSAGE);
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_MESSAGE);
	gsize len = 1;
	kov_smtp_session_data(s, &len);
	g_assert_cmpuint(len, ==, 0);
	kov_smtp_session_message_done(s, KOV_SMTP_QUEUED, "Q");
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_NEED_INPUT);
	g_assert_cmpint(kov_smtp_session_phase(s), ==, KOV_SMTP_PHASE_AUTHENTICATED);
	/* answering what was not asked is the host's mistake */
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*request*");
	kov_smtp_session_mail_done(s, TRUE);
	g_test_assert_expected_messages();
	/* after CLOSE, CLOSE */
	in = "QUIT\r\n";
	kov_smtp_session_push(s, in, strlen(in));
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_CLOSE);
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_CLOSE);
	g_assert_cmpstr(kov_smtp_session_reason(s), ==, "QUIT");
}

/* Big messages come out in pieces; the machine holds at most one partial
 * line of input. */
static void
test_data_chunks(void)
{
	KovSmtpConfig c = *config_tls();
	c.max_size = 10 * 1024 * 1024;
	g_autoptr(KovSmtpSession) s = kov_smtp_session_new(&c);
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_NEED_INPUT);
	const char *const setup[] = { "EHLO c\r\n", "AUTH PLAIN " PLAIN_OK "\r\n" };
	for (guint i = 0; i < 2; i++) {
		kov_smtp_session_push(s, setup[i], strlen(setup[i]));
		KovSmtpEvent ev;
		while ((ev = kov_smtp_session_step(s)) != KOV_SMTP_NEED_INPUT)
			kov_smtp_session_auth_done(s, "app");
	}
	const char *in = "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n";
	kov_smtp_session_push(s, in, strlen(in));
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_MAIL);
	kov_smtp_session_mail_done(s, TRUE);
	g_assert_cmpint(kov_smtp_session_step(s), ==, KOV_SMTP_NEED_INPUT);
	GString *big = g_string_new(NULL);
	while (big->len < 300000)
		g_string_append(big, "0123456789012345678901234567890123456789012345678901234567890123456789\r\n");
	gsize total = 0, events = 0;
	for (int round = 0; round < 3; round++) {
		kov_smtp_session_push(s, big->str, big->len - 1);   /* the last LF later */
		KovSmtpEvent ev;
		while ((ev = kov_smtp_session_step(s)) == KOV_SMTP_DATA) {
			gsize len;
			kov_smtp_session_data(s, &len);
			g_assert_cmpuint(len, <=, 65536 + 1000);
			total += len;
			events++;
		}
		g_assert_cmpint(ev, ==, KOV_SMTP_NEED_INPUT);
		kov_smtp_session_push(s, "\n", 1);
		while ((ev = kov_smtp_session_step(s)) == KOV_SMTP_DATA) {
			gsize len;
			kov_smtp_session_data(s, &len);
			total += len;
		}
		g_assert_cmpint(ev, ==, KOV_SMTP_NEED_INPUT);
	}
	kov_smtp_session_push(s, ".\r\n", 3);
	KovSmtpEvent ev;
	while ((ev = kov_smtp_session_step(s)) == KOV_SMTP_DATA) {
		gsize len;
		kov_smtp_session_data(s, &len);
		total += len;
	}
	g_assert_cmpint(ev, ==, KOV_SMTP_MESSAGE);
	g_assert_cmpuint(total, ==, 3 * (big->len - big->len / 72));
	g_assert_cmpuint(events, >=, 3 * 4);
	g_string_free(big, TRUE);
}

/* The fuzz target's seeds and finds (t/fuzz/seed-session/, regressions
 * named session-*) through its checks, under each of the eight listener
 * kinds. */
static void
test_fuzz_replay(void)
{
	const char *dirs[] = { "fuzz/seed-session", "fuzz/regressions" };
	guint replayed = 0;
	for (guint i = 0; i < G_N_ELEMENTS(dirs); i++) {
		g_autofree char *dir = g_test_build_filename(G_TEST_DIST, dirs[i], NULL);
		g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
		g_assert_nonnull(d);
		const char *name;
		while ((name = g_dir_read_name(d)) != NULL) {
			if (i == 1 && !g_str_has_prefix(name, "session-"))
				continue;
			g_autofree char *path = g_build_filename(dir, name, NULL);
			g_autofree char *bytes = NULL;
			gsize len;
			g_assert_true(g_file_get_contents(path, &bytes, &len, NULL));
			kov_fuzz_session_one((const guint8 *)bytes, len);
			if (len == 0)
				continue;
			for (guint kind = 0; kind < 8; kind++) {
				bytes[0] = (char)(((guchar)bytes[0] & ~7u) | kind);
				kov_fuzz_session_one((const guint8 *)bytes, len);
			}
			replayed++;
		}
	}
	g_assert_cmpuint(replayed, >=, 8);
	g_test_message("%u messages, %u handshakes, %u aborts", kov_fuzz_session_messages,
	               kov_fuzz_session_handshakes, kov_fuzz_session_aborts);
	g_assert_cmpuint(kov_fuzz_session_messages, >=, 10);
	g_assert_cmpuint(kov_fuzz_session_handshakes, >=, 2);
	g_assert_cmpuint(kov_fuzz_session_aborts, >=, 1);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	garbage = g_ptr_array_new_with_free_func(g_free);
	g_test_add_func("/session/client/swaks", test_swaks);
	g_test_add_func("/session/client/curl", test_curl);
	g_test_add_func("/session/client/smtplib", test_smtplib);
	g_test_add_func("/session/client/kuvert-login", test_kuvert_login);
	g_test_add_func("/session/ehlo-helo", test_ehlo_helo);
	g_test_add_func("/session/other-commands", test_other_commands);
	g_test_add_func("/session/before-tls", test_before_tls);
	g_test_add_func("/session/starttls", test_starttls);
	g_test_add_func("/session/starttls-waits", test_starttls_waits);
	g_test_add_func("/session/certificate-client", test_certificate_client);
	g_test_add_func("/session/auth", test_auth);
	g_test_add_func("/session/line-limits", test_line_limits);
	g_test_add_func("/session/foreign", test_foreign);
	g_test_add_func("/session/pipelining", test_pipelining);
	g_test_add_func("/session/mail", test_mail);
	g_test_add_func("/session/addresses", test_addresses);
	g_test_add_func("/session/mail-params", test_mail_params);
	g_test_add_func("/session/rcpt", test_rcpt);
	g_test_add_func("/session/data/sequence", test_data_sequence);
	g_test_add_func("/session/data/dots", test_data_dots);
	g_test_add_func("/session/data/bare-newlines", test_bare_newlines);
	g_test_add_func("/session/data/long-line", test_data_long_line);
	g_test_add_func("/session/data/size", test_data_size);
	g_test_add_func("/session/data/private-headers", test_data_private_headers);
	g_test_add_func("/session/data/chunks", test_data_chunks);
	g_test_add_func("/session/message-outcomes", test_message_outcomes);
	g_test_add_func("/session/max-mails", test_max_mails);
	g_test_add_func("/session/request-waits", test_request_waits);
	g_test_add_func("/session/fuzz-replay", test_fuzz_replay);
	int status = g_test_run();
	g_ptr_array_unref(garbage);
	return status;
}
