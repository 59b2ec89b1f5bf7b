/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The watcher's loop: take back what a dead run left claimed, watch the
 * policy queues' new/ directories, claim and process each mail, and wake
 * deferred mail when its next attempt is due. */
#pragma once
#include <glib.h>
#include <signal.h>
#include "config.h"

typedef struct {
	gboolean oneshot;                  /* -o: process what is queued, then return */
	volatile sig_atomic_t *stop;       /* set by the program's signal handler */
	const sigset_t *wait_mask;         /* signal mask while waiting (ppoll) */
	const sigset_t *stop_signals;      /* blocked while a mail is in hand; checked between mails */
	volatile sig_atomic_t *reload;     /* set by SIGUSR1: re-read the configuration */
	/* Re-read the configuration (transfer full), or NULL and @error. */
	KovConfig *(*load_config)(GError **error);
} KovDaemonOptions;

/* Run until *stop (or, one-shot, until the queues are worked through).
 * One-shot, returns the exit status: 0 all delivered, 75 some mail
 * deferred, 1 some mail failed; a daemon stopped by a signal returns 0.
 * Start-up problems: -1 and @error (CONFIG, LOCKED, ...). */
int kov_daemon_run(const KovConfig *config, const KovDaemonOptions *options, GError **error);
