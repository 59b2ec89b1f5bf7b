/* SPDX-License-Identifier: GPL-3.0-or-later */
/* SMTP replies from a server's bytes: a pure machine, bytes in, lines and
 * complete replies out. No socket, no libcurl, no log: the caller (smtp.c,
 * which feeds it libcurl's debug stream) logs and files what comes out.
 * The bytes are untrusted; t/fuzz/fuzz-smtp-reply.c fuzzes this file. */
#pragma once
#include <glib.h>

/* Longest line kept; the rest of a longer line, up to its LF, is dropped.
 * RFC 5321 4.5.3.1.5 allows 512 octets; libcurl holds 64 KiB at most. */
#define KOV_SMTP_REPLY_LINE_MAX 65536

typedef struct {
	int code;      /* 0: no complete reply seen */
	char *text;    /* the reply lines as received, "\n"-joined, CRLF removed (owned) */
} KovSmtpReply;

void kov_smtp_reply_clear(KovSmtpReply *reply);
/* @reply := @code and a copy of @text (nullable). */
void kov_smtp_reply_set(KovSmtpReply *reply, int code, const char *text);

/* What one line of the stream was. */
typedef struct {
	const char *line;      /* borrowed until the next call: the line, trailing blanks (CR) removed */
	gboolean is_reply;     /* starts with three digits; FALSE: not a reply line (otherwise ignored) */
	int code;              /* those three digits, 000 to 999; 0 when not a reply line */
	guint index;           /* its place in its reply: 0 for the first line */
	/* The reply's last line ("CODE " or just "CODE"): @reply is complete,
	 * borrowed until the next call. NULL on any other line. */
	const KovSmtpReply *reply;
} KovSmtpReplyLine;

typedef struct _KovSmtpReplyParser KovSmtpReplyParser;

KovSmtpReplyParser *kov_smtp_reply_parser_new(void);
void kov_smtp_reply_parser_free(KovSmtpReplyParser *parser);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovSmtpReplyParser, kov_smtp_reply_parser_free)

/* Forget a partial line and a partial reply (a new transaction). */
void kov_smtp_reply_parser_reset(KovSmtpReplyParser *parser);

/* Take @size bytes as they came, in pieces of any size: a line is only
 * read once its LF is there. A NUL ends the line's text (the rest of the
 * line is dropped); empty lines are skipped. */
void kov_smtp_reply_parser_feed(KovSmtpReplyParser *parser, const char *data, gsize size);

/* The next complete line fed, TRUE; FALSE when there is none (yet). */
gboolean kov_smtp_reply_parser_next(KovSmtpReplyParser *parser, KovSmtpReplyLine *line);

/* TRUE when @line (an EHLO reply line after the first: "250-AUTH PLAIN",
 * "250 STARTTLS") names the extension @keyword, in any case. */
gboolean kov_smtp_reply_line_has_keyword(const char *line, const char *keyword);
