/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of lib/mail/message.c on the mails in t/mail/: envelope precedence,
 * roles, hostile addresses, already-encrypted detection, the clean-up of
 * private headers (checked on the written bytes) and CRLF/LF output. */
#include "message.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "gmime-autoptr.h"
#include "error.h"
#include "fixture.h"

static char *
fixture(const char *name)
{
	return g_test_build_filename(G_TEST_DIST, "mail", name, NULL);
}

static char *
fixture_contents(const char *name, gsize *len)
{
	return kov_test_dist_read(len, "mail", name, NULL);
}

static KovMail *
load(const char *name, gboolean delivered_to, GError **error)
{
	g_autofree char *path = fixture(name);
	KovMessageOptions options = {.use_delivered_to = delivered_to};
	return kov_message_load(path, &options, error);
}

static KovMail *
load_ok(const char *name, gboolean delivered_to)
{
	g_autoptr(GError) error = NULL;
	KovMail *mail = load(name, delivered_to, &error);
	g_assert_no_error(error);
	g_assert_nonnull(mail);
	g_assert_nonnull(mail->message);
	return mail;
}

static void
assert_load_fails(const char *name, gboolean delivered_to, int code, const char *needle)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(KovMail) mail = load(name, delivered_to, &error);
	g_assert_null(mail);
	g_assert_error(error, KOV_ERROR, code);
	if (strstr(error->message, needle) == NULL)
		g_error("%s: \"%s\" does not mention \"%s\"", name, error->message, needle);
}

static const char *
role_name(KovRole role)
{
	switch (role) {
	case KOV_ROLE_TO: return "to";
	case KOV_ROLE_CC: return "cc";
	case KOV_ROLE_BCC: return "bcc";
	}
	return "?";
}

/* "addr:role,addr:role" in the array's order, to compare in one go. */
static char *
recipients_string(const KovMail *mail)
{
	GString *s = g_string_new(NULL);
	for (guint i = 0; i < mail->recipients->len; i++) {
		const KovRecipient *r = g_ptr_array_index(mail->recipients, i);
		g_string_append_printf(s, "%s%s:%s", i ? "," : "", r->address, role_name(r->role));
	}
	return g_string_free(s, FALSE);
}

static void
assert_recipients(const KovMail *mail, const char *expected)
{
	g_autofree char *got = recipients_string(mail);
	g_assert_cmpstr(got, ==, expected);
}

static GMimeHeaderList *
headers_of(KovMail *mail)
{
	return g_mime_object_get_header_list(GMIME_OBJECT(mail->message));
}

/* Write @message into a fresh temporary file and return its bytes. */
static char *
written_bytes(GMimeMessage *message, gboolean crlf, gsize *len)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	int fd = g_file_open_tmp("kov-message-XXXXXX", &path, &error);
	g_assert_no_error(error);
	g_assert_true(kov_message_write_fd(GMIME_OBJECT(message), fd, crlf, &error));
	g_assert_no_error(error);
	g_assert_cmpint(close(fd), ==, 0);
	char *data = NULL;
	g_assert_true(g_file_get_contents(path, &data, len, &error));
	g_assert_no_error(error);
	g_unlink(path);
	return data;
}

/* TRUE when some line of @text starts with header name @name (any case). */
static gboolean
has_header_line(const char *text, const char *name)
{
	gsize n = strlen(name);
	for (const char *line = text; line != NULL && *line != '\0';) {
		if (*line == '\n' || (*line == '\r' && line[1] == '\n'))
			break;  /* end of the top-level header */
		if (g_ascii_strncasecmp(line, name, n) == 0)
			return TRUE;
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	return FALSE;
}

/* ---- recipients and envelope -------------------------------------------- */

static void
test_plain(void)
{
	g_autoptr(KovMail) mail = load_ok("plain.eml", FALSE);
	assert_recipients(mail, "bob@example.org:to");
	g_assert_cmpstr(mail->sender, ==, "alice@example.org");
	g_assert_cmpstr(mail->from, ==, "alice@example.org");
	g_assert_false(mail->envelope_given);
	g_assert_false(mail->already_encrypted);
	g_assert_cmpstr(g_mime_message_get_subject(mail->message), ==, "plain");

	/* Bodies stay in the file: the content is a file stream, not memory. */
	GMimeObject *part = g_mime_message_get_mime_part(mail->message);
	g_assert_true(GMIME_IS_PART(part));
	GMimeDataWrapper *content = g_mime_part_get_content(GMIME_PART(part));
	g_assert_true(GMIME_IS_STREAM_FS(g_mime_data_wrapper_get_stream(content)));
}

static void
test_roles(void)
{
	g_autoptr(KovMail) mail = load_ok("roles.eml", FALSE);
	/* Lower case for matching and the envelope... */
	assert_recipients(mail, "bob@example.org:to,carol@example.org:to,"
	                        "dave@example.org:cc,eve@example.org:bcc");
	g_assert_cmpstr(mail->from, ==, "alice@example.org");
	g_assert_cmpstr(mail->sender, ==, "alice@example.org");
	/* ...while the headers keep their spelling. */
	const char *to = g_mime_object_get_header(GMIME_OBJECT(mail->message), "To");
	g_assert_nonnull(to);
	g_assert_nonnull(strstr(to, "Bob@Example.org"));
}

static void
test_duplicate_is_bcc(void)
{
	g_autoptr(KovMail) mail = load_ok("dup-to-bcc.eml", FALSE);
	assert_recipients(mail, "carol@example.org:to,bob@example.org:bcc");
}

static void
test_group(void)
{
	g_autoptr(KovMail) mail = load_ok("group.eml", FALSE);
	/* undisclosed-recipients:; names nobody, a group's members are real. */
	assert_recipients(mail, "bob@example.org:cc,carol@example.org:cc,dave@example.org:bcc");
	assert_load_fails("group-only.eml", FALSE, KOV_ERROR_DATAERR, "no recipients");
}

static void
test_envelope(void)
{
	g_autoptr(KovMail) mail = load_ok("envelope.eml", FALSE);
	/* carol (To), dave (Cc) and eve (Bcc, Kuvert bug 11) are not in the
	 * envelope: not recipients. frank is only in the envelope: blind. */
	assert_recipients(mail, "bob@example.org:to,frank@example.org:bcc");
	g_assert_true(mail->envelope_given);
	g_assert_cmpstr(mail->sender, ==, "sender@example.org");
	g_assert_cmpstr(mail->from, ==, "alice@example.org");
	/* Read once, then gone from the message. */
	g_assert_false(g_mime_header_list_contains(headers_of(mail), "X-Kuvert-To"));
	g_assert_false(g_mime_header_list_contains(headers_of(mail), "X-Kuvert-From"));
	gsize len;
	g_autofree char *out = written_bytes(mail->message, FALSE, &len);
	g_assert_null(strstr(out, "X-Kuvert"));
	g_assert_null(strstr(out, "Sender@Example.org"));
}

static void
test_envelope_anywhere(void)
{
	g_autoptr(KovMail) mail = load_ok("envelope-late.eml", FALSE);
	/* Below the mail's first header they are the mail's own: anybody who
	 * sends mail writes those. They never count, and they never leave. */
	assert_recipients(mail, "bob@example.org:to");
	g_assert_false(mail->envelope_given);
	g_assert_false(mail->sender_given);
	g_assert_cmpstr(mail->sender, ==, "alice@example.org");
	g_assert_false(g_mime_header_list_contains(headers_of(mail), "X-Kuvert-To"));
	g_assert_false(g_mime_header_list_contains(headers_of(mail), "X-Kuvert-From"));
}

static void
test_delivered_to(void)
{
	{
		g_autoptr(KovMail) mail = load_ok("delivered-to.eml", TRUE);
		/* The topmost Delivered-To only; Return-Path is the sender. */
		assert_recipients(mail, "carol@example.org:to");
		g_assert_true(mail->envelope_given);
		g_assert_cmpstr(mail->sender, ==, "bounce@example.org");
		g_assert_cmpstr(mail->from, ==, "alice@example.org");
	}
	{
		g_autoptr(KovMail) mail = load_ok("delivered-to.eml", FALSE);
		/* Not a policy Maildir: Delivered-To and Return-Path mean nothing. */
		assert_recipients(mail, "bob@example.org:to,carol@example.org:to,dave@example.org:bcc");
		g_assert_false(mail->envelope_given);
		g_assert_cmpstr(mail->sender, ==, "alice@example.org");
	}
	{
		g_autoptr(KovMail) mail = load_ok("delivered-to-bcc.eml", TRUE);
		assert_recipients(mail, "dave@example.org:bcc");
		g_assert_cmpstr(mail->sender, ==, "");  /* Return-Path: <> */
	}
	{
		g_autoptr(KovMail) mail = load_ok("delivered-to-bcc.eml", FALSE);
		assert_recipients(mail, "bob@example.org:to");
		g_assert_cmpstr(mail->sender, ==, "alice@example.org");
	}
	{
		g_autoptr(KovMail) mail = load_ok("envelope-over-delivered.eml", TRUE);
		/* X-Kuvert-To/-From below the delivery agent's lines are the
		 * mail's own: Delivered-To and Return-Path decide. */
		assert_recipients(mail, "carol@example.org:to");
		g_assert_cmpstr(mail->sender, ==, "bounce@example.org");
	}
}

static void
test_null_sender(void)
{
	g_autoptr(KovMail) mail = load_ok("null-sender.eml", FALSE);
	g_assert_nonnull(mail->sender);
	g_assert_cmpstr(mail->sender, ==, "");
	g_assert_cmpstr(mail->from, ==, "mailer-daemon@example.org");
	assert_recipients(mail, "bob@example.org:to");
}

static void
test_not_usable(void)
{
	assert_load_fails("no-recipients.eml", FALSE, KOV_ERROR_DATAERR, "no recipients");
	assert_load_fails("no-sender.eml", FALSE, KOV_ERROR_DATAERR,
	                  "no sender: no From header and no envelope sender");
	assert_load_fails("empty.eml", FALSE, KOV_ERROR_DATAERR, "not a mail");
	assert_load_fails("does-not-exist.eml", FALSE, KOV_ERROR_IOERR, "does-not-exist.eml");
}

/* Write @data to a temporary file and load it. */
static KovMail *
load_bytes(const char *data, gsize len, GError **error)
{
	g_autofree char *path = NULL;
	g_autoptr(GError) local = NULL;
	int fd = g_file_open_tmp("kov-message-XXXXXX", &path, &local);
	g_assert_no_error(local);
	g_assert_cmpint(write(fd, data, len), ==, (gssize)len);
	close(fd);
	KovMessageOptions options = {0};
	KovMail *mail = kov_message_load(path, &options, error);
	g_unlink(path);  /* the loaded message keeps its descriptor */
	return mail;
}

static KovMail *
load_bytes_with(const char *data, const KovMessageOptions *options)
{
	g_autofree char *path = NULL;
	g_autoptr(GError) error = NULL;
	int fd = g_file_open_tmp("kov-message-XXXXXX", &path, &error);
	g_assert_no_error(error);
	g_assert_cmpint(write(fd, data, strlen(data)), ==, (gssize)strlen(data));
	close(fd);
	KovMail *mail = kov_message_load(path, options, &error);
	g_assert_no_error(error);
	g_unlink(path);
	return mail;
}

/* Only the block its writer put on top is the envelope (issue 10 A3). */
static void
test_envelope_block(void)
{
	static const struct {
		const char *data;
		gboolean delivered_to, mail_only;
		const char *rcpts, *sender;
	} cases[] = {
		/* GMime reads "X-Kuvert-To :" as X-Kuvert-To: so does the block. */
		{ "X-Kuvert-To : carol@example.org,\n dave@example.org\nx-kuvert-from\t: s@example.org\n"
		  "From: alice@example.org\nTo: bob@example.org\n\nb\n",
		  FALSE, FALSE, "carol@example.org:bcc,dave@example.org:bcc", "s@example.org" },
		/* An MTA's Maildir copy: the mail's own X-Kuvert-To below
		 * Delivered-To redirects nothing. */
		{ "Return-Path: <r@example.org>\nDelivered-To: bob@example.org\n"
		  "X-Kuvert-To: mallory@example.org\nX-Kuvert-From: m@example.org\n"
		  "From: alice@example.org\nTo: bob@example.org\n\nb\n",
		  TRUE, FALSE, "bob@example.org:to", "r@example.org" },
		{ "Received: from x by y; Tue, 25 Nov 2026 10:00:01 +0000\n"
		  "X-Kuvert-To: mallory@example.org\n"
		  "From: alice@example.org\nTo: bob@example.org\n\nb\n",
		  TRUE, FALSE, "bob@example.org:to", "alice@example.org" },
		/* Delivered-To and Return-Path of the mail's own (below a
		 * Received line) are no delivery agent's either. */
		{ "Received: from x by y; Tue, 25 Nov 2026 10:00:01 +0000\n"
		  "Delivered-To: mallory@example.org\nReturn-Path: <m@example.org>\n"
		  "From: alice@example.org\nTo: bob@example.org\n\nb\n",
		  TRUE, FALSE, "bob@example.org:to", "alice@example.org" },
		/* A mail as given to koverto submit: its own lines never count,
		 * even on top. */
		{ "X-Kuvert-To: mallory@example.org\nX-Kuvert-From: m@example.org\n"
		  "From: alice@example.org\nTo: bob@example.org\n\nb\n",
		  FALSE, TRUE, "bob@example.org:to", "alice@example.org" },
		/* A Content-* field ends the block like any other. */
		{ "Content-Type: text/plain\nX-Kuvert-To: mallory@example.org\n"
		  "From: alice@example.org\nTo: bob@example.org\n\nb\n",
		  FALSE, FALSE, "bob@example.org:to", "alice@example.org" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_test_message("case %zu", i);
		KovMessageOptions options = { .use_delivered_to = cases[i].delivered_to,
		                              .mail_only = cases[i].mail_only };
		g_autoptr(KovMail) mail = load_bytes_with(cases[i].data, &options);
		assert_recipients(mail, cases[i].rcpts);
		g_assert_cmpstr(mail->sender, ==, cases[i].sender);
		kov_message_strip_private_headers(mail->message);
		gsize len;
		g_autofree char *out = written_bytes(mail->message, FALSE, &len);
		g_assert_null(strstr(out, "mallory"));
		g_assert_false(has_header_line(out, "X-Kuvert"));
	}
}

/* One From field, one mailbox, or no sender to check (issue 10 A4). */
static void
test_from_single(void)
{
	static const struct { const char *from; gboolean single; } cases[] = {
		{ "From: Alice <alice@example.org>\n", TRUE },
		{ "From: alice@example.org, bob@example.org\n", FALSE },
		{ "From: friends:;\nFrom: alice@example.org\n", FALSE },
		{ "From: alice@example.org\nFrom: bob@example.org\n", FALSE },
		{ "From: friends: alice@example.org;\n", FALSE },
		{ "From:\n", FALSE },
		{ "", FALSE },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_test_message("%s", cases[i].from);
		g_autofree char *data = g_strdup_printf("X-Kuvert-From: alice@example.org\n%s"
		                                        "To: bob@example.org\n\nb\n", cases[i].from);
		KovMessageOptions options = { 0 };
		g_autoptr(KovMail) mail = load_bytes_with(data, &options);
		g_assert_cmpint(mail->from_single, ==, cases[i].single);
	}
}

/* The rewrite of a parked mail finds what the reader reads (issue 10 A8). */
static void
test_rewrite_envelope(void)
{
	static const char input[] =
		"X-Kuvert-From: s@example.org\n"
		"X-Kuvert-To : bob@example.org,\n carol@example.org\n"
		"x-kuvert-to\t:\tdave@example.org\n"
		"From: alice@example.org\n"
		"X-Kuvert-To: mallory@example.org\n"
		"\tmore@example.org\n"
		"To: bob@example.org, carol@example.org\n"
		"Subject: X-Kuvert-To: in a value\n"
		"\n"
		"X-Kuvert-To: in the body stays\n";
	g_autofree char *in = NULL, *out = NULL;
	g_autoptr(GError) error = NULL;
	int fd = g_file_open_tmp("kov-message-XXXXXX", &in, &error);
	g_assert_no_error(error);
	g_assert_cmpint(write(fd, input, strlen(input)), ==, (gssize)strlen(input));
	close(fd);
	for (int keep = 0; keep <= 1; keep++) {
		fd = g_file_open_tmp("kov-message-XXXXXX", &out, &error);
		g_assert_no_error(error);
		g_assert_true(kov_message_rewrite_envelope(in, "X-Kuvert-To: carol@example.org\n", keep,
		                                           fd, &error));
		g_assert_no_error(error);
		close(fd);
		g_autofree char *got = NULL;
		g_assert_true(g_file_get_contents(out, &got, NULL, &error));
		g_autofree char *want = g_strconcat(
			"X-Kuvert-To: carol@example.org\n", keep ? "X-Kuvert-From: s@example.org\n" : "",
			"From: alice@example.org\n"
			"To: bob@example.org, carol@example.org\n"
			"Subject: X-Kuvert-To: in a value\n"
			"\n"
			"X-Kuvert-To: in the body stays\n", NULL);
		g_assert_cmpstr(got, ==, want);
		KovMessageOptions options = { 0 };
		g_autoptr(KovMail) mail = kov_message_load(out, &options, &error);
		g_assert_no_error(error);
		assert_recipients(mail, "carol@example.org:to");
		g_assert_cmpstr(mail->sender, ==, keep ? "s@example.org" : "alice@example.org");
		g_unlink(out);
		g_clear_pointer(&out, g_free);
	}
	g_unlink(in);
}

/* Every fixture: the rewritten file's envelope is the new line and
 * nothing else, whatever X-Kuvert lines, spellings and foldings the
 * original had; the reader agrees with the rewriter (issue 10 A8). */
static void
test_rewrite_envelope_fixtures(void)
{
	g_autofree char *dir_path = g_test_build_filename(G_TEST_DIST, "mail", NULL);
	g_autoptr(GDir) dir = g_dir_open(dir_path, 0, NULL);
	g_assert_nonnull(dir);
	guint tried = 0;
	for (const char *name; (name = g_dir_read_name(dir)) != NULL;) {
		if (!g_str_has_suffix(name, ".eml"))
			continue;
		g_autofree char *in = g_build_filename(dir_path, name, NULL);
		KovMessageOptions options = { 0 };
		g_autoptr(GError) error = NULL;
		g_autoptr(KovMail) before = kov_message_load(in, &options, &error);
		if (before == NULL)
			continue;
		g_test_message("%s", name);
		g_autofree char *out = NULL;
		int fd = g_file_open_tmp("kov-message-XXXXXX", &out, &error);
		g_assert_no_error(error);
		g_assert_true(kov_message_rewrite_envelope(in, "X-Kuvert-To: zed@example.org\n", TRUE, fd,
		                                           &error));
		g_assert_no_error(error);
		close(fd);
		g_autoptr(KovMail) after = kov_message_load(out, &options, &error);
		g_assert_no_error(error);
		g_assert_cmpuint(after->recipients->len, ==, 1);
		g_assert_cmpstr(((KovRecipient *)g_ptr_array_index(after->recipients, 0))->address, ==,
		                "zed@example.org");
		g_assert_cmpstr(after->sender, ==, before->sender_given ? before->sender : after->from);
		g_autofree char *data = NULL;
		g_assert_true(g_file_get_contents(out, &data, NULL, &error));
		g_auto(GStrv) lines = g_strsplit(data, "\n", -1);
		guint envelope_lines = 0;
		for (gsize i = 0; lines[i] != NULL && *lines[i] != '\0' && *lines[i] != '\r'; i++)
			envelope_lines += g_ascii_strncasecmp(lines[i], "X-Kuvert-To", 11) == 0;
		g_assert_cmpuint(envelope_lines, ==, 1);
		g_unlink(out);
		tried++;
	}
	g_assert_cmpuint(tried, >, 20);
}

static void
test_junk(void)
{
	/* Deterministic binary junk, NUL bytes and all. */
	g_autoptr(GRand) rand = g_rand_new_with_seed(4711);
	char junk[4096];
	for (gsize i = 0; i < sizeof junk; i++)
		junk[i] = (char)g_rand_int_range(rand, 0, 256);
	g_autoptr(GError) error = NULL;
	g_autoptr(KovMail) mail = load_bytes(junk, sizeof junk, &error);
	g_assert_null(mail);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_DATAERR);
	g_assert_nonnull(strstr(error->message, "not a mail"));

	g_clear_error(&error);
	static const char body_only[] = "Just a body line\nand another.\n";
	g_autoptr(KovMail) mail2 = load_bytes(body_only, strlen(body_only), &error);
	g_assert_null(mail2);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_DATAERR);
}

static void
test_nul_in_header(void)
{
	/* GMime ends a header value at a NUL and loses its line end: written
	 * again, the next header would join its line. Refused. */
	static const char data[] = "From: alice@example.org\nTo: bob@example.org\0, evil@example.org\n"
	                           "Cc: c@\0example.org\nSubject: nul\n\nbody\n";
	g_autoptr(GError) error = NULL;
	g_autoptr(KovMail) mail = load_bytes(data, sizeof data - 1, &error);
	g_assert_null(mail);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_DATAERR);
	g_assert_nonnull(strstr(error->message, "cut short by a NUL"));

	/* The last header cut: the body's first line would become a header. */
	g_clear_error(&error);
	static const char last[] = "From: alice@example.org\nTo: bob@example.org\nSubject: x\0y\n"
	                           "\nX-Injected: from the body\n";
	g_autoptr(KovMail) mail3 = load_bytes(last, sizeof last - 1, &error);
	g_assert_null(mail3);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_DATAERR);
	g_assert_nonnull(strstr(error->message, "bad header \"Subject\": cut short by a NUL"));

	/* A bare CR is a line end to some readers: refused too. */
	g_clear_error(&error);
	static const char cr[] = "From: alice@example.org\nTo: bob@example.org\n"
	                         "Subject: a\rX-Injected: yes\n\nbody\n";
	g_autoptr(KovMail) mail2 = load_bytes(cr, sizeof cr - 1, &error);
	g_assert_null(mail2);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_DATAERR);
	g_assert_nonnull(strstr(error->message, "bare CR"));
}

static void
test_crlf_in_address(void)
{
	/* An encoded-word in an addr-spec is not decoded by RFC 2047, but
	 * some servers do decode it (aiosmtpd puts the CR/LF in its envelope):
	 * such an address is refused. The one in a display name never
	 * reaches the envelope. */
	assert_load_fails("crlf-in-address.eml", FALSE, KOV_ERROR_DATAERR,
	                  "bad address in To/Cc/Bcc: \"=?utf-8?q?a=0D=0Ab?=@example.org\"");
	assert_load_fails("crlf-envelope.eml", FALSE, KOV_ERROR_DATAERR,
	                  "bad address in X-Kuvert-To: \"=?utf-8?q?a=0D=0Ab?=@example.org\"");
}

static void
test_bad_addresses(void)
{
	/* It could become an option of the sendmail program. */
	assert_load_fails("dash-address.eml", FALSE, KOV_ERROR_DATAERR, "-oQ/tmp/x@example.org");
	assert_load_fails("dash-sender.eml", FALSE, KOV_ERROR_DATAERR, "-f@example.org");
	assert_load_fails("no-at.eml", FALSE, KOV_ERROR_DATAERR, "bad address in To/Cc/Bcc");
}

/* ---- what the decision needs: directives, X-Kuvert, Resent-To ----------- */

/* "addr:action/key" for every recipient, "-" where nothing was given. */
static char *
directives_string(const KovMail *mail)
{
	GString *s = g_string_new(NULL);
	for (guint i = 0; i < mail->recipients->len; i++) {
		const KovRecipient *r = g_ptr_array_index(mail->recipients, i);
		g_string_append_printf(s, "%s%s:%s/%s", i ? "," : "", r->address,
		                       r->has_directive_action ? kov_policy_action_name(r->directive_action)
		                                               : "-",
		                       r->directive_key ? r->directive_key : "-");
	}
	return g_string_free(s, FALSE);
}

static void
assert_directives(const KovMail *mail, const char *expected)
{
	g_autofree char *got = directives_string(mail);
	g_assert_cmpstr(got, ==, expected);
}

static void
test_directives(void)
{
	g_autoptr(KovMail) mail = load_ok("kuvert-directives.eml", FALSE);
	assert_recipients(mail, "bob@example.org:to,carol@example.org:to,dave@example.org:cc,"
	                        "erin@example.org:cc,frank@example.org:cc,grace@example.org:bcc,"
	                        "hank@example.org:bcc");
	/* action=mustencrypt counts (Kuvert bug 7); any case; order free; a
	 * quoted name is no directive; an unknown action has no effect; a
	 * group's members have theirs. */
	assert_directives(mail, "bob@example.org:mustencrypt/-,carol@example.org:none/0xB0B,"
	                        "dave@example.org:fallback-all/DEADBEEF,erin@example.org:-/-,"
	                        "frank@example.org:-/-,grace@example.org:-/0x6a6a,"
	                        "hank@example.org:signonly/-");
	/* The first From address's key= signs; the second's is ignored. */
	g_assert_cmpstr(mail->from_key, ==, "0xAAAA1111BBBB2222");
	g_assert_cmpstr(mail->from, ==, "alice@example.org");
	/* The first X-Kuvert counts, trimmed and in any case. */
	g_assert_true(mail->has_x_kuvert);
	g_assert_cmpint(mail->x_kuvert, ==, KOV_ACTION_FALLBACK_ALL);
	g_assert_null(mail->resent_to);

	/* Stripped on the way out, names kept. */
	kov_message_strip_private_headers(mail->message);
	gsize len;
	g_autofree char *out = written_bytes(mail->message, FALSE, &len);
	g_assert_null(strstr(out, "action="));
	g_assert_null(strstr(out, "ACTION="));
	g_assert_null(strstr(out, "key="));
	g_assert_null(strstr(out, "X-Kuvert"));
	g_assert_false(has_header_line(out, "Bcc:"));
	g_assert_nonnull(strstr(out, "\"Doe, Erin\" <erin@example.org>"));
	g_assert_nonnull(strstr(out, "Bob <bob@example.org>"));
	g_assert_nonnull(strstr(out, "From: Alice <alice@example.org>, Other <other@example.org>\n"));
}

/* The directives in directives.eml, with an explicit envelope. */
static void
test_directives_envelope(void)
{
	g_autoptr(KovMail) mail = load_ok("directives.eml", FALSE);
	assert_directives(mail, "bob@example.org:signonly/-,carol@example.org:-/-,"
	                        "dave@example.org:fallback/0x12,frank@example.org:-/-,"
	                        "eve@example.org:-/-");
	g_assert_cmpstr(mail->from_key, ==, "0x1234ABCD");
	g_assert_true(mail->has_x_kuvert);
	g_assert_cmpint(mail->x_kuvert, ==, KOV_ACTION_SIGNONLY);
	g_assert_null(mail->resent_to);   /* explicit envelope: no bounce */

	g_autoptr(KovMail) plain = load_ok("plain.eml", FALSE);
	assert_directives(plain, "bob@example.org:-/-");
	g_assert_null(plain->from_key);
	g_assert_false(plain->has_x_kuvert);
	g_assert_null(plain->resent_to);
}

static void
test_x_kuvert(void)
{
	static const struct { const char *headers; gboolean has; KovAction action; } cases[] = {
		{ "X-Kuvert: none\n", TRUE, KOV_ACTION_NONE },
		{ "X-Kuvert: signonly\n", TRUE, KOV_ACTION_SIGNONLY },
		{ "X-Kuvert: fallback\n", TRUE, KOV_ACTION_FALLBACK },
		{ "X-Kuvert:\tFallback-All \n", TRUE, KOV_ACTION_FALLBACK_ALL },
		{ "x-kuvert: MustEncrypt\n", TRUE, KOV_ACTION_MUSTENCRYPT },
		{ "X-Kuvert:\n  signonly\n", TRUE, KOV_ACTION_SIGNONLY },   /* folded */
		{ "X-Kuvert: sign-only\n", FALSE, 0 },
		{ "X-Kuvert: fallback please\n", FALSE, 0 },
		{ "X-Kuvert:\n", FALSE, 0 },
		{ "X-Kuvert: bogus\nX-Kuvert: none\n", FALSE, 0 },  /* only the first counts */
		{ "X-Kuvert-Extra: none\n", FALSE, 0 },
		{ "", FALSE, 0 },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *data = g_strdup_printf("From: alice@example.org\nTo: bob@example.org\n"
		                                        "%sSubject: x\n\nbody\n", cases[i].headers);
		g_autoptr(GError) error = NULL;
		g_autoptr(KovMail) mail = load_bytes(data, strlen(data), &error);
		g_assert_no_error(error);
		g_test_message("%s", cases[i].headers);
		g_assert_cmpint(mail->has_x_kuvert, ==, cases[i].has);
		if (cases[i].has)
			g_assert_cmpint(mail->x_kuvert, ==, cases[i].action);
	}
}

static void
assert_resent(const KovMail *mail, const char *expected)
{
	g_assert_nonnull(mail->resent_to);
	g_autoptr(GString) got = g_string_new(NULL);
	for (guint i = 0; i < mail->resent_to->len; i++)
		g_string_append_printf(got, "%s%s", i ? "," : "", (char *)g_ptr_array_index(mail->resent_to, i));
	g_assert_cmpstr(got->str, ==, expected);
}

static void
test_resent_to(void)
{
	{
		/* The first Resent-To only, lower case, once each; the headers'
		 * recipients are still worked out as usual. */
		g_autoptr(KovMail) mail = load_ok("resent.eml", FALSE);
		assert_resent(mail, "carol@example.org,dave@example.org");
		assert_recipients(mail, "bob@example.org:to");
		g_assert_false(mail->envelope_given);
		/* Resent-Bcc never leaves; Resent-To stays. */
		kov_message_strip_private_headers(mail->message);
		gsize len;
		g_autofree char *out = written_bytes(mail->message, FALSE, &len);
		g_assert_null(strstr(out, "mallory"));
		g_assert_true(has_header_line(out, "Resent-To:"));
	}
	{
		/* An explicit envelope names the recipients: no bounce. */
		g_autoptr(KovMail) mail = load_ok("resent-envelope.eml", FALSE);
		g_assert_null(mail->resent_to);
		assert_recipients(mail, "bob@example.org:to");
	}
	{
		/* Delivered-To in a policy Maildir is an envelope too. */
		g_autoptr(KovMail) mail = load_ok("delivered-to.eml", TRUE);
		g_assert_null(mail->resent_to);
	}
	{
		g_autoptr(KovMail) mail = load_ok("resent-nobody.eml", FALSE);
		assert_resent(mail, "");
		g_assert_cmpuint(mail->resent_to->len, ==, 0);
	}
	assert_load_fails("resent-dash.eml", FALSE, KOV_ERROR_DATAERR,
	                  "bad address in Resent-To: \"-oQ/tmp/x@example.org\"");
}

/* ---- already encrypted -------------------------------------------------- */

static void
test_already_encrypted(void)
{
	/* From the bytes (test-ciphertext.c has the cases): the label alone
	 * (pgp-encrypted.eml, smime-*.eml hold no ciphertext) is not enough. */
	static const struct { const char *name; gboolean encrypted, labelled; } cases[] = {
		{"cipher/gpg.eml", TRUE, TRUE},
		{"cipher/smime.eml", TRUE, TRUE},
		{"cipher/smime-auth.eml", TRUE, TRUE},
		{"pgp-encrypted.eml", FALSE, TRUE},
		{"smime-enveloped.eml", FALSE, TRUE},
		{"smime-authenveloped.eml", FALSE, TRUE},
		{"smime-signed.eml", FALSE, TRUE},
		{"smime-untyped.eml", FALSE, TRUE},
		{"encrypted-wrong-protocol.eml", FALSE, TRUE},
		{"multipart.eml", FALSE, FALSE},
		{"plain.eml", FALSE, FALSE},
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(KovMail) mail = load_ok(cases[i].name, FALSE);
		if (mail->already_encrypted != cases[i].encrypted)
			g_error("%s: already_encrypted is %d", cases[i].name, mail->already_encrypted);
		if ((mail->not_ciphertext != NULL) != (cases[i].labelled && !cases[i].encrypted))
			g_error("%s: not_ciphertext is %s", cases[i].name, mail->not_ciphertext);
	}
}

/* ---- strip -------------------------------------------------------------- */

static void
test_strip(void)
{
	g_autoptr(KovMail) mail = load_ok("directives.eml", FALSE);
	assert_recipients(mail, "bob@example.org:to,carol@example.org:to,dave@example.org:cc,"
	                        "frank@example.org:cc,eve@example.org:bcc");
	gsize orig_len;
	g_autofree char *orig = fixture_contents("directives.eml", &orig_len);

	kov_message_strip_private_headers(mail->message);
	GMimeHeaderList *headers = headers_of(mail);
	gsize len;
	g_autofree char *out = written_bytes(mail->message, FALSE, &len);

	static const char *const gone[] = {
		"Bcc:", "Resent-Bcc:", "X-Kuvert", "Delivered-To:", "Return-Path:",
	};
	for (gsize i = 0; i < G_N_ELEMENTS(gone); i++) {
		if (has_header_line(out, gone[i]))
			g_error("%s still in:\n%s", gone[i], out);
	}
	g_assert_null(strstr(out, "eve@example.org"));
	g_assert_null(strstr(out, "mallory@example.org"));

	/* Directives are gone, the names around them stay. */
	g_assert_null(strstr(out, "key=0x"));
	g_assert_null(strstr(out, "action=signonly"));
	g_assert_null(strstr(out, "action=fallback"));
	GMimeHeader *from = g_mime_header_list_get_header(headers, "From");
	g_assert_cmpstr(g_mime_header_get_value(from), ==, "Jörg Alice <alice@example.org>");
	for (const char *p = g_mime_header_get_raw_value(from); *p; p++)
		g_assert_cmpuint((guchar)*p, <, 0x80);  /* re-encoded, not raw UTF-8 */
	g_assert_cmpstr(g_mime_object_get_header(GMIME_OBJECT(mail->message), "To"), ==,
	                "Bob <bob@example.org>, \"Doe, Carol\" <carol@example.org>");
	GMimeHeader *cc = g_mime_header_list_get_header(headers, "Cc");
	g_assert_cmpstr(g_mime_header_get_value(cc), ==, "dave@example.org");

	/* Headers without a directive are byte-identical, folding included;
	 * a quote inside a comment is no directive. */
	static const char *const kept[] = {
		"Received: from localhost (localhost [127.0.0.1])\n"
		"\tby mx.example.org with ESMTP id 4711; Tue, 25 Nov 2026 10:00:00 +0000\n",
		"\nCc: \"Smith, Frank\" <frank@example.org>,\n"
		"    Frank Two (no \"action=none\" here) <frank2@example.org>\n",
		"\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= and a long subject line that is\n"
		" folded by the writer\n",
		"\nMessage-ID: <directives@example.org>\n",
		"\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nHello.\n",
	};
	for (gsize i = 0; i < G_N_ELEMENTS(kept); i++) {
		g_assert_nonnull(strstr(orig, kept[i]));  /* the fixture says so */
		if (strstr(out, kept[i]) == NULL)
			g_error("not kept byte for byte:\n%s\nin:\n%s", kept[i], out);
	}
	/* Recipients were worked out before: stripping does not change them. */
	assert_recipients(mail, "bob@example.org:to,carol@example.org:to,dave@example.org:cc,"
	                        "frank@example.org:cc,eve@example.org:bcc");
}

static void
test_strip_no_to(void)
{
	g_autoptr(KovMail) mail = load_ok("cc-only.eml", FALSE);
	assert_recipients(mail, "bob@example.org:cc,eve@example.org:bcc");
	kov_message_strip_private_headers(mail->message);
	gsize len;
	g_autofree char *out = written_bytes(mail->message, FALSE, &len);
	/* Kuvert bug 13: no empty To: appears. */
	g_assert_false(has_header_line(out, "To:"));
	g_assert_false(g_mime_header_list_contains(headers_of(mail), "To"));
	g_assert_true(has_header_line(out, "Cc: Bob <bob@example.org>\n"));
	g_assert_false(has_header_line(out, "Bcc:"));
}

static void
test_strip_untouched(void)
{
	/* Nothing private, no directive: the mail leaves exactly as it came. */
	g_autoptr(KovMail) mail = load_ok("plain.eml", FALSE);
	kov_message_strip_private_headers(mail->message);
	gsize len, orig_len;
	g_autofree char *out = written_bytes(mail->message, FALSE, &len);
	g_autofree char *orig = fixture_contents("plain.eml", &orig_len);
	g_assert_cmpmem(out, len, orig, orig_len);
}

static void
test_eightbit(void)
{
	g_autoptr(KovMail) mail = load_ok("eightbit.eml", FALSE);
	assert_recipients(mail, "bob@example.org:to,mueller@example.org:to");
	g_assert_cmpstr(mail->from, ==, "joerg@example.org");
	kov_message_strip_private_headers(mail->message);
	gsize len;
	g_autofree char *out = written_bytes(mail->message, FALSE, &len);
	/* Raw 8-bit header bytes are kept as they were. */
	g_assert_nonnull(strstr(out, "Subject: 8-bit raw: \xe4\xf6\xfc \xc3\xa4\xc3\xb6\xc3\xbc\n"));
	g_assert_nonnull(strstr(out, "From: J\xf6rg <joerg@example.org>\n"));
}

/* ---- write -------------------------------------------------------------- */

static void
test_write_newlines(void)
{
	gsize orig_len;
	g_autofree char *orig = fixture_contents("multipart.eml", &orig_len);
	g_autoptr(KovMail) mail = load_ok("multipart.eml", FALSE);

	gsize lf_len;
	g_autofree char *lf = written_bytes(mail->message, FALSE, &lf_len);
	/* LF: the parsed, untouched mail comes out byte for byte. */
	g_assert_cmpmem(lf, lf_len, orig, orig_len);

	gsize crlf_len;
	g_autofree char *crlf = written_bytes(mail->message, TRUE, &crlf_len);
	/* CRLF: every line end is CRLF, and nothing else changed. */
	gsize lines = 0;
	for (gsize i = 0; i < crlf_len; i++) {
		if (crlf[i] == '\n') {
			g_assert_cmpint(i, >, 0);
			g_assert_cmpint(crlf[i - 1], ==, '\r');
			lines++;
		}
	}
	g_assert_cmpuint(crlf_len, ==, orig_len + lines);
	g_autoptr(GString) back = g_string_new_len(crlf, crlf_len);
	g_string_replace(back, "\r\n", "\n", 0);
	g_assert_cmpmem(back->str, back->len, orig, orig_len);
	g_assert_nonnull(strstr(crlf, "\r\n\r\nFirst line.\r\nSecond line.\r\n"));

	/* CRLF input, LF output: no CR left. */
	g_autoptr(KovMail) crlf_mail = load_ok("crlf.eml", FALSE);
	gsize out_len;
	g_autofree char *out = written_bytes(crlf_mail->message, FALSE, &out_len);
	g_assert_null(memchr(out, '\r', out_len));
	g_assert_nonnull(strstr(out, "\n\nLine one.\nLine two.\n"));
}

static void
test_write_binary(void)
{
	g_autoptr(KovMail) mail = load_ok("binary-part.eml", FALSE);
	/* LF (sendmail): a CTE binary part passes untouched, CR and all. */
	gsize orig_len, lf_len, crlf_len;
	g_autofree char *orig = fixture_contents("binary-part.eml", &orig_len);
	g_autofree char *lf = written_bytes(mail->message, FALSE, &lf_len);
	g_assert_cmpmem(lf, lf_len, orig, orig_len);
	/* CRLF (SMTP): no bare LF anywhere, not even there. */
	g_autofree char *crlf = written_bytes(mail->message, TRUE, &crlf_len);
	for (gsize i = 0; i < crlf_len; i++) {
		if (crlf[i] == '\n')
			g_assert_cmpint(crlf[i - 1], ==, '\r');
	}
	g_assert_nonnull(strstr(crlf, "\r\n\r\none\r\ntwo\r\nthree\r\n--b1--\r\n"));
}

/* Write plain.eml into a file limited to @limit bytes: must fail. */
static void
write_limited(rlim_t limit)
{
	g_autoptr(KovMail) mail = load_ok("plain.eml", FALSE);
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	int fd = g_file_open_tmp("kov-message-XXXXXX", &path, &error);
	g_assert_no_error(error);
	g_unlink(path);
	struct rlimit rl;
	g_assert_cmpint(getrlimit(RLIMIT_FSIZE, &rl), ==, 0);
	rl.rlim_cur = limit;
	g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &rl), ==, 0);
	g_assert_false(kov_message_write_fd(GMIME_OBJECT(mail->message), fd, FALSE, &error));
	g_assert_nonnull(error);
	g_assert_true(error->domain == KOV_ERROR);
	g_test_message("limit %u: %s", (unsigned)limit, error->message);
	close(fd);
}

static void
test_write_short(void)
{
	gsize orig_len;
	g_free(fixture_contents("plain.eml", &orig_len));  /* what write_fd writes */
	if (g_test_subprocess()) {
		signal(SIGXFSZ, SIG_IGN);  /* write() fails with EFBIG instead */
		/* The last write() is cut short: GMime calls that success. */
		write_limited(orig_len - 5);
		/* An early write() fails outright. */
		write_limited(10);
		return;
	}
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_passed();
}

/* A message of several 4 KiB blocks: a text part of @lines lines. */
static GMimeMessage *
blocks_message(int lines)
{
	GMimeMessage *message = g_mime_message_new(TRUE);
	g_mime_message_set_subject(message, "blocks", NULL);
	g_autoptr(GString) text = g_string_new(NULL);
	for (int i = 0; i < lines; i++)
		g_string_append_printf(text, "line %05d of a text that spans several write blocks\n", i);
	g_autoptr(GMimeTextPart) part = g_mime_text_part_new_with_subtype("plain");
	g_mime_text_part_set_text(part, text->str);
	g_mime_message_set_mime_part(message, GMIME_OBJECT(part));
	return message;
}

/* Every file-size limit short of the whole copy fails, at the start, at
 * and around the block edges and at the end; the whole size succeeds. */
static void
test_write_short_blocks(void)
{
	if (!g_test_subprocess()) {
		g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
		g_test_trap_assert_passed();
		return;
	}
	signal(SIGXFSZ, SIG_IGN);
	g_autoptr(GMimeMessage) message = blocks_message(400);
	for (int crlf = 0; crlf <= 1; crlf++) {
		gsize size;
		g_autofree char *whole = written_bytes(message, crlf, &size);
		g_assert_cmpuint(size, >, 4 * 4096);
		const gsize limits[] = { 0, 1, 4095, 4096, 4097, 8191, 8192, 8193, size / 2, size - 1, size };
		for (gsize i = 0; i < G_N_ELEMENTS(limits); i++) {
			g_autoptr(GError) error = NULL;
			g_autofree char *path = NULL;
			int fd = g_file_open_tmp("kov-message-XXXXXX", &path, &error);
			g_assert_no_error(error);
			struct rlimit rl;
			g_assert_cmpint(getrlimit(RLIMIT_FSIZE, &rl), ==, 0);
			rl.rlim_cur = limits[i];
			g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &rl), ==, 0);
			gboolean ok = kov_message_write_fd(GMIME_OBJECT(message), fd, crlf, &error);
			rl.rlim_cur = RLIM_INFINITY;
			g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &rl), ==, 0);
			g_assert_cmpint(ok, ==, limits[i] == size);
			if (ok) {
				gsize len;
				g_autofree char *got = NULL;
				g_assert_true(g_file_get_contents(path, &got, &len, NULL));
				g_assert_cmpmem(got, len, whole, size);
			} else {
				g_assert_error(error, KOV_ERROR, KOV_ERROR_IOERR);
			}
			close(fd);
			g_unlink(path);
		}
	}
}

static void
test_write_offset(void)
{
	g_autoptr(KovMail) mail = load_ok("plain.eml", FALSE);
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	int fd = g_file_open_tmp("kov-message-XXXXXX", &path, &error);
	g_assert_no_error(error);
	g_assert_cmpint(write(fd, "PREFIX\n", 7), ==, 7);
	g_assert_true(kov_message_write_fd(GMIME_OBJECT(mail->message), fd, FALSE, &error));
	g_assert_no_error(error);
	/* The caller's descriptor is still open and at the end. */
	g_assert_cmpint(write(fd, "SUFFIX\n", 7), ==, 7);
	g_assert_cmpint(close(fd), ==, 0);

	gsize orig_len, len;
	g_autofree char *orig = fixture_contents("plain.eml", &orig_len);
	g_autofree char *expected = g_strconcat("PREFIX\n", orig, "SUFFIX\n", NULL);
	g_autofree char *got = NULL;
	g_assert_true(g_file_get_contents(path, &got, &len, &error));
	g_assert_cmpmem(got, len, expected, strlen(expected));
	g_unlink(path);
}

static void
test_write_errors(void)
{
	g_autoptr(KovMail) mail = load_ok("plain.eml", FALSE);
	g_autoptr(GError) error = NULL;

	/* A full disk is temporary: the mail waits for a retry. */
	int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
	g_assert_cmpint(full, >=, 0);
	g_assert_false(kov_message_write_fd(GMIME_OBJECT(mail->message), full, TRUE, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL);
	g_assert_true(kov_error_is_temporary(error));
	close(full);
	g_clear_error(&error);

	/* A closed descriptor is an I/O error. */
	int fds[2];
	g_assert_cmpint(pipe(fds), ==, 0);
	close(fds[1]);
	g_assert_false(kov_message_write_fd(GMIME_OBJECT(mail->message), fds[1], TRUE, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_IOERR);
	close(fds[0]);
	g_clear_error(&error);

	/* A pipe (sendmail's stdin) works although it cannot be fsynced. */
	g_assert_cmpint(pipe(fds), ==, 0);
	g_assert_true(kov_message_write_fd(GMIME_OBJECT(mail->message), fds[1], FALSE, &error));
	g_assert_no_error(error);
	close(fds[1]);
	gsize orig_len;
	g_autofree char *orig = fixture_contents("plain.eml", &orig_len);
	g_autofree char *buf = g_malloc(orig_len + 16);
	gsize got = 0;
	ssize_t n;
	while ((n = read(fds[0], buf + got, orig_len + 16 - got)) > 0)
		got += n;
	close(fds[0]);
	g_assert_cmpmem(buf, got, orig, orig_len);

	/* A reader that went away: EPIPE, an I/O error (SIGPIPE ignored, as a
	 * program that writes to sendmail must). */
	signal(SIGPIPE, SIG_IGN);
	g_assert_cmpint(pipe(fds), ==, 0);
	close(fds[0]);
	g_assert_false(kov_message_write_fd(GMIME_OBJECT(mail->message), fds[1], FALSE, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_IOERR);
	close(fds[1]);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	g_test_add_func("/message/plain", test_plain);
	g_test_add_func("/message/roles", test_roles);
	g_test_add_func("/message/duplicate-is-bcc", test_duplicate_is_bcc);
	g_test_add_func("/message/group", test_group);
	g_test_add_func("/message/envelope", test_envelope);
	g_test_add_func("/message/envelope-anywhere", test_envelope_anywhere);
	g_test_add_func("/message/delivered-to", test_delivered_to);
	g_test_add_func("/message/envelope-block", test_envelope_block);
	g_test_add_func("/message/from-single", test_from_single);
	g_test_add_func("/message/rewrite-envelope", test_rewrite_envelope);
	g_test_add_func("/message/rewrite-envelope-fixtures", test_rewrite_envelope_fixtures);
	g_test_add_func("/message/null-sender", test_null_sender);
	g_test_add_func("/message/not-usable", test_not_usable);
	g_test_add_func("/message/junk", test_junk);
	g_test_add_func("/message/nul-in-header", test_nul_in_header);
	g_test_add_func("/message/crlf-in-address", test_crlf_in_address);
	g_test_add_func("/message/bad-addresses", test_bad_addresses);
	g_test_add_func("/message/already-encrypted", test_already_encrypted);
	g_test_add_func("/message/directives", test_directives);
	g_test_add_func("/message/directives-envelope", test_directives_envelope);
	g_test_add_func("/message/x-kuvert", test_x_kuvert);
	g_test_add_func("/message/resent-to", test_resent_to);
	g_test_add_func("/message/strip", test_strip);
	g_test_add_func("/message/strip-no-to", test_strip_no_to);
	g_test_add_func("/message/strip-untouched", test_strip_untouched);
	g_test_add_func("/message/eightbit", test_eightbit);
	g_test_add_func("/message/write-newlines", test_write_newlines);
	g_test_add_func("/message/write-binary", test_write_binary);
	g_test_add_func("/message/write-offset", test_write_offset);
	g_test_add_func("/message/write-short", test_write_short);
	g_test_add_func("/message/write-short-blocks", test_write_short_blocks);
	g_test_add_func("/message/write-errors", test_write_errors);
	int rc = g_test_run();
	g_mime_shutdown();
	return rc;
}
