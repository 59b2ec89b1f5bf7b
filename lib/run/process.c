/* SPDX-License-Identifier: GPL-3.0-or-later */
/* One mail from the queue to the wire. Everything is decided before
 * anything is sent (DESIGN.md "Decide, then act"); each copy is rendered to
 * a temporary file, checked once more (a must-encrypt recipient only ever
 * gets ciphertext), delivered, and recorded in the state before the next
 * copy starts, so a retry never repeats an accepted transaction. */
#include "process.h"
#include "gmime-autoptr.h"
#include "gpgme-autoptr.h"
#include "ciphertext.h"
#include "crypto.h"
#include "error.h"
#include "log.h"
#include "message.h"
#include "policy.h"
#include "report.h"
#include "scratch.h"
#include "state.h"
#include "trace.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


/* One recipient still to serve in this run. */
typedef struct {
	const char *address;      /* borrowed from the KovMail */
	const KovRecipient *rcpt; /* borrowed: its role and in-address directives */
	KovRole role;
	KovAction action;         /* what applies to this recipient */
	KovKeyStatus key_status;
	gpgme_key_t key;          /* owned; set when usable */
	char *key_detail;         /* owned; why a key is not usable */
	KovDecision decision;
} KovTarget;

/* One SMTP transaction: a rendering and the recipients that get it. */
typedef struct {
	KovDecision kind;
	GPtrArray *targets;       /* of KovTarget*, borrowed */
} KovCopy;

typedef struct {
	KovContext *ctx;
	KovQueueKind kind;
	const char *id;
	KovMail *mail;
	GPtrArray *rcpts;         /* of KovRecipient*: who gets this mail (borrowed from
	                           * mail, or owned for the Resent-To shortcut) */
	KovState *state;
	GArray *targets;          /* of KovTarget */
	gpgme_key_t signer;
	gpgme_ctx_t gpg;
	gint64 started;           /* monotonic usec */
	GError *unsaved;          /* the state could not be recorded: no further
	                           * transaction in this run (owned) */
} KovJob;

KovAction
kov_process_queue_action(KovQueueKind kind)
{
	switch (kind) {
	case KOV_QUEUE_MUST_ENCRYPT: return KOV_ACTION_MUSTENCRYPT;
	case KOV_QUEUE_FALLBACK:     return KOV_ACTION_FALLBACK;
	case KOV_QUEUE_SIGN_ONLY:    return KOV_ACTION_SIGNONLY;
	case KOV_QUEUE_KUVERT:       /* decided per recipient by the rules */
	case KOV_QUEUE_N_KINDS:      break;
	}
	g_return_val_if_reached(KOV_ACTION_MUSTENCRYPT);
}

void
kov_result_clear(KovResult *result)
{
	g_clear_pointer(&result->reason, g_free);
	g_clear_pointer(&result->undelivered, g_free);
	g_clear_object(&result->dsn);
	g_clear_pointer(&result->dsn_to, g_free);
}

static void
kov_target_clear(gpointer data)
{
	KovTarget *t = data;
	if (t->key != NULL)
		gpgme_key_unref(t->key);
	g_free(t->key_detail);
}

static void
kov_job_clear(KovJob *job)
{
	g_clear_pointer(&job->targets, g_array_unref);
	g_clear_pointer(&job->rcpts, g_ptr_array_unref);
	g_clear_pointer(&job->mail, kov_message_free);
	g_clear_pointer(&job->state, kov_state_free);
	if (job->signer != NULL)
		gpgme_key_unref(job->signer);
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

static char *
kov_join_addresses(GPtrArray *targets)
{
	g_autoptr(GString) s = g_string_new(NULL);
	for (guint i = 0; i < targets->len; i++) {
		const KovTarget *t = g_ptr_array_index(targets, i);
		g_string_append_printf(s, "%s%s", i ? "," : "", t->address);
	}
	return g_string_free(g_steal_pointer(&s), FALSE);
}

/* The sender must be allowed by the queue: both the envelope sender and
 * From, which must be one mailbox; none is skipped for being empty. */
static gboolean
kov_job_check_sender(KovJob *job, GError **error)
{
	const KovConfig *config = job->ctx->config;
	const char *who[] = { job->mail->sender, job->mail->from_single ? job->mail->from : NULL };
	const char *none[] = { "<> (the null sender)", "(no From: with exactly one mailbox)" };

	for (gsize i = 0; i < G_N_ELEMENTS(who); i++) {
		if (!kov_config_sender_allowed(config, job->kind, who[i])) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL, "sender %s is not allowed in queue %s",
			            who[i] && *who[i] ? who[i] : none[i], kov_policy_queue_name(job->kind));
			return FALSE;
		}
	}
	return TRUE;
}

static void
kov_job_add_resent(KovJob *job, const GPtrArray *addresses, KovRole role)
{
	for (guint i = 0; addresses != NULL && i < addresses->len; i++) {
		KovRecipient *r = g_new0(KovRecipient, 1);
		r->address = g_strdup(g_ptr_array_index(addresses, i));
		r->role = role;
		g_ptr_array_add(job->rcpts, r);
	}
}

/* Who gets the mail: its recipients, or, for Kuvert's bounce shortcut (a
 * Resent-To header and no explicit envelope, Kuvert queue only), the
 * Resent-To/-Cc/-Bcc addresses, sent from the resender. */
static void
kov_job_choose_recipients(KovJob *job)
{
	KovMail *mail = job->mail;

	if (job->kind != KOV_QUEUE_KUVERT || mail->resent_to == NULL
	    || mail->resent_to->len + (mail->resent_bcc ? mail->resent_bcc->len : 0) == 0) {
		job->rcpts = g_ptr_array_ref(mail->recipients);
		return;
	}
	job->rcpts = g_ptr_array_new_with_free_func(kov_recipient_free);
	kov_job_add_resent(job, mail->resent_to, KOV_ROLE_TO);
	kov_job_add_resent(job, mail->resent_bcc, KOV_ROLE_BCC);
	if (mail->resent_from != NULL && !mail->sender_given) {
		g_free(mail->sender);
		mail->sender = g_strdup(mail->resent_from);
	}
	kov_log_info("id=%s: a bounce: sent on to its Resent-To/-Cc/-Bcc addresses only", job->id);
}

/* Recipients not yet delivered or failed in an earlier attempt. */
static void
kov_job_collect_targets(KovJob *job)
{
	job->targets = g_array_new(FALSE, TRUE, sizeof(KovTarget));
	g_array_set_clear_func(job->targets, kov_target_clear);
	for (guint i = 0; i < job->rcpts->len; i++) {
		const KovRecipient *r = g_ptr_array_index(job->rcpts, i);
		if (kov_state_get_rcpt(job->state, r->address, NULL) != KOV_STATE_PENDING)
			continue;
		KovTarget t = { .address = r->address, .rcpt = r, .role = r->role,
		                .key_status = KOV_KEY_MISSING };
		g_array_append_val(job->targets, t);
	}
}

static const char *
kov_key_status_text(const KovTarget *t)
{
	if (t->key_detail != NULL)
		return t->key_detail;
	switch (t->key_status) {
	case KOV_KEY_USABLE:    return "usable";
	case KOV_KEY_MISSING:   return "no key";
	case KOV_KEY_NOT_VALID: return "present but not valid";
	case KOV_KEY_UNUSABLE:  return "present but unusable";
	}
	return "?";
}

/* The policy's view of one recipient. A policy queue forces its action:
 * rules, X-Kuvert and directives count only in the Kuvert queue. */
static KovPolicyRecipient
kov_job_policy_recipient(KovJob *job, const KovTarget *t)
{
	KovPolicyRecipient p = { .address = t->address, .role = t->role };

	if (job->kind != KOV_QUEUE_KUVERT) {
		p.has_forced_action = TRUE;
		p.forced_action = kov_process_queue_action(job->kind);
		return p;
	}
	p.is_resent = job->rcpts != job->mail->recipients;
	p.has_directive_action = t->rcpt->has_directive_action;
	p.directive_action = t->rcpt->directive_action;
	p.directive_key = t->rcpt->directive_key;
	return p;
}

/* Look up the key each recipient needs (the one a rule or directive
 * names, else its own). FALSE with error when the engine failed. */
static gboolean
kov_job_lookup_key(KovJob *job, const KovPolicyContext *pctx, KovPolicyRecipient *p,
                   KovTarget *t, GError **error)
{
	if (!kov_policy_needs_key(pctx, p))
		return TRUE;
	t->key_status = kov_keys_find_encryption(job->ctx->keys, t->address,
	                                         kov_policy_key_for(pctx, p), &t->key,
	                                         &t->key_detail, error);
	if (error != NULL && *error != NULL)
		return FALSE;
	if (t->key_status == KOV_KEY_NOT_VALID || t->key_status == KOV_KEY_UNUSABLE)
		kov_log_info("id=%s: key for %s: %s", job->id, t->address, kov_key_status_text(t));
	p->has_key = t->key_status == KOV_KEY_USABLE;
	return TRUE;
}

/* The own keys of all recipients who need one, in one gpg run per 500
 * instead of one run each: 10,000 recipients took over two minutes of
 * lookups, now about a second. FALSE with error when the engine failed. */
static gboolean
kov_job_prefetch_keys(KovJob *job, const KovPolicyContext *pctx, const KovPolicyRecipient *in,
                      guint n, GError **error)
{
	g_autofree const char **addresses = g_new0(const char *, n + 1);
	guint wanted = 0;
	for (guint i = 0; i < n; i++)
		if (kov_policy_needs_key(pctx, &in[i]) && kov_policy_key_for(pctx, &in[i]) == NULL)
			addresses[wanted++] = in[i].address;
	return wanted < 2 || kov_keys_prefetch(job->ctx->keys, addresses, wanted, error);
}

/* Look up each recipient's key and decide. FALSE with error when the mail
 * must not go out (a mustencrypt recipient without a key) or the engine
 * failed. */
static gboolean
kov_job_decide(KovJob *job, GError **error)
{
	const KovConfig *config = job->ctx->config;
	guint n = job->targets->len;
	g_autofree KovPolicyRecipient *in = g_new0(KovPolicyRecipient, n ? n : 1);
	g_autofree KovPolicyResult *out = g_new0(KovPolicyResult, n ? n : 1);
	KovPolicyContext pctx = { config->rules, config->defaultaction, job->mail->has_x_kuvert,
		                  job->mail->x_kuvert };

	if (job->mail->already_encrypted) {
		for (guint i = 0; i < n; i++)
			g_array_index(job->targets, KovTarget, i).decision = KOV_DECISION_UNCHANGED;
		kov_log_info("id=%s: already encrypted: the ciphertext passed on unchanged", job->id);
		return TRUE;
	}
	if (job->mail->not_ciphertext != NULL)
		kov_log_info("id=%s: labelled encrypted but not ciphertext (%s): treated as plaintext",
		             job->id, job->mail->not_ciphertext);
	for (guint i = 0; i < n; i++)
		in[i] = kov_job_policy_recipient(job, &g_array_index(job->targets, KovTarget, i));
	if (!kov_job_prefetch_keys(job, &pctx, in, n, error))
		return FALSE;
	for (guint i = 0; i < n; i++) {
		KovTarget *t = &g_array_index(job->targets, KovTarget, i);
		if (!kov_job_lookup_key(job, &pctx, &in[i], t, error))
			return FALSE;
	}
	gboolean sendable = kov_policy_decide_mail(&pctx, in, n, out);
	g_autoptr(GString) refused = g_string_new(NULL);
	for (guint i = 0; i < n; i++) {
		KovTarget *t = &g_array_index(job->targets, KovTarget, i);
		t->action = out[i].action;
		t->decision = out[i].decision;
		kov_log_debug("id=%s: %s: %s", job->id, t->address, out[i].reason ? out[i].reason : "");
		if (t->decision == KOV_DECISION_REFUSE)
			g_string_append_printf(refused, "%s%s (%s)", refused->len ? ", " : "", t->address,
			                       kov_key_status_text(t));
		kov_policy_result_clear(&out[i]);
	}
	if (!sendable) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL, "refused: no usable key for %s",
		            refused->str);
		return FALSE;
	}
	return TRUE;
}

static void
kov_copy_free(gpointer data)
{
	KovCopy *copy = data;
	g_ptr_array_unref(copy->targets);
	g_free(copy);
}

static KovCopy *
kov_copy_new(KovDecision kind)
{
	KovCopy *copy = g_new0(KovCopy, 1);
	copy->kind = kind;
	copy->targets = g_ptr_array_new();
	return copy;
}

/* Group the decisions into transactions: one unchanged copy, one signed,
 * one encrypted to all To/Cc keys, and one per encrypted Bcc recipient so
 * that no key ID in a copy reveals a Bcc recipient. */
static GPtrArray *
kov_job_group_copies(KovJob *job)
{
	GPtrArray *copies = g_ptr_array_new_with_free_func(kov_copy_free);
	KovCopy *plain = kov_copy_new(KOV_DECISION_UNCHANGED);
	KovCopy *sign = kov_copy_new(KOV_DECISION_SIGN);
	KovCopy *open = kov_copy_new(KOV_DECISION_ENCRYPT);

	g_ptr_array_add(copies, plain);
	g_ptr_array_add(copies, sign);
	g_ptr_array_add(copies, open);
	for (guint i = 0; i < job->targets->len; i++) {
		KovTarget *t = &g_array_index(job->targets, KovTarget, i);
		if (t->decision == KOV_DECISION_UNCHANGED)
			g_ptr_array_add(plain->targets, t);
		else if (t->decision == KOV_DECISION_SIGN)
			g_ptr_array_add(sign->targets, t);
		else if (t->decision == KOV_DECISION_ENCRYPT && t->role != KOV_ROLE_BCC)
			g_ptr_array_add(open->targets, t);
		else if (t->decision == KOV_DECISION_ENCRYPT) {
			KovCopy *own = kov_copy_new(KOV_DECISION_ENCRYPT);
			g_ptr_array_add(own->targets, t);
			g_ptr_array_add(copies, own);
		}
	}
	for (guint i = copies->len; i-- > 0;)
		if (((KovCopy *)g_ptr_array_index(copies, i))->targets->len == 0)
			g_ptr_array_remove_index(copies, i);
	return copies;
}

static GMimeMessage *
kov_job_render(KovJob *job, KovCopy *copy, GError **error)
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
		if (job->signer == NULL) {
			g_set_error_literal(error, KOV_ERROR, KOV_ERROR_PERMFAIL,
			                    "no signing key: koverto never sends such a copy unsigned");
			return NULL;
		}
		return kov_crypto_sign(&options, job->mail->message, job->signer, error);
	case KOV_DECISION_ENCRYPT: {
		g_autofree gpgme_key_t *keys = g_new0(gpgme_key_t, copy->targets->len + 1);
		for (guint i = 0; i < copy->targets->len; i++)
			keys[i] = ((KovTarget *)g_ptr_array_index(copy->targets, i))->key;
		return kov_crypto_encrypt(&options, job->mail->message, keys, job->signer, error);
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
kov_job_check_leak(KovJob *job, KovCopy *copy, GMimeMessage *rendered, GError **error)
{
	gboolean must = FALSE;
	for (guint i = 0; i < copy->targets->len; i++)
		must |= ((KovTarget *)g_ptr_array_index(copy->targets, i))->action == KOV_ACTION_MUSTENCRYPT;
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

static void
kov_job_log_copy(KovJob *job, KovCopy *copy, const char *to, int code)
{
	const char *signer = job->signer ? kov_keys_fingerprint(job->signer) : NULL;
	g_autoptr(GString) keys = g_string_new(NULL);

	for (guint i = 0; copy->kind == KOV_DECISION_ENCRYPT && i < copy->targets->len; i++) {
		const KovTarget *t = g_ptr_array_index(copy->targets, i);
		g_string_append_printf(keys, "%s%s", i ? "," : "", kov_keys_fingerprint(t->key));
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

/* Record the same outcome for every recipient of a copy that never got sent. */
static void
kov_job_mark_copy(KovJob *job, KovCopy *copy, const GError *error)
{
	KovRcptState st = kov_error_is_temporary(error) ? KOV_STATE_PENDING : KOV_STATE_FAILED;
	g_autofree char *to = kov_join_addresses(copy->targets);

	for (guint i = 0; i < copy->targets->len; i++) {
		const KovTarget *t = g_ptr_array_index(copy->targets, i);
		kov_job_set_rcpt(job, t->address, st, error->message);
	}
	kov_state_set_last_error(job->state, error->message);
	kov_log_info("id=%s: %s for %s: %s", job->id, st == KOV_STATE_PENDING ? "deferred" : "failed",
	             to, error->message);
}

/* Room on disk to record the outcome of @copy, taken before it is sent:
 * a full disk stops the mail here, not after an accepted transaction. */
static gboolean
kov_job_reserve(KovJob *job, KovCopy *copy)
{
	guint n = copy->targets->len;
	g_autofree const char **addresses = g_new0(const char *, n + 1);
	GError *error = NULL;

	for (guint i = 0; i < n; i++)
		addresses[i] = ((KovTarget *)g_ptr_array_index(copy->targets, i))->address;
	if (kov_state_reserve(job->state, addresses, n, &error))
		return TRUE;
	kov_job_unsaved(job, error);
	return FALSE;
}

static void
kov_job_send_copy(KovJob *job, KovCopy *copy)
{
	g_autoptr(GError) error = NULL;
	if (!kov_job_reserve(job, copy))
		return;
	g_autoptr(GMimeMessage) rendered = kov_job_render(job, copy, &error);
	int fd = -1;

	if (rendered == NULL || !kov_job_check_leak(job, copy, rendered, &error)
	    || (fd = kov_job_spool_copy(job, rendered, &error)) < 0) {
		kov_job_mark_copy(job, copy, error);
		kov_job_save(job);
		return;
	}
	guint n = copy->targets->len;
	g_autofree const char **rcpts = g_new0(const char *, n + 1);
	g_autofree KovRcptResult *results = g_new0(KovRcptResult, n);
	for (guint i = 0; i < n; i++)
		rcpts[i] = ((KovTarget *)g_ptr_array_index(copy->targets, i))->address;

	kov_deliver_send(job->ctx->deliver, job->mail->sender, rcpts, n, fd, results, &error);
	close(fd);

	g_autoptr(GPtrArray) sent = g_ptr_array_new();
	int code = 0; /* the server's reply to the accepted transaction */
	for (guint i = 0; i < n; i++) {
		KovTarget *t = g_ptr_array_index(copy->targets, i);
		KovRcptResult *r = &results[i];
		g_autofree char *why = r->reply ? g_strdup(r->reply) : g_strdup_printf("%d", r->code);
		if (r->status == KOV_RCPT_DELIVERED) {
			kov_job_set_rcpt(job, t->address, KOV_STATE_DELIVERED, NULL);
			g_ptr_array_add(sent, t);
			code = code ? code : r->code;
		} else {
			gboolean later = r->status == KOV_RCPT_DEFERRED;
			kov_job_set_rcpt(job, t->address, later ? KOV_STATE_PENDING : KOV_STATE_FAILED, why);
			kov_state_set_last_error(job->state, why);
			kov_log_info("id=%s: %s for %s: %s", job->id, later ? "deferred" : "failed", t->address,
			             why);
		}
		kov_rcpt_result_clear(r);
	}
	if (!kov_job_all_delivered(job))
		kov_job_save(job);
	if (error != NULL)
		kov_log_debug("id=%s: delivery: %s", job->id, error->message);
	if (sent->len > 0) {
		g_autofree char *to = kov_join_addresses(sent);
		KovCopy logged = { copy->kind, copy->targets };
		kov_job_log_copy(job, &logged, to, code);
	}
}

/* Exponential backoff: retry-first, doubled per attempt, at most retry-max. */
static gint64
kov_retry_delay(const KovConfig *config, guint attempts)
{
	gint64 delay = MAX(config->retry_first, 1);
	for (guint i = 1; i < attempts && delay < config->retry_max; i++)
		delay *= 2;
	return MIN(delay, MAX(config->retry_max, 1));
}

/* The next attempt: the backoff by attempts, and never sooner than the
 * mail's age (at most retry-max) later, which is the same doubling
 * schedule told by the clock. The attempts live in the state; the age
 * holds when the state could not be saved (first-seen then comes from
 * the mail's file, see kov_job_prepare). */
static gint64
kov_job_next_attempt(KovJob *job, gint64 now)
{
	const KovConfig *config = job->ctx->config;
	if (job->state == NULL)
		return now + kov_retry_delay(config, 1);
	gint64 age = MAX(now - kov_state_get_first_seen(job->state), 0);
	gint64 delay = kov_retry_delay(config, kov_state_get_attempts(job->state));
	return now + MAX(delay, MIN(age, MAX(config->retry_max, 1)));
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
	result->dsn_to = g_strdup(job->mail->sender);
	result->dsn = kov_report_dsn_build(job->ctx, job->id, job->mail->message, job->mail->sender,
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
		result->quiet = *job->mail->sender == '\0';
		result->reason = g_string_free(g_steal_pointer(&failed), FALSE);
		if (delivered > 0) /* a retry must never repeat what was delivered */
			result->undelivered = g_string_free(g_steal_pointer(&undelivered), FALSE);
		kov_job_report_failed(job, result);
	} else {
		result->outcome = KOV_OUTCOME_DELIVERED;
	}
	kov_log_info("id=%s queue=%s from=%s rcpt=%u delivered=%u deferred=%u failed=%u result=%s "
	             "attempt=%u delay=%.2fs",
	             job->id, kov_policy_queue_name(job->kind), *job->mail->sender ? job->mail->sender : "<>",
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
	result->quiet = job->mail != NULL && *job->mail->sender == '\0';
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
	kov_log_info("id=%s queue=%s result=%s reason=\"%s\"", job->id, kov_policy_queue_name(job->kind),
	             later ? "deferred" : "failed", result->reason);
	if (!later && job->state != NULL && job->rcpts != NULL) {
		for (guint i = 0; i < job->rcpts->len; i++) {
			const KovRecipient *r = g_ptr_array_index(job->rcpts, i);
			if (kov_state_get_rcpt(job->state, r->address, NULL) == KOV_STATE_PENDING)
				kov_job_set_rcpt(job, r->address, KOV_STATE_FAILED, result->reason);
		}
		kov_job_report_failed(job, result);
	}
}

static gboolean
kov_job_prepare(KovJob *job, GError **error)
{
	const KovConfig *config = job->ctx->config;
	g_autofree char *path = kov_queue_cur_path(config->queuedir, job->kind, job->id);
	g_autofree char *state_path = kov_queue_state_path(config->queuedir, job->kind, job->id);
	/* Delivered-To is an MTA's Maildir delivery; the Kuvert queue has none. */
	KovMessageOptions options = { .use_delivered_to = job->kind != KOV_QUEUE_KUVERT };

	job->state = kov_state_load(state_path, error);
	if (job->state == NULL)
		return FALSE;
	/* Nothing recorded yet, or nothing could be: the mail was first seen
	 * when it was claimed (the rename into cur/ set its ctime; a Kuvert
	 * queue file's is when it was written), which survives a state that
	 * cannot be saved and a restart. */
	struct stat st;
	if (kov_state_is_new(job->state) && stat(path, &st) == 0
	    && st.st_ctime < kov_state_get_first_seen(job->state))
		kov_state_set_first_seen(job->state, st.st_ctime);
	kov_state_add_attempt(job->state);
	job->mail = kov_message_load(path, &options, error);
	if (job->mail == NULL) {
		if (error != NULL && *error != NULL && (*error)->code == KOV_ERROR_DATAERR)
			(*error)->code = KOV_ERROR_PERMFAIL;
		return FALSE;
	}
	kov_job_choose_recipients(job);
	g_autofree char *rcpts = NULL;
	{
		g_autoptr(GString) s = g_string_new(NULL);
		for (guint i = 0; i < job->rcpts->len; i++) {
			const KovRecipient *r = g_ptr_array_index(job->rcpts, i);
			g_string_append_printf(s, "%s%s%s", i ? "," : "", r->address,
			                       r->role == KOV_ROLE_BCC ? "(bcc)" : "");
		}
		rcpts = g_string_free(g_steal_pointer(&s), FALSE);
	}
	kov_log_info("id=%s: received in queue %s from %s for %s", job->id, kov_policy_queue_name(job->kind),
	             *job->mail->sender ? job->mail->sender : "<>", rcpts);
	if (!kov_trace_check(job->mail->message, kov_trace_host(), config->max_hops, error))
		return FALSE;
	if (job->kind != KOV_QUEUE_KUVERT && !kov_job_check_sender(job, error))
		return FALSE;
	kov_message_strip_private_headers(job->mail->message);
	kov_trace_add(job->mail->message, kov_trace_host(), job->id);
	if (config->identify)
		g_mime_object_append_header(GMIME_OBJECT(job->mail->message), "X-Mailer",
		                            "koverto " KOVERTO_VERSION, NULL);
	kov_job_collect_targets(job);
	job->gpg = kov_keys_new_context(job->ctx->keys, error);
	return job->gpg != NULL;
}

static gboolean
kov_job_needs_signer(KovJob *job)
{
	for (guint i = 0; i < job->targets->len; i++) {
		KovDecision d = g_array_index(job->targets, KovTarget, i).decision;
		if (d == KOV_DECISION_SIGN || d == KOV_DECISION_ENCRYPT)
			return TRUE;
	}
	return FALSE;
}

void
kov_process_mail(KovContext *ctx, KovQueueKind kind, const char *id, KovResult *result)
{
	KovJob job = { .ctx = ctx, .kind = kind, .id = id, .started = g_get_monotonic_time() };
	g_autoptr(GError) error = NULL;

	memset(result, 0, sizeof *result);
	if (!kov_job_prepare(&job, &error) || !kov_job_decide(&job, &error)) {
		kov_job_abort(&job, error, result);
		kov_job_clear(&job);
		return;
	}
	if (kov_job_needs_signer(&job)) {
		const KovConfig *config = ctx->config;
		/* The queue's key; in the Kuvert queue a key= directive in From. */
		const char *queue_key = kind < KOV_QUEUE_N_POLICY ? config->queue[kind].signing_key
		                                                  : job.mail->from_key;
		job.signer = kov_keys_find_signing(ctx->keys, queue_key, job.mail->from, config->defaultkey,
		                                   &error);
		if (job.signer == NULL && error != NULL) {
			kov_job_abort(&job, error, result);
			kov_job_clear(&job);
			return;
		}
	}
	g_autoptr(GPtrArray) copies = kov_job_group_copies(&job);
	for (guint i = 0; i < copies->len && job.unsaved == NULL; i++)
		kov_job_send_copy(&job, g_ptr_array_index(copies, i));
	kov_job_conclude(&job, result);
	kov_job_clear(&job);
}
