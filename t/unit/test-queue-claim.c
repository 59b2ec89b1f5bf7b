/* SPDX-License-Identifier: GPL-3.0-or-later */
/* queue.c's claim (issue 10 A5, A9): a name that is not safe is claimed
 * under a new one; a claim never replaces a file in cur/; a queue file is
 * opened only as a regular file, never through a link. Real files in a
 * real directory under /tmp. (Named apart from test-queue.c, which another
 * change may bring.) */
#include "error.h"
#include "fixture.h"
#include "queue.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *
make_queue(void)
{
	g_autoptr(GError) error = NULL;
	char *dir = kov_test_tmpdir_new("kovq");
	g_assert_true(kov_queue_prepare(dir, &error));
	g_assert_no_error(error);
	return dir;
}

static void
put(const char *dir, const char *sub, const char *name, const char *text)
{
	g_autofree char *path = g_build_filename(dir, "fallback", sub, name, NULL);
	kov_test_file_write(path, text, -1);
}

static char *
read_cur(const char *dir, const char *id)
{
	g_autofree char *path = kov_queue_cur_path(dir, KOV_QUEUE_FALLBACK, id);
	return kov_test_file_read(path, NULL);
}

static void
test_safe_names(void)
{
	static const char *const safe[] = { "1796603752.M321261P1938R31da8b7b.vm", "a", "x:2,S", "a-b_c=d+e,f" };
	static const char *const unsafe[] = { "", "a\nb", "\n", "c\r", "u\377", "\033[31m", "-x", ".x",
	                                      "a b", "b.reason", "b.tmp", "a/b", "a\tb", "a\\b", "a\"b" };
	for (gsize i = 0; i < G_N_ELEMENTS(safe); i++)
		g_assert_true(kov_queue_is_safe_name(safe[i]));
	for (gsize i = 0; i < G_N_ELEMENTS(unsafe); i++)
		g_assert_false(kov_queue_is_safe_name(unsafe[i]));
	g_autofree char *longest = g_strnfill(KOV_QUEUE_SAFE_NAME_MAX, 'L');
	g_autofree char *too_long = g_strnfill(KOV_QUEUE_SAFE_NAME_MAX + 1, 'L');
	g_assert_true(kov_queue_is_safe_name(longest));
	g_assert_false(kov_queue_is_safe_name(too_long));
}

/* "a\nb" and "b": the odd one gets a new safe name, "b" keeps its own, and
 * each id reads its own mail. */
static void
test_claim_renames(void)
{
	g_autofree char *dir = make_queue();
	g_autoptr(GError) error = NULL;
	g_autofree char *odd = NULL, *plain = NULL;

	put(dir, "new", "a\nb", "ODD");
	put(dir, "new", "b", "PLAIN");
	g_assert_true(kov_queue_claim(dir, KOV_QUEUE_FALLBACK, "a\nb", &odd, &error));
	g_assert_no_error(error);
	g_assert_true(kov_queue_claim(dir, KOV_QUEUE_FALLBACK, "b", &plain, &error));
	g_assert_no_error(error);
	g_assert_true(kov_queue_is_safe_name(odd));
	g_assert_cmpstr(plain, ==, "b");
	g_autofree char *t1 = read_cur(dir, odd);
	g_autofree char *t2 = read_cur(dir, plain);
	g_assert_cmpstr(t1, ==, "ODD");
	g_assert_cmpstr(t2, ==, "PLAIN");
	g_assert_true(kov_test_tree_remove(dir));
}

/* new/x while cur/x (a deferred mail) exists: claimed under another name,
 * cur/x untouched. Then a mail already gone: FALSE without an error. */
static void
test_claim_never_replaces(void)
{
	g_autofree char *dir = make_queue();
	g_autoptr(GError) error = NULL;
	g_autofree char *id = NULL, *none = NULL;

	put(dir, "cur", "x", "DEFERRED");
	put(dir, "new", "x", "NEW");
	g_assert_true(kov_queue_claim(dir, KOV_QUEUE_FALLBACK, "x", &id, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(id, !=, "x");
	g_autofree char *t1 = read_cur(dir, "x");
	g_autofree char *t2 = read_cur(dir, id);
	g_assert_cmpstr(t1, ==, "DEFERRED");
	g_assert_cmpstr(t2, ==, "NEW");
	g_assert_false(kov_queue_claim(dir, KOV_QUEUE_FALLBACK, "x", &none, &error));
	g_assert_no_error(error);
	g_assert_null(none);
	g_assert_true(kov_test_tree_remove(dir));
}

/* A claim that fails while the mail is still in new/ (here: no cur/) is
 * an error, never taken for "somebody else claimed it": -o must not exit 0. */
static void
test_claim_error(void)
{
	g_autofree char *dir = make_queue();
	g_autofree char *cur = g_build_filename(dir, "fallback", "cur", NULL);
	g_autoptr(GError) error = NULL;
	g_autofree char *id = NULL;

	put(dir, "new", "m", "MAIL");
	g_assert_cmpint(rmdir(cur), ==, 0);
	g_assert_false(kov_queue_claim(dir, KOV_QUEUE_FALLBACK, "m", &id, &error));
	g_assert_nonnull(error);
	g_assert_true(kov_test_tree_remove(dir));
}

/* An odd name in cur/ is renamed there, with its state. */
static void
test_rename_cur(void)
{
	g_autofree char *dir = make_queue();
	g_autoptr(GError) error = NULL;
	g_autofree char *id = NULL;
	g_autofree char *state = kov_queue_state_path(dir, KOV_QUEUE_FALLBACK, "c\r");

	put(dir, "cur", "c\r", "CR");
	g_assert_true(g_file_set_contents(state, "[mail]\n", -1, NULL));
	g_assert_true(kov_queue_rename_cur(dir, KOV_QUEUE_FALLBACK, "c\r", &id, &error));
	g_assert_no_error(error);
	g_assert_true(kov_queue_is_safe_name(id));
	g_autofree char *text = read_cur(dir, id);
	g_assert_cmpstr(text, ==, "CR");
	g_autofree char *moved = kov_queue_state_path(dir, KOV_QUEUE_FALLBACK, id);
	g_assert_true(g_file_test(moved, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(state, G_FILE_TEST_EXISTS));
	g_assert_true(kov_test_tree_remove(dir));
}

/* A link (even to a readable mail), a dangling link, a FIFO: refused with
 * KOV_ERROR_DATAERR, nothing read. A regular file opens. */
static void
test_open_mail(void)
{
	g_autofree char *dir = make_queue();
	g_autoptr(GError) error = NULL;
	g_autofree char *target = g_build_filename(dir, "target", NULL);
	g_autofree char *link = kov_queue_cur_path(dir, KOV_QUEUE_FALLBACK, "link");
	g_autofree char *dangling = kov_queue_cur_path(dir, KOV_QUEUE_FALLBACK, "dangling");
	g_autofree char *fifo = kov_queue_cur_path(dir, KOV_QUEUE_FALLBACK, "fifo");
	g_autofree char *plain = kov_queue_cur_path(dir, KOV_QUEUE_FALLBACK, "plain");

	g_assert_true(g_file_set_contents(target, "From: a@b\n\nSECRET\n", -1, NULL));
	g_assert_true(g_file_set_contents(plain, "From: a@b\n\nx\n", -1, NULL));
	g_assert_cmpint(symlink(target, link), ==, 0);
	g_assert_cmpint(symlink("/nonexistent", dangling), ==, 0);
	g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
	const char *refused[] = { link, dangling, fifo };
	for (gsize i = 0; i < G_N_ELEMENTS(refused); i++) {
		g_assert_cmpint(kov_queue_open_mail(refused[i], &error), ==, -1);
		g_assert_error(error, KOV_ERROR, KOV_ERROR_DATAERR);
		g_clear_error(&error);
	}
	int fd = kov_queue_open_mail(plain, &error);
	g_assert_no_error(error);
	g_assert_cmpint(fd, >=, 0);
	close(fd);
	g_assert_true(kov_test_tree_remove(dir));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/queue/safe-names", test_safe_names);
	g_test_add_func("/queue/claim-renames", test_claim_renames);
	g_test_add_func("/queue/claim-never-replaces", test_claim_never_replaces);
	g_test_add_func("/queue/claim-error", test_claim_error);
	g_test_add_func("/queue/rename-cur", test_rename_cur);
	g_test_add_func("/queue/open-mail", test_open_mail);
	return g_test_run();
}
