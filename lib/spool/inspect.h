/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The spool as `koverto status` shows it, read without changing anything:
 * no lock, no file or directory created, every file opened read-only and
 * never through a symbolic link; whether the daemon and its listener run
 * comes from /proc, not from the pid file's lock. Every name found in the
 * spool is kept as found: escape it (kov_log_escape) to show it. */
#pragma once
#include <glib.h>
#include <sys/types.h>
#include "state.h"

typedef enum {
	KOV_INSPECT_WAITING,   /* in new/ (a Kuvert queue file without a state) */
	KOV_INSPECT_ACTIVE,    /* in cur/ without a state: in hand, or claimed by a run that stopped */
	KOV_INSPECT_DEFERRED,  /* with a state: tried, some recipient still pending */
	KOV_INSPECT_FAILED,    /* in failed/ (a Kuvert file parked as .N), kept with its reason */
} KovInspectWhere;

/* "waiting", "active", "deferred", "failed". */
const char *kov_inspect_where_name(KovInspectWhere where);

typedef struct {
	char *address;
	KovRcptState state;   /* from the state; pending when none is recorded */
	char *reason;         /* the recorded reason or SMTP reply; NULL */
} KovInspectRcpt;

typedef struct {
	char *queue;          /* its queue's name */
	char *name;           /* its file name as found (the mail's id when it is a safe name) */
	KovInspectWhere where;
	char *path;           /* relative to queuedir: QUEUE/new/NAME, failed/QUEUE.NAME, .N ... */
	char *problem;        /* why the file was not read (a symbolic link, not a regular
	                       * file, gone meanwhile); NULL */
	gint64 arrival;       /* the file's mtime: when its writer handed it over (unix s) */
	gint64 size;          /* bytes */
	gboolean has_state;
	guint attempts;
	guint crashes;
	gint64 first_seen;    /* from the state; 0 without one */
	gint64 next_attempt;  /* from the state; 0: due now */
	char *last_error;     /* from the state; NULL */
	gint64 failed_time;   /* failed: its .reason file's mtime; 0 */
	char *reason;         /* failed: its .reason file (at most 64 KiB); NULL when missing */
	/* The envelope (only where read, see KovInspectFlags): NULL when not read. */
	char *sender;         /* "" for the null sender */
	GPtrArray *recipients;  /* of KovInspectRcpt*, whom the daemon would address */
	char *envelope_problem; /* why the envelope could not be read; NULL */
} KovInspectMail;

typedef struct {
	char *name;
	gboolean configured;  /* FALSE: a Maildir left in queuedir by a queue no longer configured */
	char *problem;        /* its directories missing or refused; NULL when readable */
	guint waiting, active, deferred, failed;
	gint64 oldest;        /* arrival of its oldest mail not failed; 0: none */
	gint64 oldest_failed; /* failed_time of its oldest failed mail; 0: none */
	GPtrArray *mails;     /* of KovInspectMail*: active, deferred and failed ones, and
	                       * waiting ones with KOV_INSPECT_LIST_WAITING, in name order */
} KovInspectQueue;

typedef struct {
	char *queuedir;
	char *problem;        /* queuedir itself missing or unreadable; NULL */
	GPtrArray *queues;    /* of KovInspectQueue*: Kuvert's first, then as configured,
	                       * then the unconfigured ones */
} KovInspect;

typedef enum {
	KOV_INSPECT_LIST_WAITING = 1 << 0,  /* a record per waiting mail, not only a count */
	KOV_INSPECT_ENVELOPES = 1 << 1,     /* read the envelope of every listed mail, not
	                                     * only of the deferred ones */
	KOV_INSPECT_COUNT_ONLY = 1 << 2,    /* count every mail, list none: a stat of each
	                                     * and of its state file or reason, nothing read */
} KovInspectFlags;

/* Read @queuedir: Kuvert's queue, each of @queues (of KovQueueConfig*, the
 * configuration's), and the Maildirs of queues not configured. Waiting
 * mail is counted from a directory listing and a stat per file (for the
 * oldest); a deferred mail's state file is read, and its header block
 * (never its body) for the recipients still pending. (transfer full) */
KovInspect *kov_inspect_spool(const char *queuedir, const GPtrArray *queues, KovInspectFlags flags);
void kov_inspect_free(KovInspect *inspect);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovInspect, kov_inspect_free)

/* Every mail named @id in @queuedir's queues (@queues as above), wherever
 * it is (new/, cur/, failed/, Kuvert's queue, parked), with its state,
 * reason and envelope. An @id that is no file name (empty, ".", "..", a
 * '/') matches nothing. (transfer full: of KovInspectMail*) */
GPtrArray *kov_inspect_find(const char *queuedir, const GPtrArray *queues, const char *id);

void kov_inspect_mail_free(gpointer mail);

typedef struct {
	pid_t pid;
	gint64 since;         /* start time, unix seconds; 0: unknown */
} KovInspectProcess;

typedef struct {
	pid_t pid;            /* the daemon; 0: none runs on this queuedir */
	gint64 since;
	pid_t lock_pid;       /* the pid file names a daemon that is gone while its lock is
	                       * still held (by its workers finishing); 0 */
	GArray *listeners;    /* of KovInspectProcess: its children named koverto-listen, newest
	                       * first (more than one while a replaced one drains) */
	guint workers;        /* its other children */
} KovInspectDaemon;

/* The daemon that runs on @queuedir, found without taking its lock even
 * for a moment (a reader's shared lock, however brief, makes a daemon
 * starting then fail): the pid in queuedir/koverto.pid counts when
 * /proc/locks shows a flock on that file and the process lives. 0 when
 * none runs; *@gone (nullable) is then the pid of a daemon that is gone
 * while its lock is still held (by its workers finishing), else 0. */
pid_t kov_inspect_daemon_pid(const char *queuedir, pid_t *gone);
/* That daemon, its listener and its workers. */
void kov_inspect_daemon(const char *queuedir, KovInspectDaemon *daemon);
void kov_inspect_daemon_clear(KovInspectDaemon *daemon);

/* TRUE when the log line @line is about the mail @id: it holds "id=@id",
 * at its start or after a blank, followed by its end, a blank, or ": "
 * (an id may itself hold ':'), as koverto writes it. */
gboolean kov_inspect_log_mentions(const char *line, const char *id);
/* The lines of the log file @logfile about @id, in order, without their
 * newline (transfer full, of char*); NULL with @error when it cannot be
 * read. Opened read-only, a regular file only. */
GPtrArray *kov_inspect_log_lines(const char *logfile, const char *id, GError **error);
