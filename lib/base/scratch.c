/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "scratch.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

/* An unlinked file in @dir: O_TMPFILE where the file system has it, else
 * a unique name removed at once. */
static int
scratch_file(const char *dir, GError **error)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		g_autofree char *path = g_build_filename(dir, "koverto-scratch-XXXXXX", NULL);
		fd = g_mkstemp_full(path, O_RDWR | O_CLOEXEC, 0600);
		if (fd >= 0)
			unlink(path);
	}
	if (fd < 0)
		kov_error_set_errno(error, errno, "cannot create a temporary file in %s", dir);
	return fd;
}

int
kov_scratch_new(const char *tempdir, gint64 mail_size, GError **error)
{
	if (mail_size <= KOV_SCRATCH_MEMORY_MAX) {
		int fd = memfd_create("koverto-scratch", MFD_CLOEXEC);
		if (fd >= 0)
			return fd;
		/* No memfd (an old kernel, a seccomp filter): a file will do. */
	}
	return scratch_file(tempdir != NULL ? tempdir : g_get_tmp_dir(), error);
}
