/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Table-driven tests of the pure policy. The first table follows kuvert(1)
 * "How Kuvert decides" step by step (rules, defaultaction, X-Kuvert,
 * directives, mustencrypt, fallback-all, Bcc), the Resent-To shortcut, the
 * policy queues' forced action, and each Kuvert bug koverto fixes
 * (kuvert-reference.md 14, items 7-10). The second drives the policy
 * queues' original interface. One row per case. */
#include "policy.h"
#include "error.h"

#include <glib.h>
#include <string.h>

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

/* ---- the whole decision: kov_policy_decide_mail ------------------------- */

/* The rules every case below sees, in this order (line = index + 1). */
static const struct { const char *pattern; KovAction action; const char *key; } rule_specs[] = {
	{ "^list-", NONE, NULL },               /* 1 */
	{ "^sign@", SIGNONLY, NULL },           /* 2 */
	{ "^fb@", FB, NULL },                   /* 3 */
	{ "^fball@", FBALL, NULL },             /* 4 */
	{ "^must@", MUST, NULL },               /* 5 */
	{ "^keyed@", FB, "0xRULEKEY" },         /* 6 */
	{ "^BIG@", FB, NULL },                  /* 7: matched in any case */
	{ "^dup@", SIGNONLY, NULL },            /* 8: first match wins... */
	{ "^dup@", NONE, NULL },                /* 9: ...not this one */
	{ "mid", SIGNONLY, NULL },              /* 10: unanchored */
	{ "^must2@", MUST, NULL },              /* 11 */
};
static GPtrArray *rules;

#define NO (-1)
typedef struct {
	const char *address;
	KovRole role;
	int dir_action;          /* NO: no action= directive */
	const char *dir_key;     /* NULL: no key= directive */
	gboolean resent;
	int forced;              /* NO: not a policy queue */
	gboolean has_key;        /* the key kov_policy_key_for names is usable */
} Rcpt;
/* A recipient, one with a directive, a Resent-To one, a policy queue's. */
#define P(a, role, k) { a, role, NO, NULL, FALSE, NO, k }
#define D(a, role, act, dkey, k) { a, role, act, dkey, FALSE, NO, k }
#define RS(a, k) { a, TO, NO, NULL, TRUE, NO, k }
#define F(a, role, act, dkey, k) { a, role, NO, dkey, FALSE, act, k }

typedef struct {
	KovAction action;        /* resolved */
	KovDecision decision;
	const char *key;         /* what kov_policy_key_for says; NULL: the address's own */
} Want;

typedef struct {
	const char *name;
	KovAction defaultaction;
	int x_kuvert;            /* NO: no X-Kuvert header */
	gsize n;
	Rcpt in[MAXR];
	Want out[MAXR];
	gboolean verdict;        /* TRUE: send; FALSE: the mail is rejected */
	const char *why;         /* nullable: part of the first recipient's reason */
} MailCase;

static const MailCase mail_cases[] = {
	/* 1. The first matching rule decides. */
	{"1-rule-none", FB, NO, 1, {P("list-dev@x", TO, K)}, {{NONE, U, NULL}}, TRUE,
	 "rule \"^list-\" (line 1) none: unchanged"},
	{"1-rule-signonly", FB, NO, 1, {P("sign@x", TO, K)}, {{SIGNONLY, S, NULL}}, TRUE, NULL},
	{"1-rule-fallback", NONE, NO, 2, {P("fb@x", TO, K), P("fb@y", CC, NOKEY)},
	 {{FB, E, NULL}, {FB, S, NULL}}, TRUE, "own key usable: encrypt"},
	{"1-rule-mustencrypt", NONE, NO, 1, {P("must@x", TO, K)}, {{MUST, E, NULL}}, TRUE, NULL},
	{"1-rule-first-match-wins", FB, NO, 1, {P("dup@x", TO, K)}, {{SIGNONLY, S, NULL}}, TRUE,
	 "(line 8)"},
	{"1-rule-any-case", NONE, NO, 1, {P("big@x", TO, K)}, {{FB, E, NULL}}, TRUE, NULL},
	{"1-rule-unanchored", FB, NO, 1, {P("xmidx@y", TO, K)}, {{SIGNONLY, S, NULL}}, TRUE, NULL},
	{"1-rule-key", NONE, NO, 2, {P("keyed@x", TO, K), P("keyed@y", TO, NOKEY)},
	 {{FB, E, "0xRULEKEY"}, {FB, S, "0xRULEKEY"}}, TRUE, "key 0xRULEKEY (rule) usable: encrypt"},

	/* 2. Else defaultaction. */
	{"2-default-none", NONE, NO, 1, {P("a@x", TO, K)}, {{NONE, U, NULL}}, TRUE,
	 "defaultaction none: unchanged"},
	{"2-default-signonly", SIGNONLY, NO, 1, {P("a@x", TO, K)}, {{SIGNONLY, S, NULL}}, TRUE, NULL},
	{"2-default-fallback", FB, NO, 2, {P("a@x", TO, K), P("b@x", TO, NOKEY)},
	 {{FB, E, NULL}, {FB, S, NULL}}, TRUE, NULL},
	{"2-default-fallback-all", FBALL, NO, 2, {P("a@x", TO, K), P("b@x", CC, K)},
	 {{FBALL, E, NULL}, {FBALL, E, NULL}}, TRUE, NULL},
	{"2-default-mustencrypt", MUST, NO, 1, {P("a@x", TO, K)}, {{MUST, E, NULL}}, TRUE, NULL},
	{"2-default-mustencrypt-nokey", MUST, NO, 1, {P("a@x", TO, NOKEY)}, {{MUST, R, NULL}}, FALSE,
	 "defaultaction mustencrypt, own key not usable: refuse"},

	/* 3. X-Kuvert for everybody whose action is not none... */
	{"3-x-kuvert-over-rule", NONE, SIGNONLY, 1, {P("fb@x", TO, K)}, {{SIGNONLY, S, NULL}}, TRUE,
	 "X-Kuvert signonly"},
	{"3-x-kuvert-over-default", SIGNONLY, FB, 1, {P("a@x", TO, K)}, {{FB, E, NULL}}, TRUE, NULL},
	{"3-x-kuvert-upgrades-to-mustencrypt", FB, MUST, 2, {P("a@x", TO, K), P("b@x", CC, NOKEY)},
	 {{MUST, E, NULL}, {MUST, R, NULL}}, FALSE, NULL},
	{"3-x-kuvert-fallback-all-makes-a-group", FB, FBALL, 2, {P("a@x", TO, K), P("b@x", TO, NOKEY)},
	 {{FBALL, S, NULL}, {FBALL, S, NULL}}, TRUE, "fallback-all group: b@x is not encrypted"},
	{"3-x-kuvert-not-over-rule-none", FB, MUST, 1, {P("list-a@x", TO, NOKEY)}, {{NONE, U, NULL}},
	 TRUE, "X-Kuvert mustencrypt ignored (none stays none)"},
	{"3-x-kuvert-not-over-default-none", NONE, FB, 1, {P("a@x", TO, K)}, {{NONE, U, NULL}}, TRUE,
	 NULL},
	/* ...but never weakening mustencrypt (Kuvert bug 10). */
	{"3-x-kuvert-none-not-over-mustencrypt", FB, NONE, 1, {P("must@x", TO, K)}, {{MUST, E, NULL}},
	 TRUE, "X-Kuvert none ignored (mustencrypt is never weakened)"},
	{"3-x-kuvert-signonly-not-over-mustencrypt", MUST, SIGNONLY, 1, {P("a@x", TO, NOKEY)},
	 {{MUST, R, NULL}}, FALSE, NULL},
	{"3-x-kuvert-fallback-not-over-mustencrypt", FB, FB, 1, {P("must@x", BCC, NOKEY)},
	 {{MUST, R, NULL}}, FALSE, NULL},
	{"3-x-kuvert-fallback-all-not-over-mustencrypt", FB, FBALL, 2,
	 {P("must@x", TO, K), P("a@x", TO, NOKEY)}, {{MUST, E, NULL}, {FBALL, S, NULL}}, TRUE, NULL},

	/* 4. The address's own directive, which overrides even none... */
	{"4-directive-over-rule-none", NONE, NO, 1, {D("list-a@x", TO, FB, NULL, K)}, {{FB, E, NULL}},
	 TRUE, "directive action=fallback"},
	{"4-directive-over-x-kuvert", NONE, SIGNONLY, 1, {D("fb@x", CC, NONE, NULL, K)},
	 {{NONE, U, NULL}}, TRUE, NULL},
	{"4-directive-over-x-kuvert-skipped-none", NONE, FB, 1, {D("a@x", TO, FB, NULL, K)},
	 {{FB, E, NULL}}, TRUE, NULL},
	/* action=mustencrypt counts (Kuvert bug 7). */
	{"4-directive-mustencrypt", FB, NO, 2, {D("a@x", TO, MUST, NULL, NOKEY), P("b@x", TO, K)},
	 {{MUST, R, NULL}, {FB, E, NULL}}, FALSE, "directive action=mustencrypt"},
	/* ...but never weakening mustencrypt (Kuvert bug 10). */
	{"4-directive-none-not-over-mustencrypt-rule", FB, NO, 1, {D("must@x", TO, NONE, NULL, K)},
	 {{MUST, E, NULL}}, TRUE, "directive action=none ignored (mustencrypt is never weakened)"},
	{"4-directive-signonly-not-over-mustencrypt-default", MUST, NO, 1,
	 {D("a@x", CC, SIGNONLY, NULL, NOKEY)}, {{MUST, R, NULL}}, FALSE, NULL},
	{"4-directive-not-over-mustencrypt-from-x-kuvert", FB, MUST, 1,
	 {D("a@x", TO, FBALL, NULL, NOKEY)}, {{MUST, R, NULL}}, FALSE, NULL},
	/* Key selection: directive key > rule key > the address's own. */
	{"4-directive-key", FB, NO, 1, {D("a@x", TO, NO, "0xD1", K)}, {{FB, E, "0xD1"}}, TRUE,
	 "key 0xD1 (directive) usable: encrypt"},
	{"4-directive-key-over-rule-key", NONE, NO, 1, {D("keyed@x", TO, NO, "0xD1", K)},
	 {{FB, E, "0xD1"}}, TRUE, NULL},
	{"4-directive-key-not-usable", FB, NO, 2, {D("a@x", TO, NO, "0xD1", NOKEY),
	  D("must@x", BCC, NO, "0xD2", NOKEY)}, {{FB, S, "0xD1"}, {MUST, R, "0xD2"}}, FALSE,
	 "key 0xD1 (directive) not usable: sign"},
	{"4-rule-key-with-directive-action", NONE, NO, 1, {D("keyed@x", TO, MUST, NULL, K)},
	 {{MUST, E, "0xRULEKEY"}}, TRUE, NULL},

	/* 5. mustencrypt without a key rejects the whole mail, Bcc included. */
	{"5-mustencrypt-nokey-rejects", FB, NO, 3,
	 {P("a@x", TO, K), P("must@x", CC, NOKEY), P("list-b@x", TO, NOKEY)},
	 {{FB, E, NULL}, {MUST, R, NULL}, {NONE, U, NULL}}, FALSE, NULL},
	{"5-mustencrypt-bcc-nokey-rejects", FB, NO, 2, {P("a@x", TO, K), P("must@x", BCC, NOKEY)},
	 {{FB, E, NULL}, {MUST, R, NULL}}, FALSE, NULL},
	{"5-mustencrypt-all-keys", NONE, NO, 3,
	 {P("must@x", TO, K), P("must2@x", CC, K), P("must@y", BCC, K)},
	 {{MUST, E, NULL}, {MUST, E, NULL}, {MUST, E, NULL}}, TRUE, NULL},

	/* 6. fallback-all: all or nothing over To/Cc. */
	{"6-group-all-keys", FBALL, NO, 3, {P("a@x", TO, K), P("b@x", CC, K), P("fb@x", CC, K)},
	 {{FBALL, E, NULL}, {FBALL, E, NULL}, {FB, E, NULL}}, TRUE, NULL},
	{"6a-group-signonly-member", FBALL, NO, 3, {P("a@x", TO, K), P("sign@x", CC, K), P("fb@x", TO, K)},
	 {{FBALL, S, NULL}, {SIGNONLY, S, NULL}, {FB, S, NULL}}, TRUE,
	 "fallback-all group: sign@x is not encrypted: sign"},
	{"6a-group-none-member", FBALL, NO, 2, {P("a@x", TO, K), P("list-b@x", CC, K)},
	 {{FBALL, S, NULL}, {NONE, U, NULL}}, TRUE, NULL},
	{"6b-group-keyless-member", FB, NO, 3, {P("fball@x", TO, K), P("a@x", TO, NOKEY), P("fb@y", CC, K)},
	 {{FBALL, S, NULL}, {FB, S, NULL}, {FB, S, NULL}}, TRUE, "fallback-all group: a@x"},
	{"6-plain-fallback-no-group", FB, NO, 2, {P("a@x", TO, K), P("b@x", TO, NOKEY)},
	 {{FB, E, NULL}, {FB, S, NULL}}, TRUE, NULL},
	/* mustencrypt is never downgraded by the group (Kuvert bug 9;
	 * kuvert-reference test 34: defaultaction fallback-all). */
	{"6-mustencrypt-not-downgraded", FBALL, NO, 3,
	 {P("must@x", TO, K), P("a@x", TO, K), P("b@x", CC, NOKEY)},
	 {{MUST, E, NULL}, {FBALL, S, NULL}, {FBALL, S, NULL}}, TRUE, "own key usable: encrypt"},
	{"6-mustencrypt-does-not-break-group", FBALL, NO, 2, {P("must@x", TO, K), P("a@x", CC, K)},
	 {{MUST, E, NULL}, {FBALL, E, NULL}}, TRUE, NULL},

	/* 7. Bcc recipients are separate: they neither trigger nor break the
	 * group (Kuvert bug 8), and their fallback-all is plain fallback. */
	{"7-bcc-keyless-does-not-break-group", FBALL, NO, 3,
	 {P("a@x", TO, K), P("b@x", CC, K), P("c@x", BCC, NOKEY)},
	 {{FBALL, E, NULL}, {FBALL, E, NULL}, {FBALL, S, NULL}}, TRUE, NULL},
	{"7-bcc-none-does-not-break-group", FBALL, NO, 2, {P("a@x", TO, K), P("list-b@x", BCC, K)},
	 {{FBALL, E, NULL}, {NONE, U, NULL}}, TRUE, NULL},
	{"7-bcc-signonly-does-not-break-group", FBALL, NO, 2, {P("a@x", TO, K), P("sign@x", BCC, K)},
	 {{FBALL, E, NULL}, {SIGNONLY, S, NULL}}, TRUE, NULL},
	{"7-bcc-fallback-all-is-fallback", FB, NO, 3,
	 {P("a@x", TO, K), P("b@x", TO, NOKEY), P("fball@x", BCC, K)},
	 {{FB, E, NULL}, {FB, S, NULL}, {FBALL, E, NULL}}, TRUE, NULL},
	{"7-bcc-not-downgraded-by-group", FBALL, NO, 2, {P("a@x", TO, NOKEY), P("b@x", BCC, K)},
	 {{FBALL, S, NULL}, {FBALL, E, NULL}}, TRUE, NULL},

	/* Resent-To (bounce): as it is, unless mustencrypt. */
	{"resent-unchanged", FB, NO, 2, {RS("a@x", K), RS("sign@x", K)},
	 {{FB, U, NULL}, {SIGNONLY, U, NULL}}, TRUE, "Resent-To: passed on as it is: unchanged"},
	{"resent-x-kuvert-signonly", FB, SIGNONLY, 1, {RS("a@x", K)}, {{SIGNONLY, U, NULL}}, TRUE, NULL},
	{"resent-mustencrypt-key", FB, NO, 1, {RS("must@x", K)}, {{MUST, E, NULL}}, TRUE, NULL},
	{"resent-mustencrypt-nokey", FB, NO, 2, {RS("a@x", NOKEY), RS("must@x", NOKEY)},
	 {{FB, U, NULL}, {MUST, R, NULL}}, FALSE, NULL},
	{"resent-x-kuvert-mustencrypt", FB, MUST, 1, {RS("a@x", NOKEY)}, {{MUST, R, NULL}}, FALSE, NULL},
	{"resent-no-group", FBALL, NO, 2, {P("a@x", TO, K), RS("b@x", NOKEY)},
	 {{FBALL, E, NULL}, {FBALL, U, NULL}}, TRUE, NULL},

	/* Policy queues: the queue's action binds; rules, defaultaction,
	 * X-Kuvert and directives (key= too) are not consulted. */
	{"queue-mustencrypt-binds", NONE, NONE, 2,
	 {F("list-a@x", TO, MUST, "0xD1", K), F("b@x", BCC, MUST, NULL, NOKEY)},
	 {{MUST, E, NULL}, {MUST, R, NULL}}, FALSE, "queue action mustencrypt, own key usable"},
	{"queue-signonly-binds", MUST, MUST, 1, {F("must@x", TO, SIGNONLY, NULL, K)},
	 {{SIGNONLY, S, NULL}}, TRUE, NULL},
	{"queue-fallback", SIGNONLY, NONE, 2, {F("list-a@x", TO, FB, NULL, K), F("b@x", CC, FB, NULL, NOKEY)},
	 {{FB, E, NULL}, {FB, S, NULL}}, TRUE, NULL},

	{"empty", FB, NO, 0, {{0}}, {{0}}, TRUE, NULL},
};

static void
test_decide_mail(gconstpointer data)
{
	const MailCase *c = data;
	KovPolicyContext ctx = {
		.rules = rules,
		.defaultaction = c->defaultaction,
		.has_x_kuvert = c->x_kuvert != NO,
		.x_kuvert = c->x_kuvert != NO ? (KovAction)c->x_kuvert : KOV_ACTION_NONE,
	};
	KovPolicyRecipient in[MAXR];
	for (gsize i = 0; i < c->n; i++) {
		const Rcpt *r = &c->in[i];
		in[i] = (KovPolicyRecipient){
			.address = r->address,
			.role = r->role,
			.is_resent = r->resent,
			.has_directive_action = r->dir_action != NO,
			.directive_action = r->dir_action != NO ? (KovAction)r->dir_action : KOV_ACTION_NONE,
			.directive_key = r->dir_key,
			.has_forced_action = r->forced != NO,
			.forced_action = r->forced != NO ? (KovAction)r->forced : KOV_ACTION_NONE,
			.has_key = r->has_key,
		};
	}
	/* A sentinel after the last: decide must write out[0..n-1] and no more. */
	KovPolicyResult out[MAXR + 1];
	memset(out, 0x55, sizeof out);

	gboolean verdict = kov_policy_decide_mail(&ctx, c->n ? in : NULL, c->n, c->n ? out : NULL);

	for (gsize i = 0; i < c->n; i++) {
		const Want *w = &c->out[i];
		g_test_message("%s: %s: %s", c->name, in[i].address, out[i].reason);
		g_assert_nonnull(out[i].reason);
		g_assert_null(strchr(out[i].reason, '\n'));
		g_assert_cmpstr(kov_policy_action_name(out[i].action), ==, kov_policy_action_name(w->action));
		g_assert_cmpstr(kov_policy_decision_name(out[i].decision), ==,
		                kov_policy_decision_name(w->decision));
		/* The reason ends with the decision. */
		g_assert_true(g_str_has_suffix(out[i].reason, kov_policy_decision_name(w->decision)));
		/* The helpers agree with the decision. */
		g_assert_cmpint(kov_policy_resolve(&ctx, &in[i]), ==, w->action);
		g_assert_cmpstr(kov_policy_key_for(&ctx, &in[i]), ==, w->key);
		gboolean needs = w->action == FB || w->action == FBALL || w->action == MUST;
		if (in[i].is_resent)
			needs = w->action == MUST;
		g_assert_cmpint(kov_policy_needs_key(&ctx, &in[i]), ==, needs);
	}
	if (c->why != NULL && strstr(out[0].reason, c->why) == NULL)
		g_error("%s: reason \"%s\" lacks \"%s\"", c->name, out[0].reason, c->why);
	g_assert_cmpint(verdict, ==, c->verdict);
	/* The verdict is exactly "nobody is refused". */
	gboolean refused = FALSE;
	for (gsize i = 0; i < c->n; i++)
		refused = refused || out[i].decision == R;
	g_assert_cmpint(verdict, ==, !refused);
	if (c->n > 0) {
		const guchar *sentinel = (const guchar *)&out[c->n];
		for (gsize b = 0; b < sizeof out[0]; b++)
			g_assert_cmpuint(sentinel[b], ==, 0x55);
	}
	for (gsize i = 0; i < c->n; i++) {
		kov_policy_result_clear(&out[i]);
		g_assert_null(out[i].reason);
	}
}

/* Every action name and decision in the table above is met at least once,
 * so no branch of the decision goes untested. */
static void
test_decide_mail_coverage(void)
{
	gboolean seen[5][4] = { { FALSE } };
	for (gsize c = 0; c < G_N_ELEMENTS(mail_cases); c++)
		for (gsize i = 0; i < mail_cases[c].n; i++)
			seen[mail_cases[c].out[i].action][mail_cases[c].out[i].decision] = TRUE;
	/* Which (action, decision) pairs can occur at all. */
	static const gboolean possible[5][4] = {
		[NONE] = { [U] = TRUE },
		[SIGNONLY] = { [U] = TRUE, [S] = TRUE },   /* U: Resent-To */
		[FB] = { [U] = TRUE, [S] = TRUE, [E] = TRUE },
		[FBALL] = { [U] = TRUE, [S] = TRUE, [E] = TRUE },
		[MUST] = { [E] = TRUE, [R] = TRUE },
	};
	for (int a = 0; a < 5; a++)
		for (int d = 0; d < 4; d++)
			if (seen[a][d] != possible[a][d])
				g_error("%s/%s: seen %d, possible %d", kov_policy_action_name(a),
				        kov_policy_decision_name(d), seen[a][d], possible[a][d]);
}

static void
test_rules(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(KovRule) bad = kov_policy_rule_new("^a@", KOV_ACTION_SIGNONLY, "0x12", 3, &error);
	g_assert_null(bad);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	g_assert_cmpstr(error->message, ==, "only fallback and fallback-all take a key, not signonly");
	g_clear_error(&error);
	g_autoptr(KovRule) bad2 = kov_policy_rule_new("(a", KOV_ACTION_NONE, NULL, 3, &error);
	g_assert_null(bad2);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	g_assert_true(g_str_has_prefix(error->message, "not a regular expression: "));
	g_clear_error(&error);

	g_autoptr(KovRule) rule = kov_policy_rule_new("Example\\.ORG$", KOV_ACTION_FALLBACK_ALL,
	                                              "0xABC", 7, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(rule->pattern, ==, "Example\\.ORG$");
	g_assert_cmpstr(rule->key, ==, "0xABC");
	g_assert_cmpuint(rule->line, ==, 7);
	g_autoptr(GPtrArray) list = g_ptr_array_new();
	g_ptr_array_add(list, rule);
	g_assert_true(kov_policy_rule_match(list, "bob@example.org") == rule);
	g_assert_true(kov_policy_rule_match(list, "bob@sub.example.org") == rule);
	g_assert_null(kov_policy_rule_match(list, "bob@example.org.evil"));
	g_assert_null(kov_policy_rule_match(list, "bob@exampleXorg"));
	g_assert_null(kov_policy_rule_match(NULL, "bob@example.org"));
	g_autoptr(GPtrArray) empty = g_ptr_array_new();
	g_assert_null(kov_policy_rule_match(empty, "bob@example.org"));

	/* Without rules and a default, nothing is needed and nothing done. */
	KovPolicyContext ctx = { .defaultaction = KOV_ACTION_NONE };
	KovPolicyRecipient r = { .address = "bob@example.org", .role = KOV_ROLE_TO };
	g_assert_false(kov_policy_needs_key(&ctx, &r));
	g_assert_null(kov_policy_key_for(&ctx, &r));
}

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

/* The senders rule on a pattern alone, as the config compiles one: no
 * pattern allows anybody, a pattern allows no unknown sender. */
static void
test_sender_allowed(void)
{
	g_assert_true(kov_policy_sender_allowed(NULL, "a@example.org"));
	g_assert_true(kov_policy_sender_allowed(NULL, NULL));
	g_assert_true(kov_policy_sender_allowed(NULL, ""));
	g_autoptr(GRegex) re = g_regex_new("\\A(?:.*@example\\.org\\E)\\z", G_REGEX_CASELESS, 0, NULL);
	g_assert_nonnull(re);
	g_assert_true(kov_policy_sender_allowed(re, "a@example.org"));
	g_assert_true(kov_policy_sender_allowed(re, "A@Example.ORG"));
	g_assert_false(kov_policy_sender_allowed(re, "a@example.org.evil"));
	g_assert_false(kov_policy_sender_allowed(re, "a@example.net"));
	g_assert_false(kov_policy_sender_allowed(re, ""));
	g_assert_false(kov_policy_sender_allowed(re, NULL));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	rules = g_ptr_array_new_with_free_func((GDestroyNotify)kov_policy_rule_free);
	for (gsize i = 0; i < G_N_ELEMENTS(rule_specs); i++) {
		g_autoptr(GError) error = NULL;
		KovRule *rule = kov_policy_rule_new(rule_specs[i].pattern, rule_specs[i].action,
		                                    rule_specs[i].key, (guint)i + 1, &error);
		g_assert_no_error(error);
		g_ptr_array_add(rules, rule);
	}
	for (gsize i = 0; i < G_N_ELEMENTS(mail_cases); i++) {
		g_autofree char *path = g_strdup_printf("/policy/decide-mail/%s", mail_cases[i].name);
		g_test_add_data_func(path, &mail_cases[i], test_decide_mail);
	}
	g_test_add_func("/policy/decide-mail/coverage", test_decide_mail_coverage);
	g_test_add_func("/policy/rules", test_rules);
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *path = g_strdup_printf("/policy/decide/%s", cases[i].name);
		g_test_add_data_func(path, &cases[i], test_decide);
	}
	g_test_add_func("/policy/action-names", test_action_names);
	g_test_add_func("/policy/decision-names", test_decision_names);
	g_test_add_func("/policy/sender-allowed", test_sender_allowed);
	int rc = g_test_run();
	g_ptr_array_unref(rules);
	return rc;
}
