/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The decision, as one pure function: the rules, the default action, the
 * X-Kuvert header and per recipient its role, directives and whether the
 * key meant for it is usable, in; one decision per recipient (with the
 * action it resolved and why) and a mail-level verdict, out. GLib only:
 * no GMime, no GPGME, no I/O. */
#pragma once
#include <glib.h>

/* Kuvert's five actions (kuvert(1)), also the meaning of the policy queues. */
typedef enum {
	KOV_ACTION_NONE,
	KOV_ACTION_SIGNONLY,
	KOV_ACTION_FALLBACK,
	KOV_ACTION_FALLBACK_ALL,
	KOV_ACTION_MUSTENCRYPT,
} KovAction;

typedef enum {
	KOV_ROLE_TO,
	KOV_ROLE_CC,
	KOV_ROLE_BCC,   /* header Bcc, or an envelope recipient not in To/Cc */
} KovRole;

typedef enum {
	KOV_DECISION_UNCHANGED,
	KOV_DECISION_SIGN,
	KOV_DECISION_ENCRYPT,
	KOV_DECISION_REFUSE,    /* mustencrypt without a usable key */
} KovDecision;

/* The queues a mail can be in: a policy queue binds every recipient to
 * its action; in Kuvert's queue the rules decide. */
typedef enum {
	KOV_QUEUE_MUST_ENCRYPT,
	KOV_QUEUE_FALLBACK,
	KOV_QUEUE_SIGN_ONLY,
	KOV_QUEUE_N_POLICY,
	KOV_QUEUE_KUVERT = KOV_QUEUE_N_POLICY, /* not a policy: Kuvert's rules decide */
	KOV_QUEUE_N_KINDS,
} KovQueueKind;

/* "must-encrypt", "fallback", "sign-only", "kuvert". */
const char *kov_policy_queue_name(KovQueueKind kind);
/* The three policy queues only: FALSE for "kuvert" and anything else. */
gboolean kov_policy_queue_parse(const char *name, KovQueueKind *kind);
/* The action a policy queue binds every recipient to (not for the Kuvert
 * queue, where the rules decide per recipient). */
KovAction kov_policy_queue_action(KovQueueKind kind);

/* Kuvert names: "none", "signonly", "fallback", "fallback-all", "mustencrypt". */
const char *kov_policy_action_name(KovAction action);
gboolean kov_policy_action_parse(const char *name, KovAction *action);

/* May @address (bare; NULL or "" when none could be established) send
 * through a queue whose senders pattern is @senders (a whole-address,
 * any-case match; NULL: the queue has none)? Always where there is no
 * pattern; never without an address where there is one: a restricted
 * queue signs only for a sender it has established. */
gboolean kov_policy_sender_allowed(const GRegex *senders, const char *address);

const char *kov_policy_decision_name(KovDecision decision);

/* ---- rules ------------------------------------------------------------ */

/* One per-recipient rule: Kuvert's "<ws>REGEX<ws>ACTION[,KEY]" line, or a
 * numbered key of koverto.conf's [rules] section. */
typedef struct {
	char *pattern;      /* as written */
	GRegex *regex;      /* compiled from pattern: case-insensitive, unanchored */
	KovAction action;
	char *key;          /* nullable; only with fallback and fallback-all */
	guint line;         /* where it was written; 0: not from a file */
} KovRule;

/* Compile @pattern. A key is allowed only with fallback and fallback-all.
 * NULL with KOV_ERROR_CONFIG saying what is wrong (without file or line:
 * the caller adds them). (transfer full) */
KovRule *kov_policy_rule_new(const char *pattern, KovAction action, const char *key, guint line,
                             GError **error);
void kov_policy_rule_free(KovRule *rule);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovRule, kov_policy_rule_free)

/* The first rule of @rules (of KovRule*, nullable) whose pattern matches
 * @address, or NULL. (borrowed) */
const KovRule *kov_policy_rule_match(const GPtrArray *rules, const char *address);

/* ---- the decision ----------------------------------------------------- */

/* What holds for the whole mail. */
typedef struct {
	const GPtrArray *rules;   /* of KovRule*, first match wins; nullable: none */
	KovAction defaultaction;  /* for an address no rule matches */
	gboolean has_x_kuvert;    /* the mail's first X-Kuvert header named an action */
	KovAction x_kuvert;
} KovPolicyContext;

/* One recipient. All strings borrowed. */
typedef struct {
	const char *address;      /* bare, lower case */
	KovRole role;
	gboolean is_resent;       /* a Resent-To (bounce) recipient: unchanged unless mustencrypt */
	gboolean has_directive_action;  /* Name "action=..." <addr> */
	KovAction directive_action;
	const char *directive_key;      /* Name "key=..." <addr>; nullable */
	/* A policy queue: its action binds. Rules, defaultaction, X-Kuvert and
	 * directives (key= included) are not consulted. */
	gboolean has_forced_action;
	KovAction forced_action;
	/* The key kov_policy_key_for() named (the address's own when it said
	 * NULL) is known and usable. Ignored where kov_policy_needs_key() says
	 * no key matters. */
	gboolean has_key;
} KovPolicyRecipient;

typedef struct {
	KovAction action;         /* resolved: rule or defaultaction, X-Kuvert, directive; or forced */
	KovDecision decision;
	char *reason;             /* (transfer full) one line for the log: how action and decision came about */
} KovPolicyResult;

/* The action for @r before keys are looked at: the forced action; else the
 * first matching rule or defaultaction, then X-Kuvert (never over none),
 * then the directive; neither of the last two weakens mustencrypt. */
KovAction kov_policy_resolve(const KovPolicyContext *ctx, const KovPolicyRecipient *r);

/* TRUE when the decision for @r depends on a key: its resolved action is
 * fallback, fallback-all or mustencrypt (for a Resent-To recipient:
 * mustencrypt). Others need no key lookup. */
gboolean kov_policy_needs_key(const KovPolicyContext *ctx, const KovPolicyRecipient *r);

/* Which key to look up for @r: the directive's key=, else the matching
 * rule's key, else NULL meaning "the address's own key" (always NULL with
 * a forced action). (borrowed from @ctx or @r) */
const char *kov_policy_key_for(const KovPolicyContext *ctx, const KovPolicyRecipient *r);

/* Decide for @n recipients; writes @out[0..n-1] (clear each with
 * kov_policy_result_clear). Returns FALSE when the whole mail must be
 * rejected (some recipient is REFUSE, Bcc included): then nothing may be
 * sent to anybody. fallback-all is all-or-nothing over To/Cc only and Bcc
 * recipients do not affect it; mustencrypt is never downgraded. */
gboolean kov_policy_decide_mail(const KovPolicyContext *ctx, const KovPolicyRecipient *in, gsize n,
                                KovPolicyResult *out);
void kov_policy_result_clear(KovPolicyResult *result);

/* ---- the policy queues' original interface (a thin wrapper) ----------- */

typedef struct {
	const char *address;    /* borrowed; bare, lower case */
	KovRole role;
	KovAction action;       /* after rules and overrides */
	gboolean has_key;       /* a usable encryption key is known */
} KovPolicyInput;

/* kov_policy_decide_mail() with each recipient's @action forced: same
 * decisions, no reasons. Kept until process.c moves to the above. */
gboolean kov_policy_decide(const KovPolicyInput *in, gsize n, KovDecision *out);
