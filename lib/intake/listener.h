/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The SMTP submission listener: its own process, forked by the daemon,
 * running as the queue owner. GIO's threaded socket service gives each
 * session a thread with blocking I/O and timeouts; the protocol is the
 * pure machine of session.h, logins go through auth.h, and each accepted
 * mail is handed to its client's queue by enqueue.h before the 250. It
 * never opens the GnuPG home and links no GnuPG code. */
#pragma once
#include <glib.h>
#include <sys/types.h>
#include "config-listen.h"

/* What the listener needs beyond the configuration's own checks: GIO's
 * TLS backend (glib-networking) and a certificate and key that load.
 * Nothing to check (and TRUE) when no TLS port is configured. */
gboolean kov_listener_check(const KovListenConfig *listen, GError **error);

/* Serve @listen's ports, writing into @queuedir, until @ctl_fd reads EOF
 * or SIGTERM comes: then stop accepting, let sessions receiving a message
 * finish it (at most @grace seconds) and tell the others 421. Returns an
 * exit status: 0, EX_TEMPFAIL when a port cannot be bound, EX_CONFIG. */
int kov_listener_run(const KovListenConfig *listen, const char *queuedir, gint64 grace, int ctl_fd);
/* The line (without its LF) the listener sends on @ctl_fd once every port
 * is bound and it accepts: the daemon's readiness waits for it. */
#define KOV_LISTENER_ACCEPTING "listener accepting"

/* Fork a process running kov_listener_run on a new socket pair; *@fd is
 * the daemon's end (EOF there: the listener has ended). The child gets
 * its own process group, closes @close_fds (the daemon's lock, inotify and
 * worker sockets) and exits with kov_listener_run's status. */
pid_t kov_listener_spawn(const KovListenConfig *listen, const char *queuedir, gint64 grace,
                         const int *close_fds, gsize n_close, int *fd, GError **error);
