/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Keys from a directory (issue 14): the verified keys operators keep in
 * git, one armored file per address, `ADDRESS.asc`. Each file is checked
 * once per change (gpg lists it without importing it): exactly one public
 * key, a user ID with the file's address, not revoked, disabled or
 * invalid, a live encryption subkey. Accepted bytes are copied to a
 * snapshot named by their SHA-256, which is what gpg reads at send time
 * (`--file`), never the file git may be rewriting. A load makes a new
 * immutable snapshot of the whole map and swaps it in; a mail holds a
 * reference to the one it started with. The daemon's watcher alone
 * (kov_keydir_update) also imports accepted keys into the GnuPG home with
 * only their file's address as user ID and publishes the snapshot as a
 * manifest; workers read that (kov_keydir_snapshot_read), never the
 * directory. */
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

/* ---- the watcher's side (issue 14): import, publish, retire ------------- */

/* Where the watcher keeps the snapshots and the manifest of keydir @dir:
 * <queuedir>/.keydir/<first 16 hex digits of the SHA-256 of @dir>.
 * (transfer full) */
char *kov_keydir_snapdir_for(const char *queuedir, const char *dir);

/* Take over what the manifest a previous run published says: its keys
 * (current until the first update) and its record of the keys koverto
 * imported. No manifest: nothing. FALSE with @error when the manifest is
 * there but unreadable or malformed. Call once, right after _new(). */
gboolean kov_keydir_resume(KovKeydir *kd, GError **error);

/* Forget which keys koverto imported: the keyring is another one now (a
 * reload changed gnupghome); every key is imported into it again, and
 * none of the old one's is hidden or deleted. */
void kov_keydir_disown(KovKeydir *kd);

/* The watcher's load: read the directory (the names in @hold, a set of
 * file names, and the files changed less than @young seconds ago keep
 * their previous state: a writer may still be writing them), import each
 * accepted key into the GnuPG home with only the user ID of its file's
 * address (gpg's import filter keep-uid), recording the keys the keyring
 * did not have before as koverto's (published before the import), mark
 * koverto's keys no entry uses any more as retired, and publish the
 * manifest, then swap the snapshot in. Logs "keydir loaded" when the
 * manifest changed (*@changed), "keydir refused" for each refusal that is
 * new or says something new, "keydir retired". FALSE with @error as
 * kov_keydir_load(), or when gpg cannot import: the published manifest
 * then stays. */
gboolean kov_keydir_update(KovKeydir *kd, GHashTable *hold, gint64 young, gboolean *changed,
                           GError **error);

/* Delete from the keyring the keys koverto imported that were retired at
 * least @grace seconds before @now (a key the keyring had before is never
 * koverto's, never deleted), publish, and prune the snapshot files with
 * the same grace. Logs "keydir deleted". */
gboolean kov_keydir_tidy(KovKeydir *kd, gint64 now, gint64 grace, GError **error);

/* Publish the current snapshot: <snapdir>/current, written atomically,
 * unless it would say what the last one said. */
gboolean kov_keydir_publish(KovKeydir *kd, GError **error);

/* ---- the workers' side: the published manifest --------------------------- */

/* The snapshot the watcher published in @snapdir. No manifest yet: an
 * empty snapshot that kov_keydir_snapshot_published() says is not
 * published. NULL with @error when it cannot be read or is malformed (the
 * reader is strict: anything the writer would not write is refused).
 * (transfer full) */
KovKeydirSnapshot *kov_keydir_snapshot_read(const char *snapdir, GError **error);
/* The same from @len bytes of @text (the fuzz target's entry). */
KovKeydirSnapshot *kov_keydir_manifest_parse(const char *snapdir, const char *text, gsize len,
                                             GError **error);

/* @snap as the manifest that says it (what the watcher writes).
 * (transfer full) */
char *kov_keydir_snapshot_dump(KovKeydirSnapshot *snap);

/* @fpr (a primary key's fingerprint, any case) is a key koverto imported
 * from the keydir: keyring look-ups must not return it, for any address. */
gboolean kov_keydir_snapshot_hides(KovKeydirSnapshot *snap, const char *fpr);
/* FALSE: read when nothing was published yet. */
gboolean kov_keydir_snapshot_published(KovKeydirSnapshot *snap);
/* The manifest's generation: one more at each change. */
guint64 kov_keydir_snapshot_generation(KovKeydirSnapshot *snap);
/* Since when koverto's key @fpr is retired (unix seconds), 0 when in use,
 * -1 when it is not koverto's. */
gint64 kov_keydir_snapshot_retired(KovKeydirSnapshot *snap, const char *fpr);
