/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Worker processes. The watcher never parses a mail; a worker does, in its
 * own process group, so that a crash, an abort or a hung gpg costs one
 * mail and the watcher can kill the whole group when a mail overruns its
 * time limit. The protocol is one short text line each way. */
#include "worker.h"
#include "deliver.h"
#include "error.h"
#include "fileio.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "report.h"
#include "state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

void
kov_worker_handle(KovContext *ctx, const KovQueueConfig *queue, const char *id, KovResult *result)
{
	const char *queuedir = ctx->config->queuedir;
	const char *name = queue->name;
	g_autoptr(GError) error = NULL;
	g_autofree char *path = kov_queue_cur_path(queuedir, name, id);
	struct stat st;

	/* Gone already: a run killed between removing the mail and its state. */
	if (lstat(path, &st) != 0 && errno == ENOENT) {
		g_autofree char *state = kov_queue_state_path(queuedir, name, id);
		kov_state_remove(state);
		memset(result, 0, sizeof *result);
		result->outcome = KOV_OUTCOME_DELIVERED;
		kov_log_info("id=%s: already done by an earlier run", id);
		return;
	}
	/* A symbolic link, a FIFO, a device: failed unread, whatever it points to. */
	int fd = kov_queue_open_mail(path, &error);
	if (fd < 0 && g_error_matches(error, KOV_ERROR, KOV_ERROR_DATAERR)) {
		memset(result, 0, sizeof *result);
		result->outcome = KOV_OUTCOME_FAILED;
		result->reason = g_strdup(error->message);
		kov_log_err("id=%s queue=%s result=failed reason=\"%s\"", id, name, result->reason);
		g_clear_error(&error);
	} else {
		if (fd >= 0)
			close(fd);
		g_clear_error(&error);
		kov_process_mail(ctx, queue, id, result);
	}
	switch (result->outcome) {
	case KOV_OUTCOME_DELIVERED:
		if (!kov_queue_done(queuedir, name, id, &error))
			kov_log_err("%s", error->message);
		break;
	case KOV_OUTCOME_FAILED:
		/* Not parked (a full disk, say): it stays in cur/, known to the
		 * watcher, and is failed again at the next attempt; no alert
		 * says it was parked where it is not. */
		if (!kov_queue_fail(queuedir, name, id, result->reason, result->undelivered, &error)) {
			kov_log_err("id=%s: %s; kept in cur/, tried again later", id, error->message);
			result->outcome = KOV_OUTCOME_DEFERRED;
			result->next_attempt = (gint64)time(NULL) + MAX(ctx->config->retry_first, 1);
			break;
		}
		if (result->dsn != NULL && kov_report_dsn_send(ctx, id, result->dsn, result->dsn_to))
			kov_metrics_event_append(ctx->events, "koverto_dsn_sent_total", 1, "queue", name, NULL);
		if (result->quiet)
			kov_log_err("id=%s: failed: %s (no alert mailed: it has the null sender)", id,
			            result->reason);
		else
			kov_report_alert(ctx, name, id, result->reason);
		break;
	case KOV_OUTCOME_DEFERRED:
		break;
	}
}

static char
kov_worker_code(KovOutcome outcome)
{
	switch (outcome) {
	case KOV_OUTCOME_DELIVERED: return KOV_WORKER_DELIVERED;
	case KOV_OUTCOME_DEFERRED:  return KOV_WORKER_DEFERRED;
	case KOV_OUTCOME_FAILED:    return KOV_WORKER_FAILED;
	}
	return KOV_WORKER_FAILED;
}

/* The watcher kills a worker that overruns mail-timeout. A worker whose
 * watcher is gone has this backstop instead, a little later: a timer whose
 * signal kills the worker's process group (it and its gpg), so that a hung
 * mail cannot hold the queue lock, and a new daemon, for ever. */
static timer_t kov_worker_timer;
static gboolean kov_worker_has_timer;

static void
kov_worker_on_backstop(int sig)
{
	(void)sig;
	kill(0, SIGKILL);
}

static void
kov_worker_backstop_init(void)
{
	struct sigaction sa = { .sa_handler = kov_worker_on_backstop };
	struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGRTMIN, &sa, NULL) == 0)
		kov_worker_has_timer = timer_create(CLOCK_MONOTONIC, &ev, &kov_worker_timer) == 0;
	if (!kov_worker_has_timer)
		kov_log_warning("worker: no time limit of its own: %s", g_strerror(errno));
}

gint64
kov_worker_backstop_seconds(const KovConfig *config)
{
	return config->mail_timeout + MIN(config->mail_timeout, 30);
}

/* Arm the backstop for @seconds from now; 0 disarms it. */
static void
kov_worker_backstop(gint64 seconds)
{
	struct itimerspec when = { .it_value = { .tv_sec = (time_t)seconds } };
	if (kov_worker_has_timer)
		timer_settime(kov_worker_timer, 0, &when, NULL);
}

/* TRUE when the Kuvert queue's <id> is there but is no regular file. */
static gboolean
kov_worker_not_a_file(const char *queuedir, const char *id)
{
	g_autofree char *path = kov_queue_cur_path(queuedir, KOV_QUEUE_KUVERT_NAME, id);
	struct stat st;
	return lstat(path, &st) == 0 && !S_ISREG(st.st_mode);
}

/* A mail of a queue this worker's configuration does not have (a reload
 * took it away between the watcher's look and ours): its policy is not
 * known, so it is failed with the reason, never sent. */
static void
kov_worker_unknown_queue(KovContext *ctx, const char *queue, const char *id, KovResult *result)
{
	g_autoptr(GError) error = NULL;

	memset(result, 0, sizeof *result);
	result->outcome = KOV_OUTCOME_FAILED;
	result->reason = g_strdup_printf("queue %s is not in the configuration: its policy is not "
	                                 "known, so the mail is not sent", queue);
	kov_log_err("id=%s queue=%s result=failed reason=\"%s\"", id, queue, result->reason);
	if (!kov_queue_fail(ctx->config->queuedir, queue, id, result->reason, NULL, &error)) {
		kov_log_err("id=%s: %s; kept in cur/", id, error->message);
		result->outcome = KOV_OUTCOME_DEFERRED;
		result->next_attempt = (gint64)time(NULL) + MAX(ctx->config->retry_first, 1);
	}
}

/* One request line: "QUEUE ID". */
static void
kov_worker_serve_one(KovContext *ctx, int fd, char *line)
{
	KovResult result = { 0 };
	char reply[64];
	char *space = strchr(line, ' ');
	int lock = -1;

	if (space != NULL)
		*space = '\0';
	/* The watcher sends safe names only (claimed or renamed so, queues as
	 * configured): one line, one mail, never a piece of another's name. */
	if (space == NULL || !kov_queue_is_safe_name(space + 1)
	    || (!kov_queue_is_kuvert(line) && !kov_config_queue_name_check(line, NULL))) {
		if (space != NULL)
			*space = ' ';
		kov_log_err("worker: bad request \"%s\"", line);
		_exit(2);
	}
	const char *id = space + 1;
	const KovQueueConfig *queue = kov_config_queue(ctx->config, line);
	/* A Kuvert queue file is worked on in place, under its lock. What is
	 * not a regular file cannot be locked, and is no writer's: it is failed. */
	if (queue == NULL) {
		kov_worker_unknown_queue(ctx, line, id, &result);
		g_snprintf(reply, sizeof reply, "%c %" G_GINT64_FORMAT "\n",
		           kov_worker_code(result.outcome), result.next_attempt);
	} else if (queue->kind == KOV_QUEUE_KUVERT
	    && (lock = kov_queue_lock_kuvert(ctx->config->queuedir, id)) < 0
	    && !kov_worker_not_a_file(ctx->config->queuedir, id)) {
		g_snprintf(reply, sizeof reply, "%c 0\n", KOV_WORKER_BUSY);
	} else {
		kov_worker_backstop(kov_worker_backstop_seconds(ctx->config));
		kov_worker_handle(ctx, queue, id, &result);
		kov_worker_backstop(0);
		g_snprintf(reply, sizeof reply, "%c %" G_GINT64_FORMAT "\n",
		           kov_worker_code(result.outcome), result.next_attempt);
	}
	if (lock >= 0)
		close(lock);
	kov_result_clear(&result);
	/* The events of this mail, then the reply: one write. */
	GString *out = ctx->events;
	if (out != NULL)
		g_string_append(out, reply);
	if (!kov_fileio_write_all(fd, out ? out->str : reply, out ? out->len : strlen(reply), NULL,
	                          "worker: cannot reply"))
		_exit(0); /* the watcher is gone */
	if (out != NULL)
		g_string_truncate(out, 0);
}

static int
kov_worker_loop(const KovConfig *config, int fd)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(KovKeys) keys = kov_keys_new(config->gnupghome, config->gpg, config->alwaystrust,
	                                       &error);
	g_autoptr(KovDeliver) deliver = keys ? kov_deliver_new(config, &error) : NULL;
	FILE *in = fdopen(dup(fd), "r");
	if (keys != NULL)
		kov_keys_set_passphrase(keys, kov_passphrase_new(config->query_secret, config->flush_secret));
	char *line = NULL;
	size_t cap = 0;

	if (deliver == NULL || in == NULL) {
		kov_log_err("worker: %s", error ? error->message : g_strerror(errno));
		return 1;
	}
	g_autoptr(GString) events = config->metrics_file != NULL ? g_string_new(NULL) : NULL;
	KovContext ctx = { config, keys, deliver, events };
	while (getline(&line, &cap, in) > 0) {
		line[strcspn(line, "\n")] = '\0';
		kov_worker_serve_one(&ctx, fd, line);
	}
	free(line);
	fclose(in);
	return 0;
}

#if defined(__SANITIZE_ADDRESS__)
#define KOV_WORKER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KOV_WORKER_ASAN 1
#endif
#endif
#ifndef KOV_WORKER_ASAN
#define KOV_WORKER_ASAN 0
#endif

/* A hostile mail that makes a library allocate without end (GMime has
 * loops that do) must not take the machine with it: cap the worker's data,
 * and its gpg's, which inherit the limit. Malloc then fails, the worker
 * aborts, and the mail fails after its crashes like any other. The
 * sanitizers reserve terabytes of shadow memory: no limit under them. */
static void
kov_worker_limit_memory(guint megabytes)
{
#if KOV_WORKER_ASAN
	(void)megabytes;
#else
	if (megabytes == 0)
		return;
	struct rlimit limit = { .rlim_cur = (rlim_t)megabytes << 20, .rlim_max = (rlim_t)megabytes << 20 };
	struct rlimit now;
	if (getrlimit(RLIMIT_DATA, &now) == 0 && now.rlim_max != RLIM_INFINITY && now.rlim_max < limit.rlim_max)
		return; /* a tighter limit from outside stays */
	if (setrlimit(RLIMIT_DATA, &limit) != 0)
		kov_log_warning("worker: cannot limit its memory to %u MB: %s", megabytes, g_strerror(errno));
#endif
}

pid_t
kov_worker_spawn(const KovConfig *config, const int *close_fds, gsize n_close, int *fd,
                 GError **error)
{
	int pair[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
		kov_error_set_errno(error, errno, "worker: socketpair");
		return -1;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		kov_error_set_errno(error, errno, "worker: fork");
		close(pair[0]);
		close(pair[1]);
		return -1;
	}
	if (pid == 0) {
		/* A killed watcher does not take its workers along: each finishes
		 * the mail in hand (a transaction cut after its final dot would be
		 * sent again) and exits at EOF. They keep the watcher's lock on
		 * koverto.pid (inherited, never closed here), so a new daemon waits
		 * for them and never takes back a mail one of them is delivering. */
		if (getppid() != parent)
			_exit(0);
		setpgid(0, 0);
		kov_worker_backstop_init();
		kov_worker_limit_memory(config->worker_memory);
		close(pair[0]);
		for (gsize i = 0; i < n_close; i++)
			close(close_fds[i]);
		int status = kov_worker_loop(config, pair[1]);
		close(pair[1]);
		/* No atexit handlers of the watcher: they belong to it. */
		fflush(NULL);
		_exit(status);
	}
	setpgid(pid, pid); /* both sides, so a kill before the child ran still hits the group */
	close(pair[1]);
	*fd = pair[0];
	return pid;
}
