/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Table-driven tests of the pure policy: every action with and without a
 * key, every role, and the fallback-all group with the Kuvert bugs that
 * koverto fixes (Bcc influence, mustencrypt downgrade). One row per case. */
#include "policy.h"

#include <glib.h>

#define MAXR 6

enum { K = TRUE, NOKEY = FALSE };
#define TO KOV_ROLE_TO
#define CC KOV_ROLE_CC
#define BCC KOV_ROLE_BCC
#define NONE KOV_ACTION_NONE
#define SIGNONLY KOV_ACTION_SIGNONLY
#define FB KOV_ACTION_FALLBACK
#define FBALL KOV_ACTION_FALLBACK_ALL
#define MUST KOV_ACTION_MUSTENCRYPT
#define U KOV_DECISION_UNCHANGED
#define S KOV_DECISION_SIGN
#define E KOV_DECISION_ENCRYPT
#define R KOV_DECISION_REFUSE

typedef struct {
	const char *name;
	gsize n;
	KovPolicyInput in[MAXR];
	KovDecision out[MAXR];
	gboolean verdict;  /* TRUE: send; FALSE: the mail is rejected */
} Case;

static const Case cases[] = {
	/* Each action alone, with and without a key. */
	{"none-key", 1, {{"a@x", TO, NONE, K}}, {U}, TRUE},
	{"none-nokey", 1, {{"a@x", TO, NONE, NOKEY}}, {U}, TRUE},
	{"signonly-key", 1, {{"a@x", TO, SIGNONLY, K}}, {S}, TRUE},
	{"signonly-nokey", 1, {{"a@x", TO, SIGNONLY, NOKEY}}, {S}, TRUE},
	{"fallback-key", 1, {{"a@x", TO, FB, K}}, {E}, TRUE},
	{"fallback-nokey", 1, {{"a@x", TO, FB, NOKEY}}, {S}, TRUE},
	{"fallback-all-key", 1, {{"a@x", TO, FBALL, K}}, {E}, TRUE},
	{"fallback-all-nokey", 1, {{"a@x", TO, FBALL, NOKEY}}, {S}, TRUE},
	{"mustencrypt-key", 1, {{"a@x", TO, MUST, K}}, {E}, TRUE},
	{"mustencrypt-nokey", 1, {{"a@x", TO, MUST, NOKEY}}, {R}, FALSE},

	/* Roles: the single-recipient decision does not depend on the role. */
	{"cc-fallback-key", 1, {{"a@x", CC, FB, K}}, {E}, TRUE},
	{"cc-fallback-nokey", 1, {{"a@x", CC, FB, NOKEY}}, {S}, TRUE},
	{"bcc-fallback-key", 1, {{"a@x", BCC, FB, K}}, {E}, TRUE},
	{"bcc-fallback-all-nokey", 1, {{"a@x", BCC, FBALL, NOKEY}}, {S}, TRUE},
	{"bcc-none", 1, {{"a@x", BCC, NONE, K}}, {U}, TRUE},
	{"bcc-signonly", 1, {{"a@x", BCC, SIGNONLY, K}}, {S}, TRUE},
	{"cc-mustencrypt-nokey", 1, {{"a@x", CC, MUST, NOKEY}}, {R}, FALSE},

	/* Plain fallback is per recipient: a keyless one downgrades nobody. */
	{"fallback-mixed", 3,
	 {{"a@x", TO, FB, K}, {"b@x", TO, FB, NOKEY}, {"c@x", CC, FB, K}},
	 {E, S, E}, TRUE},

	/* fallback-all: everybody in To/Cc has a key -> all encrypted. */
	{"group-all-keys", 3,
	 {{"a@x", TO, FBALL, K}, {"b@x", CC, FBALL, K}, {"c@x", CC, FB, K}},
	 {E, E, E}, TRUE},
	/* A keyless To downgrades the To/Cc group (fallback members too), a
	 * Bcc with a key keeps its own encrypted copy. */
	{"group-keyless-to", 4,
	 {{"a@x", TO, FBALL, K}, {"b@x", TO, FBALL, NOKEY}, {"c@x", CC, FB, K},
	  {"d@x", BCC, FBALL, K}},
	 {S, S, S, E}, TRUE},
	/* Kuvert bug 8: a keyless Bcc must not downgrade the visible group. */
	{"group-keyless-bcc", 3,
	 {{"a@x", TO, FBALL, K}, {"b@x", CC, FBALL, K}, {"c@x", BCC, FBALL, NOKEY}},
	 {E, E, S}, TRUE},
	{"group-none-bcc", 2,
	 {{"a@x", TO, FBALL, K}, {"b@x", BCC, NONE, NOKEY}},
	 {E, U}, TRUE},
	{"group-signonly-bcc", 2,
	 {{"a@x", TO, FBALL, K}, {"b@x", BCC, SIGNONLY, K}},
	 {E, S}, TRUE},
	/* A none recipient in To/Cc breaks the group and stays unchanged. */
	{"group-none-cc", 3,
	 {{"a@x", TO, FBALL, K}, {"b@x", CC, NONE, K}, {"c@x", CC, FBALL, K}},
	 {S, U, S}, TRUE},
	{"group-signonly-to", 2,
	 {{"a@x", TO, FBALL, K}, {"b@x", TO, SIGNONLY, K}},
	 {S, S}, TRUE},
	/* Kuvert bug 9: a mustencrypt member with a key is never downgraded. */
	{"group-mustencrypt-key", 3,
	 {{"a@x", TO, FBALL, K}, {"b@x", TO, MUST, K}, {"c@x", CC, FBALL, NOKEY}},
	 {S, E, S}, TRUE},
	/* The group is triggered only by a To/Cc fallback-all: a Bcc one is
	 * plain fallback and leaves keyed To recipients alone. */
	{"bcc-fallback-all-no-group", 3,
	 {{"a@x", TO, FB, K}, {"b@x", TO, FB, NOKEY}, {"c@x", BCC, FBALL, K}},
	 {E, S, E}, TRUE},
	/* mustencrypt without a key rejects the whole mail, Bcc included. */
	{"mustencrypt-keyless-bcc", 3,
	 {{"a@x", TO, FBALL, K}, {"b@x", CC, NONE, K}, {"c@x", BCC, MUST, NOKEY}},
	 {S, U, R}, FALSE},
	{"mustencrypt-keyless-among-keyed", 2,
	 {{"a@x", TO, MUST, K}, {"b@x", TO, MUST, NOKEY}},
	 {E, R}, FALSE},
	{"empty", 0, {{0}}, {0}, TRUE},
};

static void
test_decide(gconstpointer data)
{
	const Case *c = data;
	KovDecision out[MAXR + 1];
	/* A sentinel everywhere: decide must write each of out[0..n-1] and no more. */
	for (gsize i = 0; i < G_N_ELEMENTS(out); i++)
		out[i] = (KovDecision)0x55;

	gboolean verdict = kov_policy_decide(c->n ? c->in : NULL, c->n, out);

	g_assert_cmpint(verdict, ==, c->verdict);
	for (gsize i = 0; i < c->n; i++) {
		if (out[i] != c->out[i])
			g_test_message("%s: recipient %s: got %s, expected %s", c->name,
			               c->in[i].address, kov_policy_decision_name(out[i]),
			               kov_policy_decision_name(c->out[i]));
		g_assert_cmpint(out[i], ==, c->out[i]);
	}
	g_assert_cmpint(out[c->n], ==, 0x55);
}

static void
test_action_names(void)
{
	static const struct { KovAction action; const char *name; } names[] = {
		{KOV_ACTION_NONE, "none"},
		{KOV_ACTION_SIGNONLY, "signonly"},
		{KOV_ACTION_FALLBACK, "fallback"},
		{KOV_ACTION_FALLBACK_ALL, "fallback-all"},
		{KOV_ACTION_MUSTENCRYPT, "mustencrypt"},
	};
	for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
		KovAction parsed = (KovAction)99;
		g_assert_cmpstr(kov_policy_action_name(names[i].action), ==, names[i].name);
		g_assert_true(kov_policy_action_parse(names[i].name, &parsed));
		g_assert_cmpint(parsed, ==, names[i].action);
	}
	/* Exact and lower case, like Kuvert: callers trim and fold themselves. */
	static const char *const bad[] = {
		"", "None", "FALLBACK", " none", "none ", "fallback_all", "fallbackall",
		"sign-only", "must-encrypt", "fallback,0x1234", "encrypt",
	};
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		KovAction parsed = KOV_ACTION_MUSTENCRYPT;
		g_assert_false(kov_policy_action_parse(bad[i], &parsed));
		g_assert_cmpint(parsed, ==, KOV_ACTION_MUSTENCRYPT);  /* untouched */
	}
	KovAction parsed = KOV_ACTION_NONE;
	g_assert_false(kov_policy_action_parse(NULL, &parsed));
}

static void
test_decision_names(void)
{
	g_assert_cmpstr(kov_policy_decision_name(KOV_DECISION_UNCHANGED), ==, "unchanged");
	g_assert_cmpstr(kov_policy_decision_name(KOV_DECISION_SIGN), ==, "sign");
	g_assert_cmpstr(kov_policy_decision_name(KOV_DECISION_ENCRYPT), ==, "encrypt");
	g_assert_cmpstr(kov_policy_decision_name(KOV_DECISION_REFUSE), ==, "refuse");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *path = g_strdup_printf("/policy/decide/%s", cases[i].name);
		g_test_add_data_func(path, &cases[i], test_decide);
	}
	g_test_add_func("/policy/action-names", test_action_names);
	g_test_add_func("/policy/decision-names", test_decision_names);
	return g_test_run();
}
