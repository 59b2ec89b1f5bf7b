/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Where a mail's scratch data lives: in memory up to
 * KOV_SCRATCH_MEMORY_MAX, else in an unlinked file in the tempdir (and
 * an unusable tempdir is an error only then). Read from /proc/self/fd. */
#include "scratch.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

/* What /proc says fd @fd is ("/memfd:NAME (deleted)", "/dir/#123 (deleted)"). */
static char *
fd_target(int fd)
{
	g_autofree char *link = g_strdup_printf("/proc/self/fd/%d", fd);
	char *target = g_file_read_link(link, NULL);
	g_assert_nonnull(target);
	return target;
}

/* A scratch file works as one: written, rewound, read back. */
static void
assert_usable(int fd)
{
	static const char text[] = "From: a@example.org\r\n\r\nbody\r\n";
	char back[sizeof text] = { 0 };
	g_assert_cmpint(write(fd, text, strlen(text)), ==, (gssize)strlen(text));
	g_assert_cmpint(lseek(fd, 0, SEEK_SET), ==, 0);
	g_assert_cmpint(read(fd, back, sizeof back), ==, (gssize)strlen(text));
	g_assert_cmpstr(back, ==, text);
}

static void
test_small_in_memory(void)
{
	g_autoptr(GError) error = NULL;
	/* Even with a tempdir that does not exist: memory needs none. */
	int fd = kov_scratch_new("/nonexistent/koverto", KOV_SCRATCH_MEMORY_MAX, &error);
	g_assert_no_error(error);
	g_assert_cmpint(fd, >=, 0);
	g_autofree char *target = fd_target(fd);
	g_assert_true(g_str_has_prefix(target, "/memfd:koverto-scratch"));
	assert_usable(fd);
	close(fd);
}

static void
test_large_in_tempdir(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("kov-scratch-XXXXXX", &error);
	g_assert_no_error(error);
	int fd = kov_scratch_new(dir, KOV_SCRATCH_MEMORY_MAX + 1, &error);
	g_assert_no_error(error);
	g_assert_cmpint(fd, >=, 0);
	g_autofree char *target = fd_target(fd);
	g_autofree char *prefix = g_strconcat(dir, "/", NULL);
	g_assert_true(g_str_has_prefix(target, prefix));
	g_assert_true(g_str_has_suffix(target, " (deleted)"));
	assert_usable(fd);

	/* No name is left behind in the directory. */
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	g_assert_null(g_dir_read_name(d));
	close(fd);
	g_assert_cmpint(g_rmdir(dir), ==, 0);
}

static void
test_large_bad_tempdir(void)
{
	g_autoptr(GError) error = NULL;
	int fd = kov_scratch_new("/nonexistent/koverto", KOV_SCRATCH_MEMORY_MAX + 1, &error);
	g_assert_cmpint(fd, ==, -1);
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, "/nonexistent/koverto"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/scratch/small-in-memory", test_small_in_memory);
	g_test_add_func("/scratch/large-in-tempdir", test_large_in_tempdir);
	g_test_add_func("/scratch/large-bad-tempdir", test_large_bad_tempdir);
	return g_test_run();
}
