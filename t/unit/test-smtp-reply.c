/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of the pure SMTP reply parser (smtp-reply.c): strings in, lines
 * and replies out, no server. The same transcripts are fed whole, byte by
 * byte and in random splits, and must read the same every time. */
#include "smtp-reply.h"

#include <string.h>

/* What a transcript read as: "CODE|TEXT" per complete reply, "?|LINE"
 * per line that is not a reply line, "\n"-separated. */
static char *
drain(KovSmtpReplyParser *parser, GString *out)
{
	KovSmtpReplyLine line;
	while (kov_smtp_reply_parser_next(parser, &line)) {
		g_assert_nonnull(line.line);
		g_assert_cmpuint(strlen(line.line), >, 0);
		if (!line.is_reply)
			g_string_append_printf(out, "?|%s\n", line.line);
		else if (line.reply != NULL)
			g_string_append_printf(out, "%d|%s\n", line.reply->code, line.reply->text);
	}
	return out->str;
}

/* @text fed in pieces of the sizes @sizes gives (0-terminated, the rest at once). */
static char *
read_split(const char *text, gsize len, const gsize *sizes)
{
	g_autoptr(KovSmtpReplyParser) parser = kov_smtp_reply_parser_new();
	GString *out = g_string_new(NULL);
	gsize at = 0;
	for (; sizes != NULL && *sizes != 0 && at < len; sizes++) {
		gsize n = MIN(*sizes, len - at);
		kov_smtp_reply_parser_feed(parser, text + at, n);
		drain(parser, out);
		at += n;
	}
	kov_smtp_reply_parser_feed(parser, text + at, len - at);
	drain(parser, out);
	return g_string_free(out, FALSE);
}

static char *
read_whole(const char *text, gsize len)
{
	return read_split(text, len, NULL);
}

static void
test_one_line(void)
{
	g_autoptr(KovSmtpReplyParser) parser = kov_smtp_reply_parser_new();
	KovSmtpReplyLine line;

	kov_smtp_reply_parser_feed(parser, "250 2.0.0 Ok: queued as 1\r\n", 27);
	g_assert_true(kov_smtp_reply_parser_next(parser, &line));
	g_assert_cmpstr(line.line, ==, "250 2.0.0 Ok: queued as 1");
	g_assert_cmpint(line.code, ==, 250);
	g_assert_cmpuint(line.index, ==, 0);
	g_assert_nonnull(line.reply);
	g_assert_cmpint(line.reply->code, ==, 250);
	g_assert_cmpstr(line.reply->text, ==, "250 2.0.0 Ok: queued as 1");
	g_assert_false(kov_smtp_reply_parser_next(parser, &line));
}

static void
test_multi_line(void)
{
	static const char ehlo[] = "250-mx.example.org Hello\r\n250-SIZE 10240000\r\n250-AUTH PLAIN LOGIN\r\n"
	                           "250-8BITMIME\r\n250 STARTTLS\r\n";
	static const char *const want_lines[] = { "250-mx.example.org Hello", "250-SIZE 10240000",
		                                  "250-AUTH PLAIN LOGIN", "250-8BITMIME", "250 STARTTLS" };
	g_autoptr(KovSmtpReplyParser) parser = kov_smtp_reply_parser_new();
	KovSmtpReplyLine line;

	kov_smtp_reply_parser_feed(parser, ehlo, sizeof ehlo - 1);
	for (guint i = 0; i < G_N_ELEMENTS(want_lines); i++) {
		g_assert_true(kov_smtp_reply_parser_next(parser, &line));
		g_assert_cmpstr(line.line, ==, want_lines[i]);
		g_assert_cmpint(line.code, ==, 250);
		g_assert_cmpuint(line.index, ==, i);
		if (i + 1 < G_N_ELEMENTS(want_lines))
			g_assert_null(line.reply);
	}
	g_assert_nonnull(line.reply);
	g_assert_cmpstr(line.reply->text, ==, "250-mx.example.org Hello\n250-SIZE 10240000\n"
	                                      "250-AUTH PLAIN LOGIN\n250-8BITMIME\n250 STARTTLS");
	g_assert_false(kov_smtp_reply_parser_next(parser, &line));
}

static void
test_keyword(void)
{
	g_assert_true(kov_smtp_reply_line_has_keyword("250-AUTH PLAIN LOGIN", "AUTH"));
	g_assert_true(kov_smtp_reply_line_has_keyword("250-AUTH=LOGIN", "AUTH"));
	g_assert_true(kov_smtp_reply_line_has_keyword("250 starttls", "STARTTLS"));
	g_assert_false(kov_smtp_reply_line_has_keyword("250-AUTHX", "AUTH"));
	g_assert_false(kov_smtp_reply_line_has_keyword("250-AUT", "AUTH"));
	g_assert_false(kov_smtp_reply_line_has_keyword("250 ", "AUTH"));
	g_assert_false(kov_smtp_reply_line_has_keyword("250", "AUTH"));
	g_assert_false(kov_smtp_reply_line_has_keyword("250-SIZE AUTH", "AUTH"));
}

/* Lines that are no reply are told, not filed; empty lines are skipped. */
static void
test_not_replies(void)
{
	static const char text[] = "\r\n\n hello\r\n25\r\n2x0 no\r\n250\r\n  \r\n354 go ahead  \r\n";
	g_autofree char *got = read_whole(text, sizeof text - 1);
	g_assert_cmpstr(got, ==, "?| hello\n?|25\n?|2x0 no\n250|250\n354|354 go ahead\n");
}

/* A line's last character decides: "-" continues, anything else ends it. */
static void
test_continuation_marks(void)
{
	static const char text[] = "220-one\r\n220-two\r\n220two\r\n5555 x\r\n421-a\nbogus\n421 b\n000 zero\n";
	g_autofree char *got = read_whole(text, sizeof text - 1);
	g_assert_cmpstr(got, ==, "220|220-one\n220-two\n220two\n555|5555 x\n?|bogus\n421|421-a\n421 b\n"
	                         "0|000 zero\n");
}

static void
test_nul(void)
{
	static const char text[] = "550 5.1.1 no\0 such user\r\n250 ok\r\n";
	g_autofree char *got = read_whole(text, sizeof text - 1);
	g_assert_cmpstr(got, ==, "550|550 5.1.1 no\n250|250 ok\n");
}

/* Nothing comes out of a line until its LF. */
static void
test_partial(void)
{
	g_autoptr(KovSmtpReplyParser) parser = kov_smtp_reply_parser_new();
	KovSmtpReplyLine line;

	kov_smtp_reply_parser_feed(parser, "250 O", 5);
	g_assert_false(kov_smtp_reply_parser_next(parser, &line));
	kov_smtp_reply_parser_feed(parser, "K\r", 2);
	g_assert_false(kov_smtp_reply_parser_next(parser, &line));
	kov_smtp_reply_parser_feed(parser, "\n25", 3);
	g_assert_true(kov_smtp_reply_parser_next(parser, &line));
	g_assert_cmpstr(line.reply->text, ==, "250 OK");
	g_assert_false(kov_smtp_reply_parser_next(parser, &line));

	/* A reset (a new transaction) forgets half a line and half a reply. */
	kov_smtp_reply_parser_feed(parser, "0-first\r\n", 9);
	g_assert_true(kov_smtp_reply_parser_next(parser, &line));
	g_assert_null(line.reply);
	kov_smtp_reply_parser_feed(parser, "221 by", 6);
	kov_smtp_reply_parser_reset(parser);
	kov_smtp_reply_parser_feed(parser, "e\r\n354 go\r\n", 11);
	g_assert_true(kov_smtp_reply_parser_next(parser, &line));
	g_assert_cmpstr(line.line, ==, "e");
	g_assert_false(line.is_reply);
	g_assert_cmpint(line.code, ==, 0);
	g_assert_true(kov_smtp_reply_parser_next(parser, &line));
	g_assert_cmpuint(line.index, ==, 0);
	g_assert_cmpstr(line.reply->text, ==, "354 go");
}

/* A line without end is capped; the lines after it are read as before. */
static void
test_long_line(void)
{
	gsize len = 3 * KOV_SMTP_REPLY_LINE_MAX;
	g_autoptr(GString) text = g_string_new("250 ");
	for (gsize i = 0; i < len; i++)
		g_string_append_c(text, 'x');
	g_string_append(text, "\r\n221 bye\r\n");

	const gsize sizes[] = { 1, 7, 4096, 65535, 1, 100000, 0 };
	g_autofree char *got = read_split(text->str, text->len, sizes);
	g_auto(GStrv) replies = g_strsplit(got, "\n", -1);
	g_assert_cmpuint(g_strv_length(replies), ==, 3);
	g_assert_cmpuint(strlen(replies[0]), ==, strlen("250|") + KOV_SMTP_REPLY_LINE_MAX);
	g_assert_cmpstr(replies[1], ==, "221|221 bye");
}

static const char transcript[] =
	"220 sink.example.org ESMTP ready\r\n"
	"250-sink.example.org\r\n250-SIZE 33554432\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n"
	"334 \r\n"
	"235 2.7.0 Authentication successful\r\n"
	"250 OK\r\n"
	"250 OK\r\n"
	"451-4.7.1 greylisted,\r\n451 4.7.1 try later\r\n"
	"550 5.1.1 \x1b[2J no such user\n"
	"junk that is not a reply\r\n"
	"354 End data with <CR><LF>.<CR><LF>\r\n"
	"250 OK: queued as 000001\r\n"
	"221 Bye";   /* no LF: never complete */

static const char transcript_read[] =
	"220|220 sink.example.org ESMTP ready\n"
	"250|250-sink.example.org\n250-SIZE 33554432\n250-8BITMIME\n250-AUTH PLAIN LOGIN\n250 STARTTLS\n"
	"334|334\n"
	"235|235 2.7.0 Authentication successful\n"
	"250|250 OK\n"
	"250|250 OK\n"
	"451|451-4.7.1 greylisted,\n451 4.7.1 try later\n"
	"550|550 5.1.1 \x1b[2J no such user\n"
	"?|junk that is not a reply\n"
	"354|354 End data with <CR><LF>.<CR><LF>\n"
	"250|250 OK: queued as 000001\n";

static void
test_transcript_whole(void)
{
	g_autofree char *got = read_whole(transcript, sizeof transcript - 1);
	g_assert_cmpstr(got, ==, transcript_read);
}

static void
test_transcript_bytewise(void)
{
	gsize sizes[sizeof transcript];
	for (gsize i = 0; i < G_N_ELEMENTS(sizes) - 1; i++)
		sizes[i] = 1;
	sizes[G_N_ELEMENTS(sizes) - 1] = 0;
	g_autofree char *got = read_split(transcript, sizeof transcript - 1, sizes);
	g_assert_cmpstr(got, ==, transcript_read);
}

/* Random splits (the seed is printed by GTest: --seed reproduces a run). */
static void
test_transcript_random(void)
{
	for (int round = 0; round < 2000; round++) {
		gsize sizes[64];
		gsize n = (gsize)g_test_rand_int_range(1, G_N_ELEMENTS(sizes));
		for (gsize i = 0; i < n; i++)
			sizes[i] = (gsize)g_test_rand_int_range(1, 40);
		sizes[n] = 0;
		g_autofree char *got = read_split(transcript, sizeof transcript - 1, sizes);
		g_assert_cmpstr(got, ==, transcript_read);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/smtp-reply/one-line", test_one_line);
	g_test_add_func("/smtp-reply/multi-line", test_multi_line);
	g_test_add_func("/smtp-reply/keyword", test_keyword);
	g_test_add_func("/smtp-reply/not-replies", test_not_replies);
	g_test_add_func("/smtp-reply/continuation-marks", test_continuation_marks);
	g_test_add_func("/smtp-reply/nul", test_nul);
	g_test_add_func("/smtp-reply/partial", test_partial);
	g_test_add_func("/smtp-reply/long-line", test_long_line);
	g_test_add_func("/smtp-reply/transcript/whole", test_transcript_whole);
	g_test_add_func("/smtp-reply/transcript/bytewise", test_transcript_bytewise);
	g_test_add_func("/smtp-reply/transcript/random", test_transcript_random);
	return g_test_run();
}
