/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Onward delivery, the interface: picks the transport the configuration
 * names (smtp.c or msp.c, each behind one small table of operations, so
 * nothing tells them apart by a NULL field), checks the arguments once,
 * and makes one GError of the per-recipient results. The results are
 * shaped here too, for both transports: one line, controls escaped. */
#include "deliver.h"
#include "error.h"
#include "log.h"
#include "msp.h"
#include "smtp.h"

KovDeliver *
kov_deliver_new(const KovConfig *config, GError **error)
{
	g_return_val_if_fail(config != NULL, NULL);

	if (config->msserver != NULL && *config->msserver != '\0')
		return kov_smtp_new(config, error);
	if (config->msp == NULL || config->msp[0] == NULL || *config->msp[0] == '\0') {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "neither msserver nor msp is set");
		return NULL;
	}
	return kov_msp_new(config, error);
}

void
kov_deliver_free(KovDeliver *deliver)
{
	if (deliver == NULL)
		return;
	deliver->ops->free(deliver);
}

gboolean
kov_deliver_wants_crlf(const KovDeliver *deliver)
{
	g_return_val_if_fail(deliver != NULL, TRUE);
	return deliver->ops->crlf;
}

void
kov_rcpt_result_clear(KovRcptResult *result)
{
	if (result == NULL)
		return;
	g_clear_pointer(&result->reply, g_free);
	result->status = KOV_RCPT_DELIVERED;
	result->code = 0;
}

/* Overwrites: the caller clears results it reuses (kov_rcpt_result_clear),
 * so uninitialised arrays are fine too. The reply is foreign text (a
 * server's reply, libcurl's message, msp's stderr) that goes on into the
 * state, the failed area's .reason file, reports and the log: it leaves
 * here as one line with every control shown escaped. */
void
kov_deliver_result_set(KovRcptResult *result, KovRcptStatus status, int code, const char *reply)
{
	result->status = status;
	result->code = code;
	result->reply = NULL;
	if (reply != NULL) {
		g_autofree char *line = g_strdelimit(g_strdup(reply), "\n", ' ');
		result->reply = kov_log_escape(line);
	}
}

void
kov_deliver_result_set_all(KovRcptResult *results, gsize n, KovRcptStatus status, int code,
                           const char *reply)
{
	for (gsize i = 0; i < n; i++)
		kov_deliver_result_set(&results[i], status, code, reply);
}

gboolean
kov_deliver_probe(KovDeliver *deliver, char **summary, GError **error)
{
	g_return_val_if_fail(deliver != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	return deliver->ops->probe(deliver, summary, error);
}

/* TRUE when all were delivered; else the first one that was not sets @error. */
static gboolean
kov_deliver_conclude(const char *const *rcpts, gsize n, const KovRcptResult *results, GError **error)
{
	gsize first = n, others = 0;

	for (gsize i = 0; i < n; i++) {
		if (results[i].status == KOV_RCPT_DELIVERED)
			continue;
		if (first == n)
			first = i;
		else
			others++;
	}
	if (first == n)
		return TRUE;
	gboolean deferred = results[first].status == KOV_RCPT_DEFERRED;
	g_autofree char *more = others > 0 ? g_strdup_printf(" (and %zu more)", others) : g_strdup("");
	g_set_error(error, KOV_ERROR, deferred ? KOV_ERROR_TEMPFAIL : KOV_ERROR_PERMFAIL,
	            "delivery to %s %s: %s%s", rcpts[first], deferred ? "deferred" : "failed",
	            results[first].reply, more);
	return FALSE;
}

gboolean
kov_deliver_send(KovDeliver *deliver, const char *sender, const char *const *rcpts, gsize n,
                 int fd, KovRcptResult *results, GError **error)
{
	g_return_val_if_fail(deliver != NULL, FALSE);
	g_return_val_if_fail(sender != NULL, FALSE);
	g_return_val_if_fail(rcpts != NULL && n > 0, FALSE);
	g_return_val_if_fail(fd >= 0, FALSE);
	g_return_val_if_fail(results != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	deliver->ops->send(deliver, sender, rcpts, n, fd, results);
	return kov_deliver_conclude(rcpts, n, results, error);
}
