/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Onward delivery of finished bytes to an envelope: SMTP through libcurl
 * (one reused connection, smtp.c) or the msp program run with execv
 * (msp.c), two transports behind this one interface. Knows bytes and
 * envelopes, not OpenPGP. One classification of SMTP results. */
#pragma once
#include <glib.h>
#include "config.h"

typedef struct _KovDeliver KovDeliver;

typedef enum {
	KOV_RCPT_DELIVERED,   /* RCPT and DATA accepted */
	KOV_RCPT_DEFERRED,    /* 4xx or transport failure: try again later */
	KOV_RCPT_FAILED,      /* 5xx: give up for this recipient */
} KovRcptStatus;

typedef struct {
	KovRcptStatus status;
	int code;             /* SMTP reply code, or msp exit status, 0 if none */
	char *reply;          /* the server's reply text or our reason (owned) */
} KovRcptResult;

/* Copies what it needs from @config (msserver..., msp). Refuses AUTH over an
 * unencrypted connection to a host that is not loopback (KOV_ERROR_CONFIG). */
KovDeliver *kov_deliver_new(const KovConfig *config, GError **error);
void kov_deliver_free(KovDeliver *deliver);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovDeliver, kov_deliver_free)

/* TRUE when the transport wants CRLF line ends (SMTP); FALSE for msp (LF). */
gboolean kov_deliver_wants_crlf(const KovDeliver *deliver);

/* Send the bytes readable from @fd (from offset 0) from @sender ("" for <>)
 * to @rcpts[0..n-1]. Always fills @results[0..n-1]. Returns TRUE when every
 * recipient was delivered; otherwise FALSE and @error (KOV_ERROR_TEMPFAIL or
 * KOV_ERROR_PERMFAIL) tells the first problem. A transport configuration
 * that cannot work with the server (see kov_deliver_probe) defers every
 * recipient with a reason starting "configuration error:", and is logged
 * here at error level: the mail is kept, never bounced for it. */
gboolean kov_deliver_send(KovDeliver *deliver, const char *sender, const char *const *rcpts,
                          gsize n, int fd, KovRcptResult *results, GError **error);
void kov_rcpt_result_clear(KovRcptResult *result);

/* -n --connect: connect, EHLO, STARTTLS (certificate verified) and AUTH as
 * configured, then QUIT; no mail is sent. For msp, checks that the program
 * is executable. FALSE with @error: KOV_ERROR_CONFIG when the configuration
 * cannot work with that server (no STARTTLS or no AUTH offered, login
 * refused, certificate not verifiable), KOV_ERROR_TEMPFAIL when the server
 * cannot be reached. @summary (nullable, transfer full): what was checked. */
gboolean kov_deliver_probe(KovDeliver *deliver, char **summary, GError **error);

/* ---- the transports' side (smtp.c, msp.c) ------------------------------ */

/* What a transport does; kov_deliver_send and _probe have checked the
 * arguments. @send fills @results[0..n-1] for every recipient. */
typedef struct {
	gboolean crlf;   /* wants CRLF line ends */
	void (*send)(KovDeliver *deliver, const char *sender, const char *const *rcpts, gsize n,
	             int fd, KovRcptResult *results);
	gboolean (*probe)(KovDeliver *deliver, char **summary, GError **error);
	void (*free)(KovDeliver *deliver);
} KovDeliverOps;

/* The first member of each transport's own struct. */
struct _KovDeliver {
	const KovDeliverOps *ops;
};

/* @result := @status, @code and @reply (nullable) as one line with every
 * control escaped: the reply is foreign text. Overwrites without freeing. */
void kov_deliver_result_set(KovRcptResult *result, KovRcptStatus status, int code, const char *reply);
void kov_deliver_result_set_all(KovRcptResult *results, gsize n, KovRcptStatus status, int code,
                                const char *reply);
