/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Supervising the listener process (listenproc.h), as pool.c supervises
 * workers: a socket pair whose EOF says the child has ended, a waitpid,
 * and a restart after a back-off that doubles while it keeps dying (a
 * port taken by someone else, a certificate gone) and starts again from
 * one second once it has run for a minute. The child inherits the
 * configuration at fork; a reload starts a new child and lets the old
 * one finish the messages it is receiving. */
#include "listenproc.h"
#include "error.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"

#include <string.h>

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define KOV_LISTENPROC_BACKOFF_MIN 1
#define KOV_LISTENPROC_BACKOFF_MAX 60
/* A listener that ran this long was healthy: its next back-off starts small. */
#define KOV_LISTENPROC_HEALTHY 60
/* How long sessions receiving a message may go on after a stop. */
#define KOV_LISTENPROC_GRACE 30

struct _KovListenProc {
	const KovConfig *config;
	pid_t pid;
	int fd;
	gint64 started;       /* monotonic µs */
	gint64 restart_at;    /* monotonic µs; 0: now */
	gint64 backoff;       /* seconds */
	gboolean stopped;
	gboolean accepting;   /* the running one said KOV_LISTENER_ACCEPTING */
	GArray *close_fds;    /* of int */
	GArray *old;          /* of pid_t: replaced listeners still draining */
	KovListenProcLine on_line;
	gpointer user;
	GString *input;       /* a line not yet complete */
};

KovListenProc *
kov_listenproc_new(const KovConfig *config, KovListenProcLine on_line, gpointer user)
{
	KovListenProc *lp = g_new0(KovListenProc, 1);
	lp->on_line = on_line;
	lp->user = user;
	lp->input = g_string_new(NULL);
	lp->config = config;
	lp->pid = -1;
	lp->fd = -1;
	lp->backoff = KOV_LISTENPROC_BACKOFF_MIN;
	lp->close_fds = g_array_new(FALSE, FALSE, sizeof(int));
	lp->old = g_array_new(FALSE, FALSE, sizeof(pid_t));
	return lp;
}

void
kov_listenproc_set_close_fds(KovListenProc *lp, const int *fds, gsize n)
{
	g_array_set_size(lp->close_fds, 0);
	g_array_append_vals(lp->close_fds, fds, (guint)n);
}

static gboolean
kov_listenproc_wanted(const KovListenProc *lp)
{
	return !lp->stopped && kov_listen_config_enabled(&lp->config->listen);
}

void
kov_listenproc_tick(KovListenProc *lp)
{
	/* Replaced listeners that have drained. */
	for (guint i = 0; i < lp->old->len;) {
		if (waitpid(g_array_index(lp->old, pid_t, i), NULL, WNOHANG) != 0)
			g_array_remove_index_fast(lp->old, i);
		else
			i++;
	}
	if (lp->pid > 0 || !kov_listenproc_wanted(lp) || g_get_monotonic_time() < lp->restart_at)
		return;
	g_autoptr(GError) error = NULL;
	lp->pid = kov_listener_spawn(&lp->config->listen, lp->config->queuedir, KOV_LISTENPROC_GRACE,
	                             (const int *)lp->close_fds->data, lp->close_fds->len, &lp->fd,
	                             &error);
	lp->started = g_get_monotonic_time();
	lp->accepting = FALSE;
	g_string_truncate(lp->input, 0);
	if (lp->pid < 0) {
		kov_log_err("%s", error->message);
		lp->restart_at = lp->started + lp->backoff * G_USEC_PER_SEC;
		lp->backoff = MIN(lp->backoff * 2, KOV_LISTENPROC_BACKOFF_MAX);
	}
}

gboolean
kov_listenproc_accepting(const KovListenProc *lp)
{
	return !kov_listenproc_wanted(lp) || (lp->pid > 0 && lp->accepting);
}

int
kov_listenproc_fd(const KovListenProc *lp)
{
	return lp->pid > 0 ? lp->fd : -1;
}

/* The listener has ended (its socket said EOF): why, and when again. */
static void
kov_listenproc_reap(KovListenProc *lp)
{
	int status = 0;
	while (waitpid(lp->pid, &status, 0) < 0 && errno == EINTR)
		;
	close(lp->fd);
	lp->fd = -1;
	lp->pid = -1;
	lp->accepting = FALSE;
	gint64 now = g_get_monotonic_time();
	if (now - lp->started >= KOV_LISTENPROC_HEALTHY * G_USEC_PER_SEC)
		lp->backoff = KOV_LISTENPROC_BACKOFF_MIN;
	g_autofree char *how = WIFSIGNALED(status) ? g_strdup_printf("killed by signal %d", WTERMSIG(status))
	                                           : g_strdup_printf("exited with status %d",
	                                                             WEXITSTATUS(status));
	if (!kov_listenproc_wanted(lp)) {
		kov_log_info("listener: %s", how);
		return;
	}
	kov_log_err("listener: %s; starting it again in %" G_GINT64_FORMAT " s", how, lp->backoff);
	lp->restart_at = now + lp->backoff * G_USEC_PER_SEC;
	lp->backoff = MIN(lp->backoff * 2, KOV_LISTENPROC_BACKOFF_MAX);
}

void
kov_listenproc_read(KovListenProc *lp)
{
	char buf[1024];
	if (lp->pid <= 0)
		return;
	ssize_t n = read(lp->fd, buf, sizeof buf);
	if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
		kov_listenproc_reap(lp);
		return;
	}
	if (n < 0)
		return;
	g_string_append_len(lp->input, buf, n);
	for (char *nl; (nl = memchr(lp->input->str, '\n', lp->input->len)) != NULL;) {
		*nl = '\0';
		if (strcmp(lp->input->str, KOV_LISTENER_ACCEPTING) == 0)
			lp->accepting = TRUE;
		else if (lp->on_line != NULL)
			lp->on_line(lp->user, lp->input->str);
		g_string_erase(lp->input, 0, nl - lp->input->str + 1);
	}
	/* No line is this long: what came is garbage, not to be kept. */
	if (lp->input->len > KOV_METRICS_EVENT_MAX) {
		kov_log_debug("listener: %zu bytes without a line end dropped", lp->input->len);
		g_string_truncate(lp->input, 0);
	}
}

gint64
kov_listenproc_timeout_ms(const KovListenProc *lp, gint64 timeout_ms)
{
	if (lp->old->len > 0)
		timeout_ms = MIN(timeout_ms, 1000);
	if (lp->pid > 0 || !kov_listenproc_wanted(lp))
		return timeout_ms;
	gint64 wait = (lp->restart_at - g_get_monotonic_time()) / 1000;
	return MIN(timeout_ms, MAX(wait, 0));
}

/* SIGTERM to the running listener; it is reaped later (old) or at free. */
static void
kov_listenproc_retire(KovListenProc *lp)
{
	if (lp->pid <= 0)
		return;
	kill(lp->pid, SIGTERM);
	g_array_append_val(lp->old, lp->pid);
	close(lp->fd);
	lp->fd = -1;
	lp->pid = -1;
	lp->accepting = FALSE;
}

void
kov_listenproc_reload(KovListenProc *lp, const KovConfig *config)
{
	lp->config = config;
	kov_listenproc_retire(lp);
	lp->restart_at = 0;   /* the next tick starts the new one */
	lp->backoff = KOV_LISTENPROC_BACKOFF_MIN;
}

void
kov_listenproc_stop(KovListenProc *lp)
{
	lp->stopped = TRUE;
	kov_listenproc_retire(lp);
}

void
kov_listenproc_free(KovListenProc *lp)
{
	if (lp == NULL)
		return;
	kov_listenproc_stop(lp);
	gint64 until = g_get_monotonic_time() + (KOV_LISTENPROC_GRACE + 5) * G_USEC_PER_SEC;
	while (lp->old->len > 0) {
		pid_t pid = g_array_index(lp->old, pid_t, 0);
		pid_t r = waitpid(pid, NULL, WNOHANG);
		if (r == 0 && g_get_monotonic_time() < until) {
			g_usleep(20000);
			continue;
		}
		if (r == 0) {
			kov_log_err("listener: pid %d did not stop; killing it", (int)pid);
			kill(-pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		g_array_remove_index_fast(lp->old, 0);
	}
	g_array_unref(lp->old);
	g_array_unref(lp->close_fds);
	g_string_free(lp->input, TRUE);
	g_free(lp);
}
