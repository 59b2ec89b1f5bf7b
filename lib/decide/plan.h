/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The plan for one mail: per recipient the action, the key or why there
 * is none, and the decision; the copies (SMTP transactions) that follow;
 * the signing key and where it came from; whether the whole mail is
 * refused. Pure: the caller does the key look-ups between
 * kov_plan_new() and kov_plan_decide() and hands in what they found.
 * The daemon acts on a plan; `koverto explain` prints one. */
#pragma once
#include <glib.h>
#include "keyinfo.h"
#include "policy.h"

/* The mail as the decision sees it. Strings borrowed for the plan's life. */
typedef struct {
	KovQueueKind kind;
	const GPtrArray *rules;   /* of KovRule*; nullable */
	KovAction defaultaction;
	gboolean has_x_kuvert;
	KovAction x_kuvert;
	gboolean already_encrypted; /* ciphertext by its bytes: passed on unchanged */
	gboolean resent;          /* Kuvert's bounce shortcut: Resent-To recipients */
} KovPlanMail;

/* One recipient still to serve. Strings borrowed for the plan's life. */
typedef struct {
	const char *address;      /* bare, lower case */
	KovRole role;
	gboolean has_directive_action;
	KovAction directive_action;
	const char *directive_key;  /* nullable */
} KovPlanInput;

typedef struct {
	const char *address;      /* borrowed from the input */
	KovRole role;
	KovPolicyRecipient policy;  /* the policy's view of the recipient */
	gboolean needs_key;       /* the decision depends on a key */
	const char *key_id;       /* the key a rule or directive names; NULL: the address's own */
	KovKeyLookup *key;        /* what the look-up found (owned); NULL: none made */
	KovAction action;         /* resolved (NONE for an already encrypted mail) */
	KovDecision decision;
	char *reason;             /* how action and decision came about (owned) */
} KovPlanRecipient;

typedef struct {
	KovDecision kind;         /* UNCHANGED, SIGN or ENCRYPT */
	GArray *recipients;       /* of guint: indices into KovPlan.recipients */
	gboolean bcc;             /* one encrypted Bcc recipient's own copy */
	/* Why this copy would fail if it were sent now (a signed copy and no
	 * signing key); NULL: none known. (owned) */
	char *fails;
} KovPlanCopy;

typedef struct {
	KovPlanMail mail;
	GPtrArray *recipients;    /* of KovPlanRecipient* (owned) */
	gboolean decided;         /* kov_plan_decide() ran */
	GPtrArray *copies;        /* of KovPlanCopy* (owned); empty until decided */
	/* Why nothing at all goes out (a mustencrypt recipient without a key,
	 * a sender the queue does not allow, a loop, an unusable configured
	 * signing key); NULL: the copies go. (owned) */
	char *refused;
	gboolean needs_signer;    /* some copy is signed or encrypted */
	KovSignerSource signer_source;
	KovKeyInfo *signer;       /* nullable (owned) */
	char *signer_note;        /* why the sender's own key was not taken; nullable (owned) */
} KovPlan;

/* A plan for @n recipients; each one's action is resolved and whether it
 * needs a key look-up (kov_plan_wants_key) is known. (transfer full) */
KovPlan *kov_plan_new(const KovPlanMail *mail, const KovPlanInput *in, gsize n);
void kov_plan_free(KovPlan *plan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovPlan, kov_plan_free)

/* A refusal found before deciding (sender, loop): nothing is decided. */
void kov_plan_refuse(KovPlan *plan, const char *reason);

/* TRUE when recipient @i needs a key look-up; *key_id (nullable out) the
 * key to look up, NULL meaning the address's own. */
gboolean kov_plan_wants_key(const KovPlan *plan, guint i, const char **key_id);
/* What the look-up for recipient @i found (transfer full). */
void kov_plan_set_key(KovPlan *plan, guint i, KovKeyLookup *lookup);

/* Decide every recipient and group the copies: one unchanged copy, one
 * signed, one encrypted to all To/Cc keys, one per encrypted Bcc
 * recipient (no key ID in a copy reveals a Bcc recipient). A mustencrypt
 * recipient without a usable key refuses the whole mail. Returns FALSE
 * when the mail is refused. */
gboolean kov_plan_decide(KovPlan *plan);

/* The signing key for a plan that needs one: where it was looked for
 * last (@source) and what was found there (@key, transfer full; NULL: none
 * usable). @note (nullable) says why an earlier place gave none, or why
 * the configured key cannot sign. */
void kov_plan_set_signer(KovPlan *plan, KovSignerSource source, KovKeyInfo *key, const char *note);

/* The chosen key of recipient @r, or NULL. (borrowed) */
const KovKeyInfo *kov_plan_recipient_key(const KovPlanRecipient *r);
/* Why recipient @r has no usable key, in the log's words ("no key",
 * "expired (key ...)"). (borrowed) */
const char *kov_plan_key_text(const KovPlanRecipient *r);
/* The recipient behind index @k of @copy. (borrowed) */
KovPlanRecipient *kov_plan_copy_recipient(const KovPlan *plan, const KovPlanCopy *copy, guint k);

/* "to", "cc", "bcc". */
const char *kov_plan_role_name(KovRole role);
