/* SPDX-License-Identifier: GPL-3.0-or-later */
/* inotify on the policy queues' new/ directories and on the Kuvert queue. Maildir writers rename
 * into new/ (IN_MOVED_TO); writers that create in place are seen when they
 * close the file (IN_CLOSE_WRITE). */
#include "watch.h"
#include "error.h"

#include <errno.h>
#include <sys/inotify.h>
#include <unistd.h>

struct _KovWatch {
	int fd;
	int wd[KOV_QUEUE_N_KINDS];
};

KovWatch *
kov_watch_new(const char *queuedir, GError **error)
{
	g_autoptr(KovWatch) watch = g_new0(KovWatch, 1);

	watch->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (watch->fd < 0) {
		kov_error_set_errno(error, errno, "watch: inotify");
		return NULL;
	}
	for (int k = 0; k < KOV_QUEUE_N_KINDS; k++) {
		/* The Kuvert queue is the top of queuedir: kuvert_submit writes in place. */
		g_autofree char *path = k == KOV_QUEUE_KUVERT
			? g_strdup(queuedir) : g_build_filename(queuedir, kov_policy_queue_name(k), "new", NULL);
		/* A link into the Kuvert queue is a complete file (IN_CREATE); one
		 * created in place is empty or locked until its writer is done. */
		uint32_t mask = IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR;
		if (k == KOV_QUEUE_KUVERT)
			mask |= IN_CREATE;
		watch->wd[k] = inotify_add_watch(watch->fd, path, mask);
		if (watch->wd[k] < 0) {
			kov_error_set_errno(error, errno, "watch: %s", path);
			return NULL;
		}
	}
	return g_steal_pointer(&watch);
}

void
kov_watch_free(KovWatch *watch)
{
	if (watch == NULL)
		return;
	if (watch->fd >= 0)
		close(watch->fd);
	g_free(watch);
}

int
kov_watch_fd(KovWatch *watch)
{
	return watch->fd;
}

static int
kov_watch_kind(KovWatch *watch, int wd)
{
	for (int k = 0; k < KOV_QUEUE_N_KINDS; k++)
		if (watch->wd[k] == wd)
			return k;
	return -1;
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
			int kind = kov_watch_kind(watch, ev->wd);
			if (kind < 0 || ev->len == 0 || (ev->mask & IN_ISDIR))
				continue;
			if (kind == KOV_QUEUE_KUVERT && !kov_queue_is_kuvert_name(ev->name))
				continue;
			func((KovQueueKind)kind, ev->name, user_data);
		}
	}
}
