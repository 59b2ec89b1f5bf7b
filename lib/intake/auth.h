/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Checking a client's login: crypt(3) hashes through libxcrypt, run at
 * most a few at a time (yescrypt takes ~250 ms and 16 MiB), the same work
 * and the same reply for an unknown user as for a wrong password, a
 * random delay before every failure, and a back-off per account and per
 * client address. Thread-safe: every session thread of the listener calls
 * it; only a thread that checks a password waits, so a flood of logins
 * never stalls sessions that are already authenticated. */
#pragma once
#include <glib.h>
#include "config-listen.h"

typedef struct _KovAuth KovAuth;

/* @listen (borrowed; outlives the KovAuth); @max_parallel hash checks at
 * once (0: one per CPU). (transfer full) */
KovAuth *kov_auth_new(const KovListenConfig *listen, guint max_parallel);
void kov_auth_free(KovAuth *auth);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovAuth, kov_auth_free)

typedef enum {
	KOV_AUTH_OK,
	KOV_AUTH_FAILED,      /* unknown user, wrong password, no password login: one case */
	KOV_AUTH_BACKED_OFF,  /* too many recent failures for this account or address:
	                       * not even checked (answered as FAILED to the client) */
} KovAuthResult;

/* Check @user/@password for a session from @ip (text form). Blocks the
 * calling thread: for the hash check (bounded concurrency) and, on any
 * failure, a random 0.5-1 s plus the back-off. *@client (borrowed from
 * @listen) on OK. The password is not kept. */
KovAuthResult kov_auth_check(KovAuth *auth, const char *user, const char *password,
                             const char *ip, const KovClientConfig **client);

/* The back-off as a pure function, for tests: how many milliseconds to
 * make a failure wait after @failures recent failures (0, 1, 2, ...). */
gint64 kov_auth_backoff_ms(guint failures);

/* A new crypt(3) hash of @password with the preferred method of libxcrypt
 * ($y$ yescrypt), for `koverto hash-password`. NULL with @error on
 * failure. (transfer full) */
char *kov_auth_hash_password(const char *password, GError **error);
