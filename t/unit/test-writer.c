/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of lib/spool/writer.c, the one way a new mail enters a queue
 * (koverto submit and the listener), on real directories: the mail
 * appears in new/ whole at the commit or never; one never committed
 * leaves nothing, in tmp/ either; the Kuvert queue gets an all-digit
 * name and never replaces a file; what was written can be read back
 * before the commit; a failed hand-over leaves nothing. */
#include "writer.h"
#include "error.h"
#include "queue.h"
#include "fixture.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

static char *
make_queuedir(void)
{
	char *dir = kov_test_tmpdir_new("kovwr");
	for (const char *const *s = (const char *const[]){ "tmp", "new", "cur", NULL }; *s; s++) {
		g_autofree char *d = g_build_filename(dir, "fallback", *s, NULL);
		g_assert_cmpint(g_mkdir_with_parents(d, 0700), ==, 0);
	}
	return dir;
}

static guint
count(const char *dir, const char *a, const char *b)
{
	g_autofree char *d = g_build_filename(dir, a, b, NULL);
	return kov_test_dir_count(d);
}

static void
test_commit(void)
{
	g_autofree char *dir = make_queuedir();
	g_autoptr(GError) error = NULL;
	g_autoptr(KovQueueWriter) w = kov_queue_writer_new(dir, "fallback", &error);
	g_assert_no_error(error);
	g_assert_true(kov_queue_writer_write(w, "From: a@b\n", 10, &error));
	g_assert_true(kov_queue_writer_write(w, "\nbody\n", 6, &error));
	/* Nothing visible before the commit: no name anywhere. */
	g_assert_cmpuint(count(dir, "fallback", "tmp"), ==, 0);
	g_assert_cmpuint(count(dir, "fallback", "new"), ==, 0);
	/* What was written reads back from the start. */
	char buf[32] = { 0 };
	g_assert_cmpint(pread(kov_queue_writer_fd(w), buf, sizeof buf - 1, 0), ==, 16);
	g_assert_cmpstr(buf, ==, "From: a@b\n\nbody\n");
	g_assert_true(kov_queue_writer_commit(w, &error));
	g_assert_no_error(error);
	const char *id = kov_queue_writer_id(w);
	g_assert_true(kov_queue_is_safe_name(id));
	g_autofree char *path = g_build_filename(dir, "fallback", "new", id, NULL);
	g_autofree char *text = kov_test_file_read(path, NULL);
	g_assert_cmpstr(text, ==, "From: a@b\n\nbody\n");
	struct stat st;
	g_assert_cmpint(stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	g_assert_cmpuint(count(dir, "fallback", "tmp"), ==, 0);
	g_assert_true(kov_test_tree_remove(dir));
}

/* Written, then dropped (a refusal, a disconnect): nothing is left. */
static void
test_abandon(void)
{
	g_autofree char *dir = make_queuedir();
	g_autoptr(GError) error = NULL;
	KovQueueWriter *w = kov_queue_writer_new(dir, "fallback", &error);
	g_assert_nonnull(w);
	g_assert_true(kov_queue_writer_write(w, "From: a@b\n\nhalf a", 17, &error));
	kov_queue_writer_free(w);
	g_assert_cmpuint(count(dir, "fallback", "tmp"), ==, 0);
	g_assert_cmpuint(count(dir, "fallback", "new"), ==, 0);
	g_assert_true(kov_test_tree_remove(dir));
}

/* The Kuvert queue: digits at the top of queuedir, never over a file
 * that is there (its name taken meanwhile: the mail gets another). */
static void
test_kuvert(void)
{
	g_autofree char *dir = make_queuedir();
	g_autoptr(GError) error = NULL;
	g_autoptr(KovQueueWriter) w = kov_queue_writer_new(dir, KOV_QUEUE_KUVERT_NAME, &error);
	g_assert_no_error(error);
	g_autofree char *first = g_strdup(kov_queue_writer_id(w));
	g_assert_true(kov_queue_is_kuvert_name(first));
	g_autofree char *taken = g_build_filename(dir, first, NULL);
	kov_test_file_write(taken, "somebody else's\n", -1);
	g_assert_true(kov_queue_writer_write(w, "From: a@b\n\nx\n", 13, &error));
	g_assert_true(kov_queue_writer_commit(w, &error));
	g_assert_no_error(error);
	const char *id = kov_queue_writer_id(w);
	g_assert_cmpstr(id, !=, first);
	g_assert_true(kov_queue_is_kuvert_name(id));
	g_autofree char *mine = g_build_filename(dir, id, NULL);
	g_autofree char *text = kov_test_file_read(mine, NULL);
	g_assert_cmpstr(text, ==, "From: a@b\n\nx\n");
	g_autofree char *other = kov_test_file_read(taken, NULL);
	g_assert_cmpstr(other, ==, "somebody else's\n");
	/* No dot file is left behind either. */
	g_assert_cmpuint(kov_test_dir_count(dir), ==, 3);   /* fallback/, two mails */
	g_assert_true(kov_test_tree_remove(dir));
}

/* A failed hand-over (new/ gone) leaves nothing, and says so. */
static void
test_commit_fails(void)
{
	g_autofree char *dir = make_queuedir();
	g_autoptr(GError) error = NULL;
	g_autoptr(KovQueueWriter) w = kov_queue_writer_new(dir, "fallback", &error);
	g_assert_true(kov_queue_writer_write(w, "From: a@b\n\nx\n", 13, &error));
	g_autofree char *new_dir = g_build_filename(dir, "fallback", "new", NULL);
	g_assert_cmpint(g_rmdir(new_dir), ==, 0);
	g_assert_false(kov_queue_writer_commit(w, &error));
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, "new/"));
	g_assert_cmpuint(count(dir, "fallback", "tmp"), ==, 0);
	g_assert_true(kov_test_tree_remove(dir));
}

/* No file, no writer: a queue name that is no directory name is a
 * configuration error; a missing directory, a creation error. */
static void
test_refused(void)
{
	g_autofree char *dir = make_queuedir();
	g_autoptr(GError) error = NULL;
	for (const char *const *bad = (const char *const[]){ "", ".", "..", "a/b", "../fallback", NULL };
	     *bad; bad++) {
		g_assert_null(kov_queue_writer_new(dir, *bad, &error));
		g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
		g_clear_error(&error);
	}
	g_assert_null(kov_queue_writer_new(dir, "sign-only", &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CANTCREAT);
	g_assert_true(kov_test_tree_remove(dir));
}

/* Names: distinct within a process, safe, digits for Kuvert. */
static void
test_names(void)
{
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	for (int i = 0; i < 1000; i++) {
		char *m = kov_queue_new_name(NULL), *k = kov_queue_new_name(KOV_QUEUE_KUVERT_NAME);
		g_assert_true(kov_queue_is_safe_name(m));
		g_assert_true(kov_queue_is_kuvert_name(k));
		g_assert_true(g_hash_table_add(seen, m));
		g_assert_true(g_hash_table_add(seen, k));
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/writer/commit", test_commit);
	g_test_add_func("/writer/abandon", test_abandon);
	g_test_add_func("/writer/kuvert", test_kuvert);
	g_test_add_func("/writer/commit-fails", test_commit_fails);
	g_test_add_func("/writer/refused", test_refused);
	g_test_add_func("/writer/names", test_names);
	return g_test_run();
}
