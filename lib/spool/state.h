/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Per-mail state beside a claimed mail: attempts, first-seen and
 * next-attempt times, last error, and per recipient pending / delivered /
 * failed. Saved atomically (temp, fsync, rename, fsync of the directory)
 * after every transaction, so a retry or a restart only ever addresses
 * pending recipients. Before a transaction the caller reserves the room
 * its record will take (kov_state_reserve), so that a full disk stops the
 * mail before it sends, never between an accepted copy and its record. */
#pragma once
#include <glib.h>

typedef enum {
	KOV_STATE_PENDING,
	KOV_STATE_DELIVERED,
	KOV_STATE_FAILED,
} KovRcptState;

/* Reasons and the last error are kept to this many bytes (valid UTF-8,
 * a control character other than tab, CR and LF as '?'). */
#define KOV_STATE_TEXT_MAX 1000

typedef struct _KovState KovState;

/* Load @path; a missing file gives a fresh state first seen now. */
KovState *kov_state_load(const char *path, GError **error);
/* A state read elsewhere, @len bytes of @data (koverto status opens its
 * files itself, never through a link); @name names it in messages. It
 * can be read, never saved. */
KovState *kov_state_parse(const char *name, const char *data, gsize len, GError **error);
/* TRUE when there was no file to load (nothing recorded yet). */
gboolean kov_state_is_new(KovState *state);
gboolean kov_state_save(KovState *state, GError **error);
/* Make sure the next save needs no new disk space, after @n more
 * recipients (@addresses) are set with a reason and a last error: the
 * temporary file is allocated now. FALSE with @error when the room is not
 * there (ENOSPC: a temporary error). The reservation ends with the next
 * save or with kov_state_free. */
gboolean kov_state_reserve(KovState *state, const char *const *addresses, guint n,
                           GError **error);
/* Frees @state; an unused reservation is given back. */
void kov_state_free(KovState *state);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovState, kov_state_free)
/* Remove the file (missing is fine). */
void kov_state_remove(const char *path);

/* Any address (RFC 5321 literals, quoted local parts, UTF-8, any byte but
 * NUL) is recorded as it is; a state written by koverto 0.1.0 (groups
 * named by the plain address) is read too. */
KovRcptState kov_state_get_rcpt(KovState *state, const char *address, char **reason);
/* FALSE with @error when the record could not be made: the caller must
 * not go on as if it had been. */
gboolean kov_state_set_rcpt(KovState *state, const char *address, KovRcptState rcpt_state,
                            const char *reason, GError **error) G_GNUC_WARN_UNUSED_RESULT;

guint kov_state_get_attempts(KovState *state);
void kov_state_add_attempt(KovState *state);
gint64 kov_state_get_first_seen(KovState *state);  /* unix seconds */
void kov_state_set_first_seen(KovState *state, gint64 when);
gint64 kov_state_get_next_attempt(KovState *state); /* unix seconds, 0 = now */
void kov_state_set_next_attempt(KovState *state, gint64 when);
char *kov_state_get_last_error(KovState *state);   /* transfer full, nullable */
void kov_state_set_last_error(KovState *state, const char *text);

/* How often a worker died or overran its time limit on this mail. */
guint kov_state_get_crashes(KovState *state);
void kov_state_add_crash(KovState *state);
