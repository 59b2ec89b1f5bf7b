/* SPDX-License-Identifier: GPL-3.0-or-later */
/* key=value log lines (logfmt) that tools written for Postfix's logs can
 * read: one line per recipient outcome, keys in a fixed order, every value
 * quoted and escaped so that no byte of an address or a server reply can
 * end the line or forge a key. Pure: strings in, a string out. */
#pragma once
#include <glib.h>

/* Longest line kov_logfmt_outcome returns, in bytes. */
#define KOV_LOGFMT_LINE_MAX 1024

/* What became of one recipient, in Postfix's words. */
typedef enum {
	KOV_LOGFMT_SENT,      /* the server accepted it */
	KOV_LOGFMT_DEFERRED,  /* a temporary failure: tried again later */
	KOV_LOGFMT_BOUNCED,   /* failed for good by the server, or the lifetime ran out */
	KOV_LOGFMT_REFUSED,   /* the policy refused the mail: nothing was sent */
	KOV_LOGFMT_FAILED,    /* koverto could not make or send the copy, for good */
} KovLogfmtStatus;

/* "sent", "deferred", ... */
const char *kov_logfmt_status_word(KovLogfmtStatus status);

/* One outcome. Strings borrowed; a NULL string or a negative number leaves
 * its key out. */
typedef struct {
	const char *id;
	const char *queue;
	const char *from;         /* the envelope sender, "" for <> */
	const char *to;
	const char *action;       /* encrypted, signed, unchanged, none */
	const char *key;          /* the recipient's key fingerprint */
	const char *signer;       /* the signing key's fingerprint */
	const char *relay;        /* host:port, or msp */
	gint attempts;
	gdouble delay;            /* seconds */
	gint64 size;              /* bytes */
	const char *dsn;          /* 2.0.0, 4.7.1, 5.1.1 ... */
	KovLogfmtStatus status;
	const char *reply;        /* the server's reply */
	const char *reason;       /* koverto's own reason */
	const char *keysrc;       /* where the recipient's key was looked for: keydir,
	                           * keyring; NULL: the mail's queue has no keys directory */
} KovLogfmtOutcome;

/* @o as one line: id= queue= from=<> to=<> action= key= signer= relay=
 * attempts= delay= size= dsn= status= reply= reason= keysrc=, then truncated=yes
 * when a value was cut (its text then ends in "..."). At most
 * KOV_LOGFMT_LINE_MAX bytes, printable, no line end. (transfer full) */
char *kov_logfmt_outcome(const KovLogfmtOutcome *o);

/* Append " key=value" to @line (no space when @line is empty), @value
 * quoted when it is empty or holds a space, '"', '=', '\\' or a byte that
 * must be escaped; inside quotes '"' and '\\' get a backslash, a control
 * or a byte that is not UTF-8 is written \xNN, and a C1 control, a line
 * separator or a bidirectional control \uNNNN. The value takes at most
 * @max bytes (quotes included; 0: no limit); a longer one is cut, ends in
 * "..." and TRUE is returned. */
gboolean kov_logfmt_append(GString *line, const char *key, const char *value, gsize max);
