/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The listener's spool writer: one mail received by SMTP, written into
 * its queue while the client sends it, and handed over only when whole.
 * The file has no name until the end (O_TMPFILE in the queue's tmp/):
 * a client that goes away, a refused message or a killed listener leave
 * nothing behind in any directory. On top of the client's data go the
 * envelope (X-Kuvert-From/-To, as lib/mail/submission.c writes them),
 * the client's name (X-Koverto-Client) and the Received field. */
#pragma once
#include <glib.h>

typedef struct {
	const char *queue;              /* its name: a Maildir queuedir/NAME, or "kuvert" */
	const char *client;             /* the authenticated client's name */
	const char *sender;             /* MAIL FROM, bare; "" for <> */
	const GPtrArray *recipients;    /* of char*: RCPT TO, bare */
	const char *helo;               /* EHLO/HELO name as given (nullable) */
	const char *ip;                 /* the client's address; NULL: left out */
	const char *hostname;           /* ours, in Received */
	const char *protocol;           /* RFC 3848: ESMTPSA, ESMTPS, ESMTPA, ESMTP */
} KovEnqueueInfo;

typedef struct _KovEnqueue KovEnqueue;

/* Start a mail for @info->queue under @queuedir: the file is made and the
 * lines above written. (transfer full) NULL with @error (temporary: 451). */
KovEnqueue *kov_enqueue_begin(const char *queuedir, const KovEnqueueInfo *info, GError **error);
/* Append message data (LF line ends, as the session machine gives it). */
gboolean kov_enqueue_write(KovEnqueue *e, const char *data, gsize len, GError **error);
/* The bare lower-case addresses of the message's From fields, read from
 * its header section (what was written so far); an unparsable address
 * gives an error. (transfer full, of char*) */
GPtrArray *kov_enqueue_from(KovEnqueue *e, GError **error);
/* Make it durable and visible: fsync, link into new/ (never over another
 * file), fsync the directory. Only then may the client hear 250. */
gboolean kov_enqueue_commit(KovEnqueue *e, GError **error);
/* The queue file's name, the mail's id from now on (borrowed). */
const char *kov_enqueue_id(const KovEnqueue *e);
/* Octets of message data written. */
guint64 kov_enqueue_size(const KovEnqueue *e);
/* Done with it; a mail not committed vanishes. */
void kov_enqueue_free(KovEnqueue *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovEnqueue, kov_enqueue_free)

/* "Received: ..." as written on top (transfer full), for tests. @id and
 * @date ("Mon, 07 Dec 2026 08:00:00 +0000") given. */
char *kov_enqueue_received(const KovEnqueueInfo *info, const char *id, const char *date);
