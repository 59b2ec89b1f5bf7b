/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Knobs of auth.c for the unit tests only: shorter delays and windows,
 * smaller tables, and a look at the tables. Nothing else calls these; the
 * listener uses the defaults of auth.c. */
#pragma once
#include "auth.h"

/* Every delay of @auth (the random 0.5-1 s and the back-off) multiplied
 * by @scale (1.0: as in production; 0.01: a hundredth). */
void kov_auth_set_delay_scale(KovAuth *auth, double scale);
/* How long a failure counts (default 15 minutes), in milliseconds. */
void kov_auth_set_window_ms(KovAuth *auth, gint64 window_ms);
/* How many addresses and how many accounts are tracked at most each
 * (default 4096); past it the one whose last failure is oldest goes. */
void kov_auth_set_table_cap(KovAuth *auth, guint cap);
/* How many addresses and accounts are tracked now. */
void kov_auth_tracked(KovAuth *auth, guint *addresses, guint *accounts);
/* The recent failures of the address @ip (as tracked: IPv6 by /64) or, if
 * @ip is NULL, of the account @user. */
guint kov_auth_failures(KovAuth *auth, const char *ip, const char *user);
/* The most hash checks that ran at once so far. */
guint kov_auth_peak_parallel(KovAuth *auth);
