/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of lib/gpg/crypto.c with real GnuPG: what kov_crypto_sign and
 * kov_crypto_encrypt produce is written with CRLF as it would go out, parsed
 * again and checked by gpg itself in a reader home holding every fixture
 * secret key: signatures verify over the transmitted bytes, decryption gives
 * the original entity, only the intended keys can decrypt. Ciphertext bytes
 * are never compared. */
#include "gmime-autoptr.h"
#include "gpgme-autoptr.h"
#include "ciphertext.h"
#include "crypto.h"
#include "mime7bit.h"
#include "message.h"
#include "error.h"
#include "keys.h"
#include "fixture.h"

#include <fcntl.h>
#include <string.h>

static char *home;      /* koverto's keyring: setup-home */
static char *reader;    /* every secret key: setup-reader */
static KovKeys *keys;
static gpgme_key_t alice, sam, bob, carol;

#define TEXT_BODY \
	"Gr\xc3\xbc\xc3\x9f" "e, Bob!\n" \
	"From here on the text is 8-bit.\n" \
	"A line with a trailing space \n" \
	"-- \n" \
	"Alice\n"
#define FILENAME "B\xc3\xbc" "cher.bin"
#define SUBJECT "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln"

/* ---- helpers -------------------------------------------------------- */

typedef struct {
	char *dir;            /* scratch directory, also options.tempdir */
	gpgme_ctx_t ctx;
	KovCryptoOptions options;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	(void)data;
	f->dir = kov_test_tmpdir_new("kov");
	g_autoptr(GError) error = NULL;
	f->ctx = kov_keys_new_context(keys, &error);
	g_assert_no_error(error);
	f->options = (KovCryptoOptions){ .ctx = f->ctx, .tempdir = f->dir, .preamble = TRUE };
}

/* Only the files the test wrote itself may be left: crypto's temporary
 * files are unlinked at once. */
static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	(void)data;
	gpgme_release(f->ctx);
	g_assert_true(kov_test_tree_remove(f->dir));
	g_free(f->dir);
}

static void
assert_no_temp_files(Fixture *f)
{
	g_autoptr(GDir) dir = g_dir_open(f->dir, 0, NULL);
	g_assert_nonnull(dir);
	const char *name;
	while ((name = g_dir_read_name(dir)) != NULL)
		g_assert_false(g_str_has_prefix(name, "koverto-"));
}

static GMimeMessage *
parse_message(const char *text)
{
	return kov_test_message_parse(text, strlen(text));
}

/* @object as it goes out over SMTP: CRLF. (transfer full) */
static GByteArray *
to_crlf_bytes(GMimeObject *object)
{
	g_autoptr(GMimeStream) stream = g_mime_stream_mem_new();
	g_autoptr(GMimeFormatOptions) format = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(format, GMIME_NEWLINE_FORMAT_DOS);
	g_assert_cmpint(g_mime_object_write_to_stream(object, format, stream), >, 0);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
	return g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));
}

static GByteArray *
decoded_content(GMimeObject *object)
{
	g_assert_true(GMIME_IS_PART(object));
	g_autoptr(GMimeStream) stream = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(g_mime_part_get_content(GMIME_PART(object)), stream);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
	return g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));
}

static char *
crlf_to_lf(const guint8 *data, gsize len)
{
	GString *s = g_string_sized_new(len);
	for (gsize i = 0; i < len; i++)
		if (!(data[i] == '\r' && i + 1 < len && data[i + 1] == '\n'))
			g_string_append_c(s, data[i]);
	return g_string_free(s, FALSE);
}

static void
assert_7bit_bytes(const GByteArray *bytes)
{
	for (guint i = 0; i < bytes->len; i++)
		if (bytes->data[i] & 0x80)
			g_error("8-bit byte 0x%02x at offset %u", bytes->data[i], i);
}

static void
assert_leaf_7bit(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	(void)parent;
	(void)data;
	if (!GMIME_IS_PART(part))
		return;
	GMimeContentEncoding enc = g_mime_part_get_content_encoding(GMIME_PART(part));
	g_assert_cmpint(enc, !=, GMIME_CONTENT_ENCODING_8BIT);
	g_assert_cmpint(enc, !=, GMIME_CONTENT_ENCODING_BINARY);
}

static char *
write_file(Fixture *f, const char *name, const void *data, gsize len)
{
	char *path = g_build_filename(f->dir, name, NULL);
	g_autoptr(GError) error = NULL;
	g_assert_true(g_file_set_contents(path, data, len, &error));
	return path;
}

/* The status lines of @status starting with "[GNUPG:] @keyword ", split. */
static GPtrArray *
status_lines(const char *status, const char *keyword)
{
	GPtrArray *found = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
	g_autofree char *prefix = g_strdup_printf("[GNUPG:] %s ", keyword);
	g_auto(GStrv) lines = g_strsplit(status, "\n", -1);
	for (char **line = lines; *line != NULL; line++)
		if (g_str_has_prefix(*line, prefix))
			g_ptr_array_add(found, g_strsplit(*line, " ", -1));
	return found;
}

/* gpg --verify in the reader home; returns its status output. */
static char *
gpg_verify(Fixture *f, const GByteArray *signature, const guint8 *data, gsize len)
{
	g_autofree char *sig = write_file(f, "sig.asc", signature->data, signature->len);
	g_autofree char *text = write_file(f, "signed.bin", data, len);
	const char *argv[] = { "gpg", "--homedir", reader, "--batch", "--no-tty", "--status-fd", "1",
	                       "--verify", sig, text, NULL };
	return kov_test_run(argv);
}

/* gpg --decrypt in the reader home; *plain gets the plaintext. */
static char *
gpg_decrypt(Fixture *f, const GByteArray *ciphertext, char **plain, gsize *plain_len)
{
	g_autofree char *in = write_file(f, "cipher.asc", ciphertext->data, ciphertext->len);
	g_autofree char *out = g_build_filename(f->dir, "plain.out", NULL);
	const char *argv[] = { "gpg", "--homedir", reader, "--batch", "--no-tty", "--status-fd", "1",
	                       "--yes", "--output", out, "--decrypt", in, NULL };
	char *status = kov_test_run(argv);
	g_assert_true(g_file_get_contents(out, plain, plain_len, NULL));
	return status;
}

/* The primary fingerprint in the one VALIDSIG line of @status; *hash and
 * *sigclass get gpg's hash algorithm number and signature class. */
static char *
valid_signer(const char *status, int *hash, char **sigclass)
{
	g_autoptr(GPtrArray) valid = status_lines(status, "VALIDSIG");
	g_assert_cmpuint(valid->len, ==, 1);
	char **f = valid->pdata[0];
	g_assert_cmpuint(g_strv_length(f), >=, 12);
	if (hash != NULL)
		*hash = atoi(f[9]);
	if (sigclass != NULL)
		*sigclass = g_strdup(f[10]);
	return g_strdup(f[11]);
}

static GString *
multipart_mail(void)
{
	GString *m = g_string_new(
		"From: =?UTF-8?Q?Alice_S=C3=A4nder?= <alice@example.org>\n"
		"To: Bob Keyed <bob@example.net>\n"
		"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\n"
		"Date: Wed, 25 Nov 2026 15:00:00 +0000\n"
		"Message-ID: <mp@example.org>\n"
		"MIME-Version: 1.0\n"
		"Content-Type: multipart/mixed; boundary=\"=-outer\"\n"
		"X-Custom: stays outside\n"
		"\n"
		"--=-outer\n"
		"Content-Type: text/plain; charset=utf-8\n"
		"Content-Transfer-Encoding: 8bit\n"
		"Content-Description: Gr\xc3\xbc\xc3\x9f" "e\n"
		"\n"
		TEXT_BODY
		"\n--=-outer\n"
		"Content-Type: application/octet-stream; name=\"" FILENAME "\"\n"
		"Content-Transfer-Encoding: binary\n"
		"Content-Disposition: attachment; filename=\"" FILENAME "\"\n"
		"\n");
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 256; i++)
			g_string_append_c(m, (char)i);
	g_string_append(m, "\n--=-outer--\n");
	return m;
}

static void
binary_attachment(guint8 *out)
{
	for (int i = 0; i < 512; i++)
		out[i] = (guint8)(i & 0xff);
}

static const char plain_mail[] =
	"From: Alice Sender <alice@example.org>\n"
	"To: Dave Nokey <dave@example.com>\n"
	"Subject: plain\n"
	"Date: Wed, 25 Nov 2026 15:00:00 +0000\n"
	"Message-ID: <plain@example.org>\n"
	"X-Custom: stays outside\n"
	"\n"
	"Hello Dave,\n"
	"From the start: plain 7-bit text.\n"
	"-- \n"
	"Alice\n";

/* Names of @message's top-level headers, in order, joined by ",". */
static char *
header_names(GMimeMessage *message)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(GMIME_OBJECT(message));
	GString *names = g_string_new(NULL);
	for (int i = 0; i < g_mime_header_list_get_count(list); i++)
		g_string_append_printf(names, "%s%s", i ? "," : "",
		                       g_mime_header_get_name(g_mime_header_list_get_header_at(list, i)));
	return g_string_free(names, FALSE);
}

/* ---- checking a signed copy ----------------------------------------- */

typedef struct {
	GMimeMessage *message;   /* parsed from the transmitted bytes */
	GMimeObject *content;    /* first part, parsed from exactly the signed bytes */
	char *status;            /* gpg --verify */
} Signed;

static void
signed_clear(Signed *s)
{
	g_clear_object(&s->message);
	g_clear_object(&s->content);
	g_free(s->status);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Signed, signed_clear)

/* Transmit @out (CRLF), check the RFC 3156 shape, cut out the first part
 * exactly as transmitted and let gpg verify it: the signer must be
 * @fixture's key, text mode, hash = micalg. */
static void
check_signed(Fixture *f, GMimeMessage *out, const char *fixture, gboolean preamble, Signed *s)
{
	g_autoptr(GByteArray) wire = to_crlf_bytes(GMIME_OBJECT(out));
	assert_7bit_bytes(wire);
	s->message = kov_test_message_parse((const char *)wire->data, wire->len);
	GMimeObject *top = g_mime_message_get_mime_part(s->message);
	g_assert_true(GMIME_IS_MULTIPART_SIGNED(top));
	GMimeContentType *type = g_mime_object_get_content_type(top);
	g_assert_cmpstr(g_mime_content_type_get_parameter(type, "protocol"), ==, "application/pgp-signature");
	const char *micalg = g_mime_content_type_get_parameter(type, "micalg");
	g_assert_nonnull(micalg);
	const char *boundary = g_mime_content_type_get_parameter(type, "boundary");
	g_assert_nonnull(boundary);
	GMimeMultipart *mp = GMIME_MULTIPART(top);
	g_assert_cmpint(g_mime_multipart_get_count(mp), ==, 2);
	if (preamble)
		g_assert_cmpstr(g_mime_multipart_get_prologue(mp), ==,
		                "This is a multi-part message in MIME format.\n"
		                "It has been signed conforming to RFC3156.\n"
		                "You need GPG to check the signature.\n");
	else
		g_assert_null(g_mime_multipart_get_prologue(mp));

	GMimeObject *sigpart = g_mime_multipart_get_part(mp, 1);
	g_assert_true(g_mime_content_type_is_type(g_mime_object_get_content_type(sigpart),
	                                          "application", "pgp-signature"));
	g_assert_cmpstr(g_mime_part_get_filename(GMIME_PART(sigpart)), ==, "signature.asc");
	g_assert_cmpint(g_mime_part_get_content_encoding(GMIME_PART(sigpart)), ==, GMIME_CONTENT_ENCODING_7BIT);
	g_autoptr(GByteArray) signature = decoded_content(sigpart);

	/* The signed bytes: after the first delimiter line, up to the CRLF
	 * that precedes the next one (RFC 3156 §5). */
	g_autofree char *delim = g_strdup_printf("\r\n--%s\r\n", boundary);
	g_autofree char *next = g_strdup_printf("\r\n--%s", boundary);
	const guint8 *hdr_end = memmem(wire->data, wire->len, "\r\n\r\n", 4);
	g_assert_nonnull(hdr_end);
	const guint8 *first = memmem(hdr_end, wire->len - (hdr_end - wire->data), delim, strlen(delim));
	g_assert_nonnull(first);
	const guint8 *start = first + strlen(delim);
	const guint8 *end = memmem(start, wire->len - (start - wire->data), next, strlen(next));
	g_assert_nonnull(end);

	s->status = gpg_verify(f, signature, start, end - start);
	int hash = 0;
	g_autofree char *sigclass = NULL;
	g_autofree char *signer = valid_signer(s->status, &hash, &sigclass);
	g_autofree char *want = kov_test_fingerprint(fixture);
	g_assert_cmpstr(signer, ==, want);
	g_assert_cmpstr(sigclass, ==, "01");   /* canonical text */
	g_autofree char *algo = g_ascii_strdown(gpgme_hash_algo_name(hash), -1);
	g_autofree char *want_micalg = g_strconcat("pgp-", algo, NULL);
	g_assert_cmpstr(micalg, ==, want_micalg);

	s->content = kov_test_part_parse((const char *)start, end - start);
	/* Only the entity is inside: no header of the mail's own. */
	GMimeHeaderList *inner = g_mime_object_get_header_list(s->content);
	for (int i = 0; i < g_mime_header_list_get_count(inner); i++)
		g_assert_true(g_str_has_prefix(g_mime_header_get_name(g_mime_header_list_get_header_at(inner, i)),
		                               "Content-"));
	g_mime_message_foreach(s->message, assert_leaf_7bit, NULL);
}

/* ---- tests: sign ---------------------------------------------------- */

static void
test_sign_plain(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GMimeMessage) in = parse_message(plain_mail);
	g_autoptr(GError) error = NULL;
	g_autoptr(GMimeMessage) out = kov_crypto_sign(&f->options, in, alice, &error);
	g_assert_no_error(error);
	g_assert_nonnull(out);
	assert_no_temp_files(f);

	g_auto(Signed) s = { 0 };
	check_signed(f, out, "alice", TRUE, &s);
	/* Headers stay outside, in order; MIME-Version is added once. */
	g_autofree char *names = header_names(s.message);
	g_assert_cmpstr(names, ==, "From,To,Subject,Date,Message-ID,X-Custom,MIME-Version");
	g_assert_cmpstr(g_mime_message_get_subject(s.message), ==, "plain");
	g_autoptr(GByteArray) body = decoded_content(s.content);
	g_autofree char *text = crlf_to_lf(body->data, body->len);
	g_assert_cmpstr(text, ==, strstr(plain_mail, "\n\n") + 2);
}

static void
test_sign_multipart(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GString) mail = multipart_mail();
	g_autoptr(GMimeMessage) in = kov_test_message_parse(mail->str, mail->len);
	g_autoptr(GError) error = NULL;
	g_autoptr(GMimeMessage) out = kov_crypto_sign(&f->options, in, sam, &error);
	g_assert_no_error(error);
	assert_no_temp_files(f);

	g_auto(Signed) s = { 0 };
	check_signed(f, out, "sam", TRUE, &s);

	g_autofree char *names = header_names(s.message);
	g_assert_cmpstr(names, ==, "From,To,Subject,Date,Message-ID,MIME-Version,X-Custom");
	g_assert_cmpstr(g_mime_message_get_subject(s.message), ==, SUBJECT);
	InternetAddressList *from = g_mime_message_get_from(s.message);
	g_assert_cmpstr(internet_address_get_name(internet_address_list_get_address(from, 0)), ==,
	                "Alice S\xc3\xa4nder");

	/* Inside: the original structure, re-encoded, same decoded content. */
	g_assert_true(GMIME_IS_MULTIPART(s.content));
	GMimeMultipart *mixed = GMIME_MULTIPART(s.content);
	g_assert_cmpint(g_mime_multipart_get_count(mixed), ==, 2);
	GMimeObject *text = g_mime_multipart_get_part(mixed, 0);
	g_assert_cmpint(g_mime_part_get_content_encoding(GMIME_PART(text)), ==,
	                GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
	g_assert_cmpstr(g_mime_part_get_content_description(GMIME_PART(text)), ==, "Gr\xc3\xbc\xc3\x9f" "e");
	g_autoptr(GByteArray) body = decoded_content(text);
	g_autofree char *body_text = crlf_to_lf(body->data, body->len);
	g_assert_cmpstr(body_text, ==, TEXT_BODY);

	GMimeObject *attachment = g_mime_multipart_get_part(mixed, 1);
	g_assert_cmpint(g_mime_part_get_content_encoding(GMIME_PART(attachment)), ==,
	                GMIME_CONTENT_ENCODING_BASE64);
	g_assert_cmpstr(g_mime_part_get_filename(GMIME_PART(attachment)), ==, FILENAME);
	g_autoptr(GByteArray) bin = decoded_content(attachment);
	guint8 want[512];
	binary_attachment(want);
	g_assert_cmpmem(bin->data, bin->len, want, sizeof want);
}

static void
test_sign_no_preamble(Fixture *f, gconstpointer data)
{
	(void)data;
	f->options.preamble = FALSE;
	g_autoptr(GMimeMessage) in = parse_message(plain_mail);
	g_autoptr(GError) error = NULL;
	g_autoptr(GMimeMessage) out = kov_crypto_sign(&f->options, in, alice, &error);
	g_assert_no_error(error);
	g_auto(Signed) s = { 0 };
	check_signed(f, out, "alice", FALSE, &s);
}

static void
test_sign_without_secret_key(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GMimeMessage) in = parse_message(plain_mail);
	g_autoptr(GError) error = NULL;
	g_autoptr(GMimeMessage) out = kov_crypto_sign(&f->options, in, bob, &error);
	g_assert_null(out);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL);
	g_test_message("%s", error->message);
	g_autofree char *fpr = kov_test_fingerprint("bob");
	g_assert_nonnull(strstr(error->message, fpr));
	assert_no_temp_files(f);
}

/* ---- tests: encrypt ------------------------------------------------- */

/* Long key IDs of @key's encryption subkeys. */
static GPtrArray *
encryption_keyids(gpgme_key_t key)
{
	GPtrArray *ids = g_ptr_array_new();
	for (gpgme_subkey_t sub = key->subkeys; sub != NULL; sub = sub->next)
		if (sub->can_encrypt)
			g_ptr_array_add(ids, sub->keyid);
	return ids;
}

static gboolean
keyid_in(GPtrArray *ids, const char *keyid)
{
	for (guint i = 0; i < ids->len; i++)
		if (g_ascii_strcasecmp(ids->pdata[i], keyid) == 0)
			return TRUE;
	return FALSE;
}

/* Transmit @out, check the RFC 3156 shape, decrypt with gpg; the session
 * key must be encrypted to exactly @to's keys. Returns gpg's status and
 * *entity the decrypted MIME entity. */
static char *
check_encrypted(Fixture *f, GMimeMessage *out, gpgme_key_t *to, GMimeObject **entity)
{
	g_autoptr(GByteArray) wire = to_crlf_bytes(GMIME_OBJECT(out));
	assert_7bit_bytes(wire);
	g_autoptr(GMimeMessage) msg = kov_test_message_parse((const char *)wire->data, wire->len);
	g_assert_cmpint(kov_ciphertext_classify(msg, TRUE, NULL, NULL), ==, KOV_CIPHERTEXT_PGP);
	GMimeObject *top = g_mime_message_get_mime_part(msg);
	g_assert_true(GMIME_IS_MULTIPART_ENCRYPTED(top));
	g_assert_cmpstr(g_mime_object_get_content_type_parameter(top, "protocol"), ==,
	                "application/pgp-encrypted");
	GMimeMultipart *mp = GMIME_MULTIPART(top);
	g_assert_cmpint(g_mime_multipart_get_count(mp), ==, 2);
	g_assert_cmpstr(g_mime_multipart_get_prologue(mp), ==,
	                "This is a multi-part message in MIME format.\n"
	                "It has been encrypted conforming to RFC3156.\n"
	                "You need GPG to view the content.\n");
	GMimeObject *control = g_mime_multipart_get_part(mp, 0);
	g_assert_true(g_mime_content_type_is_type(g_mime_object_get_content_type(control),
	                                          "application", "pgp-encrypted"));
	g_autoptr(GByteArray) version = decoded_content(control);
	g_autofree char *version_text = crlf_to_lf(version->data, version->len);
	g_assert_cmpstr(version_text, ==, "Version: 1\n");
	GMimeObject *payload = g_mime_multipart_get_part(mp, 1);
	g_assert_true(g_mime_content_type_is_type(g_mime_object_get_content_type(payload),
	                                          "application", "octet-stream"));
	g_assert_cmpint(g_mime_part_get_content_encoding(GMIME_PART(payload)), ==, GMIME_CONTENT_ENCODING_7BIT);
	g_autoptr(GByteArray) ciphertext = decoded_content(payload);
	g_assert_nonnull(memmem(ciphertext->data, ciphertext->len, "-----BEGIN PGP MESSAGE-----", 27));

	char *plain = NULL;
	gsize plain_len = 0;
	char *status = gpg_decrypt(f, ciphertext, &plain, &plain_len);
	/* The PKESK packets: one per intended key, none for anybody else. */
	g_autoptr(GPtrArray) enc_to = status_lines(status, "ENC_TO");
	guint n = 0;
	for (gpgme_key_t *k = to; *k != NULL; k++, n++) {
		g_autoptr(GPtrArray) ids = encryption_keyids(*k);
		gboolean found = FALSE;
		for (guint i = 0; i < enc_to->len; i++)
			found |= keyid_in(ids, ((char **)enc_to->pdata[i])[2]);
		g_assert_true(found);
	}
	g_assert_cmpuint(enc_to->len, ==, n);
	*entity = kov_test_part_parse(plain, plain_len);
	g_free(plain);
	return status;
}

static void
assert_same_multipart_content(GMimeObject *entity)
{
	g_assert_true(GMIME_IS_MULTIPART(entity));
	GMimeMultipart *mixed = GMIME_MULTIPART(entity);
	g_autoptr(GByteArray) body = decoded_content(g_mime_multipart_get_part(mixed, 0));
	g_autofree char *text = crlf_to_lf(body->data, body->len);
	g_assert_cmpstr(text, ==, TEXT_BODY);
	GMimeObject *attachment = g_mime_multipart_get_part(mixed, 1);
	g_assert_cmpstr(g_mime_part_get_filename(GMIME_PART(attachment)), ==, FILENAME);
	g_autoptr(GByteArray) bin = decoded_content(attachment);
	guint8 want[512];
	binary_attachment(want);
	g_assert_cmpmem(bin->data, bin->len, want, sizeof want);
}

static void
test_encrypt_signed(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GString) mail = multipart_mail();
	g_autoptr(GMimeMessage) in = kov_test_message_parse(mail->str, mail->len);
	gpgme_key_t to[] = { bob, NULL };
	g_autoptr(GError) error = NULL;
	g_autoptr(GMimeMessage) out = kov_crypto_encrypt(&f->options, in, to, alice, &error);
	g_assert_no_error(error);
	g_assert_nonnull(out);
	assert_no_temp_files(f);
	g_autofree char *names = header_names(out);
	g_assert_cmpstr(names, ==, "From,To,Subject,Date,Message-ID,MIME-Version,X-Custom");

	g_autoptr(GMimeObject) entity = NULL;
	g_autofree char *status = check_encrypted(f, out, to, &entity);
	g_autofree char *signer = valid_signer(status, NULL, NULL);
	g_autofree char *want = kov_test_fingerprint("alice");
	g_assert_cmpstr(signer, ==, want);
	assert_same_multipart_content(entity);
	g_autoptr(GByteArray) inner = to_crlf_bytes(entity);
	assert_7bit_bytes(inner);
}

static void
test_encrypt_unsigned_two(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GMimeMessage) in = parse_message(plain_mail);
	gpgme_key_t to[] = { bob, carol, NULL };
	g_autoptr(GError) error = NULL;
	g_autoptr(GMimeMessage) out = kov_crypto_encrypt(&f->options, in, to, NULL, &error);
	g_assert_no_error(error);
	g_autoptr(GMimeObject) entity = NULL;
	g_autofree char *status = check_encrypted(f, out, to, &entity);
	g_autoptr(GPtrArray) sigs = status_lines(status, "NEWSIG");
	g_assert_cmpuint(sigs->len, ==, 0);
	g_autoptr(GByteArray) body = decoded_content(entity);
	g_autofree char *text = crlf_to_lf(body->data, body->len);
	g_assert_cmpstr(text, ==, strstr(plain_mail, "\n\n") + 2);
}

static void
test_encrypt_unusable_key(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autofree char *erin_fpr = kov_test_fingerprint("erin");
	g_auto(gpgme_key_t) erin = NULL;
	g_assert_cmpint(gpgme_get_key(f->ctx, erin_fpr, &erin, 0), ==, 0);
	g_autoptr(GMimeMessage) in = parse_message(plain_mail);
	gpgme_key_t to[] = { erin, NULL };
	g_autoptr(GError) error = NULL;
	g_autoptr(GMimeMessage) out = kov_crypto_encrypt(&f->options, in, to, alice, &error);
	g_assert_null(out);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL);
	g_assert_nonnull(strstr(error->message, erin_fpr));
	assert_no_temp_files(f);
}

/* The fingerprint of @key's encryption subkey. (borrowed) */
static const char *
encryption_subkey_fpr(gpgme_key_t key)
{
	for (gpgme_subkey_t sub = key->subkeys; sub != NULL; sub = sub->next)
		if (sub->can_encrypt)
			return sub->fpr;
	g_error("key %s has no encryption subkey", key->fpr);
	return NULL;
}

/* Pinned recipients (the keys directory's): exactly those keys. */
static void
test_encrypt_pinned(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GMimeMessage) in = parse_message(plain_mail);
	g_autofree char *bob_pin = g_strconcat(encryption_subkey_fpr(bob), "!", NULL);
	const char *pins[] = { bob_pin, carol->fpr, NULL };
	g_autoptr(GError) error = NULL;
	g_autoptr(GMimeMessage) out = kov_crypto_encrypt_pinned(&f->options, in, pins, alice, &error);
	g_assert_no_error(error);
	assert_no_temp_files(f);
	gpgme_key_t to[] = { bob, carol, NULL };
	g_autoptr(GMimeObject) entity = NULL;
	g_autofree char *status = check_encrypted(f, out, to, &entity);
	g_autofree char *signer = valid_signer(status, NULL, NULL);
	g_autofree char *want = kov_test_fingerprint("alice");
	g_assert_cmpstr(signer, ==, want);
}

/* Only fingerprints reach gpg: a user ID would be looked up by gpg's own
 * rules, an option or a second line would change the command. An
 * expired pinned subkey is refused by gpg. */
static void
test_encrypt_pinned_refused(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autofree char *bob_fpr = g_strdup(bob->fpr);
	g_autofree char *two_lines = g_strdup_printf("%s\n%s", bob_fpr, bob_fpr);
	g_autofree char *two_bangs = g_strdup_printf("%s!!", bob_fpr);
	g_autofree char *short_id = g_strndup(bob_fpr, 16);
	g_autofree char *file = g_strdup_printf("--file");
	const char *bad[] = { "bob@example.net", "<bob@example.net>", file, two_lines, two_bangs, short_id,
	                      "", "!" };
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GMimeMessage) in = parse_message(plain_mail);
		const char *pins[] = { bob_fpr, bad[i], NULL };
		g_autoptr(GError) error = NULL;
		g_autoptr(GMimeMessage) out = kov_crypto_encrypt_pinned(&f->options, in, pins, alice, &error);
		g_assert_null(out);
		g_assert_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL);
		g_assert_nonnull(strstr(error->message, "is not a fingerprint"));
	}
	g_autofree char *hank_fpr = kov_test_fingerprint("hank");
	g_auto(gpgme_key_t) hank = NULL;
	g_assert_cmpint(gpgme_get_key(f->ctx, hank_fpr, &hank, 0), ==, 0);
	g_autofree char *hank_pin = g_strconcat(encryption_subkey_fpr(hank), "!", NULL);
	const char *pins[] = { hank_pin, NULL };
	g_autoptr(GMimeMessage) in = parse_message(plain_mail);
	g_autoptr(GError) error = NULL;
	g_autoptr(GMimeMessage) out = kov_crypto_encrypt_pinned(&f->options, in, pins, alice, &error);
	g_assert_null(out);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL);
	assert_no_temp_files(f);
}

/* ---- tests: 7-bit --------------------------------------------------- */

static void
test_make_7bit(void)
{
	g_autoptr(GMimeMessage) msg = parse_message(
		"Content-Type: multipart/mixed; boundary=\"b\"\n"
		"Content-Transfer-Encoding: 8bit\n"
		"\n"
		"Pr\xc3\xa4" "amble\n"
		"--b\n"
		"Content-Type: text/plain\n"
		"Content-Transfer-Encoding: 8bit\n"
		"\n"
		"only ASCII here\n"
		"--b\n"
		"Content-Type: text/plain\n"
		"\n"
		"From the start of a line\n"
		"--b\n"
		"Content-Type: message/rfc822\n"
		"Content-Transfer-Encoding: 8bit\n"
		"\n"
		"From: J\xc3\xbcrgen <j@example.org>\n"
		"Subject: Gr\xc3\xbc\xc3\x9f" "e\n"
		"Content-Type: text/plain; charset=utf-8\n"
		"Content-Transfer-Encoding: 8bit\n"
		"\n"
		"Gr\xc3\xbc\xc3\x9f" "e\n"
		"--b\n"
		"Content-Type: multipart/signed; boundary=\"s\"; protocol=\"application/pgp-signature\"\n"
		"\n"
		"--s\n"
		"Content-Type: text/plain; charset=utf-8\n"
		"Content-Transfer-Encoding: 8bit\n"
		"\n"
		"sign\xc3\xa9" "d\n"
		"--s\n"
		"Content-Type: application/pgp-signature\n"
		"\n"
		"sig\n"
		"--s--\n"
		"--b--\n");
	GMimeObject *top = g_mime_message_get_mime_part(msg);
	kov_mime7bit_repair(top);
	GMimeMultipart *mp = GMIME_MULTIPART(top);

	g_assert_null(g_mime_multipart_get_prologue(mp));
	g_assert_cmpstr(g_mime_object_get_header(top, "Content-Transfer-Encoding"), ==, "7bit");
	/* 7-bit clean but labelled 8bit: the label changes, not the body. */
	GMimePart *ascii = GMIME_PART(g_mime_multipart_get_part(mp, 0));
	g_assert_cmpint(g_mime_part_get_content_encoding(ascii), ==, GMIME_CONTENT_ENCODING_7BIT);
	/* "From " at a line start would be mangled by mbox delivery. */
	GMimePart *from = GMIME_PART(g_mime_multipart_get_part(mp, 1));
	g_assert_cmpint(g_mime_part_get_content_encoding(from), ==, GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
	/* message/rfc822: headers encoded, body re-encoded, container 7bit. */
	GMimeObject *rfc822 = g_mime_multipart_get_part(mp, 2);
	g_assert_cmpstr(g_mime_object_get_header(rfc822, "Content-Transfer-Encoding"), ==, "7bit");
	GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(rfc822));
	g_assert_cmpstr(g_mime_message_get_subject(inner), ==, "Gr\xc3\xbc\xc3\x9f" "e");
	/* A signed entity inside is left alone: re-encoding breaks it. */
	GMimeMultipart *nested = GMIME_MULTIPART(g_mime_multipart_get_part(mp, 3));
	g_assert_cmpint(g_mime_part_get_content_encoding(GMIME_PART(g_mime_multipart_get_part(nested, 0))), ==,
	                GMIME_CONTENT_ENCODING_8BIT);

	/* Everything but the nested signed entity is now 7-bit. */
	g_autoptr(GMimeObject) removed = g_mime_multipart_remove_at(mp, 3);
	g_autoptr(GByteArray) bytes = to_crlf_bytes(top);
	assert_7bit_bytes(bytes);
	g_autoptr(GMimeObject) again = kov_test_part_parse((const char *)bytes->data, bytes->len);
	GMimeObject *rfc822_again = g_mime_multipart_get_part(GMIME_MULTIPART(again), 2);
	GMimeMessage *inner_again = g_mime_message_part_get_message(GMIME_MESSAGE_PART(rfc822_again));
	g_assert_cmpstr(g_mime_message_get_subject(inner_again), ==, "Gr\xc3\xbc\xc3\x9f" "e");
	InternetAddress *from_again = internet_address_list_get_address(g_mime_message_get_from(inner_again), 0);
	g_assert_cmpstr(internet_address_get_name(from_again), ==, "J\xc3\xbcrgen");
	g_assert_cmpstr(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(from_again)), ==, "j@example.org");
	g_autoptr(GByteArray) body = decoded_content(g_mime_message_get_mime_part(inner_again));
	g_autofree char *text = crlf_to_lf(body->data, body->len);
	/* (the newline before the boundary belongs to the boundary) */
	g_assert_cmpstr(text, ==, "Gr\xc3\xbc\xc3\x9f" "e");
}

/* A part labelled x-uuencode that is not uuencoded (no "begin" line):
 * GMime's decoder would give nothing, and the recipient would get an
 * empty part. Its bytes are kept and encoded anew; real uuencode is
 * still decoded. */
static void
test_make_7bit_false_uuencode(void)
{
	static const char body[] = "R\0e\0:\0 \0p\0l\0a\0n\0 \0M\0A\0R\0K\0";
	g_autoptr(GString) mail = g_string_new("Content-Type: text/plain; charset=utf-16le\n"
	                                       "Content-Transfer-Encoding: x-uuencode\n\n");
	g_string_append_len(mail, body, sizeof body - 1);
	g_autoptr(GMimeObject) part = kov_test_part_parse(mail->str, mail->len);
	kov_mime7bit_repair(part);
	g_autoptr(GByteArray) bytes = to_crlf_bytes(part);
	assert_7bit_bytes(bytes);
	g_autoptr(GMimeObject) again = kov_test_part_parse((const char *)bytes->data, bytes->len);
	g_autoptr(GByteArray) decoded = decoded_content(again);
	g_assert_cmpmem(decoded->data, decoded->len, body, sizeof body - 1);

	static const char real_mail[] = "Content-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\n"
	                                "begin 644 f.txt\n#:&D*\n`\nend\n\x80\n";
	g_autoptr(GMimeObject) real = kov_test_part_parse(real_mail, sizeof real_mail - 1);
	kov_mime7bit_repair(real);
	g_autoptr(GByteArray) real_bytes = to_crlf_bytes(real);
	g_autoptr(GMimeObject) real_again = kov_test_part_parse((const char *)real_bytes->data, real_bytes->len);
	g_autoptr(GByteArray) real_decoded = decoded_content(real_again);
	g_assert_cmpmem(real_decoded->data, real_decoded->len, "hi\n", 3);
}

/* ---- main ----------------------------------------------------------- */

static gpgme_key_t
signing_key(const char *address)
{
	g_autoptr(GError) error = NULL;
	gpgme_key_t key = kov_keys_find_signing(keys, NULL, address, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(key);
	return key;
}

static gpgme_key_t
encryption_key(const char *address)
{
	g_autoptr(GError) error = NULL;
	gpgme_key_t key = NULL;
	g_assert_cmpint(kov_keys_find_encryption(keys, address, NULL, &key, NULL, &error), ==, KOV_KEY_USABLE);
	g_assert_no_error(error);
	return key;
}

#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	gpgme_check_version(NULL);

	home = kov_test_gnupghome_new("setup-home");
	reader = kov_test_gnupghome_new("setup-reader");
	g_autoptr(GError) error = NULL;
	keys = kov_keys_new(home, NULL, FALSE, &error);
	g_assert_no_error(error);
	alice = signing_key("alice@example.org");
	sam = signing_key("sam@example.org");
	bob = encryption_key("bob@example.net");
	carol = encryption_key("carol@example.net");

	ADD("/crypto/sign/plain", test_sign_plain);
	ADD("/crypto/sign/multipart-8bit", test_sign_multipart);
	ADD("/crypto/sign/no-preamble", test_sign_no_preamble);
	ADD("/crypto/sign/without-secret-key", test_sign_without_secret_key);
	ADD("/crypto/encrypt/signed", test_encrypt_signed);
	ADD("/crypto/encrypt/unsigned-two-recipients", test_encrypt_unsigned_two);
	ADD("/crypto/encrypt/unusable-key", test_encrypt_unusable_key);
	ADD("/crypto/encrypt/pinned", test_encrypt_pinned);
	ADD("/crypto/encrypt/pinned-refused", test_encrypt_pinned_refused);
	g_test_add_func("/crypto/make-7bit", test_make_7bit);
	g_test_add_func("/crypto/make-7bit-false-uuencode", test_make_7bit_false_uuencode);
	int rc = g_test_run();

	gpgme_key_unref(alice);
	gpgme_key_unref(sam);
	gpgme_key_unref(bob);
	gpgme_key_unref(carol);
	kov_keys_free(keys);
	kov_test_gnupghome_free(home);
	kov_test_gnupghome_free(reader);
	g_mime_shutdown();
	return rc;
}
