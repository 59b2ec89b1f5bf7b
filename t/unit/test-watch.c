/* SPDX-License-Identifier: GPL-3.0-or-later */
/* inotify on the queues (lib/spool/watch.c), with real directories and
 * real events: arrivals are reported with their queue's name, the Kuvert
 * queue's all-digit files as "kuvert", and a reload's new set of queues
 * adds and drops watches (issue 12: named queues). */
#include "fixture.h"
#include "watch.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <string.h>

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

static void
on_arrival(const char *queue, const char *name, gpointer user_data)
{
	g_ptr_array_add(user_data, g_strdup_printf("%s/%s", queue, name));
}

/* Drop @name into @queue's new/ (or queuedir for "kuvert") as a Maildir
 * writer does: write in tmp, rename. */
static void
drop(const char *dir, const char *queue, const char *name)
{
	g_autofree char *tmp = g_build_filename(dir, "tmp-file", NULL);
	g_autofree char *to = g_str_equal(queue, "kuvert") ? g_build_filename(dir, name, NULL)
	                                                   : g_build_filename(dir, queue, "new", name, NULL);
	kov_test_file_write(tmp, "x", -1);
	g_assert_cmpint(g_rename(tmp, to), ==, 0);
}

static gint
cmp_strings(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What arrived: read until nothing has come for a moment. (transfer full) */
static char *
arrivals(KovWatch *watch)
{
	g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
	struct pollfd pfd = { kov_watch_fd(watch), POLLIN, 0 };
	while (poll(&pfd, 1, 200) > 0) {
		g_autoptr(GError) error = NULL;
		gboolean overflow = FALSE;
		g_assert_true(kov_watch_read(watch, on_arrival, seen, &overflow, &error));
		g_assert_no_error(error);
		g_assert_false(overflow);
	}
	g_ptr_array_sort(seen, cmp_strings);
	g_ptr_array_add(seen, NULL);
	return g_strjoinv(" ", (char **)seen->pdata);
}

static void
test_watch_queues(void)
{
	char *dir = kov_test_tmpdir_new("kovw");
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) queues = g_ptr_array_new_with_free_func(queue_config_free);
	g_ptr_array_add(queues, queue_config("must-encrypt", KOV_QUEUE_MUST_ENCRYPT));
	g_ptr_array_add(queues, queue_config("fallback", KOV_QUEUE_FALLBACK));
	g_ptr_array_add(queues, queue_config("sign-only", KOV_QUEUE_SIGN_ONLY));
	g_ptr_array_add(queues, queue_config("monitoring", KOV_QUEUE_MUST_ENCRYPT));
	g_assert_true(kov_queue_prepare(dir, queues, &error));
	g_assert_no_error(error);

	g_autoptr(KovWatch) watch = kov_watch_new(dir, queues, &error);
	g_assert_no_error(error);
	g_assert_nonnull(watch);
	drop(dir, "monitoring", "m1");
	drop(dir, "fallback", "f1");
	drop(dir, "kuvert", "123");
	drop(dir, "kuvert", "x123"); /* not a Kuvert queue file */
	g_autofree char *first = arrivals(watch);
	g_assert_cmpstr(first, ==, "fallback/f1 kuvert/123 monitoring/m1");

	/* A reload: "monitoring" goes, "tickets" comes. */
	g_ptr_array_remove_index(queues, 3);
	g_ptr_array_add(queues, queue_config("tickets", KOV_QUEUE_SIGN_ONLY));
	g_assert_true(kov_queue_prepare(dir, queues, &error));
	g_assert_true(kov_watch_set_queues(watch, queues, &error));
	g_assert_no_error(error);
	drop(dir, "monitoring", "m2");
	drop(dir, "tickets", "t1");
	drop(dir, "sign-only", "s1");
	g_autofree char *second = arrivals(watch);
	g_assert_cmpstr(second, ==, "sign-only/s1 tickets/t1");

	/* Setting the same set again changes nothing. */
	g_assert_true(kov_watch_set_queues(watch, queues, &error));
	drop(dir, "tickets", "t2");
	g_autofree char *third = arrivals(watch);
	g_assert_cmpstr(third, ==, "tickets/t2");

	/* A queue whose directory is missing: an error naming it, the others still watched. */
	g_ptr_array_add(queues, queue_config("missing", KOV_QUEUE_FALLBACK));
	g_assert_false(kov_watch_set_queues(watch, queues, &error));
	g_assert_nonnull(strstr(error->message, "missing"));
	drop(dir, "tickets", "t3");
	g_autofree char *fourth = arrivals(watch);
	g_assert_cmpstr(fourth, ==, "tickets/t3");
	g_assert_true(kov_test_tree_remove(dir));
	g_free(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/watch/queues", test_watch_queues);
	return g_test_run();
}
