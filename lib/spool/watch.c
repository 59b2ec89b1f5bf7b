/* SPDX-License-Identifier: GPL-3.0-or-later */
/* inotify on the queues' new/ directories and on the Kuvert queue. Maildir
 * writers rename into new/ (IN_MOVED_TO); writers that create in place are
 * seen when they close the file (IN_CLOSE_WRITE). The set of queues can
 * change at a reload: each watch is kept with its queue's name. */
#include "watch.h"
#include "error.h"

#include <errno.h>
#include <sys/inotify.h>
#include <unistd.h>

typedef struct {
	int wd;
	char *queue;
} KovWatchDir;

struct _KovWatch {
	int fd;
	char *queuedir;
	GArray *dirs;    /* of KovWatchDir */
};

static void
kov_watch_dir_clear(gpointer data)
{
	g_free(((KovWatchDir *)data)->queue);
}

static gboolean
kov_watch_add(KovWatch *watch, const char *queue, GError **error)
{
	gboolean kuvert = kov_queue_is_kuvert(queue);
	/* The Kuvert queue is the top of queuedir: kuvert_submit writes in place. */
	g_autofree char *path = kuvert ? g_strdup(watch->queuedir)
	                               : g_build_filename(watch->queuedir, queue, "new", NULL);
	/* A link into the Kuvert queue is a complete file (IN_CREATE); one
	 * created in place is empty or locked until its writer is done. */
	uint32_t mask = IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR | (kuvert ? IN_CREATE : 0);
	int wd = inotify_add_watch(watch->fd, path, mask);
	if (wd < 0) {
		kov_error_set_errno(error, errno, "watch: %s", path);
		return FALSE;
	}
	KovWatchDir dir = { wd, g_strdup(queue) };
	g_array_append_val(watch->dirs, dir);
	return TRUE;
}

static gboolean
kov_watch_has(KovWatch *watch, const char *queue)
{
	for (guint i = 0; i < watch->dirs->len; i++)
		if (g_str_equal(g_array_index(watch->dirs, KovWatchDir, i).queue, queue))
			return TRUE;
	return FALSE;
}

static gboolean
kov_watch_wanted(const GPtrArray *queues, const char *queue)
{
	if (kov_queue_is_kuvert(queue))
		return TRUE;
	for (guint i = 0; queues != NULL && i < queues->len; i++)
		if (g_str_equal(((const KovQueueConfig *)g_ptr_array_index(queues, i))->name, queue))
			return TRUE;
	KovQueueKind kind;
	return queues == NULL && kov_policy_queue_parse(queue, &kind);
}

gboolean
kov_watch_set_queues(KovWatch *watch, const GPtrArray *queues, GError **error)
{
	gboolean ok = TRUE;

	for (guint i = watch->dirs->len; i-- > 0;) {
		KovWatchDir *dir = &g_array_index(watch->dirs, KovWatchDir, i);
		if (!kov_watch_wanted(queues, dir->queue)) {
			inotify_rm_watch(watch->fd, dir->wd);
			g_array_remove_index(watch->dirs, i);
		}
	}
	if (!kov_watch_has(watch, KOV_QUEUE_KUVERT_NAME))
		ok = kov_watch_add(watch, KOV_QUEUE_KUVERT_NAME, error);
	guint n = queues != NULL ? queues->len : KOV_QUEUE_N_POLICY;
	for (guint i = 0; i < n; i++) {
		const char *name = queues != NULL
			? ((const KovQueueConfig *)g_ptr_array_index(queues, i))->name
			: kov_policy_queue_name((KovQueueKind)i);
		if (!kov_watch_has(watch, name))
			ok = kov_watch_add(watch, name, ok ? error : NULL) && ok;
	}
	return ok;
}

KovWatch *
kov_watch_new(const char *queuedir, const GPtrArray *queues, GError **error)
{
	g_autoptr(KovWatch) watch = g_new0(KovWatch, 1);

	watch->queuedir = g_strdup(queuedir);
	watch->dirs = g_array_new(FALSE, TRUE, sizeof(KovWatchDir));
	g_array_set_clear_func(watch->dirs, kov_watch_dir_clear);
	watch->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (watch->fd < 0) {
		kov_error_set_errno(error, errno, "watch: inotify");
		return NULL;
	}
	if (!kov_watch_set_queues(watch, queues, error))
		return NULL;
	return g_steal_pointer(&watch);
}

void
kov_watch_free(KovWatch *watch)
{
	if (watch == NULL)
		return;
	if (watch->fd >= 0)
		close(watch->fd);
	if (watch->dirs != NULL)
		g_array_unref(watch->dirs);
	g_free(watch->queuedir);
	g_free(watch);
}

int
kov_watch_fd(KovWatch *watch)
{
	return watch->fd;
}

/* The queue of watch descriptor @wd; NULL: none (removed, events still queued). */
static const char *
kov_watch_queue(KovWatch *watch, int wd)
{
	for (guint i = 0; i < watch->dirs->len; i++)
		if (g_array_index(watch->dirs, KovWatchDir, i).wd == wd)
			return g_array_index(watch->dirs, KovWatchDir, i).queue;
	return NULL;
}

gboolean
kov_watch_read(KovWatch *watch, KovWatchFunc func, gpointer user_data, gboolean *overflow,
               GError **error)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));

	*overflow = FALSE;
	for (;;) {
		ssize_t len = read(watch->fd, buf, sizeof buf);
		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0 && errno == EAGAIN)
			return TRUE;
		if (len <= 0) {
			kov_error_set_errno(error, len < 0 ? errno : EIO, "watch: read");
			return FALSE;
		}
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof *ev + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				*overflow = TRUE;
				continue;
			}
			const char *queue = kov_watch_queue(watch, ev->wd);
			if (queue == NULL || ev->len == 0 || (ev->mask & IN_ISDIR))
				continue;
			if (kov_queue_is_kuvert(queue) && !kov_queue_is_kuvert_name(ev->name))
				continue;
			func(queue, ev->name, user_data);
		}
	}
}
