/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The plan of copies on plain structs: per queue and key case, the
 * decisions, the refusal, the copies (Bcc apart), and what the signing key
 * changes. No GMime, no GPGME: key look-ups are made up here. */
#include "plan.h"

#include <string.h>

#define R(a, r) { .address = (a), .role = (r) }

/* A look-up answer as lib/gpg would give it. */
static KovKeyLookup *
lookup(KovKeyStatus status, KovKeyProblem problem, const char *fpr, const char *detail)
{
	KovKeyLookup *l = kov_keyinfo_lookup_new();
	l->status = status;
	l->problem = problem;
	l->detail = g_strdup(detail);
	if (fpr != NULL) {
		KovKeyInfo *k = kov_keyinfo_new();
		k->fingerprint = g_strdup(fpr);
		k->problem = problem;
		k->detail = g_strdup(detail);
		g_ptr_array_add(l->candidates, k);
		l->chosen = status == KOV_KEY_USABLE ? 0 : -1;
	}
	return l;
}

static KovKeyLookup *
usable(const char *fpr)
{
	return lookup(KOV_KEY_USABLE, KOV_KEY_PROBLEM_NONE, fpr, NULL);
}

static KovKeyLookup *
missing(void)
{
	return lookup(KOV_KEY_MISSING, KOV_KEY_PROBLEM_NOT_FOUND, NULL, "no key");
}

static KovPlanRecipient *
rcpt(const KovPlan *plan, guint i)
{
	return g_ptr_array_index(plan->recipients, i);
}

static KovPlanCopy *
copy(const KovPlan *plan, guint i)
{
	g_assert_cmpuint(i, <, plan->copies->len);
	return g_ptr_array_index(plan->copies, i);
}

/* The addresses of copy @i, comma-separated. */
static char *
copy_to(const KovPlan *plan, guint i)
{
	const KovPlanCopy *c = copy(plan, i);
	g_autoptr(GString) s = g_string_new(NULL);
	for (guint k = 0; k < c->recipients->len; k++)
		g_string_append_printf(s, "%s%s", k ? "," : "",
		                       kov_plan_copy_recipient(plan, c, k)->address);
	return g_string_free(g_steal_pointer(&s), FALSE);
}

static void
assert_copy(const KovPlan *plan, guint i, KovDecision kind, const char *to)
{
	g_autofree char *got = copy_to(plan, i);
	g_assert_cmpint(copy(plan, i)->kind, ==, kind);
	g_assert_cmpstr(got, ==, to);
}

/* fallback: the valid key encrypts, the expired one and no key sign;
 * one signed copy and one encrypted. */
static void
test_fallback(void)
{
	KovPlanMail mail = { .kind = KOV_QUEUE_FALLBACK };
	KovPlanInput in[] = {
		R("bob@example.net", KOV_ROLE_TO),
		R("hank@example.net", KOV_ROLE_TO),
		R("dave@example.com", KOV_ROLE_CC),
	};
	g_autoptr(KovPlan) plan = kov_plan_new(&mail, in, G_N_ELEMENTS(in));
	const char *key_id = "x";
	for (guint i = 0; i < 3; i++) {
		g_assert_true(kov_plan_wants_key(plan, i, &key_id));
		g_assert_null(key_id);
	}
	kov_plan_set_key(plan, 0, usable("BBBB"));
	kov_plan_set_key(plan, 1, lookup(KOV_KEY_UNUSABLE, KOV_KEY_PROBLEM_EXPIRED, "HHHH",
	                                 "expired (key HHHH)"));
	kov_plan_set_key(plan, 2, missing());
	g_assert_true(kov_plan_decide(plan));
	g_assert_null(plan->refused);
	g_assert_cmpint(rcpt(plan, 0)->decision, ==, KOV_DECISION_ENCRYPT);
	g_assert_cmpint(rcpt(plan, 1)->decision, ==, KOV_DECISION_SIGN);
	g_assert_cmpint(rcpt(plan, 2)->decision, ==, KOV_DECISION_SIGN);
	g_assert_cmpint(rcpt(plan, 0)->action, ==, KOV_ACTION_FALLBACK);
	g_assert_nonnull(strstr(rcpt(plan, 0)->reason, "queue action fallback"));
	g_assert_cmpstr(kov_plan_recipient_key(rcpt(plan, 0))->fingerprint, ==, "BBBB");
	g_assert_null(kov_plan_recipient_key(rcpt(plan, 1)));
	g_assert_cmpstr(kov_plan_key_text(rcpt(plan, 1)), ==, "expired (key HHHH)");
	g_assert_cmpuint(plan->copies->len, ==, 2);
	assert_copy(plan, 0, KOV_DECISION_SIGN, "hank@example.net,dave@example.com");
	assert_copy(plan, 1, KOV_DECISION_ENCRYPT, "bob@example.net");
	g_assert_true(plan->needs_signer);
}

/* must-encrypt: one recipient without a usable key refuses the whole
 * mail, and the refusal names every such recipient and why. */
static void
test_must_encrypt_refused(void)
{
	KovPlanMail mail = { .kind = KOV_QUEUE_MUST_ENCRYPT };
	KovPlanInput in[] = {
		R("bob@example.net", KOV_ROLE_TO),
		R("ivan@example.net", KOV_ROLE_BCC),
		R("dave@example.com", KOV_ROLE_TO),
	};
	g_autoptr(KovPlan) plan = kov_plan_new(&mail, in, G_N_ELEMENTS(in));
	kov_plan_set_key(plan, 0, usable("BBBB"));
	kov_plan_set_key(plan, 1, lookup(KOV_KEY_UNUSABLE, KOV_KEY_PROBLEM_REVOKED, "IIII",
	                                 "revoked (key IIII)"));
	kov_plan_set_key(plan, 2, missing());
	g_assert_false(kov_plan_decide(plan));
	g_assert_cmpstr(plan->refused, ==,
	                "refused: no usable key for ivan@example.net (revoked (key IIII)), "
	                "dave@example.com (no key)");
	g_assert_cmpint(rcpt(plan, 0)->decision, ==, KOV_DECISION_ENCRYPT);
	g_assert_cmpint(rcpt(plan, 1)->decision, ==, KOV_DECISION_REFUSE);
	g_assert_cmpuint(plan->copies->len, ==, 0);
	g_assert_false(plan->needs_signer);
}

/* must-encrypt with keys: To and Cc share one copy, each Bcc gets its own. */
static void
test_bcc_copies(void)
{
	KovPlanMail mail = { .kind = KOV_QUEUE_MUST_ENCRYPT };
	KovPlanInput in[] = {
		R("bob@example.net", KOV_ROLE_TO),
		R("judy@example.net", KOV_ROLE_BCC),
		R("carol@example.net", KOV_ROLE_CC),
		R("jimbob@example.net", KOV_ROLE_BCC),
	};
	g_autoptr(KovPlan) plan = kov_plan_new(&mail, in, G_N_ELEMENTS(in));
	const char *fprs[] = { "BBBB", "JJJJ", "CCCC", "MMMM" };
	for (guint i = 0; i < G_N_ELEMENTS(in); i++)
		kov_plan_set_key(plan, i, usable(fprs[i]));
	g_assert_true(kov_plan_decide(plan));
	g_assert_cmpuint(plan->copies->len, ==, 3);
	assert_copy(plan, 0, KOV_DECISION_ENCRYPT, "bob@example.net,carol@example.net");
	assert_copy(plan, 1, KOV_DECISION_ENCRYPT, "judy@example.net");
	assert_copy(plan, 2, KOV_DECISION_ENCRYPT, "jimbob@example.net");
	g_assert_false(copy(plan, 0)->bcc);
	g_assert_true(copy(plan, 1)->bcc);
	g_assert_true(copy(plan, 2)->bcc);
}

/* sign-only needs no key; without a signing key its copy would fail. */
static void
test_sign_only_no_signer(void)
{
	KovPlanMail mail = { .kind = KOV_QUEUE_SIGN_ONLY };
	KovPlanInput in[] = { R("dave@example.com", KOV_ROLE_TO) };
	g_autoptr(KovPlan) plan = kov_plan_new(&mail, in, 1);
	g_assert_false(kov_plan_wants_key(plan, 0, NULL));
	g_assert_true(kov_plan_decide(plan));
	assert_copy(plan, 0, KOV_DECISION_SIGN, "dave@example.com");
	g_assert_true(plan->needs_signer);
	kov_plan_set_signer(plan, KOV_SIGNER_NONE, NULL, "not in the secret keyring");
	g_assert_nonnull(strstr(copy(plan, 0)->fails, "no signing key"));
	g_assert_cmpstr(plan->signer_note, ==, "not in the secret keyring");

	KovKeyInfo *alice = kov_keyinfo_new();
	alice->fingerprint = g_strdup("AAAA");
	kov_plan_set_signer(plan, KOV_SIGNER_DEFAULTKEY, alice, NULL);
	g_assert_null(copy(plan, 0)->fails);
	g_assert_cmpstr(plan->signer->fingerprint, ==, "AAAA");
	g_assert_cmpstr(kov_keyinfo_signer_name(plan->signer_source), ==, "defaultkey");
}

/* An encrypted copy without a signing key goes out unsigned: no failure. */
static void
test_encrypt_unsigned(void)
{
	KovPlanMail mail = { .kind = KOV_QUEUE_FALLBACK };
	KovPlanInput in[] = { R("bob@example.net", KOV_ROLE_TO) };
	g_autoptr(KovPlan) plan = kov_plan_new(&mail, in, 1);
	kov_plan_set_key(plan, 0, usable("BBBB"));
	g_assert_true(kov_plan_decide(plan));
	kov_plan_set_signer(plan, KOV_SIGNER_NONE, NULL, NULL);
	g_assert_null(copy(plan, 0)->fails);
}

/* The Kuvert queue: rules and directives decide, and name the key to look up. */
static void
test_kuvert_rules(void)
{
	g_autoptr(GPtrArray) rules = g_ptr_array_new_with_free_func((GDestroyNotify)kov_policy_rule_free);
	g_ptr_array_add(rules, kov_policy_rule_new("@example\\.net$", KOV_ACTION_FALLBACK, "0x1234ABCD",
	                                           3, NULL));
	KovPlanMail mail = { .kind = KOV_QUEUE_KUVERT, .rules = rules,
		             .defaultaction = KOV_ACTION_NONE };
	KovPlanInput in[] = {
		R("bob@example.net", KOV_ROLE_TO),
		R("dave@example.com", KOV_ROLE_TO),
		{ .address = "erin@example.org", .role = KOV_ROLE_TO, .has_directive_action = TRUE,
		  .directive_action = KOV_ACTION_FALLBACK, .directive_key = "0xEEEEEEEE" },
	};
	g_autoptr(KovPlan) plan = kov_plan_new(&mail, in, G_N_ELEMENTS(in));
	const char *key_id = NULL;
	g_assert_true(kov_plan_wants_key(plan, 0, &key_id));
	g_assert_cmpstr(key_id, ==, "0x1234ABCD");
	g_assert_false(kov_plan_wants_key(plan, 1, NULL));
	g_assert_true(kov_plan_wants_key(plan, 2, &key_id));
	g_assert_cmpstr(key_id, ==, "0xEEEEEEEE");
	kov_plan_set_key(plan, 0, lookup(KOV_KEY_MISSING, KOV_KEY_PROBLEM_NOT_FOUND, NULL,
	                                 "named key 0x1234ABCD not found"));
	kov_plan_set_key(plan, 2, usable("EEEE"));
	g_assert_true(kov_plan_decide(plan));
	g_assert_cmpint(rcpt(plan, 0)->decision, ==, KOV_DECISION_SIGN);
	g_assert_cmpint(rcpt(plan, 1)->decision, ==, KOV_DECISION_UNCHANGED);
	g_assert_cmpint(rcpt(plan, 2)->decision, ==, KOV_DECISION_ENCRYPT);
	g_assert_nonnull(strstr(rcpt(plan, 0)->reason, "rule"));
	g_assert_nonnull(strstr(rcpt(plan, 2)->reason, "directive"));
	g_assert_cmpuint(plan->copies->len, ==, 3);
	assert_copy(plan, 0, KOV_DECISION_UNCHANGED, "dave@example.com");
	assert_copy(plan, 1, KOV_DECISION_SIGN, "bob@example.net");
	assert_copy(plan, 2, KOV_DECISION_ENCRYPT, "erin@example.org");
}

/* fallback-all: one To recipient without a key and the group is signed. */
static void
test_fallback_all_group(void)
{
	KovPlanMail mail = { .kind = KOV_QUEUE_KUVERT, .defaultaction = KOV_ACTION_FALLBACK_ALL };
	KovPlanInput in[] = {
		R("bob@example.net", KOV_ROLE_TO),
		R("dave@example.com", KOV_ROLE_CC),
		R("carol@example.net", KOV_ROLE_BCC),
	};
	g_autoptr(KovPlan) plan = kov_plan_new(&mail, in, G_N_ELEMENTS(in));
	kov_plan_set_key(plan, 0, usable("BBBB"));
	kov_plan_set_key(plan, 1, missing());
	kov_plan_set_key(plan, 2, usable("CCCC"));
	g_assert_true(kov_plan_decide(plan));
	g_assert_cmpint(rcpt(plan, 0)->decision, ==, KOV_DECISION_SIGN);
	g_assert_nonnull(strstr(rcpt(plan, 0)->reason, "fallback-all group"));
	g_assert_cmpint(rcpt(plan, 2)->decision, ==, KOV_DECISION_ENCRYPT);
	assert_copy(plan, 0, KOV_DECISION_SIGN, "bob@example.net,dave@example.com");
	assert_copy(plan, 1, KOV_DECISION_ENCRYPT, "carol@example.net");
	g_assert_true(copy(plan, 1)->bcc);
}

/* Ciphertext goes on unchanged, in any queue, without keys or signer. */
static void
test_already_encrypted(void)
{
	KovPlanMail mail = { .kind = KOV_QUEUE_MUST_ENCRYPT, .already_encrypted = TRUE };
	KovPlanInput in[] = { R("dave@example.com", KOV_ROLE_TO), R("bob@example.net", KOV_ROLE_BCC) };
	g_autoptr(KovPlan) plan = kov_plan_new(&mail, in, 2);
	g_assert_false(kov_plan_wants_key(plan, 0, NULL));
	g_assert_false(kov_plan_wants_key(plan, 1, NULL));
	g_assert_true(kov_plan_decide(plan));
	g_assert_cmpuint(plan->copies->len, ==, 1);
	assert_copy(plan, 0, KOV_DECISION_UNCHANGED, "dave@example.com,bob@example.net");
	g_assert_false(plan->needs_signer);
	g_assert_nonnull(strstr(rcpt(plan, 1)->reason, "already encrypted"));
}

/* A bounce in the Kuvert queue passes on unchanged unless mustencrypt. */
static void
test_resent(void)
{
	KovPlanMail mail = { .kind = KOV_QUEUE_KUVERT, .defaultaction = KOV_ACTION_FALLBACK,
		             .resent = TRUE };
	KovPlanInput in[] = { R("bob@example.net", KOV_ROLE_TO) };
	g_autoptr(KovPlan) plan = kov_plan_new(&mail, in, 1);
	g_assert_false(kov_plan_wants_key(plan, 0, NULL));
	g_assert_true(kov_plan_decide(plan));
	g_assert_cmpint(rcpt(plan, 0)->decision, ==, KOV_DECISION_UNCHANGED);
}

/* A refusal found before deciding (sender, loop) decides nothing. */
static void
test_refused_early(void)
{
	KovPlanMail mail = { .kind = KOV_QUEUE_FALLBACK };
	KovPlanInput in[] = { R("bob@example.net", KOV_ROLE_TO) };
	g_autoptr(KovPlan) plan = kov_plan_new(&mail, in, 1);
	kov_plan_refuse(plan, "sender eve@example.org is not allowed in queue fallback");
	g_assert_false(kov_plan_decide(plan));
	g_assert_cmpstr(plan->refused, ==, "sender eve@example.org is not allowed in queue fallback");
	g_assert_cmpuint(plan->copies->len, ==, 0);
}

/* No recipients still to serve: nothing to send, nothing refused. */
static void
test_empty(void)
{
	KovPlanMail mail = { .kind = KOV_QUEUE_MUST_ENCRYPT };
	g_autoptr(KovPlan) plan = kov_plan_new(&mail, NULL, 0);
	g_assert_true(kov_plan_decide(plan));
	g_assert_cmpuint(plan->copies->len, ==, 0);
}

/* The words `koverto explain --json` prints are stable. */
static void
test_names(void)
{
	g_assert_cmpstr(kov_plan_role_name(KOV_ROLE_BCC), ==, "bcc");
	g_assert_cmpstr(kov_keyinfo_status_name(KOV_KEY_NOT_VALID), ==, "not-valid");
	g_assert_cmpstr(kov_keyinfo_problem_name(KOV_KEY_PROBLEM_NO_ENCRYPTION_SUBKEY), ==,
	                "no-encryption-subkey");
	g_assert_cmpstr(kov_keyinfo_problem_name(KOV_KEY_PROBLEM_EXPIRED), ==, "expired");
	g_assert_cmpstr(kov_keyinfo_signer_name(KOV_SIGNER_SENDER), ==, "sender");
	g_assert_cmpint(kov_policy_queue_action(KOV_QUEUE_SIGN_ONLY), ==, KOV_ACTION_SIGNONLY);
	g_assert_cmpint(kov_policy_queue_action(KOV_QUEUE_MUST_ENCRYPT), ==, KOV_ACTION_MUSTENCRYPT);
	g_assert_cmpint(kov_policy_queue_action(KOV_QUEUE_FALLBACK), ==, KOV_ACTION_FALLBACK);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/plan/fallback", test_fallback);
	g_test_add_func("/plan/must-encrypt-refused", test_must_encrypt_refused);
	g_test_add_func("/plan/bcc-copies", test_bcc_copies);
	g_test_add_func("/plan/sign-only-no-signer", test_sign_only_no_signer);
	g_test_add_func("/plan/encrypt-unsigned", test_encrypt_unsigned);
	g_test_add_func("/plan/kuvert-rules", test_kuvert_rules);
	g_test_add_func("/plan/fallback-all-group", test_fallback_all_group);
	g_test_add_func("/plan/already-encrypted", test_already_encrypted);
	g_test_add_func("/plan/resent", test_resent);
	g_test_add_func("/plan/refused-early", test_refused_early);
	g_test_add_func("/plan/empty", test_empty);
	g_test_add_func("/plan/names", test_names);
	return g_test_run();
}
