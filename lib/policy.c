/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The per-recipient decision as one pure function over plain structs, so
 * every case is a row in a table test. Kuvert's documented semantics
 * (kuvert(1)) with its bugs fixed: Bcc recipients neither trigger nor
 * suffer the fallback-all downgrade, and mustencrypt is never downgraded. */
#include "policy.h"

#include <glib.h>

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

const char *
kov_policy_decision_name(KovDecision decision)
{
	g_return_val_if_fail((guint)decision < G_N_ELEMENTS(decision_names), "invalid");
	return decision_names[decision];
}

/* One recipient on its own; fallback-all is plain fallback here, the group
 * rule is applied afterwards. */
static KovDecision
decide_one(const KovPolicyInput *in)
{
	switch (in->action) {
	case KOV_ACTION_NONE:
		return KOV_DECISION_UNCHANGED;
	case KOV_ACTION_SIGNONLY:
		return KOV_DECISION_SIGN;
	case KOV_ACTION_FALLBACK:
	case KOV_ACTION_FALLBACK_ALL:
		return in->has_key ? KOV_DECISION_ENCRYPT : KOV_DECISION_SIGN;
	case KOV_ACTION_MUSTENCRYPT:
		return in->has_key ? KOV_DECISION_ENCRYPT : KOV_DECISION_REFUSE;
	}
	g_return_val_if_reached(KOV_DECISION_REFUSE);
}

static gboolean
is_visible(const KovPolicyInput *in)
{
	return in->role == KOV_ROLE_TO || in->role == KOV_ROLE_CC;
}

gboolean
kov_policy_decide(const KovPolicyInput *in, gsize n, KovDecision *out)
{
	g_return_val_if_fail(n == 0 || (in != NULL && out != NULL), FALSE);

	gboolean reject = FALSE;
	gboolean group = FALSE;        /* some To/Cc recipient asked for fallback-all */
	gboolean group_broken = FALSE; /* some To/Cc recipient will see plaintext */
	for (gsize i = 0; i < n; i++) {
		out[i] = decide_one(&in[i]);
		if (out[i] == KOV_DECISION_REFUSE)
			reject = TRUE;
		if (!is_visible(&in[i]))
			continue;
		if (in[i].action == KOV_ACTION_FALLBACK_ALL)
			group = TRUE;
		if (out[i] == KOV_DECISION_UNCHANGED || out[i] == KOV_DECISION_SIGN)
			group_broken = TRUE;
	}

	/* fallback-all is all-or-nothing over the recipients who see each
	 * other in To/Cc: one plaintext reader among them and they all get the
	 * signed copy, as kuvert(1) documents. mustencrypt is a promise and is
	 * never downgraded; Bcc recipients get copies of their own and take
	 * no part in the group (Kuvert bugs 8 and 9 fixed). */
	if (group && group_broken) {
		for (gsize i = 0; i < n; i++) {
			if (is_visible(&in[i]) && out[i] == KOV_DECISION_ENCRYPT &&
			    (in[i].action == KOV_ACTION_FALLBACK ||
			     in[i].action == KOV_ACTION_FALLBACK_ALL))
				out[i] = KOV_DECISION_SIGN;
		}
	}
	return !reject;
}
