/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Where a worker and `koverto explain` get the keys of a keys directory
 * (issue 14, keydir.h): the one place between them and the watcher. A
 * snapshot is immutable; the mail that starts with one keeps its reference
 * until it is done (the planner holds it), so mail in flight keeps its key
 * whatever the directory does meanwhile. */
#pragma once
#include <glib.h>

#include "config.h"
#include "keydir.h"
#include "keys.h"

/* The watcher's files for keys directory @dir:
 * <queuedir>/.keydir/<first 16 hex digits of the SHA-256 of @dir>/.
 * (transfer full) */
char *kov_keysource_snapdir(const KovConfig *config, const char *dir);

/* The current snapshot of keys directory @dir, checked at each call (each
 * mail's start). *@published (nullable out): TRUE when it is what the
 * watcher published, FALSE when it was loaded here, in memory (explain
 * says so). NULL with @error (KOV_ERROR_TEMPFAIL or IOERR) when it cannot
 * be had: the mail waits. (transfer full)
 *
 * Until the watcher's manifest (kov_keydir_snapshot_read) is merged, this
 * loads @dir in this process through kov_keydir_load() on @keys, without
 * importing: the keys must be in the keyring already. */
KovKeydirSnapshot *kov_keysource_current(const KovConfig *config, KovKeys *keys, const char *dir,
                                         gboolean *published, GError **error);

/* Does @snap say that @fpr is a key koverto took from the directory, which
 * the keyring look-ups must skip (a KovKeysHiddenFunc with the snapshot as
 * its data)? Until the watcher's manifest is merged: every fingerprint of
 * an accepted entry. */
gboolean kov_keysource_hides(const char *fpr, gpointer snap);

/* The reason @address's file in @snap was refused, or NULL. (borrowed
 * from @snap) */
const char *kov_keysource_refusal(KovKeydirSnapshot *snap, const char *address);

/* Forget the directories loaded in this process (tests). */
void kov_keysource_reset(void);
