/* SPDX-License-Identifier: GPL-3.0-or-later */
/* SMTP reply parsing as a pure machine (bytes in, lines and replies out),
 * apart from any transport so that it can be tested by feeding strings and
 * fuzzed with random splits. Bytes wait in one buffer until their LF, a
 * line is capped (a server cannot make it grow without end), and a
 * multi-line reply ("250-...") is gathered until its last line. */
#include "smtp-reply.h"

#include <string.h>

struct _KovSmtpReplyParser {
	GString *input;       /* bytes fed and not yet read as lines */
	gsize consumed;       /* of @input: read already */
	gsize line_len;       /* bytes of the unfinished last line in @input */
	GString *line;        /* the line handed out last */
	GString *lines;       /* the lines of the reply so far, "\n"-joined */
	guint count;          /* how many */
	KovSmtpReply reply;   /* the reply completed last */
};

void
kov_smtp_reply_clear(KovSmtpReply *reply)
{
	g_clear_pointer(&reply->text, g_free);
	reply->code = 0;
}

void
kov_smtp_reply_set(KovSmtpReply *reply, int code, const char *text)
{
	kov_smtp_reply_clear(reply);
	reply->code = code;
	reply->text = g_strdup(text);
}

KovSmtpReplyParser *
kov_smtp_reply_parser_new(void)
{
	KovSmtpReplyParser *parser = g_new0(KovSmtpReplyParser, 1);
	parser->input = g_string_new(NULL);
	parser->line = g_string_new(NULL);
	parser->lines = g_string_new(NULL);
	return parser;
}

void
kov_smtp_reply_parser_free(KovSmtpReplyParser *parser)
{
	if (parser == NULL)
		return;
	g_string_free(parser->input, TRUE);
	g_string_free(parser->line, TRUE);
	g_string_free(parser->lines, TRUE);
	kov_smtp_reply_clear(&parser->reply);
	g_free(parser);
}

void
kov_smtp_reply_parser_reset(KovSmtpReplyParser *parser)
{
	g_return_if_fail(parser != NULL);
	g_string_truncate(parser->input, 0);
	parser->consumed = 0;
	parser->line_len = 0;
	g_string_truncate(parser->lines, 0);
	parser->count = 0;
}

void
kov_smtp_reply_parser_feed(KovSmtpReplyParser *parser, const char *data, gsize size)
{
	g_return_if_fail(parser != NULL);
	g_return_if_fail(data != NULL || size == 0);

	/* What was read already goes now, not at every line. */
	if (parser->consumed > 0) {
		g_string_erase(parser->input, 0, (gssize)parser->consumed);
		parser->consumed = 0;
	}
	while (size > 0) {
		const char *nl = memchr(data, '\n', size);
		gsize piece = nl != NULL ? (gsize)(nl - data) : size;
		gsize room = KOV_SMTP_REPLY_LINE_MAX - parser->line_len;
		gsize keep = MIN(piece, room);
		g_string_append_len(parser->input, data, (gssize)keep);
		parser->line_len += keep;
		if (nl == NULL)
			return;
		g_string_append_c(parser->input, '\n');
		parser->line_len = 0;
		data = nl + 1;
		size -= piece + 1;
	}
}

/* The next line of @input with its text, or FALSE when no LF is left. */
static gboolean
kov_smtp_reply_parser_take_line(KovSmtpReplyParser *parser)
{
	const char *start = parser->input->str + parser->consumed;
	gsize left = parser->input->len - parser->consumed;
	const char *nl = memchr(start, '\n', left);

	if (nl == NULL)
		return FALSE;
	g_string_truncate(parser->line, 0);
	/* A NUL ends the text: what follows it is not shown to anyone. */
	gsize len = (gsize)(nl - start);
	const char *nul = memchr(start, '\0', len);
	g_string_append_len(parser->line, start, (gssize)(nul != NULL ? (gsize)(nul - start) : len));
	g_strchomp(parser->line->str);   /* the CR, and blanks before it */
	parser->line->len = strlen(parser->line->str);
	parser->consumed += len + 1;
	return TRUE;
}

gboolean
kov_smtp_reply_parser_next(KovSmtpReplyParser *parser, KovSmtpReplyLine *out)
{
	g_return_val_if_fail(parser != NULL, FALSE);
	g_return_val_if_fail(out != NULL, FALSE);

	do {
		if (!kov_smtp_reply_parser_take_line(parser))
			return FALSE;
	} while (parser->line->len == 0);

	const char *line = parser->line->str;
	*out = (KovSmtpReplyLine){ .line = line, .is_reply = FALSE, .code = 0, .index = parser->count };
	if (parser->line->len < 3 || !g_ascii_isdigit(line[0]) || !g_ascii_isdigit(line[1])
	    || !g_ascii_isdigit(line[2]))
		return TRUE;
	out->is_reply = TRUE;
	out->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (parser->lines->len > 0)
		g_string_append_c(parser->lines, '\n');
	g_string_append(parser->lines, line);
	parser->count++;
	if (line[3] == '-')
		return TRUE;
	kov_smtp_reply_set(&parser->reply, out->code, parser->lines->str);
	out->reply = &parser->reply;
	g_string_truncate(parser->lines, 0);
	parser->count = 0;
	return TRUE;
}

gboolean
kov_smtp_reply_line_has_keyword(const char *line, const char *keyword)
{
	g_return_val_if_fail(line != NULL && keyword != NULL, FALSE);

	if (strlen(line) <= 4)
		return FALSE;
	const char *word = line + 4;
	gsize len = strcspn(word, " =");
	return len == strlen(keyword) && g_ascii_strncasecmp(word, keyword, len) == 0;
}
