/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The SMTP submission protocol as a pure machine (session.h): bytes in,
 * reply bytes and requests out, GLib only. Lines are taken one at a time
 * from one input buffer, always in the order sent, and every check looks
 * at a line only once it is whole (or over its cap), so how the bytes
 * were cut into reads never changes a reply, except where RFC 2920 makes
 * that the point (input pending after EHLO, DATA, STARTTLS...: cut off).
 * Refusals say nothing about users, paths or errors; the reason for the
 * log is kov_smtp_session_reason. */
#include "session.h"
#include "session-test.h"

#include <string.h>

#define KOV_SMTP_COMMAND_MAX 512    /* octets incl. CRLF (RFC 5321 4.5.3.1.4) */
#define KOV_SMTP_AUTH_LINE_MAX 12288/* RFC 4954 4 */
#define KOV_SMTP_TEXT_MAX 1000      /* octets incl. CRLF (RFC 5321 4.5.3.1.6) */
#define KOV_SMTP_PATH_MAX 254       /* octets of an address, brackets not counted */
#define KOV_SMTP_LOCAL_MAX 64       /* RFC 5321 4.5.3.1.1 */
#define KOV_SMTP_DATA_CHUNK 65536   /* DATA handed out in pieces of about this */

typedef enum {
	KOV_SMTP_MODE_COMMAND,
	KOV_SMTP_MODE_DATA,
} KovSmtpMode;

typedef enum {
	KOV_SMTP_AUTH_NONE,
	KOV_SMTP_AUTH_PLAIN,       /* "334 " sent: the PLAIN response comes */
	KOV_SMTP_AUTH_LOGIN_USER,  /* "334 VXNlcm5hbWU6" sent */
	KOV_SMTP_AUTH_LOGIN_PASS,  /* "334 UGFzc3dvcmQ6" sent */
} KovSmtpAuthStep;

typedef enum {
	KOV_SMTP_REQUEST_NONE = -1,
} KovSmtpRequestNone;

struct _KovSmtpSession {
	KovSmtpConfig config;
	char *hostname;

	/* The client's bytes: buf[pos..len) is not consumed yet. Grown by
	 * hand so that no copy of an AUTH line is left in freed memory. */
	char *buf;
	gsize pos, len, cap;
	gboolean want_input;   /* _step said NEED_INPUT: _push allowed */
	gboolean discarding;   /* inside a line over its cap: skip to its CRLF */
	gboolean first_line;   /* nothing read yet (since the greeting or TLS) */

	GString *out;          /* replies not yet sent */
	GString *data;         /* message octets for the current DATA event */
	gboolean data_given;   /* ->data was handed out: empty it at the next step */

	int request;           /* an open KovSmtpEvent request, or KOV_SMTP_REQUEST_NONE */
	gboolean abort_pending;/* ABORT to give before anything else */
	gboolean closed;
	char *reason;

	KovSmtpMode mode;
	/* the session */
	char *helo;
	gboolean esmtp;
	gboolean tls_active;
	char *client;
	KovSmtpAuthStep auth_step;
	char *auth_user;
	char *auth_password;
	guint auth_failures;
	guint errors;
	guint mails;
	/* the transaction */
	char *sender;          /* reverse-path asked for or accepted */
	gboolean in_transaction;/* MAIL accepted */
	GPtrArray *recipients;
	/* the message being received */
	guint64 size;
	gboolean in_header;
	gboolean header_skip;  /* the current header field is left out */
	gboolean too_big, too_long;
	gboolean msg_aborted;  /* ABORT given for this message */
};

/* ---- small helpers ------------------------------------------------------- */

static void
kov_wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		g_free(s);
	}
}

static void
kov_smtp_reason_set(KovSmtpSession *s, const char *reason)
{
	g_free(s->reason);
	s->reason = g_strdup(reason);
}

static void G_GNUC_PRINTF(2, 3)
kov_smtp_reply(KovSmtpSession *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_string_append_vprintf(s->out, fmt, ap);
	va_end(ap);
	g_string_append(s->out, "\r\n");
}

/* The session ends: @reason for the log. A message in progress is dropped
 * first (ABORT, once). */
static void
kov_smtp_close(KovSmtpSession *s, const char *reason)
{
	if (s->closed)
		return;
	s->closed = TRUE;
	kov_smtp_reason_set(s, reason);
	g_string_truncate(s->data, 0);
	if (s->mode == KOV_SMTP_MODE_DATA && !s->msg_aborted) {
		s->msg_aborted = TRUE;
		s->abort_pending = TRUE;
	}
}

/* A 5xx reply to a bad command: counted; at max_errors the session ends. */
static void G_GNUC_PRINTF(2, 3)
kov_smtp_error(KovSmtpSession *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_string_append_vprintf(s->out, fmt, ap);
	va_end(ap);
	g_string_append(s->out, "\r\n");
	if (++s->errors >= s->config.max_errors) {
		kov_smtp_reply(s, "421 4.7.0 Too many errors, closing connection");
		kov_smtp_close(s, "too many errors");
	}
}

static void
kov_smtp_transaction_reset(KovSmtpSession *s)
{
	g_clear_pointer(&s->sender, g_free);
	s->in_transaction = FALSE;
	g_ptr_array_set_size(s->recipients, 0);
}

static void
kov_smtp_auth_reset(KovSmtpSession *s)
{
	s->auth_step = KOV_SMTP_AUTH_NONE;
	g_clear_pointer(&s->auth_user, g_free);
	g_clear_pointer(&s->auth_password, kov_wipe_free);
}

/* Is the rest of @line, from @p, only blanks? */
static gboolean
kov_smtp_blank(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == '\0';
}

/* ---- addresses (RFC 5321 4.1.2) ------------------------------------------ */

static gboolean
kov_smtp_atext(char c)
{
	return g_ascii_isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str].
 * Parsed from *@p; advanced past it. */
static gboolean
kov_smtp_parse_domain(const char **p)
{
	const char *start = *p, *q = *p;
	for (;;) {
		const char *label = q;
		if (!g_ascii_isalnum(*q))
			return FALSE;
		while (g_ascii_isalnum(*q) || *q == '-')
			q++;
		if (q[-1] == '-' || q - label > 63)
			return FALSE;
		if (*q != '.')
			break;
		q++;
	}
	if (q - start > 255)
		return FALSE;
	*p = q;
	return TRUE;
}

/* address-literal: "[" IPv4 / "IPv6:" IPv6 "]" (no General-address-literal:
 * nobody submits to one). */
static gboolean
kov_smtp_parse_literal(const char **p)
{
	if (**p != '[')
		return FALSE;
	const char *q = *p + 1, *end = strchr(q, ']');
	if (end == NULL || end - q > 64)
		return FALSE;
	g_autofree char *inner = g_strndup(q, (gsize)(end - q));
	gboolean ok;
	if (g_ascii_strncasecmp(inner, "IPv6:", 5) == 0)
		ok = strchr(inner + 5, ':') != NULL && g_hostname_is_ip_address(inner + 5);
	else
		ok = strchr(inner, ':') == NULL && g_hostname_is_ip_address(inner);
	if (!ok)
		return FALSE;
	*p = end + 1;
	return TRUE;
}

/* Mailbox = Local-part "@" (Domain / address-literal), from *@p up to the
 * closing ">" (not consumed). */
static gboolean
kov_smtp_parse_mailbox(const char **p)
{
	const char *q = *p, *local = q;
	if (*q == '"') {
		for (q++; *q != '"'; q++) {
			if (*q == '\\') {
				q++;
				if (*q < 32 || *q > 126)
					return FALSE;
			} else if (*q < 32 || *q > 126) {
				return FALSE;   /* also the end of the string */
			}
		}
		q++;
	} else {
		for (;;) {
			const char *atom = q;
			while (kov_smtp_atext(*q))
				q++;
			if (q == atom)
				return FALSE;
			if (*q != '.')
				break;
			q++;
		}
	}
	if (q - local > KOV_SMTP_LOCAL_MAX || *q != '@')
		return FALSE;
	q++;
	if (*q == '[' ? !kov_smtp_parse_literal(&q) : !kov_smtp_parse_domain(&q))
		return FALSE;
	*p = q;
	return TRUE;
}

/* A Path "<" [A-d-l ":"] Mailbox ">" (or "<>" when @null_ok, "<postmaster>"
 * when @postmaster_ok) at *@p. The bare address (transfer full) or NULL;
 * *@p is left after the ">". A source route is accepted and dropped, as
 * RFC 5321 4.1.2 and appendix C ask of a server. */
static char *
kov_smtp_parse_path(const char **p, gboolean null_ok, gboolean postmaster_ok)
{
	const char *q = *p;
	if (*q != '<')
		return NULL;
	q++;
	if (*q == '>') {
		if (!null_ok)
			return NULL;
		*p = q + 1;
		return g_strdup("");
	}
	if (postmaster_ok && g_ascii_strncasecmp(q, "postmaster>", 11) == 0) {
		*p = q + 11;
		return g_strndup(q, 10);
	}
	if (*q == '@') {   /* A-d-l = At-domain *( "," At-domain ) ":" */
		for (;;) {
			q++;
			if (*q == '[' ? !kov_smtp_parse_literal(&q) : !kov_smtp_parse_domain(&q))
				return NULL;
			if (*q == ':')
				break;
			if (*q != ',' || q[1] != '@')
				return NULL;
			q++;
		}
		q++;
	}
	const char *mailbox = q;
	if (!kov_smtp_parse_mailbox(&q) || *q != '>' || q - mailbox > KOV_SMTP_PATH_MAX)
		return NULL;
	*p = q + 1;
	return g_strndup(mailbox, (gsize)(q - mailbox));
}

/* "FROM:" / "TO:" and optional blanks (many clients send one after the
 * colon) before the path. */
static const char *
kov_smtp_after_keyword(const char *arg, const char *keyword)
{
	gsize n = strlen(keyword);
	if (g_ascii_strncasecmp(arg, keyword, n) != 0)
		return NULL;
	arg += n;
	while (*arg == ' ')
		arg++;
	return arg;
}

/* ---- base64 (RFC 4648, strict: the alphabet, padding only at the end) ---- */

static gboolean
kov_smtp_base64_valid(const char *s)
{
	gsize n = strlen(s), pad = 0;
	if (n % 4 != 0)
		return FALSE;
	for (gsize i = 0; i < n; i++) {
		char c = s[i];
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || !(g_ascii_isalnum(c) || c == '+' || c == '/'))
			return FALSE;
	}
	return pad <= 2;
}

/* The decoded bytes with a NUL after them (transfer full, wipe it), or
 * NULL when @s is not base64. */
static char *
kov_smtp_base64_decode(const char *s, gsize *len)
{
	if (!kov_smtp_base64_valid(s))
		return NULL;
	gsize full = strlen(s), n = 0;
	char *out = g_strdup(s);
	if (full > 0)
		g_base64_decode_inplace(out, &n);
	explicit_bzero(out + n, full + 1 - n);   /* the encoded tail too, and the NUL */
	*len = n;
	return out;
}

/* A name that can never log in (control characters, not UTF-8) becomes
 * "": it is checked like any wrong password, and nothing odd reaches the
 * host's log. */
static char *
kov_smtp_user_clean(const char *user, gsize len)
{
	if (!g_utf8_validate(user, (gssize)len, NULL))
		return g_strdup("");
	for (gsize i = 0; i < len; i++)
		if ((guchar)user[i] < 0x20 || user[i] == 0x7f)
			return g_strdup("");
	return g_strndup(user, len);
}

/* ---- AUTH (RFC 4954, 4616, LOGIN) ----------------------------------------- */

/* The AUTH request: user and password are set. */
static void
kov_smtp_auth_request(KovSmtpSession *s)
{
	s->auth_step = KOV_SMTP_AUTH_NONE;
	s->request = KOV_SMTP_AUTH;
}

static void
kov_smtp_auth_malformed(KovSmtpSession *s)
{
	kov_smtp_auth_reset(s);
	kov_smtp_error(s, "501 5.5.2 Cannot decode response");
}

/* authzid NUL authcid NUL passwd; an authzid other than the authcid can
 * never succeed: user "". */
static void
kov_smtp_auth_plain(KovSmtpSession *s, const char *b64)
{
	gsize n;
	char *raw = kov_smtp_base64_decode(b64, &n);
	if (raw == NULL) {
		kov_smtp_auth_malformed(s);
		return;
	}
	const char *nul1 = memchr(raw, '\0', n);
	const char *nul2 = nul1 == NULL ? NULL : memchr(nul1 + 1, '\0', n - (gsize)(nul1 + 1 - raw));
	if (nul2 == NULL || memchr(nul2 + 1, '\0', n - (gsize)(nul2 + 1 - raw)) != NULL
	    || nul2 == nul1 + 1) {
		explicit_bzero(raw, n);
		g_free(raw);
		kov_smtp_auth_malformed(s);
		return;
	}
	const char *authzid = raw, *authcid = nul1 + 1, *password = nul2 + 1;
	kov_smtp_auth_reset(s);
	if (*authzid != '\0' && strcmp(authzid, authcid) != 0)
		s->auth_user = g_strdup("");
	else
		s->auth_user = kov_smtp_user_clean(authcid, strlen(authcid));
	s->auth_password = g_strdup(password);
	explicit_bzero(raw, n);
	g_free(raw);
	kov_smtp_auth_request(s);
}

/* A LOGIN response (user or password): NULL when malformed. */
static char *
kov_smtp_auth_login_decode(KovSmtpSession *s, const char *b64)
{
	gsize n;
	char *raw = kov_smtp_base64_decode(b64, &n);
	if (raw != NULL && (n == 0 || memchr(raw, '\0', n) != NULL)) {
		explicit_bzero(raw, n);
		g_clear_pointer(&raw, g_free);
	}
	if (raw == NULL)
		kov_smtp_auth_malformed(s);
	return raw;
}

static void
kov_smtp_auth_login_user(KovSmtpSession *s, const char *b64)
{
	char *user = kov_smtp_auth_login_decode(s, b64);
	if (user == NULL)
		return;
	g_free(s->auth_user);
	s->auth_user = kov_smtp_user_clean(user, strlen(user));
	kov_wipe_free(user);
	s->auth_step = KOV_SMTP_AUTH_LOGIN_PASS;
	kov_smtp_reply(s, "334 UGFzc3dvcmQ6");
}

/* A response line to a 334. */
static void
kov_smtp_auth_response(KovSmtpSession *s, const char *line)
{
	if (strcmp(line, "*") == 0) {
		kov_smtp_auth_reset(s);
		kov_smtp_error(s, "501 5.0.0 Authentication cancelled");
		return;
	}
	switch (s->auth_step) {
	case KOV_SMTP_AUTH_PLAIN:
		kov_smtp_auth_plain(s, line);
		break;
	case KOV_SMTP_AUTH_LOGIN_USER:
		kov_smtp_auth_login_user(s, line);
		break;
	case KOV_SMTP_AUTH_LOGIN_PASS: {
		char *password = kov_smtp_auth_login_decode(s, line);
		if (password != NULL) {
			s->auth_password = password;
			kov_smtp_auth_request(s);
		}
		break;
	}
	case KOV_SMTP_AUTH_NONE:
		g_assert_not_reached();
	}
}

static gboolean
kov_smtp_auth_offered(const KovSmtpSession *s)
{
	return (s->tls_active || s->config.auth_plaintext) && s->client == NULL;
}

static void
kov_smtp_cmd_auth(KovSmtpSession *s, const char *arg)
{
	if (!s->tls_active && !s->config.auth_plaintext) {
		kov_smtp_error(s, "538 5.7.11 Encryption required for requested authentication mechanism");
		return;
	}
	if (!s->esmtp || s->client != NULL || s->in_transaction) {
		kov_smtp_error(s, "503 5.5.1 Bad sequence of commands");
		return;
	}
	g_auto(GStrv) words = g_strsplit(arg, " ", -1);
	guint n = g_strv_length(words);
	if (n == 0 || n > 2 || *words[0] == '\0' || (n == 2 && *words[1] == '\0')) {
		kov_smtp_error(s, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
		return;
	}
	const char *initial = n == 2 ? words[1] : NULL;
	if (g_ascii_strcasecmp(words[0], "PLAIN") == 0) {
		s->auth_step = KOV_SMTP_AUTH_PLAIN;
		if (initial == NULL)
			kov_smtp_reply(s, "334 ");
		else if (strcmp(initial, "=") == 0)
			kov_smtp_auth_plain(s, "");
		else
			kov_smtp_auth_response(s, initial);
	} else if (g_ascii_strcasecmp(words[0], "LOGIN") == 0) {
		s->auth_step = KOV_SMTP_AUTH_LOGIN_USER;
		if (initial == NULL)
			kov_smtp_reply(s, "334 VXNlcm5hbWU6");
		else
			kov_smtp_auth_response(s, initial);
	} else {
		kov_smtp_error(s, "504 5.5.4 Unrecognized authentication type");
	}
	if (initial != NULL)
		explicit_bzero(words[1], strlen(words[1]));
}

/* ---- commands --------------------------------------------------------------- */

/* The name a client gives in EHLO/HELO goes into Received and the log:
 * one word of letters, digits and ".-_:[]" (a domain or an address
 * literal). */
static gboolean
kov_smtp_helo_valid(const char *arg)
{
	gsize n = strlen(arg);
	if (n == 0 || n > 255)
		return FALSE;
	for (const char *p = arg; *p != '\0'; p++)
		if (!g_ascii_isalnum(*p) && strchr(".-_:[]", *p) == NULL)
			return FALSE;
	return TRUE;
}

static void
kov_smtp_cmd_helo(KovSmtpSession *s, const char *arg, gboolean esmtp)
{
	if (!kov_smtp_helo_valid(arg)) {
		kov_smtp_error(s, "501 5.5.4 Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
		return;
	}
	kov_smtp_transaction_reset(s);   /* RFC 5321 4.1.4 */
	g_free(s->helo);
	s->helo = g_strdup(arg);
	s->esmtp = esmtp;
	if (!esmtp) {
		kov_smtp_reply(s, "250 %s", s->hostname);
		return;
	}
	GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(lines, g_strdup(s->hostname));
	g_ptr_array_add(lines, g_strdup("PIPELINING"));
	g_ptr_array_add(lines, g_strdup_printf("SIZE %" G_GUINT64_FORMAT, s->config.max_size));
	g_ptr_array_add(lines, g_strdup("8BITMIME"));
	g_ptr_array_add(lines, g_strdup("ENHANCEDSTATUSCODES"));
	if (s->config.tls_offered && !s->tls_active)
		g_ptr_array_add(lines, g_strdup("STARTTLS"));
	if (kov_smtp_auth_offered(s))
		g_ptr_array_add(lines, g_strdup("AUTH PLAIN LOGIN"));
	for (guint i = 0; i < lines->len; i++)
		kov_smtp_reply(s, "250%c%s", i + 1 < lines->len ? '-' : ' ',
		               (const char *)lines->pdata[i]);
	g_ptr_array_unref(lines);
}

/* MAIL's parameters (RFC 1870 SIZE, 6152 BODY, 4954 AUTH): FALSE when a
 * reply was given. */
static gboolean
kov_smtp_mail_params(KovSmtpSession *s, const char *p)
{
	g_auto(GStrv) params = g_strsplit(p, " ", -1);
	for (char **param = params; *param != NULL; param++) {
		if (**param == '\0')
			continue;
		char *eq = strchr(*param, '=');
		g_autofree char *key = eq ? g_strndup(*param, (gsize)(eq - *param)) : g_strdup(*param);
		const char *value = eq ? eq + 1 : NULL;
		if (g_ascii_strcasecmp(key, "SIZE") == 0) {
			guint64 size = 0;
			if (value == NULL || *value == '\0' || strlen(value) > 20
			    || !g_ascii_string_to_unsigned(value, 10, 0, G_MAXUINT64, &size, NULL)) {
				kov_smtp_error(s, "501 5.5.4 Bad SIZE parameter");
				return FALSE;
			}
			if (size > s->config.max_size) {
				kov_smtp_reply(s, "552 5.3.4 Message size exceeds fixed limit");
				return FALSE;
			}
		} else if (g_ascii_strcasecmp(key, "BODY") == 0) {
			if (value == NULL || (g_ascii_strcasecmp(value, "7BIT") != 0
			                      && g_ascii_strcasecmp(value, "8BITMIME") != 0)) {
				kov_smtp_error(s, "501 5.5.4 Bad BODY parameter");
				return FALSE;
			}
		} else if (g_ascii_strcasecmp(key, "AUTH") == 0 && value != NULL) {
			/* RFC 4954 5: the server may ignore it; koverto does. */
		} else {
			kov_smtp_error(s, "555 5.5.4 Unsupported parameter");
			return FALSE;
		}
	}
	return TRUE;
}

/* Before TLS, when TLS is to come: only EHLO/HELO/STARTTLS/NOOP/RSET/QUIT. */
static gboolean
kov_smtp_tls_required(const KovSmtpSession *s)
{
	return s->config.tls_offered && !s->tls_active && !s->config.auth_plaintext;
}

static void
kov_smtp_cmd_mail(KovSmtpSession *s, const char *arg)
{
	if (kov_smtp_tls_required(s)) {
		kov_smtp_error(s, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (s->helo == NULL) {
		kov_smtp_error(s, "503 5.5.1 Send EHLO first");
		return;
	}
	if (s->client == NULL) {
		kov_smtp_error(s, "530 5.7.0 Authentication required");
		return;
	}
	if (s->in_transaction) {
		kov_smtp_error(s, "503 5.5.1 Nested MAIL command");
		return;
	}
	if (s->mails >= s->config.max_mails) {
		kov_smtp_reply(s, "421 4.7.0 Too many messages in one session, closing connection");
		kov_smtp_close(s, "too many mails");
		return;
	}
	const char *p = kov_smtp_after_keyword(arg, "FROM:");
	g_autofree char *sender = p ? kov_smtp_parse_path(&p, TRUE, FALSE) : NULL;
	if (sender == NULL || (*p != '\0' && *p != ' ')) {
		kov_smtp_error(s, "501 5.1.7 Bad sender address syntax");
		return;
	}
	if (!kov_smtp_mail_params(s, p))
		return;
	g_free(s->sender);
	s->sender = g_steal_pointer(&sender);
	s->request = KOV_SMTP_MAIL;
}

static void
kov_smtp_cmd_rcpt(KovSmtpSession *s, const char *arg)
{
	if (kov_smtp_tls_required(s)) {
		kov_smtp_error(s, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (!s->in_transaction) {
		kov_smtp_error(s, "503 5.5.1 Need MAIL command");
		return;
	}
	const char *p = kov_smtp_after_keyword(arg, "TO:");
	g_autofree char *rcpt = p ? kov_smtp_parse_path(&p, FALSE, TRUE) : NULL;
	if (rcpt == NULL || (*p != '\0' && *p != ' ')) {
		kov_smtp_error(s, "501 5.1.3 Bad recipient address syntax");
		return;
	}
	if (!kov_smtp_blank(p)) {
		kov_smtp_error(s, "555 5.5.4 Unsupported parameter");
		return;
	}
	if (s->recipients->len >= s->config.max_recipients) {
		kov_smtp_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	g_ptr_array_add(s->recipients, g_steal_pointer(&rcpt));
	kov_smtp_reply(s, "250 2.1.5 Ok");
}

static void
kov_smtp_cmd_data(KovSmtpSession *s, const char *arg)
{
	if (kov_smtp_tls_required(s)) {
		kov_smtp_error(s, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (*arg != '\0') {
		kov_smtp_error(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (!s->in_transaction) {
		kov_smtp_error(s, "503 5.5.1 Need MAIL command");
		return;
	}
	if (s->recipients->len == 0) {
		kov_smtp_error(s, "554 5.5.1 No valid recipients");
		return;
	}
	kov_smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	s->mails++;
	s->mode = KOV_SMTP_MODE_DATA;
	s->size = 0;
	s->in_header = TRUE;
	s->header_skip = TRUE;   /* a continuation line before any field goes too */
	s->too_big = s->too_long = s->msg_aborted = FALSE;
}

static void
kov_smtp_cmd_starttls(KovSmtpSession *s, const char *arg)
{
	if (s->tls_active) {
		kov_smtp_error(s, "503 5.5.1 TLS already active");
		return;
	}
	if (!s->config.tls_offered) {
		kov_smtp_error(s, "502 5.5.1 Command not implemented");
		return;
	}
	if (*arg != '\0') {
		kov_smtp_error(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	kov_smtp_reply(s, "220 2.0.0 Ready to start TLS");
	s->request = KOV_SMTP_STARTTLS;
}

/* Commands after which the client must wait for the reply (RFC 2920 3.1):
 * input already there when their line is processed ends the session. */
static const char *const kov_smtp_last_in_group[] = {
	"EHLO", "HELO", "DATA", "STARTTLS", "AUTH", "QUIT", "NOOP",
};

/* One command line (CRLF removed, NUL-free). */
static void
kov_smtp_command(KovSmtpSession *s, char *line, gboolean more_input)
{
	g_strchomp(line);   /* trailing blanks, as most servers forgive them */
	char *space = strchr(line, ' ');
	g_autofree char *verb = space ? g_strndup(line, (gsize)(space - line)) : g_strdup(line);
	const char *arg = space ? space + 1 : "";
	for (guint i = 0; i < G_N_ELEMENTS(kov_smtp_last_in_group); i++) {
		if (g_ascii_strcasecmp(verb, kov_smtp_last_in_group[i]) != 0)
			continue;
		if (g_ascii_strcasecmp(verb, "QUIT") == 0)
			break;
		if (more_input) {
			g_autofree char *reason = g_strdup_printf("command pipelined after %s",
			                                          kov_smtp_last_in_group[i]);
			kov_smtp_reply(s, "554 5.5.0 Protocol synchronization error");
			kov_smtp_close(s, reason);
			return;
		}
	}

	if (g_ascii_strcasecmp(verb, "EHLO") == 0 || g_ascii_strcasecmp(verb, "HELO") == 0) {
		kov_smtp_cmd_helo(s, arg, g_ascii_strcasecmp(verb, "EHLO") == 0);
	} else if (g_ascii_strcasecmp(verb, "QUIT") == 0) {
		kov_smtp_reply(s, "221 2.0.0 Bye");
		kov_smtp_close(s, "QUIT");
	} else if (g_ascii_strcasecmp(verb, "NOOP") == 0) {
		kov_smtp_reply(s, "250 2.0.0 Ok");
	} else if (g_ascii_strcasecmp(verb, "RSET") == 0) {
		if (*arg != '\0') {
			kov_smtp_error(s, "501 5.5.4 Syntax: RSET");
			return;
		}
		kov_smtp_transaction_reset(s);
		kov_smtp_reply(s, "250 2.0.0 Ok");
	} else if (g_ascii_strcasecmp(verb, "STARTTLS") == 0) {
		kov_smtp_cmd_starttls(s, arg);
	} else if (g_ascii_strcasecmp(verb, "AUTH") == 0) {
		kov_smtp_cmd_auth(s, arg);
	} else if (g_ascii_strcasecmp(verb, "MAIL") == 0) {
		kov_smtp_cmd_mail(s, arg);
	} else if (g_ascii_strcasecmp(verb, "RCPT") == 0) {
		kov_smtp_cmd_rcpt(s, arg);
	} else if (g_ascii_strcasecmp(verb, "DATA") == 0) {
		kov_smtp_cmd_data(s, arg);
	} else if (kov_smtp_tls_required(s)) {
		kov_smtp_error(s, "530 5.7.0 Must issue a STARTTLS command first");
	} else if (g_ascii_strcasecmp(verb, "VRFY") == 0) {
		kov_smtp_reply(s, "252 2.5.0 Cannot VRFY user, but will accept message");
	} else {
		static const char *const known[] = { "EXPN", "HELP", "TURN", "ETRN", "BDAT",
		                                     "SEND", "SOML", "SAML", "ATRN" };
		for (guint i = 0; i < G_N_ELEMENTS(known); i++)
			if (g_ascii_strcasecmp(verb, known[i]) == 0) {
				kov_smtp_error(s, "502 5.5.1 Command not implemented");
				return;
			}
		kov_smtp_error(s, "500 5.5.2 Syntax error, command unrecognized");
	}
}

/* ---- DATA ---------------------------------------------------------------- */

static gboolean
kov_smtp_private_field(const char *line, gsize len)
{
	return (len >= 9 && g_ascii_strncasecmp(line, "X-Kuvert-", 9) == 0)
	       || (len >= 10 && g_ascii_strncasecmp(line, "X-Koverto-", 10) == 0);
}

/* The end of a message ("." alone): its reply or the MESSAGE request. */
static void
kov_smtp_data_end(KovSmtpSession *s)
{
	s->mode = KOV_SMTP_MODE_COMMAND;
	if (s->too_long) {
		kov_smtp_transaction_reset(s);
		kov_smtp_error(s, "500 5.5.6 Line too long");
	} else if (s->too_big) {
		kov_smtp_transaction_reset(s);
		kov_smtp_reply(s, "552 5.3.4 Message size exceeds fixed limit");
	} else {
		s->request = KOV_SMTP_MESSAGE;
	}
}

/* Drop the message being received: ABORT, once. */
static void
kov_smtp_data_abort(KovSmtpSession *s, const char *reason)
{
	g_string_truncate(s->data, 0);
	if (!s->msg_aborted) {
		s->msg_aborted = TRUE;
		s->abort_pending = TRUE;
		kov_smtp_reason_set(s, reason);
	}
}

/* One text line as sent (CRLF removed, @len octets, dot-stuffed). */
static void
kov_smtp_data_line(KovSmtpSession *s, const char *line, gsize len)
{
	if (len == 1 && line[0] == '.') {
		kov_smtp_data_end(s);
		return;
	}
	if (len > 0 && line[0] == '.') {
		line++;
		len--;
	}
	s->size += len + 2;
	if (s->size > s->config.max_size && !s->too_big) {
		s->too_big = TRUE;
		kov_smtp_data_abort(s, "message too big");
	}
	if (s->msg_aborted)
		return;
	if (s->in_header) {
		if (len == 0) {
			s->in_header = FALSE;
		} else if (line[0] == ' ' || line[0] == '\t') {
			/* a continuation: goes with its field (none yet: dropped) */
			if (s->header_skip)
				return;
		} else {
			s->header_skip = kov_smtp_private_field(line, len);
			if (s->header_skip)
				return;
		}
	}
	g_string_append_len(s->data, line, (gssize)len);
	g_string_append_c(s->data, '\n');
}

/* ---- the line reader ------------------------------------------------------- */

typedef enum {
	KOV_SMTP_LINE_NONE,     /* no whole line yet (a long line's middle may be skipped) */
	KOV_SMTP_LINE_OK,       /* [*start, *start + *len) then CRLF, consumed */
	KOV_SMTP_LINE_BARE_LF,
	KOV_SMTP_LINE_BARE_CR,
	KOV_SMTP_LINE_TOO_LONG, /* the first max - 1 octets of a line over max, consumed:
	                         * the rest is skipped up to its CRLF */
	KOV_SMTP_LINE_LONG_END, /* the CRLF ending a line that was too long, consumed */
} KovSmtpLine;

/* The longest line allowed at buf[pos..] incl. CRLF: 12288 for AUTH and
 * its responses, 1000 in DATA, 512 else. Decided by the line's first
 * octets, so the same however the line arrives. */
static gsize
kov_smtp_line_max(const KovSmtpSession *s)
{
	if (s->mode == KOV_SMTP_MODE_DATA)
		return KOV_SMTP_TEXT_MAX;
	if (s->auth_step != KOV_SMTP_AUTH_NONE)
		return KOV_SMTP_AUTH_LINE_MAX;
	if (s->len - s->pos >= 5 && g_ascii_strncasecmp(s->buf + s->pos, "AUTH ", 5) == 0)
		return KOV_SMTP_AUTH_LINE_MAX;
	return KOV_SMTP_COMMAND_MAX;
}

/* The next line. A line is looked at only up to its cap (max - 1 octets
 * before its CRLF must start), and the middle of a long one is skipped
 * as it comes: what the reader says depends on the octets alone, never
 * on where the reads ended. */
static KovSmtpLine
kov_smtp_line_next(KovSmtpSession *s, const char **start, gsize *len)
{
	const char *b = s->buf + s->pos, *end = s->buf + s->len;
	gsize limit = s->discarding ? G_MAXSIZE : kov_smtp_line_max(s) - 2;
	const char *p = b;
	/* a CR or LF at index <= limit: a line of at most limit octets */
	while (p < end && (gsize)(p - b) <= limit && *p != '\r' && *p != '\n')
		p++;
	if (p < end && (gsize)(p - b) <= limit) {
		if (*p == '\n')
			return KOV_SMTP_LINE_BARE_LF;
		if (p + 1 == end) {   /* a CR: its LF may come */
			if (s->discarding)
				s->pos += (gsize)(p - b);
			return KOV_SMTP_LINE_NONE;
		}
		if (p[1] != '\n')
			return KOV_SMTP_LINE_BARE_CR;
		gsize n = (gsize)(p - b);
		s->pos += n + 2;
		if (s->discarding) {
			s->discarding = FALSE;
			return KOV_SMTP_LINE_LONG_END;
		}
		*start = b;
		*len = n;
		return KOV_SMTP_LINE_OK;
	}
	if (s->discarding) {
		s->pos = s->len;
		return KOV_SMTP_LINE_NONE;
	}
	if (p < end) {   /* limit + 1 octets and no end: too long */
		*start = b;
		*len = limit + 1;
		s->pos += limit + 1;
		s->discarding = TRUE;
		return KOV_SMTP_LINE_TOO_LONG;
	}
	return KOV_SMTP_LINE_NONE;
}

/* Verbs of other protocols and "Name:" header lines: not SMTP at all (cf.
 * Postfix's smtpd_forbidden_commands). @line: @len octets, not a string. */
static gboolean
kov_smtp_foreign(const char *line, gsize len)
{
	static const char *const http[] = { "GET", "POST", "CONNECT", "HEAD", "PUT" };
	gsize n = 0;
	while (n < len && line[n] != ' ')
		n++;
	if (memchr(line, ':', n) != NULL)
		return TRUE;
	for (guint i = 0; i < G_N_ELEMENTS(http); i++)
		if (n == strlen(http[i]) && g_ascii_strncasecmp(line, http[i], n) == 0)
			return TRUE;
	return FALSE;
}

/* A command line of @len octets at @line, CRLF removed. */
static void
kov_smtp_command_line(KovSmtpSession *s, const char *start, gsize len)
{
	gboolean more = s->pos < s->len;
	gboolean first = s->first_line;
	s->first_line = FALSE;
	if (s->auth_step != KOV_SMTP_AUTH_NONE) {   /* a response to 334 */
		if (more) {
			kov_smtp_auth_reset(s);
			kov_smtp_reply(s, "554 5.5.0 Protocol synchronization error");
			kov_smtp_close(s, "command pipelined after AUTH");
			return;
		}
		if (memchr(start, '\0', len) != NULL) {
			kov_smtp_auth_malformed(s);
			return;
		}
		g_autofree char *line = g_strndup(start, len);
		kov_smtp_auth_response(s, line);
		explicit_bzero(line, len);
		return;
	}
	if ((first && (len == 0 || !g_ascii_isalpha(start[0]))) || kov_smtp_foreign(start, len)) {
		kov_smtp_close(s, "non-SMTP input");
		return;
	}
	if (memchr(start, '\0', len) != NULL) {
		kov_smtp_error(s, "500 5.5.2 Syntax error, command unrecognized");
		return;
	}
	g_autofree char *line = g_strndup(start, len);
	kov_smtp_command(s, line, more);
	explicit_bzero(line, len);
}

/* Take one line (or what there is of a long one) from the input. FALSE:
 * nothing could be taken, more input is needed. */
static gboolean
kov_smtp_take(KovSmtpSession *s)
{
	if (s->pos == s->len)
		return FALSE;
	gboolean data = s->mode == KOV_SMTP_MODE_DATA;
	/* the very first octet tells a TLS handshake or binary junk */
	if (!data && s->first_line && !s->discarding && s->pos < s->len
	    && s->auth_step == KOV_SMTP_AUTH_NONE && !g_ascii_isalpha(s->buf[s->pos])) {
		kov_smtp_close(s, "non-SMTP input");
		return TRUE;
	}
	const char *start = NULL;
	gsize len = 0;
	gsize before = s->pos;
	KovSmtpLine r = kov_smtp_line_next(s, &start, &len);
	switch (r) {
	case KOV_SMTP_LINE_NONE:
		return s->pos != before;
	case KOV_SMTP_LINE_BARE_LF:
	case KOV_SMTP_LINE_BARE_CR: {
		gboolean lf = r == KOV_SMTP_LINE_BARE_LF;
		g_autofree char *reason = g_strdup_printf("bare %s in %s", lf ? "LF" : "CR",
		                                          data ? "DATA" : "command");
		explicit_bzero(s->buf + s->pos, s->len - s->pos);
		s->pos = s->len;
		kov_smtp_reply(s, "521 5.5.2 Bare CR or LF received, closing connection");
		kov_smtp_close(s, reason);
		return TRUE;
	}
	case KOV_SMTP_LINE_TOO_LONG:
		if (data) {
			s->too_long = TRUE;
			kov_smtp_data_abort(s, "line too long in DATA");
		} else if (s->auth_step == KOV_SMTP_AUTH_NONE && kov_smtp_foreign(start, len)) {
			kov_smtp_close(s, "non-SMTP input");
		}
		explicit_bzero(s->buf + before, s->pos - before);
		return TRUE;
	case KOV_SMTP_LINE_LONG_END:
		if (!data) {
			if (s->auth_step != KOV_SMTP_AUTH_NONE)
				kov_smtp_auth_reset(s);
			s->first_line = FALSE;
			kov_smtp_error(s, "500 5.5.6 Line too long");
		}
		return TRUE;
	case KOV_SMTP_LINE_OK:
		break;
	}
	if (data)
		kov_smtp_data_line(s, start, len);
	else
		kov_smtp_command_line(s, start, len);
	explicit_bzero(s->buf + before, s->pos - before);
	return TRUE;
}

/* ---- the public face ------------------------------------------------------- */

KovSmtpSession *
kov_smtp_session_new(const KovSmtpConfig *config)
{
	g_return_val_if_fail(config != NULL, NULL);
	KovSmtpSession *s = g_new0(KovSmtpSession, 1);
	s->config = *config;
	s->hostname = g_strdup(config->hostname != NULL && *config->hostname != '\0'
	                       ? config->hostname : "localhost");
	s->config.hostname = s->hostname;
	/* a limit of 0 is a limit nobody meant: the safe defaults */
	if (s->config.max_size == 0)
		s->config.max_size = 10 * 1024 * 1024;
	if (s->config.max_recipients == 0)
		s->config.max_recipients = 100;
	if (s->config.max_mails == 0)
		s->config.max_mails = 100;
	if (s->config.max_auth_failures == 0)
		s->config.max_auth_failures = 3;
	if (s->config.max_errors == 0)
		s->config.max_errors = 3;
	s->tls_active = config->tls_active;
	s->first_line = TRUE;
	s->out = g_string_new(NULL);
	s->data = g_string_new(NULL);
	s->recipients = g_ptr_array_new_with_free_func(g_free);
	s->request = KOV_SMTP_REQUEST_NONE;
	s->want_input = FALSE;
	kov_smtp_reply(s, "220 %s ESMTP", s->hostname);
	return s;
}

void
kov_smtp_session_free(KovSmtpSession *s)
{
	if (s == NULL)
		return;
	if (s->buf != NULL) {
		explicit_bzero(s->buf, s->cap);
		g_free(s->buf);
	}
	kov_smtp_auth_reset(s);
	g_string_free(s->out, TRUE);
	g_string_free(s->data, TRUE);
	g_ptr_array_unref(s->recipients);
	g_free(s->sender);
	g_free(s->helo);
	g_free(s->client);
	g_free(s->reason);
	g_free(s->hostname);
	g_free(s);
}

void
kov_smtp_session_push(KovSmtpSession *s, const char *buf, gsize len)
{
	g_return_if_fail(s != NULL && (buf != NULL || len == 0));
	g_return_if_fail(s->want_input);
	/* keep only the partial line; wipe what moved */
	gsize rest = s->len - s->pos;
	if (s->pos > 0) {
		memmove(s->buf, s->buf + s->pos, rest);
		explicit_bzero(s->buf + rest, s->len - rest);
		s->pos = 0;
		s->len = rest;
	}
	if (rest + len > s->cap) {
		gsize cap = MAX(rest + len, 2 * s->cap);
		char *grown = g_malloc(cap);
		if (rest > 0)
			memcpy(grown, s->buf, rest);
		if (s->buf != NULL) {
			explicit_bzero(s->buf, s->cap);
			g_free(s->buf);
		}
		s->buf = grown;
		s->cap = cap;
	}
	if (len > 0)
		memcpy(s->buf + s->len, buf, len);
	s->len += len;
	s->want_input = FALSE;
}

KovSmtpEvent
kov_smtp_session_step(KovSmtpSession *s)
{
	g_return_val_if_fail(s != NULL, KOV_SMTP_CLOSE);
	s->want_input = FALSE;
	if (s->data_given) {
		g_string_truncate(s->data, 0);
		s->data_given = FALSE;
	}
	for (;;) {
		if (s->abort_pending) {
			s->abort_pending = FALSE;
			g_string_truncate(s->data, 0);
			return KOV_SMTP_ABORT;
		}
		if (s->data->len > 0 && (s->request != KOV_SMTP_REQUEST_NONE
		                         || s->data->len >= KOV_SMTP_DATA_CHUNK)) {
			s->data_given = TRUE;
			return KOV_SMTP_DATA;
		}
		if (s->closed)
			return KOV_SMTP_CLOSE;
		if (s->request != KOV_SMTP_REQUEST_NONE)
			return (KovSmtpEvent)s->request;
		if (!kov_smtp_take(s)) {
			if (s->data->len > 0) {
				s->data_given = TRUE;
				return KOV_SMTP_DATA;
			}
			s->want_input = TRUE;
			return KOV_SMTP_NEED_INPUT;
		}
	}
}

const char *
kov_smtp_session_output(const KovSmtpSession *s, gsize *len)
{
	g_return_val_if_fail(s != NULL, NULL);
	if (len != NULL)
		*len = s->out->len;
	return s->out->str;
}

void
kov_smtp_session_output_clear(KovSmtpSession *s)
{
	g_return_if_fail(s != NULL);
	g_string_truncate(s->out, 0);
}

void
kov_smtp_session_tls_started(KovSmtpSession *s)
{
	g_return_if_fail(s != NULL && s->request == KOV_SMTP_STARTTLS);
	s->request = KOV_SMTP_REQUEST_NONE;
	s->tls_active = TRUE;
	s->first_line = TRUE;
	s->discarding = FALSE;
	s->pos = s->len;   /* nothing was pending (else CLOSE), but be sure */
	g_clear_pointer(&s->helo, g_free);
	s->esmtp = FALSE;
	g_clear_pointer(&s->client, g_free);
	kov_smtp_auth_reset(s);
	kov_smtp_transaction_reset(s);
}

const char *
kov_smtp_session_auth_user(const KovSmtpSession *s)
{
	g_return_val_if_fail(s != NULL, NULL);
	return s->auth_user;
}

const char *
kov_smtp_session_auth_password(const KovSmtpSession *s)
{
	g_return_val_if_fail(s != NULL, NULL);
	return s->auth_password;
}

void
kov_smtp_session_auth_done(KovSmtpSession *s, const char *client)
{
	g_return_if_fail(s != NULL && s->request == KOV_SMTP_AUTH);
	s->request = KOV_SMTP_REQUEST_NONE;
	kov_smtp_auth_reset(s);
	if (client != NULL) {
		g_free(s->client);
		s->client = g_strdup(client);
		kov_smtp_reply(s, "235 2.7.0 Authentication successful");
		return;
	}
	kov_smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
	if (++s->auth_failures >= s->config.max_auth_failures) {
		g_autofree char *reason = g_strdup_printf("%u failed AUTH", s->auth_failures);
		kov_smtp_reply(s, "421 4.7.0 Too many failed authentications, closing connection");
		kov_smtp_close(s, reason);
	}
}

void
kov_smtp_session_set_client(KovSmtpSession *s, const char *client)
{
	g_return_if_fail(s != NULL && client != NULL);
	g_free(s->client);
	s->client = g_strdup(client);
}

const char *
kov_smtp_session_client(const KovSmtpSession *s)
{
	g_return_val_if_fail(s != NULL, NULL);
	return s->client;
}

const char *
kov_smtp_session_sender(const KovSmtpSession *s)
{
	g_return_val_if_fail(s != NULL, NULL);
	return s->sender;
}

void
kov_smtp_session_mail_done(KovSmtpSession *s, gboolean allowed)
{
	g_return_if_fail(s != NULL && s->request == KOV_SMTP_MAIL);
	s->request = KOV_SMTP_REQUEST_NONE;
	if (allowed) {
		s->in_transaction = TRUE;
		kov_smtp_reply(s, "250 2.1.0 Ok");
	} else {
		g_clear_pointer(&s->sender, g_free);
		kov_smtp_reply(s, "550 5.7.1 Sender address not allowed");
	}
}

const GPtrArray *
kov_smtp_session_recipients(const KovSmtpSession *s)
{
	g_return_val_if_fail(s != NULL, NULL);
	return s->recipients;
}

const char *
kov_smtp_session_helo(const KovSmtpSession *s)
{
	g_return_val_if_fail(s != NULL, NULL);
	return s->helo;
}

const char *
kov_smtp_session_data(const KovSmtpSession *s, gsize *len)
{
	g_return_val_if_fail(s != NULL, NULL);
	if (len != NULL)
		*len = s->data->len;
	return s->data->str;
}

/* The id goes into the reply: only if it is a plain token. */
static gboolean
kov_smtp_id_valid(const char *id)
{
	if (id == NULL || *id == '\0' || strlen(id) > 128)
		return FALSE;
	for (const char *p = id; *p != '\0'; p++)
		if (!g_ascii_isalnum(*p) && strchr("._-", *p) == NULL)
			return FALSE;
	return TRUE;
}

void
kov_smtp_session_message_done(KovSmtpSession *s, KovSmtpOutcome outcome, const char *id)
{
	g_return_if_fail(s != NULL && s->request == KOV_SMTP_MESSAGE);
	s->request = KOV_SMTP_REQUEST_NONE;
	switch (outcome) {
	case KOV_SMTP_QUEUED:
		if (kov_smtp_id_valid(id))
			kov_smtp_reply(s, "250 2.0.0 Ok: queued as %s", id);
		else
			kov_smtp_reply(s, "250 2.0.0 Ok: queued");
		break;
	case KOV_SMTP_TEMPFAIL:
		kov_smtp_reply(s, "451 4.3.0 Temporary failure, try again later");
		break;
	case KOV_SMTP_SENDER_REFUSED:
		kov_smtp_reply(s, "550 5.7.1 Sender address not allowed");
		break;
	case KOV_SMTP_REFUSED:
	default:
		kov_smtp_reply(s, "554 5.6.0 Message refused");
		break;
	}
	kov_smtp_transaction_reset(s);
}

KovSmtpPhase
kov_smtp_session_phase(const KovSmtpSession *s)
{
	g_return_val_if_fail(s != NULL, KOV_SMTP_PHASE_GREETED);
	if (s->mode == KOV_SMTP_MODE_DATA)
		return KOV_SMTP_PHASE_DATA;
	return s->client != NULL ? KOV_SMTP_PHASE_AUTHENTICATED : KOV_SMTP_PHASE_GREETED;
}

const char *
kov_smtp_session_reason(const KovSmtpSession *s)
{
	g_return_val_if_fail(s != NULL, NULL);
	return s->reason != NULL ? s->reason : "";
}

gsize
kov_smtp_session_pending(const KovSmtpSession *s)
{
	g_return_val_if_fail(s != NULL, 0);
	return s->len - s->pos;
}
