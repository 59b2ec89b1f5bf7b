/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A worker process: takes one claimed mail at a time from the watcher over
 * a socket, processes it to the end (delivered, deferred or failed, with
 * the queue updated), and answers with the outcome. Each worker has its
 * own GPGME state and its own SMTP connection, reused across mails. */
#pragma once
#include <glib.h>
#include <sys/types.h>
#include "config.h"
#include "process.h"

/* Request: "KIND ID\n". Reply: "OUTCOME NEXT-ATTEMPT\n" with OUTCOME one
 * of D (delivered), L (deferred, later), F (failed), B (busy: locked by a
 * writer, not taken). With metrics-file set, the reply comes after the
 * mail's metric events, "M NAME LABEL=VALUE ... VALUE\n" lines
 * (metrics.h), in the same write. */
#define KOV_WORKER_DELIVERED 'D'
#define KOV_WORKER_DEFERRED  'L'
#define KOV_WORKER_FAILED    'F'
#define KOV_WORKER_BUSY      'B'

/* A worker whose watcher is gone kills itself and its gpg when a mail has
 * taken this long: mail-timeout (the watcher's own limit) and as much
 * again, at most 30 s more. */
gint64 kov_worker_backstop_seconds(const KovConfig *config);

/* Fork a worker on a new socket pair; *@fd is the watcher's end. The child
 * gets its own process group (so a time limit can kill it with its gpg
 * children), closes @close_fds, serves requests until EOF and exits. It
 * outlives a killed watcher only to finish the mail in hand. */
pid_t kov_worker_spawn(const KovConfig *config, const int *close_fds, gsize n_close, int *fd,
                       GError **error);

/* Process cur/<id> of @queue in this process and move it where it belongs:
 * removed when delivered, failed/ plus the alert when failed, left for a
 * retry when deferred. Used by the worker loop. */
void kov_worker_handle(KovContext *ctx, const KovQueueConfig *queue, const char *id, KovResult *result);
