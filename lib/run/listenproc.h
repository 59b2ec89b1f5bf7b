/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The daemon's side of the listener process (intake/listener.h): started
 * when the configuration has a listener, restarted with a back-off when
 * it dies, replaced at a reload, stopped with the daemon. The watcher's
 * loop polls its socket; EOF there means the process has ended. */
#pragma once
#include <glib.h>
#include "config.h"

typedef struct _KovListenProc KovListenProc;

/* A line the listener sent (without its LF): its metric events (metrics.h). */
typedef void (*KovListenProcLine)(gpointer user, const char *line);

/* @config (borrowed, until _reload) says whether and how; @on_line
 * (nullable) gets what the listener reports. (transfer full) */
KovListenProc *kov_listenproc_new(const KovConfig *config, KovListenProcLine on_line, gpointer user);
/* Stop the listener (SIGTERM: it finishes the messages being received)
 * and wait for it, and for any it replaced; past their grace, SIGKILL. */
void kov_listenproc_free(KovListenProc *lp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovListenProc, kov_listenproc_free)

/* The daemon's descriptors the listener must not keep (lock, inotify,
 * worker sockets): given before each start, since workers come and go. */
void kov_listenproc_set_close_fds(KovListenProc *lp, const int *fds, gsize n);
/* Start it now if configured, not running and not waiting for a back-off. */
void kov_listenproc_tick(KovListenProc *lp);
/* TRUE when no listener is wanted, or the running one has said it
 * accepts on every port (KOV_LISTENER_ACCEPTING): readiness. */
gboolean kov_listenproc_accepting(const KovListenProc *lp);
/* The socket to poll (-1: none running). */
int kov_listenproc_fd(const KovListenProc *lp);
/* The socket is readable: lines go to @on_line; EOF means the listener
 * ended: reap it and plan a restart. */
void kov_listenproc_read(KovListenProc *lp);
/* @timeout_ms, or less to wake for a restart that is due. */
gint64 kov_listenproc_timeout_ms(const KovListenProc *lp, gint64 timeout_ms);
/* A new configuration: the running listener is stopped (it drains its
 * sessions); the next tick starts one with @config. */
void kov_listenproc_reload(KovListenProc *lp, const KovConfig *config);
/* Stop it (the daemon stops): no restart from now on. */
void kov_listenproc_stop(KovListenProc *lp);
