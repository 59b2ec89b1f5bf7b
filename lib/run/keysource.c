/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The snapshot a mail starts with (keysource.h). One KovKeydir per
 * directory per process, so a file whose bytes were checked before costs
 * no gpg run (the check cache, keydir.c). */
#include "keysource.h"

#include "error.h"

#include <string.h>

static GMutex keysource_lock;
static GHashTable *keysource_dirs;  /* dir -> KovKeydir* */
static KovKeys *keysource_keys;     /* the KovKeys they were made on (borrowed) */

char *
kov_keysource_snapdir(const KovConfig *config, const char *dir)
{
	g_return_val_if_fail(config != NULL && config->queuedir != NULL && dir != NULL, NULL);
	g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, dir, -1);
	sum[16] = '\0';
	return g_build_filename(config->queuedir, ".keydir", sum, NULL);
}

void
kov_keysource_reset(void)
{
	g_mutex_lock(&keysource_lock);
	g_clear_pointer(&keysource_dirs, g_hash_table_unref);
	keysource_keys = NULL;
	g_mutex_unlock(&keysource_lock);
}

static void
keysource_free(gpointer kd)
{
	kov_keydir_free(kd);
}

KovKeydirSnapshot *
kov_keysource_current(const KovConfig *config, KovKeys *keys, const char *dir, gboolean *published,
                      GError **error)
{
	g_return_val_if_fail(config != NULL && keys != NULL && dir != NULL, NULL);
	if (published != NULL)
		*published = FALSE;

	g_mutex_lock(&keysource_lock);
	if (keysource_dirs == NULL || keysource_keys != keys) {
		g_clear_pointer(&keysource_dirs, g_hash_table_unref);
		keysource_dirs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, keysource_free);
		keysource_keys = keys;
	}
	KovKeydir *kd = g_hash_table_lookup(keysource_dirs, dir);
	if (kd == NULL) {
		g_autofree char *snapdir = kov_keysource_snapdir(config, dir);
		kd = kov_keydir_new(keys, dir, snapdir, error);
		if (kd == NULL) {
			g_mutex_unlock(&keysource_lock);
			return NULL;
		}
		g_hash_table_insert(keysource_dirs, g_strdup(dir), kd);
	}
	gboolean ok = kov_keydir_load(kd, error);
	KovKeydirSnapshot *snap = ok ? kov_keydir_current(kd) : NULL;
	g_mutex_unlock(&keysource_lock);
	if (!ok)
		g_prefix_error(error, "keydir %s: ", dir);
	return snap;
}

gboolean
kov_keysource_hides(const char *fpr, gpointer data)
{
	KovKeydirSnapshot *snap = data;
	if (snap == NULL || fpr == NULL)
		return FALSE;
	g_autoptr(GPtrArray) entries = kov_keydir_snapshot_entries(snap);
	for (guint i = 0; i < entries->len; i++) {
		const KovKeydirEntry *e = g_ptr_array_index(entries, i);
		if (g_ascii_strcasecmp(e->fingerprint, fpr) == 0)
			return TRUE;
	}
	return FALSE;
}

const char *
kov_keysource_refusal(KovKeydirSnapshot *snap, const char *address)
{
	g_return_val_if_fail(snap != NULL && address != NULL, NULL);
	const GPtrArray *refused = kov_keydir_snapshot_refused(snap);
	for (guint i = 0; i < refused->len; i++) {
		const KovKeydirRefusal *r = g_ptr_array_index(refused, i);
		g_autofree char *addr = NULL, *why = NULL;
		if (kov_keydir_parse_name(r->file, &addr, &why) != KOV_KEYDIR_NAME_IGNORED && addr != NULL
		    && g_ascii_strcasecmp(addr, address) == 0)
			return r->reason;
	}
	return NULL;
}
