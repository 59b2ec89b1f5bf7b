/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The SMTP transport: one reused libcurl easy handle (so one connection
 * serves many copies). libcurl reports per-recipient replies only on its
 * debug stream, so that stream goes through the reply parser
 * (smtp-reply.c) and is filed here into MAIL/RCPT/DATA replies, and what
 * we send is filtered of AUTH credentials before a line of it reaches the
 * debug log. Bodies are streamed from the caller's fd (pread from offset
 * 0), never read into memory. A transport configuration that cannot work
 * (no STARTTLS or no AUTH offered, a refused login, an unverifiable
 * certificate) is told apart from temporary trouble here, where curl's
 * codes and the EHLO reply are known: it is logged at error level naming
 * the option, and the mail is deferred. */
#include "smtp.h"
#include "curl-autoptr.h"
#include "error.h"
#include "log.h"
#include "passphrase.h"
#include "smtp-reply.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The option got its proper spelling in 8.2; 7.88 only has three L's. Both
 * are enum values, not macros, so the version decides. */
#if LIBCURL_VERSION_NUM >= 0x080200
#define KOV_CURLOPT_RCPT_ALLOWFAILS CURLOPT_MAIL_RCPT_ALLOWFAILS
#else
#define KOV_CURLOPT_RCPT_ALLOWFAILS CURLOPT_MAIL_RCPT_ALLLOWFAILS
#endif

#define KOV_SMTP_CONNECT_TIMEOUT 30L   /* seconds */
/* RFC 5321 4.5.3.2 allows servers minutes per reply (10 for the end of
 * DATA); five minutes without a reply or a byte moved is a dead peer. */
#define KOV_SMTP_REPLY_TIMEOUT   300L
#define KOV_SMTP_STALL_TIME      300L

typedef enum {
	KOV_SMTP_CONNECT,   /* greeting */
	KOV_SMTP_EHLO,
	KOV_SMTP_STARTTLS,
	KOV_SMTP_AUTH,
	KOV_SMTP_MAIL,
	KOV_SMTP_RCPT,
	KOV_SMTP_DATA,
	KOV_SMTP_OTHER,
} KovSmtpStage;

/* What the debug stream told about one transaction. */
typedef struct {
	KovSmtpStage stage;  /* the command the next reply answers */
	gboolean in_auth;    /* AUTH sent, final reply not yet seen: hide what we send */
	KovSmtpReplyParser *parser;  /* the server's bytes into lines and replies */
	KovSmtpReply last;   /* the last complete reply to anything */
	KovSmtpReply mail;
	GArray *rcpt;        /* KovSmtpReply per RCPT, in the order sent */
	KovSmtpReply data;   /* the final reply to DATA (never the 354) */
	/* Of the connection, not the transaction: set from the last EHLO and
	 * AUTH, kept while libcurl reuses the connection, reset by a new EHLO. */
	gboolean offers_auth;
	gboolean offers_starttls;
	gboolean authenticated;
} KovSmtpDialog;

/* Where libcurl's read callback takes the body from. */
typedef struct {
	int fd;
	off_t offset;
	gboolean seekable;   /* pread; FALSE: a pipe, plain read */
	int err;             /* errno of a failed read, 0 if none */
} KovSmtpSource;

typedef struct {
	KovDeliver deliver;  /* first: the interface (deliver.h) */
	CURL *curl;
	char *server;
	guint port;
	char *url;
	char *pass;          /* wiped before free; NULL with pass_source: ask it */
	KovPassphrase *pass_source;  /* mspass-from-query-secret; nullable */
	KovSmtpDialog dialog;
	KovSmtpSource source;
	char errbuf[CURL_ERROR_SIZE];
	KovSsl ssl;
	gboolean auth;       /* msuser set: never send without logging in */
	char *config_error;  /* this transaction's configuration problem, or NULL */
} KovSmtp;

static void
kov_smtp_dialog_reset(KovSmtpDialog *dialog)
{
	dialog->stage = KOV_SMTP_CONNECT;
	dialog->in_auth = FALSE;
	if (dialog->parser == NULL)
		dialog->parser = kov_smtp_reply_parser_new();
	kov_smtp_reply_parser_reset(dialog->parser);
	kov_smtp_reply_clear(&dialog->last);
	kov_smtp_reply_clear(&dialog->mail);
	kov_smtp_reply_clear(&dialog->data);
	if (dialog->rcpt == NULL) {
		dialog->rcpt = g_array_new(FALSE, TRUE, sizeof(KovSmtpReply));
		g_array_set_clear_func(dialog->rcpt, (GDestroyNotify)kov_smtp_reply_clear);
	}
	g_array_set_size(dialog->rcpt, 0);
}

static void
kov_smtp_dialog_clear(KovSmtpDialog *dialog)
{
	kov_smtp_dialog_reset(dialog);
	kov_smtp_reply_parser_free(dialog->parser);
	g_array_unref(dialog->rcpt);
	dialog->parser = NULL;
	dialog->rcpt = NULL;
}

/* A complete reply: file it under the command it answers. */
static void
kov_smtp_dialog_reply(KovSmtpDialog *dialog, int code, const char *text)
{
	kov_smtp_reply_set(&dialog->last, code, text);
	switch (dialog->stage) {
	case KOV_SMTP_AUTH:
		if (code != 334)
			dialog->in_auth = FALSE;
		if (code == 235)
			dialog->authenticated = TRUE;
		break;
	case KOV_SMTP_MAIL:
		kov_smtp_reply_set(&dialog->mail, code, text);
		break;
	case KOV_SMTP_RCPT: {
		KovSmtpReply reply = { code, g_strdup(text) };
		g_array_append_val(dialog->rcpt, reply);
		dialog->stage = KOV_SMTP_OTHER;   /* one reply per RCPT */
		break;
	}
	case KOV_SMTP_DATA:
		if (code != 354)
			kov_smtp_reply_set(&dialog->data, code, text);
		break;
	default:
		break;
	}
}

static void
kov_smtp_dialog_line_in(KovSmtpDialog *dialog, const KovSmtpReplyLine *line)
{
	if (!line->is_reply) {
		kov_log_debug("deliver: smtp< (not a reply line)");
		return;
	}
	/* A 334 challenge is harmless, but keep the exchange out of the log;
	 * the final reply to AUTH (235, 535) is worth seeing. */
	if (dialog->in_auth && line->code == 334)
		kov_log_debug("deliver: smtp< 334 (AUTH challenge)");
	else
		kov_log_debug("deliver: smtp< %s", line->line);

	/* EHLO keywords; the reply's first line is the server's name. */
	if (dialog->stage == KOV_SMTP_EHLO && line->code == 250 && line->index > 0) {
		if (kov_smtp_reply_line_has_keyword(line->line, "AUTH"))
			dialog->offers_auth = TRUE;
		else if (kov_smtp_reply_line_has_keyword(line->line, "STARTTLS"))
			dialog->offers_starttls = TRUE;
	}
	if (line->reply != NULL)
		kov_smtp_dialog_reply(dialog, line->reply->code, line->reply->text);
}

/* libcurl gives one line per call, but the parser does not rely on it. */
static void
kov_smtp_dialog_in(KovSmtpDialog *dialog, const char *data, size_t size)
{
	KovSmtpReplyLine line;

	kov_smtp_reply_parser_feed(dialog->parser, data, size);
	while (kov_smtp_reply_parser_next(dialog->parser, &line))
		kov_smtp_dialog_line_in(dialog, &line);
}

/* What we send: only whitelisted commands are logged, anything else
 * (AUTH arguments, SASL continuation lines after a 334) never is. */
static void
kov_smtp_dialog_out(KovSmtpDialog *dialog, const char *data, size_t size)
{
	static const struct {
		const char *verb;
		KovSmtpStage stage;
	} commands[] = {
		{ "EHLO", KOV_SMTP_EHLO }, { "HELO", KOV_SMTP_EHLO },
		{ "STARTTLS", KOV_SMTP_STARTTLS }, { "MAIL", KOV_SMTP_MAIL },
		{ "RCPT", KOV_SMTP_RCPT }, { "DATA", KOV_SMTP_DATA },
		{ "RSET", KOV_SMTP_OTHER }, { "NOOP", KOV_SMTP_OTHER }, { "QUIT", KOV_SMTP_OTHER },
	};

	if (dialog->in_auth) {
		kov_log_debug("deliver: smtp> (AUTH credentials hidden)");
		return;
	}
	gsize verb_len = 0;
	while (verb_len < size && verb_len < 16 && g_ascii_isalpha(data[verb_len]))
		verb_len++;
	g_autofree char *verb = g_ascii_strup(data, (gssize)verb_len);

	if (strcmp(verb, "AUTH") == 0) {
		dialog->stage = KOV_SMTP_AUTH;
		dialog->in_auth = TRUE;
		/* The mechanism name only: an initial response follows it. */
		gsize start = verb_len, end;
		while (start < size && data[start] == ' ')
			start++;
		for (end = start; end < size && end - start < 20; end++)
			if (!g_ascii_isalnum(data[end]) && data[end] != '-' && data[end] != '_')
				break;
		kov_log_debug("deliver: smtp> AUTH %.*s (credentials hidden)", (int)(end - start), data + start);
		return;
	}
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (strcmp(verb, commands[i].verb) == 0) {
			dialog->stage = commands[i].stage;
			if (dialog->stage == KOV_SMTP_EHLO) {
				/* A new connection, or a new session after STARTTLS. */
				dialog->offers_auth = FALSE;
				dialog->offers_starttls = FALSE;
				dialog->authenticated = FALSE;
			}
			if (kov_log_debug_enabled()) {
				g_autofree char *line = g_strndup(data, size);
				kov_log_debug("deliver: smtp> %s", g_strchomp(line));
			}
			return;
		}
	}
	/* Not a command we know (the end-of-data dot, or something new):
	 * keep the stage, say nothing of its content. */
	kov_log_debug("deliver: smtp> (%zu bytes not logged)", size);
}

static int
kov_smtp_debug_cb(CURL *curl, curl_infotype type, char *data, size_t size, void *user)
{
	KovSmtpDialog *dialog = user;
	(void)curl;

	switch (type) {
	case CURLINFO_HEADER_IN:
		kov_smtp_dialog_in(dialog, data, size);
		break;
	case CURLINFO_HEADER_OUT:
		kov_smtp_dialog_out(dialog, data, size);
		break;
	case CURLINFO_TEXT:
		if (kov_log_debug_enabled()) {
			g_autofree char *text = g_strndup(data, size);
			kov_log_debug("deliver: curl: %s", g_strstrip(text));
		}
		break;
	default:
		break;   /* the body and TLS records: never logged */
	}
	return 0;
}

static size_t
kov_smtp_read_cb(char *buffer, size_t size, size_t nitems, void *user)
{
	KovSmtpSource *source = user;
	size_t want = size * nitems;

	for (;;) {
		ssize_t got = source->seekable ? pread(source->fd, buffer, want, source->offset)
		                               : read(source->fd, buffer, want);
		if (got >= 0) {
			source->offset += got;
			return (size_t)got;
		}
		if (errno == EINTR)
			continue;
		if (errno == ESPIPE && source->seekable && source->offset == 0) {
			source->seekable = FALSE;
			continue;
		}
		source->err = errno;
		return CURL_READFUNC_ABORT;
	}
}

/* After connect, TLS, EHLO and AUTH, before MAIL (or, for a probe, before
 * returning): libcurl skips AUTH silently when the server offers none, so
 * a configured msuser is checked here, before anything is sent. */
static int
kov_smtp_prereq_cb(void *user, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	KovSmtp *smtp = user;
	(void)primary_ip, (void)local_ip, (void)primary_port, (void)local_port;

	if (!smtp->auth || smtp->dialog.authenticated)
		return CURL_PREREQFUNC_OK;
	g_free(smtp->config_error);
	if (!smtp->dialog.offers_auth)
		smtp->config_error = g_strdup_printf(
			"msuser is set, but %s:%u offers no AUTH%s: nothing is sent without logging in "
			"(unset msuser, or point msserver/msport at the submission server)",
			smtp->server, smtp->port,
			smtp->ssl == KOV_SSL_NONE ? " (many servers offer it only after STARTTLS: ssl = starttls)" : "");
	else
		smtp->config_error = g_strdup_printf("msuser is set, but no login to %s:%u took place",
		                                        smtp->server, smtp->port);
	return CURL_PREREQFUNC_ABORT;
}

/* Loopback by its literal form only: a name other than "localhost" could
 * resolve anywhere. */
static gboolean
kov_smtp_host_is_loopback(const char *host)
{
	g_autofree char *bare = g_strdup(host);
	gsize len = strlen(bare);
	struct in_addr a4;
	struct in6_addr a6;

	if (len >= 2 && bare[0] == '[' && bare[len - 1] == ']') {
		memmove(bare, bare + 1, len - 2);
		bare[len - 2] = '\0';
	}
	if (g_ascii_strcasecmp(bare, "localhost") == 0)
		return TRUE;
	if (inet_pton(AF_INET, bare, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, bare, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return FALSE;
}

static gboolean
kov_smtp_curl_global_init(GError **error)
{
	static gsize state = 0;   /* 1: initialised, 2: failed */

	if (g_once_init_enter(&state)) {
		CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
		g_once_init_leave(&state, rc == CURLE_OK ? 1 : 2);
	}
	if (state != 1) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL, "smtp: libcurl failed to initialise");
		return FALSE;
	}
	return TRUE;
}

static char *
kov_smtp_build_url(CURL *curl, const char *server, guint port, KovSsl ssl)
{
	/* The URL's path is the name libcurl gives in EHLO. */
	char *helo = curl_easy_escape(curl, g_get_host_name(), 0);
	gboolean ipv6 = strchr(server, ':') != NULL && server[0] != '[';
	char *url = g_strdup_printf("%s://%s%s%s:%u/%s", ssl == KOV_SSL_IMPLICIT ? "smtps" : "smtp",
	                            ipv6 ? "[" : "", server, ipv6 ? "]" : "", port,
	                            helo != NULL ? helo : "localhost");
	curl_free(helo);
	return url;
}

/* The options that stay the same for every transaction of this handle. */
static gboolean
kov_smtp_setup_curl(KovSmtp *smtp, const KovConfig *config, GError **error)
{
	CURL *c = smtp->curl;
	CURLcode rc = CURLE_OK;

#define KOV_SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val); } while (0)
	KOV_SET(CURLOPT_URL, smtp->url);
	KOV_SET(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	KOV_SET(CURLOPT_ERRORBUFFER, smtp->errbuf);
	KOV_SET(CURLOPT_NOSIGNAL, 1L);
	KOV_SET(CURLOPT_CONNECTTIMEOUT, KOV_SMTP_CONNECT_TIMEOUT);
	KOV_SET(CURLOPT_SERVER_RESPONSE_TIMEOUT, KOV_SMTP_REPLY_TIMEOUT);
	KOV_SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	KOV_SET(CURLOPT_LOW_SPEED_TIME, KOV_SMTP_STALL_TIME);
	KOV_SET(CURLOPT_TCP_KEEPALIVE, 1L);
	/* Fails closed: no STARTTLS offered (or a TLS error) means no mail. */
	KOV_SET(CURLOPT_USE_SSL, (long)(config->ssl == KOV_SSL_NONE ? CURLUSESSL_NONE : CURLUSESSL_ALL));
	KOV_SET(CURLOPT_SSL_VERIFYPEER, 1L);
	KOV_SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (config->ssl_ca != NULL && *config->ssl_ca != '\0') {
		if (g_file_test(config->ssl_ca, G_FILE_TEST_IS_DIR))
			KOV_SET(CURLOPT_CAPATH, config->ssl_ca);
		else
			KOV_SET(CURLOPT_CAINFO, config->ssl_ca);
	}
	if (config->ssl_cert != NULL && *config->ssl_cert != '\0')
		KOV_SET(CURLOPT_SSLCERT, config->ssl_cert);
	if (config->ssl_key != NULL && *config->ssl_key != '\0')
		KOV_SET(CURLOPT_SSLKEY, config->ssl_key);
	if (config->msuser != NULL && *config->msuser != '\0') {
		KOV_SET(CURLOPT_USERNAME, config->msuser);
		if (smtp->pass != NULL)
			KOV_SET(CURLOPT_PASSWORD, smtp->pass);
	}
	KOV_SET(CURLOPT_UPLOAD, 1L);
	KOV_SET(CURLOPT_READFUNCTION, kov_smtp_read_cb);
	KOV_SET(CURLOPT_READDATA, &smtp->source);
	/* Per-recipient replies exist only on the debug stream. */
	KOV_SET(CURLOPT_VERBOSE, 1L);
	KOV_SET(CURLOPT_DEBUGFUNCTION, kov_smtp_debug_cb);
	KOV_SET(CURLOPT_DEBUGDATA, &smtp->dialog);
	/* One refused recipient must not hold back the others. */
	KOV_SET(KOV_CURLOPT_RCPT_ALLOWFAILS, 1L);
	KOV_SET(CURLOPT_PREREQFUNCTION, kov_smtp_prereq_cb);
	KOV_SET(CURLOPT_PREREQDATA, smtp);
#undef KOV_SET

	if (rc != CURLE_OK) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "smtp: setting up libcurl: %s",
		            curl_easy_strerror(rc));
		return FALSE;
	}
	return TRUE;
}

static gboolean
kov_smtp_init(KovSmtp *smtp, const KovConfig *config, GError **error)
{
	gboolean auth = config->msuser != NULL && *config->msuser != '\0';

	if (config->msport == 0 || config->msport > 65535) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "msport %u is not a port", config->msport);
		return FALSE;
	}
	if (auth && config->ssl == KOV_SSL_NONE && !kov_smtp_host_is_loopback(config->msserver)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "refusing to send msuser's password unencrypted to %s: "
		            "set ssl to starttls or ssl (plain AUTH is allowed on loopback only)",
		            config->msserver);
		return FALSE;
	}
	if (auth && config->mspass == NULL &&
	    (!config->mspass_from_query_secret || config->query_secret == NULL)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "msuser is set but mspass is not (nor mspass-from-query-secret and query-secret)");
		return FALSE;
	}
	if (!kov_smtp_curl_global_init(error))
		return FALSE;
	smtp->curl = curl_easy_init();
	if (smtp->curl == NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL, "smtp: cannot create a libcurl handle");
		return FALSE;
	}
	smtp->server = g_strdup(config->msserver);
	smtp->port = config->msport;
	smtp->ssl = config->ssl;
	smtp->auth = auth;
	smtp->pass = auth ? g_strdup(config->mspass) : NULL;
	/* Kuvert's way: query-secret with "smtp-password", asked when needed. */
	if (auth && config->mspass == NULL)
		smtp->pass_source = kov_passphrase_new(config->query_secret, config->flush_secret);
	smtp->url = kov_smtp_build_url(smtp->curl, config->msserver, config->msport, config->ssl);
	kov_smtp_dialog_reset(&smtp->dialog);
	return kov_smtp_setup_curl(smtp, config, error);
}

static void
kov_smtp_forget_pass(KovSmtp *smtp)
{
	if (smtp->pass == NULL)
		return;
	explicit_bzero(smtp->pass, strlen(smtp->pass));
	g_clear_pointer(&smtp->pass, g_free);
}

static void
kov_smtp_free(KovDeliver *deliver)
{
	KovSmtp *smtp = (KovSmtp *)deliver;

	/* Says QUIT on a live connection; the debug callback still has its dialog. */
	if (smtp->curl != NULL)
		curl_easy_cleanup(smtp->curl);
	if (smtp->dialog.rcpt != NULL)
		kov_smtp_dialog_clear(&smtp->dialog);
	kov_smtp_forget_pass(smtp);
	kov_passphrase_free(smtp->pass_source);
	g_free(smtp->server);
	g_free(smtp->url);
	g_free(smtp->config_error);
	g_free(smtp);
}

/* One classification of SMTP reply codes. */
static KovRcptStatus
kov_smtp_status_of(int code)
{
	if (code >= 200 && code < 300)
		return KOV_RCPT_DELIVERED;
	if (code >= 500 && code < 600)
		return KOV_RCPT_FAILED;
	return KOV_RCPT_DEFERRED;   /* 4xx, and nonsense: keep the mail */
}

/* Why the transaction broke off, when no reply says it. */
static char *
kov_smtp_reason(KovSmtp *smtp, CURLcode rc)
{
	const char *what = smtp->errbuf[0] != '\0' ? smtp->errbuf : curl_easy_strerror(rc);
	const KovSmtpReply *last = &smtp->dialog.last;

	if (smtp->source.err != 0)
		return g_strdup_printf("reading the mail: %s", g_strerror(smtp->source.err));
	if (last->code >= 400)
		return g_strdup_printf("%s:%u: %s (%s)", smtp->server, smtp->port, last->text, what);
	return g_strdup_printf("%s:%u: %s", smtp->server, smtp->port, what);
}

/* A failure that retrying cannot mend: the configuration and the server
 * disagree. NULL when @rc is (or may be) temporary trouble. */
static char *
kov_smtp_config_problem(KovSmtp *smtp, CURLcode rc)
{
	const KovSmtpDialog *dialog = &smtp->dialog;
	const char *what = smtp->errbuf[0] != '\0' ? smtp->errbuf : curl_easy_strerror(rc);
	const char *host = smtp->server;
	guint port = smtp->port;

	switch (rc) {
	case CURLE_USE_SSL_FAILED:
		/* Offered but refused (454: TLS not available now) is temporary. */
		if (dialog->offers_starttls)
			return NULL;
		return g_strdup_printf("ssl = starttls, but %s:%u offers no STARTTLS: nothing is sent "
		                       "unencrypted (point msserver/msport at a server that offers it, "
		                       "or use ssl = ssl for a port with TLS from the start)", host, port);
	case CURLE_LOGIN_DENIED:
		if (dialog->last.code >= 400 && dialog->last.code < 500)
			return NULL;   /* 454: temporary authentication failure */
		return g_strdup_printf("msuser/mspass: %s:%u refused the login: %s", host, port,
		                       dialog->last.code >= 500 ? dialog->last.text : what);
	case CURLE_PEER_FAILED_VERIFICATION:
		return g_strdup_printf("ssl-ca: the certificate of %s:%u cannot be verified: %s", host, port,
		                       what);
	case CURLE_SSL_CACERT_BADFILE:
		return g_strdup_printf("ssl-ca cannot be used: %s", what);
	case CURLE_SSL_CERTPROBLEM:
		return g_strdup_printf("ssl-cert/ssl-key cannot be used: %s", what);
	case CURLE_ABORTED_BY_CALLBACK:
		return g_steal_pointer(&smtp->config_error);   /* the prereq callback's */
	default:
		return NULL;
	}
}

static void
kov_smtp_classify(KovSmtp *smtp, CURLcode rc, KovRcptResult *results, gsize n)
{
	const KovSmtpDialog *dialog = &smtp->dialog;
	g_autofree char *reason = kov_smtp_reason(smtp, rc);

	if (smtp->source.err != 0) {
		kov_deliver_result_set_all(results, n, KOV_RCPT_DEFERRED, 0, reason);
		return;
	}
	if (dialog->mail.code == 0) {
		/* Never got as far as MAIL: connect, TLS, EHLO or AUTH failed. */
		int code = dialog->last.code >= 400 ? dialog->last.code : 0;
		g_autofree char *problem = kov_smtp_config_problem(smtp, rc);
		if (problem != NULL) {
			/* The mail is kept, not bounced for the operator's mistake. */
			smtp->config_error = g_strdup_printf("configuration error: %s", problem);
			kov_deliver_result_set_all(results, n, KOV_RCPT_DEFERRED, code, smtp->config_error);
			return;
		}
		kov_deliver_result_set_all(results, n, KOV_RCPT_DEFERRED, code, reason);
		return;
	}
	if (kov_smtp_status_of(dialog->mail.code) != KOV_RCPT_DELIVERED) {
		kov_deliver_result_set_all(results, n, kov_smtp_status_of(dialog->mail.code),
		                           dialog->mail.code, dialog->mail.text);
		return;
	}
	for (gsize i = 0; i < n; i++) {
		if (i >= dialog->rcpt->len) {
			kov_deliver_result_set(&results[i], KOV_RCPT_DEFERRED, 0, reason);
			continue;
		}
		const KovSmtpReply *rcpt = &g_array_index(dialog->rcpt, KovSmtpReply, i);
		if (kov_smtp_status_of(rcpt->code) != KOV_RCPT_DELIVERED)
			kov_deliver_result_set(&results[i], kov_smtp_status_of(rcpt->code), rcpt->code,
			                       rcpt->text);
		else if (dialog->data.code == 0)
			/* The body may or may not have arrived; retrying risks one
			 * duplicate, giving up risks a lost mail. */
			kov_deliver_result_set(&results[i], KOV_RCPT_DEFERRED, 0, reason);
		else
			/* A 2xx to DATA counts even if libcurl complains afterwards. */
			kov_deliver_result_set(&results[i], kov_smtp_status_of(dialog->data.code),
			                       dialog->data.code, dialog->data.text);
	}
}

/* With mspass-from-query-secret: the password, asked for when there is
 * none (at the first mail, and after the server refused the last one). */
static gboolean
kov_smtp_ask_pass(KovSmtp *smtp)
{
	if (smtp->pass_source == NULL || smtp->pass != NULL)
		return TRUE;
	smtp->pass = kov_passphrase_query(smtp->pass_source, "smtp-password");
	/* libcurl keeps its own copy of the string. */
	return smtp->pass != NULL &&
	       curl_easy_setopt(smtp->curl, CURLOPT_PASSWORD, smtp->pass) == CURLE_OK;
}

/* The server refused the password query-secret gave: forget it (and have
 * flush-secret forget it), so the next mail asks again. */
static void
kov_smtp_check_pass(KovSmtp *smtp, CURLcode rc)
{
	if (smtp->pass_source == NULL || smtp->pass == NULL)
		return;
	if (rc != CURLE_LOGIN_DENIED && !(smtp->dialog.mail.code == 0 && smtp->dialog.last.code == 535))
		return;
	kov_log_warning("deliver: %s:%u refused the smtp-password from query-secret; "
	                "the next mail asks again", smtp->server, smtp->port);
	kov_smtp_forget_pass(smtp);
	kov_passphrase_flush(smtp->pass_source, "smtp-password");
}

static void
kov_smtp_send(KovDeliver *deliver, const char *sender, const char *const *rcpts, gsize n, int fd,
              KovRcptResult *results)
{
	KovSmtp *smtp = (KovSmtp *)deliver;
	CURL *c = smtp->curl;
	g_autoptr(KovCurlSlist) list = NULL;
	g_autofree char *from = g_strdup_printf("<%s>", sender);
	curl_off_t size = -1;
	struct stat st;
	CURLcode rc = CURLE_OK;

	for (gsize i = 0; i < n; i++) {
		g_autofree char *rcpt = g_strdup_printf("<%s>", rcpts[i]);
		struct curl_slist *longer = curl_slist_append(list, rcpt);
		if (longer == NULL) {
			kov_deliver_result_set_all(results, n, KOV_RCPT_DEFERRED, 0, "smtp: out of memory");
			return;
		}
		list = longer;
	}
	/* Lets libcurl announce SIZE=, so an oversized mail is refused at MAIL. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		size = (curl_off_t)st.st_size;

	if (!kov_smtp_ask_pass(smtp)) {
		kov_deliver_result_set_all(results, n, KOV_RCPT_DEFERRED, 0,
		                           "smtp: query-secret gave no smtp-password (see the log)");
		return;
	}
	kov_smtp_dialog_reset(&smtp->dialog);
	smtp->source = (KovSmtpSource){ .fd = fd, .offset = 0, .seekable = TRUE, .err = 0 };
	smtp->errbuf[0] = '\0';
	g_clear_pointer(&smtp->config_error, g_free);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_MAIL_RCPT, list);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, size);
	if (rc == CURLE_OK) {
		kov_log_debug("deliver: smtp to %s:%u, %zu recipient(s)", smtp->server, smtp->port, n);
		rc = curl_easy_perform(c);
	}
	kov_smtp_classify(smtp, rc, results, n);
	if (smtp->config_error != NULL)
		kov_log_err("deliver: %s; the mail is kept and retried", smtp->config_error);
	kov_smtp_check_pass(smtp, rc);
	/* The list dies here: the handle must not keep a pointer to it. */
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, NULL);
}

static size_t
kov_smtp_discard_cb(char *data, size_t size, size_t nmemb, void *user)
{
	(void)data, (void)user;
	return size * nmemb;
}

/* -n --connect: a session without a mail on a handle of its own, so the
 * delivery handle's connection and settings stay as they are. The one
 * command is NOOP, and AUTH is checked after it rather than by aborting
 * (an aborted transfer closes the connection without QUIT); QUIT is said
 * when that handle is cleaned up. CURLOPT_CONNECT_ONLY, too, would close
 * the connection without QUIT. */
static gboolean
kov_smtp_probe(KovDeliver *deliver, char **summary, GError **error)
{
	KovSmtp *smtp = (KovSmtp *)deliver;
	g_autoptr(CURL) c = curl_easy_duphandle(smtp->curl);
	CURLcode rc;

	if (c == NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL, "smtp: cannot create a libcurl handle");
		return FALSE;
	}
	if (!kov_smtp_ask_pass(smtp)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "query-secret gave no smtp-password");
		return FALSE;
	}
	if (smtp->pass != NULL)
		curl_easy_setopt(c, CURLOPT_PASSWORD, smtp->pass);
	kov_smtp_dialog_reset(&smtp->dialog);
	smtp->dialog.offers_auth = smtp->dialog.offers_starttls = FALSE;
	smtp->dialog.authenticated = FALSE;
	smtp->errbuf[0] = '\0';
	g_clear_pointer(&smtp->config_error, g_free);
	/* The handle's own buffer: duphandle does not copy ERRORBUFFER. */
	rc = curl_easy_setopt(c, CURLOPT_ERRORBUFFER, smtp->errbuf);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_UPLOAD, 0L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_MAIL_RCPT, NULL);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "NOOP");
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, kov_smtp_discard_cb);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, NULL);
	if (rc == CURLE_OK)
		rc = curl_easy_perform(c);
	if (rc == CURLE_OK && smtp->auth && !smtp->dialog.authenticated)
		rc = kov_smtp_prereq_cb(smtp, NULL, NULL, 0, 0) == CURL_PREREQFUNC_OK
		     ? CURLE_OK : CURLE_ABORTED_BY_CALLBACK;
	if (rc != CURLE_OK) {
		/* The server's text goes to a terminal: escaped, as in the log. */
		g_autofree char *raw = kov_smtp_config_problem(smtp, rc);
		g_autofree char *problem = raw ? kov_log_escape(raw) : NULL;
		g_autofree char *raw_reason = problem ? NULL : kov_smtp_reason(smtp, rc);
		g_autofree char *reason = raw_reason ? kov_log_escape(raw_reason) : NULL;
		if (problem != NULL)
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "smtp: configuration error: %s", problem);
		else
			g_set_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL, "smtp: cannot reach the server: %s",
			            reason);
		return FALSE;
	}
	if (summary != NULL)
		*summary = g_strdup_printf("connected to %s:%u%s%s%s; no mail sent", smtp->server,
		                           smtp->port,
		                           smtp->ssl == KOV_SSL_IMPLICIT ? ", TLS with a verified certificate" : "",
		                           smtp->ssl == KOV_SSL_STARTTLS ? ", STARTTLS with a verified certificate" : "",
		                           smtp->auth ? ", logged in with msuser" : "");
	return TRUE;
}

static const KovDeliverOps kov_smtp_ops = {
	.crlf = TRUE,
	.send = kov_smtp_send,
	.probe = kov_smtp_probe,
	.free = kov_smtp_free,
};

KovDeliver *
kov_smtp_new(const KovConfig *config, GError **error)
{
	g_return_val_if_fail(config != NULL, NULL);
	KovSmtp *smtp = g_new0(KovSmtp, 1);
	g_autoptr(KovDeliver) deliver = &smtp->deliver;

	deliver->ops = &kov_smtp_ops;
	if (!kov_smtp_init(smtp, config, error))
		return NULL;
	return g_steal_pointer(&deliver);
}
