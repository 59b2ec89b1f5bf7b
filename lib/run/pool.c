/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The worker pool, apart from the daemon's loop: it starts the worker
 * processes (worker.c) on socket pairs, hands each one mail at a time,
 * reads the answers line by line, kills a worker whose mail overruns
 * mail-timeout (with its process group, so its gpg too) and replaces a
 * worker that ended, or that a reload retired once its mail is done.
 * A worker's death costs one attempt of one mail: the daemon decides. */
#include "pool.h"
#include "log.h"
#include "metrics.h"
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
	pid_t pid;
	int fd;               /* the watcher's end of the socket pair; -1: none */
	gpointer item;        /* the mail in hand (the caller's); NULL when idle */
	gint64 deadline;      /* monotonic microseconds */
	gboolean timed_out;
	gboolean retire;      /* replace after the mail in hand (reload) */
	GString *input;
} KovPoolWorker;

struct _KovPool {
	const KovConfig *config;
	int keep_fd;
	GPtrArray *workers;   /* of KovPoolWorker* */
	KovPoolEvents events;
	gpointer user;
};

guint
kov_pool_size_for(const KovConfig *config)
{
	guint n = config->workers > 0 ? config->workers : MAX(1, g_get_num_processors());
	if (config->msserver != NULL && config->max_connections > 0)
		n = MIN(n, config->max_connections);
	return n;
}

static void
kov_pool_worker_free(gpointer data)
{
	KovPoolWorker *w = data;
	if (w->fd >= 0)
		close(w->fd);
	g_string_free(w->input, TRUE);
	g_free(w);
}

/* Close a worker's socket (EOF: it exits if it still runs) and reap it. */
static int
kov_pool_close(KovPoolWorker *w)
{
	int status = 0;

	close(w->fd);
	w->fd = -1;
	while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

KovPool *
kov_pool_new(const KovConfig *config, int keep_fd, const KovPoolEvents *events, gpointer user)
{
	g_return_val_if_fail(config != NULL && events != NULL, NULL);
	KovPool *pool = g_new0(KovPool, 1);
	pool->config = config;
	pool->keep_fd = keep_fd;
	pool->workers = g_ptr_array_new_with_free_func(kov_pool_worker_free);
	pool->events = *events;
	pool->user = user;
	return pool;
}

void
kov_pool_free(KovPool *pool)
{
	if (pool == NULL)
		return;
	for (guint i = 0; i < pool->workers->len; i++) {
		KovPoolWorker *w = g_ptr_array_index(pool->workers, i);
		if (w->fd >= 0)
			kov_pool_close(w);
	}
	g_ptr_array_unref(pool->workers);
	g_free(pool);
}

/* The descriptors a new worker must not keep: the others' sockets, inotify. */
static GArray *
kov_pool_inherited_fds(KovPool *pool)
{
	GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));

	g_array_append_val(fds, pool->keep_fd);
	for (guint i = 0; i < pool->workers->len; i++) {
		KovPoolWorker *w = g_ptr_array_index(pool->workers, i);
		if (w->fd >= 0)
			g_array_append_val(fds, w->fd);
	}
	return fds;
}

static gboolean
kov_pool_spawn(KovPool *pool, KovPoolWorker *w, GError **error)
{
	g_autoptr(GArray) fds = kov_pool_inherited_fds(pool);

	w->pid = kov_worker_spawn(pool->config, (const int *)fds->data, fds->len, &w->fd, error);
	w->item = NULL;
	w->timed_out = FALSE;
	g_string_truncate(w->input, 0);
	return w->pid > 0;
}

gboolean
kov_pool_start(KovPool *pool, GError **error)
{
	g_return_val_if_fail(pool != NULL, FALSE);
	guint n = kov_pool_size_for(pool->config);

	for (guint i = 0; i < n; i++) {
		KovPoolWorker *w = g_new0(KovPoolWorker, 1);
		w->fd = -1;
		w->input = g_string_new(NULL);
		g_ptr_array_add(pool->workers, w);
		if (!kov_pool_spawn(pool, w, error))
			return FALSE;
	}
	kov_log_debug("daemon: %u workers", n);
	return TRUE;
}

guint
kov_pool_size(const KovPool *pool)
{
	g_return_val_if_fail(pool != NULL, 0);
	return pool->workers->len;
}

gboolean
kov_pool_busy(const KovPool *pool)
{
	g_return_val_if_fail(pool != NULL, FALSE);
	for (guint i = 0; i < pool->workers->len; i++)
		if (((KovPoolWorker *)g_ptr_array_index(pool->workers, i))->item != NULL)
			return TRUE;
	return FALSE;
}

static KovPoolWorker *
kov_pool_idle(const KovPool *pool)
{
	for (guint i = 0; i < pool->workers->len; i++) {
		KovPoolWorker *w = g_ptr_array_index(pool->workers, i);
		if (w->item == NULL && w->fd >= 0)
			return w;
	}
	return NULL;
}

gboolean
kov_pool_has_idle(const KovPool *pool)
{
	g_return_val_if_fail(pool != NULL, FALSE);
	return kov_pool_idle(pool) != NULL;
}

gboolean
kov_pool_hand(KovPool *pool, gpointer item, const char *request)
{
	g_return_val_if_fail(pool != NULL && item != NULL && request != NULL, FALSE);
	KovPoolWorker *w = kov_pool_idle(pool);
	g_return_val_if_fail(w != NULL, FALSE);
	gsize len = strlen(request);

	w->item = item;
	w->deadline = g_get_monotonic_time() + pool->config->mail_timeout * G_USEC_PER_SEC;
	/* A dead worker shows as EOF and its mail comes back through @ended. */
	return write(w->fd, request, len) == (ssize_t)len;
}

int
kov_pool_fd(const KovPool *pool, guint i)
{
	g_return_val_if_fail(pool != NULL && i < pool->workers->len, -1);
	return ((KovPoolWorker *)g_ptr_array_index(pool->workers, i))->fd;
}

/* The worker ended: its mail goes back to the caller, which says whether
 * a new worker takes its place. */
static void
kov_pool_reap(KovPool *pool, KovPoolWorker *w)
{
	int status = kov_pool_close(w);
	gpointer item = g_steal_pointer(&w->item);

	if (!pool->events.ended(pool->user, item, status, w->timed_out))
		return;
	g_autoptr(GError) error = NULL;
	if (!kov_pool_spawn(pool, w, &error))
		kov_log_err("daemon: cannot start a worker: %s", error->message);
}

/* An idle worker is replaced by one that has the current configuration. */
static void
kov_pool_replace(KovPool *pool, KovPoolWorker *w)
{
	g_autoptr(GError) error = NULL;

	kov_pool_close(w);
	w->retire = FALSE;
	if (!kov_pool_spawn(pool, w, &error))
		kov_log_err("daemon: cannot start a worker: %s", error->message);
}

KovPoolLines
kov_pool_read_lines(int fd, GString *input, gsize max, void (*line)(gpointer user, char *line),
                    gpointer user)
{
	g_return_val_if_fail(input != NULL && line != NULL, KOV_POOL_LINES_EOF);
	char buf[512];
	ssize_t n = read(fd, buf, sizeof buf);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return KOV_POOL_LINES_MORE;
	if (n <= 0)
		return KOV_POOL_LINES_EOF;
	/* Only the new bytes are searched, and the lines taken are erased
	 * once at the end: linear in what was read. */
	gsize from = input->len, start = 0;
	g_string_append_len(input, buf, n);
	for (char *nl; (nl = memchr(input->str + from, '\n', input->len - from)) != NULL;) {
		*nl = '\0';
		line(user, input->str + start);
		from = start = nl - input->str + 1;
	}
	g_string_erase(input, 0, start);
	return input->len > max ? KOV_POOL_LINES_TOO_LONG : KOV_POOL_LINES_MORE;
}

typedef struct {
	KovPool *pool;
	KovPoolWorker *w;
} KovPoolLine;

static void
kov_pool_line(gpointer user, char *line)
{
	KovPoolLine *at = user;

	if (kov_metrics_is_event(line)) {
		if (at->pool->events.metric != NULL)
			at->pool->events.metric(at->pool->user, line);
		return;
	}
	gpointer item = g_steal_pointer(&at->w->item);
	if (item != NULL)
		at->pool->events.reply(at->pool->user, item, line);
}

void
kov_pool_read(KovPool *pool, guint i)
{
	g_return_if_fail(pool != NULL && i < pool->workers->len);
	KovPoolWorker *w = g_ptr_array_index(pool->workers, i);
	KovPoolLine at = { pool, w };

	switch (kov_pool_read_lines(w->fd, w->input, KOV_POOL_LINE_MAX, kov_pool_line, &at)) {
	case KOV_POOL_LINES_MORE:
		break;
	case KOV_POOL_LINES_TOO_LONG:
		/* No worker writes such a line: this one is broken or not ours
		 * any more. It goes as a crashed one goes, its mail with it. */
		kov_log_err("daemon: worker %d sent over %d bytes without a line end: killed",
		            (int)w->pid, KOV_POOL_LINE_MAX);
		kill(-w->pid, SIGKILL);
		kov_pool_reap(pool, w);
		return;
	case KOV_POOL_LINES_EOF:
		kov_pool_reap(pool, w);
		return;
	}
	if (w->retire && w->item == NULL)
		kov_pool_replace(pool, w);
}

void
kov_pool_enforce_deadlines(KovPool *pool)
{
	g_return_if_fail(pool != NULL);
	gint64 now = g_get_monotonic_time();
	for (guint i = 0; i < pool->workers->len; i++) {
		KovPoolWorker *w = g_ptr_array_index(pool->workers, i);
		if (w->item != NULL && !w->timed_out && now > w->deadline) {
			w->timed_out = TRUE;
			kill(-w->pid, SIGKILL); /* the worker and its gpg */
		}
	}
}

gint64
kov_pool_timeout_ms(const KovPool *pool, gint64 timeout_ms)
{
	g_return_val_if_fail(pool != NULL, timeout_ms);
	gint64 now = g_get_monotonic_time();
	for (guint i = 0; i < pool->workers->len; i++) {
		const KovPoolWorker *w = g_ptr_array_index(pool->workers, i);
		if (w->item != NULL && !w->timed_out)
			timeout_ms = MIN(timeout_ms, MAX(0, (w->deadline - now) / 1000 + 1));
	}
	return timeout_ms;
}

void
kov_pool_reload(KovPool *pool, const KovConfig *config)
{
	g_return_if_fail(pool != NULL && config != NULL);
	pool->config = config;
	for (guint i = 0; i < pool->workers->len; i++) {
		KovPoolWorker *w = g_ptr_array_index(pool->workers, i);
		w->retire = TRUE;
		if (w->item == NULL && w->fd >= 0)
			kov_pool_replace(pool, w);
	}
}
