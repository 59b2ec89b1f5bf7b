/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Handing a new mail over to a queue, the one way every writer does it
 * (koverto submit, the listener): the mail is written into a file with
 * no name (O_TMPFILE) in the queue's tmp/, so that a failure, a refusal
 * or a kill -9 half-way leaves nothing behind; on commit it is fsynced,
 * named in tmp/ and renamed into new/ (what the watcher's inotify sees),
 * or linked under a fresh all-digit name into the Kuvert queue (never
 * over an existing file), and the directory is fsynced. Where O_TMPFILE
 * is missing, a named file is used and removed on every failure.
 *
 *   KovQueueWriter *w = kov_queue_writer_new(queuedir, queue, &error);
 *   ok = w && kov_queue_writer_write(w, data, len, &error)
 *        && kov_queue_writer_commit(w, &error);
 *   kov_queue_writer_free(w);   // not committed: nothing is left
 */
#pragma once
#include <glib.h>

typedef struct _KovQueueWriter KovQueueWriter;

/* A name no other mail of this host has, for @queue (NULL: any Maildir):
 * Maildir's time, microseconds, pid, delivery counter (Q), a random part
 * and the host; for the Kuvert queue, digits only. A safe name either way
 * (kov_queue_is_safe_name, kov_queue_is_kuvert_name). */
char *kov_queue_new_name(const char *queue);

/* A new mail for @queue (a queue name, or KOV_QUEUE_KUVERT_NAME) under
 * @queuedir, whose directories exist. NULL with @error (KOV_ERROR_TEMPFAIL
 * for a full disk, KOV_ERROR_CANTCREAT otherwise) when no file can be
 * created; KOV_ERROR_CONFIG for a queue name that is no directory name. */
KovQueueWriter *kov_queue_writer_new(const char *queuedir, const char *queue, GError **error);

gboolean kov_queue_writer_write(KovQueueWriter *w, const void *data, gsize len, GError **error);

/* The file written so far, to read back with pread() (it stays the
 * writer's), and a name for it in messages. */
int kov_queue_writer_fd(const KovQueueWriter *w);
const char *kov_queue_writer_name(const KovQueueWriter *w);

/* fsync, name and hand over; the mail is then the queue's. FALSE with
 * @error leaves nothing in the queue, unless the daemon had claimed it
 * already (only the directory's fsync failed): then it is in its hands,
 * and this returns TRUE. */
gboolean kov_queue_writer_commit(KovQueueWriter *w, GError **error);

/* The mail's id in its queue; it may change in the commit (a Kuvert name
 * taken meanwhile), so read it after. */
const char *kov_queue_writer_id(const KovQueueWriter *w);

/* Close; a mail not committed is gone. */
void kov_queue_writer_free(KovQueueWriter *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovQueueWriter, kov_queue_writer_free)
