/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The plan of one mail (plan.h), pure: the policy resolves each
 * recipient's action, the caller looks up the keys it names, and the plan
 * turns the answers into decisions, a refusal and the copies to send.
 * Kept free of I/O so the daemon and `koverto explain` share it and every
 * case is a table row in t/unit/test-plan.c. */
#include "plan.h"

static const char *const role_names[] = {
	[KOV_ROLE_TO] = "to",
	[KOV_ROLE_CC] = "cc",
	[KOV_ROLE_BCC] = "bcc",
};

const char *
kov_plan_role_name(KovRole role)
{
	g_return_val_if_fail((guint)role < G_N_ELEMENTS(role_names), "invalid");
	return role_names[role];
}

static void
plan_recipient_free(gpointer data)
{
	KovPlanRecipient *r = data;
	kov_keyinfo_lookup_free(r->key);
	g_free(r->reason);
	g_free(r);
}

static void
plan_copy_free(gpointer data)
{
	KovPlanCopy *copy = data;
	g_array_unref(copy->recipients);
	g_free(copy->fails);
	g_free(copy);
}

static KovPlanCopy *
plan_copy_new(KovDecision kind, gboolean bcc)
{
	KovPlanCopy *copy = g_new0(KovPlanCopy, 1);
	copy->kind = kind;
	copy->bcc = bcc;
	copy->recipients = g_array_new(FALSE, FALSE, sizeof(guint));
	return copy;
}

/* The policy's view of one recipient. A policy queue forces its action:
 * rules, X-Kuvert and directives count only in the Kuvert queue. */
static KovPolicyRecipient
plan_policy_recipient(const KovPlanMail *mail, const KovPlanInput *in)
{
	KovPolicyRecipient p = { .address = in->address, .role = in->role };

	if (mail->kind != KOV_QUEUE_KUVERT) {
		p.has_forced_action = TRUE;
		p.forced_action = kov_policy_queue_action(mail->kind);
		return p;
	}
	p.is_resent = mail->resent;
	p.has_directive_action = in->has_directive_action;
	p.directive_action = in->directive_action;
	p.directive_key = in->directive_key;
	return p;
}

static KovPolicyContext
plan_policy_context(const KovPlan *plan)
{
	return (KovPolicyContext){ plan->mail.rules, plan->mail.defaultaction, plan->mail.has_x_kuvert,
		                   plan->mail.x_kuvert };
}

KovPlan *
kov_plan_new(const KovPlanMail *mail, const KovPlanInput *in, gsize n)
{
	g_return_val_if_fail(mail != NULL && (in != NULL || n == 0), NULL);

	KovPlan *plan = g_new0(KovPlan, 1);
	plan->mail = *mail;
	plan->recipients = g_ptr_array_new_full(n, plan_recipient_free);
	plan->copies = g_ptr_array_new_with_free_func(plan_copy_free);
	KovPolicyContext pctx = plan_policy_context(plan);
	for (gsize i = 0; i < n; i++) {
		KovPlanRecipient *r = g_new0(KovPlanRecipient, 1);
		r->address = in[i].address;
		r->role = in[i].role;
		r->policy = plan_policy_recipient(mail, &in[i]);
		if (!mail->already_encrypted) {
			r->action = kov_policy_resolve(&pctx, &r->policy);
			r->needs_key = kov_policy_needs_key(&pctx, &r->policy);
			r->key_id = r->needs_key ? kov_policy_key_for(&pctx, &r->policy) : NULL;
		}
		g_ptr_array_add(plan->recipients, r);
	}
	return plan;
}

void
kov_plan_free(KovPlan *plan)
{
	if (plan == NULL)
		return;
	g_ptr_array_unref(plan->recipients);
	g_ptr_array_unref(plan->copies);
	g_free(plan->refused);
	kov_keyinfo_free(plan->signer);
	g_free(plan->signer_note);
	g_free(plan);
}

void
kov_plan_refuse(KovPlan *plan, const char *reason)
{
	g_return_if_fail(plan != NULL && reason != NULL);
	g_free(plan->refused);
	plan->refused = g_strdup(reason);
}

gboolean
kov_plan_wants_key(const KovPlan *plan, guint i, const char **key_id)
{
	g_return_val_if_fail(plan != NULL && i < plan->recipients->len, FALSE);
	const KovPlanRecipient *r = g_ptr_array_index(plan->recipients, i);
	if (key_id != NULL)
		*key_id = r->key_id;
	return r->needs_key;
}

void
kov_plan_set_key(KovPlan *plan, guint i, KovKeyLookup *lookup)
{
	g_return_if_fail(plan != NULL && i < plan->recipients->len);
	KovPlanRecipient *r = g_ptr_array_index(plan->recipients, i);
	kov_keyinfo_lookup_free(r->key);
	r->key = lookup;
	r->policy.has_key = lookup != NULL && lookup->status == KOV_KEY_USABLE;
}

const KovKeyInfo *
kov_plan_recipient_key(const KovPlanRecipient *r)
{
	g_return_val_if_fail(r != NULL, NULL);
	return r->key != NULL && r->key->status == KOV_KEY_USABLE ? kov_keyinfo_lookup_chosen(r->key)
	                                                          : NULL;
}

const char *
kov_plan_key_text(const KovPlanRecipient *r)
{
	g_return_val_if_fail(r != NULL, NULL);
	if (r->key == NULL)
		return "no key";
	if (r->key->detail != NULL)
		return r->key->detail;
	switch (r->key->status) {
	case KOV_KEY_USABLE:    return "usable";
	case KOV_KEY_MISSING:   return "no key";
	case KOV_KEY_NOT_VALID: return "present but not valid";
	case KOV_KEY_UNUSABLE:  return "present but unusable";
	}
	return "?";
}

KovPlanRecipient *
kov_plan_copy_recipient(const KovPlan *plan, const KovPlanCopy *copy, guint k)
{
	g_return_val_if_fail(plan != NULL && copy != NULL && k < copy->recipients->len, NULL);
	return g_ptr_array_index(plan->recipients, g_array_index(copy->recipients, guint, k));
}

/* Group the decisions into transactions (see kov_plan_decide). */
static void
plan_group_copies(KovPlan *plan)
{
	KovPlanCopy *plain = plan_copy_new(KOV_DECISION_UNCHANGED, FALSE);
	KovPlanCopy *sign = plan_copy_new(KOV_DECISION_SIGN, FALSE);
	KovPlanCopy *open = plan_copy_new(KOV_DECISION_ENCRYPT, FALSE);

	g_ptr_array_add(plan->copies, plain);
	g_ptr_array_add(plan->copies, sign);
	g_ptr_array_add(plan->copies, open);
	for (guint i = 0; i < plan->recipients->len; i++) {
		const KovPlanRecipient *r = g_ptr_array_index(plan->recipients, i);
		if (r->decision == KOV_DECISION_UNCHANGED)
			g_array_append_val(plain->recipients, i);
		else if (r->decision == KOV_DECISION_SIGN)
			g_array_append_val(sign->recipients, i);
		else if (r->decision == KOV_DECISION_ENCRYPT && r->role != KOV_ROLE_BCC)
			g_array_append_val(open->recipients, i);
		else if (r->decision == KOV_DECISION_ENCRYPT) {
			KovPlanCopy *own = plan_copy_new(KOV_DECISION_ENCRYPT, TRUE);
			g_array_append_val(own->recipients, i);
			g_ptr_array_add(plan->copies, own);
		}
	}
	for (guint i = plan->copies->len; i-- > 0;)
		if (((KovPlanCopy *)g_ptr_array_index(plan->copies, i))->recipients->len == 0)
			g_ptr_array_remove_index(plan->copies, i);
	for (guint i = 0; i < plan->copies->len; i++) {
		KovDecision kind = ((KovPlanCopy *)g_ptr_array_index(plan->copies, i))->kind;
		plan->needs_signer |= kind == KOV_DECISION_SIGN || kind == KOV_DECISION_ENCRYPT;
	}
}

/* An already encrypted mail goes to everybody as it is: no policy, no key. */
static void
plan_decide_unchanged(KovPlan *plan)
{
	for (guint i = 0; i < plan->recipients->len; i++) {
		KovPlanRecipient *r = g_ptr_array_index(plan->recipients, i);
		r->decision = KOV_DECISION_UNCHANGED;
		g_free(r->reason);
		r->reason = g_strdup("already encrypted: the ciphertext passed on unchanged");
	}
}

gboolean
kov_plan_decide(KovPlan *plan)
{
	g_return_val_if_fail(plan != NULL && !plan->decided, FALSE);
	plan->decided = TRUE;
	if (plan->refused != NULL)
		return FALSE;
	if (plan->mail.already_encrypted) {
		plan_decide_unchanged(plan);
		plan_group_copies(plan);
		return TRUE;
	}

	guint n = plan->recipients->len;
	g_autofree KovPolicyRecipient *in = g_new0(KovPolicyRecipient, n ? n : 1);
	g_autofree KovPolicyResult *out = g_new0(KovPolicyResult, n ? n : 1);
	KovPolicyContext pctx = plan_policy_context(plan);
	for (guint i = 0; i < n; i++)
		in[i] = ((KovPlanRecipient *)g_ptr_array_index(plan->recipients, i))->policy;
	gboolean sendable = kov_policy_decide_mail(&pctx, in, n, out);
	g_autoptr(GString) refused = g_string_new(NULL);
	for (guint i = 0; i < n; i++) {
		KovPlanRecipient *r = g_ptr_array_index(plan->recipients, i);
		r->action = out[i].action;
		r->decision = out[i].decision;
		g_free(r->reason);
		r->reason = g_steal_pointer(&out[i].reason);
		if (r->decision == KOV_DECISION_REFUSE)
			g_string_append_printf(refused, "%s%s (%s)", refused->len ? ", " : "", r->address,
			                       kov_plan_key_text(r));
	}
	if (!sendable) {
		plan->refused = g_strdup_printf("refused: no usable key for %s", refused->str);
		return FALSE;
	}
	plan_group_copies(plan);
	return TRUE;
}

void
kov_plan_set_signer(KovPlan *plan, KovSignerSource source, KovKeyInfo *key, const char *note)
{
	g_return_if_fail(plan != NULL && (key == NULL || source != KOV_SIGNER_NONE));
	kov_keyinfo_free(plan->signer);
	plan->signer = key;
	plan->signer_source = source;
	g_free(plan->signer_note);
	plan->signer_note = g_strdup(note);
	for (guint i = 0; i < plan->copies->len; i++) {
		KovPlanCopy *copy = g_ptr_array_index(plan->copies, i);
		g_clear_pointer(&copy->fails, g_free);
		if (copy->kind == KOV_DECISION_SIGN && key == NULL)
			copy->fails = g_strdup("no signing key: koverto never sends such a copy unsigned");
	}
}
