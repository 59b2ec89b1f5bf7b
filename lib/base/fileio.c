/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Durable writes, in the manner of OpenSMTPD's queue hand-offs: the data
 * in a temporary, fsync, rename over, fsync of the directory. One loop
 * for write(2) with its EINTR and short writes; the file descriptors are
 * close-on-exec, and a temporary is never opened through a link. */
#include "fileio.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

gboolean
kov_fileio_write_all(int fd, const void *data, gsize len, GError **error, const char *fmt, ...)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n == 0 ? EIO : errno;
			va_list ap;
			va_start(ap, fmt);
			g_autofree char *what = g_strdup_vprintf(fmt, ap);
			va_end(ap);
			kov_error_set_errno(error, err, "%s", what);
			errno = err;
			return FALSE;
		}
		p += n;
		len -= (gsize)n;
	}
	return TRUE;
}

char *
kov_fileio_read_all(int fd, gsize max, gsize *len, const char *path, GError **error)
{
	GString *s = g_string_new(NULL);
	char buf[16384];

	while (s->len < max) {
		ssize_t n = read(fd, buf, MIN(sizeof buf, max - s->len));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			kov_error_set_errno(error, errno, "%s", path);
			g_string_free(s, TRUE);
			return NULL;
		}
		if (n == 0)
			break;
		g_string_append_len(s, buf, (gsize)n);
	}
	*len = s->len;
	return g_string_free(s, FALSE);
}

gboolean
kov_fileio_sync_close(int fd, gboolean ok, const char *path, GError **error)
{
	if (ok && fsync(fd) != 0) {
		kov_error_set_errno(error, errno, "cannot write %s", path);
		ok = FALSE;
	}
	if (close(fd) != 0 && ok) {
		kov_error_set_errno(error, errno, "cannot write %s", path);
		ok = FALSE;
	}
	return ok;
}

gboolean
kov_fileio_sync_dir(const char *path, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) != 0) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		kov_error_set_errno(error, err, "cannot sync the directory of %s", path);
		return FALSE;
	}
	close(fd);
	return TRUE;
}

/* Open @tmp for writing without truncating it (a reservation stays), or,
 * with @tmp NULL, a new unique file beside @path; *@used: its name. */
static int
kov_fileio_open_tmp(const char *path, const char *tmp, char **used, GError **error)
{
	int fd;

	if (tmp != NULL) {
		*used = g_strdup(tmp);
		/* O_NONBLOCK: a FIFO there must fail, not hang the writer. */
		fd = open(tmp, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
			close(fd);
			g_set_error(error, KOV_ERROR, KOV_ERROR_IOERR, "cannot create %s: not a regular file",
			            tmp);
			return -1;
		}
	} else {
		*used = g_strconcat(path, ".XXXXXX", NULL);
		fd = g_mkstemp_full(*used, O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	if (fd < 0)
		kov_error_set_errno(error, errno, "cannot create %s", *used);
	return fd;
}

gboolean
kov_fileio_replace(const char *path, const char *tmp, const void *data, gsize len,
                   GError **error)
{
	g_autofree char *used = NULL;
	int fd = kov_fileio_open_tmp(path, tmp, &used, error);

	if (fd < 0)
		return FALSE;
	gboolean ok = kov_fileio_write_all(fd, data, len, error, "cannot write %s", path);
	if (ok && ftruncate(fd, (off_t)len) != 0) {
		kov_error_set_errno(error, errno, "cannot write %s", path);
		ok = FALSE;
	}
	ok = kov_fileio_sync_close(fd, ok, path, error);
	if (ok && rename(used, path) != 0) {
		kov_error_set_errno(error, errno, "cannot write %s", path);
		ok = FALSE;
	}
	if (!ok) {
		unlink(used);
		return FALSE;
	}
	return kov_fileio_sync_dir(path, error);
}
