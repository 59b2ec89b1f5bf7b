/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The schedule: which mail is taken next and which waits until when, over
 * ids and times only, in the shape of OpenSMTPD's scheduler backend
 * (insert, update, take the next batch; the caller acts on what it gets).
 * Pure: GLib only, no I/O, no clock: "now" is always the caller's. */
#pragma once
#include <glib.h>

typedef struct _KovSchedule KovSchedule;

/* @free_data (nullable) frees the data of each entry when it is forgotten. */
KovSchedule *kov_schedule_new(GDestroyNotify free_data);
void kov_schedule_free(KovSchedule *schedule);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovSchedule, kov_schedule_free)

/* A new entry @key with @data (transfer full): @due 0 puts it at the end
 * of the ready line, any other time makes it wait until @due (unix
 * seconds, see kov_schedule_wake). FALSE when @key is known already
 * (ready, waiting or taken): nothing changes and @data is freed. */
gboolean kov_schedule_insert(KovSchedule *schedule, const char *key, gint64 due, gpointer data);

/* TRUE while @key is known: ready, waiting or taken. */
gboolean kov_schedule_contains(const KovSchedule *schedule, const char *key);

/* Waiting entries due by @now join the end of the ready line, earliest
 * first. Returns the seconds until the next waiting entry is due, or -1
 * when none waits. */
gint64 kov_schedule_wake(KovSchedule *schedule, gint64 now);

/* TRUE when the ready line is not empty. */
gboolean kov_schedule_has_ready(const KovSchedule *schedule);

/* Take the head of the ready line: its data (borrowed, valid until the
 * entry is removed) and *@key (nullable; borrowed likewise). The entry is
 * taken (in hand) until kov_schedule_update or kov_schedule_remove.
 * NULL when nothing is ready. */
gpointer kov_schedule_next(KovSchedule *schedule, const char **key);

/* The data of @key, or NULL when unknown. (borrowed) */
gpointer kov_schedule_lookup(const KovSchedule *schedule, const char *key);

/* Put a taken entry back: @due 0 at the end of the ready line (try again
 * now), otherwise waiting until @due. FALSE when @key is not taken. */
gboolean kov_schedule_update(KovSchedule *schedule, const char *key, gint64 due);

/* Known from now on as @new_key (a mail claimed: new/x became cur/y).
 * FALSE when @key is unknown or @new_key known already. */
gboolean kov_schedule_rename(KovSchedule *schedule, const char *key, const char *new_key);

/* Forget @key wherever it is, freeing its data. FALSE when unknown. */
gboolean kov_schedule_remove(KovSchedule *schedule, const char *key);

/* How many entries: ready, waiting, taken. */
void kov_schedule_count(const KovSchedule *schedule, guint *ready, guint *waiting, guint *taken);
/* Call @func for every entry, in no order, with its data and whether it
 * is ready, waiting or taken (for the metrics). @func must not change
 * the schedule. */
typedef void (*KovScheduleFunc)(gpointer data, gboolean ready, gboolean taken, gpointer user);
void kov_schedule_foreach(const KovSchedule *schedule, KovScheduleFunc func, gpointer user);

/* ---- retry ------------------------------------------------------------ */

/* When a mail tried @attempts times (at least 1) is tried next, counted
 * from @now: @retry_first seconds, doubled per attempt, at most
 * @retry_max; and never sooner than the mail's @age (at most @retry_max)
 * later, which is the same doubling told by the clock: it holds when the
 * attempts could not be counted (pass 1 and the age then). Unix seconds;
 * a first or max below 1 counts as 1. */
gint64 kov_schedule_next_attempt(gint64 now, gint64 retry_first, gint64 retry_max, guint attempts,
                                 gint64 age);
