/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target over what an SMTP server may send: the bytes go through
 * the reply parser (lib/net/smtp-reply.c) whole, and again in pieces cut
 * where a generator seeded from the input says, and must read the same
 * both ways. Beyond "no crash, no sanitizer report" it checks the parser's
 * promises: a line holds no LF, NUL or trailing blank and is not longer
 * than the cap; a code is three digits; a complete reply has as many lines
 * as were counted for it, each starting with three digits, the last one
 * with its code. Built with -DKOVERTO_FUZZ=ON (clang); run by scripts/fuzz. */
#include "smtp-reply.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KOV_FUZZ_FAIL(...)                                                 \
	do {                                                               \
		fprintf(stderr, "fuzz-smtp-reply: " __VA_ARGS__);          \
		fputc('\n', stderr);                                       \
		abort();                                                   \
	} while (0)

static void
kov_fuzz_check_line(const KovSmtpReplyLine *line)
{
	gsize len = strlen(line->line);
	if (len == 0 || len > KOV_SMTP_REPLY_LINE_MAX)
		KOV_FUZZ_FAIL("a line of %zu bytes", len);
	if (strchr(line->line, '\n') != NULL)
		KOV_FUZZ_FAIL("a line holds a LF");
	if (g_ascii_isspace(line->line[len - 1]))
		KOV_FUZZ_FAIL("a line ends in a blank");
	if (line->code < 0 || line->code > 999)
		KOV_FUZZ_FAIL("code %d", line->code);
	if (!line->is_reply && (line->reply != NULL || line->code != 0))
		KOV_FUZZ_FAIL("a reply from a line that is none");
	if (line->reply == NULL)
		return;
	if (line->reply->code != line->code)
		KOV_FUZZ_FAIL("reply code %d on a line of code %d", line->reply->code, line->code);
	g_auto(GStrv) lines = g_strsplit(line->reply->text, "\n", -1);
	if (g_strv_length(lines) != line->index + 1)
		KOV_FUZZ_FAIL("a reply of %u lines, %u counted", g_strv_length(lines), line->index + 1);
	for (char **l = lines; *l != NULL; l++)
		if (!g_ascii_isdigit((*l)[0]) || !g_ascii_isdigit((*l)[1]) || !g_ascii_isdigit((*l)[2]))
			KOV_FUZZ_FAIL("a reply line without a code: \"%s\"", *l);
	if (strcmp(lines[line->index], line->line) != 0)
		KOV_FUZZ_FAIL("the reply does not end in its last line");
	(void)kov_smtp_reply_line_has_keyword(line->line, "AUTH");
}

/* Everything read so far, one event a line, into @out. */
static void
kov_fuzz_drain(KovSmtpReplyParser *parser, GString *out)
{
	KovSmtpReplyLine line;
	while (kov_smtp_reply_parser_next(parser, &line)) {
		kov_fuzz_check_line(&line);
		g_string_append_printf(out, "%d %d %u %s\n", line.is_reply, line.code, line.index, line.line);
		if (line.reply != NULL)
			g_string_append_printf(out, "= %d %s\n", line.reply->code, line.reply->text);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(KovSmtpReplyParser) parser = kov_smtp_reply_parser_new();
	g_autoptr(KovSmtpReplyParser) pieces = kov_smtp_reply_parser_new();
	g_autoptr(GString) whole = g_string_new(NULL);
	g_autoptr(GString) split = g_string_new(NULL);

	kov_smtp_reply_parser_feed(parser, (const char *)data, size);
	kov_fuzz_drain(parser, whole);

	/* The same bytes in pieces of 1 to 64 bytes, cut where the input's own
	 * hash says (so a crash reproduces from the input alone). */
	guint32 seed = 2166136261u;   /* FNV-1a */
	for (size_t i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 16777619u;
	GRand *rand = g_rand_new_with_seed(seed);
	for (size_t at = 0; at < size;) {
		size_t want = (size_t)g_rand_int_range(rand, 1, 65);   /* once: MIN evaluates twice */
		size_t n = MIN(want, size - at);
		kov_smtp_reply_parser_feed(pieces, (const char *)data + at, n);
		kov_fuzz_drain(pieces, split);
		at += n;
	}
	g_rand_free(rand);
	if (!g_string_equal(whole, split))
		KOV_FUZZ_FAIL("read whole and in pieces, the bytes read differently");
	return 0;
}
