/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Where a worker and `koverto explain` get the keys of a keys directory
 * (issue 14, keydir.h): the manifest the watcher published, never the
 * directory itself. A snapshot is immutable; the mail that starts with one
 * keeps its reference until it is done (the planner holds it), so mail in
 * flight keeps its key whatever the directory does meanwhile. */
#pragma once
#include <glib.h>

#include "config.h"
#include "keydir.h"
#include "keys.h"

/* The watcher's files for keys directory @dir:
 * <queuedir>/.keydir/<first 16 hex digits of the SHA-256 of @dir>/.
 * (transfer full) */
char *kov_keysource_snapdir(const KovConfig *config, const char *dir);

/* `koverto explain` calls this once: a directory the watcher has not
 * published yet is then read here, in memory, without importing, instead
 * of being a temporary failure. */
void kov_keysource_set_explain(gboolean explain);

/* The current snapshot of keys directory @dir: the watcher's manifest,
 * read again when its file changed (device, inode, mtime, size), checked
 * at each call (each mail's start). *@published (nullable out): FALSE when
 * explain read the directory itself. NULL with @error when there is none
 * to be had (not published yet, unreadable, malformed: TEMPFAIL, the
 * mail waits). (transfer full) */
KovKeydirSnapshot *kov_keysource_current(const KovConfig *config, KovKeys *keys, const char *dir,
                                         gboolean *published, GError **error);

/* Is @fpr a key koverto took from the directory of snapshot @snap (a
 * KovKeysHiddenFunc: the keyring look-ups skip it)? */
gboolean kov_keysource_hides(const char *fpr, gpointer snap);

/* The published snapshots of every keys directory @config names (of
 * KovKeydirSnapshot*, owned references; one that cannot be read is left
 * out): a key koverto took from any of them is hidden from the keyring
 * look-ups of every queue, not only of those that use that directory.
 * The manifests of directories it no longer names (dropped by a reload)
 * are added too: their keys stay hidden. (transfer full) */
GPtrArray *kov_keysource_all(const KovConfig *config, KovKeys *keys);
/* kov_keysource_hides() over such an array (a KovKeysHiddenFunc). */
gboolean kov_keysource_hides_any(const char *fpr, gpointer snapshots);

/* The reason @address's file in @snap was refused, or NULL. (borrowed
 * from @snap) */
const char *kov_keysource_refusal(KovKeydirSnapshot *snap, const char *address);

/* Forget the manifests read in this process (tests). */
void kov_keysource_reset(void);
