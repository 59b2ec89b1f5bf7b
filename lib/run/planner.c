/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Gathering for the plan: the recipients (with Kuvert's bounce shortcut),
 * the loop and sender checks, the key look-ups the policy asks for (a
 * mail to thousands prefetched in a few gpg runs), then the pure decision
 * in lib/decide/plan.c, then the signing key if a copy needs one. It logs
 * nothing and writes nothing: the worker logs what it acts on, and
 * `koverto explain` prints the same plan without acting. */
#include "planner.h"
#include "error.h"
#include "keysource.h"
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
	g_clear_pointer(&planner->keydir_snapshot, kov_keydir_snapshot_unref);
	g_free(planner);
}

gpgme_key_t
kov_planner_key(const KovPlanner *planner, guint i)
{
	g_return_val_if_fail(planner != NULL && i < planner->keys->len, NULL);
	return g_ptr_array_index(planner->keys, i);
}

char *
kov_planner_pin(const KovPlanner *planner, guint i)
{
	g_return_val_if_fail(planner != NULL && i < planner->plan->recipients->len, NULL);
	const KovPlanRecipient *r = g_ptr_array_index(planner->plan->recipients, i);
	if (r->key == NULL || r->key->source != KOV_KEY_SOURCE_KEYDIR || r->key->keydir_subkey == NULL)
		return NULL;
	return g_strdup_printf("%s!", r->key->keydir_subkey);
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

/* The keydir entry of recipient @i, if its key comes from the directory:
 * its own key (a rule or directive that names a key asks the keyring) and
 * an accepted file; *@keydir_only_miss when keydir-only rules the
 * keyring out. */
static const KovKeydirEntry *
planner_keydir_entry(const KovPlanner *planner, const KovPlanRecipient *r, const char *key_id,
                     gboolean *keydir_only_miss)
{
	*keydir_only_miss = FALSE;
	if (planner->keydir_snapshot == NULL || key_id != NULL)
		return NULL;
	const KovKeydirEntry *entry = kov_keydir_snapshot_lookup(planner->keydir_snapshot, r->address);
	*keydir_only_miss = entry == NULL && planner->keydir_only;
	return entry;
}

/* The own keys of all recipients who ask the keyring, in one gpg run per
 * 500 instead of one run each: 10,000 recipients took over two minutes of
 * lookups, now about a second. */
static gboolean
planner_prefetch_keys(const KovPlanner *planner, KovKeys *keys, GError **error)
{
	const KovPlan *plan = planner->plan;
	guint n = plan->recipients->len;
	g_autofree const char **addresses = g_new0(const char *, n + 1);
	guint wanted = 0;
	for (guint i = 0; i < n; i++) {
		const char *key_id = NULL;
		gboolean only_miss;
		const KovPlanRecipient *r = g_ptr_array_index(plan->recipients, i);
		if (kov_plan_wants_key(plan, i, &key_id) && key_id == NULL
		    && planner_keydir_entry(planner, r, key_id, &only_miss) == NULL && !only_miss)
			addresses[wanted++] = r->address;
	}
	return wanted < 2 || kov_keys_prefetch(keys, addresses, wanted, error);
}

/* What @entry says of its key, without the keyring (explain only: the
 * watcher imports before it publishes). Expiry against the clock now. */
static KovKeyLookup *
planner_entry_lookup(const KovKeydirEntry *entry)
{
	KovKeyLookup *lookup = kov_keyinfo_lookup_new();
	lookup->source = KOV_KEY_SOURCE_KEYDIR;
	lookup->keydir_subkey = g_strdup(entry->subkey);
	KovKeyInfo *info = kov_keyinfo_new();
	info->fingerprint = g_strdup(entry->fingerprint);
	info->user_id = g_strdup(entry->address);
	info->expires = entry->expires;
	info->validity = "full";
	g_ptr_array_add(lookup->candidates, info);
	if (entry->expires > 0 && entry->expires <= g_get_real_time() / G_USEC_PER_SEC) {
		lookup->status = KOV_KEY_UNUSABLE;
		lookup->problem = info->problem = KOV_KEY_PROBLEM_EXPIRED;
		info->detail = g_strdup(kov_keys_problem_text(KOV_KEY_PROBLEM_EXPIRED));
		lookup->detail = g_strdup_printf("%s (key %s)", info->detail, entry->fingerprint);
	} else {
		lookup->status = KOV_KEY_USABLE;
		lookup->problem = KOV_KEY_PROBLEM_NONE;
		lookup->chosen = 0;
	}
	return lookup;
}

/* The key of one recipient: its file's in the keys directory, none under
 * keydir-only, else the keyring's (which skips the directory's keys). */
static KovKeyLookup *
planner_lookup_one(KovPlanner *planner, KovKeys *keys, const KovPlanRecipient *r,
                   const char *key_id, gpgme_key_t *key, GError **error)
{
	KovKeyLookup *lookup = NULL;
	gboolean only_miss;
	const KovKeydirEntry *entry = planner_keydir_entry(planner, r, key_id, &only_miss);
	if (entry != NULL) {
		kov_keys_lookup_pinned(keys, r->address, entry->fingerprint, entry->subkey, key, &lookup,
		                       error);
		/* explain, the directory read by itself: its keys may not be in
		 * the keyring yet; the file's own facts then. */
		if (lookup == NULL && !planner->keydir_published && error != NULL && *error != NULL
		    && kov_error_is_temporary(*error)) {
			g_clear_error(error);
			lookup = planner_entry_lookup(entry);
		}
		if (lookup != NULL)
			lookup->keydir_file = g_strdup(entry->file);
	} else if (only_miss) {
		lookup = kov_keyinfo_lookup_new();
		lookup->source = KOV_KEY_SOURCE_KEYDIR;
		lookup->problem = KOV_KEY_PROBLEM_NOT_IN_KEYDIR;
		lookup->detail = g_strdup(kov_keys_problem_text(KOV_KEY_PROBLEM_NOT_IN_KEYDIR));
	} else {
		kov_keys_lookup_encryption(keys, r->address, key_id, key, &lookup, error);
	}
	if (lookup != NULL && planner->keydir_snapshot != NULL) {
		lookup->keydir = g_strdup(planner->keydir);
		const char *refused = kov_keysource_refusal(planner->keydir_snapshot, r->address);
		lookup->keydir_refused = g_strdup(refused);
		/* The log says why the directory gave no key. */
		if (refused != NULL && lookup->status != KOV_KEY_USABLE) {
			char *detail = g_strdup_printf("%s; its keydir file was refused: %s",
			                               lookup->detail != NULL ? lookup->detail : "no key", refused);
			g_free(lookup->detail);
			lookup->detail = detail;
		}
	}
	return lookup;
}

/* Look up the key each recipient needs (the one a rule or directive
 * names, else its own). FALSE with error when the engine failed. */
static gboolean
planner_lookup_keys(KovPlanner *planner, KovKeys *keys, GError **error)
{
	KovPlan *plan = planner->plan;
	if (!planner_prefetch_keys(planner, keys, error))
		return FALSE;
	for (guint i = 0; i < plan->recipients->len; i++) {
		const char *key_id = NULL;
		if (!kov_plan_wants_key(plan, i, &key_id))
			continue;
		const KovPlanRecipient *r = g_ptr_array_index(plan->recipients, i);
		gpgme_key_t key = NULL;
		KovKeyLookup *lookup = planner_lookup_one(planner, keys, r, key_id, &key, error);
		if (error != NULL && *error != NULL) {
			kov_keyinfo_lookup_free(lookup);
			if (key != NULL)
				gpgme_key_unref(key);
			return FALSE;
		}
		kov_plan_set_key(plan, i, lookup);
		planner->keys->pdata[i] = key;
	}
	return TRUE;
}

/* The keys directory of this mail's queue or client, and the snapshot the
 * mail starts with. FALSE with @error (temporary) when it cannot be had. */
static gboolean
planner_keydir(KovPlanner *planner, const KovConfig *config, KovKeys *keys,
               const KovQueueConfig *queue, const KovMail *mail, GError **error)
{
	planner->keydir = kov_config_keydir(config, queue, kov_planner_client(config, queue, mail),
	                                    &planner->keydir_only);
	if (planner->keydir == NULL)
		return TRUE;
	planner->keydir_snapshot = kov_keysource_current(config, keys, planner->keydir,
	                                                 &planner->keydir_published, error);
	return planner->keydir_snapshot != NULL;
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
	} else if (planner_keydir(planner, config, keys, queue, mail, error)) {
		/* The directories' keys serve their files' addresses alone, in
		 * this queue or any other: the keyring look-ups skip them all. */
		g_autoptr(GPtrArray) hidden = kov_keysource_all(config, keys);
		if (planner->keydir_snapshot != NULL)
			g_ptr_array_add(hidden, kov_keydir_snapshot_ref(planner->keydir_snapshot));
		kov_keys_set_hidden(keys, hidden->len > 0 ? kov_keysource_hides_any : NULL, hidden);
		gboolean ok = planner_lookup_keys(planner, keys, error);
		kov_keys_set_hidden(keys, NULL, NULL);
		if (ok && kov_plan_decide(planner->plan) && planner->plan->needs_signer)
			planner_find_signer(planner, config, keys, queue, mail, error);
	}
	return g_steal_pointer(&planner);
}
