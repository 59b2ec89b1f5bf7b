/* SPDX-License-Identifier: GPL-3.0-or-later */
/* One mail from the queue to the wire. Everything is decided before
 * anything is sent: planner.c makes the plan (the same one `koverto
 * explain` prints) and this file acts on it; each copy is rendered to
 * a temporary file, checked once more (a must-encrypt recipient only ever
 * gets ciphertext), delivered, and recorded in the state before the next
 * copy starts, so a retry never repeats an accepted transaction. */
#include "process.h"
#include "gmime-autoptr.h"
#include "gpgme-autoptr.h"
#include "ciphertext.h"
#include "crypto.h"
#include "dsn.h"
#include "error.h"
#include "log.h"
#include "logfmt.h"
#include "message.h"
#include "metrics.h"
#include "planner.h"
#include "policy.h"
#include "report.h"
#include "schedule.h"
#include "scratch.h"
#include "state.h"
#include "trace.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


/* One mail in hand. */
typedef struct {
	KovContext *ctx;
	const KovQueueConfig *queue;  /* borrowed from ctx->config */
	const char *id;
	KovMail *mail;
	const char *sender;       /* the envelope sender of the copies (the plan's, once made) */
	KovPlanner *planner;      /* the plan acted on (owned) */
	GPtrArray *rcpts;         /* of KovRecipient*: who gets this mail (the plan's) */
	KovState *state;
	gpgme_ctx_t gpg;
	gint64 started;           /* monotonic usec */
	gint64 queued;            /* real usec: when the mail was written to the queue (its
	                           * file's mtime; else when first seen) */
	GError *unsaved;          /* the state could not be recorded: no further
	                           * transaction in this run (owned) */
} KovJob;

void
kov_result_clear(KovResult *result)
{
	g_clear_pointer(&result->reason, g_free);
	g_clear_pointer(&result->undelivered, g_free);
	g_clear_object(&result->dsn);
	g_clear_pointer(&result->dsn_to, g_free);
}

static void
kov_job_clear(KovJob *job)
{
	g_clear_pointer(&job->rcpts, g_ptr_array_unref);
	g_clear_pointer(&job->planner, kov_planner_free);
	g_clear_pointer(&job->mail, kov_message_free);
	g_clear_pointer(&job->state, kov_state_free);
	if (job->gpg != NULL)
		gpgme_release(job->gpg);
	g_clear_error(&job->unsaved);
}

/* The state could not be recorded: say so, and send nothing more in this
 * run (a transaction whose outcome cannot be kept would be repeated by
 * the next run). The first such error is kept for the result. */
static void
kov_job_unsaved(KovJob *job, GError *error)
{
	kov_log_err("id=%s: %s; nothing more is sent until it can be recorded", job->id,
	            error->message);
	if (job->unsaved == NULL)
		job->unsaved = error;
	else
		g_error_free(error);
}

static gboolean
kov_job_save(KovJob *job)
{
	GError *error = NULL;
	if (kov_state_save(job->state, &error))
		return TRUE;
	kov_job_unsaved(job, error);
	return FALSE;
}

static void
kov_job_set_rcpt(KovJob *job, const char *address, KovRcptState st, const char *reason)
{
	GError *error = NULL;
	if (!kov_state_set_rcpt(job->state, address, st, reason, &error))
		kov_job_unsaved(job, error);
}

/* Every recipient delivered: nothing is left for a state file to remember,
 * and the mail is removed next. Saving it anyway would cost a file, an
 * fsync and a rename per mail. */
static gboolean
kov_job_all_delivered(KovJob *job)
{
	for (guint i = 0; i < job->rcpts->len; i++) {
		const KovRecipient *r = g_ptr_array_index(job->rcpts, i);
		if (kov_state_get_rcpt(job->state, r->address, NULL) != KOV_STATE_DELIVERED)
			return FALSE;
	}
	return TRUE;
}

/* The addresses of @copy's recipients @from (a list of indices into
 * it; NULL: all), comma-separated. */
static char *
kov_job_join_addresses(KovJob *job, const KovPlanCopy *copy, GArray *from)
{
	const KovPlan *plan = job->planner->plan;
	g_autoptr(GString) s = g_string_new(NULL);
	guint n = from != NULL ? from->len : copy->recipients->len;
	for (guint i = 0; i < n; i++) {
		guint k = from != NULL ? g_array_index(from, guint, i) : i;
		g_string_append_printf(s, "%s%s", i ? "," : "", kov_plan_copy_recipient(plan, copy, k)->address);
	}
	return g_string_free(g_steal_pointer(&s), FALSE);
}

/* The plan in the log: keys that are there but cannot be used, how each
 * decision came about (debug), and a mail passed on as it is. */
static void
kov_job_log_plan(KovJob *job)
{
	const KovPlan *plan = job->planner->plan;
	for (guint i = 0; i < plan->recipients->len; i++) {
		const KovPlanRecipient *r = g_ptr_array_index(plan->recipients, i);
		if (r->key != NULL && (r->key->status == KOV_KEY_NOT_VALID || r->key->status == KOV_KEY_UNUSABLE))
			kov_log_info("id=%s: key for %s: %s", job->id, r->address, kov_plan_key_text(r));
	}
	if (job->planner->refused_early)
		return;
	if (job->mail->already_encrypted) {
		kov_log_info("id=%s: already encrypted: the ciphertext passed on unchanged", job->id);
		return;
	}
	if (job->mail->not_ciphertext != NULL)
		kov_log_info("id=%s: labelled encrypted but not ciphertext (%s): treated as plaintext",
		             job->id, job->mail->not_ciphertext);
	for (guint i = 0; i < plan->recipients->len; i++) {
		const KovPlanRecipient *r = g_ptr_array_index(plan->recipients, i);
		kov_log_debug("id=%s: %s: %s", job->id, r->address, r->reason ? r->reason : "");
	}
}

static GMimeMessage *
kov_job_render(KovJob *job, const KovPlanCopy *copy, GError **error)
{
	KovCryptoOptions options = {
		.ctx = job->gpg,
		.tempdir = job->ctx->config->tempdir,
		.mail_size = job->mail->size,
		.preamble = job->ctx->config->preamble,
	};

	switch (copy->kind) {
	case KOV_DECISION_UNCHANGED:
		return g_object_ref(job->mail->message);
	case KOV_DECISION_SIGN:
		/* The plan says why (copy->fails); this holds whatever it says. */
		if (job->planner->signer == NULL) {
			g_set_error_literal(error, KOV_ERROR, KOV_ERROR_PERMFAIL,
			                    "no signing key: koverto never sends such a copy unsigned");
			return NULL;
		}
		return kov_crypto_sign(&options, job->mail->message, job->planner->signer, error);
	case KOV_DECISION_ENCRYPT: {
		guint n = copy->recipients->len;
		g_autofree gpgme_key_t *keys = g_new0(gpgme_key_t, n + 1);
		g_auto(GStrv) pins = g_new0(char *, n + 1);
		gboolean pinned = FALSE;
		for (guint i = 0; i < n; i++) {
			guint r = g_array_index(copy->recipients, guint, i);
			keys[i] = kov_planner_key(job->planner, r);
			pins[i] = kov_planner_pin(job->planner, r);
			pinned |= pins[i] != NULL;
		}
		if (!pinned)
			return kov_crypto_encrypt(&options, job->mail->message, keys, job->planner->signer,
			                          error);
		/* A key from a keys directory is pinned to the subkey its file
		 * chose. GPGME takes keys or gpg's recipient lines, not both
		 * (given both, it drops the lines): the keyring's recipients go
		 * by primary fingerprint, gpg picking the subkey as with keys. */
		for (guint i = 0; i < n; i++)
			if (pins[i] == NULL)
				pins[i] = g_strdup(kov_keys_fingerprint(keys[i]));
		return kov_crypto_encrypt_pinned(&options, job->mail->message, (const char *const *)pins,
		                                 job->planner->signer, error);
	}
	case KOV_DECISION_REFUSE:
		break;
	}
	g_set_error_literal(error, KOV_ERROR, KOV_ERROR_PERMFAIL, "internal error: refused copy");
	return NULL;
}

/* Defence in depth: whatever the decisions said, a must-encrypt recipient
 * gets nothing that is not ciphertext, judged from the bytes and in the
 * wrapping koverto builds (kov_ciphertext_classify, canonical). */
static gboolean
kov_job_check_leak(KovJob *job, const KovPlanCopy *copy, GMimeMessage *rendered, GError **error)
{
	gboolean must = FALSE;
	for (guint i = 0; i < copy->recipients->len; i++)
		must |= kov_plan_copy_recipient(job->planner->plan, copy, i)->action == KOV_ACTION_MUSTENCRYPT;
	if (!must)
		return TRUE;
	if ((copy->kind == KOV_DECISION_ENCRYPT || job->mail->already_encrypted)
	    && kov_ciphertext_classify(rendered, TRUE, NULL, NULL) != KOV_CIPHERTEXT_NONE)
		return TRUE;
	g_set_error_literal(error, KOV_ERROR, KOV_ERROR_PERMFAIL,
	                    "internal error: a copy for a must-encrypt queue was not encrypted; not sent");
	return FALSE;
}

/* Write @message to a new scratch file; return its fd. */
static int
kov_job_spool_copy(KovJob *job, GMimeMessage *message, GError **error)
{
	int fd = kov_scratch_new(job->ctx->config->tempdir, job->mail->size, error);

	if (fd < 0)
		return -1;
	gboolean crlf = kov_deliver_wants_crlf(job->ctx->deliver);
	if (!kov_message_write_fd(GMIME_OBJECT(message), fd, crlf, error)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The enhanced status code of an outcome: the server's own when its reply
 * carries one of the right class, else the class's generic one; for
 * koverto's own reasons what kov_dsn_status_for makes of them. (transfer full) */
static char *
kov_process_dsn(KovLogfmtStatus status, int code, const char *text)
{
	if (status == KOV_LOGFMT_SENT) {
		unsigned subject, detail;
		if (code >= 200 && code < 300 && text != NULL
		    && sscanf(text, "%*3[0-9] 2.%3u.%3u", &subject, &detail) == 2
		    && subject < 1000 && detail < 1000) /* %u takes a sign: "-1" wraps */
			return g_strdup_printf("2.%u.%u", subject, detail);
		return g_strdup("2.0.0");
	}
	char *dsn = kov_dsn_status_for(text);
	if (status == KOV_LOGFMT_DEFERRED && dsn[0] != '4') {
		g_free(dsn);
		dsn = g_strdup("4.0.0");
	}
	return dsn;
}

/* The one key=value line (logfmt.c) for what became of @address in this
 * run: every outcome of a recipient goes through here. @code is the
 * server's reply code (0: none), @text its reply, or koverto's reason when
 * there is no code; @relayed: the smarthost (or msp) was asked. */
static void
kov_process_log_outcome(KovJob *job, const char *address, KovLogfmtStatus status, int code,
                        const char *text, gboolean relayed)
{
	const KovConfig *config = job->ctx->config;
	const KovPlan *plan = job->planner != NULL ? job->planner->plan : NULL;
	static const char *const actions[] = {
		[KOV_DECISION_UNCHANGED] = "unchanged", [KOV_DECISION_SIGN] = "signed",
		[KOV_DECISION_ENCRYPT] = "encrypted", [KOV_DECISION_REFUSE] = "none",
	};
	KovLogfmtOutcome o = {
		.id = job->id, .queue = job->queue->name, .from = job->sender, .to = address,
		.attempts = job->state != NULL ? (gint)kov_state_get_attempts(job->state) : -1,
		.delay = -1, .size = job->mail != NULL ? job->mail->size : -1, .status = status,
	};
	g_autofree char *relay = NULL;
	g_autofree char *dsn = kov_process_dsn(status, code, text);

	for (guint i = 0; plan != NULL && plan->decided && i < plan->recipients->len; i++) {
		const KovPlanRecipient *r = g_ptr_array_index(plan->recipients, i);
		if (g_strcmp0(r->address, address) != 0)
			continue;
		o.action = actions[r->decision];
		if (job->planner->keydir != NULL && r->key != NULL)
			o.keysrc = kov_keyinfo_source_name(r->key->source);
		gpgme_key_t key = r->decision == KOV_DECISION_ENCRYPT ? kov_planner_key(job->planner, i) : NULL;
		if (key != NULL)
			o.key = kov_keys_fingerprint(key);
		if ((r->decision == KOV_DECISION_ENCRYPT || r->decision == KOV_DECISION_SIGN)
		    && job->planner->signer != NULL)
			o.signer = kov_keys_fingerprint(job->planner->signer);
		break;
	}
	if (plan != NULL && plan->refused != NULL) { /* nothing was made: no key was used */
		o.action = "none";
		o.key = o.signer = NULL;
	}
	if (relayed)
		o.relay = relay = config->msserver != NULL
		                  ? g_strdup_printf("%s:%u", config->msserver, config->msport)
		                  : g_strdup("msp");
	if (job->queued > 0)
		o.delay = MAX(0, g_get_real_time() - job->queued) / (double)G_USEC_PER_SEC;
	o.dsn = dsn;
	if (code != 0)
		o.reply = text;
	else
		o.reason = text;
	g_autofree char *line = kov_logfmt_outcome(&o);
	kov_log_info("%s", line);
}

static void
kov_job_log_copy(KovJob *job, const KovPlanCopy *copy, const char *to, int code)
{
	gpgme_key_t signer_key = job->planner->signer;
	const char *signer = signer_key ? kov_keys_fingerprint(signer_key) : NULL;
	g_autoptr(GString) keys = g_string_new(NULL);

	for (guint i = 0; copy->kind == KOV_DECISION_ENCRYPT && i < copy->recipients->len; i++) {
		gpgme_key_t key = kov_planner_key(job->planner, g_array_index(copy->recipients, guint, i));
		g_string_append_printf(keys, "%s%s", i ? "," : "", kov_keys_fingerprint(key));
	}
	if (copy->kind == KOV_DECISION_ENCRYPT && signer != NULL)
		kov_log_info("id=%s: sent encrypted to %s with key %s signed with key %s (%d)", job->id,
		             to, keys->str, signer, code);
	else if (copy->kind == KOV_DECISION_ENCRYPT)
		kov_log_info("id=%s: sent encrypted to %s with key %s, unsigned: no signing key (%d)",
		             job->id, to, keys->str, code);
	else if (copy->kind == KOV_DECISION_SIGN)
		kov_log_info("id=%s: sent signed to %s with key %s (%d)", job->id, to, signer,
		             code);
	else
		kov_log_info("id=%s: sent unchanged to %s%s (%d)", job->id, to,
		             job->mail->already_encrypted ? " (already encrypted)" : "", code);
}

/* Metrics (telemetry.c): @n recipients of this mail reached their final
 * @outcome; sent to the watcher with the worker's reply. */
static void
kov_job_count(KovJob *job, const char *outcome, guint n)
{
	kov_metrics_event_append(job->ctx->events, "koverto_recipients_total", n, "queue", job->queue->name,
	                         "outcome", outcome, NULL);
}

/* The class label of an SMTP reply code; none: no reply. */
static const char *
kov_job_reply_class(int code)
{
	switch (code / 100) {
	case 2: return "2xx";
	case 4: return "4xx";
	case 5: return "5xx";
	}
	return "none";
}

/* Record the same outcome for every recipient of a copy that never got sent. */
static void
kov_job_mark_copy(KovJob *job, const KovPlanCopy *copy, const GError *error)
{
	KovRcptState st = kov_error_is_temporary(error) ? KOV_STATE_PENDING : KOV_STATE_FAILED;
	g_autofree char *to = kov_job_join_addresses(job, copy, NULL);

	for (guint i = 0; i < copy->recipients->len; i++) {
		const KovPlanRecipient *r = kov_plan_copy_recipient(job->planner->plan, copy, i);
		kov_job_set_rcpt(job, r->address, st, error->message);
		kov_process_log_outcome(job, r->address, st == KOV_STATE_PENDING ? KOV_LOGFMT_DEFERRED
		                        : KOV_LOGFMT_FAILED, 0, error->message, FALSE);
	}
	kov_state_set_last_error(job->state, error->message);
	kov_log_info("id=%s: %s for %s: %s", job->id, st == KOV_STATE_PENDING ? "deferred" : "failed",
	             to, error->message);
	if (st == KOV_STATE_FAILED)
		kov_job_count(job, "failed", copy->recipients->len);
}

/* The addresses of @copy's recipients, NULL-terminated. (the array is
 * transfer full, the strings borrowed) */
static const char **
kov_job_copy_addresses(KovJob *job, const KovPlanCopy *copy)
{
	guint n = copy->recipients->len;
	const char **addresses = g_new0(const char *, n + 1);
	for (guint i = 0; i < n; i++)
		addresses[i] = kov_plan_copy_recipient(job->planner->plan, copy, i)->address;
	return addresses;
}

/* Room on disk to record the outcome of @copy, taken before it is sent:
 * a full disk stops the mail here, not after an accepted transaction. */
static gboolean
kov_job_reserve(KovJob *job, const KovPlanCopy *copy)
{
	g_autofree const char **addresses = kov_job_copy_addresses(job, copy);
	GError *error = NULL;

	if (kov_state_reserve(job->state, addresses, copy->recipients->len, &error))
		return TRUE;
	kov_job_unsaved(job, error);
	return FALSE;
}

/* The copy as it goes out, or why it cannot: what the plan already knows
 * (a signed copy without a signing key), else rendering and the leak check. */
static GMimeMessage *
kov_job_prepare_copy(KovJob *job, const KovPlanCopy *copy, GError **error)
{
	if (copy->fails != NULL) {
		g_set_error_literal(error, KOV_ERROR, KOV_ERROR_PERMFAIL, copy->fails);
		return NULL;
	}
	g_autoptr(GMimeMessage) rendered = kov_job_render(job, copy, error);
	if (rendered == NULL || !kov_job_check_leak(job, copy, rendered, error))
		return NULL;
	return g_steal_pointer(&rendered);
}

static void
kov_job_send_copy(KovJob *job, const KovPlanCopy *copy)
{
	g_autoptr(GError) error = NULL;
	if (!kov_job_reserve(job, copy))
		return;
	g_autoptr(GMimeMessage) rendered = kov_job_prepare_copy(job, copy, &error);
	int fd = -1;

	if (rendered == NULL || (fd = kov_job_spool_copy(job, rendered, &error)) < 0) {
		kov_job_mark_copy(job, copy, error);
		kov_job_save(job);
		return;
	}
	guint n = copy->recipients->len;
	g_autofree const char **rcpts = kov_job_copy_addresses(job, copy);
	g_autofree KovRcptResult *results = g_new0(KovRcptResult, n);

	kov_deliver_send(job->ctx->deliver, job->sender, rcpts, n, fd, results, &error);
	close(fd);

	g_autoptr(GArray) sent = g_array_new(FALSE, FALSE, sizeof(guint));
	int code = 0; /* the server's reply to the accepted transaction */
	for (guint i = 0; i < n; i++) {
		KovRcptResult *r = &results[i];
		kov_metrics_event_append(job->ctx->events, "koverto_smtp_replies_total", 1, "class",
		                         kov_job_reply_class(r->code), NULL);
		g_autofree char *why = r->reply ? g_strdup(r->reply) : g_strdup_printf("%d", r->code);
		if (r->status == KOV_RCPT_DELIVERED) {
			kov_job_set_rcpt(job, rcpts[i], KOV_STATE_DELIVERED, NULL);
			kov_job_count(job, copy->kind == KOV_DECISION_ENCRYPT ? "encrypted"
			                   : copy->kind == KOV_DECISION_SIGN ? "signed" : "unchanged", 1);
			g_array_append_val(sent, i);
			code = code ? code : r->code;
			kov_process_log_outcome(job, rcpts[i], KOV_LOGFMT_SENT, r->code, r->reply, TRUE);
		} else {
			gboolean later = r->status == KOV_RCPT_DEFERRED;
			kov_job_set_rcpt(job, rcpts[i], later ? KOV_STATE_PENDING : KOV_STATE_FAILED, why);
			if (!later)
				kov_job_count(job, r->code >= 500 && r->code < 600 ? "bounced" : "failed", 1);
			kov_state_set_last_error(job->state, why);
			kov_log_info("id=%s: %s for %s: %s", job->id, later ? "deferred" : "failed", rcpts[i],
			             why);
			kov_process_log_outcome(job, rcpts[i], later ? KOV_LOGFMT_DEFERRED : KOV_LOGFMT_BOUNCED,
			                        r->code, why, TRUE);
		}
		kov_rcpt_result_clear(r);
	}
	if (!kov_job_all_delivered(job))
		kov_job_save(job);
	if (error != NULL)
		kov_log_debug("id=%s: delivery: %s", job->id, error->message);
	if (sent->len > 0) {
		kov_metrics_event_append(job->ctx->events, "koverto_delivery_duration_seconds",
		                         MAX(0, g_get_real_time() - job->queued) / (double)G_USEC_PER_SEC,
		                         "queue", job->queue->name, NULL);
		g_autofree char *to = kov_job_join_addresses(job, copy, sent);
		kov_job_log_copy(job, copy, to, code);
	}
}

/* The next attempt (kov_schedule_next_attempt): the attempts live in the
 * state; the age holds when the state could not be saved (first-seen
 * then comes from the mail's file, see kov_job_prepare). */
static gint64
kov_job_next_attempt(KovJob *job, gint64 now)
{
	const KovConfig *config = job->ctx->config;
	if (job->state == NULL)
		return kov_schedule_next_attempt(now, config->retry_first, config->retry_max, 1, 0);
	return kov_schedule_next_attempt(now, config->retry_first, config->retry_max,
	                                 kov_state_get_attempts(job->state),
	                                 now - kov_state_get_first_seen(job->state));
}

/* "gave up after 5 days", "after 2 hours", "after 30 s": the lifetime in words. */
static char *
kov_lifetime_text(gint64 seconds)
{
	if (seconds % 86400 == 0)
		return g_strdup_printf("%" G_GINT64_FORMAT " days", seconds / 86400);
	if (seconds % 3600 == 0)
		return g_strdup_printf("%" G_GINT64_FORMAT " hours", seconds / 3600);
	return g_strdup_printf("%" G_GINT64_FORMAT " s", seconds);
}

/* Tell the sender about the recipients that failed (dsn on). */
static void
kov_job_report_failed(KovJob *job, KovResult *result)
{
	g_autoptr(GArray) rcpts = g_array_new(FALSE, TRUE, sizeof(KovDsnRecipient));
	g_autoptr(GPtrArray) strings = g_ptr_array_new_with_free_func(g_free);

	if (!job->ctx->config->dsn || job->rcpts == NULL)
		return;
	for (guint i = 0; i < job->rcpts->len; i++) {
		const KovRecipient *r = g_ptr_array_index(job->rcpts, i);
		char *reason = NULL;
		if (kov_state_get_rcpt(job->state, r->address, &reason) != KOV_STATE_FAILED) {
			g_free(reason);
			continue;
		}
		char *status = kov_dsn_status_for(reason);
		g_ptr_array_add(strings, reason);
		g_ptr_array_add(strings, status);
		KovDsnRecipient d = { r->address, status, reason, NULL };
		g_array_append_val(rcpts, d);
	}
	g_clear_object(&result->dsn);
	g_clear_pointer(&result->dsn_to, g_free);
	result->dsn_to = g_strdup(job->sender);
	result->dsn = kov_report_dsn_build(job->ctx, job->id, job->mail->message, job->sender,
	                                   (const KovDsnRecipient *)rcpts->data, rcpts->len,
	                                   kov_state_get_first_seen(job->state));
}

/* What became of the mail, from the state of all its recipients. */
static void
kov_job_conclude(KovJob *job, KovResult *result)
{
	g_autoptr(GString) failed = g_string_new(NULL);
	g_autoptr(GString) undelivered = g_string_new(NULL);
	guint pending = 0, delivered = 0, nfailed = 0;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	const KovConfig *config = job->ctx->config;
	gboolean expired = now - kov_state_get_first_seen(job->state) > config->queue_lifetime;
	g_autofree char *lifetime = kov_lifetime_text(config->queue_lifetime);
	g_autofree char *last = NULL;

	if (job->unsaved != NULL) /* why the rest waits: the state, not the last reply */
		kov_state_set_last_error(job->state, job->unsaved->message);
	last = kov_state_get_last_error(job->state);
	for (guint i = 0; i < job->rcpts->len; i++) {
		const KovRecipient *r = g_ptr_array_index(job->rcpts, i);
		g_autofree char *reason = NULL;
		KovRcptState st = kov_state_get_rcpt(job->state, r->address, &reason);
		if (st == KOV_STATE_PENDING && expired) {
			g_autofree char *why = g_strdup_printf("gave up after %s: %s", lifetime,
			                                       last ? last : "");
			kov_job_set_rcpt(job, r->address, KOV_STATE_FAILED, why);
			kov_process_log_outcome(job, r->address, KOV_LOGFMT_BOUNCED, 0, why, FALSE);
			kov_job_count(job, "failed", 1);
			st = KOV_STATE_FAILED;
			g_free(reason);
			reason = g_steal_pointer(&why);
		}
		if (st == KOV_STATE_PENDING)
			pending++;
		else if (st == KOV_STATE_DELIVERED)
			delivered++;
		else {
			nfailed++;
			g_string_append_printf(failed, "%s%s: %s", failed->len ? "; " : "", r->address,
			                       reason ? reason : "failed");
			g_string_append_printf(undelivered, "%s%s", undelivered->len ? ", " : "", r->address);
		}
	}
	if (pending > 0) {
		result->outcome = KOV_OUTCOME_DEFERRED;
		/* The watcher keeps this time in its memory: it holds even when
		 * the save below fails. */
		result->next_attempt = kov_job_next_attempt(job, now);
		result->reason = g_strdup(last ? last : "deferred");
		kov_state_set_next_attempt(job->state, result->next_attempt);
		kov_job_save(job);
	} else if (nfailed > 0) {
		result->outcome = KOV_OUTCOME_FAILED;
		result->quiet = *job->sender == '\0';
		result->reason = g_string_free(g_steal_pointer(&failed), FALSE);
		if (delivered > 0) /* a retry must never repeat what was delivered */
			result->undelivered = g_string_free(g_steal_pointer(&undelivered), FALSE);
		kov_job_report_failed(job, result);
	} else {
		result->outcome = KOV_OUTCOME_DELIVERED;
	}
	g_autoptr(GString) head = g_string_new(NULL);
	kov_logfmt_append(head, "id", job->id, 0);
	kov_logfmt_append(head, "queue", job->queue->name, 0);
	kov_logfmt_append(head, "from", *job->sender ? job->sender : "<>", 0);
	kov_log_info("%s rcpt=%u delivered=%u deferred=%u failed=%u result=%s attempt=%u delay=%.2fs",
	             head->str,
	             job->rcpts->len, delivered, pending, nfailed,
	             result->outcome == KOV_OUTCOME_DELIVERED ? "sent"
	             : result->outcome == KOV_OUTCOME_DEFERRED ? "deferred" : "failed",
	             kov_state_get_attempts(job->state),
	             (g_get_monotonic_time() - job->started) / (double)G_USEC_PER_SEC);
}

/* A mail that cannot be read or decided at all. */
static void
kov_job_abort(KovJob *job, const GError *error, KovResult *result)
{
	const KovConfig *config = job->ctx->config;
	gboolean later = kov_error_is_temporary(error);
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	if (later && job->state != NULL
	    && now - kov_state_get_first_seen(job->state) > config->queue_lifetime)
		later = FALSE; /* a temporary problem that lasted the whole lifetime is not one */
	result->outcome = later ? KOV_OUTCOME_DEFERRED : KOV_OUTCOME_FAILED;
	result->quiet = job->sender != NULL && *job->sender == '\0';
	if (later || !kov_error_is_temporary(error))
		result->reason = g_strdup(error->message);
	else
	{
		g_autofree char *lifetime = kov_lifetime_text(config->queue_lifetime);
		result->reason = g_strdup_printf("gave up after %s: %s", lifetime, error->message);
	}
	if (later) /* even without a state: 0 would leave the mail unscheduled */
		result->next_attempt = kov_job_next_attempt(job, now);
	if (later && job->state != NULL) {
		kov_state_set_last_error(job->state, error->message);
		kov_state_set_next_attempt(job->state, result->next_attempt);
		kov_job_save(job);
	}
	g_autoptr(GString) summary = g_string_new(NULL);
	kov_logfmt_append(summary, "id", job->id, 0);
	kov_logfmt_append(summary, "queue", job->queue->name, 0);
	kov_logfmt_append(summary, "result", later ? "deferred" : "failed", 0);
	kov_logfmt_append(summary, "reason", result->reason, 0);
	kov_log_info("%s", summary->str);
	KovLogfmtStatus status = later ? KOV_LOGFMT_DEFERRED
	                         : job->planner != NULL && job->planner->plan->refused != NULL
	                         ? KOV_LOGFMT_REFUSED
	                         : kov_error_is_temporary(error) ? KOV_LOGFMT_BOUNCED : KOV_LOGFMT_FAILED;
	for (guint i = 0; job->rcpts != NULL && i < job->rcpts->len; i++) {
		const KovRecipient *r = g_ptr_array_index(job->rcpts, i);
		if (job->state == NULL || kov_state_get_rcpt(job->state, r->address, NULL) == KOV_STATE_PENDING)
			kov_process_log_outcome(job, r->address, status, 0, result->reason, FALSE);
	}
	if (!later && job->state != NULL && job->rcpts != NULL) {
		for (guint i = 0; i < job->rcpts->len; i++) {
			const KovRecipient *r = g_ptr_array_index(job->rcpts, i);
			if (kov_state_get_rcpt(job->state, r->address, NULL) != KOV_STATE_PENDING)
				continue;
			kov_job_set_rcpt(job, r->address, KOV_STATE_FAILED, result->reason);
			kov_job_count(job, job->planner != NULL && job->planner->plan->refused != NULL
			                   ? "refused" : "failed", 1);
		}
		kov_job_report_failed(job, result);
	}
}

/* The state and the mail: everything the plan is made from. */
static gboolean
kov_job_prepare(KovJob *job, GError **error)
{
	const KovConfig *config = job->ctx->config;
	g_autofree char *path = kov_queue_cur_path(config->queuedir, job->queue->name, job->id);
	g_autofree char *state_path = kov_queue_state_path(config->queuedir, job->queue->name, job->id);
	/* Delivered-To is an MTA's Maildir delivery; the Kuvert queue has none. */
	KovMessageOptions options = { .use_delivered_to = job->queue->kind != KOV_QUEUE_KUVERT };

	job->state = kov_state_load(state_path, error);
	if (job->state == NULL)
		return FALSE;
	/* Nothing recorded yet, or nothing could be: the mail was first seen
	 * when it was claimed (the rename into cur/ set its ctime; a Kuvert
	 * queue file's is when it was written), which survives a state that
	 * cannot be saved and a restart. */
	struct stat st;
	gboolean have_st = stat(path, &st) == 0;
	if (have_st) /* written to the queue: the mail's file keeps that time through renames */
		job->queued = (gint64)st.st_mtim.tv_sec * G_USEC_PER_SEC + st.st_mtim.tv_nsec / 1000;
	if (kov_state_is_new(job->state) && have_st
	    && st.st_ctime < kov_state_get_first_seen(job->state))
		kov_state_set_first_seen(job->state, st.st_ctime);
	kov_state_add_attempt(job->state);
	if (kov_state_get_attempts(job->state) == 1)
		kov_metrics_event_append(job->ctx->events, "koverto_messages_received_total", 1, "queue",
		                         job->queue->name, NULL);
	if (!have_st)
		job->queued = kov_state_get_first_seen(job->state) * G_USEC_PER_SEC;
	job->mail = kov_message_load(path, &options, error);
	if (job->mail == NULL) {
		if (error != NULL && *error != NULL && (*error)->code == KOV_ERROR_DATAERR)
			(*error)->code = KOV_ERROR_PERMFAIL;
		return FALSE;
	}
	job->sender = job->mail->sender;
	return TRUE;
}

static void
kov_job_log_received(KovJob *job)
{
	g_autoptr(GString) s = g_string_new(NULL);
	for (guint i = 0; i < job->rcpts->len; i++) {
		const KovRecipient *r = g_ptr_array_index(job->rcpts, i);
		g_string_append_printf(s, "%s%s%s", i ? "," : "", r->address,
		                       r->role == KOV_ROLE_BCC ? "(bcc)" : "");
	}
	if (job->planner->resent)
		kov_log_info("id=%s: a bounce: sent on to its Resent-To/-Cc/-Bcc addresses only", job->id);
	kov_log_info("id=%s: received from <%s> into %s for %s", job->id, job->sender, job->queue->name,
	             s->str);
	const KovClientConfig *client = kov_planner_client(job->ctx->config, job->queue, job->mail);
	if (client != NULL)
		kov_log_info("id=%s: from client %s", job->id, client->name);
	else if (job->mail->client != NULL)
		kov_log_warning("id=%s: X-Koverto-Client \"%s\" ignored: no client of queue %s sends "
		                "there; signed as any mail of the queue", job->id, job->mail->client,
		                job->queue->name);
}

void
kov_process_note_expiry(const KovConfig *config, gpgme_key_t key, KovKeymarkKind kind,
                        const char *address)
{
	g_return_if_fail(config != NULL && key != NULL && kind < KOV_KEYMARK_N_KINDS);
	if (config->key_expiry_warning == 0)
		return;
	gint64 expires = 0;
	gpgme_subkey_t sub = kov_keys_expiry(key, kind == KOV_KEYMARK_SIGNING, &expires);
	if (sub == NULL || sub->fpr == NULL)
		return;
	if (address == NULL && key->uids != NULL)
		address = key->uids->address;   /* a signing key: its first user ID's */
	KovKeymark m = {
		.kind = kind,
		.fpr = (char *)kov_keys_fingerprint(key),
		.subkey = sub->fpr,
		.expires = expires,
		.address = (char *)address,
	};
	g_autoptr(GError) error = NULL;
	g_autofree char *line = kov_keymark_note(config->queuedir, &m, config->key_expiry_warning,
	                                         g_get_real_time() / G_USEC_PER_SEC, &error);
	if (line != NULL)
		kov_log_warning("%s", line);
	else if (error != NULL)
		kov_log_warning("%s; the warning of a key that expires soon may repeat", error->message);
}

/* The keys this mail uses, before anything is sent: a recipient key
 * whose encryption subkey expires soon, and the signing key. */
static void
kov_job_note_expiry(KovJob *job)
{
	const KovPlan *plan = job->planner->plan;
	if (plan->refused != NULL || job->ctx->config->key_expiry_warning == 0)
		return;
	for (guint i = 0; i < plan->recipients->len; i++) {
		const KovPlanRecipient *r = g_ptr_array_index(plan->recipients, i);
		gpgme_key_t key = kov_planner_key(job->planner, i);
		if (r->decision == KOV_DECISION_ENCRYPT && key != NULL)
			kov_process_note_expiry(job->ctx->config, key, KOV_KEYMARK_RECIPIENT, r->address);
	}
	if (job->planner->signer != NULL)
		kov_process_note_expiry(job->ctx->config, job->planner->signer, KOV_KEYMARK_SIGNING, NULL);
}

/* Make the plan (planner.c), then get the mail ready to go: nothing that
 * leaves may carry the private headers, every copy carries our trace. */
static gboolean
kov_job_plan(KovJob *job, GError **error)
{
	const KovConfig *config = job->ctx->config;

	job->planner = kov_planner_make(config, job->ctx->keys, job->queue, job->mail, job->state, error);
	job->rcpts = g_ptr_array_ref(job->planner->rcpts);
	job->sender = job->planner->sender;
	kov_job_log_received(job);
	if (error != NULL && *error != NULL)
		return FALSE;
	kov_job_log_plan(job);
	kov_job_note_expiry(job);
	if (job->planner->plan->refused != NULL) {
		g_set_error_literal(error, KOV_ERROR, KOV_ERROR_PERMFAIL, job->planner->plan->refused);
		return FALSE;
	}
	kov_message_strip_private_headers(job->mail->message);
	kov_trace_add(job->mail->message, kov_trace_host(), job->id);
	if (config->identify)
		g_mime_object_append_header(GMIME_OBJECT(job->mail->message), "X-Mailer",
		                            "koverto " KOVERTO_VERSION, NULL);
	job->gpg = kov_keys_new_context(job->ctx->keys, error);
	return job->gpg != NULL;
}

void
kov_process_mail(KovContext *ctx, const KovQueueConfig *queue, const char *id, KovResult *result)
{
	KovJob job = { .ctx = ctx, .queue = queue, .id = id, .started = g_get_monotonic_time() };
	g_autoptr(GError) error = NULL;

	memset(result, 0, sizeof *result);
	if (!kov_job_prepare(&job, &error) || !kov_job_plan(&job, &error)) {
		kov_job_abort(&job, error, result);
		kov_job_clear(&job);
		return;
	}
	const GPtrArray *copies = job.planner->plan->copies;
	for (guint i = 0; i < copies->len && job.unsaved == NULL; i++)
		kov_job_send_copy(&job, g_ptr_array_index(copies, i));
	kov_job_conclude(&job, result);
	kov_job_clear(&job);
}
