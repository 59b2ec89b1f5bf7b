/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Living beside a Kuvert installation during a migration: koverto must not
 * work on a queue directory that a running Kuvert serves. */
#pragma once
#include <glib.h>

/* FALSE with KOV_ERROR_LOCKED when a live Kuvert of this user (found
 * through its pid file, $TMPDIR/kuvert.<uid>.pid) serves @queuedir.
 * Kuvert's queue directory is read from <passwd home>/.kuvert as
 * kuvert_submit reads it (default ~/.kuvert_queue). */
gboolean kov_kuvert_check_running(const char *queuedir, GError **error);
