/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The worker pool: the watcher's side of the worker processes (worker.c),
 * one mail in hand per worker at most, each with a time limit. The pool
 * knows processes, sockets and deadlines; what a mail is and what becomes
 * of it is the daemon's, told through two callbacks. */
#pragma once
#include <glib.h>
#include "config.h"

typedef struct _KovPool KovPool;

typedef struct {
	/* A worker answered @line (without its LF) for @item, the mail it
	 * had in hand (transfer: back to the caller); the worker is idle. */
	void (*reply)(gpointer user, gpointer item, const char *line);
	/* A worker ended (EOF on its socket): @item is the mail it had in hand
	 * (nullable: it was idle), @status its wait status, @timed_out TRUE
	 * when the pool killed it for overrunning. Return TRUE to have it
	 * replaced by a new worker. */
	gboolean (*ended)(gpointer user, gpointer item, int status, gboolean timed_out);
	/* A worker sent a metric event line (metrics.h; without its LF) before
	 * its reply. Nullable: such lines are then dropped. */
	void (*metric)(gpointer user, const char *line);
} KovPoolEvents;

/* How many workers @config asks for: workers (or one per CPU), at most
 * max-connections when koverto talks SMTP (one connection per worker). */
guint kov_pool_size_for(const KovConfig *config);

/* An empty pool; @config (borrowed, until kov_pool_reload) is what each
 * worker is started with; @keep_fd is closed in every worker (inotify). */
KovPool *kov_pool_new(const KovConfig *config, int keep_fd, const KovPoolEvents *events,
                      gpointer user);
/* Closes every worker's socket (a worker exits at EOF) and reaps it. */
void kov_pool_free(KovPool *pool);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovPool, kov_pool_free)

/* Start kov_pool_size_for(config) workers. FALSE and @error when one
 * cannot be started (those started so far stay, for kov_pool_free). */
gboolean kov_pool_start(KovPool *pool, GError **error);

guint kov_pool_size(const KovPool *pool);
/* TRUE when some worker has a mail in hand. */
gboolean kov_pool_busy(const KovPool *pool);
/* TRUE when some live worker has none. */
gboolean kov_pool_has_idle(const KovPool *pool);

/* Give @item (borrowed until it comes back through the events) to the
 * first idle worker with @request ("KIND ID\n"), to be done within
 * mail-timeout. FALSE with errno when the request could not be written:
 * the worker then shows as dead and @item comes back through @ended. */
gboolean kov_pool_hand(KovPool *pool, gpointer item, const char *request);

/* The socket of worker @i (-1 when it has none), for poll. */
int kov_pool_fd(const KovPool *pool, guint i);
/* Worker @i's socket is readable: read its answers (the events fire). */
void kov_pool_read(KovPool *pool, guint i);
/* The longest line a worker sends, its LF not counted: an event line
 * (metrics.h: KOV_METRICS_EVENT_MAX) or a reply. A worker that sends more
 * without a line end is killed, and its mail comes back through @ended as
 * a crashed worker's does. */
#define KOV_POOL_LINE_MAX 4096

typedef enum {
	KOV_POOL_LINES_MORE,      /* read; what is left is a line begun */
	KOV_POOL_LINES_EOF,       /* end of file, or a read error */
	KOV_POOL_LINES_TOO_LONG,  /* the line begun has over @max bytes */
} KovPoolLines;

/* The reader under kov_pool_read: one read(2) of @fd appended to @input;
 * each complete line in it, its LF made a NUL, goes to @line (which may
 * change it), and leaves @input. (For the unit test too.) */
KovPoolLines kov_pool_read_lines(int fd, GString *input, gsize max,
                                 void (*line)(gpointer user, char *line), gpointer user);
/* Kill each worker whose mail is overdue, with its process group (gpg). */
void kov_pool_enforce_deadlines(KovPool *pool);
/* @timeout_ms, or less to wake at the next deadline. */
gint64 kov_pool_timeout_ms(const KovPool *pool, gint64 timeout_ms);

/* A new configuration (borrowed, as in kov_pool_new) for workers started
 * from now on: idle workers are replaced at once, busy ones after the
 * mail in hand. */
void kov_pool_reload(KovPool *pool, const KovConfig *config);
