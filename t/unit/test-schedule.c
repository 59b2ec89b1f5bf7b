/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of the schedule (lib/decide/schedule.c) on plain structs and made-up
 * times: no queue, no clock. Each test plays what the daemon does with it:
 * arrivals, taking the next mail, deferring it, a worker lost, a claim. */
#include "schedule.h"

#include <string.h>

typedef struct {
	char name[16];
	int *freed;      /* counts frees */
} Item;

static Item *
item_new(const char *name, int *freed)
{
	Item *item = g_new0(Item, 1);
	g_strlcpy(item->name, name, sizeof item->name);
	item->freed = freed;
	return item;
}

static void
item_free(gpointer data)
{
	Item *item = data;
	(*item->freed)++;
	g_free(item);
}

/* The names of everything ready now, taken in order, comma-separated. */
static char *
take_all(KovSchedule *schedule)
{
	GString *out = g_string_new(NULL);
	const char *key;
	Item *item;
	while ((item = kov_schedule_next(schedule, &key)) != NULL) {
		g_assert_cmpstr(key, ==, item->name);
		g_string_append_printf(out, "%s%s", out->len > 0 ? "," : "", item->name);
	}
	return g_string_free(out, FALSE);
}

static void
assert_counts(KovSchedule *schedule, guint ready, guint waiting, guint taken)
{
	guint r, w, t;
	kov_schedule_count(schedule, &r, &w, &t);
	g_assert_cmpuint(r, ==, ready);
	g_assert_cmpuint(w, ==, waiting);
	g_assert_cmpuint(t, ==, taken);
}

/* Ready entries come out first in, first out; a key is one mail. */
static void
test_fifo_and_duplicates(void)
{
	int freed = 0;
	g_autoptr(KovSchedule) s = kov_schedule_new(item_free);

	g_assert_true(kov_schedule_insert(s, "a", 0, item_new("a", &freed)));
	g_assert_true(kov_schedule_insert(s, "b", 0, item_new("b", &freed)));
	/* inotify and the scan both saw "a": the second is dropped (and freed). */
	g_assert_false(kov_schedule_insert(s, "a", 0, item_new("a", &freed)));
	g_assert_cmpint(freed, ==, 1);
	g_assert_true(kov_schedule_insert(s, "c", 0, item_new("c", &freed)));
	g_assert_true(kov_schedule_has_ready(s));
	assert_counts(s, 3, 0, 0);

	g_autofree char *order = take_all(s);
	g_assert_cmpstr(order, ==, "a,b,c");
	g_assert_false(kov_schedule_has_ready(s));
	assert_counts(s, 0, 0, 3);
	/* Taken entries stay known: a scan meanwhile does not bring them twice. */
	g_assert_true(kov_schedule_contains(s, "b"));
	g_assert_false(kov_schedule_insert(s, "b", 0, item_new("b", &freed)));
	g_assert_cmpint(freed, ==, 2);

	g_assert_true(kov_schedule_remove(s, "b"));
	g_assert_cmpint(freed, ==, 3);
	g_assert_false(kov_schedule_contains(s, "b"));
	g_assert_false(kov_schedule_remove(s, "b"));
	g_assert_true(kov_schedule_insert(s, "b", 0, item_new("b", &freed)));
	assert_counts(s, 1, 0, 2);
}

/* Waiting entries wake in due order, ties in insertion order; the wake
 * says how long until the next one. */
static void
test_wake_order(void)
{
	int freed = 0;
	g_autoptr(KovSchedule) s = kov_schedule_new(item_free);
	static const struct { const char *name; gint64 due; } rows[] = {
		{ "t300", 1300 }, { "t100", 1100 }, { "t200a", 1200 }, { "t200b", 1200 }, { "t150", 1150 },
	};

	g_assert_cmpint(kov_schedule_wake(s, 1000), ==, -1);
	for (gsize i = 0; i < G_N_ELEMENTS(rows); i++)
		g_assert_true(kov_schedule_insert(s, rows[i].name, rows[i].due, item_new(rows[i].name, &freed)));
	assert_counts(s, 0, 5, 0);
	g_assert_false(kov_schedule_has_ready(s));
	g_assert_null(kov_schedule_next(s, NULL));

	g_assert_cmpint(kov_schedule_wake(s, 1000), ==, 100);
	g_assert_false(kov_schedule_has_ready(s));
	g_assert_cmpint(kov_schedule_wake(s, 1100), ==, 50);   /* due exactly now: ready */
	g_assert_true(kov_schedule_insert(s, "now", 0, item_new("now", &freed)));
	g_autofree char *first = take_all(s);
	g_assert_cmpstr(first, ==, "t100,now");

	g_assert_cmpint(kov_schedule_wake(s, 1250), ==, 50);
	g_autofree char *second = take_all(s);
	g_assert_cmpstr(second, ==, "t150,t200a,t200b");
	g_assert_cmpint(kov_schedule_wake(s, 99999), ==, -1);
	g_autofree char *third = take_all(s);
	g_assert_cmpstr(third, ==, "t300");
	assert_counts(s, 0, 0, 6);
}

/* A taken mail is deferred (waits), tried again now (a lost worker: the
 * end of the ready line), or done (forgotten). */
static void
test_update(void)
{
	int freed = 0;
	g_autoptr(KovSchedule) s = kov_schedule_new(item_free);

	g_assert_true(kov_schedule_insert(s, "a", 0, item_new("a", &freed)));
	g_assert_true(kov_schedule_insert(s, "b", 0, item_new("b", &freed)));
	g_assert_true(kov_schedule_insert(s, "c", 0, item_new("c", &freed)));
	Item *a = kov_schedule_next(s, NULL);
	Item *b = kov_schedule_next(s, NULL);
	g_assert_cmpstr(a->name, ==, "a");
	g_assert_cmpstr(b->name, ==, "b");
	/* Only a taken entry can be put back. */
	g_assert_false(kov_schedule_update(s, "c", 0));
	g_assert_false(kov_schedule_update(s, "nope", 0));

	g_assert_true(kov_schedule_update(s, "a", 5000));   /* deferred */
	g_assert_true(kov_schedule_update(s, "b", 0));      /* its worker died: again */
	assert_counts(s, 2, 1, 0);
	g_assert_false(kov_schedule_update(s, "a", 0));     /* waiting, not taken */
	g_autofree char *order = take_all(s);
	g_assert_cmpstr(order, ==, "c,b");
	g_assert_cmpint(kov_schedule_wake(s, 4000), ==, 1000);
	g_assert_cmpint(kov_schedule_wake(s, 5000), ==, -1);
	g_assert_true(kov_schedule_has_ready(s));
	g_assert_true(kov_schedule_next(s, NULL) == (gpointer)a);
	g_assert_cmpint(freed, ==, 0);
	g_assert_true(kov_schedule_remove(s, "a"));
	g_assert_cmpint(freed, ==, 1);
}

/* A claim renames new/x to cur/y: the old key is free, the new one known. */
static void
test_rename(void)
{
	int freed = 0;
	g_autoptr(KovSchedule) s = kov_schedule_new(item_free);

	g_assert_true(kov_schedule_insert(s, "new/x", 0, item_new("x", &freed)));
	g_assert_true(kov_schedule_insert(s, "cur/z", 7, item_new("z", &freed)));
	const char *key = NULL;
	Item *x = kov_schedule_next(s, &key);
	g_assert_cmpstr(key, ==, "new/x");
	g_assert_true(kov_schedule_rename(s, "new/x", "cur/y"));
	g_assert_false(kov_schedule_contains(s, "new/x"));
	g_assert_true(kov_schedule_lookup(s, "cur/y") == (gpointer)x);
	g_assert_null(kov_schedule_lookup(s, "new/x"));
	/* A name taken by another entry, or an unknown one: nothing changes. */
	g_assert_false(kov_schedule_rename(s, "cur/y", "cur/z"));
	g_assert_false(kov_schedule_rename(s, "new/x", "cur/w"));
	g_assert_true(kov_schedule_contains(s, "cur/y"));
	g_assert_true(kov_schedule_update(s, "cur/y", 0));
	g_assert_true(kov_schedule_next(s, &key) == (gpointer)x);
	g_assert_cmpstr(key, ==, "cur/y");
	/* A waiting entry can be removed too. */
	g_assert_true(kov_schedule_remove(s, "cur/z"));
	assert_counts(s, 0, 0, 1);
	g_assert_cmpint(freed, ==, 1);
}

/* Freeing the schedule frees every entry's data, wherever it is. */
static void
test_free_all(void)
{
	int freed = 0;
	KovSchedule *s = kov_schedule_new(item_free);
	g_assert_true(kov_schedule_insert(s, "ready", 0, item_new("ready", &freed)));
	g_assert_true(kov_schedule_insert(s, "taken", 0, item_new("taken", &freed)));
	g_assert_true(kov_schedule_insert(s, "waiting", 10, item_new("waiting", &freed)));
	g_assert_nonnull(kov_schedule_next(s, NULL));
	kov_schedule_free(s);
	g_assert_cmpint(freed, ==, 3);

	/* Without a free function the data is the caller's. */
	Item plain = { "plain", &freed };
	s = kov_schedule_new(NULL);
	g_assert_true(kov_schedule_insert(s, "plain", 0, &plain));
	g_assert_false(kov_schedule_insert(s, "plain", 0, &plain));
	g_assert_true(kov_schedule_remove(s, "plain"));
	kov_schedule_free(s);
	g_assert_cmpint(freed, ==, 3);
}

/* Many entries at random times come out in due order. */
static void
test_random(void)
{
	g_autoptr(KovSchedule) s = kov_schedule_new(g_free);
	for (int i = 0; i < 500; i++) {
		char key[16];
		g_snprintf(key, sizeof key, "m%d", i);
		gint64 *due = g_new(gint64, 1);
		*due = g_test_rand_int_range(1, 1000);
		g_assert_true(kov_schedule_insert(s, key, *due, due));
	}
	gint64 last = 0, now = 0;
	guint seen = 0;
	for (;;) {
		gint64 wait = kov_schedule_wake(s, now);
		for (gint64 *due; (due = kov_schedule_next(s, NULL)) != NULL; seen++) {
			g_assert_cmpint(*due, >=, last);
			g_assert_cmpint(*due, <=, now);
			last = *due;
		}
		if (wait < 0)
			break;
		g_assert_cmpint(wait, >, 0);
		now += g_test_rand_int_range(1, (int)wait + 1);
	}
	g_assert_cmpuint(seen, ==, 500);
}

/* The backoff: doubled per attempt up to the maximum, never sooner than
 * the age allows, and a state that could not be saved (1 attempt, the
 * age alone) follows the same doubling by the clock. */
static void
test_next_attempt(void)
{
	const gint64 now = 1000000;
	g_assert_cmpint(kov_schedule_next_attempt(now, 60, 3600, 1, 0), ==, now + 60);
	g_assert_cmpint(kov_schedule_next_attempt(now, 60, 3600, 2, 0), ==, now + 120);
	g_assert_cmpint(kov_schedule_next_attempt(now, 60, 3600, 4, 0), ==, now + 480);
	g_assert_cmpint(kov_schedule_next_attempt(now, 60, 3600, 7, 0), ==, now + 3600);
	g_assert_cmpint(kov_schedule_next_attempt(now, 60, 3600, 40, 0), ==, now + 3600);
	g_assert_cmpint(kov_schedule_next_attempt(now, 60, 3600, 1, 500), ==, now + 500);
	g_assert_cmpint(kov_schedule_next_attempt(now, 60, 3600, 1, 99999), ==, now + 3600);
	g_assert_cmpint(kov_schedule_next_attempt(now, 60, 3600, 3, 100), ==, now + 240);
	g_assert_cmpint(kov_schedule_next_attempt(now, 60, 3600, 1, -5), ==, now + 60);
	g_assert_cmpint(kov_schedule_next_attempt(now, 0, 0, 5, 0), ==, now + 1);
	g_assert_cmpint(kov_schedule_next_attempt(now, 7200, 3600, 1, 0), ==, now + 3600);
}

/* Every entry once, with its state (the metrics' queue gauges). */
static void
foreach_state(gpointer data, gboolean ready, gboolean taken, gpointer user)
{
	const Item *item = data;
	g_assert_false(g_hash_table_contains(user, item->name));
	g_hash_table_insert(user, g_strdup(item->name), taken ? "taken" : ready ? "ready" : "waiting");
}

static void
test_foreach(void)
{
	int freed = 0;
	g_autoptr(KovSchedule) s = kov_schedule_new(item_free);
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	kov_schedule_insert(s, "a", 0, item_new("a", &freed));
	kov_schedule_insert(s, "b", 0, item_new("b", &freed));
	kov_schedule_insert(s, "c", 500, item_new("c", &freed));
	g_assert_nonnull(kov_schedule_next(s, NULL));   /* a: taken */
	kov_schedule_foreach(s, foreach_state, seen);
	g_assert_cmpuint(g_hash_table_size(seen), ==, 3);
	g_assert_cmpstr(g_hash_table_lookup(seen, "a"), ==, "taken");
	g_assert_cmpstr(g_hash_table_lookup(seen, "b"), ==, "ready");
	g_assert_cmpstr(g_hash_table_lookup(seen, "c"), ==, "waiting");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/schedule/fifo-and-duplicates", test_fifo_and_duplicates);
	g_test_add_func("/schedule/wake-order", test_wake_order);
	g_test_add_func("/schedule/update", test_update);
	g_test_add_func("/schedule/foreach", test_foreach);
	g_test_add_func("/schedule/rename", test_rename);
	g_test_add_func("/schedule/free-all", test_free_all);
	g_test_add_func("/schedule/random", test_random);
	g_test_add_func("/schedule/next-attempt", test_next_attempt);
	return g_test_run();
}
