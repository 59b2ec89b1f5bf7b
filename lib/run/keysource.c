/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The snapshot a mail starts with (keysource.h): per directory, the last
 * manifest read and the stat of its file, so a mail costs one stat() when
 * nothing changed. */
#include "keysource.h"

#include "error.h"
#include "keywatch.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
	struct stat st;               /* of <snapdir>/current when read */
	KovKeydirSnapshot *snap;      /* (owned) */
} KeysourceSeen;

static GMutex keysource_lock;
static GHashTable *keysource_seen;  /* dir -> KeysourceSeen* */
static gboolean keysource_explain;

char *
kov_keysource_snapdir(const KovConfig *config, const char *dir)
{
	g_return_val_if_fail(config != NULL && config->queuedir != NULL && dir != NULL, NULL);
	return kov_keydir_snapdir_for(config->queuedir, dir);
}

void
kov_keysource_set_explain(gboolean explain)
{
	keysource_explain = explain;
}

static void
keysource_seen_free(gpointer data)
{
	KeysourceSeen *seen = data;
	kov_keydir_snapshot_unref(seen->snap);
	g_free(seen);
}

void
kov_keysource_reset(void)
{
	g_mutex_lock(&keysource_lock);
	g_clear_pointer(&keysource_seen, g_hash_table_unref);
	g_mutex_unlock(&keysource_lock);
}

/* explain, nothing published: the directory read here, its snapshots in a
 * scratch directory removed at once (nothing is imported). */
static KovKeydirSnapshot *
keysource_load_here(KovKeys *keys, const char *dir, GError **error)
{
	g_autofree char *scratch = g_dir_make_tmp("koverto-keydir-XXXXXX", error);
	if (scratch == NULL)
		return NULL;
	KovKeydirSnapshot *snap = NULL;
	g_autoptr(KovKeydir) kd = kov_keydir_new(keys, dir, scratch, error);
	if (kd != NULL && kov_keydir_load(kd, error))
		snap = kov_keydir_current(kd);
	g_autoptr(GDir) d = g_dir_open(scratch, 0, NULL);
	for (const char *name; d != NULL && (name = g_dir_read_name(d)) != NULL;) {
		g_autofree char *path = g_build_filename(scratch, name, NULL);
		(void)g_unlink(path);
	}
	(void)g_rmdir(scratch);
	return snap;
}

static gboolean
keysource_stat_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static KovKeydirSnapshot *keysource_current(const KovConfig *config, KovKeys *keys, const char *dir,
                                            gboolean *published, GError **error);

/* Whatever went wrong, the mail waits (and never goes out without the
 * directory's answer). */
KovKeydirSnapshot *
kov_keysource_current(const KovConfig *config, KovKeys *keys, const char *dir, gboolean *published,
                      GError **error)
{
	g_autoptr(GError) why = NULL;
	KovKeydirSnapshot *snap = keysource_current(config, keys, dir, published, &why);
	if (snap == NULL && why != NULL) {
		why->domain = KOV_ERROR;
		why->code = KOV_ERROR_TEMPFAIL;
		g_propagate_error(error, g_steal_pointer(&why));
	}
	return snap;
}

static KovKeydirSnapshot *
keysource_current(const KovConfig *config, KovKeys *keys, const char *dir, gboolean *published,
                  GError **error)
{
	g_return_val_if_fail(config != NULL && keys != NULL && dir != NULL, NULL);
	if (published != NULL)
		*published = TRUE;
	g_autofree char *snapdir = kov_keysource_snapdir(config, dir);
	g_autofree char *manifest = g_build_filename(snapdir, "current", NULL);
	struct stat st;
	gboolean there = stat(manifest, &st) == 0;
	int err = errno;

	g_mutex_lock(&keysource_lock);
	if (keysource_seen == NULL)
		keysource_seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, keysource_seen_free);
	KeysourceSeen *seen = g_hash_table_lookup(keysource_seen, dir);
	KovKeydirSnapshot *snap = NULL;
	if (there && seen != NULL && keysource_stat_same(&seen->st, &st)) {
		snap = kov_keydir_snapshot_ref(seen->snap);
	} else if (there) {
		/* Replaced by rename between the stat and the read: the next
		 * mail's stat differs from this one and reads it again. */
		snap = kov_keydir_snapshot_read(snapdir, error);
		if (snap != NULL) {
			KeysourceSeen *now = g_new0(KeysourceSeen, 1);
			now->st = st;
			now->snap = kov_keydir_snapshot_ref(snap);
			g_hash_table_replace(keysource_seen, g_strdup(dir), now);
		}
	}
	g_mutex_unlock(&keysource_lock);

	if (snap != NULL || there) {
		if (snap == NULL)
			g_prefix_error(error, "keydir %s: ", dir);
		return snap;
	}
	if (keysource_explain && (err == ENOENT || err == ENOTDIR)) {
		if (published != NULL)
			*published = FALSE;
		snap = keysource_load_here(keys, dir, error);
		if (snap == NULL)
			g_prefix_error(error, "keydir %s: ", dir);
		return snap;
	}
	if (err == ENOENT || err == ENOTDIR)
		g_set_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL,
		            "keydir %s: not published by the daemon yet (%s)", dir, manifest);
	else
		kov_error_set_errno(error, err, "keydir %s: %s", dir, manifest);
	return NULL;
}

gboolean
kov_keysource_hides(const char *fpr, gpointer data)
{
	return data != NULL && fpr != NULL && kov_keydir_snapshot_hides(data, fpr);
}

/* The manifests of keys directories the configuration no longer names (a
 * reload or restart dropped them): their keys stay in the keyring, and
 * nothing retires them now, so they stay hidden (never used through the
 * keyring for an address they were not verified for, nor after their
 * file was replaced). Rare: read without a cache. */
static void
keysource_add_dropped(const KovConfig *config, char **dirs, GPtrArray *all)
{
	g_autofree char *top = g_build_filename(config->queuedir, ".keydir", NULL);
	g_autoptr(GDir) d = g_dir_open(top, 0, NULL);
	if (d == NULL)
		return;
	g_autoptr(GHashTable) named = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	for (char **dir = dirs; *dir != NULL; dir++) {
		g_autofree char *snapdir = kov_keysource_snapdir(config, *dir);
		g_hash_table_add(named, g_path_get_basename(snapdir));
	}
	for (const char *name; (name = g_dir_read_name(d)) != NULL;) {
		if (name[0] == '.' || g_hash_table_contains(named, name))
			continue;
		g_autofree char *snapdir = g_build_filename(top, name, NULL);
		g_autofree char *manifest = g_build_filename(snapdir, "current", NULL);
		struct stat st;
		if (lstat(manifest, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		KovKeydirSnapshot *snap = kov_keydir_snapshot_read(snapdir, NULL);
		if (snap != NULL)
			g_ptr_array_add(all, snap);
	}
}

GPtrArray *
kov_keysource_all(const KovConfig *config, KovKeys *keys)
{
	g_return_val_if_fail(config != NULL && keys != NULL, NULL);
	GPtrArray *all = g_ptr_array_new_with_free_func((GDestroyNotify)kov_keydir_snapshot_unref);
	g_auto(GStrv) dirs = kov_keywatch_dirs(config);
	for (char **dir = dirs; *dir != NULL; dir++) {
		g_autofree char *snapdir = kov_keysource_snapdir(config, *dir);
		g_autofree char *manifest = g_build_filename(snapdir, "current", NULL);
		/* explain never reads a directory here: a published one or none. */
		if (!g_file_test(manifest, G_FILE_TEST_EXISTS))
			continue;
		KovKeydirSnapshot *snap = keysource_current(config, keys, *dir, NULL, NULL);
		if (snap != NULL)
			g_ptr_array_add(all, snap);
	}
	keysource_add_dropped(config, dirs, all);
	return all;
}

gboolean
kov_keysource_hides_any(const char *fpr, gpointer data)
{
	GPtrArray *all = data;
	for (guint i = 0; all != NULL && i < all->len; i++)
		if (kov_keysource_hides(fpr, all->pdata[i]))
			return TRUE;
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
