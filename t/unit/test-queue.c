/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The spool on disk (lib/spool/queue.c), in real directories under /tmp:
 * a hand-over leaves a whole mail in new/ or nothing; a claim moves it to
 * cur/ and never replaces a file there, and a name that is not safe is
 * claimed under a new one (issue 10 A5, A9); done and failed (parked with
 * its reason, readdressed to those who did not get it); the daemon's lock;
 * the clean-ups of tmp/, state/ and failed/. A queue file is opened only
 * as a regular file, never through a link. */
#include "error.h"
#include "fixture.h"
#include "queue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

static char *
make_queue(void)
{
	g_autoptr(GError) error = NULL;
	char *dir = kov_test_tmpdir_new("kovq");
	g_assert_true(kov_queue_prepare(dir, NULL, &error));
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
	g_autofree char *path = kov_queue_cur_path(dir, "fallback", id);
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
	g_assert_true(kov_queue_claim(dir, "fallback", "a\nb", &odd, &error));
	g_assert_no_error(error);
	g_assert_true(kov_queue_claim(dir, "fallback", "b", &plain, &error));
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
	g_assert_true(kov_queue_claim(dir, "fallback", "x", &id, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(id, !=, "x");
	g_autofree char *t1 = read_cur(dir, "x");
	g_autofree char *t2 = read_cur(dir, id);
	g_assert_cmpstr(t1, ==, "DEFERRED");
	g_assert_cmpstr(t2, ==, "NEW");
	g_assert_false(kov_queue_claim(dir, "fallback", "x", &none, &error));
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
	g_assert_false(kov_queue_claim(dir, "fallback", "m", &id, &error));
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
	g_autofree char *state = kov_queue_state_path(dir, "fallback", "c\r");

	put(dir, "cur", "c\r", "CR");
	g_assert_true(g_file_set_contents(state, "[mail]\n", -1, NULL));
	g_assert_true(kov_queue_rename_cur(dir, "fallback", "c\r", &id, &error));
	g_assert_no_error(error);
	g_assert_true(kov_queue_is_safe_name(id));
	g_autofree char *text = read_cur(dir, id);
	g_assert_cmpstr(text, ==, "CR");
	g_autofree char *moved = kov_queue_state_path(dir, "fallback", id);
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
	g_autofree char *link = kov_queue_cur_path(dir, "fallback", "link");
	g_autofree char *dangling = kov_queue_cur_path(dir, "fallback", "dangling");
	g_autofree char *fifo = kov_queue_cur_path(dir, "fallback", "fifo");
	g_autofree char *plain = kov_queue_cur_path(dir, "fallback", "plain");

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

/* A mail from a file descriptor, as koverto submit hands it over. (transfer full) */
static char *
enqueue(const char *dir, const char *kind, const char *envelope, const char *text,
        KovQueueCheck check, GError **error)
{
	g_autofree char *path = g_build_filename(dir, "input", NULL);
	kov_test_file_write(path, text, -1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	g_assert_cmpint(fd, >=, 0);
	char *id = kov_queue_enqueue_fd(dir, kind, fd, envelope, check, NULL, error);
	close(fd);
	g_unlink(path);
	return id;
}

static guint
count_files(const char *dir, const char *kind, const char *sub)
{
	g_autofree char *path = g_build_filename(dir, kind, sub, NULL);
	return kov_test_dir_count(path);
}
static gboolean
refuse(const char *name, int fd, gpointer data, char **prepend, GError **error)
{
	(void)name, (void)fd, (void)data, (void)prepend;
	g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR, "not a mail");
	return FALSE;
}

static gboolean
readdress(const char *name, int fd, gpointer data, char **prepend, GError **error)
{
	(void)name, (void)fd, (void)data, (void)error;
	*prepend = g_strdup("X-Kuvert-From: carol@example.org\nX-Kuvert-To: dave@example.com\n");
	return TRUE;
}

/* Into new/ with its envelope lines first, tmp/ empty; a refused mail
 * leaves nothing; a check's envelope replaces the mail's own. */
static void
test_enqueue(void)
{
	g_autofree char *dir = make_queue();
	g_autoptr(GError) error = NULL;
	const char *mail = "X-Kuvert-To: bob@example.net\nFrom: alice@example.org\n\nbody\n";

	g_autofree char *id = enqueue(dir, "fallback", "X-Kuvert-From: alice@example.org\n",
	                              "From: alice@example.org\n\nbody\n", NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(id);
	g_assert_true(kov_queue_is_safe_name(id));
	g_autofree char *path = g_build_filename(dir, "fallback", "new", id, NULL);
	g_autofree char *text = kov_test_file_read(path, NULL);
	g_assert_cmpstr(text, ==, "X-Kuvert-From: alice@example.org\nFrom: alice@example.org\n\nbody\n");
	g_assert_cmpuint(count_files(dir, "fallback", "tmp"), ==, 0);
	g_auto(GStrv) listed = kov_queue_list(dir, "fallback", "new", &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_strv_length(listed), ==, 1);
	g_assert_cmpstr(listed[0], ==, id);

	g_assert_null(enqueue(dir, "sign-only", NULL, mail, refuse, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_DATAERR);
	g_clear_error(&error);
	g_assert_cmpuint(count_files(dir, "sign-only", "tmp"), ==, 0);
	g_assert_cmpuint(count_files(dir, "sign-only", "new"), ==, 0);

	g_autofree char *re = enqueue(dir, "must-encrypt", NULL, mail, readdress, &error);
	g_assert_no_error(error);
	g_autofree char *re_path = g_build_filename(dir, "must-encrypt", "new", re, NULL);
	g_autofree char *re_text = kov_test_file_read(re_path, NULL);
	g_assert_true(g_str_has_prefix(re_text, "X-Kuvert-From: carol@example.org\nX-Kuvert-To: dave@example.com\n"));
	g_assert_null(strstr(re_text, "bob@example.net"));
	g_assert_nonnull(strstr(re_text, "\n\nbody\n"));
	g_assert_cmpuint(count_files(dir, "must-encrypt", "tmp"), ==, 0);
	g_assert_true(kov_test_tree_remove(dir));
}

/* The Kuvert queue: an all-digit name at the top of queuedir, listed;
 * a dot name (being written, or parked) is not. */
static void
test_enqueue_kuvert(void)
{
	g_autofree char *dir = make_queue();
	g_autoptr(GError) error = NULL;

	g_autofree char *id = enqueue(dir, "kuvert", NULL, "From: a@b\n\nx\n", NULL, &error);
	g_assert_no_error(error);
	g_assert_true(kov_queue_is_kuvert_name(id));
	g_autofree char *path = kov_queue_cur_path(dir, "kuvert", id);
	g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
	g_autofree char *parked = g_build_filename(dir, ".123", NULL);
	kov_test_file_write(parked, "x", -1);
	g_auto(GStrv) listed = kov_queue_list(dir, "kuvert", NULL, &error);
	g_assert_cmpuint(g_strv_length(listed), ==, 1);
	g_assert_cmpstr(listed[0], ==, id);
	int fd = kov_queue_lock_kuvert(dir, id);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(kov_queue_lock_kuvert(dir, id), ==, -1); /* held */
	close(fd);
	g_assert_true(kov_test_tree_remove(dir));
}

/* Delivered: the mail and its state go; a mail gone already is no error. */
static void
test_done(void)
{
	g_autofree char *dir = make_queue();
	g_autoptr(GError) error = NULL;
	g_autofree char *state = kov_queue_state_path(dir, "fallback", "m");

	put(dir, "cur", "m", "MAIL");
	kov_test_file_write(state, "[mail]\n", -1);
	g_assert_true(kov_queue_done(dir, "fallback", "m", &error));
	g_assert_no_error(error);
	g_assert_cmpuint(count_files(dir, "fallback", "cur"), ==, 0);
	g_assert_false(g_file_test(state, G_FILE_TEST_EXISTS));
	g_assert_true(kov_queue_done(dir, "fallback", "m", &error));
	g_assert_no_error(error);
	g_assert_true(kov_test_tree_remove(dir));
}

/* Failed: parked in failed/ with its reason, the state gone; with the
 * undelivered recipients, readdressed to them alone. A Kuvert file is
 * parked as queuedir/.<id>. */
static void
test_fail(void)
{
	g_autofree char *dir = make_queue();
	g_autoptr(GError) error = NULL;
	g_autofree char *state = kov_queue_state_path(dir, "fallback", "m");

	put(dir, "cur", "m", "From: a@b\n\nx\n");
	kov_test_file_write(state, "[mail]\n", -1);
	g_assert_true(kov_queue_fail(dir, "fallback", "m", "no key", NULL, &error));
	g_assert_no_error(error);
	g_autofree char *failed = kov_queue_failed_path(dir, "fallback", "m");
	g_autofree char *reason_path = g_strconcat(failed, ".reason", NULL);
	g_autofree char *mail = kov_test_file_read(failed, NULL);
	g_autofree char *reason = kov_test_file_read(reason_path, NULL);
	g_assert_cmpstr(mail, ==, "From: a@b\n\nx\n");
	g_assert_cmpstr(reason, ==, "no key\n");
	g_assert_false(g_file_test(state, G_FILE_TEST_EXISTS));
	g_assert_cmpuint(count_files(dir, "fallback", "cur"), ==, 0);

	put(dir, "cur", "n", "X-Kuvert-To: bob@example.net, dave@example.com\nFrom: a@b\n\nx\n");
	g_assert_true(kov_queue_fail(dir, "fallback", "n", "550", "dave@example.com", &error));
	g_assert_no_error(error);
	g_autofree char *failed_n = kov_queue_failed_path(dir, "fallback", "n");
	g_autofree char *text = kov_test_file_read(failed_n, NULL);
	g_assert_true(g_str_has_prefix(text, "X-Kuvert-To: dave@example.com\n"));
	g_assert_null(strstr(text, "bob@example.net"));
	g_assert_cmpuint(count_files(dir, "fallback", "cur"), ==, 0);
	g_assert_cmpuint(count_files(dir, "failed", NULL), ==, 4); /* two mails, two reasons */

	g_autofree char *kuvert = kov_queue_cur_path(dir, "kuvert", "42");
	kov_test_file_write(kuvert, "From: a@b\n\nx\n", -1);
	g_assert_true(kov_queue_fail(dir, "kuvert", "42", "why", NULL, &error));
	g_autofree char *dot = g_build_filename(dir, ".42", NULL);
	g_autofree char *dot_reason = g_build_filename(dir, ".42.reason", NULL);
	g_assert_true(g_file_test(dot, G_FILE_TEST_IS_REGULAR));
	g_assert_true(g_file_test(dot_reason, G_FILE_TEST_IS_REGULAR));
	g_assert_false(g_file_test(kuvert, G_FILE_TEST_EXISTS));

	/* Nowhere to park it: an error, and the mail stays where it is. */
	put(dir, "cur", "p", "From: a@b\n\nx\n");
	g_autofree char *failed_dir = g_build_filename(dir, "failed", NULL);
	g_assert_true(kov_test_tree_remove(failed_dir));
	g_assert_false(kov_queue_fail(dir, "fallback", "p", "why", NULL, &error));
	g_assert_nonnull(error);
	g_autofree char *kept = read_cur(dir, "p");
	g_assert_cmpstr(kept, ==, "From: a@b\n\nx\n");
	g_assert_true(kov_test_tree_remove(dir));
}

/* One daemon per queue: a second lock is refused, naming our pid;
 * unlocked, the pid file is gone and the lock can be taken again. */
static void
test_lock(void)
{
	g_autofree char *dir = make_queue();
	g_autoptr(GError) error = NULL;
	g_autofree char *pidfile = g_build_filename(dir, "koverto.pid", NULL);

	g_assert_cmpint(kov_queue_locked_pid(dir), ==, 0);
	int fd = kov_queue_lock(dir, 0, &error);
	g_assert_no_error(error);
	g_assert_cmpint(fd, >=, 0);
	g_autofree char *pid = kov_test_file_read(pidfile, NULL);
	g_assert_cmpint(atoi(pid), ==, getpid());
	g_assert_cmpint(kov_queue_locked_pid(dir), ==, getpid());
	g_assert_cmpint(kov_queue_lock(dir, 0, &error), ==, -1);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_LOCKED);
	g_autofree char *pid_text = g_strdup_printf("(pid %d)", (int)getpid());
	g_assert_nonnull(strstr(error->message, pid_text));
	g_clear_error(&error);
	kov_queue_unlock(dir, fd);
	g_assert_false(g_file_test(pidfile, G_FILE_TEST_EXISTS));
	g_assert_cmpint(kov_queue_locked_pid(dir), ==, 0);
	fd = kov_queue_lock(dir, 0, &error);
	g_assert_no_error(error);
	kov_queue_unlock(dir, fd);
	g_assert_true(kov_test_tree_remove(dir));
}

/* @path last changed @age seconds ago. */
static void
age(const char *path, gint64 seconds)
{
	gint64 then = g_get_real_time() / G_USEC_PER_SEC - seconds;
	struct utimbuf times = { .actime = then, .modtime = then };
	g_assert_cmpint(utime(path, &times), ==, 0);
}

/* The clean-ups: old half-written hand-overs, failed mail past its
 * retention (with its reason), state whose mail is gone. What is recent,
 * or still has its mail, stays. */
static void
test_clean_ups(void)
{
	g_autofree char *dir = make_queue();
	g_autofree char *old_tmp = g_build_filename(dir, "fallback", "tmp", "old", NULL);
	g_autofree char *new_tmp = g_build_filename(dir, "fallback", "tmp", "new", NULL);
	kov_test_file_write(old_tmp, "x", -1);
	kov_test_file_write(new_tmp, "x", -1);
	age(old_tmp, 100);
	kov_queue_clean_tmp(dir, "fallback", 50);
	g_assert_false(g_file_test(old_tmp, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(new_tmp, G_FILE_TEST_EXISTS));

	g_autoptr(GError) error = NULL;
	put(dir, "cur", "old", "x");
	put(dir, "cur", "new", "x");
	g_assert_true(kov_queue_fail(dir, "fallback", "old", "why", NULL, &error));
	g_assert_true(kov_queue_fail(dir, "fallback", "new", "why", NULL, &error));
	g_autofree char *old_failed = kov_queue_failed_path(dir, "fallback", "old");
	g_autofree char *old_reason = g_strconcat(old_failed, ".reason", NULL);
	age(old_reason, 100);
	g_assert_cmpuint(kov_queue_purge_failed(dir, 50), ==, 1);
	g_assert_false(g_file_test(old_failed, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(old_reason, G_FILE_TEST_EXISTS));
	g_assert_cmpuint(count_files(dir, "failed", NULL), ==, 2);

	g_autofree char *kept = kov_queue_state_path(dir, "fallback", "here");
	g_autofree char *orphan = kov_queue_state_path(dir, "sign-only", "gone");
	g_autofree char *tmp = g_strconcat(orphan, ".tmp", NULL);
	put(dir, "cur", "here", "x");
	kov_test_file_write(kept, "[mail]\n", -1);
	kov_test_file_write(orphan, "[mail]\n", -1);
	kov_test_file_write(tmp, "", -1);
	g_assert_cmpuint(kov_queue_clean_state(dir), ==, 1);
	g_assert_true(g_file_test(kept, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(orphan, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(tmp, G_FILE_TEST_EXISTS)); /* a reservation, not a state */
	g_assert_true(kov_test_tree_remove(dir));
}

/* Issue 15 hardening: what koverto never makes in its spool (a symbolic
 * link, a FIFO) is never followed, written through or waited on. A
 * queue's directory that is a link is refused (queuedir itself may be
 * one) and is no Maildir to list; a pid file that is a link, or a FIFO,
 * stops the lock without a write to the target; failing a mail over a
 * link in failed/ replaces the link, the target keeps its bytes; a reason
 * that is a link is no reason to purge by; a link in tmp/ or cur/ is no
 * file to clean or a gone mail. An alarm fails a hang. */
static void
test_links(void)
{
	g_autofree char *dir = make_queue();
	g_autofree char *outside = kov_test_tmpdir_new("kovo");
	g_autofree char *target = g_build_filename(outside, "target", NULL);
	g_autoptr(GError) error = NULL;
	kov_test_file_write(target, "TARGET\n", -1);
	age(target, 1000);
	alarm(20);

	/* A queue directory that is a link, here with a new/ behind it. */
	g_autofree char *other = g_build_filename(dir, "other", NULL);
	g_autofree char *outside_new = g_build_filename(outside, "new", NULL);
	g_assert_cmpint(g_mkdir(outside_new, 0700), ==, 0);
	g_assert_cmpint(symlink(outside, other), ==, 0);
	g_auto(GStrv) maildirs = kov_queue_list_maildirs(dir);
	for (char **m = maildirs; *m != NULL; m++)
		g_assert_cmpstr(*m, !=, "other");
	g_autoptr(GPtrArray) queues = g_ptr_array_new_with_free_func(g_free);
	KovQueueConfig *q = g_new0(KovQueueConfig, 1);
	q->name = "other";
	g_ptr_array_add(queues, q);
	g_assert_false(kov_queue_prepare(dir, queues, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	g_assert_nonnull(strstr(error->message, "symbolic link"));
	g_clear_error(&error);
	g_assert_cmpint(unlink(other), ==, 0);
	g_assert_cmpint(rmdir(outside_new), ==, 0);
	/* queuedir itself may be a link the operator made. */
	g_autofree char *via = g_build_filename(outside, "via", NULL);
	g_assert_cmpint(symlink(dir, via), ==, 0);
	g_assert_true(kov_queue_prepare(via, NULL, &error));
	g_assert_no_error(error);
	g_assert_cmpint(unlink(via), ==, 0);

	/* The pid file. */
	g_autofree char *pid = g_build_filename(dir, "koverto.pid", NULL);
	g_assert_cmpint(symlink(target, pid), ==, 0);
	g_assert_cmpint(kov_queue_lock(dir, 0, &error), ==, -1);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CANTCREAT);
	g_clear_error(&error);
	g_assert_cmpint(unlink(pid), ==, 0);
	g_assert_cmpint(mkfifo(pid, 0600), ==, 0);
	g_assert_cmpint(kov_queue_lock(dir, 0, &error), ==, -1);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CANTCREAT);
	g_clear_error(&error);
	g_assert_cmpint(unlink(pid), ==, 0);

	/* failed/ over a link and a FIFO, with undelivered recipients. */
	for (int i = 0; i < 2; i++) {
		const char *id = i == 0 ? "l" : "f";
		g_autofree char *failed = kov_queue_failed_path(dir, "fallback", id);
		g_assert_cmpint(i == 0 ? symlink(target, failed) : mkfifo(failed, 0600), ==, 0);
		put(dir, "cur", id, "X-Kuvert-To: bob@example.net, dave@example.com\nFrom: a@b\n\nx\n");
		g_assert_true(kov_queue_fail(dir, "fallback", id, "550", "dave@example.com", &error));
		g_assert_no_error(error);
		GStatBuf st;
		g_assert_cmpint(g_lstat(failed, &st), ==, 0);
		g_assert_true(S_ISREG(st.st_mode));
		g_autofree char *text = kov_test_file_read(failed, NULL);
		g_assert_true(g_str_has_prefix(text, "X-Kuvert-To: dave@example.com\n"));
	}

	/* A reason that is a link to an old file: no reason to purge by. */
	put(dir, "cur", "r", "x");
	g_assert_true(kov_queue_fail(dir, "fallback", "r", "why", NULL, &error));
	g_autofree char *failed_r = kov_queue_failed_path(dir, "fallback", "r");
	g_autofree char *reason_r = g_strconcat(failed_r, ".reason", NULL);
	g_assert_cmpint(unlink(reason_r), ==, 0);
	g_assert_cmpint(symlink(target, reason_r), ==, 0);
	g_assert_cmpuint(kov_queue_purge_failed(dir, 50), ==, 0);
	g_assert_true(g_file_test(failed_r, G_FILE_TEST_IS_REGULAR));
	g_assert_cmpuint(kov_queue_purge_failed(dir, 50), ==, 0); /* logged once, still kept */

	/* tmp/: a link to an old file is not an old hand-over. */
	g_autofree char *tmp_link = g_build_filename(dir, "fallback", "tmp", "link", NULL);
	g_assert_cmpint(symlink(target, tmp_link), ==, 0);
	kov_queue_clean_tmp(dir, "fallback", 50);
	g_assert_true(g_file_test(tmp_link, G_FILE_TEST_IS_SYMLINK));

	/* A mail in cur/ that is a dangling link is still there: its state stays. */
	g_autofree char *dangling = g_build_filename(dir, "fallback", "cur", "d", NULL);
	g_autofree char *nothing = g_build_filename(outside, "nothing", NULL);
	g_assert_cmpint(symlink(nothing, dangling), ==, 0);
	g_autofree char *state = kov_queue_state_path(dir, "fallback", "d");
	kov_test_file_write(state, "[mail]\n", -1);
	g_assert_cmpuint(kov_queue_clean_state(dir), ==, 0);
	g_assert_true(g_file_test(state, G_FILE_TEST_EXISTS));

	g_autofree char *back = kov_test_file_read(target, NULL);
	g_assert_cmpstr(back, ==, "TARGET\n");
	alarm(0);
	g_assert_true(kov_test_tree_remove(dir));
	g_assert_true(kov_test_tree_remove(outside));
}

static KovQueueConfig *
queue_config(const char *name, KovQueueKind kind)
{
	KovQueueConfig *q = g_new0(KovQueueConfig, 1);
	q->name = g_strdup(name);
	q->kind = kind;
	return q;
}

static void
queue_config_free(gpointer data)
{
	KovQueueConfig *q = data;
	g_free(q->name);
	g_free(q);
}

/* A named queue (issue 12) is a Maildir like the built-ins: made by
 * prepare, handed over, listed, claimed, its state and failed files named
 * <queue>.<id> as the built-ins' have always been (so a spool written
 * before named queues existed is read as it is). */
static void
test_named_queue(void)
{
	char *dir = kov_test_tmpdir_new("kovq");
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) queues = g_ptr_array_new_with_free_func(queue_config_free);
	g_ptr_array_add(queues, queue_config("must-encrypt", KOV_QUEUE_MUST_ENCRYPT));
	g_ptr_array_add(queues, queue_config("fallback", KOV_QUEUE_FALLBACK));
	g_ptr_array_add(queues, queue_config("sign-only", KOV_QUEUE_SIGN_ONLY));
	g_ptr_array_add(queues, queue_config("monitoring", KOV_QUEUE_MUST_ENCRYPT));

	g_assert_true(kov_queue_prepare(dir, queues, &error));
	g_assert_no_error(error);
	const char *subs[] = { "tmp", "new", "cur" };
	for (gsize i = 0; i < G_N_ELEMENTS(subs); i++) {
		g_autofree char *sub = g_build_filename(dir, "monitoring", subs[i], NULL);
		struct stat st;
		g_assert_cmpint(stat(sub, &st), ==, 0);
		g_assert_true(S_ISDIR(st.st_mode));
		g_assert_cmpint(st.st_mode & 0777, ==, 0700);
	}
	g_autofree char *id = enqueue(dir, "monitoring", "X-Kuvert-To: bob@example.net\n",
	                              "From: a@example.org\n\nx\n", NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(count_files(dir, "monitoring", "new"), ==, 1);
	g_assert_cmpuint(count_files(dir, "fallback", "new"), ==, 0);
	g_auto(GStrv) listed = kov_queue_list(dir, "monitoring", "new", &error);
	g_assert_cmpstrv(listed, ((const char *const[]){ id, NULL }));

	g_autofree char *claimed = NULL;
	g_assert_true(kov_queue_claim(dir, "monitoring", id, &claimed, &error));
	g_assert_cmpstr(claimed, ==, id);
	g_autofree char *cur = kov_queue_cur_path(dir, "monitoring", id);
	g_autofree char *want_cur = g_build_filename(dir, "monitoring", "cur", id, NULL);
	g_assert_cmpstr(cur, ==, want_cur);
	g_assert_true(g_file_test(cur, G_FILE_TEST_IS_REGULAR));

	g_autofree char *state = kov_queue_state_path(dir, "monitoring", id);
	g_autofree char *state_name = g_strconcat("monitoring.", id, NULL);
	g_autofree char *want_state = g_build_filename(dir, "state", state_name, NULL);
	g_assert_cmpstr(state, ==, want_state);
	/* The built-ins keep the names an existing spool has. */
	g_autofree char *old_state = kov_queue_state_path(dir, "fallback", "m");
	g_autofree char *want_old = g_build_filename(dir, "state", "fallback.m", NULL);
	g_assert_cmpstr(old_state, ==, want_old);
	g_autofree char *old_failed = kov_queue_failed_path(dir, "sign-only", "m");
	g_autofree char *want_failed = g_build_filename(dir, "failed", "sign-only.m", NULL);
	g_assert_cmpstr(old_failed, ==, want_failed);

	kov_test_file_write(state, "[mail]\n", -1);
	g_assert_true(kov_queue_fail(dir, "monitoring", id, "no key", NULL, &error));
	g_autofree char *failed = kov_queue_failed_path(dir, "monitoring", id);
	g_autofree char *failed_name = g_strconcat("monitoring.", id, NULL);
	g_autofree char *want = g_build_filename(dir, "failed", failed_name, NULL);
	g_assert_cmpstr(failed, ==, want);
	g_assert_true(g_file_test(failed, G_FILE_TEST_IS_REGULAR));
	g_assert_false(g_file_test(state, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(cur, G_FILE_TEST_EXISTS));

	/* The maildirs found in queuedir, configured or not; state/ and
	 * failed/ are no queues. */
	g_autofree char *gone = g_build_filename(dir, "gone", "new", NULL);
	g_assert_cmpint(g_mkdir_with_parents(gone, 0700), ==, 0);
	g_auto(GStrv) maildirs = kov_queue_list_maildirs(dir);
	g_assert_cmpuint(g_strv_length(maildirs), ==, 5);
	const char *expect[] = { "must-encrypt", "fallback", "sign-only", "monitoring", "gone" };
	for (gsize i = 0; i < G_N_ELEMENTS(expect); i++)
		g_assert_true(g_strv_contains((const char *const *)maildirs, expect[i]));

	/* The state of a mail in a queue no longer configured stays while the
	 * mail does; one whose mail is gone goes; a name that is no queue's
	 * is not touched. */
	g_autofree char *gone_cur = g_build_filename(dir, "gone", "cur", NULL);
	g_assert_cmpint(g_mkdir_with_parents(gone_cur, 0700), ==, 0);
	g_autofree char *gone_mail = g_build_filename(gone_cur, "m1", NULL);
	kov_test_file_write(gone_mail, "x", -1);
	g_autofree char *kept = kov_queue_state_path(dir, "gone", "m1");
	g_autofree char *orphan = kov_queue_state_path(dir, "gone", "m2");
	g_autofree char *strange = g_build_filename(dir, "state", "007.m3", NULL);
	kov_test_file_write(kept, "[mail]\n", -1);
	kov_test_file_write(orphan, "[mail]\n", -1);
	kov_test_file_write(strange, "[mail]\n", -1);
	g_assert_cmpuint(kov_queue_clean_state(dir), ==, 1);
	g_assert_true(g_file_test(kept, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(orphan, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(strange, G_FILE_TEST_EXISTS));
	g_assert_true(kov_test_tree_remove(dir));
	g_free(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_mime_init(); /* a check's envelope is written by message.c */
	g_test_add_func("/queue/safe-names", test_safe_names);
	g_test_add_func("/queue/claim-renames", test_claim_renames);
	g_test_add_func("/queue/claim-never-replaces", test_claim_never_replaces);
	g_test_add_func("/queue/claim-error", test_claim_error);
	g_test_add_func("/queue/rename-cur", test_rename_cur);
	g_test_add_func("/queue/open-mail", test_open_mail);
	g_test_add_func("/queue/enqueue", test_enqueue);
	g_test_add_func("/queue/enqueue-kuvert", test_enqueue_kuvert);
	g_test_add_func("/queue/done", test_done);
	g_test_add_func("/queue/fail", test_fail);
	g_test_add_func("/queue/lock", test_lock);
	g_test_add_func("/queue/clean-ups", test_clean_ups);
	g_test_add_func("/queue/links", test_links);
	g_test_add_func("/queue/named", test_named_queue);
	int status = g_test_run();
	g_mime_shutdown();
	return status;
}
