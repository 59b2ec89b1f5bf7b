/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Living beside a Kuvert installation during a migration: koverto must not
 * work on a queue directory that a running Kuvert serves. */
#pragma once
#include <glib.h>

/* FALSE with KOV_ERROR_LOCKED when a live Kuvert of this user (found
 * through its pid file, $TMPDIR/kuvert.<uid>.pid) may serve @queuedir:
 * unless <passwd home>/.kuvert exists and names another queue directory
 * (read as kuvert_submit reads it), a live Kuvert could have been started
 * with -c on our queue, so koverto refuses. A stale pid file is ignored. */
gboolean kov_kuvert_check_running(const char *queuedir, GError **error);
