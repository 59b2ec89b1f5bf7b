/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Keys that expire soon, as spool state: one marker file per key and kind
 * under queuedir/.keys-expiring/ (KIND-PRIMARYFPR), written atomically,
 * holding the kind, the fingerprints, the expiry and an address; its
 * mtime is the last warning. Workers and the daemon's start ask
 * kov_keymark_note() whether a key in use deserves a warning (at most once
 * a day per key, across workers and restarts); the watcher counts the
 * markers for the metrics file (kov_keymark_scan). Every file in that
 * directory is read as hostile: no link followed, nothing but a small
 * regular file, parsed strictly. */
#pragma once
#include <glib.h>

#define KOV_KEYMARK_DIR ".keys-expiring"
/* The largest marker file read, in bytes. */
#define KOV_KEYMARK_FILE_MAX 1024
/* The longest address kept in a marker, in bytes. */
#define KOV_KEYMARK_ADDRESS_MAX 320
/* At most one warning per key and kind in this many seconds. */
#define KOV_KEYMARK_WARN_GAP (24 * 3600)
/* A marker of a key expired longer ago than this is removed by the scan. */
#define KOV_KEYMARK_KEEP_EXPIRED (30 * 24 * 3600)

typedef enum {
	KOV_KEYMARK_RECIPIENT,    /* a recipient's encryption key */
	KOV_KEYMARK_SIGNING,      /* a signing key koverto uses */
	KOV_KEYMARK_N_KINDS,
} KovKeymarkKind;

/* One key in use. Strings borrowed (kov_keymark_parse: owned, freed by
 * kov_keymark_clear). */
typedef struct {
	KovKeymarkKind kind;
	char *fpr;                /* the primary key's fingerprint: 40 or 64 hex digits */
	char *subkey;             /* the subkey in use's fingerprint */
	gint64 expires;           /* unix seconds; 0: never */
	char *address;            /* nullable: the address it was used for */
} KovKeymark;

/* "recipient", "signing". (static) */
const char *kov_keymark_kind_word(KovKeymarkKind kind);

/* @m as a marker file's text: "kind=\nfpr=\nsubkey=\nexpires=\n" and
 * "address=\n" when there is one (a byte that is a control, a space or
 * DEL written as '?', cut to KOV_KEYMARK_ADDRESS_MAX). NULL when a
 * fingerprint is not 40 or 64 hex digits. (transfer full) */
char *kov_keymark_format(const KovKeymark *m);

/* A marker file's @len bytes, exactly as kov_keymark_format writes them:
 * anything else (a missing, repeated, unknown or empty field, a NUL, an
 * expiry that is not a plain decimal number) is refused with @error.
 * Fills @out (owned strings; kov_keymark_clear). */
gboolean kov_keymark_parse(const char *data, gsize len, KovKeymark *out, GError **error);
void kov_keymark_clear(KovKeymark *m);

/* @m is in use now (@now, unix seconds). When it expires within
 * @window_days (0: warnings off) and no marker says it was warned of in
 * the last day (with the same expiry), the marker is written and the
 * warning line returned: "key expires soon: kind= address=<> fpr= subkey=
 * expires=YYYY-MM-DD days=N" (N: from today's date to that one, UTC)
 * (transfer full). NULL otherwise; a marker
 * of a key that no longer expires within the window (renewed) is removed.
 * Workers serialise on a lock of the directory, so that two of them never
 * both warn. NULL with @error when the directory or the marker cannot be
 * written (the caller logs it; the mail goes on). */
char *kov_keymark_note(const char *queuedir, const KovKeymark *m, guint window_days, gint64 now,
                       GError **error);

typedef struct {
	guint count[KOV_KEYMARK_N_KINDS];    /* markers expiring in (now, now + window] */
	gint64 earliest[KOV_KEYMARK_N_KINDS]; /* the earliest such expiry; 0: none */
	guint skipped;                        /* files that are not markers */
	guint pruned;                         /* markers removed: expired long ago */
} KovKeymarkSummary;

/* Count the markers under @queuedir whose expiry lies after @now and within
 * @window_days (0: none counted). A link, a FIFO, a directory, a file too
 * large, a name or a text that is not a marker's is skipped (and counted
 * in ->skipped). A missing directory counts nothing. A marker of a key
 * that expired more than KOV_KEYMARK_KEEP_EXPIRED ago is removed (counted
 * in ->pruned): the directory does not keep every key that ever expired. */
void kov_keymark_scan(const char *queuedir, guint window_days, gint64 now, KovKeymarkSummary *out);
