/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Handing a new mail over to a queue (writer.h). */
#include "writer.h"
#include "error.h"
#include "fileio.h"
#include "queue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _KovQueueWriter {
	int fd;
	gboolean kuvert;
	char *queuedir;
	char *queue;
	char *dir;          /* where the file is written: queue/tmp/, or queuedir for Kuvert */
	char *id;
	char *named;        /* the named file where O_TMPFILE is missing; NULL with it */
	gboolean committed;
};

static gint kov_queue_writer_counter;

char *
kov_queue_new_name(const char *queue)
{
	gboolean kuvert = queue != NULL && kov_queue_is_kuvert(queue);
	gint64 now = g_get_real_time();
	guint n = (guint)g_atomic_int_add(&kov_queue_writer_counter, 1) % 100000;

	if (kuvert)
		return g_strdup_printf("%" G_GINT64_FORMAT "%07d%05u%04u", now, (int)getpid() % 10000000, n,
		                       g_random_int_range(0, 10000));
	char host[256] = "localhost";
	gethostname(host, sizeof host - 1);
	/* Whatever the host name holds, the result is a safe name (kov_queue_is_safe_name). */
	g_strcanon(host, G_CSET_A_2_Z G_CSET_a_2_z G_CSET_DIGITS "-", '_');
	host[64] = '\0';
	return g_strdup_printf("%" G_GINT64_FORMAT ".M%06dP%dQ%uR%08x.%s", now / G_USEC_PER_SEC,
	                       (int)(now % G_USEC_PER_SEC), (int)getpid(), n, g_random_int(), host);
}

/* A queue's name is one directory under queuedir (the configuration checked it). */
static gboolean
kov_queue_writer_queue_ok(const char *queue)
{
	return queue != NULL && *queue != '\0' && *queue != '.' && strchr(queue, '/') == NULL;
}

static int
kov_queue_writer_create_error(GError **error, int err, const char *what)
{
	g_set_error(error, KOV_ERROR, err == ENOSPC || err == EDQUOT ? KOV_ERROR_TEMPFAIL : KOV_ERROR_CANTCREAT,
	            "cannot create a file in %s: %s", what, g_strerror(err));
	return -1;
}

static int
kov_queue_writer_open(KovQueueWriter *w, GError **error)
{
	int fd = open(w->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return kov_queue_writer_create_error(error, errno, w->dir);
	/* No O_TMPFILE here: a named file, removed on every failure. A dot
	 * name in the Kuvert queue, which Kuvert and koverto both ignore. */
	g_autofree char *name = w->kuvert ? g_strconcat(".tmp.", w->id, NULL) : g_strdup(w->id);
	w->named = g_build_filename(w->dir, name, NULL);
	fd = open(w->named, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		int err = errno;
		g_clear_pointer(&w->named, g_free);
		return kov_queue_writer_create_error(error, err, w->dir);
	}
	return fd;
}

KovQueueWriter *
kov_queue_writer_new(const char *queuedir, const char *queue, GError **error)
{
	g_return_val_if_fail(queuedir != NULL, NULL);
	if (!kov_queue_writer_queue_ok(queue)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "bad queue name \"%s\"", queue ? queue : "");
		return NULL;
	}
	g_autoptr(KovQueueWriter) w = g_new0(KovQueueWriter, 1);
	w->fd = -1;
	w->kuvert = kov_queue_is_kuvert(queue);
	w->queuedir = g_strdup(queuedir);
	w->queue = g_strdup(queue);
	w->dir = w->kuvert ? g_strdup(queuedir) : g_build_filename(queuedir, queue, "tmp", NULL);
	w->id = kov_queue_new_name(queue);
	w->fd = kov_queue_writer_open(w, error);
	return w->fd < 0 ? NULL : g_steal_pointer(&w);
}

gboolean
kov_queue_writer_write(KovQueueWriter *w, const void *data, gsize len, GError **error)
{
	g_return_val_if_fail(w != NULL && w->fd >= 0 && !w->committed, FALSE);
	return kov_fileio_write_all(w->fd, data, len, error, "cannot write a mail into %s", w->dir);
}

int
kov_queue_writer_fd(const KovQueueWriter *w)
{
	return w->fd;
}

const char *
kov_queue_writer_name(const KovQueueWriter *w)
{
	return w->named != NULL ? w->named : w->dir;
}

const char *
kov_queue_writer_id(const KovQueueWriter *w)
{
	return w->id;
}

/* Give the file the name @path, never over an existing file. */
static gboolean
kov_queue_writer_link(KovQueueWriter *w, const char *path)
{
	if (w->named != NULL)
		return link(w->named, path) == 0;
	char proc[64];
	g_snprintf(proc, sizeof proc, "/proc/self/fd/%d", w->fd);
	/* Through /proc unless it is not mounted; AT_EMPTY_PATH wants
	 * CAP_DAC_READ_SEARCH before Linux 6.10. */
	return linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0
	       || (errno != EEXIST && linkat(w->fd, "", AT_FDCWD, path, AT_EMPTY_PATH) == 0);
}

gboolean
kov_queue_writer_commit(KovQueueWriter *w, GError **error)
{
	g_return_val_if_fail(w != NULL && w->fd >= 0 && !w->committed, FALSE);
	if (fsync(w->fd) != 0) {
		kov_error_set_errno(error, errno, "cannot write a mail into %s", w->dir);
		return FALSE;
	}
	g_autofree char *final = NULL;
	if (w->kuvert) {
		/* Linked under its all-digit name; one taken meanwhile gets another. */
		for (int tries = 0;; tries++) {
			final = g_build_filename(w->queuedir, w->id, NULL);
			if (kov_queue_writer_link(w, final))
				break;
			if (errno != EEXIST || tries == 9) {
				kov_error_set_errno(error, errno, "cannot name %s", final);
				return FALSE;
			}
			g_clear_pointer(&final, g_free);
			g_free(w->id);
			w->id = kov_queue_new_name(w->queue);
		}
	} else {
		/* Named in tmp/, then renamed into new/: the rename is what the
		 * watcher's inotify sees. */
		g_autofree char *tmp = g_build_filename(w->dir, w->id, NULL);
		if (w->named != NULL ? rename(w->named, tmp) != 0 : !kov_queue_writer_link(w, tmp)) {
			kov_error_set_errno(error, errno, "cannot name %s", tmp);
			return FALSE;
		}
		g_clear_pointer(&w->named, g_free);   /* now tmp */
		final = g_build_filename(w->queuedir, w->queue, "new", w->id, NULL);
		if (rename(tmp, final) != 0) {
			kov_error_set_errno(error, errno, "cannot move %s into new/", tmp);
			unlink(tmp);
			return FALSE;
		}
	}
	if (w->named != NULL) {          /* Kuvert without O_TMPFILE: the dot name goes */
		unlink(w->named);
		g_clear_pointer(&w->named, g_free);
	}
	if (!kov_fileio_sync_dir(final, error)) {
		/* Visible but perhaps not durable: take it back, unless the
		 * daemon has claimed it already; then it is in its hands. */
		if (unlink(final) == 0 || errno != ENOENT)
			return FALSE;
		g_clear_error(error);
	}
	w->committed = TRUE;
	return TRUE;
}

void
kov_queue_writer_free(KovQueueWriter *w)
{
	if (w == NULL)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->named != NULL)
		unlink(w->named);
	g_free(w->named);
	g_free(w->id);
	g_free(w->dir);
	g_free(w->queuedir);
	g_free(w->queue);
	g_free(w);
}
