/* SPDX-License-Identifier: GPL-3.0-or-later */
/* lib/base/fileio.c on real files in a directory under /tmp: write-all
 * through short writes and EINTR (a pipe drained slowly while a timer
 * interrupts the writer), its errors, and the atomic replace: content,
 * mode, no temporary left, a reservation kept, a link refused. */
#include "error.h"
#include "fileio.h"
#include "fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static void
test_write_all_file(KovTestDir *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	int fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	g_assert_cmpint(fd, >=, 0);
	g_assert_true(kov_fileio_write_all(fd, "hello, ", 7, &error, "cannot write %s", f->path));
	g_assert_true(kov_fileio_write_all(fd, "world\n", 6, &error, "unused"));
	g_assert_true(kov_fileio_write_all(fd, "", 0, &error, "nothing to write"));
	g_assert_no_error(error);
	g_assert_true(kov_fileio_sync_close(fd, TRUE, f->path, &error));
	g_assert_no_error(error);
	g_autofree char *text = kov_test_file_read(f->path, NULL);
	g_assert_cmpstr(text, ==, "hello, world\n");
}

/* A timer interrupts the writer every half millisecond while a thread
 * drains the pipe in small bites: write(2) returns short counts and EINTR, and every
 * byte still arrives once, in order. */
#define PIPE_BYTES (1024 * 1024)

static volatile sig_atomic_t alarms;

/* At most this many: under valgrind a write may take longer than the
 * period, and an endless stream of signals would never let it finish. */
#define ALARMS_MAX 50

static void
on_alarm(int sig)
{
	(void)sig;
	if (++alarms >= ALARMS_MAX) {
		struct itimerval off = { { 0, 0 }, { 0, 0 } };
		setitimer(ITIMER_REAL, &off, NULL);
	}
}

static gpointer
drain(gpointer data)
{
	int fd = GPOINTER_TO_INT(data);
	GByteArray *got = g_byte_array_new();
	guint8 buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		g_assert_cmpint(n, >, 0);
		g_byte_array_append(got, buf, (guint)n);
		g_usleep(50); /* slower than the writer: the pipe stays full */
	}
	return got;
}

static void
test_write_all_interrupted(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree guint8 *data = g_malloc(PIPE_BYTES);
	int p[2];

	for (gsize i = 0; i < PIPE_BYTES; i++)
		data[i] = (guint8)(i * 7 + i / 251);
	g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
	fcntl(p[1], F_SETPIPE_SZ, 4096); /* the smallest: many partial writes */

	/* The reader thread must not take the signals: block them around its start. */
	sigset_t alrm, old;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, &old);
	GThread *reader = g_thread_new("drain", drain, GINT_TO_POINTER(p[0]));
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	struct sigaction sa = { .sa_handler = on_alarm }, old_sa; /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	g_assert_cmpint(sigaction(SIGALRM, &sa, &old_sa), ==, 0);
	struct itimerval every = { { 0, 500 }, { 0, 100 } }, off = { { 0, 0 }, { 0, 0 } };
	alarms = 0;
	g_assert_cmpint(setitimer(ITIMER_REAL, &every, NULL), ==, 0);
	gboolean ok = kov_fileio_write_all(p[1], data, PIPE_BYTES, &error, "pipe");
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old_sa, NULL);
	close(p[1]);

	g_autoptr(GByteArray) got = g_thread_join(reader);
	close(p[0]);
	g_assert_no_error(error);
	g_assert_true(ok);
	g_test_message("%d timer signals during the write", (int)alarms);
	g_assert_cmpint(alarms, >, 0);
	g_assert_cmpuint(got->len, ==, PIPE_BYTES);
	g_assert_true(memcmp(got->data, data, PIPE_BYTES) == 0);
}

/* A full disk is temporary; any other failure an I/O error; the context
 * comes first in the message. */
static void
test_write_all_errors(KovTestDir *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
	g_assert_cmpint(full, >=, 0);
	g_assert_false(kov_fileio_write_all(full, "x", 1, &error, "cannot write %s", "/dev/full"));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL);
	g_assert_true(g_str_has_prefix(error->message, "cannot write /dev/full: "));
	g_assert_nonnull(strstr(error->message, g_strerror(ENOSPC)));
	g_clear_error(&error);
	close(full);

	g_assert_true(g_file_set_contents(f->path, "x", -1, NULL));
	int ro = open(f->path, O_RDONLY | O_CLOEXEC);
	g_assert_cmpint(ro, >=, 0);
	g_assert_false(kov_fileio_write_all(ro, "x", 1, &error, "context %d", 42));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_IOERR);
	g_autofree char *want = g_strdup_printf("context 42: %s", g_strerror(EBADF));
	g_assert_cmpstr(error->message, ==, want);
	g_clear_error(&error);
	/* A failed write ends with the descriptor closed, not synced. */
	g_assert_false(kov_fileio_sync_close(ro, FALSE, f->path, NULL));
	g_assert_cmpint(fcntl(ro, F_GETFD), ==, -1);
}

static void
test_sync_dir(KovTestDir *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	g_autofree char *missing = g_build_filename(f->dir, "no", "such", NULL);

	g_assert_true(kov_fileio_sync_dir(f->path, &error));
	g_assert_no_error(error);
	g_assert_false(kov_fileio_sync_dir(missing, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_IOERR);
	g_assert_true(g_str_has_prefix(error->message, "cannot sync the directory of "));
}

/* New, then replaced: the content, mode 0600, nothing else in the directory. */
static void
test_replace(KovTestDir *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	struct stat st;

	g_assert_true(kov_fileio_replace(f->path, NULL, "first\n", 6, &error));
	g_assert_no_error(error);
	g_autofree char *one = kov_test_file_read(f->path, NULL);
	g_assert_cmpstr(one, ==, "first\n");
	g_assert_cmpint(stat(f->path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 07777, ==, 0600);
	g_assert_cmpuint(kov_test_dir_count(f->dir), ==, 1);

	g_assert_true(kov_fileio_replace(f->path, NULL, "2", 1, &error));
	g_autofree char *two = kov_test_file_read(f->path, NULL);
	g_assert_cmpstr(two, ==, "2");
	g_assert_cmpuint(kov_test_dir_count(f->dir), ==, 1);

	g_assert_true(kov_fileio_replace(f->path, NULL, "", 0, &error));
	g_autofree char *empty = kov_test_file_read(f->path, NULL);
	g_assert_cmpstr(empty, ==, "");
	g_assert_no_error(error);
}

/* A named temporary that exists, larger than the data (a reservation): it
 * is used in place, its blocks allocated beforehand, and cut to the data. */
static void
test_replace_reserved(KovTestDir *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	g_autofree char *tmp = g_strconcat(f->path, ".tmp", NULL);
	struct stat before, after;

	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(posix_fallocate(fd, 0, 65536), ==, 0);
	close(fd);
	g_assert_cmpint(stat(tmp, &before), ==, 0);
	g_assert_true(kov_fileio_replace(f->path, tmp, "state\n", 6, &error));
	g_assert_no_error(error);
	g_assert_false(g_file_test(tmp, G_FILE_TEST_EXISTS));
	g_assert_cmpint(stat(f->path, &after), ==, 0);
	g_assert_cmpuint(after.st_ino, ==, before.st_ino); /* the reserved file itself */
	g_assert_cmpint(after.st_size, ==, 6);
	g_autofree char *text = kov_test_file_read(f->path, NULL);
	g_assert_cmpstr(text, ==, "state\n");
}

/* A link where the temporary goes is refused; what it points to and the
 * file to replace stay as they were. */
static void
test_replace_link_refused(KovTestDir *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	g_autofree char *tmp = g_strconcat(f->path, ".tmp", NULL);
	g_autofree char *target = g_build_filename(f->dir, "target", NULL);

	g_assert_true(g_file_set_contents(f->path, "old", -1, NULL));
	g_assert_true(g_file_set_contents(target, "precious", -1, NULL));
	g_assert_cmpint(symlink(target, tmp), ==, 0);
	g_assert_false(kov_fileio_replace(f->path, tmp, "new", 3, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_IOERR);
	g_assert_true(g_str_has_prefix(error->message, "cannot create "));
	g_autofree char *old = kov_test_file_read(f->path, NULL);
	g_autofree char *precious = kov_test_file_read(target, NULL);
	g_assert_cmpstr(old, ==, "old");
	g_assert_cmpstr(precious, ==, "precious");
	g_unlink(tmp);
	g_unlink(target);
}

/* The rename fails (a non-empty directory is in the way): the temporary
 * goes, the error names the file. No directory at all: cannot create. */
static void
test_replace_errors(KovTestDir *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	g_autofree char *inner = g_build_filename(f->path, "inner", NULL);
	g_autofree char *missing = g_build_filename(f->dir, "no", "such", NULL);

	g_assert_cmpint(g_mkdir(f->path, 0700), ==, 0);
	g_assert_true(g_file_set_contents(inner, "x", -1, NULL));
	g_assert_false(kov_fileio_replace(f->path, NULL, "new", 3, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_IOERR);
	g_autofree char *want = g_strdup_printf("cannot write %s: ", f->path);
	g_assert_true(g_str_has_prefix(error->message, want));
	g_clear_error(&error);
	g_assert_cmpuint(kov_test_dir_count(f->dir), ==, 1);
	g_unlink(inner);
	g_rmdir(f->path);

	g_assert_false(kov_fileio_replace(missing, NULL, "new", 3, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_IOERR);
	g_assert_true(g_str_has_prefix(error->message, "cannot create "));
}

/* A read to the end, or to the cap; a failed read is an error naming the file. */
static void
test_read_all(void)
{
	int p[2];
	g_assert_cmpint(pipe(p), ==, 0);
	g_assert_cmpint(write(p[1], "0123456789", 10), ==, 10);
	close(p[1]);
	gsize len = 0;
	g_autoptr(GError) error = NULL;
	g_autofree char *some = kov_fileio_read_all(p[0], 4, &len, "pipe", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(some, ==, "0123");
	g_assert_cmpuint(len, ==, 4);
	g_autofree char *rest = kov_fileio_read_all(p[0], G_MAXSIZE, &len, "pipe", &error);
	g_assert_cmpstr(rest, ==, "456789");
	g_assert_cmpuint(len, ==, 6);
	close(p[0]);
	int dir = open("/", O_RDONLY | O_DIRECTORY);
	g_assert_null(kov_fileio_read_all(dir, 10, &len, "the root", &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_IOERR);
	g_assert_true(g_str_has_prefix(error->message, "the root: "));
	close(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) KOV_TEST_ADD_DIR(name, "file", fn)
	ADD("/fileio/write-all/file", test_write_all_file);
	g_test_add_func("/fileio/write-all/interrupted", test_write_all_interrupted);
	g_test_add_func("/fileio/read-all", test_read_all);
	ADD("/fileio/write-all/errors", test_write_all_errors);
	ADD("/fileio/sync-dir", test_sync_dir);
	ADD("/fileio/replace/new-and-over", test_replace);
	ADD("/fileio/replace/reserved", test_replace_reserved);
	ADD("/fileio/replace/link-refused", test_replace_link_refused);
	ADD("/fileio/replace/errors", test_replace_errors);
	return g_test_run();
}
