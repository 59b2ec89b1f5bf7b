/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Kuvert's traces (lib/spool/kuvert.c): its pid file is in $TMPDIR, where
 * anyone may make a file of its name. A FIFO or a link there is not read
 * and does not hang the start (an alarm fails a hang); a stale pid file
 * is ignored. Real files in a directory under /tmp. */
#include "kuvert.h"
#include "fixture.h"

#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

static void
test_pidfile_not_a_file(void)
{
	g_autofree char *dir = kov_test_tmpdir_new("kovk");
	g_autofree char *name = g_strdup_printf("kuvert.%u.pid", (unsigned)getuid());
	g_autofree char *pidfile = g_build_filename(dir, name, NULL);
	g_autofree char *target = g_build_filename(dir, "target", NULL);
	g_autoptr(GError) error = NULL;
	g_setenv("TMPDIR", dir, TRUE);
	alarm(20);

	g_assert_cmpint(mkfifo(pidfile, 0600), ==, 0);
	g_assert_true(kov_kuvert_check_running(dir, &error));
	g_assert_no_error(error);
	g_assert_cmpint(unlink(pidfile), ==, 0);

	/* A link, to a FIFO: not followed either. */
	g_assert_cmpint(mkfifo(target, 0600), ==, 0);
	g_assert_cmpint(symlink(target, pidfile), ==, 0);
	g_assert_true(kov_kuvert_check_running(dir, &error));
	g_assert_cmpint(unlink(pidfile), ==, 0);

	/* A stale pid file (no such process). */
	kov_test_file_write(pidfile, "2147483646\n", -1);
	g_assert_true(kov_kuvert_check_running(dir, &error));
	g_assert_no_error(error);

	alarm(0);
	g_unsetenv("TMPDIR");
	g_assert_true(kov_test_tree_remove(dir));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/kuvert/pidfile-not-a-file", test_pidfile_not_a_file);
	return g_test_run();
}
