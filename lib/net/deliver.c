/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Onward delivery: SMTP through one reused libcurl easy handle (so one
 * connection serves many copies), or the msp program run without a shell.
 * libcurl reports per-recipient replies only on its debug stream, so that
 * stream is parsed here into MAIL/RCPT/DATA replies, and filtered of AUTH
 * credentials before a line of it reaches the debug log. Bodies are streamed
 * from the caller's fd (pread from offset 0), never read into memory.
 * A transport configuration that cannot work (no STARTTLS or no AUTH
 * offered, a refused login, an unverifiable certificate) is told apart from
 * temporary trouble here, where curl's codes and the EHLO reply are known:
 * it is logged at error level naming the option, and the mail is deferred. */
#include "deliver.h"
#include "curl-autoptr.h"
#include "error.h"
#include "log.h"
#include "passphrase.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

/* The option got its proper spelling in 8.2; 7.88 only has three L's. Both
 * are enum values, not macros, so the version decides. */
#if LIBCURL_VERSION_NUM >= 0x080200
#define KOV_CURLOPT_RCPT_ALLOWFAILS CURLOPT_MAIL_RCPT_ALLOWFAILS
#else
#define KOV_CURLOPT_RCPT_ALLOWFAILS CURLOPT_MAIL_RCPT_ALLLOWFAILS
#endif

#define KOV_DELIVER_CONNECT_TIMEOUT 30L   /* seconds */
/* RFC 5321 4.5.3.2 allows servers minutes per reply (10 for the end of
 * DATA); five minutes without a reply or a byte moved is a dead peer. */
#define KOV_DELIVER_REPLY_TIMEOUT   300L
#define KOV_DELIVER_STALL_TIME      300L

typedef struct {
	int code;      /* 0: no complete reply seen */
	char *text;    /* the reply lines as received, "\n"-joined, CRLF removed */
} KovSmtpReply;

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
	GString *lines;      /* lines of a multi-line reply so far */
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
} KovDeliverSource;

struct _KovDeliver {
	/* SMTP (curl != NULL) */
	CURL *curl;
	char *server;
	guint port;
	char *url;
	char *pass;          /* wiped before free; NULL with pass_source: ask it */
	KovPassphrase *pass_source;  /* mspass-from-query-secret; nullable */
	KovSmtpDialog dialog;
	KovDeliverSource source;
	char errbuf[CURL_ERROR_SIZE];
	KovSsl ssl;
	gboolean auth;       /* msuser set: never send without logging in */
	char *config_error;  /* this transaction's configuration problem, or NULL */
	/* msp (curl == NULL) */
	char **msp;
};

static void
kov_smtp_reply_clear(KovSmtpReply *reply)
{
	g_clear_pointer(&reply->text, g_free);
	reply->code = 0;
}

static void
kov_smtp_reply_set(KovSmtpReply *reply, int code, const char *text)
{
	kov_smtp_reply_clear(reply);
	reply->code = code;
	reply->text = g_strdup(text);
}

static void
kov_smtp_dialog_reset(KovSmtpDialog *dialog)
{
	dialog->stage = KOV_SMTP_CONNECT;
	dialog->in_auth = FALSE;
	if (dialog->lines == NULL)
		dialog->lines = g_string_new(NULL);
	g_string_truncate(dialog->lines, 0);
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
	g_string_free(dialog->lines, TRUE);
	g_array_unref(dialog->rcpt);
	dialog->lines = NULL;
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
kov_smtp_dialog_line_in(KovSmtpDialog *dialog, const char *line)
{
	if (strlen(line) < 3 || !g_ascii_isdigit(line[0]) || !g_ascii_isdigit(line[1])
	    || !g_ascii_isdigit(line[2])) {
		kov_log_debug("deliver: smtp< (not a reply line)");
		return;
	}
	int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	gboolean final = line[3] != '-';

	/* A 334 challenge is harmless, but keep the exchange out of the log;
	 * the final reply to AUTH (235, 535) is worth seeing. */
	if (dialog->in_auth && code == 334)
		kov_log_debug("deliver: smtp< 334 (AUTH challenge)");
	else
		kov_log_debug("deliver: smtp< %s", line);

	/* EHLO keywords; the reply's first line is the server's name. */
	if (dialog->stage == KOV_SMTP_EHLO && code == 250 && dialog->lines->len > 0 && strlen(line) > 4) {
		const char *keyword = line + 4;
		gsize len = strcspn(keyword, " =");
		if (len == 4 && g_ascii_strncasecmp(keyword, "AUTH", 4) == 0)
			dialog->offers_auth = TRUE;
		else if (len == 8 && g_ascii_strncasecmp(keyword, "STARTTLS", 8) == 0)
			dialog->offers_starttls = TRUE;
	}
	if (dialog->lines->len > 0)
		g_string_append_c(dialog->lines, '\n');
	g_string_append(dialog->lines, line);
	if (!final)
		return;
	kov_smtp_dialog_reply(dialog, code, dialog->lines->str);
	g_string_truncate(dialog->lines, 0);
}

/* Server replies arrive one line per call, but do not rely on it. */
static void
kov_smtp_dialog_in(KovSmtpDialog *dialog, const char *data, size_t size)
{
	g_autofree char *copy = g_strndup(data, size);
	g_auto(GStrv) lines = g_strsplit(copy, "\n", -1);
	for (char **l = lines; *l != NULL; l++) {
		g_strchomp(*l);   /* the CR */
		if (**l != '\0')
			kov_smtp_dialog_line_in(dialog, *l);
	}
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
kov_deliver_debug_cb(CURL *curl, curl_infotype type, char *data, size_t size, void *user)
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
kov_deliver_read_cb(char *buffer, size_t size, size_t nitems, void *user)
{
	KovDeliverSource *source = user;
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
kov_deliver_prereq_cb(void *user, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	KovDeliver *deliver = user;
	(void)primary_ip, (void)local_ip, (void)primary_port, (void)local_port;

	if (!deliver->auth || deliver->dialog.authenticated)
		return CURL_PREREQFUNC_OK;
	g_free(deliver->config_error);
	if (!deliver->dialog.offers_auth)
		deliver->config_error = g_strdup_printf(
			"msuser is set, but %s:%u offers no AUTH%s: nothing is sent without logging in "
			"(unset msuser, or point msserver/msport at the submission server)",
			deliver->server, deliver->port,
			deliver->ssl == KOV_SSL_NONE ? " (many servers offer it only after STARTTLS: ssl = starttls)" : "");
	else
		deliver->config_error = g_strdup_printf("msuser is set, but no login to %s:%u took place",
		                                        deliver->server, deliver->port);
	return CURL_PREREQFUNC_ABORT;
}

/* Loopback by its literal form only: a name other than "localhost" could
 * resolve anywhere. */
static gboolean
kov_deliver_host_is_loopback(const char *host)
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
kov_deliver_curl_global_init(GError **error)
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
kov_deliver_build_url(CURL *curl, const char *server, guint port, KovSsl ssl)
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
kov_deliver_setup_curl(KovDeliver *deliver, const KovConfig *config, GError **error)
{
	CURL *c = deliver->curl;
	CURLcode rc = CURLE_OK;

#define KOV_SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val); } while (0)
	KOV_SET(CURLOPT_URL, deliver->url);
	KOV_SET(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	KOV_SET(CURLOPT_ERRORBUFFER, deliver->errbuf);
	KOV_SET(CURLOPT_NOSIGNAL, 1L);
	KOV_SET(CURLOPT_CONNECTTIMEOUT, KOV_DELIVER_CONNECT_TIMEOUT);
	KOV_SET(CURLOPT_SERVER_RESPONSE_TIMEOUT, KOV_DELIVER_REPLY_TIMEOUT);
	KOV_SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	KOV_SET(CURLOPT_LOW_SPEED_TIME, KOV_DELIVER_STALL_TIME);
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
		if (deliver->pass != NULL)
			KOV_SET(CURLOPT_PASSWORD, deliver->pass);
	}
	KOV_SET(CURLOPT_UPLOAD, 1L);
	KOV_SET(CURLOPT_READFUNCTION, kov_deliver_read_cb);
	KOV_SET(CURLOPT_READDATA, &deliver->source);
	/* Per-recipient replies exist only on the debug stream. */
	KOV_SET(CURLOPT_VERBOSE, 1L);
	KOV_SET(CURLOPT_DEBUGFUNCTION, kov_deliver_debug_cb);
	KOV_SET(CURLOPT_DEBUGDATA, &deliver->dialog);
	/* One refused recipient must not hold back the others. */
	KOV_SET(KOV_CURLOPT_RCPT_ALLOWFAILS, 1L);
	KOV_SET(CURLOPT_PREREQFUNCTION, kov_deliver_prereq_cb);
	KOV_SET(CURLOPT_PREREQDATA, deliver);
#undef KOV_SET

	if (rc != CURLE_OK) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "smtp: setting up libcurl: %s",
		            curl_easy_strerror(rc));
		return FALSE;
	}
	return TRUE;
}

static gboolean
kov_deliver_new_smtp(KovDeliver *deliver, const KovConfig *config, GError **error)
{
	gboolean auth = config->msuser != NULL && *config->msuser != '\0';

	if (config->msport == 0 || config->msport > 65535) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "msport %u is not a port", config->msport);
		return FALSE;
	}
	if (auth && config->ssl == KOV_SSL_NONE && !kov_deliver_host_is_loopback(config->msserver)) {
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
	if (!kov_deliver_curl_global_init(error))
		return FALSE;
	deliver->curl = curl_easy_init();
	if (deliver->curl == NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL, "smtp: cannot create a libcurl handle");
		return FALSE;
	}
	deliver->server = g_strdup(config->msserver);
	deliver->port = config->msport;
	deliver->ssl = config->ssl;
	deliver->auth = auth;
	deliver->pass = auth ? g_strdup(config->mspass) : NULL;
	/* Kuvert's way: query-secret with "smtp-password", asked when needed. */
	if (auth && config->mspass == NULL)
		deliver->pass_source = kov_passphrase_new(config->query_secret, config->flush_secret);
	deliver->url = kov_deliver_build_url(deliver->curl, config->msserver, config->msport, config->ssl);
	kov_smtp_dialog_reset(&deliver->dialog);
	return kov_deliver_setup_curl(deliver, config, error);
}

KovDeliver *
kov_deliver_new(const KovConfig *config, GError **error)
{
	g_return_val_if_fail(config != NULL, NULL);
	g_autoptr(KovDeliver) deliver = g_new0(KovDeliver, 1);

	if (config->msserver != NULL && *config->msserver != '\0') {
		if (!kov_deliver_new_smtp(deliver, config, error))
			return NULL;
		return g_steal_pointer(&deliver);
	}
	if (config->msp == NULL || config->msp[0] == NULL || *config->msp[0] == '\0') {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "neither msserver nor msp is set");
		return NULL;
	}
	/* execv semantics: no shell, no PATH search, so the program is a path. */
	if (!g_path_is_absolute(config->msp[0])) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "msp %s is not an absolute path (it is run without a shell or PATH)",
		            config->msp[0]);
		return NULL;
	}
	deliver->msp = g_strdupv(config->msp);
	return g_steal_pointer(&deliver);
}

static void
kov_deliver_forget_pass(KovDeliver *deliver)
{
	if (deliver->pass == NULL)
		return;
	explicit_bzero(deliver->pass, strlen(deliver->pass));
	g_clear_pointer(&deliver->pass, g_free);
}

void
kov_deliver_free(KovDeliver *deliver)
{
	if (deliver == NULL)
		return;
	/* Says QUIT on a live connection; the debug callback still has its dialog. */
	if (deliver->curl != NULL)
		curl_easy_cleanup(deliver->curl);
	if (deliver->dialog.rcpt != NULL)
		kov_smtp_dialog_clear(&deliver->dialog);
	kov_deliver_forget_pass(deliver);
	kov_passphrase_free(deliver->pass_source);
	g_free(deliver->server);
	g_free(deliver->url);
	g_free(deliver->config_error);
	g_strfreev(deliver->msp);
	g_free(deliver);
}

gboolean
kov_deliver_wants_crlf(const KovDeliver *deliver)
{
	g_return_val_if_fail(deliver != NULL, TRUE);
	return deliver->curl != NULL;
}

void
kov_rcpt_result_clear(KovRcptResult *result)
{
	if (result == NULL)
		return;
	g_clear_pointer(&result->reply, g_free);
	result->status = KOV_RCPT_DELIVERED;
	result->code = 0;
}

/* Overwrites: the caller clears results it reuses (kov_rcpt_result_clear),
 * so uninitialised arrays are fine too. The reply is foreign text (a
 * server's reply, libcurl's message, msp's stderr) that goes on into the
 * state, the failed area's .reason file, reports and the log: it leaves
 * here as one line with every control shown escaped. */
static void
kov_deliver_result_set(KovRcptResult *result, KovRcptStatus status, int code, const char *reply)
{
	result->status = status;
	result->code = code;
	result->reply = NULL;
	if (reply != NULL) {
		g_autofree char *line = g_strdelimit(g_strdup(reply), "\n", ' ');
		result->reply = kov_log_escape(line);
	}
}

static void
kov_deliver_result_set_all(KovRcptResult *results, gsize n, KovRcptStatus status, int code,
                           const char *reply)
{
	for (gsize i = 0; i < n; i++)
		kov_deliver_result_set(&results[i], status, code, reply);
}

/* One classification of SMTP reply codes. */
static KovRcptStatus
kov_deliver_status_of(int code)
{
	if (code >= 200 && code < 300)
		return KOV_RCPT_DELIVERED;
	if (code >= 500 && code < 600)
		return KOV_RCPT_FAILED;
	return KOV_RCPT_DEFERRED;   /* 4xx, and nonsense: keep the mail */
}

/* Why the transaction broke off, when no reply says it. */
static char *
kov_deliver_smtp_reason(KovDeliver *deliver, CURLcode rc)
{
	const char *what = deliver->errbuf[0] != '\0' ? deliver->errbuf : curl_easy_strerror(rc);
	const KovSmtpReply *last = &deliver->dialog.last;

	if (deliver->source.err != 0)
		return g_strdup_printf("reading the mail: %s", g_strerror(deliver->source.err));
	if (last->code >= 400)
		return g_strdup_printf("%s:%u: %s (%s)", deliver->server, deliver->port, last->text, what);
	return g_strdup_printf("%s:%u: %s", deliver->server, deliver->port, what);
}

/* A failure that retrying cannot mend: the configuration and the server
 * disagree. NULL when @rc is (or may be) temporary trouble. */
static char *
kov_deliver_config_problem(KovDeliver *deliver, CURLcode rc)
{
	const KovSmtpDialog *dialog = &deliver->dialog;
	const char *what = deliver->errbuf[0] != '\0' ? deliver->errbuf : curl_easy_strerror(rc);
	const char *host = deliver->server;
	guint port = deliver->port;

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
		return g_steal_pointer(&deliver->config_error);   /* the prereq callback's */
	default:
		return NULL;
	}
}

static void
kov_deliver_smtp_classify(KovDeliver *deliver, CURLcode rc, KovRcptResult *results, gsize n)
{
	const KovSmtpDialog *dialog = &deliver->dialog;
	g_autofree char *reason = kov_deliver_smtp_reason(deliver, rc);

	if (deliver->source.err != 0) {
		kov_deliver_result_set_all(results, n, KOV_RCPT_DEFERRED, 0, reason);
		return;
	}
	if (dialog->mail.code == 0) {
		/* Never got as far as MAIL: connect, TLS, EHLO or AUTH failed. */
		int code = dialog->last.code >= 400 ? dialog->last.code : 0;
		g_autofree char *problem = kov_deliver_config_problem(deliver, rc);
		if (problem != NULL) {
			/* The mail is kept, not bounced for the operator's mistake. */
			deliver->config_error = g_strdup_printf("configuration error: %s", problem);
			kov_deliver_result_set_all(results, n, KOV_RCPT_DEFERRED, code, deliver->config_error);
			return;
		}
		kov_deliver_result_set_all(results, n, KOV_RCPT_DEFERRED, code, reason);
		return;
	}
	if (kov_deliver_status_of(dialog->mail.code) != KOV_RCPT_DELIVERED) {
		kov_deliver_result_set_all(results, n, kov_deliver_status_of(dialog->mail.code),
		                           dialog->mail.code, dialog->mail.text);
		return;
	}
	for (gsize i = 0; i < n; i++) {
		if (i >= dialog->rcpt->len) {
			kov_deliver_result_set(&results[i], KOV_RCPT_DEFERRED, 0, reason);
			continue;
		}
		const KovSmtpReply *rcpt = &g_array_index(dialog->rcpt, KovSmtpReply, i);
		if (kov_deliver_status_of(rcpt->code) != KOV_RCPT_DELIVERED)
			kov_deliver_result_set(&results[i], kov_deliver_status_of(rcpt->code), rcpt->code,
			                       rcpt->text);
		else if (dialog->data.code == 0)
			/* The body may or may not have arrived; retrying risks one
			 * duplicate, giving up risks a lost mail. */
			kov_deliver_result_set(&results[i], KOV_RCPT_DEFERRED, 0, reason);
		else
			/* A 2xx to DATA counts even if libcurl complains afterwards. */
			kov_deliver_result_set(&results[i], kov_deliver_status_of(dialog->data.code),
			                       dialog->data.code, dialog->data.text);
	}
}

/* With mspass-from-query-secret: the password, asked for when there is
 * none (at the first mail, and after the server refused the last one). */
static gboolean
kov_deliver_ask_pass(KovDeliver *deliver)
{
	if (deliver->pass_source == NULL || deliver->pass != NULL)
		return TRUE;
	deliver->pass = kov_passphrase_query(deliver->pass_source, "smtp-password");
	/* libcurl keeps its own copy of the string. */
	return deliver->pass != NULL &&
	       curl_easy_setopt(deliver->curl, CURLOPT_PASSWORD, deliver->pass) == CURLE_OK;
}

/* The server refused the password query-secret gave: forget it (and have
 * flush-secret forget it), so the next mail asks again. */
static void
kov_deliver_check_pass(KovDeliver *deliver, CURLcode rc)
{
	if (deliver->pass_source == NULL || deliver->pass == NULL)
		return;
	if (rc != CURLE_LOGIN_DENIED && !(deliver->dialog.mail.code == 0 && deliver->dialog.last.code == 535))
		return;
	kov_log_warning("deliver: %s:%u refused the smtp-password from query-secret; "
	                "the next mail asks again", deliver->server, deliver->port);
	kov_deliver_forget_pass(deliver);
	kov_passphrase_flush(deliver->pass_source, "smtp-password");
}

static void
kov_deliver_smtp(KovDeliver *deliver, const char *sender, const char *const *rcpts, gsize n,
                 int fd, KovRcptResult *results)
{
	CURL *c = deliver->curl;
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

	if (!kov_deliver_ask_pass(deliver)) {
		kov_deliver_result_set_all(results, n, KOV_RCPT_DEFERRED, 0,
		                           "smtp: query-secret gave no smtp-password (see the log)");
		return;
	}
	kov_smtp_dialog_reset(&deliver->dialog);
	deliver->source = (KovDeliverSource){ .fd = fd, .offset = 0, .seekable = TRUE, .err = 0 };
	deliver->errbuf[0] = '\0';
	g_clear_pointer(&deliver->config_error, g_free);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_MAIL_RCPT, list);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, size);
	if (rc == CURLE_OK) {
		kov_log_debug("deliver: smtp to %s:%u, %zu recipient(s)", deliver->server, deliver->port, n);
		rc = curl_easy_perform(c);
	}
	kov_deliver_smtp_classify(deliver, rc, results, n);
	if (deliver->config_error != NULL)
		kov_log_err("deliver: %s; the mail is kept and retried", deliver->config_error);
	kov_deliver_check_pass(deliver, rc);
	/* The list dies here: the handle must not keep a pointer to it. */
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, NULL);
}

static size_t
kov_deliver_discard_cb(char *data, size_t size, size_t nmemb, void *user)
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
kov_deliver_probe_smtp(KovDeliver *deliver, char **summary, GError **error)
{
	g_autoptr(CURL) c = curl_easy_duphandle(deliver->curl);
	CURLcode rc;

	if (c == NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL, "smtp: cannot create a libcurl handle");
		return FALSE;
	}
	if (!kov_deliver_ask_pass(deliver)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "query-secret gave no smtp-password");
		return FALSE;
	}
	if (deliver->pass != NULL)
		curl_easy_setopt(c, CURLOPT_PASSWORD, deliver->pass);
	kov_smtp_dialog_reset(&deliver->dialog);
	deliver->dialog.offers_auth = deliver->dialog.offers_starttls = FALSE;
	deliver->dialog.authenticated = FALSE;
	deliver->errbuf[0] = '\0';
	g_clear_pointer(&deliver->config_error, g_free);
	/* The handle's own buffer: duphandle does not copy ERRORBUFFER. */
	rc = curl_easy_setopt(c, CURLOPT_ERRORBUFFER, deliver->errbuf);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_UPLOAD, 0L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_MAIL_RCPT, NULL);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "NOOP");
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, kov_deliver_discard_cb);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, NULL);
	if (rc == CURLE_OK)
		rc = curl_easy_perform(c);
	if (rc == CURLE_OK && deliver->auth && !deliver->dialog.authenticated)
		rc = kov_deliver_prereq_cb(deliver, NULL, NULL, 0, 0) == CURL_PREREQFUNC_OK
		     ? CURLE_OK : CURLE_ABORTED_BY_CALLBACK;
	if (rc != CURLE_OK) {
		/* The server's text goes to a terminal: escaped, as in the log. */
		g_autofree char *raw = kov_deliver_config_problem(deliver, rc);
		g_autofree char *problem = raw ? kov_log_escape(raw) : NULL;
		g_autofree char *raw_reason = problem ? NULL : kov_deliver_smtp_reason(deliver, rc);
		g_autofree char *reason = raw_reason ? kov_log_escape(raw_reason) : NULL;
		if (problem != NULL)
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "smtp: configuration error: %s", problem);
		else
			g_set_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL, "smtp: cannot reach the server: %s",
			            reason);
		return FALSE;
	}
	if (summary != NULL)
		*summary = g_strdup_printf("connected to %s:%u%s%s%s; no mail sent", deliver->server,
		                           deliver->port,
		                           deliver->ssl == KOV_SSL_IMPLICIT ? ", TLS with a verified certificate" : "",
		                           deliver->ssl == KOV_SSL_STARTTLS ? ", STARTTLS with a verified certificate" : "",
		                           deliver->auth ? ", logged in with msuser" : "");
	return TRUE;
}

gboolean
kov_deliver_probe(KovDeliver *deliver, char **summary, GError **error)
{
	g_return_val_if_fail(deliver != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (deliver->curl != NULL)
		return kov_deliver_probe_smtp(deliver, summary, error);
	if (!g_file_test(deliver->msp[0], G_FILE_TEST_IS_REGULAR)
	    || !g_file_test(deliver->msp[0], G_FILE_TEST_IS_EXECUTABLE)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "msp %s is not an executable file",
		            deliver->msp[0]);
		return FALSE;
	}
	if (summary != NULL)
		*summary = g_strdup_printf("msp %s is executable (there is no connection to test); "
		                           "no mail sent", deliver->msp[0]);
	return TRUE;
}

/* The first line of what msp wrote on stderr, for the reason. */
static char *
kov_deliver_first_line(int fd)
{
	char buffer[512];
	ssize_t got;

	do
		got = pread(fd, buffer, sizeof buffer - 1, 0);
	while (got < 0 && errno == EINTR);
	if (got <= 0)
		return g_strdup("");
	buffer[got] = '\0';
	buffer[strcspn(buffer, "\r\n")] = '\0';
	g_autofree char *valid = g_utf8_make_valid(buffer, -1);
	return g_strdup(g_strstrip(valid));
}

static void
kov_deliver_msp_conclude(int status, int errfd, KovRcptResult *results, gsize n)
{
	g_autofree char *line = kov_deliver_first_line(errfd);
	const char *sep = *line != '\0' ? ": " : "";

	if (WIFSIGNALED(status)) {
		g_autofree char *reply = g_strdup_printf("msp killed by signal %d%s%s", WTERMSIG(status), sep, line);
		kov_deliver_result_set_all(results, n, KOV_RCPT_DEFERRED, 0, reply);
		return;
	}
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : EX_SOFTWARE;
	g_autofree char *reply = g_strdup_printf("msp exited with status %d%s%s", code, sep, line);
	/* EX_CONFIG: msp's own configuration is wrong, the operator's mistake:
	 * keep the mail, as for the SMTP transport's configuration errors. */
	KovRcptStatus what = code == 0 ? KOV_RCPT_DELIVERED
	                   : code == EX_TEMPFAIL || code == EX_CONFIG ? KOV_RCPT_DEFERRED : KOV_RCPT_FAILED;
	if (code == EX_CONFIG) {
		g_autofree char *why = g_strdup_printf("configuration error: %s", reply);
		kov_log_err("deliver: %s; the mail is kept and retried", why);
		kov_deliver_result_set_all(results, n, what, code, why);
		return;
	}
	kov_deliver_result_set_all(results, n, what, code, reply);
}

/* msp argv..., -f SENDER, --, RCPT...: the "--" keeps an address that
 * starts with "-" from being read as an option. Postfix's and Exim's
 * sendmail, OpenSMTPD's sendmail (smtpctl) and msmtp all take "--" as the
 * end of options. The child reads @fd itself as stdin: no copy, no pipe. */
static void
kov_deliver_msp(KovDeliver *deliver, const char *sender, const char *const *rcpts, gsize n,
                int fd, KovRcptResult *results)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	GError *spawn_error = NULL;
	GPid pid;
	int status = 0;

	for (char **arg = deliver->msp; *arg != NULL; arg++)
		g_ptr_array_add(argv, *arg);
	g_ptr_array_add(argv, (gpointer) "-f");
	g_ptr_array_add(argv, (gpointer)(*sender != '\0' ? sender : "<>"));
	g_ptr_array_add(argv, (gpointer) "--");
	for (gsize i = 0; i < n; i++)
		g_ptr_array_add(argv, (gpointer)rcpts[i]);
	g_ptr_array_add(argv, NULL);

	if (kov_log_debug_enabled()) {
		g_autofree char *line = g_strjoinv(" ", (char **)argv->pdata);
		kov_log_debug("deliver: running %s", line);
	}
	int errfd = memfd_create("koverto-msp-stderr", MFD_CLOEXEC);
	if (errfd < 0) {
		g_autofree char *reply = g_strdup_printf("msp: cannot make a file for its stderr: %s", g_strerror(errno));
		kov_deliver_result_set_all(results, n, KOV_RCPT_DEFERRED, 0, reply);
		return;
	}
	/* The child shares the file offset: start it at the beginning. */
	if (lseek(fd, 0, SEEK_SET) < 0 && errno != ESPIPE) {
		g_autofree char *reply = g_strdup_printf("msp: cannot rewind the mail: %s", g_strerror(errno));
		kov_deliver_result_set_all(results, n, KOV_RCPT_DEFERRED, 0, reply);
		close(errfd);
		return;
	}
	if (!g_spawn_async_with_pipes_and_fds(NULL, (const char *const *)argv->pdata, NULL,
	                                      G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
	                                      NULL, NULL, fd, -1, errfd, NULL, NULL, 0, &pid, NULL,
	                                      NULL, NULL, &spawn_error)) {
		/* A program that is not there or cannot be run is the configuration's
		 * mistake (it may be mended by installing it): kept, said at error level. */
		gboolean config = g_error_matches(spawn_error, G_SPAWN_ERROR, G_SPAWN_ERROR_NOENT)
		                  || g_error_matches(spawn_error, G_SPAWN_ERROR, G_SPAWN_ERROR_ACCES)
		                  || g_error_matches(spawn_error, G_SPAWN_ERROR, G_SPAWN_ERROR_NOEXEC)
		                  || g_error_matches(spawn_error, G_SPAWN_ERROR, G_SPAWN_ERROR_ISDIR);
		g_autofree char *reply = g_strdup_printf("%scannot run msp %s: %s",
		                                         config ? "configuration error: " : "",
		                                         deliver->msp[0], spawn_error->message);
		g_error_free(spawn_error);
		if (config)
			kov_log_err("deliver: %s; the mail is kept and retried", reply);
		kov_deliver_result_set_all(results, n, KOV_RCPT_DEFERRED, 0, reply);
		close(errfd);
		return;
	}
	pid_t waited;
	do
		waited = waitpid(pid, &status, 0);
	while (waited < 0 && errno == EINTR);
	g_spawn_close_pid(pid);
	if (waited < 0) {
		g_autofree char *reply = g_strdup_printf("msp: lost its exit status: %s", g_strerror(errno));
		kov_deliver_result_set_all(results, n, KOV_RCPT_DEFERRED, 0, reply);
	} else {
		kov_deliver_msp_conclude(status, errfd, results, n);
	}
	close(errfd);
}

/* TRUE when all were delivered; else the first one that was not sets @error. */
static gboolean
kov_deliver_conclude(const char *const *rcpts, gsize n, const KovRcptResult *results, GError **error)
{
	gsize first = n, others = 0;

	for (gsize i = 0; i < n; i++) {
		if (results[i].status == KOV_RCPT_DELIVERED)
			continue;
		if (first == n)
			first = i;
		else
			others++;
	}
	if (first == n)
		return TRUE;
	gboolean deferred = results[first].status == KOV_RCPT_DEFERRED;
	g_autofree char *more = others > 0 ? g_strdup_printf(" (and %zu more)", others) : g_strdup("");
	g_set_error(error, KOV_ERROR, deferred ? KOV_ERROR_TEMPFAIL : KOV_ERROR_PERMFAIL,
	            "delivery to %s %s: %s%s", rcpts[first], deferred ? "deferred" : "failed",
	            results[first].reply, more);
	return FALSE;
}

gboolean
kov_deliver_send(KovDeliver *deliver, const char *sender, const char *const *rcpts, gsize n,
                 int fd, KovRcptResult *results, GError **error)
{
	g_return_val_if_fail(deliver != NULL, FALSE);
	g_return_val_if_fail(sender != NULL, FALSE);
	g_return_val_if_fail(rcpts != NULL && n > 0, FALSE);
	g_return_val_if_fail(fd >= 0, FALSE);
	g_return_val_if_fail(results != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (deliver->curl != NULL)
		kov_deliver_smtp(deliver, sender, rcpts, n, fd, results);
	else
		kov_deliver_msp(deliver, sender, rcpts, n, fd, results);
	return kov_deliver_conclude(rcpts, n, results, error);
}
