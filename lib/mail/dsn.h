/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Delivery status notifications (RFC 3464 in an RFC 3462 multipart/report)
 * for mail koverto gives up on, who must never get one, and the enhanced
 * status code (RFC 3463) for a failure. Builds the report with GMime; does
 * not send it (send it with the null envelope sender <>). */
#pragma once
#include <glib.h>
#include <gmime/gmime.h>

typedef struct {
	const char *address;     /* final recipient, bare */
	const char *status;      /* "5.7.1" etc.: enhanced status code */
	const char *diagnostic;  /* nullable: "smtp; 550 5.1.1 no such user" or koverto's reason */
	const char *remote_mta;  /* nullable: "dns; smtp.example.org" */
} KovDsnRecipient;

typedef struct {
	const char *reporting_mta;   /* our host name */
	const char *envelope_id;     /* the queue id (nullable) */
	const char *postmaster;      /* From: of the report, e.g. "MAILER-DAEMON@host" */
	const char *sender;          /* the original envelope sender: the report's To: */
	gboolean include_headers;    /* attach the original headers (text/rfc822-headers) */
	gboolean include_body;       /* never TRUE for must-encrypt mail: the caller decides */
	gint64 arrival;              /* unix seconds; 0: no Arrival-Date */
} KovDsnOptions;

/* A complete RFC 3464 report (transfer full): multipart/report;
 * report-type=delivery-status with a human-readable text/plain part, a
 * message/delivery-status part (per-message fields Reporting-MTA,
 * Original-Envelope-Id, Arrival-Date; per recipient Final-Recipient
 * rfc822;, Action: failed, Status, Diagnostic-Code, Remote-MTA), and the
 * original's headers as text/rfc822-headers (or the whole original as
 * message/rfc822 when include_body). Auto-Submitted: auto-replied.
 * @original (borrowed, nullable: no third part) is never modified; what is
 * returned of it is a copy without the headers
 * kov_message_strip_private_headers() removes (Bcc, X-Kuvert*, ...).
 * Neither the text part nor the report fields quote the original's body.
 * Diagnostics and Remote-MTA are cut to one line of printable ASCII.
 * Errors: KOV_ERROR_DATAERR when an address, the status or the host name
 * cannot be put into a report (control characters, 8-bit, empty). */
GMimeMessage *kov_dsn_build(const KovDsnOptions *options, GMimeMessage *original,
                            const KovDsnRecipient *recipients, gsize n, GError **error);

/* TRUE when @sender must never get a report: the null sender "", and
 * MAILER-DAEMON/postmaster-style or Auto-Submitted origins (RFC 3834)
 * — pass the original so its Auto-Submitted header can be checked.
 * @original (borrowed) may be NULL; a report (multipart/report) is never
 * answered with another. */
gboolean kov_dsn_suppressed(const char *sender, GMimeMessage *original);

/* Map an SMTP reply ("550 5.1.1 ..." or "550 ...") or a koverto reason to an
 * enhanced status code ("5.1.1", else "5.0.0"; no usable key: "5.7.1";
 * size: "5.3.4"). A 4xx reply keeps its class ("4.x.x": a failure after
 * temporary errors), a sender not allowed is "5.7.1", giving up after the
 * queue lifetime ("gave up after ...") "4.4.7". NULL: "5.0.0". (transfer full) */
char *kov_dsn_status_for(const char *reply);
