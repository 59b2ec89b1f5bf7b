/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The per-recipient decision as pure functions over plain structs, so
 * every case is a row in a table test. It follows "How Kuvert decides" in
 * kuvert(1) step by step, with Kuvert's bugs fixed: X-Kuvert and
 * directives cannot weaken mustencrypt, Bcc recipients neither trigger nor
 * suffer the fallback-all downgrade, and mustencrypt is never downgraded.
 * Key lookup is I/O, so it happens between kov_policy_key_for() and the
 * decision; the decision only learns whether that key is usable. */
#include "policy.h"
#include "error.h"

#include <glib.h>

static const char *const kov_policy_queue_names[KOV_QUEUE_N_KINDS] = {
	"must-encrypt", "fallback", "sign-only", "kuvert",
};

const char *
kov_policy_queue_name(KovQueueKind kind)
{
	g_return_val_if_fail(kind < KOV_QUEUE_N_KINDS, "?");
	return kov_policy_queue_names[kind];
}

gboolean
kov_policy_queue_parse(const char *name, KovQueueKind *kind)
{
	for (int i = 0; i < KOV_QUEUE_N_POLICY; i++) {
		if (g_str_equal(name, kov_policy_queue_names[i])) {
			*kind = (KovQueueKind)i;
			return TRUE;
		}
	}
	return FALSE;
}

KovAction
kov_policy_queue_action(KovQueueKind kind)
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

/* Indexed by KovAction; the names are Kuvert's, exact and lower case. */
static const char *const action_names[] = {
	[KOV_ACTION_NONE] = "none",
	[KOV_ACTION_SIGNONLY] = "signonly",
	[KOV_ACTION_FALLBACK] = "fallback",
	[KOV_ACTION_FALLBACK_ALL] = "fallback-all",
	[KOV_ACTION_MUSTENCRYPT] = "mustencrypt",
};

static const char *const decision_names[] = {
	[KOV_DECISION_UNCHANGED] = "unchanged",
	[KOV_DECISION_SIGN] = "sign",
	[KOV_DECISION_ENCRYPT] = "encrypt",
	[KOV_DECISION_REFUSE] = "refuse",
};

const char *
kov_policy_action_name(KovAction action)
{
	g_return_val_if_fail((guint)action < G_N_ELEMENTS(action_names), "invalid");
	return action_names[action];
}

gboolean
kov_policy_action_parse(const char *name, KovAction *action)
{
	g_return_val_if_fail(action != NULL, FALSE);
	if (name == NULL)
		return FALSE;
	for (guint i = 0; i < G_N_ELEMENTS(action_names); i++) {
		if (g_str_equal(name, action_names[i])) {
			*action = (KovAction)i;
			return TRUE;
		}
	}
	return FALSE;
}

gboolean
kov_policy_sender_allowed(const GRegex *senders, const char *address)
{
	if (senders == NULL)
		return TRUE;
	/* No address (no single From mailbox, the null sender) is no match. */
	return address != NULL && *address != '\0' && g_regex_match(senders, address, 0, NULL);
}

const char *
kov_policy_decision_name(KovDecision decision)
{
	g_return_val_if_fail((guint)decision < G_N_ELEMENTS(decision_names), "invalid");
	return decision_names[decision];
}

/* ---- rules ------------------------------------------------------------ */

KovRule *
kov_policy_rule_new(const char *pattern, KovAction action, const char *key, guint line,
                    GError **error)
{
	g_return_val_if_fail(pattern != NULL, NULL);
	g_return_val_if_fail((guint)action < G_N_ELEMENTS(action_names), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (key != NULL && action != KOV_ACTION_FALLBACK && action != KOV_ACTION_FALLBACK_ALL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "only fallback and fallback-all take a key, not %s", action_names[action]);
		return NULL;
	}
	/* Kuvert matches a Perl regex, unanchored, against the lower-cased
	 * address; its man page promises case-insensitive matching (its code
	 * does not do it). PCRE is close enough to Perl for address patterns. */
	g_autoptr(GError) why = NULL;
	GRegex *regex = g_regex_new(pattern, G_REGEX_CASELESS, 0, &why);
	if (regex == NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "not a regular expression: %s",
		            why->message);
		return NULL;
	}
	KovRule *rule = g_new0(KovRule, 1);
	rule->pattern = g_strdup(pattern);
	rule->regex = regex;
	rule->action = action;
	rule->key = g_strdup(key);
	rule->line = line;
	return rule;
}

void
kov_policy_rule_free(KovRule *rule)
{
	if (rule == NULL)
		return;
	g_free(rule->pattern);
	g_clear_pointer(&rule->regex, g_regex_unref);
	g_free(rule->key);
	g_free(rule);
}

const KovRule *
kov_policy_rule_match(const GPtrArray *rules, const char *address)
{
	g_return_val_if_fail(address != NULL, NULL);
	if (rules == NULL)
		return NULL;
	for (guint i = 0; i < rules->len; i++) {
		const KovRule *rule = g_ptr_array_index(rules, i);
		if (g_regex_match(rule->regex, address, 0, NULL))
			return rule;
	}
	return NULL;
}

/* ---- resolution: which action ------------------------------------------ */

static void
why_add(GString *why, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
why_add(GString *why, const char *fmt, ...)
{
	if (why == NULL)
		return;
	if (why->len > 0)
		g_string_append(why, ", ");
	va_list ap;
	va_start(ap, fmt);
	g_string_append_vprintf(why, fmt, ap);
	va_end(ap);
}

/* kuvert(1) "Specifying Actions", steps 1-4; @why (nullable) collects the
 * steps for the log. */
static KovAction
resolve(const KovPolicyContext *ctx, const KovPolicyRecipient *r, GString *why)
{
	if (r->has_forced_action) {
		why_add(why, "queue action %s", action_names[r->forced_action]);
		return r->forced_action;
	}

	/* 1, 2: first matching rule, else the default. */
	KovAction action;
	const KovRule *rule = kov_policy_rule_match(ctx->rules, r->address);
	if (rule != NULL) {
		action = rule->action;
		if (rule->line > 0)
			why_add(why, "rule \"%s\" (line %u) %s", rule->pattern, rule->line, action_names[action]);
		else
			why_add(why, "rule \"%s\" %s", rule->pattern, action_names[action]);
	} else {
		action = ctx->defaultaction;
		why_add(why, "defaultaction %s", action_names[action]);
	}

	/* 3: X-Kuvert for everybody except where none was chosen. It may not
	 * weaken mustencrypt either: the configuration's promise holds (Kuvert
	 * bug 10 fixed). */
	if (ctx->has_x_kuvert && ctx->x_kuvert != action) {
		if (action == KOV_ACTION_NONE)
			why_add(why, "X-Kuvert %s ignored (none stays none)", action_names[ctx->x_kuvert]);
		else if (action == KOV_ACTION_MUSTENCRYPT)
			why_add(why, "X-Kuvert %s ignored (mustencrypt is never weakened)",
			        action_names[ctx->x_kuvert]);
		else {
			action = ctx->x_kuvert;
			why_add(why, "X-Kuvert %s", action_names[action]);
		}
	}

	/* 4: the address's own directive, which may override none, but again
	 * not mustencrypt (whether from a rule, the default or X-Kuvert). */
	if (r->has_directive_action && r->directive_action != action) {
		if (action == KOV_ACTION_MUSTENCRYPT)
			why_add(why, "directive action=%s ignored (mustencrypt is never weakened)",
			        action_names[r->directive_action]);
		else {
			action = r->directive_action;
			why_add(why, "directive action=%s", action_names[action]);
		}
	}
	return action;
}

KovAction
kov_policy_resolve(const KovPolicyContext *ctx, const KovPolicyRecipient *r)
{
	g_return_val_if_fail(ctx != NULL && r != NULL && r->address != NULL, KOV_ACTION_MUSTENCRYPT);
	return resolve(ctx, r, NULL);
}

static gboolean
action_needs_key(const KovPolicyRecipient *r, KovAction action)
{
	if (r->is_resent)
		return action == KOV_ACTION_MUSTENCRYPT;
	return action == KOV_ACTION_FALLBACK || action == KOV_ACTION_FALLBACK_ALL ||
	       action == KOV_ACTION_MUSTENCRYPT;
}

gboolean
kov_policy_needs_key(const KovPolicyContext *ctx, const KovPolicyRecipient *r)
{
	g_return_val_if_fail(ctx != NULL && r != NULL && r->address != NULL, TRUE);
	return action_needs_key(r, resolve(ctx, r, NULL));
}

/* Key selection (kuvert(1)): the directive's key=, else the rule's key,
 * else the keyring's key for the address. */
static const char *
key_for(const KovPolicyContext *ctx, const KovPolicyRecipient *r, const char **source)
{
	*source = "own key";
	if (r->has_forced_action)
		return NULL;
	if (r->directive_key != NULL) {
		*source = "directive";
		return r->directive_key;
	}
	const KovRule *rule = kov_policy_rule_match(ctx->rules, r->address);
	if (rule != NULL && rule->key != NULL) {
		*source = "rule";
		return rule->key;
	}
	return NULL;
}

const char *
kov_policy_key_for(const KovPolicyContext *ctx, const KovPolicyRecipient *r)
{
	g_return_val_if_fail(ctx != NULL && r != NULL && r->address != NULL, NULL);
	const char *source;
	return key_for(ctx, r, &source);
}

/* ---- the decision ----------------------------------------------------- */

/* One recipient on its own; fallback-all is plain fallback here, the group
 * rule is applied afterwards. */
static KovDecision
decide_one(const KovPolicyRecipient *r, KovAction action)
{
	if (r->is_resent && action != KOV_ACTION_MUSTENCRYPT)
		return KOV_DECISION_UNCHANGED;
	switch (action) {
	case KOV_ACTION_NONE:
		return KOV_DECISION_UNCHANGED;
	case KOV_ACTION_SIGNONLY:
		return KOV_DECISION_SIGN;
	case KOV_ACTION_FALLBACK:
	case KOV_ACTION_FALLBACK_ALL:
		return r->has_key ? KOV_DECISION_ENCRYPT : KOV_DECISION_SIGN;
	case KOV_ACTION_MUSTENCRYPT:
		return r->has_key ? KOV_DECISION_ENCRYPT : KOV_DECISION_REFUSE;
	}
	g_return_val_if_reached(KOV_DECISION_REFUSE);
}

/* The recipients who see each other in To/Cc and get the one shared copy.
 * A Resent-To recipient gets the mail as it is, outside any group. */
static gboolean
in_group(const KovPolicyRecipient *r)
{
	return (r->role == KOV_ROLE_TO || r->role == KOV_ROLE_CC) && !r->is_resent;
}

/* Steps 1-4 and the key for recipient @r, into @result. */
static void
decide_recipient(const KovPolicyContext *ctx, const KovPolicyRecipient *r, KovPolicyResult *result,
                 GString *why)
{
	result->action = resolve(ctx, r, why);
	result->decision = decide_one(r, result->action);
	if (r->is_resent && result->action != KOV_ACTION_MUSTENCRYPT) {
		why_add(why, "Resent-To: passed on as it is");
	} else if (action_needs_key(r, result->action)) {
		const char *source;
		const char *key = key_for(ctx, r, &source);
		if (key != NULL)
			why_add(why, "key %s (%s) %s", key, source, r->has_key ? "usable" : "not usable");
		else
			why_add(why, "%s %s", source, r->has_key ? "usable" : "not usable");
	}
}

gboolean
kov_policy_decide_mail(const KovPolicyContext *ctx, const KovPolicyRecipient *in, gsize n,
                       KovPolicyResult *out)
{
	g_return_val_if_fail(ctx != NULL, FALSE);
	g_return_val_if_fail(n == 0 || (in != NULL && out != NULL), FALSE);

	g_autoptr(GPtrArray) whys = g_ptr_array_new_full(n, NULL);
	gboolean reject = FALSE;
	gboolean group = FALSE;          /* some To/Cc recipient asked for fallback-all */
	const char *breaker = NULL;      /* some To/Cc recipient who will see plaintext */
	for (gsize i = 0; i < n; i++) {
		GString *why = g_string_new(NULL);
		g_ptr_array_add(whys, why);
		decide_recipient(ctx, &in[i], &out[i], why);
		/* 5: mustencrypt without a key rejects the mail, Bcc included. */
		if (out[i].decision == KOV_DECISION_REFUSE)
			reject = TRUE;
		if (!in_group(&in[i]))
			continue;
		if (out[i].action == KOV_ACTION_FALLBACK_ALL)
			group = TRUE;
		if (breaker == NULL && (out[i].decision == KOV_DECISION_UNCHANGED ||
		                        out[i].decision == KOV_DECISION_SIGN))
			breaker = in[i].address;
	}

	/* 6, 7: fallback-all is all-or-nothing over the recipients who see
	 * each other in To/Cc: one of them without encryption (none,
	 * signonly, or no key) and they all get the signed copy. mustencrypt
	 * is a promise and is never downgraded; Bcc recipients get copies of
	 * their own and take no part in the group (Kuvert bugs 8 and 9 fixed). */
	for (gsize i = 0; group && breaker != NULL && i < n; i++) {
		if (in_group(&in[i]) && out[i].decision == KOV_DECISION_ENCRYPT &&
		    (out[i].action == KOV_ACTION_FALLBACK || out[i].action == KOV_ACTION_FALLBACK_ALL)) {
			out[i].decision = KOV_DECISION_SIGN;
			why_add(g_ptr_array_index(whys, i), "fallback-all group: %s is not encrypted", breaker);
		}
	}

	for (gsize i = 0; i < n; i++) {
		GString *why = g_ptr_array_index(whys, i);
		g_string_append_printf(why, ": %s", decision_names[out[i].decision]);
		out[i].reason = g_string_free(why, FALSE);
	}
	return !reject;
}

void
kov_policy_result_clear(KovPolicyResult *result)
{
	if (result != NULL)
		g_clear_pointer(&result->reason, g_free);
}

/* ---- the original interface ------------------------------------------- */

gboolean
kov_policy_decide(const KovPolicyInput *in, gsize n, KovDecision *out)
{
	g_return_val_if_fail(n == 0 || (in != NULL && out != NULL), FALSE);

	const KovPolicyContext ctx = { .defaultaction = KOV_ACTION_NONE };
	g_autofree KovPolicyRecipient *rs = g_new0(KovPolicyRecipient, n ? n : 1);
	g_autofree KovPolicyResult *results = g_new0(KovPolicyResult, n ? n : 1);
	for (gsize i = 0; i < n; i++) {
		rs[i] = (KovPolicyRecipient){
			.address = in[i].address,
			.role = in[i].role,
			.has_forced_action = TRUE,
			.forced_action = in[i].action,
			.has_key = in[i].has_key,
		};
	}
	gboolean verdict = kov_policy_decide_mail(&ctx, rs, n, results);
	for (gsize i = 0; i < n; i++) {
		out[i] = results[i].decision;
		kov_policy_result_clear(&results[i]);
	}
	return verdict;
}
