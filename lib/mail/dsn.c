/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Delivery status notifications (RFC 3464/3462) built from GMime parts. The
 * report fields are "Name: value" lines folded by GMime; whatever comes from
 * outside (SMTP replies, reasons, host names) is first cut to one line of
 * printable ASCII, so it can neither add a field nor end a MIME part. The
 * original goes back only as a re-parsed copy cleaned by
 * kov_message_strip_private_headers(): the caller's object stays as it is,
 * and no Bcc or X-Kuvert envelope reaches the sender. */
#include "dsn.h"
#include "gmime-autoptr.h"
#include "error.h"
#include "message.h"

#include <string.h>

/* Longest diagnostic kept. GMime folds at spaces; even an unbroken word
 * this long stays well inside SMTP's 998-octet line. */
#define KOV_DSN_TEXT_MAX 800

/* ---- status codes ------------------------------------------------------ */

/* Length of the enhanced status code "class.subject.detail" (RFC 3463:
 * class 2, 4 or 5, then 1-3 digits twice) at the start of @p when a space
 * or the end follows it; 0 when there is none. */
static gsize
dsn_status_length(const char *p)
{
	const char *q = p;

	if (*q != '2' && *q != '4' && *q != '5')
		return 0;
	q++;
	for (int field = 0; field < 2; field++) {
		if (*q != '.')
			return 0;
		q++;
		gsize digits = 0;
		while (g_ascii_isdigit(q[digits]))
			digits++;
		if (digits == 0 || digits > 3)
			return 0;
		q += digits;
	}
	if (*q != '\0' && !g_ascii_isspace(*q))
		return 0;
	return q - p;
}

static gboolean
dsn_status_valid(const char *status)
{
	gsize len = dsn_status_length(status);
	return len > 0 && status[len] == '\0';
}

/* The status an SMTP reply ("550 5.1.1 text", "550-...", "550") stands
 * for; NULL when @reply is not one. An enhanced code is taken only when its
 * class agrees with the reply code (RFC 3463 section 2). */
static char *
dsn_status_from_reply(const char *reply)
{
	if (!g_ascii_isdigit(reply[0]) || !g_ascii_isdigit(reply[1]) || !g_ascii_isdigit(reply[2]))
		return NULL;
	if (reply[3] != '\0' && reply[3] != ' ' && reply[3] != '-')
		return NULL;
	if (reply[0] < '2' || reply[0] > '5')
		return NULL;

	const char *rest = reply[3] != '\0' ? reply + 4 : reply + 3;
	gsize len = dsn_status_length(rest);
	if ((reply[0] == '4' || reply[0] == '5') && len > 0 && rest[0] == reply[0])
		return g_strndup(rest, len);
	if (reply[0] == '4')
		return g_strdup("4.0.0");
	/* 552 without a code: SIZE (RFC 1870), which is how koverto meets it
	 * when the encrypted mail outgrows the server's limit. */
	if (strncmp(reply, "552", 3) == 0)
		return g_strdup("5.3.4");
	return g_strdup("5.0.0");
}

/* koverto's own reasons, first match wins (lower case). Giving up after the
 * queue lifetime is "delivery time expired", whatever the last reply was. */
static const struct {
	const char *needle;
	const char *status;
} dsn_reasons[] = {
	{ "gave up after", "4.4.7" },
	{ "lifetime", "4.4.7" },
	{ "usable key", "5.7.1" },
	{ "no key", "5.7.1" },
	{ "not allowed", "5.7.1" },
	{ "too large", "5.3.4" },
	{ "too big", "5.3.4" },
	{ "size", "5.3.4" },
};

char *
kov_dsn_status_for(const char *reply)
{
	if (reply == NULL)
		return g_strdup("5.0.0");
	const char *p = reply;
	while (g_ascii_isspace(*p))
		p++;
	/* A Diagnostic-Code style "smtp; 550 ..." is an SMTP reply too. */
	if (g_ascii_strncasecmp(p, "smtp;", 5) == 0)
		for (p += 5; g_ascii_isspace(*p); p++)
			;

	char *status = dsn_status_from_reply(p);
	if (status != NULL)
		return status;
	g_autofree char *lower = g_ascii_strdown(p, -1);
	for (gsize i = 0; i < G_N_ELEMENTS(dsn_reasons); i++)
		if (strstr(lower, dsn_reasons[i].needle) != NULL)
			return g_strdup(dsn_reasons[i].status);
	return g_strdup("5.0.0");
}

/* ---- text from outside ------------------------------------------------- */

/* @text on one line of printable ASCII: every run of white space and
 * control characters (CR, LF, TAB, NUL's neighbours) becomes one space,
 * 8-bit bytes become '?', and the result is cut at KOV_DSN_TEXT_MAX. */
static char *
dsn_one_line(const char *text)
{
	GString *s = g_string_new(NULL);
	gboolean space = FALSE;

	for (const guchar *p = (const guchar *)text; *p != '\0'; p++) {
		if (*p <= ' ' || *p == 0x7f) {
			space = s->len > 0;
			continue;
		}
		if (s->len + 2 > KOV_DSN_TEXT_MAX) {
			g_string_append(s, "...");
			break;
		}
		if (space)
			g_string_append_c(s, ' ');
		space = FALSE;
		g_string_append_c(s, *p < 0x80 ? (char)*p : '?');
	}
	return g_string_free(s, FALSE);
}

/* TRUE when @value is non-empty printable ASCII (spaces only if
 * @allow_space): what can go into a report field or header as it is. */
static gboolean
dsn_printable(const char *value, gboolean allow_space)
{
	if (value == NULL || *value == '\0')
		return FALSE;
	for (const guchar *p = (const guchar *)value; *p != '\0'; p++)
		if (*p < ' ' || *p >= 0x7f || (*p == ' ' && !allow_space))
			return FALSE;
	return TRUE;
}

static gboolean
dsn_check(const char *value, gboolean allow_space, const char *what, GError **error)
{
	if (dsn_printable(value, allow_space))
		return TRUE;
	g_autofree char *shown = g_strescape(value ? value : "", NULL);
	g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR,
	            "dsn: %s \"%s\" cannot go into a report: empty, 8-bit or control characters",
	            what, shown);
	return FALSE;
}

/* RFC 3461 xtext, the form Original-Envelope-Id takes. */
static char *
dsn_xtext(const char *text)
{
	GString *s = g_string_new(NULL);
	for (const guchar *p = (const guchar *)text; *p != '\0'; p++) {
		if (*p >= '!' && *p <= '~' && *p != '+' && *p != '=')
			g_string_append_c(s, (char)*p);
		else
			g_string_append_printf(s, "+%02X", *p);
	}
	return g_string_free(s, FALSE);
}

/* TRUE when @type (before the ';') is a diagnostic-type worth keeping:
 * "smtp" or an "X-" extension, an atom of letters, digits and '-'. */
static gboolean
dsn_known_type(const char *type, gsize len)
{
	if (len == 4 && g_ascii_strncasecmp(type, "smtp", 4) == 0)
		return TRUE;
	if (len < 3 || g_ascii_strncasecmp(type, "x-", 2) != 0)
		return FALSE;
	for (gsize i = 0; i < len; i++)
		if (!g_ascii_isalnum(type[i]) && type[i] != '-')
			return FALSE;
	return TRUE;
}

/* Diagnostic-Code value "type; text": an SMTP reply gets "smtp;", koverto's
 * own reason "X-Koverto;". NULL when nothing printable is left. */
static char *
dsn_diagnostic(const char *raw)
{
	g_autofree char *text = dsn_one_line(raw);
	if (*text == '\0')
		return NULL;
	const char *semi = strchr(text, ';');
	if (semi != NULL && dsn_known_type(text, semi - text))
		return g_steal_pointer(&text);
	g_autofree char *status = dsn_status_from_reply(text);
	return g_strdup_printf("%s; %s", status != NULL ? "smtp" : "X-Koverto", text);
}

/* Remote-MTA value "type; name": a bare host name is "dns;". */
static char *
dsn_remote_mta(const char *raw)
{
	g_autofree char *text = dsn_one_line(raw);
	if (*text == '\0')
		return NULL;
	if (strchr(text, ';') != NULL)
		return g_steal_pointer(&text);
	return g_strdup_printf("dns; %s", text);
}

/* ---- the parts --------------------------------------------------------- */

/* One field, folded by GMime (it ends in a newline). */
static void
dsn_field(GString *block, const char *name, const char *value)
{
	g_autofree char *line = g_strdup_printf("%s: %s", name, value);
	g_autofree char *folded = g_mime_utils_unstructured_header_fold(NULL, NULL, line);
	g_string_append(block, folded);
}

/* The body of message/delivery-status: the per-message fields, then one
 * block per recipient, each after an empty line (RFC 3464 section 2.1). */
static char *
dsn_status_fields(const KovDsnOptions *options, const KovDsnRecipient *recipients, gsize n)
{
	GString *s = g_string_new(NULL);
	g_autofree char *reporting = g_strdup_printf("dns; %s", options->reporting_mta);

	dsn_field(s, "Reporting-MTA", reporting);
	if (options->envelope_id != NULL && *options->envelope_id != '\0') {
		g_autofree char *envid = dsn_xtext(options->envelope_id);
		dsn_field(s, "Original-Envelope-Id", envid);
	}
	if (options->arrival > 0) {
		g_autoptr(GDateTime) arrival = g_date_time_new_from_unix_local(options->arrival);
		g_autofree char *date = arrival ? g_mime_utils_header_format_date(arrival) : NULL;
		if (date != NULL)
			dsn_field(s, "Arrival-Date", date);
	}
	for (gsize i = 0; i < n; i++) {
		const KovDsnRecipient *r = &recipients[i];
		g_autofree char *final = g_strdup_printf("rfc822; %s", r->address);
		g_autofree char *remote = r->remote_mta ? dsn_remote_mta(r->remote_mta) : NULL;
		g_autofree char *diagnostic = r->diagnostic ? dsn_diagnostic(r->diagnostic) : NULL;

		g_string_append_c(s, '\n');
		dsn_field(s, "Final-Recipient", final);
		dsn_field(s, "Action", "failed");
		dsn_field(s, "Status", r->status);
		if (remote != NULL)
			dsn_field(s, "Remote-MTA", remote);
		if (diagnostic != NULL)
			dsn_field(s, "Diagnostic-Code", diagnostic);
	}
	return g_string_free(s, FALSE);
}

/* What a person reads first. Built from the report's own data only: the
 * original's subject and body stay out of it (a must-encrypt mail's
 * content never travels in a report). */
static char *
dsn_human_text(const KovDsnOptions *options, gboolean returns_headers,
               const KovDsnRecipient *recipients, gsize n)
{
	GString *s = g_string_new(NULL);

	g_string_append_printf(s, "This is the mail system at host %s.\n\n", options->reporting_mta);
	g_string_append(s, "Your message could not be delivered to the recipients below, and the\n"
	                   "mail system has given up on it");
	if (options->envelope_id != NULL && *options->envelope_id != '\0') {
		g_autofree char *id = dsn_one_line(options->envelope_id);
		g_string_append_printf(s, " (queue id %s)", id);
	}
	g_string_append(s, ".\n\n");
	for (gsize i = 0; i < n; i++) {
		const KovDsnRecipient *r = &recipients[i];
		g_autofree char *why = r->diagnostic ? dsn_one_line(r->diagnostic) : NULL;
		g_autofree char *where = r->remote_mta ? dsn_one_line(r->remote_mta) : NULL;

		g_string_append_printf(s, "<%s>: status %s\n", r->address, r->status);
		if (why != NULL && *why != '\0')
			g_string_append_printf(s, "    %s\n", why);
		if (where != NULL && *where != '\0')
			g_string_append_printf(s, "    reported by %s\n", where);
	}
	g_string_append_c(s, '\n');
	if (options->include_body && returns_headers)
		g_string_append(s, "Your message is attached.\n");
	else if (returns_headers)
		g_string_append(s, "The headers of your message are attached; its content is not.\n");
	else
		g_string_append(s, "Your message is not returned with this report.\n");
	return g_string_free(s, FALSE);
}

/* A leaf part holding @content, in an encoding fit for 7-bit transport. */
static GMimeObject *
dsn_leaf(const char *type, const char *subtype, const char *content)
{
	g_autoptr(GMimePart) part = g_mime_part_new_with_type(type, subtype);
	g_autoptr(GMimeStream) stream = g_mime_stream_mem_new_with_buffer(content, strlen(content));
	g_autoptr(GMimeDataWrapper) wrapper =
		g_mime_data_wrapper_new_with_stream(stream, GMIME_CONTENT_ENCODING_DEFAULT);

	g_mime_part_set_content(part, wrapper);
	g_mime_part_set_content_encoding(
		part, g_mime_part_get_best_content_encoding(part, GMIME_ENCODING_CONSTRAINT_7BIT));
	return GMIME_OBJECT(g_steal_pointer(&part));
}

static GMimeObject *
dsn_text_part(const char *text)
{
	g_autoptr(GMimeTextPart) part = g_mime_text_part_new_with_subtype("plain");
	g_mime_text_part_set_text(part, text);
	g_mime_part_set_content_encoding(
		GMIME_PART(part),
		g_mime_part_get_best_content_encoding(GMIME_PART(part), GMIME_ENCODING_CONSTRAINT_7BIT));
	return GMIME_OBJECT(g_steal_pointer(&part));
}

/* A private copy of @original (only its headers when @headers_only),
 * parsed back from its own serialization and stripped of what must never
 * leave (Bcc, X-Kuvert*, ...). */
static GMimeMessage *
dsn_copy_original(GMimeMessage *original, gboolean headers_only, GError **error)
{
	g_autoptr(GMimeStream) stream = g_mime_stream_mem_new();
	gboolean ok;

	if (headers_only) {
		g_autofree char *headers = g_mime_object_get_headers(GMIME_OBJECT(original), NULL);
		ok = g_mime_stream_write_string(stream, headers ? headers : "") >= 0
		     && g_mime_stream_write_string(stream, "\n") >= 0;
	} else {
		ok = g_mime_object_write_to_stream(GMIME_OBJECT(original), NULL, stream) >= 0;
	}
	if (!ok) {
		g_set_error_literal(error, KOV_ERROR, KOV_ERROR_IOERR, "dsn: cannot copy the original mail");
		return NULL;
	}
	g_mime_stream_reset(stream);
	g_autoptr(GMimeParser) parser = g_mime_parser_new_with_stream(stream);
	g_autoptr(GMimeMessage) copy = g_mime_parser_construct_message(parser, NULL);
	if (copy == NULL) {
		g_set_error_literal(error, KOV_ERROR, KOV_ERROR_DATAERR,
		                    "dsn: the original mail cannot be read back for the report");
		return NULL;
	}
	kov_message_strip_private_headers(copy);
	return g_steal_pointer(&copy);
}

/* The third part: the whole original as message/rfc822, or its headers as
 * text/rfc822-headers (RFC 3462 section 3). */
static GMimeObject *
dsn_original_part(GMimeMessage *original, gboolean include_body, GError **error)
{
	g_autoptr(GMimeMessage) copy = dsn_copy_original(original, !include_body, error);
	if (copy == NULL)
		return NULL;
	if (include_body) {
		g_mime_object_encode(GMIME_OBJECT(copy), GMIME_ENCODING_CONSTRAINT_7BIT);
		return GMIME_OBJECT(g_mime_message_part_new_with_message("rfc822", copy));
	}
	g_autofree char *headers = g_mime_object_get_headers(GMIME_OBJECT(copy), NULL);
	return dsn_leaf("text", "rfc822-headers", headers ? headers : "");
}

/* Everything that goes into a field or header as it is must be fit for it;
 * the free texts (diagnostic, remote MTA, envelope id) are cleaned instead. */
static gboolean
dsn_check_input(const KovDsnOptions *options, const KovDsnRecipient *recipients, gsize n,
                GError **error)
{
	if (options->sender[0] == '\0') {
		g_set_error_literal(error, KOV_ERROR, KOV_ERROR_DATAERR,
		                    "dsn: the null sender never gets a report");
		return FALSE;
	}
	if (!dsn_check(options->reporting_mta, FALSE, "reporting MTA", error)
	    || !dsn_check(options->postmaster, TRUE, "postmaster address", error)
	    || !dsn_check(options->sender, TRUE, "sender address", error))
		return FALSE;
	for (gsize i = 0; i < n; i++) {
		if (!dsn_check(recipients[i].address, TRUE, "recipient address", error))
			return FALSE;
		if (recipients[i].status == NULL || !dsn_status_valid(recipients[i].status)) {
			g_autofree char *shown = g_strescape(recipients[i].status ? recipients[i].status : "", NULL);
			g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR,
			            "dsn: \"%s\" is not an enhanced status code", shown);
			return FALSE;
		}
	}
	return TRUE;
}

static GMimeMessage *
dsn_envelope(const KovDsnOptions *options, GMimeObject *report)
{
	GMimeMessage *message = g_mime_message_new(TRUE);
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	g_autofree char *message_id = g_mime_utils_generate_message_id(options->reporting_mta);

	g_mime_message_add_mailbox(message, GMIME_ADDRESS_TYPE_FROM, "Mail Delivery System",
	                           options->postmaster);
	g_mime_message_add_mailbox(message, GMIME_ADDRESS_TYPE_TO, NULL, options->sender);
	g_mime_message_set_subject(message, "Delivery Status Notification (Failure)", NULL);
	g_mime_message_set_date(message, now);
	g_mime_message_set_message_id(message, message_id);
	/* RFC 3834: marks the report so that no responder answers it. */
	g_mime_object_set_header(GMIME_OBJECT(message), "Auto-Submitted", "auto-replied", NULL);
	g_mime_message_set_mime_part(message, report);
	return message;
}

GMimeMessage *
kov_dsn_build(const KovDsnOptions *options, GMimeMessage *original,
              const KovDsnRecipient *recipients, gsize n, GError **error)
{
	g_return_val_if_fail(options != NULL, NULL);
	g_return_val_if_fail(options->reporting_mta != NULL && options->postmaster != NULL
	                     && options->sender != NULL, NULL);
	g_return_val_if_fail(recipients != NULL && n > 0, NULL);
	g_return_val_if_fail(original == NULL || GMIME_IS_MESSAGE(original), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!dsn_check_input(options, recipients, n, error))
		return NULL;

	gboolean returns = original != NULL && (options->include_headers || options->include_body);
	g_autoptr(GMimeObject) third = NULL;
	if (returns && (third = dsn_original_part(original, options->include_body, error)) == NULL)
		return NULL;

	g_autoptr(GMimeMultipart) report = g_mime_multipart_new_with_subtype("report");
	g_mime_object_set_content_type_parameter(GMIME_OBJECT(report), "report-type", "delivery-status");

	g_autofree char *text = dsn_human_text(options, returns, recipients, n);
	g_autoptr(GMimeObject) human = dsn_text_part(text);
	g_mime_multipart_add(report, human);

	g_autofree char *fields = dsn_status_fields(options, recipients, n);
	g_autoptr(GMimeObject) status = dsn_leaf("message", "delivery-status", fields);
	g_mime_multipart_add(report, status);

	if (third != NULL)
		g_mime_multipart_add(report, third);
	return dsn_envelope(options, GMIME_OBJECT(report));
}

/* ---- who never gets one ------------------------------------------------ */

/* MAILER-DAEMON and postmaster: the senders of reports. Not owner-* or
 * *-request: a mailing list sends with such an envelope sender precisely
 * to receive the bounces. */
static gboolean
dsn_daemon_sender(const char *sender)
{
	const char *at = strrchr(sender, '@');
	g_autofree char *local = at ? g_strndup(sender, at - sender) : g_strdup(sender);

	return g_ascii_strcasecmp(local, "mailer-daemon") == 0
	       || g_ascii_strcasecmp(local, "postmaster") == 0;
}

/* RFC 3834 section 5: any Auto-Submitted value but "no" (its first word,
 * before parameters or comments) marks an automatic mail. */
static gboolean
dsn_auto_submitted(GMimeMessage *original)
{
	GMimeHeaderList *headers = g_mime_object_get_header_list(GMIME_OBJECT(original));
	int count = g_mime_header_list_get_count(headers);

	for (int i = 0; i < count; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(headers, i);
		if (g_ascii_strcasecmp(g_mime_header_get_name(h), "Auto-Submitted") != 0)
			continue;
		const char *value = g_mime_header_get_value(h);
		g_autofree char *word = g_strstrip(g_strdup(value ? value : ""));
		word[strcspn(word, " \t\r\n;(")] = '\0';
		if (g_ascii_strcasecmp(word, "no") != 0)
			return TRUE;
	}
	return FALSE;
}

/* A report (DSN, MDN, ...) is never answered by another one. */
static gboolean
dsn_is_report(GMimeMessage *original)
{
	GMimeObject *part = g_mime_message_get_mime_part(original);
	if (part == NULL)
		return FALSE;
	GMimeContentType *type = g_mime_object_get_content_type(part);
	return type != NULL && g_mime_content_type_is_type(type, "multipart", "report");
}

gboolean
kov_dsn_suppressed(const char *sender, GMimeMessage *original)
{
	g_return_val_if_fail(sender != NULL, TRUE);
	g_return_val_if_fail(original == NULL || GMIME_IS_MESSAGE(original), TRUE);

	g_autofree char *bare = g_strstrip(g_strdup(sender));
	if (*bare == '\0' || strcmp(bare, "<>") == 0 || dsn_daemon_sender(bare))
		return TRUE;
	return original != NULL && (dsn_auto_submitted(original) || dsn_is_report(original));
}
