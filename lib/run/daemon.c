/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The watcher. inotify first, then a scan of new/, so nothing arrives
 * unseen; a rescan every `interval` seconds and on IN_Q_OVERFLOW catches
 * the rest. Claimed mail goes to the worker pool (pool.c), one mail per
 * worker at a time, each with a time limit: a worker that dies or overruns
 * costs one attempt of one mail, and a mail that kills its worker
 * repeatedly is failed. Which mail goes next and when deferred mail is due
 * is the schedule's (schedule.c, pure); deferred mail waits in cur/ (never
 * back in new/, which would wake inotify in a loop). This file connects
 * them, reloads, and says the exit status (daemon.h). */
#include "daemon.h"
#include "deliver.h"
#include "keys.h"
#include "keywatch.h"
#include "kuvert.h"
#include "listener.h"
#include "listenproc.h"
#include "error.h"
#include "log.h"
#include "notify.h"
#include "pool.h"
#include "queue.h"
#include "schedule.h"
#include "state.h"
#include "telemetry.h"
#include "watch.h"
#include "worker.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>

G_STATIC_ASSERT(KOV_DAEMON_EXIT_DEFERRED == EX_TEMPFAIL);
G_STATIC_ASSERT(KOV_DAEMON_EXIT_BROKEN == EX_UNAVAILABLE);

/* Maildir convention: a tmp/ file untouched for 36 hours is abandoned. */
#define KOV_TMP_MAX_AGE (36 * 3600)
/* A mail that killed or hung its worker this often is failed. */
#define KOV_MAX_CRASHES 3

/* A mail the daemon knows of: the data of its schedule entry. */
typedef struct {
	char *queue;          /* its queue's name */
	char *id;
	gboolean claimed;     /* already in cur/ */
	char *key;            /* its key in the schedule */
	guint crashes;        /* also in the state; kept here for when it cannot be saved */
	gint64 since;         /* unix seconds: first seen (the metrics' oldest mail) */
} KovItem;

typedef struct {
	const KovConfig *config;
	KovConfig *reloaded;  /* owned: the configuration after a reload */
	const KovDaemonOptions *options;
	int lock_fd;
	KovWatch *watch;
	KovPool *pool;
	KovListenProc *listener;  /* the SMTP listener's process; NULL one-shot */
	KovSchedule *schedule;  /* of KovItem: every mail ready, in hand or deferred */
	KovTelemetry *telemetry;  /* the counters and the metrics-file (telemetry.h) */
	KovKeywatch *keywatch;    /* the keys directories (keywatch.h, issue 14) */
	gboolean stopping;
	KovNotify *notify;    /* options->notify: the service manager; NULL: none */
	gboolean told_ready, told_stopping;
	gboolean broken;      /* stopped because workers could not live */
	guint idle_deaths;    /* workers that died without a mail: a broken set-up */
	guint delivered, deferred_count, failed;
	guint unclaimed;      /* mails that could not be taken (an error): not delivered */
} KovDaemon;

static void
kov_item_free(gpointer data)
{
	KovItem *item = data;
	g_free(item->queue);
	g_free(item->id);
	g_free(item->key);
	g_free(item);
}

/* new/x and cur/x are two mails: a claimed one is keyed apart. */
static char *
kov_item_key(const char *queue, const char *id, gboolean claimed)
{
	return g_strdup_printf("%s/%s/%s", queue, claimed ? "cur" : "new", id);
}

static KovItem *
kov_item_new(const char *queue, const char *id, gboolean claimed)
{
	KovItem *item = g_new0(KovItem, 1);
	*item = (KovItem){ g_strdup(queue), g_strdup(id), claimed, kov_item_key(queue, id, claimed), 0,
	                   g_get_real_time() / G_USEC_PER_SEC };
	return item;
}

/* Into the schedule, ready now (@due 0) or waiting until @due, unless it
 * is known already (inotify and a scan both saw it). */
static void
kov_daemon_add(KovDaemon *d, const char *queue, const char *id, gboolean claimed, gint64 due)
{
	g_autofree char *key = kov_item_key(queue, id, claimed);
	if (kov_schedule_contains(d->schedule, key))
		return;
	kov_schedule_insert(d->schedule, key, due, kov_item_new(queue, id, claimed));
}

static void
kov_daemon_forget(KovDaemon *d, KovItem *item)
{
	kov_schedule_remove(d->schedule, item->key);   /* frees @item */
}

/* The item now stands for cur/<id>. */
static void
kov_daemon_claimed(KovDaemon *d, KovItem *item, char *id)
{
	g_autofree char *key = kov_item_key(item->queue, id, TRUE);
	if (kov_schedule_rename(d->schedule, item->key, key)) {
		g_free(item->key);
		item->key = g_steal_pointer(&key);
	}
	g_free(item->id);
	item->id = id;
	item->claimed = TRUE;
}

/* A Kuvert queue file is worked on in place: it needs no claim by rename. */
static void
kov_daemon_on_arrival(const char *queue, const char *name, gpointer user_data)
{
	kov_daemon_add(user_data, queue, name, kov_queue_is_kuvert(queue), 0);
}

/* The queues the daemon serves: Kuvert's, then those of the configuration. */
static const char *
kov_daemon_queue_name(KovDaemon *d, guint i)
{
	if (i == 0)
		return KOV_QUEUE_KUVERT_NAME;
	if (i > d->config->queues->len)
		return NULL;
	return ((const KovQueueConfig *)g_ptr_array_index(d->config->queues, i - 1))->name;
}

/* A queue taken out of the configuration (a reload, or a restart with a
 * changed file) with mail still in it: that mail is neither sent nor
 * failed, for its policy is no longer known. It stays where it is, and
 * every rescan says so, until the queue is configured again or an
 * operator moves the mail into another queue's new/. */
static void
kov_daemon_warn_orphans(KovDaemon *d)
{
	g_auto(GStrv) dirs = kov_queue_list_maildirs(d->config->queuedir);
	for (char **q = dirs; *q != NULL; q++) {
		if (kov_config_queue(d->config, *q) != NULL)
			continue;
		g_auto(GStrv) fresh = kov_queue_list(d->config->queuedir, *q, "new", NULL);
		g_auto(GStrv) claimed = kov_queue_list(d->config->queuedir, *q, "cur", NULL);
		guint n = (fresh ? g_strv_length(fresh) : 0) + (claimed ? g_strv_length(claimed) : 0);
		if (n > 0)
			kov_log_warning("queue %s is not in the configuration but holds %u mails in %s/%s/new "
			                "and cur: they are kept, not processed; put [queue %s] back or move "
			                "them into another queue's new/", *q, n, d->config->queuedir, *q, *q);
	}
}

static void
kov_daemon_scan_new(KovDaemon *d)
{
	for (guint k = 0; kov_daemon_queue_name(d, k) != NULL; k++) {
		const char *queue = kov_daemon_queue_name(d, k);
		g_autoptr(GError) error = NULL;
		g_auto(GStrv) names = kov_queue_list(d->config->queuedir, queue, "new", &error);
		if (names == NULL) {
			kov_log_err("%s", error->message);
			continue;
		}
		for (char **n = names; *n != NULL; n++)
			kov_daemon_on_arrival(queue, *n, d);
	}
	kov_daemon_warn_orphans(d);
}

/* Plaintext at rest: failed mail is kept for failed-retention, no longer. */
static void
kov_daemon_purge_failed(KovDaemon *d)
{
	guint n = kov_queue_purge_failed(d->config->queuedir, d->config->failed_retention);
	if (n > 0)
		kov_log_info("purged %u failed mails older than the failed-retention period", n);
}

/* Take back what is in cur/: a dead run's claims and deferred mail. */
static void
kov_daemon_recover(KovDaemon *d)
{
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	for (guint q = 0; kov_daemon_queue_name(d, q) != NULL; q++) {
		const char *k = kov_daemon_queue_name(d, q);
		g_auto(GStrv) names = kov_queue_list(d->config->queuedir, k, "cur", NULL);
		kov_queue_clean_tmp(d->config->queuedir, k, KOV_TMP_MAX_AGE);
		for (char **n = names; n != NULL && *n != NULL; n++) {
			g_autoptr(GError) error = NULL;
			g_autofree char *id = NULL;
			/* Not a safe name (put there by hand, or by an older koverto): renamed. */
			if (!kov_queue_rename_cur(d->config->queuedir, k, *n, &id, &error)) {
				if (error != NULL) {
					kov_log_err("%s", error->message);
					d->unclaimed++;
				}
				continue;
			}
			g_autofree char *path = kov_queue_state_path(d->config->queuedir, k, id);
			g_autoptr(KovState) state = kov_state_load(path, NULL);
			gint64 due = state ? kov_state_get_next_attempt(state) : 0;
			kov_daemon_add(d, k, id, TRUE, d->options->oneshot || due <= now ? 0 : due);
			g_autofree char *key = kov_item_key(k, id, TRUE);
			KovItem *item = kov_schedule_lookup(d->schedule, key);
			if (item != NULL && state != NULL && !kov_state_is_new(state))
				item->since = MIN(item->since, kov_state_get_first_seen(state));
		}
	}
}

/* ---- what the workers say ------------------------------------------------ */

static void
kov_daemon_count(KovDaemon *d, char outcome)
{
	if (outcome == KOV_WORKER_DELIVERED)
		d->delivered++;
	else if (outcome == KOV_WORKER_FAILED)
		d->failed++;
	else if (outcome == KOV_WORKER_DEFERRED)
		d->deferred_count++;
}

/* A worker answered: schedule a deferred mail, forget the others. */
static void
kov_daemon_on_reply(gpointer user, gpointer data, const char *line)
{
	KovDaemon *d = user;
	KovItem *item = data;
	char outcome = line[0];
	gint64 next = line[0] != '\0' && line[1] == ' ' ? g_ascii_strtoll(line + 2, NULL, 10) : 0;

	if (outcome == KOV_WORKER_BUSY) {
		/* A writer still holds it; its close brings it back. */
		kov_daemon_forget(d, item);
		return;
	}
	kov_daemon_count(d, outcome);
	if (outcome == KOV_WORKER_DEFERRED)
		kov_telemetry_deferred(d->telemetry, item->queue);
	else if (outcome == KOV_WORKER_FAILED)
		kov_telemetry_failed(d->telemetry, item->queue);
	if (outcome == KOV_WORKER_DEFERRED && !d->options->oneshot && next > 0) {
		item->claimed = TRUE;
		kov_schedule_update(d->schedule, item->key, next);
	} else
		kov_daemon_forget(d, item);
}

/* The mail a dead worker held gets another try, or fails after the last. */
static void
kov_daemon_on_crash(KovDaemon *d, KovItem *item, int status, gboolean timed_out)
{
	g_autofree char *why = timed_out
		? g_strdup_printf("processing exceeded the time limit of %" G_GINT64_FORMAT " s",
		                  d->config->mail_timeout)
		: WIFSIGNALED(status) ? g_strdup_printf("processing crashed (signal %d)", WTERMSIG(status))
		                      : g_strdup_printf("processing ended with status %d", WEXITSTATUS(status));

	if (item == NULL) {
		kov_log_warning("daemon: an idle worker ended: %s", why);
		if (++d->idle_deaths > 10) {
			kov_log_err("daemon: workers keep dying without a mail in hand; stopping");
			d->stopping = TRUE;
			d->broken = TRUE;
		}
		return;
	}
	g_autofree char *path = kov_queue_state_path(d->config->queuedir, item->queue, item->id);
	g_autoptr(KovState) state = kov_state_load(path, NULL);
	g_autoptr(GError) save_error = NULL;
	item->crashes++;
	if (state != NULL) {
		kov_state_add_crash(state);
		kov_state_set_last_error(state, why);
		if (!kov_state_save(state, &save_error))
			kov_log_err("id=%s: %s", item->id, save_error->message);
	}
	guint crashes = state ? MAX(kov_state_get_crashes(state), item->crashes) : KOV_MAX_CRASHES;
	if (crashes < KOV_MAX_CRASHES) {
		kov_log_warning("id=%s: %s; trying again", item->id, why);
		kov_schedule_update(d->schedule, item->key, 0);
		return;
	}
	g_autofree char *reason = g_strdup_printf("%s, %u times: given up", why, crashes);
	g_autoptr(GError) error = NULL;
	kov_log_err("id=%s queue=%s result=failed reason=\"%s\"", item->id, item->queue, reason);
	if (!kov_queue_fail(d->config->queuedir, item->queue, item->id, reason, NULL, &error))
		kov_log_err("%s", error->message);
	d->failed++;
	kov_telemetry_failed(d->telemetry, item->queue);
	kov_daemon_forget(d, item);
}

/* A worker ended; a new one takes its place unless the daemon stops. */
static gboolean
kov_daemon_on_end(gpointer user, gpointer item, int status, gboolean timed_out)
{
	KovDaemon *d = user;
	kov_daemon_on_crash(d, item, status, timed_out);
	if (!d->stopping)
		kov_telemetry_worker_restarted(d->telemetry);
	return !d->stopping;
}

/* A worker's or the listener's metric event. */
static void
kov_daemon_on_metric(gpointer user, const char *line)
{
	KovDaemon *d = user;
	kov_telemetry_event(d->telemetry, line);
}

static void
kov_daemon_metrics_item(gpointer data, gboolean ready, gboolean taken, gpointer user)
{
	const KovItem *item = data;
	KovTelemetryState state = taken ? KOV_TELEMETRY_ACTIVE : ready ? KOV_TELEMETRY_NEW
	                                                               : KOV_TELEMETRY_DEFERRED;
	kov_telemetry_queue_item(user, item->queue, state, item->since);
}

/* The metrics-file, when it is due (@force: at the stop). */
static void
kov_daemon_metrics(KovDaemon *d, gboolean force)
{
	if (!kov_telemetry_due(d->telemetry, force))
		return;
	kov_telemetry_queues_begin(d->telemetry);
	kov_schedule_foreach(d->schedule, kov_daemon_metrics_item, d->telemetry);
	kov_telemetry_write(d->telemetry);
}

/* Ready mail to idle workers, claimed from new/ on the way. */
static void
kov_daemon_dispatch(KovDaemon *d)
{
	while (kov_schedule_has_ready(d->schedule) && kov_pool_has_idle(d->pool)) {
		KovItem *item = kov_schedule_next(d->schedule, NULL);
		g_autoptr(GError) error = NULL;
		g_autofree char *claimed = NULL;
		if (kov_config_queue(d->config, item->queue) == NULL) {
			/* Its queue went at a reload: kept, not sent (kov_daemon_warn_orphans). */
			kov_log_warning("id=%s: queue %s is no longer configured; the mail stays in it, "
			                "unprocessed", item->id, item->queue);
			kov_daemon_forget(d, item);
			continue;
		}
		if (!item->claimed && !kov_queue_claim(d->config->queuedir, item->queue, item->id, &claimed,
		                                       &error)) {
			if (error != NULL) {
				kov_log_err("%s", error->message);
				d->unclaimed++; /* still in new/: not delivered */
			}
			kov_daemon_forget(d, item);
			continue;   /* the worker is still free */
		}
		if (claimed != NULL)
			kov_daemon_claimed(d, item, g_steal_pointer(&claimed));
		g_autofree char *request = g_strdup_printf("%s %s\n", item->queue, item->id);
		if (!kov_pool_hand(d->pool, item, request))
			kov_log_err("daemon: cannot hand %s to a worker: %s", item->id, g_strerror(errno));
		/* a dead worker shows as EOF and its mail is retried */
	}
}

/* ---- the loop ----------------------------------------------------------- */

/* Move deferred mail whose time has come to the ready line; return the
 * milliseconds until the next one is due (-1: none). */
static gint64
kov_daemon_wake_due(KovDaemon *d)
{
	gint64 wait = kov_schedule_wake(d->schedule, g_get_real_time() / G_USEC_PER_SEC);
	return wait < 0 ? -1 : wait * 1000;
}

static gint64
kov_daemon_timeout_ms(KovDaemon *d)
{
	gint64 timeout = d->options->oneshot ? G_MAXINT : (gint64)d->config->interval * 1000;
	gint64 due = d->options->oneshot ? -1 : kov_daemon_wake_due(d);

	if (due >= 0)
		timeout = MIN(timeout, due);
	timeout = kov_pool_timeout_ms(d->pool, timeout);
	if (d->listener != NULL)
		timeout = kov_listenproc_timeout_ms(d->listener, timeout);
	timeout = kov_telemetry_timeout_ms(d->telemetry, timeout);
	timeout = kov_keywatch_timeout_ms(d->keywatch, timeout);
	return MIN(timeout, G_MAXINT);
}

static void
kov_daemon_read_watch(KovDaemon *d)
{
	g_autoptr(GError) error = NULL;
	gboolean overflow = FALSE;

	if (!kov_watch_read(d->watch, kov_daemon_on_arrival, d, &overflow, &error))
		kov_log_err("%s", error->message);
	if (overflow) {
		kov_log_info("watch: the kernel dropped events; rescanning the queues");
		kov_daemon_scan_new(d);
	}
}

/* Wait for an arrival, a worker's answer, a due retry or the rescan. */
static void
kov_daemon_wait(KovDaemon *d)
{
	guint n = kov_pool_size(d->pool);
	g_autofree struct pollfd *pfd = g_new0(struct pollfd, n + 3);
	gint64 ms = kov_daemon_timeout_ms(d);
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	pfd[0] = (struct pollfd){ .fd = kov_watch_fd(d->watch), .events = POLLIN };
	for (guint i = 0; i < n; i++)
		pfd[i + 1] = (struct pollfd){ .fd = kov_pool_fd(d->pool, i), .events = POLLIN };
	pfd[n + 1] = (struct pollfd){ .fd = d->listener ? kov_listenproc_fd(d->listener) : -1,
		                      .events = POLLIN };
	pfd[n + 2] = (struct pollfd){ .fd = kov_keywatch_fd(d->keywatch), .events = POLLIN };
	int ready = ppoll(pfd, n + 3, &ts, d->options->wait_mask);
	if (ready < 0) {
		if (errno != EINTR)
			kov_log_err("poll: %s", g_strerror(errno));
		return;
	}
	for (guint i = 0; i < n; i++)
		if (pfd[i + 1].revents != 0)
			kov_pool_read(d->pool, i);
	if (pfd[0].revents != 0)
		kov_daemon_read_watch(d);
	if (pfd[n + 1].revents != 0)
		kov_listenproc_read(d->listener);
	if (pfd[n + 2].revents != 0)
		kov_keywatch_read(d->keywatch);
	kov_keywatch_tick(d->keywatch);
	if (ready == 0 && !d->options->oneshot && !kov_pool_busy(d->pool)) {
		kov_daemon_scan_new(d); /* the safety rescan */
		kov_daemon_purge_failed(d);
	}
	kov_pool_enforce_deadlines(d->pool);
	if (!d->options->oneshot)
		kov_daemon_wake_due(d);
}

static gboolean kov_daemon_check_setup(const KovConfig *config, GError **error);
static gboolean kov_daemon_prepare_tempdir(const char *tempdir, GError **error);

/* SIGUSR1: a new configuration for everything that comes next; the old one
 * stays when the new one is broken, moves the queue, or its keyring,
 * transport or tempdir do not work. */
static void
kov_daemon_reload(KovDaemon *d)
{
	g_autoptr(GError) error = NULL;
	KovConfig *config = d->options->load_config ? d->options->load_config(&error) : NULL;

	*d->options->reload = 0;
	/* READY=1 again from the loop, once a new listener accepts too. */
	kov_notify_status(d->notify, "RELOADING=1", "reloading %s", d->config->file);
	d->told_ready = FALSE;
	if (config == NULL) {
		kov_log_err("reload: %s; keeping the running configuration",
		            error ? error->message : "not supported");
		return;
	}
	if (g_strcmp0(config->queuedir, d->config->queuedir) != 0) {
		kov_log_err("reload: queuedir cannot change while running (%s); keeping the running "
		            "configuration; restart koverto to move the queue", config->queuedir);
		kov_config_free(config);
		return;
	}
	KovLogOptions log = { "koverto", TRUE, kov_log_debug_enabled(), config->logfile, config->syslog };
	/* New queues get their Maildir before anybody is told of them. */
	if (!kov_daemon_prepare_tempdir(config->tempdir, &error)
	    || !kov_daemon_check_setup(config, &error)
	    || !kov_queue_prepare(config->queuedir, config->queues, &error)
	    || !kov_log_open(&log, &error)) {
		kov_log_err("reload: %s; keeping the running configuration", error->message);
		kov_config_free(config);
		return;
	}
	g_clear_pointer(&d->reloaded, kov_config_free);
	d->reloaded = config;
	d->config = config;
	/* The keys directories of the new configuration are published before
	 * a worker works with it. */
	kov_keywatch_configure(d->keywatch, config);
	kov_pool_reload(d->pool, config);
	kov_telemetry_configure(d->telemetry, config);
	if (d->listener != NULL)
		kov_listenproc_reload(d->listener, config);
	if (!kov_watch_set_queues(d->watch, config->queues, &error))
		kov_log_err("reload: %s; that queue is seen at the rescans only", error->message);
	kov_log_info("reload: configuration %s read again", config->file);
	/* What waits in a queue that is new now, and what a removed queue holds. */
	kov_daemon_scan_new(d);
	kov_daemon_recover(d);
}

/* A stop signal that arrived while we were busy is still pending (blocked). */
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

/* Start the listener (again) when it is due, telling it which of our
 * descriptors it must not keep: the lock, inotify, the workers' sockets. */
static void
kov_daemon_tick_listener(KovDaemon *d)
{
	if (d->listener == NULL)
		return;
	g_autoptr(GArray) fds = g_array_new(FALSE, FALSE, sizeof(int));
	int fd = kov_watch_fd(d->watch);
	g_array_append_val(fds, fd);
	g_array_append_val(fds, d->lock_fd);
	if ((fd = kov_keywatch_fd(d->keywatch)) >= 0)
		g_array_append_val(fds, fd);
	for (guint i = 0; i < kov_pool_size(d->pool); i++)
		if ((fd = kov_pool_fd(d->pool, i)) >= 0)
			g_array_append_val(fds, fd);
	kov_listenproc_set_close_fds(d->listener, (const int *)fds->data, fds->len);
	kov_listenproc_tick(d->listener);
}

/* The service manager's READY=1 when the queues are watched and the
 * listener, if any, accepts; STOPPING=1 once (notify.h). */
static void
kov_daemon_notify(KovDaemon *d)
{
	if (d->stopping && !d->told_stopping) {
		d->told_stopping = TRUE;
		kov_notify_status(d->notify, "STOPPING=1", "stopping: finishing the mail in hand");
	} else if (!d->stopping && !d->told_ready
	           && (d->listener == NULL || kov_listenproc_accepting(d->listener))) {
		d->told_ready = TRUE;
		g_autofree char *queues = kov_config_queue_names(d->config);
		kov_notify_status(d->notify, "READY=1", "watching %s (%s, kuvert) with %u workers%s",
		                  d->config->queuedir, queues, kov_pool_size(d->pool),
		                  d->listener != NULL && kov_listen_config_enabled(&d->config->listen)
		                          ? "; listener accepting" : "");
	}
}

static int
kov_daemon_loop(KovDaemon *d)
{
	g_autofree char *queues = kov_config_queue_names(d->config);
	kov_log_info("ready: watching %s (%s, kuvert) with %u workers", d->config->queuedir, queues,
	             kov_pool_size(d->pool));
	for (;;) {
		if (d->options->reload != NULL && *d->options->reload && !d->stopping)
			kov_daemon_reload(d);
		if (!d->stopping && kov_daemon_stop_pending(d)) {
			d->stopping = TRUE;
			kov_log_info("stopping: finishing the mail in hand");
			if (d->listener != NULL)
				kov_listenproc_stop(d->listener);
		}
		if (!d->stopping)
			kov_daemon_dispatch(d);
		kov_daemon_tick_listener(d);
		kov_daemon_notify(d);
		gboolean busy = kov_pool_busy(d->pool);
		if (!busy && (d->stopping || (d->options->oneshot && !kov_schedule_has_ready(d->schedule))))
			break;
		kov_daemon_wait(d);
		kov_daemon_metrics(d, FALSE);
	}
	kov_daemon_metrics(d, TRUE);
	if (d->broken)
		return KOV_DAEMON_EXIT_BROKEN;
	if (!d->options->oneshot || d->failed + d->deferred_count + d->unclaimed == 0)
		return KOV_DAEMON_EXIT_OK;
	return d->failed > 0 ? KOV_DAEMON_EXIT_FAILED : KOV_DAEMON_EXIT_DEFERRED;
}

static gboolean
kov_daemon_prepare_tempdir(const char *tempdir, GError **error)
{
	return kov_config_prepare_tempdir(tempdir, error);
}

static void
kov_daemon_clear(KovDaemon *d)
{
	/* The listener finishes the messages it is receiving. */
	g_clear_pointer(&d->listener, kov_listenproc_free);
	/* The workers first: the mail they hold is the schedule's. */
	g_clear_pointer(&d->pool, kov_pool_free);
	g_clear_pointer(&d->schedule, kov_schedule_free);
	g_clear_pointer(&d->telemetry, kov_telemetry_free);
	g_clear_pointer(&d->watch, kov_watch_free);
	g_clear_pointer(&d->keywatch, kov_keywatch_free);
	kov_queue_unlock(d->config->queuedir, d->lock_fd);
	g_clear_pointer(&d->reloaded, kov_config_free);
}

/* gpg locks GNUPGHOME/random_seed to read and to rewrite it, and libgcrypt
 * answers a held lock by sleeping 250 ms or more: workers running gpg at
 * once stall each other (half the throughput on 2 CPUs). The option is
 * gpg's, in gpg.conf; GPGME cannot pass it. */
static void
kov_daemon_check_seed_file(const KovConfig *config, KovKeys *keys)
{
	guint n = kov_pool_size_for(config);
	if (n > 1 && !kov_keys_gpg_conf_has(keys, "no-random-seed-file"))
		kov_log_info("gpg.conf of the GnuPG home has no \"no-random-seed-file\": the gpg runs of "
		             "%u workers will wait for each other's lock on its random_seed file; "
		             "see koverto(8), PERFORMANCE", n);
}

/* What each worker will set up for itself, tried once here, so that a bad
 * set-up is a start-up error and not a stream of dying workers. */
static gboolean
kov_daemon_check_setup(const KovConfig *config, GError **error)
{
	g_autoptr(KovKeys) keys = kov_keys_new(config->gnupghome, config->gpg, config->alwaystrust, error);
	g_autoptr(KovDeliver) deliver = keys ? kov_deliver_new(config, error) : NULL;
	if (deliver != NULL)
		kov_daemon_check_seed_file(config, keys);
	return deliver != NULL && kov_listener_check(&config->listen, error);
}

int
kov_daemon_run(const KovConfig *config, const KovDaemonOptions *options, GError **error)
{
	KovDaemon d = { .config = config, .options = options, .lock_fd = -1,
	                .notify = options->oneshot ? NULL : options->notify };
	int status = -1;

	if (!kov_queue_prepare(config->queuedir, config->queues, error)
	    || !kov_daemon_prepare_tempdir(config->tempdir, error)
	    || !kov_daemon_check_setup(config, error)
	    || !kov_kuvert_check_running(config->queuedir, error))
		return -1;
	/* A killed daemon's workers finish their mail within its time limit. */
	d.lock_fd = kov_queue_lock(config->queuedir, kov_worker_backstop_seconds(config) + 5, error);
	if (d.lock_fd < 0)
		return -1;
	static const KovPoolEvents events = { kov_daemon_on_reply, kov_daemon_on_end, kov_daemon_on_metric };
	d.schedule = kov_schedule_new(kov_item_free);
	d.telemetry = kov_telemetry_new(config);
	/* Keys from a directory are published before any worker reads them. */
	d.keywatch = kov_keywatch_new(config, error);
	d.watch = d.keywatch != NULL ? kov_watch_new(config->queuedir, config->queues, error) : NULL;
	if (d.watch != NULL)
		d.pool = kov_pool_new(config, kov_watch_fd(d.watch), &events, &d);
	if (d.pool != NULL && kov_pool_start(d.pool, error)) {
		kov_daemon_purge_failed(&d);
		kov_queue_clean_state(config->queuedir);
		kov_daemon_recover(&d);
		kov_daemon_scan_new(&d);
		if (!options->oneshot)
			d.listener = kov_listenproc_new(config, kov_daemon_on_metric, &d);
		status = kov_daemon_loop(&d);
	}
	kov_daemon_clear(&d);
	return status;
}
