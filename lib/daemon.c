/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The main loop. inotify first, then a scan of new/, so nothing arrives
 * unseen; a rescan every `interval` seconds and on IN_Q_OVERFLOW catches
 * the rest. Deferred mail waits in cur/ (never back in new/, which would
 * wake inotify in a loop) in a schedule ordered by next attempt. */
#include "daemon.h"
#include "autoptr.h"
#include "deliver.h"
#include "error.h"
#include "keys.h"
#include "log.h"
#include "process.h"
#include "queue.h"
#include "state.h"
#include "watch.h"

#include <errno.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

/* Maildir convention: a tmp/ file untouched for 36 hours is abandoned. */
#define KOV_TMP_MAX_AGE (36 * 3600)

typedef struct {
	KovQueueKind kind;
	char *id;
	gboolean claimed;     /* already in cur/ */
	gint64 due;           /* unix seconds */
} KovItem;

typedef struct {
	const KovConfig *config;
	const KovDaemonOptions *options;
	KovContext ctx;
	GQueue ready;         /* of KovItem* */
	GSequence *deferred;  /* of KovItem*, by due time */
	GHashTable *known;    /* "kind/id" of every mail in ready or deferred */
	guint delivered, deferred_count, failed;
} KovDaemon;

static void
kov_item_free(gpointer data)
{
	KovItem *item = data;
	g_free(item->id);
	g_free(item);
}

static char *
kov_item_key(KovQueueKind kind, const char *id)
{
	return g_strdup_printf("%d/%s", kind, id);
}

static void
kov_daemon_add_ready(KovDaemon *d, KovQueueKind kind, const char *id, gboolean claimed)
{
	char *key = kov_item_key(kind, id);
	if (!g_hash_table_add(d->known, key))
		return; /* already waiting: inotify and a scan both saw it */
	KovItem *item = g_new0(KovItem, 1);
	*item = (KovItem){ kind, g_strdup(id), claimed, 0 };
	g_queue_push_tail(&d->ready, item);
}

static void
kov_daemon_on_arrival(KovQueueKind kind, const char *name, gpointer user_data)
{
	kov_daemon_add_ready(user_data, kind, name, FALSE);
}

static gint
kov_item_compare_due(gconstpointer a, gconstpointer b, gpointer data)
{
	(void)data;
	const KovItem *x = a, *y = b;
	return x->due < y->due ? -1 : x->due > y->due;
}

static void
kov_daemon_defer(KovDaemon *d, KovItem *item, gint64 due)
{
	item->due = due;
	item->claimed = TRUE;
	g_sequence_insert_sorted(d->deferred, item, kov_item_compare_due, NULL);
}

static void
kov_daemon_scan_new(KovDaemon *d)
{
	for (int k = 0; k < KOV_QUEUE_N_POLICY; k++) {
		g_autoptr(GError) error = NULL;
		g_auto(GStrv) names = kov_queue_list(d->config->queuedir, k, "new", &error);
		if (names == NULL) {
			kov_log_err("%s", error->message);
			continue;
		}
		for (char **n = names; *n != NULL; n++)
			kov_daemon_add_ready(d, k, *n, FALSE);
	}
}

/* Take back what is in cur/: a crashed run's claims and deferred mail. */
static void
kov_daemon_recover(KovDaemon *d)
{
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	for (int k = 0; k < KOV_QUEUE_N_POLICY; k++) {
		g_autoptr(GError) error = NULL;
		g_auto(GStrv) names = kov_queue_list(d->config->queuedir, k, "cur", &error);
		kov_queue_clean_tmp(d->config->queuedir, k, KOV_TMP_MAX_AGE);
		for (char **n = names; n != NULL && *n != NULL; n++) {
			g_autofree char *path = kov_queue_state_path(d->config->queuedir, k, *n);
			g_autoptr(KovState) state = kov_state_load(path, NULL);
			gint64 due = state ? kov_state_get_next_attempt(state) : 0;
			if (d->options->oneshot || due <= now) {
				kov_daemon_add_ready(d, k, *n, TRUE);
			} else {
				g_hash_table_add(d->known, kov_item_key(k, *n));
				KovItem *item = g_new0(KovItem, 1);
				*item = (KovItem){ k, g_strdup(*n), TRUE, 0 };
				kov_daemon_defer(d, item, due);
			}
		}
	}
}

static void
kov_daemon_finish(KovDaemon *d, KovItem *item, KovResult *result)
{
	const char *queuedir = d->config->queuedir;
	g_autoptr(GError) error = NULL;

	switch (result->outcome) {
	case KOV_OUTCOME_DELIVERED:
		d->delivered++;
		if (!kov_queue_done(queuedir, item->kind, item->id, &error))
			kov_log_err("%s", error->message);
		break;
	case KOV_OUTCOME_FAILED:
		d->failed++;
		if (!kov_queue_fail(queuedir, item->kind, item->id, result->reason, &error))
			kov_log_err("%s", error->message);
		kov_process_alert(&d->ctx, item->kind, item->id, result->reason);
		break;
	case KOV_OUTCOME_DEFERRED:
		d->deferred_count++;
		if (!d->options->oneshot) {
			kov_daemon_defer(d, item, result->next_attempt);
			return; /* still known, now scheduled */
		}
		break;
	}
	g_autofree char *key = kov_item_key(item->kind, item->id);
	g_hash_table_remove(d->known, key);
	kov_item_free(item);
}

static void
kov_daemon_handle(KovDaemon *d, KovItem *item)
{
	g_autoptr(GError) error = NULL;
	KovResult result = { 0 };

	if (!item->claimed && !kov_queue_claim(d->config->queuedir, item->kind, item->id, &error)) {
		if (error != NULL)
			kov_log_err("%s", error->message);
		g_autofree char *key = kov_item_key(item->kind, item->id);
		g_hash_table_remove(d->known, key);
		kov_item_free(item);
		return;
	}
	item->claimed = TRUE;
	kov_process_mail(&d->ctx, item->kind, item->id, &result);
	kov_daemon_finish(d, item, &result);
	kov_result_clear(&result);
}

/* Move deferred mail whose time has come to the ready queue; return the
 * milliseconds until the next one is due (-1: none). */
static int
kov_daemon_wake_due(KovDaemon *d)
{
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	while (g_sequence_get_length(d->deferred) > 0) {
		GSequenceIter *first = g_sequence_get_begin_iter(d->deferred);
		KovItem *item = g_sequence_get(first);
		if (item->due > now)
			return (int)MIN((item->due - now) * 1000, G_MAXINT);
		g_sequence_remove(first);
		g_queue_push_tail(&d->ready, item);
	}
	return -1;
}

static gboolean
kov_daemon_wait(KovDaemon *d, KovWatch *watch)
{
	int due_ms = kov_daemon_wake_due(d);
	int interval_ms = (int)MIN((gint64)d->config->interval * 1000, G_MAXINT);
	int timeout_ms = due_ms < 0 ? interval_ms : MIN(due_ms, interval_ms);
	struct pollfd pfd = { .fd = kov_watch_fd(watch), .events = POLLIN };
	struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };

	if (!g_queue_is_empty(&d->ready))
		return TRUE;
	int n = ppoll(&pfd, 1, &ts, d->options->wait_mask);
	if (n < 0 && errno != EINTR) {
		kov_log_err("poll: %s", g_strerror(errno));
		return FALSE;
	}
	if (n == 0) {
		kov_daemon_scan_new(d); /* the safety rescan */
		return TRUE;
	}
	if (n > 0) {
		g_autoptr(GError) error = NULL;
		gboolean overflow = FALSE;
		if (!kov_watch_read(watch, kov_daemon_on_arrival, d, &overflow, &error)) {
			kov_log_err("%s", error->message);
			return FALSE;
		}
		if (overflow) {
			kov_log_info("watch: the kernel dropped events; rescanning the queues");
			kov_daemon_scan_new(d);
		}
	}
	kov_daemon_wake_due(d);
	return TRUE;
}

static gboolean
kov_daemon_prepare_tempdir(const char *tempdir, GError **error)
{
	struct stat st;

	if (g_mkdir_with_parents(tempdir, 0700) != 0 || stat(tempdir, &st) != 0) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "tempdir %s: %s", tempdir, g_strerror(errno));
		return FALSE;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "tempdir %s: must be a directory of ours with mode 0700", tempdir);
		return FALSE;
	}
	return TRUE;
}

/* A stop signal that arrived while a mail was in hand is still pending
 * (blocked): honour it before taking the next mail. */
static gboolean
kov_daemon_stop_pending(KovDaemon *d)
{
	sigset_t pending;

	if (*d->options->stop)
		return TRUE;
	if (d->options->stop_signals == NULL || sigpending(&pending) != 0)
		return FALSE;
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(d->options->stop_signals, sig) == 1 && sigismember(&pending, sig) == 1)
			return TRUE;
	return FALSE;
}

static int
kov_daemon_loop(KovDaemon *d, KovWatch *watch)
{
	kov_log_info("ready: watching %s (must-encrypt, fallback, sign-only)", d->config->queuedir);
	while (!kov_daemon_stop_pending(d)) {
		KovItem *item = g_queue_pop_head(&d->ready);
		if (item != NULL) {
			kov_daemon_handle(d, item);
			continue;
		}
		if (d->options->oneshot)
			break;
		if (!kov_daemon_wait(d, watch))
			break;
	}
	if (!d->options->oneshot)
		return 0;
	if (d->failed > 0)
		return 1;
	return d->deferred_count > 0 ? 75 : 0;
}

int
kov_daemon_run(const KovConfig *config, const KovDaemonOptions *options, GError **error)
{
	KovDaemon d = { .config = config, .options = options };
	g_autoptr(KovKeys) keys = NULL;
	g_autoptr(KovDeliver) deliver = NULL;
	g_autoptr(KovWatch) watch = NULL;
	int status = -1;

	if (!kov_queue_prepare(config->queuedir, error)
	    || !kov_daemon_prepare_tempdir(config->tempdir, error))
		return -1;
	int lock = kov_queue_lock(config->queuedir, error);
	if (lock < 0)
		return -1;
	keys = kov_keys_new(config->gnupghome, config->gpg, config->alwaystrust, error);
	deliver = keys ? kov_deliver_new(config, error) : NULL;
	watch = deliver ? kov_watch_new(config->queuedir, error) : NULL;
	if (watch != NULL) {
		d.ctx = (KovContext){ config, keys, deliver };
		g_queue_init(&d.ready);
		d.deferred = g_sequence_new(kov_item_free);
		d.known = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
		kov_daemon_recover(&d);
		kov_daemon_scan_new(&d);
		status = kov_daemon_loop(&d, watch);
		g_queue_clear_full(&d.ready, kov_item_free);
		g_sequence_free(d.deferred);
		g_hash_table_unref(d.known);
	}
	kov_queue_unlock(config->queuedir, lock);
	return status;
}
