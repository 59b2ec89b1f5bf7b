/* SPDX-License-Identifier: GPL-3.0-or-later */
/* One claimed mail, end to end: parse, decide per recipient, render each
 * copy, deliver copy by copy and record every accepted transaction in the
 * mail's state before the next. Moving the file is the caller's job. */
#pragma once
#include <glib.h>
#include <gmime/gmime.h>
#include "context.h"
#include "keymark.h"
#include "queue.h"

typedef enum {
	KOV_OUTCOME_DELIVERED,    /* every recipient has it: remove the mail */
	KOV_OUTCOME_DEFERRED,     /* some recipient waits for a retry: keep it in cur/ */
	KOV_OUTCOME_FAILED,       /* nothing left to try and something failed: failed area */
} KovOutcome;

typedef struct {
	KovOutcome outcome;
	char *reason;             /* FAILED/DEFERRED: for the reason file and the alert */
	gint64 next_attempt;      /* DEFERRED: unix seconds */
	char *undelivered;        /* FAILED after a partial delivery: the recipients that
	                           * did not get it, comma-separated; NULL otherwise */
	gboolean quiet;           /* FAILED: no alert mail (the mail is itself a report) */
	/* FAILED: the sender's delivery status notification, built here and
	 * sent by the caller once the mail is parked (a mail that cannot be
	 * parked is failed again later: its report must not go twice).
	 * NULL when none is due. (owned) */
	GMimeMessage *dsn;
	char *dsn_to;             /* its recipient, the mail's sender (owned) */
} KovResult;

/* Process cur/<id> of @queue (borrowed from ctx->config); updates its state file. */
void kov_process_mail(KovContext *ctx, const KovQueueConfig *queue, const char *id, KovResult *result);
void kov_result_clear(KovResult *result);

/* @key is in use for @kind (a recipient's, for @address; or a signing
 * key, @address nullable): warn in the log when it (the subkey gpg uses,
 * or its primary key) expires within key-expiry-warning days, at most once
 * a day (keymark.h). No gpg run. */
void kov_process_note_expiry(const KovConfig *config, gpgme_key_t key, KovKeymarkKind kind,
                             const char *address);
