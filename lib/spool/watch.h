/* SPDX-License-Identifier: GPL-3.0-or-later */
/* inotify on each policy queue's new/ directory. Watch first, scan second:
 * the caller scans new/ after kov_watch_new() so nothing falls between. */
#pragma once
#include <glib.h>
#include "queue.h"

typedef struct _KovWatch KovWatch;

/* Called for each file that arrived in a new/ directory. */
typedef void (*KovWatchFunc)(KovQueueKind kind, const char *name, gpointer user_data);

KovWatch *kov_watch_new(const char *queuedir, GError **error);
void kov_watch_free(KovWatch *watch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovWatch, kov_watch_free)

/* The descriptor to poll for POLLIN. */
int kov_watch_fd(KovWatch *watch);

/* Read the pending events without blocking and report arrivals. *overflow
 * is set when the kernel dropped events (IN_Q_OVERFLOW): rescan new/. */
gboolean kov_watch_read(KovWatch *watch, KovWatchFunc func, gpointer user_data,
                        gboolean *overflow, GError **error);
