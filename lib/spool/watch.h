/* SPDX-License-Identifier: GPL-3.0-or-later */
/* inotify on each queue's new/ directory and on the Kuvert queue. Watch
 * first, scan second: the caller scans new/ after kov_watch_new() or
 * kov_watch_set_queues() so nothing falls between. */
#pragma once
#include <glib.h>
#include "queue.h"

typedef struct _KovWatch KovWatch;

/* Called for each file that arrived in a new/ directory: @queue is the
 * queue's name (KOV_QUEUE_KUVERT_NAME for the Kuvert queue). */
typedef void (*KovWatchFunc)(const char *queue, const char *name, gpointer user_data);

/* Watch the Kuvert queue and the new/ of each of @queues (of
 * KovQueueConfig*; NULL: the three built-ins). */
KovWatch *kov_watch_new(const char *queuedir, const GPtrArray *queues, GError **error);
void kov_watch_free(KovWatch *watch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovWatch, kov_watch_free)

/* Watch exactly the Kuvert queue and @queues from now on (a reload): new
 * ones are added, those no longer in @queues dropped. FALSE with @error
 * when one cannot be watched (the others still are). */
gboolean kov_watch_set_queues(KovWatch *watch, const GPtrArray *queues, GError **error);

/* The descriptor to poll for POLLIN. */
int kov_watch_fd(KovWatch *watch);

/* Read the pending events without blocking and report arrivals. *overflow
 * is set when the kernel dropped events (IN_Q_OVERFLOW): rescan new/. */
gboolean kov_watch_read(KovWatch *watch, KovWatchFunc func, gpointer user_data,
                        gboolean *overflow, GError **error);
