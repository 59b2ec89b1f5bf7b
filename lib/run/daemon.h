/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The watcher's loop: take back what a dead run left claimed, watch the
 * policy queues' new/ directories, claim and process each mail, and wake
 * deferred mail when its next attempt is due. */
#pragma once
#include <glib.h>
#include <signal.h>
#include "config.h"
#include "notify.h"

typedef struct {
	gboolean oneshot;                  /* -o: process what is queued, then return */
	volatile sig_atomic_t *stop;       /* set by the program's signal handler */
	const sigset_t *wait_mask;         /* signal mask while waiting (ppoll) */
	const sigset_t *stop_signals;      /* blocked while a mail is in hand; checked between mails */
	volatile sig_atomic_t *reload;     /* set by SIGUSR1: re-read the configuration */
	/* Re-read the configuration (transfer full), or NULL and @error. */
	KovConfig *(*load_config)(GError **error);
	KovNotify *notify;                 /* nullable: the service manager (notify.h) */
} KovDaemonOptions;

/* What a run ends with: the exit status of `koverto` (and -o). The one
 * place these are decided; koverto(8), EXIT STATUS, lists them with the
 * statuses of start-up errors (kov_error_to_sysexit) and of -n, -k, -r. */
typedef enum {
	KOV_DAEMON_EXIT_OK = 0,         /* one-shot: all delivered, or nothing to do;
	                                 * a daemon stopped by a signal */
	KOV_DAEMON_EXIT_FAILED = 1,     /* one-shot: some mail failed (some may be deferred too) */
	KOV_DAEMON_EXIT_BROKEN = 69,    /* EX_UNAVAILABLE: stopped because the workers kept
	                                 * dying without a mail in hand */
	KOV_DAEMON_EXIT_DEFERRED = 75,  /* EX_TEMPFAIL, one-shot: some mail deferred, or not
	                                 * taken from new/ or cur/ (an error, logged); none failed */
} KovDaemonExit;

/* Run until *stop (or, one-shot, until the queues are worked through) and
 * return a KovDaemonExit. Start-up problems: -1 and @error (CONFIG,
 * LOCKED, ...), for kov_error_to_sysexit. */
int kov_daemon_run(const KovConfig *config, const KovDaemonOptions *options, GError **error);
