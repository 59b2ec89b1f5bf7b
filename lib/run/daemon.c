/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The watcher. inotify first, then a scan of new/, so nothing arrives
 * unseen; a rescan every `interval` seconds and on IN_Q_OVERFLOW catches
 * the rest. Claimed mail goes to worker processes (worker.c), one mail per
 * worker at a time, each with a time limit: a worker that dies or overruns
 * costs one attempt of one mail, and a mail that kills its worker
 * repeatedly is failed. Deferred mail waits in cur/ (never back in new/,
 * which would wake inotify in a loop) in a schedule by next attempt. */
#include "daemon.h"
#include "deliver.h"
#include "keys.h"
#include "kuvert.h"
#include "error.h"
#include "log.h"
#include "queue.h"
#include "state.h"
#include "watch.h"
#include "worker.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Maildir convention: a tmp/ file untouched for 36 hours is abandoned. */
#define KOV_TMP_MAX_AGE (36 * 3600)
/* A mail that killed or hung its worker this often is failed. */
#define KOV_MAX_CRASHES 3

typedef struct {
	KovQueueKind kind;
	char *id;
	gboolean claimed;     /* already in cur/ */
	gint64 due;           /* unix seconds */
	guint crashes;        /* also in the state; kept here for when it cannot be saved */
} KovItem;

typedef struct {
	pid_t pid;
	int fd;               /* the watcher's end of the socket pair */
	KovItem *item;        /* the mail in hand; NULL when idle */
	gint64 deadline;      /* monotonic microseconds */
	gboolean timed_out;
	gboolean retire;      /* replace after the mail in hand (reload) */
	GString *input;
} KovWorker;

typedef struct {
	const KovConfig *config;
	KovConfig *reloaded;  /* owned: the configuration after a reload */
	const KovDaemonOptions *options;
	int lock_fd;
	KovWatch *watch;
	GPtrArray *workers;   /* of KovWorker* */
	GQueue ready;         /* of KovItem* */
	GSequence *deferred;  /* of KovItem*, by due time */
	GHashTable *known;    /* "kind/id" of every mail ready, in hand or deferred */
	gboolean stopping;
	gboolean broken;      /* stopped because workers could not live */
	guint idle_deaths;    /* workers that died without a mail: a broken set-up */
	guint delivered, deferred_count, failed;
	guint unclaimed;      /* mails that could not be taken (an error): not delivered */
} KovDaemon;

static void
kov_item_free(gpointer data)
{
	KovItem *item = data;
	g_free(item->id);
	g_free(item);
}

static KovItem *
kov_item_new(KovQueueKind kind, const char *id, gboolean claimed)
{
	KovItem *item = g_new0(KovItem, 1);
	*item = (KovItem){ kind, g_strdup(id), claimed, 0, 0 };
	return item;
}

/* new/x and cur/x are two mails: a claimed one is keyed apart. */
static char *
kov_item_key(KovQueueKind kind, const char *id, gboolean claimed)
{
	return g_strdup_printf("%d/%s/%s", kind, claimed ? "cur" : "new", id);
}

static void
kov_daemon_forget(KovDaemon *d, KovItem *item)
{
	g_autofree char *key = kov_item_key(item->kind, item->id, item->claimed);
	g_hash_table_remove(d->known, key);
	kov_item_free(item);
}

/* The item now stands for cur/<id>. */
static void
kov_daemon_claimed(KovDaemon *d, KovItem *item, char *id)
{
	g_autofree char *key = kov_item_key(item->kind, item->id, item->claimed);
	g_hash_table_remove(d->known, key);
	g_free(item->id);
	item->id = id;
	item->claimed = TRUE;
	g_hash_table_add(d->known, kov_item_key(item->kind, item->id, TRUE));
}

static void
kov_daemon_add_ready(KovDaemon *d, KovQueueKind kind, const char *id, gboolean claimed)
{
	if (!g_hash_table_add(d->known, kov_item_key(kind, id, claimed)))
		return; /* already known: inotify and a scan both saw it */
	g_queue_push_tail(&d->ready, kov_item_new(kind, id, claimed));
}

/* A Kuvert queue file is worked on in place: it needs no claim by rename. */
static void
kov_daemon_on_arrival(KovQueueKind kind, const char *name, gpointer user_data)
{
	kov_daemon_add_ready(user_data, kind, name, kind == KOV_QUEUE_KUVERT);
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
	for (int k = 0; k < KOV_QUEUE_N_KINDS; k++) {
		g_autoptr(GError) error = NULL;
		g_auto(GStrv) names = kov_queue_list(d->config->queuedir, k, "new", &error);
		if (names == NULL) {
			kov_log_err("%s", error->message);
			continue;
		}
		for (char **n = names; *n != NULL; n++)
			kov_daemon_on_arrival(k, *n, d);
	}
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

	for (int k = 0; k < KOV_QUEUE_N_KINDS; k++) {
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
			if (d->options->oneshot || due <= now) {
				kov_daemon_add_ready(d, k, id, TRUE);
				continue;
			}
			if (g_hash_table_add(d->known, kov_item_key(k, id, TRUE)))
				kov_daemon_defer(d, kov_item_new(k, id, TRUE), due);
		}
	}
}

/* ---- workers ------------------------------------------------------------ */

/* One SMTP connection per worker: max-connections caps the workers when
 * koverto talks SMTP, so a smarthost's connection limit is respected. */
static guint
kov_daemon_worker_count(const KovConfig *config)
{
	guint n = config->workers > 0 ? config->workers : MAX(1, g_get_num_processors());
	if (config->msserver != NULL && config->max_connections > 0)
		n = MIN(n, config->max_connections);
	return n;
}

static void
kov_worker_free(gpointer data)
{
	KovWorker *w = data;
	if (w->fd >= 0)
		close(w->fd);
	g_string_free(w->input, TRUE);
	g_free(w);
}

/* Close a worker's socket (EOF: it exits if it still runs) and reap it. */
static int
kov_worker_close(KovWorker *w)
{
	int status = 0;

	close(w->fd);
	w->fd = -1;
	while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

/* The descriptors a new worker must not keep: the others' sockets, inotify. */
static GArray *
kov_daemon_inherited_fds(KovDaemon *d)
{
	GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));
	int watch_fd = kov_watch_fd(d->watch);

	g_array_append_val(fds, watch_fd);
	for (guint i = 0; i < d->workers->len; i++) {
		KovWorker *w = g_ptr_array_index(d->workers, i);
		if (w->fd >= 0)
			g_array_append_val(fds, w->fd);
	}
	return fds;
}

static gboolean
kov_daemon_start_worker(KovDaemon *d, KovWorker *w, GError **error)
{
	g_autoptr(GArray) fds = kov_daemon_inherited_fds(d);

	w->pid = kov_worker_spawn(d->config, (const int *)fds->data, fds->len, &w->fd, error);
	w->item = NULL;
	w->timed_out = FALSE;
	g_string_truncate(w->input, 0);
	return w->pid > 0;
}

static gboolean
kov_daemon_start_workers(KovDaemon *d, GError **error)
{
	guint n = kov_daemon_worker_count(d->config);

	for (guint i = 0; i < n; i++) {
		KovWorker *w = g_new0(KovWorker, 1);
		w->fd = -1;
		w->input = g_string_new(NULL);
		g_ptr_array_add(d->workers, w);
		if (!kov_daemon_start_worker(d, w, error))
			return FALSE;
	}
	kov_log_debug("daemon: %u workers", n);
	return TRUE;
}

static gboolean
kov_daemon_busy(KovDaemon *d)
{
	for (guint i = 0; i < d->workers->len; i++)
		if (((KovWorker *)g_ptr_array_index(d->workers, i))->item != NULL)
			return TRUE;
	return FALSE;
}

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
kov_daemon_on_reply(KovDaemon *d, KovWorker *w, const char *line)
{
	KovItem *item = g_steal_pointer(&w->item);
	char outcome = line[0];
	gint64 next = line[0] != '\0' && line[1] == ' ' ? g_ascii_strtoll(line + 2, NULL, 10) : 0;

	if (item == NULL)
		return;
	if (outcome == KOV_WORKER_BUSY) {
		/* A writer still holds it; its close brings it back. */
		kov_daemon_forget(d, item);
		return;
	}
	kov_daemon_count(d, outcome);
	if (outcome == KOV_WORKER_DEFERRED && !d->options->oneshot && next > 0)
		kov_daemon_defer(d, item, next);
	else
		kov_daemon_forget(d, item);
}

/* The mail a dead worker held gets another try, or fails after the last. */
static void
kov_daemon_on_crash(KovDaemon *d, KovWorker *w, int status)
{
	KovItem *item = g_steal_pointer(&w->item);
	g_autofree char *why = w->timed_out
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
	g_autofree char *path = kov_queue_state_path(d->config->queuedir, item->kind, item->id);
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
		g_queue_push_tail(&d->ready, item);
		return;
	}
	g_autofree char *reason = g_strdup_printf("%s, %u times: given up", why, crashes);
	g_autoptr(GError) error = NULL;
	kov_log_err("id=%s queue=%s result=failed reason=\"%s\"", item->id, kov_policy_queue_name(item->kind),
	            reason);
	if (!kov_queue_fail(d->config->queuedir, item->kind, item->id, reason, NULL, &error))
		kov_log_err("%s", error->message);
	d->failed++;
	kov_daemon_forget(d, item);
}

static void
kov_daemon_reap(KovDaemon *d, KovWorker *w)
{
	kov_daemon_on_crash(d, w, kov_worker_close(w));
	if (d->stopping)
		return;
	g_autoptr(GError) error = NULL;
	if (!kov_daemon_start_worker(d, w, &error))
		kov_log_err("daemon: cannot start a worker: %s", error->message);
}

/* An idle worker is replaced by one that has the current configuration. */
static void
kov_daemon_replace_worker(KovDaemon *d, KovWorker *w)
{
	g_autoptr(GError) error = NULL;

	kov_worker_close(w);
	w->retire = FALSE;
	if (!kov_daemon_start_worker(d, w, &error))
		kov_log_err("daemon: cannot start a worker: %s", error->message);
}

static void
kov_daemon_read_worker(KovDaemon *d, KovWorker *w)
{
	char buf[512];
	ssize_t n = read(w->fd, buf, sizeof buf);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		kov_daemon_reap(d, w);
		return;
	}
	g_string_append_len(w->input, buf, n);
	for (char *nl; (nl = memchr(w->input->str, '\n', w->input->len)) != NULL;) {
		*nl = '\0';
		kov_daemon_on_reply(d, w, w->input->str);
		g_string_erase(w->input, 0, nl - w->input->str + 1);
	}
	if (w->retire && w->item == NULL)
		kov_daemon_replace_worker(d, w);
}

static void
kov_daemon_dispatch(KovDaemon *d)
{
	for (guint i = 0; i < d->workers->len && !g_queue_is_empty(&d->ready); i++) {
		KovWorker *w = g_ptr_array_index(d->workers, i);
		if (w->item != NULL || w->fd < 0)
			continue;
		KovItem *item = g_queue_pop_head(&d->ready);
		g_autoptr(GError) error = NULL;
		g_autofree char *claimed = NULL;
		if (!item->claimed && !kov_queue_claim(d->config->queuedir, item->kind, item->id, &claimed,
		                                       &error)) {
			if (error != NULL) {
				kov_log_err("%s", error->message);
				d->unclaimed++; /* still in new/: not delivered */
			}
			kov_daemon_forget(d, item);
			i--; /* this worker is still free */
			continue;
		}
		if (claimed != NULL)
			kov_daemon_claimed(d, item, g_steal_pointer(&claimed));
		g_autofree char *request = g_strdup_printf("%d %s\n", item->kind, item->id);
		w->item = item;
		w->deadline = g_get_monotonic_time() + d->config->mail_timeout * G_USEC_PER_SEC;
		if (write(w->fd, request, strlen(request)) != (ssize_t)strlen(request))
			kov_log_err("daemon: cannot hand %s to a worker: %s", item->id, g_strerror(errno));
		/* a dead worker shows as EOF and its mail is retried */
	}
}

static void
kov_daemon_enforce_deadlines(KovDaemon *d)
{
	gint64 now = g_get_monotonic_time();
	for (guint i = 0; i < d->workers->len; i++) {
		KovWorker *w = g_ptr_array_index(d->workers, i);
		if (w->item != NULL && !w->timed_out && now > w->deadline) {
			w->timed_out = TRUE;
			kill(-w->pid, SIGKILL); /* the worker and its gpg */
		}
	}
}

static void
kov_daemon_stop_workers(KovDaemon *d)
{
	for (guint i = 0; i < d->workers->len; i++) {
		KovWorker *w = g_ptr_array_index(d->workers, i);
		if (w->fd < 0)
			continue;
		kov_worker_close(w);
	}
}

/* ---- the loop ----------------------------------------------------------- */

/* Move deferred mail whose time has come to the ready queue; return the
 * milliseconds until the next one is due (-1: none). */
static gint64
kov_daemon_wake_due(KovDaemon *d)
{
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	while (g_sequence_get_length(d->deferred) > 0) {
		GSequenceIter *first = g_sequence_get_begin_iter(d->deferred);
		KovItem *item = g_sequence_get(first);
		if (item->due > now)
			return (item->due - now) * 1000;
		g_sequence_remove(first);
		g_queue_push_tail(&d->ready, item);
	}
	return -1;
}

static gint64
kov_daemon_timeout_ms(KovDaemon *d)
{
	gint64 timeout = d->options->oneshot ? G_MAXINT : (gint64)d->config->interval * 1000;
	gint64 due = d->options->oneshot ? -1 : kov_daemon_wake_due(d);
	gint64 now = g_get_monotonic_time();

	if (due >= 0)
		timeout = MIN(timeout, due);
	for (guint i = 0; i < d->workers->len; i++) {
		KovWorker *w = g_ptr_array_index(d->workers, i);
		if (w->item != NULL && !w->timed_out)
			timeout = MIN(timeout, MAX(0, (w->deadline - now) / 1000 + 1));
	}
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
	guint n = d->workers->len;
	g_autofree struct pollfd *pfd = g_new0(struct pollfd, n + 1);
	gint64 ms = kov_daemon_timeout_ms(d);
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	pfd[0] = (struct pollfd){ .fd = kov_watch_fd(d->watch), .events = POLLIN };
	for (guint i = 0; i < n; i++)
		pfd[i + 1] = (struct pollfd){ .fd = ((KovWorker *)g_ptr_array_index(d->workers, i))->fd,
		                              .events = POLLIN };
	int ready = ppoll(pfd, n + 1, &ts, d->options->wait_mask);
	if (ready < 0) {
		if (errno != EINTR)
			kov_log_err("poll: %s", g_strerror(errno));
		return;
	}
	for (guint i = 0; i < n; i++)
		if (pfd[i + 1].revents != 0)
			kov_daemon_read_worker(d, g_ptr_array_index(d->workers, i));
	if (pfd[0].revents != 0)
		kov_daemon_read_watch(d);
	if (ready == 0 && !d->options->oneshot && !kov_daemon_busy(d)) {
		kov_daemon_scan_new(d); /* the safety rescan */
		kov_daemon_purge_failed(d);
	}
	kov_daemon_enforce_deadlines(d);
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
	if (!kov_daemon_prepare_tempdir(config->tempdir, &error)
	    || !kov_daemon_check_setup(config, &error) || !kov_log_open(&log, &error)) {
		kov_log_err("reload: %s; keeping the running configuration", error->message);
		kov_config_free(config);
		return;
	}
	g_clear_pointer(&d->reloaded, kov_config_free);
	d->reloaded = config;
	d->config = config;
	for (guint i = 0; i < d->workers->len; i++) {
		KovWorker *w = g_ptr_array_index(d->workers, i);
		w->retire = TRUE;
		if (w->item == NULL && w->fd >= 0)
			kov_daemon_replace_worker(d, w);
	}
	kov_log_info("reload: configuration %s read again", config->file);
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

static int
kov_daemon_loop(KovDaemon *d)
{
	kov_log_info("ready: watching %s (must-encrypt, fallback, sign-only, kuvert) with %u workers",
	             d->config->queuedir, d->workers->len);
	for (;;) {
		if (d->options->reload != NULL && *d->options->reload && !d->stopping)
			kov_daemon_reload(d);
		if (!d->stopping && kov_daemon_stop_pending(d)) {
			d->stopping = TRUE;
			kov_log_info("stopping: finishing the mail in hand");
		}
		if (!d->stopping)
			kov_daemon_dispatch(d);
		gboolean busy = kov_daemon_busy(d);
		if (!busy && (d->stopping || (d->options->oneshot && g_queue_is_empty(&d->ready))))
			break;
		kov_daemon_wait(d);
	}
	if (d->broken)
		return 69; /* EX_UNAVAILABLE: the set-up no longer works */
	if (!d->options->oneshot)
		return 0;
	if (d->failed > 0)
		return 1;
	return d->deferred_count > 0 || d->unclaimed > 0 ? 75 : 0;
}

static gboolean
kov_daemon_prepare_tempdir(const char *tempdir, GError **error)
{
	return kov_config_prepare_tempdir(tempdir, error);
}

static void
kov_daemon_clear(KovDaemon *d)
{
	if (d->workers != NULL) {
		kov_daemon_stop_workers(d);
		g_ptr_array_unref(d->workers);
	}
	g_queue_clear_full(&d->ready, kov_item_free);
	if (d->deferred != NULL) {
		while (g_sequence_get_length(d->deferred) > 0) {
			GSequenceIter *first = g_sequence_get_begin_iter(d->deferred);
			kov_item_free(g_sequence_get(first));
			g_sequence_remove(first);
		}
		g_sequence_free(d->deferred);
	}
	if (d->known != NULL)
		g_hash_table_unref(d->known);
	g_clear_pointer(&d->watch, kov_watch_free);
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
	guint n = kov_daemon_worker_count(config);
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
	return deliver != NULL;
}

int
kov_daemon_run(const KovConfig *config, const KovDaemonOptions *options, GError **error)
{
	KovDaemon d = { .config = config, .options = options, .lock_fd = -1 };
	int status = -1;

	if (!kov_queue_prepare(config->queuedir, error)
	    || !kov_daemon_prepare_tempdir(config->tempdir, error)
	    || !kov_daemon_check_setup(config, error)
	    || !kov_kuvert_check_running(config->queuedir, error))
		return -1;
	/* A killed daemon's workers finish their mail within its time limit. */
	d.lock_fd = kov_queue_lock(config->queuedir, kov_worker_backstop_seconds(config) + 5, error);
	if (d.lock_fd < 0)
		return -1;
	g_queue_init(&d.ready);
	d.deferred = g_sequence_new(NULL); /* items move on when due: never freed by removal */
	d.known = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	d.workers = g_ptr_array_new_with_free_func(kov_worker_free);
	d.watch = kov_watch_new(config->queuedir, error);
	if (d.watch != NULL && kov_daemon_start_workers(&d, error)) {
		kov_daemon_purge_failed(&d);
		kov_queue_clean_state(config->queuedir);
		kov_daemon_recover(&d);
		kov_daemon_scan_new(&d);
		status = kov_daemon_loop(&d);
	}
	kov_daemon_clear(&d);
	return status;
}
