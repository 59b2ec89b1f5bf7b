/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The schedule as a small backend over ids and times, as OpenSMTPD's
 * scheduler is: the daemon inserts what it finds, takes what is ready,
 * and puts back what was deferred or lost with its worker. One table of
 * known keys (an arrival seen by inotify and by a scan is one mail), a
 * FIFO of ready entries and a sequence of waiting ones by due time (ties
 * in the order they came), so the next wake-up is the first element. */
#include "schedule.h"

typedef enum {
	KOV_SCHEDULE_READY,
	KOV_SCHEDULE_WAITING,
	KOV_SCHEDULE_TAKEN,
} KovScheduleState;

typedef struct {
	char *key;
	gpointer data;
	gint64 due;
	guint64 order;            /* insertion order: ties of @due keep it */
	KovScheduleState state;
	GList *link;              /* READY: in the ready line */
	GSequenceIter *iter;      /* WAITING: in the waiting sequence */
} KovScheduleEntry;

struct _KovSchedule {
	GHashTable *entries;      /* key (borrowed from the entry) -> KovScheduleEntry (owned) */
	GQueue ready;             /* of KovScheduleEntry (borrowed) */
	GSequence *waiting;       /* of KovScheduleEntry (borrowed), by due */
	GDestroyNotify free_data;
	guint64 next_order;
	guint taken;
};

static void
kov_schedule_entry_free(KovSchedule *schedule, KovScheduleEntry *entry)
{
	if (schedule->free_data != NULL && entry->data != NULL)
		schedule->free_data(entry->data);
	g_free(entry->key);
	g_free(entry);
}

KovSchedule *
kov_schedule_new(GDestroyNotify free_data)
{
	KovSchedule *schedule = g_new0(KovSchedule, 1);
	schedule->entries = g_hash_table_new(g_str_hash, g_str_equal);
	g_queue_init(&schedule->ready);
	schedule->waiting = g_sequence_new(NULL);
	schedule->free_data = free_data;
	return schedule;
}

void
kov_schedule_free(KovSchedule *schedule)
{
	if (schedule == NULL)
		return;
	GHashTableIter iter;
	gpointer value;
	g_hash_table_iter_init(&iter, schedule->entries);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		g_hash_table_iter_steal(&iter);
		kov_schedule_entry_free(schedule, value);
	}
	g_hash_table_unref(schedule->entries);
	g_queue_clear(&schedule->ready);
	g_sequence_free(schedule->waiting);
	g_free(schedule);
}

static gint
kov_schedule_compare(gconstpointer a, gconstpointer b, gpointer data)
{
	const KovScheduleEntry *x = a, *y = b;
	(void)data;
	if (x->due != y->due)
		return x->due < y->due ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* @entry, in no line yet, goes where @due says. */
static void
kov_schedule_place(KovSchedule *schedule, KovScheduleEntry *entry, gint64 due)
{
	entry->due = due;
	entry->order = schedule->next_order++;
	if (due == 0) {
		entry->state = KOV_SCHEDULE_READY;
		g_queue_push_tail(&schedule->ready, entry);
		entry->link = schedule->ready.tail;
		return;
	}
	entry->state = KOV_SCHEDULE_WAITING;
	entry->iter = g_sequence_insert_sorted(schedule->waiting, entry, kov_schedule_compare, NULL);
}

/* Out of its line (or out of the caller's hands). */
static void
kov_schedule_unplace(KovSchedule *schedule, KovScheduleEntry *entry)
{
	switch (entry->state) {
	case KOV_SCHEDULE_READY:
		g_queue_delete_link(&schedule->ready, entry->link);
		entry->link = NULL;
		break;
	case KOV_SCHEDULE_WAITING:
		g_sequence_remove(entry->iter);
		entry->iter = NULL;
		break;
	case KOV_SCHEDULE_TAKEN:
		schedule->taken--;
		break;
	}
}

gboolean
kov_schedule_insert(KovSchedule *schedule, const char *key, gint64 due, gpointer data)
{
	g_return_val_if_fail(schedule != NULL && key != NULL, FALSE);

	if (g_hash_table_contains(schedule->entries, key)) {
		if (schedule->free_data != NULL && data != NULL)
			schedule->free_data(data);
		return FALSE;
	}
	KovScheduleEntry *entry = g_new0(KovScheduleEntry, 1);
	entry->key = g_strdup(key);
	entry->data = data;
	g_hash_table_insert(schedule->entries, entry->key, entry);
	kov_schedule_place(schedule, entry, due);
	return TRUE;
}

gboolean
kov_schedule_contains(const KovSchedule *schedule, const char *key)
{
	g_return_val_if_fail(schedule != NULL && key != NULL, FALSE);
	return g_hash_table_contains(schedule->entries, key);
}

gpointer
kov_schedule_lookup(const KovSchedule *schedule, const char *key)
{
	g_return_val_if_fail(schedule != NULL && key != NULL, NULL);
	KovScheduleEntry *entry = g_hash_table_lookup(schedule->entries, key);
	return entry != NULL ? entry->data : NULL;
}

gint64
kov_schedule_wake(KovSchedule *schedule, gint64 now)
{
	g_return_val_if_fail(schedule != NULL, -1);

	while (g_sequence_get_length(schedule->waiting) > 0) {
		GSequenceIter *first = g_sequence_get_begin_iter(schedule->waiting);
		KovScheduleEntry *entry = g_sequence_get(first);
		if (entry->due > now)
			return entry->due - now;
		g_sequence_remove(first);
		entry->iter = NULL;
		entry->state = KOV_SCHEDULE_READY;
		g_queue_push_tail(&schedule->ready, entry);
		entry->link = schedule->ready.tail;
	}
	return -1;
}

gboolean
kov_schedule_has_ready(const KovSchedule *schedule)
{
	g_return_val_if_fail(schedule != NULL, FALSE);
	return schedule->ready.length > 0;
}

gpointer
kov_schedule_next(KovSchedule *schedule, const char **key)
{
	g_return_val_if_fail(schedule != NULL, NULL);

	KovScheduleEntry *entry = g_queue_pop_head(&schedule->ready);
	if (entry == NULL)
		return NULL;
	entry->link = NULL;
	entry->state = KOV_SCHEDULE_TAKEN;
	schedule->taken++;
	if (key != NULL)
		*key = entry->key;
	return entry->data;
}

gboolean
kov_schedule_update(KovSchedule *schedule, const char *key, gint64 due)
{
	g_return_val_if_fail(schedule != NULL && key != NULL, FALSE);

	KovScheduleEntry *entry = g_hash_table_lookup(schedule->entries, key);
	if (entry == NULL || entry->state != KOV_SCHEDULE_TAKEN)
		return FALSE;
	kov_schedule_unplace(schedule, entry);
	kov_schedule_place(schedule, entry, due);
	return TRUE;
}

gboolean
kov_schedule_rename(KovSchedule *schedule, const char *key, const char *new_key)
{
	g_return_val_if_fail(schedule != NULL && key != NULL && new_key != NULL, FALSE);

	KovScheduleEntry *entry = g_hash_table_lookup(schedule->entries, key);
	if (entry == NULL || g_hash_table_contains(schedule->entries, new_key))
		return FALSE;
	g_hash_table_steal(schedule->entries, key);
	g_free(entry->key);
	entry->key = g_strdup(new_key);
	g_hash_table_insert(schedule->entries, entry->key, entry);
	return TRUE;
}

gboolean
kov_schedule_remove(KovSchedule *schedule, const char *key)
{
	g_return_val_if_fail(schedule != NULL && key != NULL, FALSE);

	KovScheduleEntry *entry = g_hash_table_lookup(schedule->entries, key);
	if (entry == NULL)
		return FALSE;
	g_hash_table_steal(schedule->entries, key);
	kov_schedule_unplace(schedule, entry);
	kov_schedule_entry_free(schedule, entry);
	return TRUE;
}

void
kov_schedule_count(const KovSchedule *schedule, guint *ready, guint *waiting, guint *taken)
{
	g_return_if_fail(schedule != NULL);
	if (ready != NULL)
		*ready = schedule->ready.length;
	if (waiting != NULL)
		*waiting = (guint)g_sequence_get_length(schedule->waiting);
	if (taken != NULL)
		*taken = schedule->taken;
}

void
kov_schedule_foreach(const KovSchedule *schedule, KovScheduleFunc func, gpointer user)
{
	g_return_if_fail(schedule != NULL && func != NULL);
	GHashTableIter iter;
	gpointer value;
	g_hash_table_iter_init(&iter, schedule->entries);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		const KovScheduleEntry *e = value;
		func(e->data, e->state == KOV_SCHEDULE_READY, e->state == KOV_SCHEDULE_TAKEN, user);
	}
}

gint64
kov_schedule_next_attempt(gint64 now, gint64 retry_first, gint64 retry_max, guint attempts,
                          gint64 age)
{
	gint64 max = MAX(retry_max, 1);
	gint64 delay = MAX(retry_first, 1);
	for (guint i = 1; i < attempts && delay < max; i++)
		delay *= 2;
	delay = MIN(delay, max);
	return now + MAX(delay, MIN(MAX(age, 0), max));
}
