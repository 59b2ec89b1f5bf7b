/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What a key look-up found, as plain data: each candidate key with its
 * fingerprint, user ID, dates, validity and the one reason it cannot be
 * used, and which candidate won. lib/gpg fills it from GPGME; the plan
 * (plan.h) and `koverto explain` read it without knowing GPGME. */
#pragma once
#include <glib.h>

typedef enum {
	KOV_KEY_USABLE,
	KOV_KEY_MISSING,     /* no key with this exact address */
	KOV_KEY_NOT_VALID,   /* present, usable, but not valid (unknown trust, alwaystrust off) */
	KOV_KEY_UNUSABLE,    /* present but expired, revoked, disabled, invalid or cannot encrypt */
} KovKeyStatus;

/* Why a key (or a look-up) gives nothing usable. */
typedef enum {
	KOV_KEY_PROBLEM_NONE,
	KOV_KEY_PROBLEM_NOT_FOUND,         /* no key for the address, or the named key is not there */
	KOV_KEY_PROBLEM_NOT_A_KEY_ID,      /* a rule or directive named something that is no key ID */
	KOV_KEY_PROBLEM_EXPIRED,
	KOV_KEY_PROBLEM_REVOKED,
	KOV_KEY_PROBLEM_DISABLED,
	KOV_KEY_PROBLEM_INVALID,
	KOV_KEY_PROBLEM_NO_ENCRYPTION_SUBKEY,   /* a sign-only key */
	KOV_KEY_PROBLEM_ENCRYPTION_SUBKEY_DEAD, /* every encryption subkey expired or revoked */
	KOV_KEY_PROBLEM_USER_ID_REVOKED,
	KOV_KEY_PROBLEM_USER_ID_INVALID,
	KOV_KEY_PROBLEM_NOT_VALID,         /* not valid in the web of trust */
	KOV_KEY_PROBLEM_CANNOT_SIGN,       /* a signing key without a live signing subkey */
	KOV_KEY_PROBLEM_NOT_IN_KEYDIR,     /* keydir-only: no accepted file for the address */
} KovKeyProblem;

/* Where a recipient's key was looked for (issue 14: keys from a directory). */
typedef enum {
	KOV_KEY_SOURCE_KEYRING,   /* the GnuPG home, as gpg finds keys by address */
	KOV_KEY_SOURCE_KEYDIR,    /* the address's file in the keys directory (or, with
	                           * keydir-only, no file: no key) */
} KovKeySource;

/* "keyring", "keydir" (stable, as above). */
const char *kov_keyinfo_source_name(KovKeySource source);

/* "usable", "missing", "not-valid", "unusable" (stable: `koverto explain --json`). */
const char *kov_keyinfo_status_name(KovKeyStatus status);
/* "none", "not-found", "expired", "no-encryption-subkey", ... (stable, as above). */
const char *kov_keyinfo_problem_name(KovKeyProblem problem);

/* One key as gpg listed it. */
typedef struct {
	char *fingerprint;        /* of the primary key */
	char *user_id;            /* the user ID that matched the address, else the first; nullable */
	gint64 created;           /* unix seconds: the subkey that would be used, else the primary */
	gint64 expires;           /* unix seconds; 0: never */
	const char *validity;     /* static: "unknown", "undefined", "never", "marginal", "full", "ultimate" */
	KovKeyProblem problem;    /* NONE: usable */
	char *detail;             /* why not usable, in words; NULL when usable */
} KovKeyInfo;

KovKeyInfo *kov_keyinfo_new(void);
KovKeyInfo *kov_keyinfo_copy(const KovKeyInfo *info);
void kov_keyinfo_free(gpointer info);   /* a GDestroyNotify */
static inline void kov_keyinfo_free_ptr(KovKeyInfo *info) { kov_keyinfo_free(info); }
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovKeyInfo, kov_keyinfo_free_ptr)

/* The answer to "which key for this recipient?". */
typedef struct {
	KovKeyStatus status;
	/* NONE when usable; NOT_FOUND or NOT_A_KEY_ID when nothing answered;
	 * else the problem of the best candidate. */
	KovKeyProblem problem;
	char *detail;             /* the reason for the log, NULL when usable (owned) */
	GPtrArray *candidates;    /* of KovKeyInfo* (owned), in gpg's order */
	int chosen;               /* index of the key used (status usable), else -1 */
	KovKeySource source;
	char *keydir;             /* the keys directory consulted; NULL: none (owned) */
	char *keydir_file;        /* KEYDIR: the accepted file's name (owned) */
	char *keydir_subkey;      /* KEYDIR: the encryption subkey its file chose (owned) */
	char *keydir_refused;     /* the address's file was refused: why, in words; NULL: it was
	                           * not (owned) */
} KovKeyLookup;

KovKeyLookup *kov_keyinfo_lookup_new(void);
void kov_keyinfo_lookup_free(KovKeyLookup *lookup);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovKeyLookup, kov_keyinfo_lookup_free)
/* The chosen candidate, or NULL. (borrowed from @lookup) */
const KovKeyInfo *kov_keyinfo_lookup_chosen(const KovKeyLookup *lookup);

/* Where a signing key came from. */
typedef enum {
	KOV_SIGNER_NONE,          /* none at all: encrypted copies go unsigned, signed ones fail */
	KOV_SIGNER_CONFIGURED,    /* the queue's key (or, in the Kuvert queue, key= in From) */
	KOV_SIGNER_SENDER,        /* the From address's own secret key */
	KOV_SIGNER_DEFAULTKEY,
} KovSignerSource;

/* "none", "configured", "sender", "defaultkey". */
const char *kov_keyinfo_signer_name(KovSignerSource source);
