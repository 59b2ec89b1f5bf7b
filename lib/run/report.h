/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Reports about failed mail: the operator's alert and the sender's DSN. */
#pragma once
#include <glib.h>
#include <gmime/gmime.h>
#include "dsn.h"
#include "context.h"
#include "policy.h"   /* KovQueueKind */

/* Log the failure and, with mail-on-error set, mail the operator what
 * failed, where the mail is kept and how to retry. */
void kov_report_alert(KovContext *ctx, const char *queue, const char *id, const char *reason);

/* With dsn on, an RFC 3464 report to @sender about @recipients, unless
 * the sender must never get one (null sender, auto-submitted mail): NULL
 * then, or when it cannot be made (logged). (transfer full) */
GMimeMessage *kov_report_dsn_build(KovContext *ctx, const char *id, GMimeMessage *original,
                                   const char *sender, const KovDsnRecipient *recipients, gsize n,
                                   gint64 arrival);
/* Send a report made by kov_report_dsn_build to @sender; a failure is
 * logged (and FALSE). */
gboolean kov_report_dsn_send(KovContext *ctx, const char *id, GMimeMessage *report, const char *sender);
