/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The SMTP submission protocol (RFC 5321, 6409, 4954, 3207, 2920, 1870,
 * 2034, 6152) as a pure machine: the client's bytes in; reply bytes and
 * requests to its host out. No sockets, files, clock, randomness or
 * threads: the listener (listener.c) does the I/O, the waiting and the
 * checks it is asked for; the unit tests and the fuzz target drive the
 * machine with strings. GLib only.
 *
 * The host's loop:
 *
 *   s = kov_smtp_session_new(&config);        // greeting in the output
 *   for (;;) {
 *       ev = kov_smtp_session_step(s);
 *       send kov_smtp_session_output(s) if non-empty, then _output_clear
 *                                              // at least before reading
 *                                              // and on STARTTLS / CLOSE
 *       switch (ev) {
 *       NEED_INPUT: read; _push(bytes) (EOF: drop a message in progress, end)
 *       STARTTLS:   handshake; _tls_started (or fails: end)
 *       AUTH:       check _auth_user/_auth_password; _auth_done
 *       MAIL:       check _sender; _mail_done
 *       DATA:       append _data() to the message file
 *       MESSAGE:    header check, enqueue; _message_done
 *       ABORT:      drop the message file
 *       CLOSE:      send the output, close
 *       }
 *   }
 *
 * While a request (STARTTLS, AUTH, MAIL, MESSAGE) is open, _step returns
 * it again and consumes nothing; _push while input is still pending is a
 * programmer error. So input is bounded: what one read gave, plus at most
 * one partial line. */
#pragma once
#include <glib.h>

typedef struct {
	const char *hostname;      /* greeting, EHLO reply (borrowed) */
	guint64 max_size;          /* SIZE: octets of message data (after dot-unstuffing, CRLF) */
	guint max_recipients;      /* per mail; then 452 4.5.3 */
	guint max_mails;           /* per session; then 421 4.7.0 and close */
	guint max_auth_failures;   /* then 421 4.7.0 and close; 3 */
	guint max_errors;          /* replies 5xx to bad commands; then 421 and close; 3 */
	gboolean tls_offered;      /* STARTTLS advertised and accepted (a certificate is set) */
	gboolean tls_active;       /* TLS from the start (implicit TLS port) */
	gboolean auth_plaintext;   /* AUTH without TLS: Kuvert's loopback listener only */
} KovSmtpConfig;

typedef enum {
	KOV_SMTP_NEED_INPUT,  /* all input consumed: read more */
	KOV_SMTP_STARTTLS,    /* 220 is in the output; no input was pending (else CLOSE):
	                       * send it, then the TLS handshake */
	KOV_SMTP_AUTH,        /* credentials to check */
	KOV_SMTP_MAIL,        /* a syntactically valid MAIL FROM: may this client use it? */
	KOV_SMTP_DATA,        /* message octets to append (kov_smtp_session_data) */
	KOV_SMTP_MESSAGE,     /* the message ended with CRLF.CRLF and is whole: enqueue it */
	KOV_SMTP_ABORT,       /* drop the message being received (too big, bad line, RSET...) */
	KOV_SMTP_CLOSE,       /* send the output, then close; the session is over */
} KovSmtpEvent;

/* Where the session is, for the host's timeouts. */
typedef enum {
	KOV_SMTP_PHASE_GREETED,        /* not authenticated */
	KOV_SMTP_PHASE_AUTHENTICATED,  /* waiting for a command */
	KOV_SMTP_PHASE_DATA,           /* inside DATA */
} KovSmtpPhase;

/* What became of a message the host was asked to enqueue. */
typedef enum {
	KOV_SMTP_QUEUED,          /* 250 2.0.0 ... queued as ID */
	KOV_SMTP_TEMPFAIL,        /* 451 4.3.0: not on disk, try again */
	KOV_SMTP_SENDER_REFUSED,  /* 550 5.7.1: a From this client may not use */
	KOV_SMTP_REFUSED,         /* 554 5.6.0: the message itself is refused (says nothing more) */
} KovSmtpOutcome;

typedef struct _KovSmtpSession KovSmtpSession;

/* A new session; the 220 greeting is in the output. @config is copied
 * (the hostname too). (transfer full) */
KovSmtpSession *kov_smtp_session_new(const KovSmtpConfig *config);
void kov_smtp_session_free(KovSmtpSession *s);  /* wipes credentials */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovSmtpSession, kov_smtp_session_free)

/* Append @len octets the client sent. Only after _step said NEED_INPUT. */
void kov_smtp_session_push(KovSmtpSession *s, const char *buf, gsize len);
/* Run until the host must act. */
KovSmtpEvent kov_smtp_session_step(KovSmtpSession *s);

/* The reply octets produced so far (borrowed, until _output_clear). */
const char *kov_smtp_session_output(const KovSmtpSession *s, gsize *len);
void kov_smtp_session_output_clear(KovSmtpSession *s);

/* KOV_SMTP_STARTTLS answered: the handshake succeeded. Everything the
 * session knew is forgotten (RFC 3207 4.2: EHLO again); TLS is active. */
void kov_smtp_session_tls_started(KovSmtpSession *s);

/* KOV_SMTP_AUTH: PLAIN (RFC 4616) or LOGIN, initial response or not. The
 * user is "" when the response was well formed but can never succeed
 * (an authorization identity other than the user): check it like any
 * wrong password, so that the reply and its timing say nothing more.
 * (borrowed, until _auth_done) */
const char *kov_smtp_session_auth_user(const KovSmtpSession *s);
const char *kov_smtp_session_auth_password(const KovSmtpSession *s);
/* The check's result: @client (copied) the client's name, or NULL for a
 * failure (535 5.7.8; after max_auth_failures, 421 and CLOSE). Wipes the
 * password. */
void kov_smtp_session_auth_done(KovSmtpSession *s, const char *client);
/* A client known by its TLS certificate: authenticated without AUTH. */
void kov_smtp_session_set_client(KovSmtpSession *s, const char *client);
/* The authenticated client, or NULL. (borrowed) */
const char *kov_smtp_session_client(const KovSmtpSession *s);

/* KOV_SMTP_MAIL: the reverse-path, bare ("" for the null sender <>).
 * (borrowed) */
const char *kov_smtp_session_sender(const KovSmtpSession *s);
/* 250 2.1.0, or 550 5.7.1 when not @allowed. */
void kov_smtp_session_mail_done(KovSmtpSession *s, gboolean allowed);

/* The recipients of the transaction (of char*, bare; borrowed). */
const GPtrArray *kov_smtp_session_recipients(const KovSmtpSession *s);
/* The EHLO/HELO name as given (borrowed; NULL before one). */
const char *kov_smtp_session_helo(const KovSmtpSession *s);

/* KOV_SMTP_DATA: the next octets of the message: dot-stuffing undone,
 * line ends LF (the machine has checked they were CRLF), X-Kuvert-* and
 * X-Koverto-* header fields (with their continuation lines) left out of
 * the header section. (borrowed, until the next _step) */
const char *kov_smtp_session_data(const KovSmtpSession *s, gsize *len);
/* KOV_SMTP_MESSAGE answered: the 250 names @id (nullable: only when
 * @outcome is KOV_SMTP_QUEUED); the transaction is reset either way. */
void kov_smtp_session_message_done(KovSmtpSession *s, KovSmtpOutcome outcome, const char *id);

KovSmtpPhase kov_smtp_session_phase(const KovSmtpSession *s);
/* After CLOSE or ABORT: why, one short phrase for the log ("bare LF in
 * DATA", "command pipelined after STARTTLS", "3 failed AUTH", "QUIT").
 * (borrowed) */
const char *kov_smtp_session_reason(const KovSmtpSession *s);
