/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The spool: one Maildir per queue under queuedir, a state/ and a failed/
 * area, the daemon's lock. This file moves files; it never parses mail.
 * A queue is named by its name (the built-ins: must-encrypt, fallback,
 * sign-only; named queues: [queue NAME]); KOV_QUEUE_KUVERT_NAME is the
 * Kuvert queue. Names are checked by the configuration (config.h).
 *
 *   queuedir/<queue>/{tmp,new,cur}/    the queues' Maildirs
 *   queuedir/state/<queue>.<id>        per-mail state (state.c) of a claimed mail
 *   queuedir/failed/<queue>.<id>       failed mail, with <queue>.<id>.reason
 *   queuedir/koverto.pid               the running daemon's pid; flock'd
 *   queuedir/<digits>                  the Kuvert queue: written in place by
 *                                      kuvert_submit under flock, decided by
 *                                      rules; parked as queuedir/.<digits>
 */
#pragma once
#include <glib.h>
#include "config.h"   /* KovQueueConfig */

/* The Kuvert queue's name in state/ and failed/ and in these functions. */
#define KOV_QUEUE_KUVERT_NAME "kuvert"
/* TRUE when @queue names the Kuvert queue. */
gboolean kov_queue_is_kuvert(const char *queue);

/* Create queuedir and every directory below it for @queues (of
 * KovQueueConfig*; NULL: the three built-in queues), mode 0700; check
 * that existing ones are directories owned by us. */
gboolean kov_queue_prepare(const char *queuedir, const GPtrArray *queues, GError **error);

/* Take the daemon lock (queuedir/koverto.pid, flock + our pid). Returns the
 * held fd, or -1 with KOV_ERROR_LOCKED naming the other pid. When the pid
 * in the file is gone, the lock is held by its workers finishing their
 * mail: wait up to @wait_orphans seconds for them. */
int kov_queue_lock(const char *queuedir, gint64 wait_orphans, GError **error);
/* Release: unlink the pid file and close @fd. */
void kov_queue_unlock(const char *queuedir, int fd);

/* Checks a written mail before it is handed over (e.g. that it parses):
 * the mail is in @fd, to read from its start (it stays the caller's);
 * @name names it in messages. FALSE with @error keeps it out of the
 * queue. It may set *@prepend (transfer full) to the envelope lines to
 * put in front of the mail: then the mail's own X-Kuvert-From/-To lines
 * are dropped, so that only @prepend is its envelope. */
typedef gboolean (*KovQueueCheck)(const char *name, int fd, gpointer user_data, char **prepend,
                                  GError **error);

/* Hand a mail over (writer.h): write @envelope_header (nullable) and then
 * @fd until EOF, run @check (nullable) on it, commit. On any failure
 * nothing is left behind. Returns the new id (transfer full). */
char *kov_queue_enqueue_fd(const char *queuedir, const char *queue, int fd,
                           const char *envelope_header, KovQueueCheck check,
                           gpointer check_data, GError **error);

/* The longest name a mail keeps; state/ and failed/ add a prefix and a
 * suffix to it, and NAME_MAX is 255. */
#define KOV_QUEUE_SAFE_NAME_MAX 160
/* TRUE for a name that koverto hands on as a mail's id (to a worker, into
 * state/ and failed/ names, into the log): 1 to KOV_QUEUE_SAFE_NAME_MAX
 * bytes of letters, digits and "._,:=+-", starting with a letter or a
 * digit, not ending in ".tmp" or ".reason". */
gboolean kov_queue_is_safe_name(const char *name);

/* Claim new/<id> by renaming it into cur/, never over another file. The
 * claimed name *@claimed (transfer full) is <id> when that is a safe name
 * not yet in cur/, else a new unique one (the original is logged, escaped).
 * FALSE without error when somebody else took it first. */
gboolean kov_queue_claim(const char *queuedir, const char *queue, const char *id, char **claimed,
                         GError **error);
/* A name found in cur/ that is not safe is renamed there, with its state,
 * as at a claim; *@renamed (transfer full) is the name to use. */
gboolean kov_queue_rename_cur(const char *queuedir, const char *queue, const char *id,
                              char **renamed, GError **error);
/* Open a queue file to read it: never through a symbolic link, never
 * anything but a regular file (a FIFO or a device is refused unread).
 * Returns the fd, or -1 with KOV_ERROR_DATAERR for what is not a mail. */
int kov_queue_open_mail(const char *path, GError **error);
/* Path of a claimed mail (transfer full). */
char *kov_queue_cur_path(const char *queuedir, const char *queue, const char *id);
/* Names in new/ and cur/ (transfer full, NULL-terminated); for the Kuvert
 * queue (@sub ignored) the all-digit files at the top of queuedir. */
char **kov_queue_list(const char *queuedir, const char *queue, const char *sub, GError **error);
/* The names of queuedir's directories that may be queues (a name
 * kov_config_queue_name_check() takes, with a new/ in it), configured or
 * not. (transfer full, NULL-terminated) */
char **kov_queue_list_maildirs(const char *queuedir);
/* TRUE for a Kuvert queue file name: all decimal digits. */
gboolean kov_queue_is_kuvert_name(const char *name);
/* Open and lock a Kuvert queue file for processing (flock, non-blocking).
 * Returns the fd holding the lock, or -1: locked by a writer, empty (being
 * written), or gone. */
int kov_queue_lock_kuvert(const char *queuedir, const char *id);

/* Delivered: remove cur/<id> and its state. */
gboolean kov_queue_done(const char *queuedir, const char *queue, const char *id, GError **error);
/* Failed: move cur/<id> to failed/<queue>.<id> with a .reason file; a
 * Kuvert file is parked as queuedir/.<id> (Kuvert's way) with .<id>.reason.
 * With @undelivered (nullable: comma-separated addresses) the file's
 * X-Kuvert-To is first rewritten to those, so that retrying it never sends
 * a copy twice. State removed. */
gboolean kov_queue_fail(const char *queuedir, const char *queue, const char *id,
                        const char *reason, const char *undelivered, GError **error);
/* Where a failed mail went (transfer full), for messages to the operator. */
char *kov_queue_failed_path(const char *queuedir, const char *queue, const char *id);

/* Path of the state file of a claimed mail (transfer full). */
char *kov_queue_state_path(const char *queuedir, const char *queue, const char *id);
/* Remove files in tmp/ older than @max_age seconds (half-written hand-overs
 * of writers that died). */
void kov_queue_clean_tmp(const char *queuedir, const char *queue, gint64 max_age);
/* Remove failed mail (failed/ and parked Kuvert .N files, with their
 * reasons) that failed more than @max_age seconds ago: plaintext at rest
 * is kept no longer than the failed-retention period. Returns how many. */
guint kov_queue_purge_failed(const char *queuedir, gint64 max_age);
/* Remove state files whose mail is gone (a run killed between removing a
 * delivered mail and its state). Returns how many. */
guint kov_queue_clean_state(const char *queuedir);
/* The pid in queuedir/koverto.pid, 0 when none or not locked by a live
 * daemon (a killed daemon's workers that still hold the lock do not count).
 * Found in /proc/locks (kov_inspect_daemon_pid), never by trying the lock. */
int kov_queue_locked_pid(const char *queuedir);
