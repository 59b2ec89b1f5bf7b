/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The decision, as one pure function: recipients with their role, their
 * resolved action and whether a usable key exists, in; one decision per
 * recipient and a mail-level verdict, out. No GMime, no GPGME, no I/O. */
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

typedef struct {
	const char *address;    /* borrowed; bare, lower case */
	KovRole role;
	KovAction action;       /* after rules and overrides */
	gboolean has_key;       /* a usable encryption key is known */
} KovPolicyInput;

/* Kuvert names: "none", "signonly", "fallback", "fallback-all", "mustencrypt". */
const char *kov_policy_action_name(KovAction action);
gboolean kov_policy_action_parse(const char *name, KovAction *action);
const char *kov_policy_decision_name(KovDecision decision);

/* Decide for @n recipients; writes @out[0..n-1]. Returns FALSE when the
 * whole mail must be rejected (some recipient is REFUSE): then nothing may
 * be sent to anybody. fallback-all is all-or-nothing over To/Cc only;
 * mustencrypt is never downgraded. */
gboolean kov_policy_decide(const KovPolicyInput *in, gsize n, KovDecision *out);
