/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Kuvert's traces on a machine: its pid file and its per-user queue
 * directory. Kuvert sets its process title to "kuvert", so a pid counts
 * as a live Kuvert only when /proc says so and the process is ours. */
#include "kuvert.h"
#include "error.h"
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The text of the regular file @path, at most 64 KiB; NULL for anything
 * else. Never waits on a FIFO (the pid file's directory is /tmp, where
 * anyone may make one under its name); with !@follow, never through a
 * symbolic link. */
static char *
kov_kuvert_read(const char *path, gboolean follow)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
	struct stat st;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return NULL;
	}
	gsize len = 0;
	char *text = kov_fileio_read_all(fd, 65536, &len, path, NULL);
	close(fd);
	return text;
}

static gboolean
kov_kuvert_is_live(long pid)
{
	g_autofree char *proc = g_strdup_printf("/proc/%ld", pid);
	g_autofree char *cmdline_path = g_strdup_printf("/proc/%ld/cmdline", pid);
	g_autofree char *cmdline = NULL;
	struct stat st;

	if (pid <= 0 || stat(proc, &st) != 0 || st.st_uid != getuid())
		return FALSE;
	if (!g_file_get_contents(cmdline_path, &cmdline, NULL, NULL))
		return FALSE;
	g_autofree char *base = g_path_get_basename(cmdline);
	return g_str_has_prefix(cmdline, "kuvert") || g_str_equal(base, "kuvert");
}

/* The queue directory Kuvert uses for this user, read as kuvert_submit does. */
static char *
kov_kuvert_queuedir(void)
{
	struct passwd *pw = getpwuid(getuid());
	if (pw == NULL)
		return NULL;
	g_autofree char *conf = g_build_filename(pw->pw_dir, ".kuvert", NULL);
	g_autofree char *text = NULL;
	char *dir = g_build_filename(pw->pw_dir, ".kuvert_queue", NULL);

	if ((text = kov_kuvert_read(conf, TRUE)) == NULL)
		return dir;
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	for (char **l = lines; *l != NULL; l++) {
		if (g_ascii_strncasecmp(*l, "queuedir", 8) != 0)
			continue;
		g_autofree char *value = g_strstrip(g_strdup(*l + 8));
		gsize len = strlen(value);
		if (len >= 2 && (value[0] == '"' || value[0] == '\'') && value[len - 1] == value[0]) {
			value[len - 1] = '\0';
			memmove(value, value + 1, len - 1);
		}
		if (strlen(value) >= 2) {
			g_free(dir);
			dir = g_steal_pointer(&value);
		}
		break;
	}
	return dir;
}

static gboolean
kov_kuvert_has_config(void)
{
	struct passwd *pw = getpwuid(getuid());
	g_autofree char *conf = pw ? g_build_filename(pw->pw_dir, ".kuvert", NULL) : NULL;
	return conf != NULL && access(conf, F_OK) == 0;
}

static gboolean
kov_kuvert_same_dir(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

gboolean
kov_kuvert_check_running(const char *queuedir, GError **error)
{
	const char *tmp = g_getenv("TMPDIR");
	g_autofree char *name = g_strdup_printf("kuvert.%u.pid", (unsigned)getuid());
	g_autofree char *pidfile = g_build_filename(tmp && *tmp ? tmp : "/tmp", name, NULL);
	g_autofree char *text = NULL;

	if ((text = kov_kuvert_read(pidfile, FALSE)) == NULL)
		return TRUE;
	g_auto(GStrv) pids = g_strsplit(text, "\n", -1);
	for (char **p = pids; *p != NULL; p++) {
		long pid = strtol(*p, NULL, 10);
		if (!kov_kuvert_is_live(pid))
			continue;
		/* Kuvert's process title hides a -c FILE, so its queue cannot be told
		 * for sure: only a ~/.kuvert naming another queue lets us go on. */
		g_autofree char *kuvert_dir = kov_kuvert_queuedir();
		if (kuvert_dir == NULL || kov_kuvert_has_config() == FALSE
		    || kov_kuvert_same_dir(kuvert_dir, queuedir)) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_LOCKED,
			            "a running Kuvert (pid %ld, %s) may serve queue directory %s; "
			            "stop it first (kuvert -k)", pid, pidfile, queuedir);
			return FALSE;
		}
	}
	return TRUE;
}
