/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The service manager's readiness protocol (systemd's sd_notify(3)): a
 * datagram of "KEY=value" lines to the Unix socket named in
 * $NOTIFY_SOCKET (a path, or '@' for an abstract name). The daemon says
 * READY=1 when the queues are watched and the listener, if configured,
 * accepts; RELOADING=1 at a reload; STOPPING=1 at a stop; STATUS= with
 * them. Without $NOTIFY_SOCKET every call does nothing. */
#pragma once
#include <glib.h>

typedef struct _KovNotify KovNotify;

/* From $NOTIFY_SOCKET, which is then removed from the environment so that
 * the programs koverto starts (gpg, msp) do not speak for it. NULL when
 * it is unset; NULL with @error when it names no usable socket.
 * (transfer full) */
KovNotify *kov_notify_new_from_env(GError **error);
/* To the socket at @name (a path, or '@' and an abstract name). */
KovNotify *kov_notify_new(const char *name, GError **error);
void kov_notify_free(KovNotify *n);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovNotify, kov_notify_free)

/* Send @state ("READY=1\nSTATUS=..."), never blocking; @n may be NULL
 * (nothing to tell). FALSE with @error when it could not be sent. */
gboolean kov_notify_send(KovNotify *n, const char *state, GError **error);
/* kov_notify_send with a formatted STATUS= line (one line: CR and LF
 * become spaces) after @state (nullable); a failure is logged, and the
 * mail goes on (the service manager times out waiting for the state). */
void kov_notify_status(KovNotify *n, const char *state, const char *format, ...) G_GNUC_PRINTF(3, 4);
