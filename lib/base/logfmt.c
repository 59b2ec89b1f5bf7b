/* SPDX-License-Identifier: GPL-3.0-or-later */
/* logfmt lines for the per-recipient outcomes. A value is escaped piece
 * by piece (one character or one escape at a time) so that a cut never
 * splits an escape or a UTF-8 sequence; each key has its own budget so
 * the whole line stays under KOV_LOGFMT_LINE_MAX whatever the values. */
#include "logfmt.h"
#include "log.h"

#include <string.h>

const char *
kov_logfmt_status_word(KovLogfmtStatus status)
{
	switch (status) {
	case KOV_LOGFMT_SENT:     return "sent";
	case KOV_LOGFMT_DEFERRED: return "deferred";
	case KOV_LOGFMT_BOUNCED:  return "bounced";
	case KOV_LOGFMT_REFUSED:  return "refused";
	case KOV_LOGFMT_FAILED:   return "failed";
	}
	return "failed";
}

/* The next piece of @p (before @end) as it is written, into @piece;
 * *quote set when it needs quotes. Returns the bytes of @p consumed. */
static gsize
kov_logfmt_piece(const char *p, const char *end, char piece[16], gboolean *quote)
{
	guchar c = (guchar)*p;
	if (c < 0x80) {
		if (c < 0x20 || c == 0x7f) {
			g_snprintf(piece, 16, "\\x%02x", c);
			*quote = TRUE;
		} else if (c == '"' || c == '\\') {
			g_snprintf(piece, 16, "\\%c", c);
			*quote = TRUE;
		} else {
			piece[0] = (char)c;
			piece[1] = '\0';
			*quote |= c == ' ' || c == '=';
		}
		return 1;
	}
	gunichar u = g_utf8_get_char_validated(p, end - p);
	if (u == (gunichar)-1 || u == (gunichar)-2) {
		g_snprintf(piece, 16, "\\x%02x", c);
		*quote = TRUE;
		return 1;
	}
	gsize len = (gsize)(g_utf8_next_char(p) - p);
	if (kov_log_unichar_unsafe(u)) {
		g_snprintf(piece, 16, "\\u%04x", (unsigned)u);
		*quote = TRUE;
	} else {
		memcpy(piece, p, len);
		piece[len] = '\0';
	}
	return len;
}

gboolean
kov_logfmt_append(GString *line, const char *key, const char *value, gsize max)
{
	g_return_val_if_fail(line != NULL && key != NULL && value != NULL, FALSE);
	const char *end = value + strlen(value);
	g_autoptr(GString) v = g_string_sized_new((gsize)(end - value) + 8);
	gboolean quote = value == end, cut = FALSE;
	/* Room for the quotes and the mark of a cut. */
	gsize room = max == 0 ? G_MAXSIZE : max > 5 ? max - 5 : 0;

	for (const char *p = value; p < end;) {
		char piece[16];
		gsize used = kov_logfmt_piece(p, end, piece, &quote);
		if (v->len + strlen(piece) > room) {
			cut = TRUE;
			break;
		}
		g_string_append(v, piece);
		p += used;
	}
	if (!cut && max != 0 && v->len + (quote ? 2 : 0) > max) /* only the quotes did not fit */
		cut = TRUE;
	if (cut) {
		g_string_append(v, "...");
		quote = TRUE;
	}
	g_string_append_printf(line, "%s%s=%s%s%s", line->len ? " " : "", key, quote ? "\"" : "",
	                       v->str, quote ? "\"" : "");
	return cut;
}

char *
kov_logfmt_outcome(const KovLogfmtOutcome *o)
{
	g_return_val_if_fail(o != NULL, NULL);
	GString *line = g_string_sized_new(256);
	gboolean cut = FALSE;
	char num[32];

	/* The budgets (values, quotes included) add up to 840 bytes, the
	 * numbers and status to 60 at most, the keys and spaces to 118: the
	 * line stays under KOV_LOGFMT_LINE_MAX. */
	if (o->id != NULL)
		cut |= kov_logfmt_append(line, "id", o->id, 64);
	if (o->queue != NULL)
		cut |= kov_logfmt_append(line, "queue", o->queue, 32);
	if (o->from != NULL) {
		g_autofree char *from = g_strdup_printf("<%s>", o->from);
		cut |= kov_logfmt_append(line, "from", from, 140);
	}
	if (o->to != NULL) {
		g_autofree char *to = g_strdup_printf("<%s>", o->to);
		cut |= kov_logfmt_append(line, "to", to, 140);
	}
	if (o->action != NULL)
		cut |= kov_logfmt_append(line, "action", o->action, 16);
	if (o->key != NULL)
		cut |= kov_logfmt_append(line, "key", o->key, 48);
	if (o->signer != NULL)
		cut |= kov_logfmt_append(line, "signer", o->signer, 48);
	if (o->relay != NULL)
		cut |= kov_logfmt_append(line, "relay", o->relay, 80);
	if (o->attempts >= 0) {
		g_snprintf(num, sizeof num, "%d", o->attempts);
		kov_logfmt_append(line, "attempts", num, 0);
	}
	if (o->delay >= 0) {
		g_snprintf(num, sizeof num, "%.2f", o->delay < 1e9 ? o->delay : 1e9);
		kov_logfmt_append(line, "delay", num, 0);
	}
	if (o->size >= 0) {
		g_snprintf(num, sizeof num, "%" G_GINT64_FORMAT, o->size);
		kov_logfmt_append(line, "size", num, 0);
	}
	if (o->dsn != NULL)
		cut |= kov_logfmt_append(line, "dsn", o->dsn, 16);
	kov_logfmt_append(line, "status", kov_logfmt_status_word(o->status), 0);
	if (o->reply != NULL)
		cut |= kov_logfmt_append(line, "reply", o->reply, 120);
	if (o->reason != NULL)
		cut |= kov_logfmt_append(line, "reason", o->reason, 120);
	/* Appended last (issue 14): the order before it stays as it was. */
	if (o->keysrc != NULL)
		cut |= kov_logfmt_append(line, "keysrc", o->keysrc, 16);
	if (cut)
		kov_logfmt_append(line, "truncated", "yes", 0);
	g_warn_if_fail(line->len <= KOV_LOGFMT_LINE_MAX);
	return g_string_free(line, FALSE);
}
