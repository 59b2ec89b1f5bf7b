/* SPDX-License-Identifier: GPL-3.0-or-later */
/* lib/mail/ciphertext.c: already encrypted is decided from the bytes. Genuine
 * mails (gpg, Thunderbird's shape, openssl smime and cms: t/mail/cipher,
 * made by t/mail/cipher/make) pass and are rewrapped with the same
 * ciphertext; each way of dressing plaintext as ciphertext does not. */
#include <glib.h>
#include <gmime/gmime.h>
#include <string.h>

#include "gmime-autoptr.h"
#include "ciphertext.h"
#include "fixture.h"

#define MARKER "MARKER-plaintext-4d1f"

static GByteArray *
write_message(GMimeMessage *message)
{
	GByteArray *out = g_byte_array_new();
	g_autoptr(GMimeStream) mem = g_mime_stream_mem_new_with_byte_array(out);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	g_mime_object_write_to_stream(GMIME_OBJECT(message), NULL, mem);
	return out;
}

static gboolean
contains(GByteArray *bytes, const char *needle)
{
	return g_strstr_len((const char *)bytes->data, (gssize)bytes->len, needle) != NULL;
}

static KovCiphertextKind
classify_text(const char *text, gboolean canonical, const char **why)
{
	g_autoptr(GMimeMessage) message = kov_test_message_parse(text, strlen(text));
	return kov_ciphertext_classify(message, canonical, NULL, why);
}

/* Not ciphertext, and not rewrapped. */
static void
assert_plaintext(const char *text)
{
	const char *why = NULL;
	g_autoptr(GMimeMessage) message = kov_test_message_parse(text, strlen(text));
	if (kov_ciphertext_classify(message, FALSE, NULL, &why) != KOV_CIPHERTEXT_NONE)
		g_error("taken for ciphertext:\n%s", text);
	g_assert_nonnull(why);
	g_assert_false(kov_ciphertext_canonicalize(message, NULL));
}

/* ---- genuine ------------------------------------------------------------ */

static void
check_genuine(const char *name, KovCiphertextKind kind, const char *gone)
{
	gsize len;
	g_autofree char *text = kov_test_dist_read(&len, "mail", "cipher", name, NULL);
	g_autoptr(GMimeMessage) message = kov_test_message_parse(text, len);
	g_autoptr(GByteArray) before = NULL, after = NULL;
	const char *why = NULL;
	g_assert_cmpint(kov_ciphertext_classify(message, FALSE, &before, &why), ==, kind);
	g_assert_true(kov_ciphertext_canonicalize(message, &why));
	g_assert_cmpint(kov_ciphertext_classify(message, TRUE, NULL, &why), ==, kind);
	/* Written and read again: still canonical, same ciphertext, same header. */
	g_autoptr(GByteArray) wire = write_message(message);
	g_autoptr(GMimeMessage) again = kov_test_message_parse((const char *)wire->data, wire->len);
	g_assert_cmpint(kov_ciphertext_classify(again, TRUE, &after, &why), ==, kind);
	g_assert_cmpmem(before->data, before->len, after->data, after->len);
	g_assert_cmpstr(g_mime_message_get_subject(again), ==, "genuine");
	if (gone != NULL && contains(wire, gone))
		g_error("%s: \"%s\" kept:\n%.*s", name, gone, (int)wire->len, wire->data);
	g_assert_false(contains(wire, "Content-Description"));
}

static void
test_genuine(void)
{
	check_genuine("gpg.eml", KOV_CIPHERTEXT_PGP, "msg.asc");
	check_genuine("thunderbird.eml", KOV_CIPHERTEXT_PGP, "This is an OpenPGP/MIME");
	check_genuine("smime.eml", KOV_CIPHERTEXT_SMIME, NULL);
	check_genuine("smime-auth.eml", KOV_CIPHERTEXT_SMIME, NULL);
	/* The genuine wrapping as it came is not canonical (descriptions, a
	 * preamble): kov_job_check_leak would not take it as it is. */
	gsize len;
	g_autofree char *tb = kov_test_dist_read(&len, "mail", "cipher", "thunderbird.eml", NULL);
	g_assert_cmpint(classify_text(tb, TRUE, NULL), ==, KOV_CIPHERTEXT_NONE);
}

/* An armor header (Comment:) is dropped; a checksum that does not match
 * is refused. */
static void
test_armor(void)
{
	gsize len;
	g_autofree char *text = kov_test_dist_read(&len, "mail", "cipher", "gpg.eml", NULL);
	g_autoptr(GString) s = g_string_new(text);
	g_string_replace(s, "-----BEGIN PGP MESSAGE-----\n",
	                 "-----BEGIN PGP MESSAGE-----\nComment: " MARKER "\n", 1);
	g_autoptr(GMimeMessage) message = kov_test_message_parse(s->str, s->len);
	g_assert_cmpint(kov_ciphertext_classify(message, TRUE, NULL, NULL), ==, KOV_CIPHERTEXT_NONE);
	g_assert_true(kov_ciphertext_canonicalize(message, NULL));
	g_autoptr(GByteArray) wire = write_message(message);
	g_assert_false(contains(wire, MARKER));

	g_autoptr(GString) bad = g_string_new(text);
	char *eq = strstr(bad->str, "\n=");   /* the armor checksum line */
	g_assert_nonnull(eq);
	eq[2] = eq[2] == 'A' ? 'B' : 'A';
	const char *why = NULL;
	g_assert_cmpint(classify_text(bad->str, FALSE, &why), ==, KOV_CIPHERTEXT_NONE);
	g_assert_cmpstr(why, ==, "the armor checksum does not match");

	for (const char *const *edit = (const char *const[]){ "before", "after", NULL }; *edit; edit++) {
		g_autoptr(GString) t = g_string_new(text);
		if (strcmp(*edit, "before") == 0)
			g_string_replace(t, "-----BEGIN PGP", MARKER "\n-----BEGIN PGP", 1);
		else
			g_string_replace(t, "-----END PGP MESSAGE-----\n", "-----END PGP MESSAGE-----\n" MARKER "\n", 1);
		assert_plaintext(t->str);
	}
}

/* ---- the attacks: labels on plaintext ----------------------------------- */

#define HEAD "From: a@example.org\nTo: b@example.net\nSubject: s\nMIME-Version: 1.0\n"
#define PGP_CT "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b\"\n"
#define VERSION_PART "--b\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\n"

static char *
pgp_mail(const char *prologue, const char *armored, const char *after_parts, const char *epilogue)
{
	return g_strconcat(HEAD, PGP_CT, "\n", prologue, VERSION_PART,
	                   "--b\nContent-Type: application/octet-stream\n\n", armored, "\n",
	                   after_parts, "--b--\n", epilogue, NULL);
}

static char *
armor_of(const guint8 *data, gsize len)
{
	g_autofree char *b64 = g_base64_encode(data, len);
	return g_strdup_printf("-----BEGIN PGP MESSAGE-----\n\n%s\n-----END PGP MESSAGE-----\n", b64);
}

/* A plausible binary OpenPGP message: PKESK v3, then SEIPD v1, random. */
static GByteArray *
packets(void)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed(10);
	GByteArray *out = g_byte_array_new();
	guint8 pkesk[1 + 8 + 1 + 2 + 256] = { 3 };
	for (gsize i = 1; i < sizeof pkesk; i++)
		pkesk[i] = (guint8)g_rand_int(rand);
	pkesk[9] = 1;
	pkesk[10] = 0x08;
	pkesk[11] = 0x00;
	guint8 h1[] = { 0xc1, 0xc0 + ((sizeof pkesk - 192) >> 8), (sizeof pkesk - 192) & 0xff };
	g_byte_array_append(out, h1, sizeof h1);
	g_byte_array_append(out, pkesk, sizeof pkesk);
	guint8 seipd[120] = { 1 };
	for (gsize i = 1; i < sizeof seipd; i++)
		seipd[i] = (guint8)g_rand_int(rand);
	guint8 h2[] = { 0xd2, sizeof seipd };
	g_byte_array_append(out, h2, sizeof h2);
	g_byte_array_append(out, seipd, sizeof seipd);
	return out;
}

static void
test_attacks(void)
{
	g_autoptr(GByteArray) good = packets();
	g_autofree char *armored = armor_of(good->data, good->len);
	g_autofree char *ok = pgp_mail("", armored, "", "");
	g_assert_cmpint(classify_text(ok, FALSE, NULL), ==, KOV_CIPHERTEXT_PGP);
	g_assert_cmpint(classify_text(ok, TRUE, NULL), ==, KOV_CIPHERTEXT_PGP);

	/* A text/plain third part. */
	g_autofree char *third = pgp_mail("", armored, "--b\nContent-Type: text/plain\n\n" MARKER "\n", "");
	assert_plaintext(third);
	/* text/plain in place of the ciphertext. */
	g_autofree char *second = g_strconcat(HEAD, PGP_CT, "\n", VERSION_PART,
	                                      "--b\nContent-Type: text/plain\n\n" MARKER "\n--b--\n", NULL);
	assert_plaintext(second);
	/* Two Content-Type fields: GMime reads the last, readers the first. */
	g_autofree char *two = g_strconcat(HEAD, "Content-Type: text/plain\n", PGP_CT, "\n",
	                                   VERSION_PART, "--b\nContent-Type: application/octet-stream\n\n",
	                                   armored, "\n--b--\n", NULL);
	assert_plaintext(two);
	g_autofree char *two_inner = g_strconcat(HEAD, PGP_CT, "\n", VERSION_PART,
	                                         "--b\nContent-Type: text/plain\nContent-Type: application/octet-stream\n\n",
	                                         armored, "\n--b--\n", NULL);
	assert_plaintext(two_inner);
	/* Preamble and epilogue: dropped by the rewrapping, refused as they are. */
	g_autofree char *around = pgp_mail(MARKER "\n", armored, "", MARKER "\n");
	g_assert_cmpint(classify_text(around, TRUE, NULL), ==, KOV_CIPHERTEXT_NONE);
	g_autoptr(GMimeMessage) m = kov_test_message_parse(around, strlen(around));
	g_assert_true(kov_ciphertext_canonicalize(m, NULL));
	g_autoptr(GByteArray) wire = write_message(m);
	g_assert_false(contains(wire, MARKER));
	/* A readable part header. */
	g_autofree char *described = g_strconcat(HEAD, PGP_CT, "\n", VERSION_PART,
	                                         "--b\nContent-Type: application/octet-stream\nContent-Description: " MARKER "\n\n",
	                                         armored, "\n--b--\n", NULL);
	g_assert_cmpint(classify_text(described, TRUE, NULL), ==, KOV_CIPHERTEXT_NONE);
	/* S/MIME label on base64 plaintext. */
	g_autofree char *b64 = g_base64_encode((const guchar *)MARKER "\n", strlen(MARKER) + 1);
	g_autofree char *smime = g_strconcat(HEAD, "Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\n"
	                                     "Content-Transfer-Encoding: base64\n\n", b64, "\n", NULL);
	assert_plaintext(smime);
	/* Wrong protocol, wrong control part, a multipart inside, a duplicate encoding. */
	g_autofree char *proto = g_strconcat(HEAD, "Content-Type: multipart/encrypted; protocol=\"application/x\"; boundary=\"b\"\n\n",
	                                     VERSION_PART, "--b\nContent-Type: application/octet-stream\n\n", armored, "\n--b--\n", NULL);
	assert_plaintext(proto);
	g_autofree char *version = g_strconcat(HEAD, PGP_CT, "\n--b\nContent-Type: application/pgp-encrypted\n\n" MARKER "\n\n",
	                                       "--b\nContent-Type: application/octet-stream\n\n", armored, "\n--b--\n", NULL);
	assert_plaintext(version);
	g_autofree char *nested = g_strconcat(HEAD, PGP_CT, "\n", VERSION_PART,
	                                      "--b\nContent-Type: multipart/mixed; boundary=c\n\n--c\nContent-Type: text/plain\n\n" MARKER "\n--c--\n--b--\n", NULL);
	assert_plaintext(nested);
	g_autofree char *cte = g_strconcat(HEAD, PGP_CT, "\n", VERSION_PART,
	                                   "--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: 7bit\nContent-Transfer-Encoding: base64\n\n",
	                                   armored, "\n--b--\n", NULL);
	assert_plaintext(cte);
	/* An empty ciphertext part (found by scripts/fuzz: memchr on NULL). */
	g_autofree char *empty = pgp_mail("", "", "", "");
	assert_plaintext(empty);
	g_autofree char *no_lines = pgp_mail("", "-----BEGIN PGP MESSAGE-----\n\n-----END PGP MESSAGE-----\n", "", "");
	assert_plaintext(no_lines);
	/* Inline PGP is plaintext to koverto. */
	g_autofree char *inline_pgp = g_strconcat(HEAD, "\n", armored, NULL);
	g_assert_cmpint(classify_text(inline_pgp, FALSE, NULL), ==, KOV_CIPHERTEXT_NONE);
}

/* ---- OpenPGP packets ---------------------------------------------------- */

static void
assert_packets(const guint8 *data, gsize len, gboolean ok, const char *what)
{
	const char *why = NULL;
	if (kov_ciphertext_check_openpgp(data, len, &why) != ok)
		g_error("%s: %s", what, ok ? why : "taken for ciphertext");
}

static void
test_packets(void)
{
	g_autoptr(GByteArray) good = packets();
	assert_packets(good->data, good->len, TRUE, "PKESK + SEIPD");
	gsize esk = good->len - 122;  /* the PKESK, header included */

	/* Old-format headers: 2-byte length PKESK, indeterminate SED. */
	g_autoptr(GByteArray) old = g_byte_array_new();
	guint8 h[] = { 0x85, (esk - 3) >> 8, (esk - 3) & 0xff };
	g_byte_array_append(old, h, 3);
	g_byte_array_append(old, good->data + 3, esk - 3);
	guint8 sed = 0xa7;  /* tag 9, indeterminate */
	g_byte_array_append(old, &sed, 1);
	g_byte_array_append(old, good->data + esk + 2, 120);
	assert_packets(old->data, old->len, TRUE, "old format");

	/* Partial body lengths: 64 + 32 + 24 bytes. */
	g_autoptr(GByteArray) partial = g_byte_array_new();
	g_byte_array_append(partial, good->data, esk);
	guint8 p1[] = { 0xd2, 0xe6 };
	g_byte_array_append(partial, p1, 2);
	g_byte_array_append(partial, good->data + esk + 2, 64);
	guint8 p2 = 0xe5;
	g_byte_array_append(partial, &p2, 1);
	g_byte_array_append(partial, good->data + esk + 2 + 64, 32);
	guint8 p3 = 24;
	g_byte_array_append(partial, &p3, 1);
	g_byte_array_append(partial, good->data + esk + 2 + 96, 24);
	assert_packets(partial->data, partial->len, TRUE, "partial lengths");
	assert_packets(partial->data, partial->len - 1, FALSE, "partial lengths cut short");

	/* Each packet type that is not encryption, alone or after a PKESK. */
	static const guint8 tags[] = { 2, 4, 5, 6, 8, 10, 11, 13, 14, 17, 60 };
	for (gsize i = 0; i < G_N_ELEMENTS(tags); i++) {
		g_autoptr(GByteArray) a = g_byte_array_new();
		g_byte_array_append(a, good->data, esk);
		guint8 hh[] = { 0xc0 | tags[i], 120 };
		g_byte_array_append(a, hh, 2);
		g_byte_array_append(a, good->data + esk + 2, 120);
		g_autofree char *what = g_strdup_printf("packet type %u", tags[i]);
		assert_packets(a->data, a->len, FALSE, what);
		assert_packets(a->data + esk, a->len - esk, FALSE, what);
	}
	/* Nothing after the encrypted data; a session key first. */
	g_autoptr(GByteArray) trail = g_byte_array_new();
	g_byte_array_append(trail, good->data, good->len);
	g_byte_array_append(trail, good->data + esk, 122);
	assert_packets(trail->data, trail->len, FALSE, "two encrypted-data packets");
	guint8 lit[] = { 0xcb, 3, 'b', 0, 0 };
	g_byte_array_set_size(trail, good->len);
	g_byte_array_append(trail, lit, sizeof lit);
	assert_packets(trail->data, trail->len, FALSE, "a literal packet after");
	assert_packets(good->data + esk, 122, FALSE, "no session key packet");
	assert_packets(good->data, good->len - 1, FALSE, "cut short");
	assert_packets(good->data, esk, FALSE, "session key only");

	/* Plaintext in a fake encrypted-data packet, or in a session key packet. */
	g_autoptr(GByteArray) fake = g_byte_array_new();
	g_byte_array_append(fake, good->data, esk);
	static const char text[] = "\x01" "Dear Bob, the meeting is at noon. " MARKER " Regards";
	guint8 fh[] = { 0xd2, sizeof text - 1 };
	g_byte_array_append(fake, fh, 2);
	g_byte_array_append(fake, (const guint8 *)text, sizeof text - 1);
	assert_packets(fake->data, fake->len, FALSE, "readable SEIPD");
	g_autoptr(GByteArray) fesk = g_byte_array_new();
	g_byte_array_append(fesk, good->data, good->len);
	memcpy(fesk->data + 20, MARKER MARKER, 2 * strlen(MARKER));
	assert_packets(fesk->data, fesk->len, FALSE, "readable PKESK");
	/* Short readable text among random bytes: below the run length. */
	g_autoptr(GByteArray) shortrun = g_byte_array_new();
	g_byte_array_append(shortrun, good->data, good->len);
	memcpy(shortrun->data + esk + 40, "hello", 5);
	assert_packets(shortrun->data, shortrun->len, TRUE, "five letters in random bytes");
}

/* ---- CMS ---------------------------------------------------------------- */

static GByteArray *
smime_der(const char *name)
{
	gsize len;
	g_autofree char *text = kov_test_dist_read(&len, "mail", "cipher", name, NULL);
	g_autoptr(GMimeMessage) message = kov_test_message_parse(text, len);
	GByteArray *der = NULL;
	g_assert_cmpint(kov_ciphertext_classify(message, FALSE, &der, NULL), ==, KOV_CIPHERTEXT_SMIME);
	return der;
}

static void
test_cms(void)
{
	g_autoptr(GByteArray) der = smime_der("smime.eml");
	const char *why = NULL;
	g_assert_true(kov_ciphertext_check_cms(der->data, der->len, &why));
	g_assert_false(kov_ciphertext_check_cms(der->data, der->len - 1, &why));
	g_autoptr(GByteArray) trailing = g_byte_array_new();
	g_byte_array_append(trailing, der->data, der->len);
	g_byte_array_append(trailing, (const guint8 *)"\0\0", 2);
	g_assert_false(kov_ciphertext_check_cms(trailing->data, trailing->len, &why));
	/* signedData (1.2.840.113549.1.7.2) in place of envelopedData. */
	g_autoptr(GByteArray) signed_data = g_byte_array_new();
	g_byte_array_append(signed_data, der->data, der->len);
	guint8 *oid = memmem(signed_data->data, 16, "\x2a\x86\x48\x86\xf7\x0d\x01\x07\x03", 9);
	g_assert_nonnull(oid);
	oid[8] = 0x02;
	g_assert_false(kov_ciphertext_check_cms(signed_data->data, signed_data->len, &why));
	g_assert_cmpstr(why, ==, "CMS content that is not EnvelopedData or AuthEnvelopedData");
	/* The encrypted content replaced by text of the same length. */
	g_autoptr(GByteArray) auth = smime_der("smime-auth.eml");
	g_assert_true(kov_ciphertext_check_cms(auth->data, auth->len, &why));
	g_autoptr(GByteArray) readable = g_byte_array_new();
	g_byte_array_append(readable, der->data, der->len);
	/* openssl writes [0] IMPLICIT encryptedContent primitive (0x80) last
	 * in EncryptedContentInfo: find it from the end. */
	gsize at = 0;
	for (gsize i = readable->len - 2; i > 0 && at == 0; i--)
		if (readable->data[i] == 0x80 && readable->data[i + 1] < 0x80 &&
		    i + 2 + readable->data[i + 1] == readable->len)
			at = i;
	g_assert_cmpuint(at, >, 0);
	memset(readable->data + at + 2, 'x', readable->len - at - 2);
	g_assert_false(kov_ciphertext_check_cms(readable->data, readable->len, &why));
	g_assert_cmpstr(why, ==, "CMS encrypted content holding readable text");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	g_test_add_func("/ciphertext/genuine", test_genuine);
	g_test_add_func("/ciphertext/armor", test_armor);
	g_test_add_func("/ciphertext/attacks", test_attacks);
	g_test_add_func("/ciphertext/packets", test_packets);
	g_test_add_func("/ciphertext/cms", test_cms);
	int status = g_test_run();
	g_mime_shutdown();
	return status;
}
