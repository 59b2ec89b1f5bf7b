/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The envelope koverto submit writes on top of a mail (submission.h),
 * moved here from submit.c so that `koverto explain` gives the daemon
 * the very same queue file, in memory, that submit would have queued.
 * Whoever wrote the mail does not choose its envelope: its own
 * X-Kuvert-From/-To lines never count, and a Delivered-To or Return-Path
 * left in a mail that is sent on never decides where it goes. */
#include "submission.h"
#include "error.h"
#include "message.h"
#include "gmime-autoptr.h"

#include <string.h>

/* A command-line address goes into a header line: it must be one plain
 * address. The daemon reads that line back with GMime's address-list
 * parser (envelope.c), so the address must come back from it as itself:
 * one mailbox without a name, not a group ("o:brien@example.com" is the
 * group "o" holding brien@example.com, and OpenSMTPD's mda expansion
 * writes o&brien@example.com as just that), nor an address stripped of a
 * comment or a route. Bare or in angle brackets. */
static gboolean
submission_address_ok(const char *address, gboolean allow_null)
{
	if (allow_null && (g_str_equal(address, "") || g_str_equal(address, "<>")))
		return TRUE;
	if (*address == '-' || strchr(address, '@') == NULL)
		return FALSE;
	for (const char *p = address; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == ',' || *p == 0x7f)
			return FALSE;
	g_autoptr(InternetAddressList) list = internet_address_list_parse(NULL, address);
	if (list == NULL || internet_address_list_length(list) != 1)
		return FALSE;
	InternetAddress *ia = internet_address_list_get_address(list, 0);
	const char *name = internet_address_get_name(ia);
	if (!INTERNET_ADDRESS_IS_MAILBOX(ia) || (name != NULL && *name != '\0'))
		return FALSE;
	const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
	size_t n = strlen(address);
	return g_strcmp0(addr, address) == 0
	       || (address[0] == '<' && address[n - 1] == '>' && strlen(addr) == n - 2
	           && strncmp(addr, address + 1, n - 2) == 0);
}

/* The command line gives the recipients (else the headers decide). */
static gboolean
submission_rcpts_given(const KovSubmission *submission)
{
	return !submission->headers_decide && submission->recipients != NULL
	       && submission->recipients->len > 0;
}

gboolean
kov_submission_check(const KovSubmission *submission, GError **error)
{
	g_return_val_if_fail(submission != NULL, FALSE);
	const char *sender = submission->sender;
	if (sender != NULL && !submission_address_ok(sender, TRUE)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_USAGE, "bad sender address \"%s\"", sender);
		return FALSE;
	}
	for (guint i = 0; submission_rcpts_given(submission) && i < submission->recipients->len; i++) {
		const char *r = g_ptr_array_index(submission->recipients, i);
		if (!submission_address_ok(r, FALSE)) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_USAGE, "bad recipient address \"%s\"", r);
			return FALSE;
		}
	}
	return TRUE;
}

static void
submission_append_list(GString *line, const GPtrArray *addresses, GHashTable *seen)
{
	for (guint i = 0; addresses != NULL && i < addresses->len; i++) {
		const char *a = g_ptr_array_index(addresses, i);
		if (!g_hash_table_add(seen, (gpointer)a))
			continue;
		g_string_append_printf(line, "%s%s", g_hash_table_size(seen) > 1 ? ", " : "", a);
	}
}

static void
submission_append_given(GString *header, const GPtrArray *recipients)
{
	g_string_append(header, "X-Kuvert-To: ");
	for (guint i = 0; i < recipients->len; i++)
		g_string_append_printf(header, "%s%s", i ? ", " : "",
		                       (const char *)g_ptr_array_index(recipients, i));
	g_string_append_c(header, '\n');
}

gboolean
kov_submission_envelope(const char *name, int fd, gpointer data, char **prepend, GError **error)
{
	const KovSubmission *submission = data;
	gboolean given = submission_rcpts_given(submission);
	KovMessageOptions options = { .use_delivered_to = FALSE, .mail_only = TRUE,
		                      .from_fd = TRUE, .fd = fd };
	if (submission->sender != NULL)
		options.sender = g_str_equal(submission->sender, "<>") ? "" : submission->sender;
	g_autoptr(GPtrArray) rcpts = g_ptr_array_new();
	for (guint i = 0; given && i < submission->recipients->len; i++)
		g_ptr_array_add(rcpts, g_ptr_array_index(submission->recipients, i));
	g_ptr_array_add(rcpts, NULL);
	if (given)
		options.recipients = (const char *const *)rcpts->pdata;
	g_autoptr(KovMail) mail = kov_message_load(name, &options, error);
	g_autoptr(GString) header = g_string_new(NULL);

	if (mail == NULL)
		return FALSE;
	gboolean bounce = !given && mail->resent_to != NULL
	                  && mail->resent_to->len + mail->resent_bcc->len > 0;
	const char *sender = submission->sender;
	if (sender == NULL)
		sender = bounce && mail->resent_from != NULL ? mail->resent_from : mail->sender;
	g_string_append_printf(header, "X-Kuvert-From: %s\n", *sender ? sender : "<>");
	if (given) {
		submission_append_given(header, submission->recipients);
	} else if (bounce && submission->kind != KOV_QUEUE_KUVERT) {
		g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
		g_string_append(header, "X-Kuvert-To: ");
		submission_append_list(header, mail->resent_to, seen);
		submission_append_list(header, mail->resent_bcc, seen);
		g_string_append_c(header, '\n');
	} else if (!bounce) {
		g_string_append(header, "X-Kuvert-To: ");
		for (guint i = 0; i < mail->recipients->len; i++) {
			const KovRecipient *r = g_ptr_array_index(mail->recipients, i);
			g_string_append_printf(header, "%s%s", i ? ", " : "", r->address);
		}
		g_string_append_c(header, '\n');
	}
	*prepend = g_string_free(g_steal_pointer(&header), FALSE);
	return TRUE;
}
