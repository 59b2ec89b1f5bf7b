/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The listener process (listener.h). One GThreadedSocketService over all
 * ports, a thread per session with blocking reads and writes bounded by
 * the socket's timeout (per phase: before AUTH, waiting for a command,
 * inside DATA, the TLS handshake) and a deadline for the whole session.
 * Caps are counted here, under one mutex: past max-sessions or
 * max-sessions-per-ip a connection hears 421 and is closed; the service
 * has more threads than the cap so that it can still say so. Everything a
 * client sends is the session machine's to judge (session.h); this file
 * moves bytes, does the TLS, asks auth.c, and writes through enqueue.c.
 * Every session ends with one info line that says why ("closed:", or
 * "refused:" at the door). */
#include "listener.h"
#include "auth.h"
#include "enqueue.h"
#include "error.h"
#include "log.h"
#include "logfmt.h"
#include "metrics.h"
#include "policy.h"
#include "session.h"
#include "address.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <sysexits.h>
#include <unistd.h>

/* The threads beyond max-sessions that answer 421 to the excess. */
#define KOV_LISTENER_SPARE_THREADS 16
/* How long a 421 to a refused connection may take to write. */
#define KOV_LISTENER_REFUSE_TIMEOUT 5
/* How long a client must wait between the two lines of the greeting. */
#define KOV_LISTENER_PREGREET_MS 25
/* How long to retry a port still held (by the listener a reload replaces). */
#define KOV_LISTENER_BIND_RETRY_MS 5000

typedef enum {
	KOV_PORT_STARTTLS,   /* submission: plaintext, STARTTLS (RFC 6409, 3207) */
	KOV_PORT_TLS,        /* submissions: implicit TLS (RFC 8314) */
	KOV_PORT_KUVERT,     /* Kuvert's: loopback, AUTH without TLS */
	KOV_PORT_N,
} KovPortKind;

static const char *const kov_port_names[] = { "STARTTLS", "TLS", "Kuvert" };

typedef struct _KovListener KovListener;

typedef struct {
	KovListener *l;
	KovPortKind kind;
	char sid[12];
	char *ip;
	GSocket *socket;           /* borrowed from the connection */
	GIOStream *io;             /* the connection, or TLS over it (owned) */
	GCancellable *cancel;      /* cancelled when the listener stops */
	gboolean tls;
	char *cert_sha256;         /* the client certificate presented, if any */
	const KovClientConfig *client;
	KovSmtpSession *smtp;
	KovEnqueue *mail;          /* the message being received */
	GError *mail_error;        /* writing it failed: 451 at its end */
	gint64 deadline;           /* monotonic, µs */
	gboolean in_data;          /* under l->lock: not to be cut at a stop */
	struct timespec greeted;   /* when the greeting was written (CLOCK_REALTIME); 0: not yet */
	gboolean heard;            /* the client has sent something since */
	gboolean gone;             /* the connection failed: no more I/O */
	gboolean closed;           /* its end is logged (kov_conn_closed) */
} KovConn;

struct _KovListener {
	const KovListenConfig *listen;
	const char *queuedir;
	const char *hostname;
	KovAuth *auth;
	GTlsCertificate *cert;
	GSocketService *service;
	GObject *marker[KOV_PORT_N];   /* which port a connection came to */
	GMutex lock;
	guint sessions;
	GHashTable *per_ip;            /* ip -> count */
	GHashTable *conns;             /* KovConn* set */
	gboolean stopping;
	GMainLoop *loop;
	int ctl_fd;                    /* the daemon's socket; -1: none */
};

/* A metric event for the daemon's counters (metrics.h), one send per line:
 * sends of a few bytes on a Unix stream socket do not interleave between
 * threads. Never blocking a session, never SIGPIPE (the daemon closes its
 * end of a replaced listener): an event the daemon cannot take is lost. */
static void
kov_listener_report(KovListener *l, const char *name, const char *label, const char *value)
{
	g_autoptr(GString) line = g_string_new(NULL);
	if (l->ctl_fd < 0)
		return;
	kov_metrics_event_append(line, name, 1, label, value, NULL);
	(void)!send(l->ctl_fd, line->str, line->len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* ---- the session's I/O ---------------------------------------------------- */

/* The session ends: one info line, "closed: REASON", whatever the path
 * (the first reason given wins). A client is never cut without a word in
 * the log. */
static void G_GNUC_PRINTF(2, 3)
kov_conn_closed(KovConn *c, const char *fmt, ...)
{
	if (c->closed)
		return;
	c->closed = TRUE;
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *why = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	kov_log_info("session=%s ip=%s: closed: %s", c->sid, c->ip, why);
}

static void
kov_conn_timeout(KovConn *c, gint64 seconds)
{
	gint64 left = (c->deadline - g_get_monotonic_time()) / G_USEC_PER_SEC;
	g_socket_set_timeout(c->socket, (guint)CLAMP(MIN(seconds, left), 1, G_MAXUINT));
}

/* Write the machine's output. FALSE when the client is gone. */
static gboolean
kov_conn_flush(KovConn *c)
{
	gsize len = 0;
	const char *out = kov_smtp_session_output(c->smtp, &len);
	g_autoptr(GError) error = NULL;

	if (len == 0 || c->gone) {
		kov_smtp_session_output_clear(c->smtp);
		return !c->gone;
	}
	GOutputStream *os = g_io_stream_get_output_stream(c->io);
	if (c->greeted.tv_sec == 0)
		clock_gettime(CLOCK_REALTIME, &c->greeted);
	if (!g_output_stream_write_all(os, out, len, NULL, NULL, &error)) {
		kov_conn_closed(c, "cannot write: %s", error->message);
		c->gone = TRUE;
	}
	kov_smtp_session_output_clear(c->smtp);
	return !c->gone;
}

/* Say something outside the machine (421 at a stop or a timeout). */
static void
kov_conn_say(KovConn *c, const char *line)
{
	if (c->gone)
		return;
	GOutputStream *os = g_io_stream_get_output_stream(c->io);
	g_socket_set_timeout(c->socket, KOV_LISTENER_REFUSE_TIMEOUT);
	if (!g_output_stream_write_all(os, line, strlen(line), NULL, NULL, NULL))
		c->gone = TRUE;
}

static gint64
kov_conn_phase_timeout(KovConn *c)
{
	const KovListenConfig *listen = c->l->listen;
	switch (kov_smtp_session_phase(c->smtp)) {
	case KOV_SMTP_PHASE_GREETED:       return listen->timeout_greeted;
	case KOV_SMTP_PHASE_AUTHENTICATED: return listen->timeout;
	case KOV_SMTP_PHASE_DATA:          return listen->timeout_data;
	}
	return listen->timeout_greeted;
}

/* A client that talks before the greeting is no SMTP client (nor one
 * RFC 5321 4.3.1 allows). What was there before we greet, or came
 * between the first line of the greeting and the last, is seen by a
 * poll; what arrived while the last line was being written, by the
 * kernel's receive time of the first bytes (SO_TIMESTAMPNS, plaintext
 * ports), compared with when we began to write it. */
static void
kov_conn_stamp(KovConn *c, gboolean on)
{
	int v = on;
	if (!c->tls)
		setsockopt(g_socket_get_fd(c->socket), SOL_SOCKET, SO_TIMESTAMPNS, &v, sizeof v);
}

static gboolean
kov_conn_talks_first(KovConn *c)
{
	if (c->tls) {
		GInputStream *is = g_io_stream_get_input_stream(c->io);
		if (G_IS_POLLABLE_INPUT_STREAM(is)
		    && g_pollable_input_stream_is_readable(G_POLLABLE_INPUT_STREAM(is)))
			return TRUE;
	}
	if (g_socket_condition_timed_wait(c->socket, G_IO_IN, 0, NULL, NULL))
		return TRUE;
	/* The first line of a greeting in two (RFC 5321 4.2), then a short
	 * wait: a client that sends at once, without waiting for the last
	 * line, is caught however fast we were (postscreen's pregreet test). */
	g_autofree char *first = g_strdup_printf("220-%s\r\n", c->l->hostname);
	kov_conn_say(c, first);
	return c->gone || g_socket_condition_timed_wait(c->socket, G_IO_IN,
	                                                KOV_LISTENER_PREGREET_MS * 1000, c->cancel, NULL);
}

/* The first bytes after the greeting (there are some): did they arrive
 * before it left? */
static gboolean
kov_conn_spoke_early(KovConn *c)
{
	char byte;
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
		            .msg_controllen = sizeof control.buf };
	gboolean early = FALSE;

	if (recvmsg(g_socket_get_fd(c->socket), &m, MSG_PEEK | MSG_DONTWAIT) > 0) {
		for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h != NULL; h = CMSG_NXTHDR(&m, h)) {
			if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_TIMESTAMPNS)
				continue;
			struct timespec at;
			memcpy(&at, CMSG_DATA(h), sizeof at);
			early = at.tv_sec < c->greeted.tv_sec
			        || (at.tv_sec == c->greeted.tv_sec && at.tv_nsec < c->greeted.tv_nsec);
		}
	}
	kov_conn_stamp(c, FALSE);
	return early;
}

/* Read what the client sent and give it to the machine. FALSE: the
 * session is over (EOF, timeout, a stop, an error), said and logged. */
static gboolean
kov_conn_read(KovConn *c)
{
	KovListener *l = c->l;
	char buf[16384];
	g_autoptr(GError) error = NULL;
	gboolean in_data = kov_smtp_session_phase(c->smtp) == KOV_SMTP_PHASE_DATA;

	g_mutex_lock(&l->lock);
	gboolean stopping = l->stopping && !in_data;
	c->in_data = in_data;
	g_mutex_unlock(&l->lock);
	if (stopping) {
		kov_conn_say(c, "421 4.3.2 Service shutting down, try again later\r\n");
		kov_conn_closed(c, "the listener stops");
		return FALSE;
	}
	if (g_get_monotonic_time() >= c->deadline) {
		kov_conn_say(c, "421 4.4.2 Session too long, closing\r\n");
		kov_conn_closed(c, "session deadline");
		return FALSE;
	}
	gint64 timeout = kov_conn_phase_timeout(c);
	kov_conn_timeout(c, timeout);
	gssize n = -1;
	if (!c->heard && !c->tls) {
		c->heard = TRUE;
		if (g_socket_condition_timed_wait(c->socket, G_IO_IN, timeout * G_USEC_PER_SEC, c->cancel,
		                                  &error)
		    && kov_conn_spoke_early(c)) {
			kov_conn_closed(c, "input before the greeting");
			return FALSE;
		}
	}
	GInputStream *is = g_io_stream_get_input_stream(c->io);
	if (error == NULL)
		n = g_input_stream_read(is, buf, sizeof buf, c->cancel, &error);
	if (n > 0) {
		kov_smtp_session_push(c->smtp, buf, (gsize)n);
		/* it may have held an AUTH response: no copy of it stays behind */
		explicit_bzero(buf, (gsize)n);
		return TRUE;
	}
	if (n == 0) {
		kov_conn_closed(c, "the client went away");
	} else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
		kov_conn_say(c, "421 4.4.2 Timeout, closing\r\n");
		kov_conn_closed(c, "timeout (%s)", in_data ? "in DATA" : "waiting for a command");
	} else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		kov_conn_say(c, "421 4.3.2 Service shutting down, try again later\r\n");
		kov_conn_closed(c, "the listener stops");
	} else {
		kov_conn_closed(c, "%s", error->message);
	}
	c->gone = n != 0 || c->gone;
	return FALSE;
}

/* ---- TLS ------------------------------------------------------------------ */

/* Any certificate is welcome: it identifies, it does not authenticate by
 * a CA. Its SHA-256 (over the DER) is looked up after the handshake. */
static gboolean
kov_conn_on_certificate(GTlsConnection *tls, GTlsCertificate *peer, GTlsCertificateFlags errors,
                        gpointer data)
{
	(void)tls;
	(void)errors;
	KovConn *c = data;
	g_autoptr(GByteArray) der = NULL;
	g_object_get(peer, "certificate", &der, NULL);
	g_free(c->cert_sha256);
	c->cert_sha256 = der != NULL ? g_compute_checksum_for_data(G_CHECKSUM_SHA256, der->data, der->len)
	                             : NULL;
	return TRUE;
}

static gboolean
kov_conn_handshake(KovConn *c)
{
	g_autoptr(GError) error = NULL;
	GIOStream *tls = g_tls_server_connection_new(c->io, c->l->cert, &error);

	if (tls == NULL) {
		kov_log_err("session=%s ip=%s: TLS: %s", c->sid, c->ip, error->message);
		kov_conn_closed(c, "TLS: %s", error->message);
		return FALSE;
	}
	g_object_set(tls, "authentication-mode", G_TLS_AUTHENTICATION_REQUESTED,
	             "require-close-notify", FALSE, NULL);
	g_signal_connect(tls, "accept-certificate", G_CALLBACK(kov_conn_on_certificate), c);
	g_socket_set_timeout(c->socket, (guint)MAX(c->l->listen->timeout_tls, 1));
	/* From now on all I/O goes through TLS; the connection stays below it. */
	g_object_unref(c->io);
	c->io = tls;
	if (!g_tls_connection_handshake(G_TLS_CONNECTION(tls), c->cancel, &error)) {
		kov_conn_closed(c, "TLS handshake: %s", error->message);
		c->gone = TRUE;
		return FALSE;
	}
	c->tls = TRUE;
	return TRUE;
}

/* A certificate that names a client logs it in; an unknown one changes
 * nothing (the client may still AUTH, and hears what any client that has
 * not logged in hears), and is logged. */
static void
kov_conn_map_certificate(KovConn *c)
{
	if (c->cert_sha256 == NULL)
		return;
	const KovClientConfig *client =
		kov_listen_config_client_by_certificate(c->l->listen, c->cert_sha256);
	if (client == NULL || c->kind == KOV_PORT_KUVERT) {
		kov_log_info("session=%s ip=%s: certificate refused: sha256=%s is no client's", c->sid,
		             c->ip, c->cert_sha256);
		kov_listener_report(c->l, "koverto_listener_auth_failures_total", "reason", "certificate");
		return;
	}
	c->client = client;
	kov_smtp_session_set_client(c->smtp, client->name);
	kov_log_info("session=%s ip=%s: client=%s by its certificate", c->sid, c->ip, client->name);
}

/* ---- the host's answers to the machine ------------------------------------ */

/* The Kuvert port serves Kuvert's one user; the TLS ports the others: a
 * password that works on the wrong port is a failure like any other. */
static gboolean
kov_conn_client_fits(const KovConn *c, const KovClientConfig *client)
{
	gboolean kuvert_client = c->l->listen->kuvert && g_str_equal(client->name, "kuvert")
	                         && client->password_plain != NULL;
	return (c->kind == KOV_PORT_KUVERT) == kuvert_client;
}

static void
kov_conn_auth(KovConn *c)
{
	const char *user = kov_smtp_session_auth_user(c->smtp);
	const char *password = kov_smtp_session_auth_password(c->smtp);
	const KovClientConfig *client = NULL;
	KovAuthResult r = kov_auth_check(c->l->auth, user ? user : "", password ? password : "", c->ip,
	                                 &client);
	/* The user name is the client's to choose: quoted as logfmt, so that it
	 * cannot pass for another key=value pair in the line. */
	g_autoptr(GString) who = g_string_new(NULL);
	kov_logfmt_append(who, "user", user ? user : "", 256);

	if (r == KOV_AUTH_OK && !kov_conn_client_fits(c, client)) {
		/* The same delay as any failure: the reply says nothing more. */
		g_usleep((gulong)g_random_int_range(500000, 1000000));
		r = KOV_AUTH_FAILED;
		kov_log_info("session=%s ip=%s: AUTH refused: %s: not on this port", c->sid, c->ip,
		             who->str);
		kov_listener_report(c->l, "koverto_listener_auth_failures_total", "reason", "port");
		kov_smtp_session_auth_done(c->smtp, NULL);
		return;
	}
	if (r != KOV_AUTH_OK) {
		kov_log_info("session=%s ip=%s: AUTH refused: %s: %s", c->sid, c->ip, who->str,
		             r == KOV_AUTH_BACKED_OFF ? "too many recent failures (backed off)"
		                                      : "wrong password or unknown user");
		kov_listener_report(c->l, "koverto_listener_auth_failures_total", "reason",
		                    r == KOV_AUTH_BACKED_OFF ? "backoff" : "credentials");
		kov_smtp_session_auth_done(c->smtp, NULL);
		return;
	}
	c->client = client;
	kov_log_info("session=%s ip=%s: client=%s logged in", c->sid, c->ip, client->name);
	kov_smtp_session_auth_done(c->smtp, client->name);
}

/* May the client use @address (MAIL FROM or From)? Its senders decide;
 * Kuvert's client has none (Kuvert had no sender check). */
static gboolean
kov_conn_sender_ok(const KovConn *c, const char *address)
{
	if (c->client == NULL)
		return FALSE;
	if (*address != '\0' && !kov_address_is_sane(address))
		return FALSE;
	if (c->client->senders_re == NULL)
		return TRUE;
	return kov_policy_sender_allowed(c->client->senders_re, address);
}

static void
kov_conn_mail(KovConn *c)
{
	const char *sender = kov_smtp_session_sender(c->smtp);
	gboolean ok = kov_conn_sender_ok(c, sender);
	if (!ok)
		kov_log_info("session=%s ip=%s: client=%s: MAIL FROM <%s> refused: not one of its senders",
		             c->sid, c->ip, c->client ? c->client->name : "-", sender);
	kov_smtp_session_mail_done(c->smtp, ok);
}

static const char *
kov_conn_protocol(const KovConn *c)
{
	/* RFC 3848; a client known by its certificate counts as authenticated. */
	return c->tls ? "ESMTPSA" : "ESMTPA";
}

static void
kov_conn_data(KovConn *c)
{
	gsize len = 0;
	const char *data = kov_smtp_session_data(c->smtp, &len);

	if (c->mail_error != NULL)
		return;   /* the rest is read and dropped; 451 at the end */
	if (c->mail == NULL) {
		KovEnqueueInfo info = { .queue = c->client->queue, .client = c->client->name,
			                .sender = kov_smtp_session_sender(c->smtp),
			                .recipients = kov_smtp_session_recipients(c->smtp),
			                .helo = kov_smtp_session_helo(c->smtp),
			                .ip = c->l->listen->received_ip ? c->ip : NULL,
			                .hostname = c->l->hostname, .protocol = kov_conn_protocol(c) };
		c->mail = kov_enqueue_begin(c->l->queuedir, &info, &c->mail_error);
		if (c->mail == NULL)
			return;
	}
	if (len > 0 && !kov_enqueue_write(c->mail, data, len, &c->mail_error))
		g_clear_pointer(&c->mail, kov_enqueue_free);
}

static void
kov_conn_drop(KovConn *c)
{
	g_clear_pointer(&c->mail, kov_enqueue_free);
	g_clear_error(&c->mail_error);
}

/* Every recipient goes into a header line: none may carry what a header
 * field or SMTP could misread (the machine checked the syntax). */
static gboolean
kov_conn_recipients_sane(const KovConn *c)
{
	const GPtrArray *rcpts = kov_smtp_session_recipients(c->smtp);
	for (guint i = 0; i < rcpts->len; i++)
		if (!kov_address_is_sane(g_ptr_array_index(rcpts, i)))
			return FALSE;
	return TRUE;
}

static KovSmtpOutcome
kov_conn_check_from(KovConn *c)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) from = kov_enqueue_from(c->mail, &error);

	if (from == NULL) {
		kov_log_info("session=%s ip=%s: client=%s: message refused: %s", c->sid, c->ip,
		             c->client->name, error->message);
		return KOV_SMTP_SENDER_REFUSED;
	}
	if (from->len == 0) {
		kov_log_info("session=%s ip=%s: client=%s: message refused: no From address", c->sid,
		             c->ip, c->client->name);
		return c->client->senders_re == NULL ? KOV_SMTP_QUEUED : KOV_SMTP_SENDER_REFUSED;
	}
	for (guint i = 0; i < from->len; i++) {
		if (!kov_conn_sender_ok(c, g_ptr_array_index(from, i))) {
			kov_log_info("session=%s ip=%s: client=%s: message refused: From <%s> is not one "
			             "of its senders", c->sid, c->ip, c->client->name,
			             (const char *)g_ptr_array_index(from, i));
			return KOV_SMTP_SENDER_REFUSED;
		}
	}
	return KOV_SMTP_QUEUED;
}

static void
kov_conn_message(KovConn *c)
{
	KovSmtpOutcome outcome = KOV_SMTP_QUEUED;

	if (c->mail == NULL && c->mail_error == NULL)
		kov_conn_data(c);   /* an empty message: no DATA came */
	if (c->mail == NULL) {
		kov_log_err("session=%s ip=%s: client=%s: cannot queue the message: %s", c->sid, c->ip,
		            c->client->name, c->mail_error ? c->mail_error->message : "?");
		outcome = KOV_SMTP_TEMPFAIL;
	} else if (!kov_conn_recipients_sane(c)) {
		kov_log_info("session=%s ip=%s: client=%s: message refused: a recipient address "
		             "koverto does not pass on", c->sid, c->ip, c->client->name);
		outcome = KOV_SMTP_REFUSED;
	} else {
		outcome = kov_conn_check_from(c);
	}
	g_autoptr(GError) error = NULL;
	if (outcome == KOV_SMTP_QUEUED && !kov_enqueue_commit(c->mail, &error)) {
		kov_log_err("session=%s ip=%s: client=%s: cannot queue the message: %s", c->sid, c->ip,
		            c->client->name, error->message);
		outcome = KOV_SMTP_TEMPFAIL;
	}
	if (outcome == KOV_SMTP_QUEUED) {
		/* As the worker's "received from" line, then key=value pairs;
		 * the HELO name is the client's, quoted if it must be. */
		const char *helo = kov_smtp_session_helo(c->smtp);
		g_autoptr(GString) kv = g_string_new(NULL);
		g_autofree char *rcpts = g_strdup_printf("%u", kov_smtp_session_recipients(c->smtp)->len);
		g_autofree char *size = g_strdup_printf("%" G_GUINT64_FORMAT, kov_enqueue_size(c->mail));
		kov_logfmt_append(kv, "client", c->client->name, 0);
		kov_logfmt_append(kv, "ip", c->ip, 0);
		kov_logfmt_append(kv, "helo", helo ? helo : "", 0);
		kov_logfmt_append(kv, "rcpt", rcpts, 0);
		kov_logfmt_append(kv, "size", size, 0);
		kov_log_info("session=%s id=%s: received from <%s> into %s %s", c->sid,
		             kov_enqueue_id(c->mail), kov_smtp_session_sender(c->smtp), c->client->queue,
		             kv->str);
		kov_listener_report(c->l, "koverto_listener_messages_total", "client", c->client->name);
	}
	kov_smtp_session_message_done(c->smtp, outcome,
	                              outcome == KOV_SMTP_QUEUED ? kov_enqueue_id(c->mail) : NULL);
	kov_conn_drop(c);
}

/* ---- one session ---------------------------------------------------------- */

static KovSmtpSession *
kov_conn_new_machine(KovConn *c)
{
	const KovListenConfig *listen = c->l->listen;
	KovSmtpConfig config = {
		.hostname = c->l->hostname,
		.max_size = listen->max_size,
		.max_recipients = listen->max_recipients,
		.max_mails = listen->max_mails,
		.max_auth_failures = 3,
		.max_errors = 3,
		.tls_offered = c->kind == KOV_PORT_STARTTLS,
		.tls_active = c->kind == KOV_PORT_TLS,
		.auth_plaintext = c->kind == KOV_PORT_KUVERT,
	};
	return kov_smtp_session_new(&config);
}

static void
kov_conn_serve(KovConn *c)
{
	if (c->kind == KOV_PORT_TLS && !kov_conn_handshake(c))
		return;
	kov_conn_stamp(c, TRUE);
	if (kov_conn_talks_first(c)) {
		kov_conn_closed(c, "input before the greeting");
		return;
	}
	c->smtp = kov_conn_new_machine(c);
	if (c->tls)
		kov_conn_map_certificate(c);
	for (;;) {
		KovSmtpEvent ev = kov_smtp_session_step(c->smtp);
		/* Known before the 354 leaves: a stop from now on lets it finish. */
		g_mutex_lock(&c->l->lock);
		c->in_data = kov_smtp_session_phase(c->smtp) == KOV_SMTP_PHASE_DATA;
		g_mutex_unlock(&c->l->lock);
		if (!kov_conn_flush(c))
			break;
		switch (ev) {
		case KOV_SMTP_NEED_INPUT:
			if (kov_conn_read(c))
				continue;
			break;
		case KOV_SMTP_STARTTLS:
			if (!kov_conn_handshake(c))
				break;
			kov_smtp_session_tls_started(c->smtp);
			kov_conn_map_certificate(c);
			continue;
		case KOV_SMTP_AUTH:
			kov_conn_auth(c);
			continue;
		case KOV_SMTP_MAIL:
			kov_conn_mail(c);
			continue;
		case KOV_SMTP_DATA:
			kov_conn_data(c);
			continue;
		case KOV_SMTP_MESSAGE:
			kov_conn_message(c);
			continue;
		case KOV_SMTP_ABORT:
			kov_log_info("session=%s ip=%s: message dropped: %s", c->sid, c->ip,
			             kov_smtp_session_reason(c->smtp));
			kov_conn_drop(c);
			continue;
		case KOV_SMTP_CLOSE: {
			const char *why = kov_smtp_session_reason(c->smtp);
			kov_conn_closed(c, "%s", why != NULL && *why != '\0' ? why : "the session ended");
			break;
		}
		}
		break;
	}
	/* A message not answered is not queued: it vanishes with its file. */
	kov_conn_drop(c);
}

/* ---- accepting ------------------------------------------------------------ */

static char *
kov_conn_peer_ip(GSocketConnection *connection)
{
	g_autoptr(GSocketAddress) addr = g_socket_connection_get_remote_address(connection, NULL);
	if (addr == NULL || !G_IS_INET_SOCKET_ADDRESS(addr))
		return g_strdup("unknown");
	return g_inet_address_to_string(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(addr)));
}

/* Count the session in; FALSE (with the reason) past a cap or at a stop. */
static gboolean
kov_listener_admit(KovListener *l, KovConn *c, const char **why)
{
	gboolean ok = FALSE;
	g_mutex_lock(&l->lock);
	guint at_ip = GPOINTER_TO_UINT(g_hash_table_lookup(l->per_ip, c->ip));
	if (l->stopping)
		*why = "the listener stops";
	else if (l->sessions >= l->listen->max_sessions)
		*why = "too many sessions";
	else if (at_ip >= l->listen->max_sessions_per_ip)
		*why = "too many sessions from this address";
	else {
		ok = TRUE;
		l->sessions++;
		g_hash_table_insert(l->per_ip, g_strdup(c->ip), GUINT_TO_POINTER(at_ip + 1));
		g_hash_table_add(l->conns, c);
	}
	g_mutex_unlock(&l->lock);
	return ok;
}

static void
kov_listener_release(KovListener *l, KovConn *c)
{
	g_mutex_lock(&l->lock);
	g_hash_table_remove(l->conns, c);
	l->sessions--;
	guint at_ip = GPOINTER_TO_UINT(g_hash_table_lookup(l->per_ip, c->ip));
	if (at_ip <= 1)
		g_hash_table_remove(l->per_ip, c->ip);
	else
		g_hash_table_insert(l->per_ip, g_strdup(c->ip), GUINT_TO_POINTER(at_ip - 1));
	g_mutex_unlock(&l->lock);
}

static gboolean
kov_listener_on_run(GThreadedSocketService *service, GSocketConnection *connection,
                    GObject *source, gpointer data)
{
	(void)service;
	KovListener *l = data;
	KovConn c = { .l = l, .kind = KOV_PORT_STARTTLS };
	const char *why = NULL;

	for (int k = 0; k < KOV_PORT_N; k++)
		if (source == l->marker[k])
			c.kind = (KovPortKind)k;
	g_snprintf(c.sid, sizeof c.sid, "%08x", g_random_int());
	c.ip = kov_conn_peer_ip(connection);
	c.socket = g_socket_connection_get_socket(connection);
	c.io = g_object_ref(G_IO_STREAM(connection));
	c.cancel = g_cancellable_new();
	c.deadline = g_get_monotonic_time() + MAX(l->listen->session_deadline, 1) * G_USEC_PER_SEC;

	if (!kov_listener_admit(l, &c, &why)) {
		g_autofree char *line = g_strdup_printf("421 4.7.0 %s Too many connections, try again later\r\n",
		                                        l->hostname);
		kov_log_info("session=%s ip=%s: refused: %s", c.sid, c.ip, why);
		if (c.kind != KOV_PORT_TLS)
			kov_conn_say(&c, line);
	} else {
		kov_log_debug("session=%s ip=%s: connected to the %s port", c.sid, c.ip,
		              kov_port_names[c.kind]);
		kov_listener_report(l, "koverto_listener_sessions_total", NULL, NULL);
		kov_conn_serve(&c);
		kov_conn_closed(&c, "the session ended");   /* if no path above said why */
		kov_listener_release(l, &c);
	}
	g_socket_set_timeout(c.socket, KOV_LISTENER_REFUSE_TIMEOUT);
	g_io_stream_close(c.io, NULL, NULL);
	if (c.io != G_IO_STREAM(connection))
		g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
	g_clear_pointer(&c.smtp, kov_smtp_session_free);
	g_object_unref(c.io);
	g_object_unref(c.cancel);
	g_free(c.cert_sha256);
	g_free(c.ip);
	return TRUE;
}

/* ---- ports ---------------------------------------------------------------- */

/* "HOST:PORT" or "[V6]:PORT" (the configuration checked them). */
static GSocketAddress *
kov_listener_address(const char *spec, GError **error)
{
	g_autofree char *host = NULL;
	const char *port;

	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');
		if (end == NULL || end[1] != ':')
			goto bad;
		host = g_strndup(spec + 1, (gsize)(end - spec - 1));
		port = end + 2;
	} else {
		const char *colon = strrchr(spec, ':');
		if (colon == NULL)
			goto bad;
		host = g_strndup(spec, (gsize)(colon - spec));
		port = colon + 1;
	}
	guint64 p = 0;
	if (!g_ascii_string_to_unsigned(port, 10, 1, 65535, &p, NULL))
		goto bad;
	GSocketAddress *addr = g_inet_socket_address_new_from_string(host, (guint)p);
	if (addr != NULL)
		return addr;
bad:
	g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "listener: bad address \"%s\"", spec);
	return NULL;
}

static gboolean
kov_listener_bind(KovListener *l, const char *spec, KovPortKind kind, GString *ready, GError **error)
{
	g_autoptr(GSocketAddress) addr = kov_listener_address(spec, error);
	gint64 until = g_get_monotonic_time() + KOV_LISTENER_BIND_RETRY_MS * 1000;

	if (addr == NULL)
		return FALSE;
	for (;;) {
		g_autoptr(GError) why = NULL;
		if (g_socket_listener_add_address(G_SOCKET_LISTENER(l->service), addr, G_SOCKET_TYPE_STREAM,
		                                  G_SOCKET_PROTOCOL_TCP, l->marker[kind], NULL, &why)) {
			g_string_append_printf(ready, "%s%s (%s)", ready->len ? ", " : "", spec,
			                       kov_port_names[kind]);
			return TRUE;
		}
		/* The listener a reload replaces may still hold it for a moment. */
		if (!g_error_matches(why, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE)
		    || g_get_monotonic_time() >= until) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL, "listener: cannot listen on %s: %s",
			            spec, why->message);
			return FALSE;
		}
		g_usleep(100000);
	}
}

static gboolean
kov_listener_bind_all(KovListener *l, GError **error)
{
	const KovListenConfig *listen = l->listen;
	g_autoptr(GString) ready = g_string_new(NULL);

	for (char **a = listen->submission; a != NULL && *a != NULL; a++)
		if (!kov_listener_bind(l, *a, KOV_PORT_STARTTLS, ready, error))
			return FALSE;
	for (char **a = listen->submissions; a != NULL && *a != NULL; a++)
		if (!kov_listener_bind(l, *a, KOV_PORT_TLS, ready, error))
			return FALSE;
	if (listen->kuvert && listen->kuvert_address != NULL
	    && !kov_listener_bind(l, listen->kuvert_address, KOV_PORT_KUVERT, ready, error))
		return FALSE;
	kov_log_info("listener: ready on %s", ready->str);
	return TRUE;
}

/* ---- the process ---------------------------------------------------------- */

static gboolean
kov_listener_has_tls(const KovListenConfig *listen)
{
	return (listen->submission != NULL && listen->submission[0] != NULL)
	       || (listen->submissions != NULL && listen->submissions[0] != NULL);
}

static GTlsCertificate *
kov_listener_load_certificate(const KovListenConfig *listen, GError **error)
{
	g_autoptr(GError) why = NULL;

	if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "listener: GIO has no TLS backend (install glib-networking)");
		return NULL;
	}
	if (listen->tls_cert == NULL || listen->tls_key == NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "listener: tls-cert and tls-key are needed");
		return NULL;
	}
	GTlsCertificate *cert = g_tls_certificate_new_from_files(listen->tls_cert, listen->tls_key, &why);
	if (cert == NULL)
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "listener: tls-cert %s, tls-key %s: %s",
		            listen->tls_cert, listen->tls_key, why->message);
	return cert;
}

gboolean
kov_listener_check(const KovListenConfig *listen, GError **error)
{
	g_return_val_if_fail(listen != NULL, FALSE);
	if (!kov_listener_has_tls(listen))
		return TRUE;
	g_autoptr(GTlsCertificate) cert = kov_listener_load_certificate(listen, error);
	return cert != NULL;
}

/* Stop accepting; cut the sessions that are not receiving a message. */
static void
kov_listener_stop(KovListener *l)
{
	g_mutex_lock(&l->lock);
	if (!l->stopping) {
		l->stopping = TRUE;
		GHashTableIter it;
		gpointer key;
		g_hash_table_iter_init(&it, l->conns);
		while (g_hash_table_iter_next(&it, &key, NULL))
			if (!((KovConn *)key)->in_data)
				g_cancellable_cancel(((KovConn *)key)->cancel);
	}
	g_mutex_unlock(&l->lock);
	g_socket_service_stop(l->service);
	g_socket_listener_close(G_SOCKET_LISTENER(l->service));
	g_main_loop_quit(l->loop);
}

static gboolean
kov_listener_on_ctl(gint fd, GIOCondition condition, gpointer data)
{
	char buf[64];
	(void)condition;
	ssize_t n = read(fd, buf, sizeof buf);
	if (n > 0 || (n < 0 && errno == EINTR))
		return G_SOURCE_CONTINUE;
	kov_log_info("listener: the daemon is gone; stopping");
	kov_listener_stop(data);
	return G_SOURCE_CONTINUE;   /* removed when the loop is over */
}

static gboolean
kov_listener_on_term(gpointer data)
{
	kov_log_info("listener: stopping");
	kov_listener_stop(data);
	return G_SOURCE_CONTINUE;   /* removed when the loop is over */
}

/* Wait for the sessions to end: those in DATA get @grace seconds; then
 * every connection is shut down under them. */
static void
kov_listener_drain(KovListener *l, gint64 grace)
{
	gint64 until = g_get_monotonic_time() + grace * G_USEC_PER_SEC;
	for (int pass = 0; pass < 2; pass++) {
		for (;;) {
			g_mutex_lock(&l->lock);
			guint left = l->sessions;
			if (left > 0 && g_get_monotonic_time() >= until) {
				GHashTableIter it;
				gpointer key;
				g_hash_table_iter_init(&it, l->conns);
				while (g_hash_table_iter_next(&it, &key, NULL)) {
					g_cancellable_cancel(((KovConn *)key)->cancel);
					shutdown(g_socket_get_fd(((KovConn *)key)->socket), SHUT_RDWR);
				}
			}
			g_mutex_unlock(&l->lock);
			if (left == 0 || g_get_monotonic_time() >= until)
				break;
			g_usleep(50000);
		}
		until = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
	}
}

int
kov_listener_run(const KovListenConfig *listen, const char *queuedir, gint64 grace, int ctl_fd)
{
	g_return_val_if_fail(listen != NULL && queuedir != NULL, EX_SOFTWARE);
	g_autoptr(GError) error = NULL;
	KovListener l = { .listen = listen, .queuedir = queuedir, .ctl_fd = ctl_fd };
	g_autofree char *host = NULL;
	int status = 0;

	if (listen->hostname != NULL && *listen->hostname != '\0')
		l.hostname = listen->hostname;
	else
		l.hostname = host = g_strdup(g_get_host_name());
	if (kov_listener_has_tls(listen) && (l.cert = kov_listener_load_certificate(listen, &error)) == NULL) {
		kov_log_err("%s", error->message);
		return EX_CONFIG;
	}
	g_mutex_init(&l.lock);
	l.per_ip = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	l.conns = g_hash_table_new(g_direct_hash, g_direct_equal);
	l.auth = kov_auth_new(listen, 0);
	l.loop = g_main_loop_new(NULL, FALSE);
	for (int k = 0; k < KOV_PORT_N; k++)
		l.marker[k] = g_object_new(G_TYPE_OBJECT, NULL);
	l.service = g_threaded_socket_service_new((int)listen->max_sessions + KOV_LISTENER_SPARE_THREADS);
	/* Not accepting until every port is bound (g_socket_service_start
	 * below). A port added to a service that accepts cancels the accept in
	 * progress, and GLib closes, without a word and without the "run"
	 * handler, a connection that this cancelled accept still takes: under
	 * load, the first client after the start heard nothing but EOF. */
	g_socket_service_stop(l.service);
	g_socket_listener_set_backlog(G_SOCKET_LISTENER(l.service), 128);
	g_signal_connect(l.service, "run", G_CALLBACK(kov_listener_on_run), &l);

	if (!kov_listener_bind_all(&l, &error)) {
		kov_log_err("%s", error->message);
		status = EX_TEMPFAIL;
	} else {
		guint ctl = ctl_fd >= 0 ? g_unix_fd_add(ctl_fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
		                                        kov_listener_on_ctl, &l) : 0;
		guint term = g_unix_signal_add(SIGTERM, kov_listener_on_term, &l);
		sigset_t unblock;
		sigemptyset(&unblock);
		sigaddset(&unblock, SIGTERM);
		sigprocmask(SIG_UNBLOCK, &unblock, NULL);
		g_socket_service_start(l.service);
		/* The daemon tells the service manager it is ready on this line. */
		if (ctl_fd >= 0)
			(void)!send(ctl_fd, KOV_LISTENER_ACCEPTING "\n", sizeof KOV_LISTENER_ACCEPTING,
			            MSG_NOSIGNAL | MSG_DONTWAIT);
		g_main_loop_run(l.loop);
		kov_listener_drain(&l, grace);
		if (ctl != 0)
			g_source_remove(ctl);
		g_source_remove(term);
		kov_log_info("listener: stopped");
	}
	g_socket_service_stop(l.service);
	g_socket_listener_close(G_SOCKET_LISTENER(l.service));
	/* Threads still running (cut but not yet out) keep their session:
	 * the process ends here, so nothing below them is freed. */
	if (l.sessions == 0) {
		g_object_unref(l.service);
		kov_auth_free(l.auth);
		g_hash_table_unref(l.conns);
		g_hash_table_unref(l.per_ip);
		for (int k = 0; k < KOV_PORT_N; k++)
			g_object_unref(l.marker[k]);
		g_clear_object(&l.cert);
		g_main_loop_unref(l.loop);
	}
	return status;
}

pid_t
kov_listener_spawn(const KovListenConfig *listen, const char *queuedir, gint64 grace,
                   const int *close_fds, gsize n_close, int *fd, GError **error)
{
	int pair[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
		kov_error_set_errno(error, errno, "listener: socketpair");
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		kov_error_set_errno(error, errno, "listener: fork");
		close(pair[0]);
		close(pair[1]);
		return -1;
	}
	if (pid == 0) {
		/* Its own group: a terminal's ^C is the daemon's to handle, and the
		 * daemon stops the listener. Reloads are the daemon's too. */
		setpgid(0, 0);
		prctl(PR_SET_NAME, "koverto-listen");   /* ps, and the tests, tell it from the workers */
		signal(SIGUSR1, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		close(pair[0]);
		for (gsize i = 0; i < n_close; i++)
			if (close_fds[i] != pair[1])
				close(close_fds[i]);
		int status = kov_listener_run(listen, queuedir, grace, pair[1]);
		fflush(NULL);
		_exit(status);
	}
	setpgid(pid, pid);
	close(pair[1]);
	*fd = pair[0];
	return pid;
}
