/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What `koverto submit` writes on top of a mail: its envelope as
 * X-Kuvert-From/X-Kuvert-To lines, from the command line or, as for
 * sendmail -t, from the headers. Shared with `koverto explain`, which
 * must see a mail exactly as the daemon will after submit queued it. */
#pragma once
#include <glib.h>
#include "policy.h"

typedef struct {
	KovQueueKind kind;
	const char *sender;          /* -f (borrowed); NULL: the mail's; "" or "<>": the null sender */
	const GPtrArray *recipients; /* of char* (borrowed): the command line's; empty: the headers decide */
	gboolean headers_decide;     /* -t: the headers decide even with recipients given */
} KovSubmission;

/* The command line's sender and recipients must each be one plain
 * address: FALSE with KOV_ERROR_USAGE naming the bad one. */
gboolean kov_submission_check(const KovSubmission *submission, GError **error);

/* The envelope lines for the mail in @fd, read from its start (a
 * KovQueueCheck: @name names it in messages, @data is the KovSubmission). The mail's own X-Kuvert-From/-To lines never count.
 * Without recipients on the command line (or with -t) the headers decide:
 * a bounce's Resent-To/-Cc/-Bcc, else To/Cc/Bcc; in the Kuvert queue a
 * bounce keeps Kuvert's way (no X-Kuvert-To, its Resent-To shortcut
 * applies). FALSE with KOV_ERROR_DATAERR when the mail cannot be routed.
 * *@prepend (transfer full). */
gboolean kov_submission_envelope(const char *name, int fd, gpointer data, char **prepend, GError **error);
