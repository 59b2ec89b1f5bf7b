/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of lib/mail/dsn.c. Every report is written as it would go out (CRLF)
 * and read back by two real parsers: GMime, and Python's email package
 * (which knows message/delivery-status and splits it into field blocks).
 * Leak checks look for marker strings of the original's body and
 * attachment in the raw bytes and in every decoded part; a control report
 * that does return the body proves the check can see them. */
#include "dsn.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <sys/mman.h>

#include "gmime-autoptr.h"
#include "error.h"
#include "fixture.h"
#include "message.h"

#define BODY_MARKER   "BODY-MARKER-7f3a9c"
#define ATTACH_MARKER "ATTACH-MARKER-51e2"
#define ARRIVAL       G_GINT64_CONSTANT(1795600000)

/* Prints what Python's email package makes of a report, one key=value per
 * line: the structure, each delivery-status block's fields, the returned
 * original's headers, and whether each marker (the arguments) shows anywhere,
 * raw or decoded. The test asserts on these values. */
static const char python_check[] =
	"import sys, email.policy, email.utils\n"
	"from email.parser import BytesParser, HeaderParser\n"
	"raw = sys.stdin.buffer.read()\n"
	"m = BytesParser(policy=email.policy.default).parsebytes(raw)\n"
	"def out(k, v): print('%s=%s' % (k, v))\n"
	"out('type', m.get_content_type())\n"
	"out('report-type', m.get_param('report-type'))\n"
	"out('auto-submitted', m['Auto-Submitted'])\n"
	"out('from', m['From'].addresses[0].addr_spec)\n"
	"out('to', ','.join(a.addr_spec for a in m['To'].addresses))\n"
	"out('date', m['Date'].datetime is not None)\n"
	"out('message-id', m['Message-ID'] is not None)\n"
	"parts = m.get_payload()\n"
	"out('parts', ','.join(p.get_content_type() for p in parts))\n"
	"ds = parts[1]\n"
	"out('ds-cte', ds.get('Content-Transfer-Encoding', '7bit').lower())\n"
	"blocks = ds.get_payload()\n"
	"out('blocks', len(blocks))\n"
	"for k, v in blocks[0].items(): out('msg.' + k.lower(), v)\n"
	"if blocks[0]['Arrival-Date'] is not None:\n"
	"    d = email.utils.parsedate_to_datetime(str(blocks[0]['Arrival-Date']))\n"
	"    out('arrival', int(d.timestamp()))\n"
	"for i, b in enumerate(blocks[1:]):\n"
	"    out('rcpt%d.fields' % i, ','.join(k.lower() for k in b.keys()))\n"
	"    for k, v in b.items(): out('rcpt%d.%s' % (i, k.lower()), v)\n"
	"if len(parts) > 2:\n"
	"    third = parts[2]\n"
	"    if third.get_content_type() == 'text/rfc822-headers':\n"
	"        h = HeaderParser(policy=email.policy.default).parsestr(third.get_content())\n"
	"    else:\n"
	"        h = third.get_payload()[0]\n"
	"    out('third-cte', third.get('Content-Transfer-Encoding', '7bit').lower())\n"
	"    for k, v in h.items(): out('orig.' + k.lower(), v)\n"
	"for marker in sys.argv[1:]:\n"
	"    found = marker.encode() in raw\n"
	"    for p in m.walk():\n"
	"        if p.is_multipart(): continue\n"
	"        data = p.get_payload(decode=True)\n"
	"        found = found or (data is not None and marker.encode() in data)\n"
	"    out('marker.' + marker, 'present' if found else 'absent')\n"
	"out('text', parts[0].get_content().replace('\\n', '|'))\n"
	"out('defects', sum(len(p.defects) for p in m.walk()))\n";

static GMimeMessage *
parse_fixture(const char *name)
{
	gsize len = 0;
	g_autofree char *text = kov_test_dist_read(&len, "mail", name, NULL);
	return kov_test_message_parse(text, len);
}

static GMimeMessage *
parse_string(const char *text)
{
	return kov_test_message_parse(text, strlen(text));
}

/* A written report: its bytes exactly as kov_message_write_fd() wrote them
 * (CRLF, as for SMTP), through a memfd, so that no file outlives a failed
 * test. */
typedef struct {
	char *data;
	gsize len;
} Written;

static void
written_free(Written *w)
{
	g_free(w->data);
	g_free(w);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Written, written_free)

static Written *
write_report(GMimeMessage *report)
{
	g_autoptr(GError) error = NULL;
	int fd = memfd_create("kov-dsn", MFD_CLOEXEC);
	g_assert_cmpint(fd, >=, 0);
	g_assert_true(kov_message_write_fd(GMIME_OBJECT(report), fd, TRUE, &error));
	g_assert_no_error(error);

	Written *w = g_new0(Written, 1);
	off_t size = lseek(fd, 0, SEEK_END);
	g_assert_cmpint(size, >, 0);
	w->len = size;
	w->data = g_malloc(w->len + 1);
	g_assert_cmpint(pread(fd, w->data, w->len, 0), ==, (gssize)w->len);
	w->data[w->len] = '\0';
	close(fd);
	return w;
}

/* Python's view of @w: key -> value; a key seen twice has its values
 * joined by '\n', so an injected duplicate field cannot hide. */
static GHashTable *
python_view(const Written *w, const char *const *markers)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_ptr_array_add(argv, (char *)"/usr/bin/python3");
	g_ptr_array_add(argv, (char *)"-c");
	g_ptr_array_add(argv, (char *)python_check);
	for (gsize i = 0; markers != NULL && markers[i] != NULL; i++)
		g_ptr_array_add(argv, (char *)markers[i]);
	g_ptr_array_add(argv, NULL);

	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocess) python = g_subprocess_newv(
		(const char *const *)argv->pdata,
		G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
		&error);
	g_assert_no_error(error);
	g_autoptr(GBytes) input = g_bytes_new_static(w->data, w->len);
	g_autoptr(GBytes) out_bytes = NULL;
	g_autoptr(GBytes) err_bytes = NULL;
	g_subprocess_communicate(python, input, NULL, &out_bytes, &err_bytes, &error);
	g_assert_no_error(error);
	g_autofree char *out = g_strndup(g_bytes_get_data(out_bytes, NULL), g_bytes_get_size(out_bytes));
	g_autofree char *err = g_strndup(g_bytes_get_data(err_bytes, NULL), g_bytes_get_size(err_bytes));
	if (!g_subprocess_get_successful(python))
		g_error("python could not read the report: %s\n%s", err, w->data);

	GHashTable *view = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
	for (gsize i = 0; lines[i] != NULL; i++) {
		char *eq = strchr(lines[i], '=');
		if (eq == NULL)
			continue;
		char *key = g_strndup(lines[i], eq - lines[i]);
		const char *old = g_hash_table_lookup(view, key);
		char *value = old ? g_strconcat(old, "\n", eq + 1, NULL) : g_strdup(eq + 1);
		g_hash_table_replace(view, key, value);
	}
	return view;
}

static void
assert_view(GHashTable *view, const char *key, const char *expected)
{
	const char *value = g_hash_table_lookup(view, key);
	if (g_strcmp0(value, expected) != 0)
		g_error("python: %s is \"%s\", expected \"%s\"", key, value ? value : "(none)",
		        expected ? expected : "(none)");
}

/* ---- GMime's view ------------------------------------------------------ */

static char *
part_content(GMimeObject *object)
{
	g_assert_true(GMIME_IS_PART(object));
	GMimeDataWrapper *wrapper = g_mime_part_get_content(GMIME_PART(object));
	g_autoptr(GMimeStream) mem = g_mime_stream_mem_new();
	g_assert_cmpint(g_mime_data_wrapper_write_to_stream(wrapper, mem), >=, 0);
	GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	return g_strndup((const char *)bytes->data, bytes->len);
}

/* The field blocks of a message/delivery-status body, each parsed by
 * GMime as the header of a message whose body is the remaining blocks. */
static GPtrArray *
gmime_blocks(const char *fields)
{
	GPtrArray *blocks = g_ptr_array_new_with_free_func(g_object_unref);
	g_autofree char *rest = g_strdup(fields);

	while (*g_strstrip(rest) != '\0') {
		g_autoptr(GMimeMessage) block = parse_string(rest);
		GMimeObject *body = g_mime_message_get_mime_part(block);
		g_assert_true(GMIME_IS_TEXT_PART(body));
		g_free(rest);
		rest = g_mime_text_part_get_text(GMIME_TEXT_PART(body));
		g_ptr_array_add(blocks, g_steal_pointer(&block));
		g_assert_cmpuint(blocks->len, <, 100);
	}
	return blocks;
}

static void
assert_field(GMimeMessage *block, const char *name, const char *expected)
{
	const char *value = g_mime_object_get_header(GMIME_OBJECT(block), name);
	g_autofree char *unfolded = value ? g_mime_utils_header_unfold(value) : NULL;
	g_assert_cmpstr(unfolded, ==, expected);
}

/* Check a written report with GMime; returns the third part or NULL. */
static GMimeObject *
gmime_check(const Written *w, guint expect_parts, GPtrArray **blocks_out)
{
	g_autoptr(GMimeMessage) report = parse_string(w->data);
	GMimeObject *top = g_mime_message_get_mime_part(report);
	GMimeContentType *type = g_mime_object_get_content_type(top);

	g_assert_true(g_mime_content_type_is_type(type, "multipart", "report"));
	g_assert_cmpstr(g_mime_content_type_get_parameter(type, "report-type"), ==, "delivery-status");
	g_assert_cmpstr(g_mime_object_get_header(GMIME_OBJECT(report), "Auto-Submitted"), ==,
	                "auto-replied");
	g_assert_true(GMIME_IS_MULTIPART(top));
	GMimeMultipart *mp = GMIME_MULTIPART(top);
	g_assert_cmpint(g_mime_multipart_get_count(mp), ==, expect_parts);

	GMimeObject *text = g_mime_multipart_get_part(mp, 0);
	g_assert_true(g_mime_content_type_is_type(g_mime_object_get_content_type(text), "text", "plain"));
	GMimeObject *status = g_mime_multipart_get_part(mp, 1);
	g_assert_true(g_mime_content_type_is_type(g_mime_object_get_content_type(status), "message",
	                                          "delivery-status"));
	g_autofree char *fields = part_content(status);
	*blocks_out = gmime_blocks(fields);
	return expect_parts > 2 ? g_object_ref(g_mime_multipart_get_part(mp, 2)) : NULL;
}

static gsize
longest_line(const char *data)
{
	gsize longest = 0;
	for (const char *p = data; *p != '\0';) {
		gsize len = strcspn(p, "\n");
		longest = MAX(longest, len);
		p += len + (p[len] == '\n');
	}
	return longest;
}

/* ---- the reports ------------------------------------------------------- */

static const KovDsnRecipient two_rcpts[] = {
	{ "bob@example.org", "5.1.1", "smtp; 550 5.1.1 <bob@example.org>: no such user",
	  "dns; smtp.example.org" },
	{ "carol@example.org", "5.7.1", "refused: no usable key for carol@example.org (no key)", NULL },
};

static KovDsnOptions
default_options(void)
{
	return (KovDsnOptions){
		.reporting_mta = "mx.example.org",
		.envelope_id = "1732528800.4711_2",
		.postmaster = "MAILER-DAEMON@mx.example.org",
		.sender = "alice@example.org",
		.include_headers = TRUE,
		.include_body = FALSE,
		.arrival = ARRIVAL,
	};
}

static GMimeMessage *
build_ok(const KovDsnOptions *options, GMimeMessage *original, const KovDsnRecipient *r, gsize n)
{
	g_autoptr(GError) error = NULL;
	GMimeMessage *report = kov_dsn_build(options, original, r, n, &error);
	g_assert_no_error(error);
	g_assert_nonnull(report);
	return report;
}

static const char *const markers[] = { BODY_MARKER, ATTACH_MARKER, "secret-bcc", NULL };

static void
test_structure(void)
{
	g_autoptr(GMimeMessage) original = parse_fixture("dsn-secret.eml");
	KovDsnOptions options = default_options();
	g_autoptr(GMimeMessage) report = build_ok(&options, original, two_rcpts, 2);
	g_autoptr(Written) w = write_report(report);

	g_autoptr(GPtrArray) blocks = NULL;
	g_autoptr(GMimeObject) third = gmime_check(w, 3, &blocks);
	g_assert_cmpuint(blocks->len, ==, 3);
	assert_field(blocks->pdata[0], "Reporting-MTA", "dns; mx.example.org");
	assert_field(blocks->pdata[0], "Original-Envelope-Id", "1732528800.4711_2");
	assert_field(blocks->pdata[1], "Final-Recipient", "rfc822; bob@example.org");
	assert_field(blocks->pdata[1], "Action", "failed");
	assert_field(blocks->pdata[1], "Status", "5.1.1");
	assert_field(blocks->pdata[1], "Remote-MTA", "dns; smtp.example.org");
	assert_field(blocks->pdata[1], "Diagnostic-Code",
	             "smtp; 550 5.1.1 <bob@example.org>: no such user");
	assert_field(blocks->pdata[2], "Final-Recipient", "rfc822; carol@example.org");
	assert_field(blocks->pdata[2], "Status", "5.7.1");
	assert_field(blocks->pdata[2], "Remote-MTA", NULL);
	assert_field(blocks->pdata[2], "Diagnostic-Code",
	             "X-Koverto; refused: no usable key for carol@example.org (no key)");
	g_assert_true(g_mime_content_type_is_type(g_mime_object_get_content_type(third), "text",
	                                          "rfc822-headers"));

	g_autoptr(GHashTable) py = python_view(w, markers);
	assert_view(py, "type", "multipart/report");
	assert_view(py, "report-type", "delivery-status");
	assert_view(py, "auto-submitted", "auto-replied");
	assert_view(py, "from", "MAILER-DAEMON@mx.example.org");
	assert_view(py, "to", "alice@example.org");
	assert_view(py, "date", "True");
	assert_view(py, "message-id", "True");
	assert_view(py, "parts", "text/plain,message/delivery-status,text/rfc822-headers");
	assert_view(py, "ds-cte", "7bit");
	assert_view(py, "blocks", "3");
	assert_view(py, "msg.reporting-mta", "dns; mx.example.org");
	assert_view(py, "msg.original-envelope-id", "1732528800.4711_2");
	g_autofree char *arrival = g_strdup_printf("%" G_GINT64_FORMAT, ARRIVAL);
	assert_view(py, "arrival", arrival);
	assert_view(py, "rcpt0.fields", "final-recipient,action,status,remote-mta,diagnostic-code");
	assert_view(py, "rcpt0.final-recipient", "rfc822; bob@example.org");
	assert_view(py, "rcpt0.action", "failed");
	assert_view(py, "rcpt0.status", "5.1.1");
	assert_view(py, "rcpt0.remote-mta", "dns; smtp.example.org");
	assert_view(py, "rcpt0.diagnostic-code", "smtp; 550 5.1.1 <bob@example.org>: no such user");
	assert_view(py, "rcpt1.fields", "final-recipient,action,status,diagnostic-code");
	assert_view(py, "rcpt1.final-recipient", "rfc822; carol@example.org");
	assert_view(py, "rcpt1.status", "5.7.1");
	/* The original's headers came back, without the private ones. */
	assert_view(py, "orig.subject", "quarterly figures");
	assert_view(py, "orig.message-id", "<dsn-secret@example.org>");
	assert_view(py, "orig.to", "Bob <bob@example.org>");
	assert_view(py, "orig.cc", "carol@example.org");
	assert_view(py, "orig.bcc", NULL);
	assert_view(py, "orig.x-kuvert-to", NULL);
	assert_view(py, "orig.x-kuvert-from", NULL);
	assert_view(py, "orig.return-path", NULL);
	assert_view(py, "marker.secret-bcc", "absent");
	assert_view(py, "marker." BODY_MARKER, "absent");
	assert_view(py, "marker." ATTACH_MARKER, "absent");
	assert_view(py, "defects", "0");
	const char *text = g_hash_table_lookup(py, "text");
	g_assert_nonnull(strstr(text, "<bob@example.org>: status 5.1.1"));
	g_assert_nonnull(strstr(text, "1732528800.4711_2"));
	g_assert_null(strstr(text, "quarterly"));

	/* The caller's mail is untouched: process.c may still need it. */
	g_assert_cmpstr(g_mime_object_get_header(GMIME_OBJECT(original), "Bcc"), ==,
	                "secret-bcc@example.net");
}

/* must-encrypt: include_body FALSE. Nothing of the body or the attachment
 * reaches the report; the control with include_body TRUE shows that the
 * same check finds both when they are there. */
static void
test_no_body(void)
{
	g_autoptr(GMimeMessage) original = parse_fixture("dsn-secret.eml");
	KovDsnOptions options = default_options();

	for (int headers = 0; headers <= 1; headers++) {
		options.include_headers = headers;
		g_autoptr(GMimeMessage) report = build_ok(&options, original, two_rcpts, 2);
		g_autoptr(Written) w = write_report(report);
		g_autoptr(GHashTable) py = python_view(w, markers);
		assert_view(py, "marker." BODY_MARKER, "absent");
		assert_view(py, "marker." ATTACH_MARKER, "absent");
		assert_view(py, "marker.secret-bcc", "absent");
		assert_view(py, "parts", headers ? "text/plain,message/delivery-status,text/rfc822-headers"
		                                 : "text/plain,message/delivery-status");
		g_assert_null(strstr(w->data, BODY_MARKER));
	}

	options.include_body = TRUE;
	g_autoptr(GMimeMessage) report = build_ok(&options, original, two_rcpts, 2);
	g_autoptr(Written) w = write_report(report);
	g_autoptr(GHashTable) py = python_view(w, markers);
	assert_view(py, "parts", "text/plain,message/delivery-status,message/rfc822");
	assert_view(py, "marker." BODY_MARKER, "present");
	assert_view(py, "marker." ATTACH_MARKER, "present");
	assert_view(py, "orig.subject", "quarterly figures");
	assert_view(py, "orig.bcc", NULL);
	assert_view(py, "orig.x-kuvert-to", NULL);
	assert_view(py, "marker.secret-bcc", "absent");
	assert_view(py, "defects", "0");
	/* Even then the human-readable part quotes nothing of it. */
	g_assert_null(strstr(g_hash_table_lookup(py, "text"), BODY_MARKER));

	g_autoptr(GPtrArray) blocks = NULL;
	g_autoptr(GMimeObject) third = gmime_check(w, 3, &blocks);
	g_assert_true(GMIME_IS_MESSAGE_PART(third));
	GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(third));
	g_assert_cmpstr(g_mime_message_get_subject(inner), ==, "quarterly figures");
	g_assert_null(g_mime_object_get_header(GMIME_OBJECT(inner), "Bcc"));
}

/* An unparsable mail has no GMimeMessage: the report has two parts. */
static void
test_no_original(void)
{
	KovDsnOptions options = default_options();
	options.envelope_id = NULL;
	options.arrival = 0;
	g_autoptr(GMimeMessage) report = build_ok(&options, NULL, two_rcpts, 1);
	g_autoptr(Written) w = write_report(report);
	g_autoptr(GPtrArray) blocks = NULL;
	g_autoptr(GMimeObject) third = gmime_check(w, 2, &blocks);
	g_assert_null(third);
	g_assert_cmpuint(blocks->len, ==, 2);
	assert_field(blocks->pdata[0], "Original-Envelope-Id", NULL);
	assert_field(blocks->pdata[0], "Arrival-Date", NULL);

	g_autoptr(GHashTable) py = python_view(w, NULL);
	assert_view(py, "parts", "text/plain,message/delivery-status");
	assert_view(py, "blocks", "2");
	assert_view(py, "msg.original-envelope-id", NULL);
	assert_view(py, "arrival", NULL);
	assert_view(py, "rcpt0.status", "5.1.1");
}

/* CR/LF in a diagnostic or a remote MTA stays inside its one field: no
 * injected field, no extra recipient block, no raw 8-bit, no overlong line. */
static void
test_injection(void)
{
	g_autofree char *longword = g_strnfill(3000, 'x');
	g_autofree char *longdiag = g_strdup_printf("550 5.1.1 %s", longword);
	const KovDsnRecipient rcpts[] = {
		{ "bob@example.org", "5.1.1",
		  "smtp; 550 5.1.1 bad\r\nX-Injected: yes\r\n\r\nFinal-Recipient: rfc822; evil@example.org",
		  "smtp.example.org\r\nX-Also: injected" },
		{ "carol@example.org", "5.0.0", "reason with \xc3\xa9 8-bit\tand\x01 controls", NULL },
		{ "dave@example.org", "5.1.1", longdiag, NULL },
	};
	KovDsnOptions options = default_options();
	options.envelope_id = "id+1=x y\r\nZ";
	g_autoptr(GMimeMessage) report = build_ok(&options, NULL, rcpts, G_N_ELEMENTS(rcpts));
	g_autoptr(Written) w = write_report(report);

	g_autoptr(GHashTable) py = python_view(w, NULL);
	assert_view(py, "blocks", "4");
	assert_view(py, "rcpt0.fields", "final-recipient,action,status,remote-mta,diagnostic-code");
	assert_view(py, "rcpt0.final-recipient", "rfc822; bob@example.org");
	assert_view(py, "rcpt0.diagnostic-code",
	            "smtp; 550 5.1.1 bad X-Injected: yes Final-Recipient: rfc822; evil@example.org");
	assert_view(py, "rcpt0.remote-mta", "dns; smtp.example.org X-Also: injected");
	assert_view(py, "rcpt1.diagnostic-code", "X-Koverto; reason with ?? 8-bit and controls");
	assert_view(py, "msg.original-envelope-id", "id+2B1+3Dx+20y+0D+0AZ");
	assert_view(py, "defects", "0");
	const char *long_seen = g_hash_table_lookup(py, "rcpt2.diagnostic-code");
	g_assert_nonnull(long_seen);
	g_assert_true(g_str_has_prefix(long_seen, "smtp; 550 5.1.1 xxx"));
	g_assert_true(g_str_has_suffix(long_seen, "..."));
	g_assert_cmpuint(strlen(long_seen), <, 900);

	g_assert_cmpuint(longest_line(w->data), <=, 998);
	for (gsize i = 0; i < w->len; i++)
		g_assert_cmpuint((guchar)w->data[i], <, 0x80);
	g_assert_null(strstr(w->data, "\nX-Injected"));
	g_assert_null(strstr(w->data, "\nX-Also"));
}

/* Raw 8-bit header bytes come back quoted-printable: the report stays
 * 7-bit for any SMTP server, and both parsers still read the headers. */
static void
test_eightbit_headers(void)
{
	g_autoptr(GMimeMessage) original = parse_fixture("eightbit.eml");
	KovDsnOptions options = default_options();
	g_autoptr(GMimeMessage) report = build_ok(&options, original, two_rcpts, 1);
	g_autoptr(Written) w = write_report(report);

	for (gsize i = 0; i < w->len; i++)
		g_assert_cmpuint((guchar)w->data[i], <, 0x80);
	g_autoptr(GHashTable) py = python_view(w, NULL);
	assert_view(py, "parts", "text/plain,message/delivery-status,text/rfc822-headers");
	assert_view(py, "third-cte", "quoted-printable");
	assert_view(py, "orig.content-transfer-encoding", "8bit");
	g_assert_nonnull(strstr(g_hash_table_lookup(py, "orig.to"), "<mueller@example.org>"));

	g_autoptr(GPtrArray) blocks = NULL;
	g_autoptr(GMimeObject) third = gmime_check(w, 3, &blocks);
	g_autofree char *headers = part_content(third);
	g_autoptr(GMimeMessage) back = parse_string(headers);
	/* GMime files the Content-* headers under the message's body part. */
	GMimeObject *body = g_mime_message_get_mime_part(back);
	g_assert_cmpstr(g_mime_object_get_header(body, "Content-Transfer-Encoding"), ==, "8bit");
	InternetAddressList *to = g_mime_message_get_to(back);
	g_assert_cmpint(internet_address_list_length(to), ==, 2);
	InternetAddress *second = internet_address_list_get_address(to, 1);
	g_assert_cmpstr(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(second)), ==,
	                "mueller@example.org");
}

static void
assert_build_fails(const KovDsnOptions *options, const KovDsnRecipient *r, const char *needle)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GMimeMessage) report = kov_dsn_build(options, NULL, r, 1, &error);
	g_assert_null(report);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_DATAERR);
	if (strstr(error->message, needle) == NULL)
		g_error("\"%s\" does not mention \"%s\"", error->message, needle);
	g_assert_null(strchr(error->message, '\n'));
}

static void
test_bad_input(void)
{
	KovDsnOptions options = default_options();
	const KovDsnRecipient crlf[] = { { "bob@example.org\r\nBcc: x@example.org", "5.1.1", NULL, NULL } };
	const KovDsnRecipient eight[] = { { "b\xc3\xb6" "b@example.org", "5.1.1", NULL, NULL } };
	const KovDsnRecipient status[] = { { "bob@example.org", "5.1", NULL, NULL } };
	const KovDsnRecipient status2[] = { { "bob@example.org", "3.1.1", NULL, NULL } };
	const KovDsnRecipient good[] = { { "bob@example.org", "5.1.1", NULL, NULL } };

	assert_build_fails(&options, crlf, "recipient address");
	assert_build_fails(&options, eight, "recipient address");
	assert_build_fails(&options, status, "status code");
	assert_build_fails(&options, status2, "status code");
	options.sender = "";
	assert_build_fails(&options, good, "null sender");
	options.sender = "alice@example.org\nBcc: x@example.org";
	assert_build_fails(&options, good, "sender address");
	options = default_options();
	options.reporting_mta = "mx.example.org extra";
	assert_build_fails(&options, good, "reporting MTA");
	options = default_options();
	options.postmaster = "";
	assert_build_fails(&options, good, "postmaster");
	/* And the same recipient with sane options builds. */
	options = default_options();
	g_autoptr(GMimeMessage) report = build_ok(&options, NULL, good, 1);
}

static void
test_suppressed(void)
{
	g_assert_true(kov_dsn_suppressed("", NULL));
	g_assert_true(kov_dsn_suppressed("<>", NULL));
	g_assert_true(kov_dsn_suppressed("MAILER-DAEMON@mx.example.org", NULL));
	g_assert_true(kov_dsn_suppressed("mailer-daemon", NULL));
	g_assert_true(kov_dsn_suppressed("Postmaster@Example.org", NULL));
	g_assert_false(kov_dsn_suppressed("alice@example.org", NULL));
	g_assert_false(kov_dsn_suppressed("postmaster-fan@example.org", NULL));
	g_assert_false(kov_dsn_suppressed("mailer-daemon.fan@example.org", NULL));
	/* List bounce addresses want their bounces. */
	g_assert_false(kov_dsn_suppressed("owner-list@lists.example.org", NULL));
	g_assert_false(kov_dsn_suppressed("list-request@lists.example.org", NULL));

	static const struct {
		const char *header;
		gboolean suppressed;
	} cases[] = {
		{ "", FALSE },
		{ "Auto-Submitted: no\n", FALSE },
		{ "Auto-Submitted: No (typed by a person)\n", FALSE },
		{ "Auto-Submitted: auto-generated\n", TRUE },
		{ "Auto-Submitted: auto-replied\n", TRUE },
		{ "Auto-Submitted: auto-notified; owner-email=\"x@example.org\"\n", TRUE },
		{ "Auto-Submitted: no\nAuto-Submitted: auto-generated\n", TRUE },
		{ "auto-submitted: AUTO-GENERATED\n", TRUE },
		{ "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n", TRUE },
		{ "Content-Type: multipart/report; report-type=disposition-notification; boundary=b\n", TRUE },
		{ "Content-Type: multipart/mixed; boundary=b\n", FALSE },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *text = g_strdup_printf("From: alice@example.org\nTo: bob@example.org\n"
		                                        "Subject: test\n%s\n--b\n\nbody\n--b--\n",
		                                        cases[i].header);
		g_autoptr(GMimeMessage) original = parse_string(text);
		if (kov_dsn_suppressed("alice@example.org", original) != cases[i].suppressed)
			g_error("suppressed should be %d for \"%s\"", cases[i].suppressed, cases[i].header);
	}

	/* Our own report, sent on by someone, is never answered. */
	KovDsnOptions options = default_options();
	g_autoptr(GMimeMessage) report = build_ok(&options, NULL, two_rcpts, 1);
	g_assert_true(kov_dsn_suppressed("alice@example.org", report));
}

static void
test_status_for(void)
{
	static const struct {
		const char *reply;
		const char *status;
	} cases[] = {
		{ "550 5.1.1 <bob@example.org>: Recipient address rejected", "5.1.1" },
		{ "550-5.1.1 first line", "5.1.1" },
		{ "554 5.7.1 relay access denied", "5.7.1" },
		{ "552 5.2.2 mailbox full", "5.2.2" },
		{ "550 no such user", "5.0.0" },
		{ "550", "5.0.0" },
		{ "552 message size exceeds fixed limit", "5.3.4" },
		{ "552 too much", "5.3.4" },
		{ "451 4.3.0 try again later", "4.3.0" },
		{ "421 service not available", "4.0.0" },
		{ "550 4.1.1 class disagrees", "5.0.0" },
		{ "550 5.1.1234 detail too long", "5.0.0" },
		{ "550 5.1. truncated", "5.0.0" },
		{ "250 2.0.0 ok", "5.0.0" },
		{ "smtp; 550 5.1.1 no such user", "5.1.1" },
		{ "  550 5.4.4 leading space", "5.4.4" },
		{ "refused: no usable key for bob@example.org (no key)", "5.7.1" },
		{ "refused: no usable key for bob@example.org (present but not valid)", "5.7.1" },
		{ "sender mallory@example.org is not allowed in queue must-encrypt", "5.7.1" },
		{ "message size 12345678 exceeds the server's limit", "5.3.4" },
		{ "gave up after 5 days: 451 4.3.0 try again later", "4.4.7" },
		{ "not a mail: no header", "5.0.0" },
		{ "5501 not a reply", "5.0.0" },
		{ "", "5.0.0" },
		{ NULL, "5.0.0" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *status = kov_dsn_status_for(cases[i].reply);
		if (g_strcmp0(status, cases[i].status) != 0)
			g_error("status for \"%s\" is %s, expected %s", cases[i].reply ? cases[i].reply : "NULL",
			        status, cases[i].status);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	g_test_add_func("/dsn/structure", test_structure);
	g_test_add_func("/dsn/no-body", test_no_body);
	g_test_add_func("/dsn/no-original", test_no_original);
	g_test_add_func("/dsn/injection", test_injection);
	g_test_add_func("/dsn/eightbit-headers", test_eightbit_headers);
	g_test_add_func("/dsn/bad-input", test_bad_input);
	g_test_add_func("/dsn/suppressed", test_suppressed);
	g_test_add_func("/dsn/status-for", test_status_for);
	int rc = g_test_run();
	g_mime_shutdown();
	return rc;
}
