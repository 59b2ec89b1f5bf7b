/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The watcher's metrics: koverto's families in a registry (metrics.h),
 * the events workers and the listener report, the queue gauges, and the
 * metrics-file written for node_exporter's textfile collector: after
 * activity at most once a second, at least once a minute, and at a clean
 * stop. Each family is documented in koverto(8), METRICS. */
#pragma once
#include <glib.h>
#include "config.h"

typedef struct _KovTelemetry KovTelemetry;

/* Queue states of koverto_queue_messages. */
typedef enum {
	KOV_TELEMETRY_NEW,        /* waiting for a worker */
	KOV_TELEMETRY_ACTIVE,     /* in a worker's hand */
	KOV_TELEMETRY_DEFERRED,   /* waiting for its next attempt */
	KOV_TELEMETRY_N_STATES,
} KovTelemetryState;

/* Every family, every known label set at 0; @config borrowed for the call. */
KovTelemetry *kov_telemetry_new(const KovConfig *config);
void kov_telemetry_free(KovTelemetry *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovTelemetry, kov_telemetry_free)

/* A reload: the new configuration's queues and clients get their label
 * sets; the file goes where its metrics-file says (none: not written). */
void kov_telemetry_configure(KovTelemetry *t, const KovConfig *config);

/* An event line from a worker or the listener (without its LF): applied
 * when it is well formed, else logged at debug and ignored. */
void kov_telemetry_event(KovTelemetry *t, const char *line);

/* What the watcher itself sees. */
void kov_telemetry_deferred(KovTelemetry *t, const char *queue);
void kov_telemetry_failed(KovTelemetry *t, const char *queue);
void kov_telemetry_worker_restarted(KovTelemetry *t);

/* TRUE when the file is due: activity a second ago or more, a minute
 * since the last write, or @force (a stop). Then the caller reports the
 * queues (begin, one item each) and calls kov_telemetry_write. */
gboolean kov_telemetry_due(KovTelemetry *t, gboolean force);
void kov_telemetry_queues_begin(KovTelemetry *t);
/* One mail of @queue in @state, known since @since (unix seconds). */
void kov_telemetry_queue_item(KovTelemetry *t, const char *queue, KovTelemetryState state,
                              gint64 since);
/* Render and replace the file. A failure is logged once, until a write
 * succeeds again; mail goes on either way. */
void kov_telemetry_write(KovTelemetry *t);
/* @timeout_ms, or less to wake when the file is due. */
gint64 kov_telemetry_timeout_ms(const KovTelemetry *t, gint64 timeout_ms);

/* The rendered text, for the tests. (transfer full) */
char *kov_telemetry_render(KovTelemetry *t);
