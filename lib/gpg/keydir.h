/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Keys from a directory (issue 14): the verified keys operators keep in
 * git, one armored file per address, `ADDRESS.asc`. Each file is checked
 * once per change (gpg lists it without importing it): exactly one public
 * key, a user ID with the file's address, not revoked, disabled or
 * invalid, a live encryption subkey. Accepted bytes are copied to a
 * snapshot named by their SHA-256, which is what gpg reads at send time
 * (`--file`), never the file git may be rewriting. A load makes a new
 * immutable snapshot of the whole map and swaps it in; a mail holds a
 * reference to the one it started with. */
#pragma once
#include <glib.h>

#include "keys.h"

/* Bigger files are refused unread: a public key with a few user IDs and
 * subkeys is a few KiB; a 1 MiB "key" is a mistake or an attack. */
#define KOV_KEYDIR_MAX_FILE (1024 * 1024)

/* ---- file names (a pure function) ------------------------------------- */

typedef enum {
	KOV_KEYDIR_NAME_KEY,      /* ADDRESS.asc with a usable address */
	KOV_KEYDIR_NAME_IGNORED,  /* not a key file: README, .git, an editor's .swp */
	KOV_KEYDIR_NAME_REFUSED,  /* meant as a key file, but its name is wrong */
} KovKeydirName;

/* What directory entry @name is. For KEY, *@address (transfer full) is
 * its address in lower case; for REFUSED, *@reason (transfer full) says
 * why in words. Only `.asc` files are keys (armored: diffable in git, and
 * the snapshot keeps the same form); `.gpg`, `.pgp` and `.key` files are
 * refused with the reason, names starting with a dot and all others are
 * ignored. The address is an unquoted local@domain that
 * kov_address_is_sane() accepts, without '/', "..", a '.' at either end
 * of the local part or the domain, whitespace or control characters. */
KovKeydirName kov_keydir_parse_name(const char *name, char **address, char **reason);

/* ---- the snapshot ------------------------------------------------------ */

/* One accepted file. */
typedef struct {
	char *address;       /* lower case: the map's key */
	char *file;          /* the name in the directory */
	char *snapshot;      /* <snapshot dir>/<sha256>.asc: give this to gpg */
	char *sha256;        /* of the file's bytes, lower-case hex */
	char *fingerprint;   /* of the primary key */
	char *subkey;        /* fingerprint of the encryption subkey gpg uses */
	gint64 expires;      /* unix seconds the key stops encrypting (that subkey
	                      * or the primary, the earlier); 0: never */
} KovKeydirEntry;

/* One refused file. */
typedef struct {
	char *file;          /* the name in the directory (may be hostile: escape it to show) */
	char *reason;        /* in words */
} KovKeydirRefusal;

/* The result of one load, immutable, reference counted: safe to read from
 * any thread while a reference is held. */
typedef struct _KovKeydirSnapshot KovKeydirSnapshot;

KovKeydirSnapshot *kov_keydir_snapshot_ref(KovKeydirSnapshot *snap);
void kov_keydir_snapshot_unref(KovKeydirSnapshot *snap);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovKeydirSnapshot, kov_keydir_snapshot_unref)

/* The entry for @address (any case), or NULL: no accepted file for it.
 * (borrowed, valid while @snap lives) */
const KovKeydirEntry *kov_keydir_snapshot_lookup(KovKeydirSnapshot *snap, const char *address);
/* Every accepted entry, sorted by address. (transfer container: free the
 * array, not the entries; valid while @snap lives) */
GPtrArray *kov_keydir_snapshot_entries(KovKeydirSnapshot *snap);
/* The refused files (KovKeydirRefusal*), sorted by name. (borrowed) */
const GPtrArray *kov_keydir_snapshot_refused(KovKeydirSnapshot *snap);

/* ---- the directory ----------------------------------------------------- */

typedef struct _KovKeydir KovKeydir;

/* Keys of directory @dir, snapshots and the check cache in @snapdir
 * (koverto's own: made with mode 0700 when missing). gpg runs on @keys'
 * engine and home; it only lists, never imports. No load yet: the
 * current snapshot is empty. */
KovKeydir *kov_keydir_new(KovKeys *keys, const char *dir, const char *snapdir, GError **error);
void kov_keydir_free(KovKeydir *kd);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovKeydir, kov_keydir_free)

/* Read the directory again, check what changed (a file whose bytes were
 * checked before, in this process or, through @snapdir, a previous one,
 * costs no gpg run) and swap the new snapshot in. Files are refused one
 * by one; FALSE with @error only when the directory cannot be read or a
 * snapshot cannot be written (from errno: KOV_ERROR_IOERR, a full disk
 * KOV_ERROR_TEMPFAIL) or gpg cannot run (KOV_ERROR_TEMPFAIL): the current
 * snapshot then stays. One thread loads at a time; kov_keydir_current()
 * may be called from any thread meanwhile. Snapshot files are never
 * removed here (kov_keydir_prune() does): a mail in flight may still read
 * an old one. */
gboolean kov_keydir_load(KovKeydir *kd, GError **error);

/* Remove the snapshot and facts files of @snapdir whose bytes the
 * current snapshot did not read (no file in the directory has them now)
 * and that were last written more than @grace seconds ago: a mail that
 * started with an older snapshot may still be reading one, so @grace is
 * longer than a mail takes. The number of files removed; @error (from
 * errno) when @snapdir cannot be read or a file not removed. */
guint kov_keydir_prune(KovKeydir *kd, gint64 grace, GError **error);

/* The current snapshot. (transfer full: unref it when the mail is done) */
KovKeydirSnapshot *kov_keydir_current(KovKeydir *kd);

/* How many times gpg was run to check a file, since kov_keydir_new(). */
guint kov_keydir_gpg_runs(KovKeydir *kd);
