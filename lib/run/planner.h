/* SPDX-License-Identifier: GPL-3.0-or-later */
/* From a parsed mail, its queue and the configuration to the full plan
 * (lib/decide/plan.h): who gets the mail, per recipient the action and
 * the key or why there is none, the copies, the signing key and where it
 * came from, or why the mail is refused. Nothing is sent and nothing is
 * written; the only I/O is key look-ups. The worker (process.c) acts on
 * what this returns, and `koverto explain` prints it: one code path. */
#pragma once
#include <glib.h>
#include <gpgme.h>
#include "config.h"
#include "keydir.h"
#include "keys.h"
#include "message.h"
#include "plan.h"
#include "state.h"

typedef struct {
	KovPlan *plan;            /* (owned) */
	/* Everybody the mail is for: its recipients, or for Kuvert's bounce
	 * shortcut the Resent-To/-Cc/-Bcc addresses. Of KovRecipient*. (owned ref) */
	GPtrArray *rcpts;
	gboolean resent;          /* the bounce shortcut applies */
	gboolean refused_early;   /* a loop or a sender the queue does not take:
	                           * refused before any key was looked up */
	const char *sender;       /* the envelope sender of the copies: the mail's, or
	                           * the resender's (borrowed from the mail) */
	/* Per plan recipient (same index): the encryption key when usable,
	 * else NULL. (owned references) */
	GPtrArray *keys;
	gpgme_key_t signer;       /* nullable (owned) */
	gboolean signer_from_directive; /* Kuvert queue: the configured key is From's key= */
	/* Keys from a directory (issue 14): the one this mail's queue or
	 * client uses, NULL: none; the snapshot it started with, held until
	 * the mail is done (nullable, owned reference). */
	const char *keydir;       /* borrowed from the configuration */
	gboolean keydir_only;
	gboolean keydir_published;  /* FALSE: loaded in memory here, not the watcher's */
	KovKeydirSnapshot *keydir_snapshot;
} KovPlanner;

/* The plan for @mail in @queue (its policy, key and senders; borrowed). With @state (nullable) only the
 * recipients it has pending are planned for (a retry); without, all.
 * A refusal (sender not allowed, a loop, a mustencrypt recipient without
 * a key, an unusable configured signing key) is part of the plan
 * (plan->refused, a permanent failure). When gpg fails, @error is set
 * (TEMPFAIL) and the plan is unfinished, but the recipients and sender
 * are known. Never NULL. @mail must outlive the result. (transfer full) */
KovPlanner *kov_planner_make(const KovConfig *config, KovKeys *keys, const KovQueueConfig *queue,
                             KovMail *mail, KovState *state, GError **error);
void kov_planner_free(KovPlanner *planner);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovPlanner, kov_planner_free)

/* The encryption key of plan recipient @i, or NULL. (borrowed) */
gpgme_key_t kov_planner_key(const KovPlanner *planner, guint i);
/* The encryption subkey plan recipient @i is pinned to ("SUBFPR!" for
 * gpg: its key came from a keys directory), or NULL: its key is from the
 * keyring and gpg picks the subkey. (transfer full) */
char *kov_planner_pin(const KovPlanner *planner, guint i);

/* The listener's client that submitted @mail (its X-Koverto-Client in the
 * envelope block), when it is a configured client of @queue: its key
 * signs. NULL otherwise: a client line in a mail that some other writer
 * put into a queue raw, or a client removed or moved since, is ignored
 * (the worker logs a warning) and the queue's own signing rules apply.
 * (borrowed from @config) */
const KovClientConfig *kov_planner_client(const KovConfig *config, const KovQueueConfig *queue,
                                          const KovMail *mail);
