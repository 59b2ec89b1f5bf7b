/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Gathering for the plan: the recipients (with Kuvert's bounce shortcut),
 * the loop and sender checks, the key look-ups the policy asks for (a
 * mail to thousands prefetched in a few gpg runs), then the pure decision
 * in lib/decide/plan.c, then the signing key if a copy needs one. It logs
 * nothing and writes nothing: the worker logs what it acts on, and
 * `koverto explain` prints the same plan without acting. */
#include "planner.h"
#include "error.h"
#include "trace.h"

void
kov_planner_free(KovPlanner *planner)
{
	if (planner == NULL)
		return;
	kov_plan_free(planner->plan);
	g_clear_pointer(&planner->rcpts, g_ptr_array_unref);
	g_clear_pointer(&planner->keys, g_ptr_array_unref);
	if (planner->signer != NULL)
		gpgme_key_unref(planner->signer);
	g_free(planner);
}

gpgme_key_t
kov_planner_key(const KovPlanner *planner, guint i)
{
	g_return_val_if_fail(planner != NULL && i < planner->keys->len, NULL);
	return g_ptr_array_index(planner->keys, i);
}

/* The sender must be allowed by the queue: both the envelope sender and
 * From, which must be one mailbox; none is skipped for being empty. */
static gboolean
planner_check_sender(const KovQueueConfig *queue, const KovMail *mail, const char *sender,
                     GError **error)
{
	const char *who[] = { sender, mail->from_single ? mail->from : NULL };
	const char *none[] = { "<> (the null sender)", "(no From: with exactly one mailbox)" };

	for (gsize i = 0; i < G_N_ELEMENTS(who); i++) {
		if (!kov_config_sender_allowed(queue, who[i])) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL, "sender %s is not allowed in queue %s",
			            who[i] && *who[i] ? who[i] : none[i], queue->name);
			return FALSE;
		}
	}
	return TRUE;
}

/* A loop, or a sender the queue does not take: the whole mail is refused
 * before anything is looked up. */
static gboolean
planner_check_mail(KovPlanner *planner, const KovConfig *config, const KovQueueConfig *queue,
                   KovMail *mail)
{
	g_autoptr(GError) why = NULL;
	if (kov_trace_check(mail->message, kov_trace_host(), config->max_hops, &why)
	    && (queue->kind == KOV_QUEUE_KUVERT || planner_check_sender(queue, mail, planner->sender, &why)))
		return TRUE;
	kov_plan_refuse(planner->plan, why->message);
	return FALSE;
}

/* The recipients still to serve: all of them, or those @state has pending. */
static GArray *
planner_inputs(const KovPlanner *planner, KovState *state)
{
	GArray *in = g_array_new(FALSE, TRUE, sizeof(KovPlanInput));
	for (guint i = 0; i < planner->rcpts->len; i++) {
		const KovRecipient *r = g_ptr_array_index(planner->rcpts, i);
		if (state != NULL && kov_state_get_rcpt(state, r->address, NULL) != KOV_STATE_PENDING)
			continue;
		KovPlanInput p = { .address = r->address, .role = r->role,
			           .has_directive_action = r->has_directive_action,
			           .directive_action = r->directive_action,
			           .directive_key = r->directive_key };
		g_array_append_val(in, p);
	}
	return in;
}

/* The own keys of all recipients who need one, in one gpg run per 500
 * instead of one run each: 10,000 recipients took over two minutes of
 * lookups, now about a second. */
static gboolean
planner_prefetch_keys(const KovPlan *plan, KovKeys *keys, GError **error)
{
	guint n = plan->recipients->len;
	g_autofree const char **addresses = g_new0(const char *, n + 1);
	guint wanted = 0;
	for (guint i = 0; i < n; i++) {
		const char *key_id = NULL;
		if (kov_plan_wants_key(plan, i, &key_id) && key_id == NULL)
			addresses[wanted++] = ((KovPlanRecipient *)g_ptr_array_index(plan->recipients, i))->address;
	}
	return wanted < 2 || kov_keys_prefetch(keys, addresses, wanted, error);
}

/* Look up the key each recipient needs (the one a rule or directive
 * names, else its own). FALSE with error when the engine failed. */
static gboolean
planner_lookup_keys(KovPlanner *planner, KovKeys *keys, GError **error)
{
	KovPlan *plan = planner->plan;
	if (!planner_prefetch_keys(plan, keys, error))
		return FALSE;
	for (guint i = 0; i < plan->recipients->len; i++) {
		const char *key_id = NULL;
		if (!kov_plan_wants_key(plan, i, &key_id))
			continue;
		const KovPlanRecipient *r = g_ptr_array_index(plan->recipients, i);
		KovKeyLookup *lookup = NULL;
		gpgme_key_t key = NULL;
		kov_keys_lookup_encryption(keys, r->address, key_id, &key, &lookup, error);
		if (error != NULL && *error != NULL)
			return FALSE;
		kov_plan_set_key(plan, i, lookup);
		planner->keys->pdata[i] = key;
	}
	return TRUE;
}

const KovClientConfig *
kov_planner_client(const KovConfig *config, const KovQueueConfig *queue, const KovMail *mail)
{
	g_return_val_if_fail(config != NULL && queue != NULL && mail != NULL, NULL);
	if (mail->client == NULL)
		return NULL;
	const KovClientConfig *client = kov_listen_config_client(&config->listen, mail->client);
	return client != NULL && g_strcmp0(client->queue, queue->name) == 0 ? client : NULL;
}

/* The listener's client's key; the queue's; in the Kuvert queue a key=
 * directive in From; else From's own, else defaultkey. An unusable
 * configured key refuses the mail; gpg failing is an error. */
static gboolean
planner_find_signer(KovPlanner *planner, const KovConfig *config, KovKeys *keys,
                    const KovQueueConfig *queue, const KovMail *mail, GError **error)
{
	KovQueueKind kind = queue->kind;
	const char *configured = kind != KOV_QUEUE_KUVERT ? queue->signing_key : mail->from_key;
	KovSignerSource source = KOV_SIGNER_NONE;
	g_autofree char *note = NULL;
	g_autoptr(GError) why = NULL;

	planner->signer_from_directive = kind == KOV_QUEUE_KUVERT && configured != NULL;
	const KovClientConfig *client = kov_planner_client(config, queue, mail);
	if (client != NULL && client->signing_key != NULL) {
		configured = client->signing_key;
		planner->signer_from_directive = FALSE;
	}
	planner->signer = kov_keys_lookup_signing(keys, configured, mail->from, config->defaultkey,
	                                          &source, &note, &why);
	if (planner->signer == NULL && why != NULL && kov_error_is_temporary(why)) {
		g_propagate_error(error, g_steal_pointer(&why));
		return FALSE;
	}
	KovKeyInfo *info = planner->signer != NULL ? kov_keys_info(planner->signer, mail->from) : NULL;
	kov_plan_set_signer(planner->plan, source, info, why != NULL ? why->message : note);
	if (why != NULL)
		kov_plan_refuse(planner->plan, why->message);
	return TRUE;
}

KovPlanner *
kov_planner_make(const KovConfig *config, KovKeys *keys, const KovQueueConfig *queue, KovMail *mail,
                 KovState *state, GError **error)
{
	g_return_val_if_fail(config != NULL && keys != NULL && queue != NULL && mail != NULL, NULL);

	g_autoptr(KovPlanner) planner = g_new0(KovPlanner, 1);
	planner->rcpts = kov_message_addressed(mail, queue->kind == KOV_QUEUE_KUVERT, &planner->sender, &planner->resent);
	g_autoptr(GArray) in = planner_inputs(planner, state);
	KovPlanMail pm = { .kind = queue->kind, .rules = config->rules,
		           .defaultaction = config->defaultaction,
		           .has_x_kuvert = mail->has_x_kuvert, .x_kuvert = mail->x_kuvert,
		           .already_encrypted = mail->already_encrypted, .resent = planner->resent };
	planner->plan = kov_plan_new(&pm, (const KovPlanInput *)in->data, in->len);
	planner->keys = g_ptr_array_new_full(in->len, (GDestroyNotify)gpgme_key_unref);
	g_ptr_array_set_size(planner->keys, in->len);

	if (!planner_check_mail(planner, config, queue, mail)) {
		planner->refused_early = TRUE;
		kov_plan_decide(planner->plan);
	} else if (planner_lookup_keys(planner, keys, error) && kov_plan_decide(planner->plan)
	           && planner->plan->needs_signer) {
		planner_find_signer(planner, config, keys, queue, mail, error);
	}
	return g_steal_pointer(&planner);
}
