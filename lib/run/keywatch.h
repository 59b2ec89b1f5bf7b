/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The watcher's keys directories (issue 14): every distinct keydir of the
 * configuration (global, [queue NAME], [client NAME]) loaded, imported and
 * published (lib/gpg/keydir.h) at the start, at a reload, ~200 ms after
 * the last inotify event in it (a `git checkout` that deletes then writes
 * a file is one load, no gap), and every keydir-rescan seconds (file
 * systems without events). A file that was modified and not closed yet
 * keeps its previous state; at a rescan, so does one changed less than
 * 2 s ago. Keys koverto imported and no file uses any more are deleted
 * from the keyring after a grace of 2 x mail-timeout or 1 h, whichever is
 * longer. Only the daemon's main process runs this; workers read the
 * manifests. */
#pragma once
#include <glib.h>
#include "config.h"

typedef struct _KovKeywatch KovKeywatch;

/* The keydirs of @config, each loaded once (a failure is logged, and that
 * directory is tried again at each rescan). NULL with @error only when
 * inotify or the keyring cannot be set up. No keydir: a watcher that does
 * nothing (fd -1). */
KovKeywatch *kov_keywatch_new(const KovConfig *config, GError **error);
void kov_keywatch_free(KovKeywatch *kw);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovKeywatch, kov_keywatch_free)

/* A reload: @config's keydirs from now on, each loaded again. */
void kov_keywatch_configure(KovKeywatch *kw, const KovConfig *config);

/* The descriptor to poll for POLLIN; -1: none. */
int kov_keywatch_fd(KovKeywatch *kw);
/* Read the pending events (non-blocking) and schedule the loads. */
void kov_keywatch_read(KovKeywatch *kw);
/* @timeout (ms), or less when a load, rescan or tidy is due sooner. */
gint64 kov_keywatch_timeout_ms(KovKeywatch *kw, gint64 timeout);
/* Run what is due. */
void kov_keywatch_tick(KovKeywatch *kw);

/* Every distinct keydir @config names, sorted. (transfer full) */
char **kov_keywatch_dirs(const KovConfig *config);
