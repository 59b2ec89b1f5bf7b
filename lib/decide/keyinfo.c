/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Key look-up results as plain data (keyinfo.h). Names of statuses and
 * problems live here, once, because `koverto explain --json` prints them
 * and programs read them: they are part of its documented output. */
#include "keyinfo.h"

static const char *const status_names[] = {
	[KOV_KEY_USABLE] = "usable",
	[KOV_KEY_MISSING] = "missing",
	[KOV_KEY_NOT_VALID] = "not-valid",
	[KOV_KEY_UNUSABLE] = "unusable",
};

static const char *const problem_names[] = {
	[KOV_KEY_PROBLEM_NONE] = "none",
	[KOV_KEY_PROBLEM_NOT_FOUND] = "not-found",
	[KOV_KEY_PROBLEM_NOT_A_KEY_ID] = "not-a-key-id",
	[KOV_KEY_PROBLEM_EXPIRED] = "expired",
	[KOV_KEY_PROBLEM_REVOKED] = "revoked",
	[KOV_KEY_PROBLEM_DISABLED] = "disabled",
	[KOV_KEY_PROBLEM_INVALID] = "invalid",
	[KOV_KEY_PROBLEM_NO_ENCRYPTION_SUBKEY] = "no-encryption-subkey",
	[KOV_KEY_PROBLEM_ENCRYPTION_SUBKEY_DEAD] = "encryption-subkey-unusable",
	[KOV_KEY_PROBLEM_USER_ID_REVOKED] = "user-id-revoked",
	[KOV_KEY_PROBLEM_USER_ID_INVALID] = "user-id-invalid",
	[KOV_KEY_PROBLEM_NOT_VALID] = "not-valid",
	[KOV_KEY_PROBLEM_CANNOT_SIGN] = "cannot-sign",
	[KOV_KEY_PROBLEM_NOT_IN_KEYDIR] = "not-in-keydir",
};

static const char *const source_names[] = {
	[KOV_KEY_SOURCE_KEYRING] = "keyring",
	[KOV_KEY_SOURCE_KEYDIR] = "keydir",
};

static const char *const signer_names[] = {
	[KOV_SIGNER_NONE] = "none",
	[KOV_SIGNER_CONFIGURED] = "configured",
	[KOV_SIGNER_SENDER] = "sender",
	[KOV_SIGNER_DEFAULTKEY] = "defaultkey",
};

const char *
kov_keyinfo_status_name(KovKeyStatus status)
{
	g_return_val_if_fail((guint)status < G_N_ELEMENTS(status_names), "invalid");
	return status_names[status];
}

const char *
kov_keyinfo_problem_name(KovKeyProblem problem)
{
	g_return_val_if_fail((guint)problem < G_N_ELEMENTS(problem_names), "invalid");
	return problem_names[problem];
}

const char *
kov_keyinfo_source_name(KovKeySource source)
{
	g_return_val_if_fail((guint)source < G_N_ELEMENTS(source_names), "invalid");
	return source_names[source];
}

const char *
kov_keyinfo_signer_name(KovSignerSource source)
{
	g_return_val_if_fail((guint)source < G_N_ELEMENTS(signer_names), "invalid");
	return signer_names[source];
}

KovKeyInfo *
kov_keyinfo_new(void)
{
	KovKeyInfo *info = g_new0(KovKeyInfo, 1);
	info->validity = "unknown";
	return info;
}

KovKeyInfo *
kov_keyinfo_copy(const KovKeyInfo *info)
{
	g_return_val_if_fail(info != NULL, NULL);
	KovKeyInfo *copy = g_memdup2(info, sizeof *info);
	copy->fingerprint = g_strdup(info->fingerprint);
	copy->user_id = g_strdup(info->user_id);
	copy->detail = g_strdup(info->detail);
	return copy;
}

void
kov_keyinfo_free(gpointer data)
{
	KovKeyInfo *info = data;
	if (info == NULL)
		return;
	g_free(info->fingerprint);
	g_free(info->user_id);
	g_free(info->detail);
	g_free(info);
}

KovKeyLookup *
kov_keyinfo_lookup_new(void)
{
	KovKeyLookup *lookup = g_new0(KovKeyLookup, 1);
	lookup->status = KOV_KEY_MISSING;
	lookup->problem = KOV_KEY_PROBLEM_NOT_FOUND;
	lookup->candidates = g_ptr_array_new_with_free_func(kov_keyinfo_free);
	lookup->chosen = -1;
	return lookup;
}

void
kov_keyinfo_lookup_free(KovKeyLookup *lookup)
{
	if (lookup == NULL)
		return;
	g_free(lookup->detail);
	g_free(lookup->keydir);
	g_free(lookup->keydir_file);
	g_free(lookup->keydir_subkey);
	g_free(lookup->keydir_refused);
	g_ptr_array_unref(lookup->candidates);
	g_free(lookup);
}

const KovKeyInfo *
kov_keyinfo_lookup_chosen(const KovKeyLookup *lookup)
{
	g_return_val_if_fail(lookup != NULL, NULL);
	if (lookup->chosen < 0 || (guint)lookup->chosen >= lookup->candidates->len)
		return NULL;
	return g_ptr_array_index(lookup->candidates, lookup->chosen);
}
