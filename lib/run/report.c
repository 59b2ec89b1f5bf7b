/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Reports to people about mail koverto gave up on: the operator's alert
 * (mail-on-error) and the sender's delivery status notification. Both go
 * out with the null envelope sender, so a report that fails is never
 * reported again, and neither ever carries the mail's body. */
#include "report.h"
#include "gmime-autoptr.h"
#include "error.h"
#include "log.h"
#include "message.h"
#include "queue.h"
#include "trace.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* Send @report from <> to @to; a report that cannot be sent is logged. */
static gboolean
kov_report_send(KovContext *ctx, const char *id, const char *what, GMimeMessage *report,
                const char *to)
{
	g_autoptr(GError) error = NULL;
	KovRcptResult result = { 0 };
	const char *rcpt[] = { to };
	int fd = open(ctx->config->tempdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0) {
		kov_log_err("id=%s: the %s to %s could not be written: %s", id, what, to, g_strerror(errno));
		return FALSE;
	}
	kov_trace_add(report, kov_trace_host(), id);
	if (kov_message_write_fd(GMIME_OBJECT(report), fd, kov_deliver_wants_crlf(ctx->deliver), &error))
		kov_deliver_send(ctx->deliver, "", rcpt, 1, fd, &result, &error);
	close(fd);
	if (error != NULL)
		kov_log_err("id=%s: the %s to %s could not be sent: %s", id, what, to, error->message);
	else
		kov_log_info("id=%s: %s sent to %s", id, what, to);
	kov_rcpt_result_clear(&result);
	return error == NULL;
}

/* The report for mail-on-error: what failed and where the mail is now.
 * It never carries the mail's body: a must-encrypt body must not leave in
 * plaintext this way either. */
static GMimeMessage *
kov_report_alert_build(const KovConfig *config, const char *queue, const char *id, const char *reason)
{
	GMimeMessage *message = g_mime_message_new(TRUE);
	g_autoptr(GMimeTextPart) body = g_mime_text_part_new_with_subtype("plain");
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	g_autofree char *subject = g_strdup_printf("koverto: mail %s in queue %s failed", id,
	                                           queue);
	g_autofree char *parked = kov_queue_failed_path(config->queuedir, queue, id);
	g_autofree char *retry = kov_queue_is_kuvert(queue)
		? g_strdup_printf("rename it back to an all-numeric name, e.g. %s/%s", config->queuedir, id)
		: g_strdup_printf("move it into %s/%s/new/", config->queuedir, queue);
	g_autofree char *text = g_strdup_printf(
		"koverto could not deliver mail %s from queue %s and has given up on it.\n\n"
		"Reason: %s\n\n"
		"The mail is kept as %s, with the reason in %s.reason.\n"
		"To try again, %s; recipients that already got it will not get it twice.\n"
		"Otherwise delete both files.\n",
		id, queue, reason, parked, parked, retry);

	g_mime_message_add_mailbox(message, GMIME_ADDRESS_TYPE_FROM, "koverto", config->mail_on_error);
	g_mime_message_add_mailbox(message, GMIME_ADDRESS_TYPE_TO, NULL, config->mail_on_error);
	g_mime_message_set_subject(message, subject, "utf-8");
	g_mime_message_set_date(message, now);
	g_mime_text_part_set_text(body, text);
	g_mime_message_set_mime_part(message, GMIME_OBJECT(body));
	return message;
}

void
kov_report_alert(KovContext *ctx, const char *queue, const char *id, const char *reason)
{
	const KovConfig *config = ctx->config;

	kov_log_err("id=%s: failed: %s", id, reason);
	if (config->mail_on_error == NULL || *config->mail_on_error == '\0')
		return;
	g_autoptr(GMimeMessage) alert = kov_report_alert_build(config, queue, id, reason);
	kov_report_send(ctx, id, "error report", alert, config->mail_on_error);
}

GMimeMessage *
kov_report_dsn_build(KovContext *ctx, const char *id, GMimeMessage *original, const char *sender,
                     const KovDsnRecipient *recipients, gsize n, gint64 arrival)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *postmaster = g_strdup_printf("MAILER-DAEMON@%s", kov_trace_host());
	KovDsnOptions options = {
		.reporting_mta = kov_trace_host(),
		.envelope_id = id,
		.postmaster = postmaster,
		.sender = sender,
		.include_headers = TRUE,
		.include_body = FALSE, /* never: the body may be must-encrypt plaintext */
		.arrival = arrival,
	};

	if (!ctx->config->dsn || n == 0 || kov_dsn_suppressed(sender, original))
		return NULL;
	GMimeMessage *report = kov_dsn_build(&options, original, recipients, n, &error);
	if (report == NULL)
		kov_log_err("id=%s: no delivery status notification for %s: %s", id, sender, error->message);
	return report;
}

gboolean
kov_report_dsn_send(KovContext *ctx, const char *id, GMimeMessage *report, const char *sender)
{
	return kov_report_send(ctx, id, "delivery status notification", report, sender);
}
