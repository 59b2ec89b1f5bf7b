/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A registry of counters, gauges and histograms, rendered in the
 * Prometheus text format 0.0.4, and the one-line events by which workers
 * and the listener report to the watcher, which alone holds the numbers.
 * Pure: no I/O; GLib only. */
#pragma once
#include <glib.h>

typedef enum {
	KOV_METRIC_COUNTER,
	KOV_METRIC_GAUGE,
	KOV_METRIC_HISTOGRAM,
} KovMetricType;

typedef struct _KovMetrics KovMetrics;

/* The longest event line (kov_metrics_event_append) the watcher reads. */
#define KOV_METRICS_EVENT_MAX 512
/* The longest label value an event may carry. */
#define KOV_METRICS_VALUE_MAX 64

KovMetrics *kov_metrics_new(void);
void kov_metrics_free(KovMetrics *metrics);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovMetrics, kov_metrics_free)

/* A family, rendered in the order of declaration. @labels: its label
 * names, NULL-terminated (NULL: none); @buckets: a histogram's upper
 * bounds, ascending, without +Inf. A family without labels has its one
 * series at 0 at once; the others get theirs from kov_metrics_touch (or
 * kov_metrics_add/set). */
void kov_metrics_declare(KovMetrics *metrics, const char *name, KovMetricType type,
                         const char *help, const char *const *labels, const double *buckets,
                         gsize n_buckets);

/* The series of @name with label values @values (in the declared order,
 * as many as declared) exists, at 0 when new. */
void kov_metrics_touch(KovMetrics *metrics, const char *name, const char *const *values);
/* Counter, gauge: add @v. Histogram: observe @v. */
void kov_metrics_add(KovMetrics *metrics, const char *name, const char *const *values, double v);
/* Gauge: set to @v. */
void kov_metrics_set(KovMetrics *metrics, const char *name, const char *const *values, double v);
/* Forget every series of @name (a gauge that is absent when nothing is). */
void kov_metrics_clear(KovMetrics *metrics, const char *name);
/* The value of a counter or gauge series; a histogram's count. -1 when
 * there is no such series. */
double kov_metrics_get(const KovMetrics *metrics, const char *name, const char *const *values);

/* The text format 0.0.4, without timestamps. (transfer full) */
char *kov_metrics_render(const KovMetrics *metrics);

/* ---- events ------------------------------------------------------------- */

/* Append to @out (nothing when NULL) the event line
 * "M NAME LABEL=VALUE ... V\n", from LABEL, VALUE pairs NULL-terminated.
 * Values that are not event-safe (empty, too long, bytes other than
 * letters, digits and ._@+-) become "_": the watcher would refuse them. */
void kov_metrics_event_append(GString *out, const char *name, double v, ...) G_GNUC_NULL_TERMINATED;

/* TRUE when @line (without its LF) is an event line at all ("M ..."). */
gboolean kov_metrics_is_event(const char *line);

/* Apply an event line (without its LF), strictly: a declared counter
 * or histogram, its labels all there in the declared order, a series
 * that exists already (events never create series: a reporter cannot make
 * the registry grow), a finite value >= 0. FALSE with @error otherwise,
 * and nothing changes. On success *@family (nullable) is the family's
 * name (borrowed from @metrics) and *@values (nullable; transfer full)
 * its label values. */
gboolean kov_metrics_apply_event(KovMetrics *metrics, const char *line, const char **family,
                                 GStrv *values, GError **error);
