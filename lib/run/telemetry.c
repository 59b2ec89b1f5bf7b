/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The watcher's metrics. It alone holds the numbers (workers and the
 * listener send event lines, metrics.h); the file is written the way the
 * textfile collector wants it: a ".NAME.XXXXXX" temporary in the same
 * directory (the collector reads only *.prom), mode 0644 whatever the
 * umask, then a rename, never a timestamp inside. Queue depths come from
 * the watcher's own items; the failed/ count and the keys that expire
 * soon (the markers under queuedir/.keys-expiring, keymark.h) from a
 * readdir at most once a minute. */
#include "telemetry.h"
#include "error.h"
#include "fileio.h"
#include "keymark.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Seconds between writes: at most one a second, at least one a minute. */
#define KOV_TELEMETRY_MIN_GAP 1
#define KOV_TELEMETRY_MAX_GAP 60
/* Seconds between two counts of failed/. */
#define KOV_TELEMETRY_FAILED_GAP 60

static const char *const kov_telemetry_states[] = { "new", "active", "deferred", "failed" };
static const char *const kov_telemetry_outcomes[] = {
	"encrypted", "signed", "unchanged", "refused", "failed", "bounced",
};
static const char *const kov_telemetry_classes[] = { "2xx", "4xx", "5xx", "none" };
static const char *const kov_telemetry_auth_reasons[] = {
	"credentials", "backoff", "port", "certificate",
};
/* Arrival to the smarthost's 2xx: retries need day-sized buckets. */
static const double kov_telemetry_buckets[] = {
	0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400, 432000,
};

typedef struct {
	guint count[KOV_TELEMETRY_N_STATES];
	gint64 oldest;            /* unix seconds; 0: none */
} KovTelemetryQueue;

struct _KovTelemetry {
	KovMetrics *metrics;
	char *path;               /* metrics-file; NULL: not written */
	char *queuedir;
	GPtrArray *queues;        /* of char*: every queue's name, Kuvert's first */
	GHashTable *depth;        /* queue -> KovTelemetryQueue, while reporting */
	GHashTable *failed;       /* queue -> GUINT_TO_POINTER(count) of failed/ */
	gint64 failed_counted;    /* monotonic µs; 0: never */
	guint expiry_window;      /* key-expiry-warning, days */
	gint64 keys_counted;      /* monotonic µs of the last scan of the markers; 0: never */
	gboolean dirty;           /* changed since the last write */
	gint64 written;           /* monotonic µs of the last write (or try); 0: never */
	gboolean failing;         /* the last write failed (and said so) */
};

static const char *const kov_telemetry_queue_label[] = { "queue", NULL };

static void
kov_telemetry_declare(KovMetrics *m)
{
	static const char *const queue_outcome[] = { "queue", "outcome", NULL };
	static const char *const queue_state[] = { "queue", "state", NULL };
	static const char *const kind[] = { "kind", NULL };

	kov_metrics_declare(m, "koverto_build_info", KOV_METRIC_GAUGE,
	                    "The version of koverto that runs; always 1.",
	                    (const char *const[]){ "version", NULL }, NULL, 0);
	kov_metrics_declare(m, "koverto_start_time_seconds", KOV_METRIC_GAUGE,
	                    "When the daemon started, in seconds since the epoch.", NULL, NULL, 0);
	kov_metrics_declare(m, "koverto_messages_received_total", KOV_METRIC_COUNTER,
	                    "Mails taken from a queue for their first attempt.",
	                    kov_telemetry_queue_label, NULL, 0);
	kov_metrics_declare(m, "koverto_recipients_total", KOV_METRIC_COUNTER,
	                    "Recipients by their final outcome: sent encrypted, signed or unchanged; "
	                    "refused by the policy; failed by koverto; bounced by the smarthost.",
	                    queue_outcome, NULL, 0);
	kov_metrics_declare(m, "koverto_deferrals_total", KOV_METRIC_COUNTER,
	                    "Attempts that left a mail waiting for a retry.", kov_telemetry_queue_label,
	                    NULL, 0);
	kov_metrics_declare(m, "koverto_messages_failed_total", KOV_METRIC_COUNTER,
	                    "Mails moved to the failed area.", kov_telemetry_queue_label, NULL, 0);
	kov_metrics_declare(m, "koverto_dsn_sent_total", KOV_METRIC_COUNTER,
	                    "Delivery status notifications sent to senders.", kov_telemetry_queue_label,
	                    NULL, 0);
	kov_metrics_declare(m, "koverto_smtp_replies_total", KOV_METRIC_COUNTER,
	                    "The smarthost's replies for each recipient of each copy, by class; none: "
	                    "no reply (no connection, a timeout).",
	                    (const char *const[]){ "class", NULL }, NULL, 0);
	kov_metrics_declare(m, "koverto_delivery_duration_seconds", KOV_METRIC_HISTOGRAM,
	                    "From a mail's arrival in the queue to the smarthost's 2xx for a copy.",
	                    kov_telemetry_queue_label, kov_telemetry_buckets,
	                    G_N_ELEMENTS(kov_telemetry_buckets));
	kov_metrics_declare(m, "koverto_last_delivery_timestamp_seconds", KOV_METRIC_GAUGE,
	                    "When the smarthost last accepted a copy, in seconds since the epoch; 0: "
	                    "not since the start.", kov_telemetry_queue_label, NULL, 0);
	kov_metrics_declare(m, "koverto_queue_messages", KOV_METRIC_GAUGE,
	                    "Mails in the queue: new (waiting for a worker), active (in a worker's "
	                    "hand), deferred (waiting for a retry), failed (kept in the failed area).",
	                    queue_state, NULL, 0);
	kov_metrics_declare(m, "koverto_queue_oldest_message_timestamp_seconds", KOV_METRIC_GAUGE,
	                    "When the daemon first saw the oldest mail still in the queue, in seconds "
	                    "since the epoch; absent when the queue is empty.",
	                    kov_telemetry_queue_label, NULL, 0);
	kov_metrics_declare(m, "koverto_listener_sessions_total", KOV_METRIC_COUNTER,
	                    "SMTP sessions the listener accepted.", NULL, NULL, 0);
	kov_metrics_declare(m, "koverto_listener_messages_total", KOV_METRIC_COUNTER,
	                    "Mails the listener queued, by client.",
	                    (const char *const[]){ "client", NULL }, NULL, 0);
	kov_metrics_declare(m, "koverto_listener_auth_failures_total", KOV_METRIC_COUNTER,
	                    "Logins and certificates the listener refused, by reason.",
	                    (const char *const[]){ "reason", NULL }, NULL, 0);
	kov_metrics_declare(m, "koverto_worker_restarts_total", KOV_METRIC_COUNTER,
	                    "Workers that ended (crashed, killed at mail-timeout) and were replaced.",
	                    NULL, NULL, 0);
	kov_metrics_declare(m, "koverto_key_expiry_earliest_timestamp_seconds", KOV_METRIC_GAUGE,
	                    "When the first of the keys counted in koverto_keys_expiring expires, in "
	                    "seconds since the epoch; absent when none is.", kind, NULL, 0);
	kov_metrics_declare(m, "koverto_keys_expiring", KOV_METRIC_GAUGE,
	                    "Keys used since they came within key-expiry-warning days of their expiry "
	                    "and not expired yet: recipient keys (the encryption subkey used) and "
	                    "signing keys.", kind, NULL, 0);
}

KovTelemetry *
kov_telemetry_new(const KovConfig *config)
{
	g_return_val_if_fail(config != NULL, NULL);
	KovTelemetry *t = g_new0(KovTelemetry, 1);

	t->metrics = kov_metrics_new();
	t->queues = g_ptr_array_new_with_free_func(g_free);
	t->depth = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
	t->failed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	kov_telemetry_declare(t->metrics);
	kov_metrics_set(t->metrics, "koverto_build_info", (const char *const[]){ KOVERTO_VERSION, NULL }, 1);
	kov_metrics_set(t->metrics, "koverto_start_time_seconds", NULL,
	                (double)(g_get_real_time() / G_USEC_PER_SEC));
	kov_telemetry_configure(t, config);
	return t;
}

void
kov_telemetry_free(KovTelemetry *t)
{
	if (t == NULL)
		return;
	kov_metrics_free(t->metrics);
	g_free(t->path);
	g_free(t->queuedir);
	g_ptr_array_unref(t->queues);
	g_hash_table_unref(t->depth);
	g_hash_table_unref(t->failed);
	g_free(t);
}

static void
kov_telemetry_add_queue(KovTelemetry *t, const char *queue)
{
	KovMetrics *m = t->metrics;
	const char *const q[] = { queue, NULL };

	for (guint i = 0; i < t->queues->len; i++)
		if (strcmp(g_ptr_array_index(t->queues, i), queue) == 0)
			return;
	g_ptr_array_add(t->queues, g_strdup(queue));
	kov_metrics_touch(m, "koverto_messages_received_total", q);
	for (gsize i = 0; i < G_N_ELEMENTS(kov_telemetry_outcomes); i++)
		kov_metrics_touch(m, "koverto_recipients_total",
		                  (const char *const[]){ queue, kov_telemetry_outcomes[i], NULL });
	kov_metrics_touch(m, "koverto_deferrals_total", q);
	kov_metrics_touch(m, "koverto_messages_failed_total", q);
	kov_metrics_touch(m, "koverto_dsn_sent_total", q);
	kov_metrics_touch(m, "koverto_delivery_duration_seconds", q);
	kov_metrics_touch(m, "koverto_last_delivery_timestamp_seconds", q);
}

void
kov_telemetry_configure(KovTelemetry *t, const KovConfig *config)
{
	g_return_if_fail(t != NULL && config != NULL);
	KovMetrics *m = t->metrics;

	g_free(t->path);
	t->path = g_strdup(config->metrics_file);
	g_free(t->queuedir);
	t->queuedir = g_strdup(config->queuedir);
	t->failed_counted = 0;
	t->expiry_window = config->key_expiry_warning;
	t->keys_counted = 0;
	kov_telemetry_add_queue(t, KOV_QUEUE_KUVERT_NAME);
	for (guint i = 0; i < config->queues->len; i++)
		kov_telemetry_add_queue(t, ((const KovQueueConfig *)g_ptr_array_index(config->queues, i))->name);
	for (gsize i = 0; i < G_N_ELEMENTS(kov_telemetry_classes); i++)
		kov_metrics_touch(m, "koverto_smtp_replies_total",
		                  (const char *const[]){ kov_telemetry_classes[i], NULL });
	for (gsize i = 0; i < G_N_ELEMENTS(kov_telemetry_auth_reasons); i++)
		kov_metrics_touch(m, "koverto_listener_auth_failures_total",
		                  (const char *const[]){ kov_telemetry_auth_reasons[i], NULL });
	for (guint i = 0; i < config->listen.clients->len; i++) {
		const KovClientConfig *c = g_ptr_array_index(config->listen.clients, i);
		kov_metrics_touch(m, "koverto_listener_messages_total", (const char *const[]){ c->name, NULL });
	}
	t->dirty = TRUE;
}

void
kov_telemetry_event(KovTelemetry *t, const char *line)
{
	g_return_if_fail(t != NULL && line != NULL);
	g_autoptr(GError) error = NULL;
	const char *family = NULL;
	g_auto(GStrv) values = NULL;

	if (!kov_metrics_apply_event(t->metrics, line, &family, &values, &error)) {
		kov_log_debug("metrics: event ignored: %s: \"%.80s\"", error->message, line);
		return;
	}
	/* A copy the smarthost accepted: the queue's last delivery is now. */
	if (strcmp(family, "koverto_delivery_duration_seconds") == 0)
		kov_metrics_set(t->metrics, "koverto_last_delivery_timestamp_seconds",
		                (const char *const *)values, (double)(g_get_real_time() / G_USEC_PER_SEC));
	t->dirty = TRUE;
}

static void
kov_telemetry_count(KovTelemetry *t, const char *name, const char *queue)
{
	const char *const q[] = { queue, NULL };
	/* A queue unknown to the registry (gone at a reload): not counted,
	 * so that series stay the configured ones. */
	if (kov_metrics_get(t->metrics, name, q) < 0)
		return;
	kov_metrics_add(t->metrics, name, q, 1);
	t->dirty = TRUE;
}

void
kov_telemetry_deferred(KovTelemetry *t, const char *queue)
{
	g_return_if_fail(t != NULL && queue != NULL);
	kov_telemetry_count(t, "koverto_deferrals_total", queue);
}

void
kov_telemetry_failed(KovTelemetry *t, const char *queue)
{
	g_return_if_fail(t != NULL && queue != NULL);
	kov_telemetry_count(t, "koverto_messages_failed_total", queue);
}

void
kov_telemetry_worker_restarted(KovTelemetry *t)
{
	g_return_if_fail(t != NULL);
	kov_metrics_add(t->metrics, "koverto_worker_restarts_total", NULL, 1);
	t->dirty = TRUE;
}

gboolean
kov_telemetry_due(KovTelemetry *t, gboolean force)
{
	g_return_val_if_fail(t != NULL, FALSE);
	if (t->path == NULL)
		return FALSE;
	gint64 since = g_get_monotonic_time() - t->written;
	if (force) {
		t->failed_counted = 0;   /* the last file says what failed/ holds now */
		t->keys_counted = 0;
	}
	return force || t->written == 0 || since >= KOV_TELEMETRY_MAX_GAP * G_USEC_PER_SEC
	       || (t->dirty && since >= KOV_TELEMETRY_MIN_GAP * G_USEC_PER_SEC);
}

gint64
kov_telemetry_timeout_ms(const KovTelemetry *t, gint64 timeout_ms)
{
	g_return_val_if_fail(t != NULL, timeout_ms);
	if (t->path == NULL)
		return timeout_ms;
	gint64 gap = (t->dirty ? KOV_TELEMETRY_MIN_GAP : KOV_TELEMETRY_MAX_GAP) * G_USEC_PER_SEC;
	gint64 wait = (t->written + gap - g_get_monotonic_time()) / 1000 + 1;
	return MIN(timeout_ms, MAX(wait, 0));
}

void
kov_telemetry_queues_begin(KovTelemetry *t)
{
	g_return_if_fail(t != NULL);
	g_hash_table_remove_all(t->depth);
	for (guint i = 0; i < t->queues->len; i++)
		g_hash_table_insert(t->depth, g_ptr_array_index(t->queues, i), g_new0(KovTelemetryQueue, 1));
}

void
kov_telemetry_queue_item(KovTelemetry *t, const char *queue, KovTelemetryState state, gint64 since)
{
	g_return_if_fail(t != NULL && queue != NULL && state < KOV_TELEMETRY_N_STATES);
	KovTelemetryQueue *q = g_hash_table_lookup(t->depth, queue);
	if (q == NULL)
		return;
	q->count[state]++;
	if (q->oldest == 0 || since < q->oldest)
		q->oldest = since;
}

/* failed/<queue>.<id> (and .reason) per configured queue, and the Kuvert
 * queue's parked .<id> files: a readdir at most once a minute. */
static void
kov_telemetry_count_failed(KovTelemetry *t)
{
	gint64 now = g_get_monotonic_time();
	if (t->failed_counted != 0 && now - t->failed_counted < KOV_TELEMETRY_FAILED_GAP * G_USEC_PER_SEC)
		return;
	t->failed_counted = now;
	g_hash_table_remove_all(t->failed);
	g_autofree char *dir = g_build_filename(t->queuedir, "failed", NULL);
	const char *dirs[] = { dir, t->queuedir };
	for (gsize k = 0; k < G_N_ELEMENTS(dirs); k++) {
		g_autoptr(GDir) d = g_dir_open(dirs[k], 0, NULL);
		for (const char *name; d != NULL && (name = g_dir_read_name(d)) != NULL;) {
			if (g_str_has_suffix(name, ".reason"))
				continue;
			g_autofree char *queue = NULL;
			if (k == 1 && name[0] == '.' && name[1] != '\0'
			    && strspn(name + 1, "0123456789") == strlen(name + 1))
				queue = g_strdup(KOV_QUEUE_KUVERT_NAME);
			else if (k == 0 && strchr(name, '.') != NULL)
				queue = g_strndup(name, strchr(name, '.') - name);
			if (queue == NULL)
				continue;
			guint n = GPOINTER_TO_UINT(g_hash_table_lookup(t->failed, queue));
			g_hash_table_insert(t->failed, g_steal_pointer(&queue), GUINT_TO_POINTER(n + 1));
		}
	}
}

/* The markers of keys that expire soon: a readdir at most once a minute. */
static void
kov_telemetry_count_keys(KovTelemetry *t)
{
	KovMetrics *m = t->metrics;
	gint64 now = g_get_monotonic_time();
	if (t->keys_counted != 0 && now - t->keys_counted < KOV_TELEMETRY_FAILED_GAP * G_USEC_PER_SEC)
		return;
	t->keys_counted = now;
	KovKeymarkSummary sum;
	kov_keymark_scan(t->queuedir, t->expiry_window, g_get_real_time() / G_USEC_PER_SEC, &sum);
	kov_metrics_clear(m, "koverto_key_expiry_earliest_timestamp_seconds");
	for (int k = 0; k < KOV_KEYMARK_N_KINDS; k++) {
		const char *const kind[] = { kov_keymark_kind_word((KovKeymarkKind)k), NULL };
		kov_metrics_set(m, "koverto_keys_expiring", kind, sum.count[k]);
		if (sum.earliest[k] > 0)
			kov_metrics_set(m, "koverto_key_expiry_earliest_timestamp_seconds", kind,
			                (double)sum.earliest[k]);
	}
	if (sum.skipped > 0)
		kov_log_debug("metrics: %u files in %s/%s are not key markers: skipped", sum.skipped,
		              t->queuedir, KOV_KEYMARK_DIR);
}

/* The queue gauges from what the caller reported since _begin. */
static void
kov_telemetry_queue_gauges(KovTelemetry *t)
{
	KovMetrics *m = t->metrics;

	kov_telemetry_count_failed(t);
	kov_telemetry_count_keys(t);
	kov_metrics_clear(m, "koverto_queue_messages");
	kov_metrics_clear(m, "koverto_queue_oldest_message_timestamp_seconds");
	for (guint i = 0; i < t->queues->len; i++) {
		const char *queue = g_ptr_array_index(t->queues, i);
		const KovTelemetryQueue *q = g_hash_table_lookup(t->depth, queue);
		for (gsize s = 0; s < G_N_ELEMENTS(kov_telemetry_states); s++) {
			double n = s < KOV_TELEMETRY_N_STATES ? (q ? q->count[s] : 0)
			                                      : GPOINTER_TO_UINT(g_hash_table_lookup(t->failed, queue));
			kov_metrics_set(m, "koverto_queue_messages",
			                (const char *const[]){ queue, kov_telemetry_states[s], NULL }, n);
		}
		if (q != NULL && q->oldest > 0)
			kov_metrics_set(m, "koverto_queue_oldest_message_timestamp_seconds",
			                (const char *const[]){ queue, NULL }, (double)q->oldest);
	}
}

char *
kov_telemetry_render(KovTelemetry *t)
{
	g_return_val_if_fail(t != NULL, NULL);
	kov_telemetry_queue_gauges(t);
	return kov_metrics_render(t->metrics);
}

/* Write @text as @path: a temporary beside it, 0644, rename. */
static gboolean
kov_telemetry_replace(const char *path, const char *text, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *base = g_path_get_basename(path);
	g_autofree char *tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
	int fd = mkstemp(tmp);

	if (fd < 0) {
		kov_error_set_errno(error, errno, "cannot create a file in %s", dir);
		return FALSE;
	}
	gboolean ok = fchmod(fd, 0644) == 0;
	if (!ok)
		kov_error_set_errno(error, errno, "cannot make %s readable", tmp);
	ok = ok && kov_fileio_write_all(fd, text, strlen(text), error, "cannot write %s", tmp);
	if (close(fd) != 0 && ok) {
		kov_error_set_errno(error, errno, "cannot write %s", tmp);
		ok = FALSE;
	}
	if (ok && rename(tmp, path) != 0) {
		kov_error_set_errno(error, errno, "cannot rename %s to %s", tmp, path);
		ok = FALSE;
	}
	if (!ok)
		unlink(tmp);
	return ok;
}

void
kov_telemetry_write(KovTelemetry *t)
{
	g_return_if_fail(t != NULL);
	if (t->path == NULL)
		return;
	g_autofree char *text = kov_telemetry_render(t);
	g_autoptr(GError) error = NULL;

	t->written = g_get_monotonic_time();
	t->dirty = FALSE;
	if (kov_telemetry_replace(t->path, text, &error)) {
		if (t->failing)
			kov_log_info("metrics: %s written again", t->path);
		t->failing = FALSE;
		return;
	}
	if (!t->failing)
		kov_log_err("metrics: %s; said once until a write succeeds; mail goes on", error->message);
	t->failing = TRUE;
}
