/* SPDX-License-Identifier: GPL-3.0-or-later */
/* One fuzz input through the path from raw bytes to what koverto writes:
 * kov_message_load (with and without Delivered-To), the private-header
 * clean-up, kov_mime7bit_repair, and the CRLF and LF writes; with a GnuPG
 * home (kov_fuzz_init_gnupg) also kov_crypto_sign and kov_crypto_encrypt.
 * Shared by the libFuzzer target (t/fuzz/fuzz-mail.c) and the replay of
 * the regressions (t/unit/test-fuzz-regressions.c). Header-only.
 *
 * Beyond "no crash, no sanitizer report" it checks what the code promises,
 * and aborts when a promise is broken: a failed load says why; envelope
 * addresses are sane; no Bcc or X-Kuvert header survives the clean-up;
 * what make_7bit leaves is 7-bit, NUL-free, has CRLF line ends only and no
 * line over 998 octets; a whole message written for SMTP has each header
 * on a line of its own and no bare CR or LF; a signed or encrypted copy is
 * all of that, its headers included.
 * (Not checked where the mail holds a signed or encrypted part: make_7bit
 * must leave those as they are, and so they may be anything.) */
#pragma once
#include <glib.h>
#include <gmime/gmime.h>
#include <gpgme.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gmime-autoptr.h"
#include "gpgme-autoptr.h"
#include "ciphertext.h"
#include "crypto.h"
#include "error.h"
#include "keys.h"
#include "message.h"
#include "mime7bit.h"

typedef struct {
	int in;            /* memfd: the input, as a queued file */
	int out;           /* memfd: what is written */
	char *path;        /* /proc/self/fd/<in> */
	KovKeys *keys;     /* nullable: sign and encrypt too */
	gpgme_key_t signer, recipient;
	char *tempdir;
} KovFuzz;

static KovFuzz kov_fuzz;

/* Abort with a message: the fuzzer (or the replaying test) reports it. */
#define KOV_FUZZ_FAIL(...)                                                 \
	do {                                                               \
		fprintf(stderr, "fuzz-one: " __VA_ARGS__);                 \
		fputc('\n', stderr);                                       \
		abort();                                                   \
	} while (0)

/* GMime's and GLib's warnings about hostile input are expected: quiet.
 * A critical is a broken precondition somewhere: a bug, so it aborts. */
static void
kov_fuzz_log(const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
	(void)data;
	if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR))
		KOV_FUZZ_FAIL("%s critical: %s", domain ? domain : "glib", message);
}

static inline void
kov_fuzz_init(void)
{
	g_mime_init();
	gpgme_check_version(NULL);
	g_log_set_default_handler(kov_fuzz_log, NULL);
	kov_fuzz.in = memfd_create("kov-fuzz-in", MFD_CLOEXEC);
	kov_fuzz.out = memfd_create("kov-fuzz-out", MFD_CLOEXEC);
	if (kov_fuzz.in < 0 || kov_fuzz.out < 0)
		KOV_FUZZ_FAIL("memfd_create: %s", g_strerror(errno));
	kov_fuzz.path = g_strdup_printf("/proc/self/fd/%d", kov_fuzz.in);
}

/* Sign (alice) and encrypt (to bob) every loadable input too, with the
 * keyring in @gnupghome (t/keys/setup-home). Slow: a gpg run per input. */
static inline void
kov_fuzz_init_gnupg(const char *gnupghome)
{
	g_autoptr(GError) error = NULL;
	kov_fuzz.keys = kov_keys_new(gnupghome, NULL, FALSE, &error);
	if (kov_fuzz.keys == NULL)
		KOV_FUZZ_FAIL("keys: %s", error->message);
	kov_fuzz.signer = kov_keys_find_signing(kov_fuzz.keys, NULL, "alice@example.org", NULL, &error);
	g_autofree char *detail = NULL;
	if (kov_fuzz.signer == NULL ||
	    kov_keys_find_encryption(kov_fuzz.keys, "bob@example.net", NULL, &kov_fuzz.recipient, &detail,
	                             &error) != KOV_KEY_USABLE)
		KOV_FUZZ_FAIL("no fixture keys in %s (setup-home)", gnupghome);
	kov_fuzz.tempdir = g_strdup(g_get_tmp_dir());
}

/* ---- oracles ---------------------------------------------------------- */

static inline void
kov_fuzz_check_address(const char *addr, const char *what)
{
	if (addr == NULL || *addr == '-' || strchr(addr, '@') == NULL)
		KOV_FUZZ_FAIL("%s address not sane: \"%s\"", what, addr ? addr : "(null)");
	for (const unsigned char *p = (const unsigned char *)addr; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f)
			KOV_FUZZ_FAIL("%s address holds byte 0x%02x", what, *p);
	/* Some servers decode an encoded-word even there (aiosmtpd does). */
	const char *word = strstr(addr, "=?");
	if (word != NULL && strstr(word + 2, "?=") != NULL)
		KOV_FUZZ_FAIL("%s address holds an encoded-word: \"%s\"", what, addr);
}

static inline void
kov_fuzz_check_mail(const KovMail *mail)
{
	if (mail->sender == NULL)
		KOV_FUZZ_FAIL("loaded without a sender");
	if (*mail->sender != '\0')
		kov_fuzz_check_address(mail->sender, "sender");
	if (mail->from != NULL)
		kov_fuzz_check_address(mail->from, "From");
	if (mail->recipients == NULL || mail->recipients->len == 0)
		KOV_FUZZ_FAIL("loaded without recipients");
	for (guint i = 0; i < mail->recipients->len; i++) {
		const KovRecipient *r = g_ptr_array_index(mail->recipients, i);
		kov_fuzz_check_address(r->address, "recipient");
	}
}

static inline void
kov_fuzz_check_stripped(GMimeMessage *message)
{
	GMimeHeaderList *headers = g_mime_object_get_header_list(GMIME_OBJECT(message));
	for (int i = 0; i < g_mime_header_list_get_count(headers); i++) {
		const char *name = g_mime_header_get_name(g_mime_header_list_get_header_at(headers, i));
		if (g_ascii_strcasecmp(name, "Bcc") == 0 || g_ascii_strncasecmp(name, "X-Kuvert", 8) == 0)
			KOV_FUZZ_FAIL("header %s survived the clean-up", name);
	}
}

/* Does @object hold a multipart/signed or /encrypted (left as it is)? */
static inline gboolean
kov_fuzz_has_sealed(GMimeObject *object)
{
	if (object == NULL)
		return FALSE;
	if (GMIME_IS_MULTIPART_SIGNED(object) || GMIME_IS_MULTIPART_ENCRYPTED(object))
		return TRUE;
	if (GMIME_IS_MULTIPART(object)) {
		GMimeMultipart *mp = GMIME_MULTIPART(object);
		for (int i = 0; i < g_mime_multipart_get_count(mp); i++)
			if (kov_fuzz_has_sealed(g_mime_multipart_get_part(mp, i)))
				return TRUE;
	} else if (GMIME_IS_MESSAGE_PART(object)) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
		return inner != NULL && kov_fuzz_has_sealed(g_mime_message_get_mime_part(inner));
	}
	return FALSE;
}

/* The bytes written to the output memfd. (transfer full) */
static inline GBytes *
kov_fuzz_output(void)
{
	off_t len = lseek(kov_fuzz.out, 0, SEEK_END);
	if (len < 0)
		KOV_FUZZ_FAIL("lseek: %s", g_strerror(errno));
	char *buf = g_malloc(len + 1);
	if (pread(kov_fuzz.out, buf, len, 0) != len)
		KOV_FUZZ_FAIL("pread: %s", g_strerror(errno));
	return g_bytes_new_take(buf, len);
}

static inline void
kov_fuzz_reset_output(void)
{
	if (ftruncate(kov_fuzz.out, 0) != 0 || lseek(kov_fuzz.out, 0, SEEK_SET) != 0)
		KOV_FUZZ_FAIL("cannot reset the output: %s", g_strerror(errno));
}

/* SMTP-clean: CRLF line ends only, no NUL; with @seven also no 8-bit byte
 * and no line over 998 octets. */
static inline void
kov_fuzz_check_wire(GBytes *bytes, gboolean seven, const char *what)
{
	gsize len;
	const unsigned char *p = g_bytes_get_data(bytes, &len);
	gsize line = 0;
	for (gsize i = 0; i < len; i++) {
		if (p[i] == '\r') {
			if (i + 1 >= len || p[i + 1] != '\n')
				KOV_FUZZ_FAIL("%s: bare CR at offset %zu", what, i);
			continue;
		}
		if (p[i] == '\n') {
			if (i == 0 || p[i - 1] != '\r')
				KOV_FUZZ_FAIL("%s: bare LF at offset %zu", what, i);
			line = 0;
			continue;
		}
		if (p[i] == '\0')
			KOV_FUZZ_FAIL("%s: NUL at offset %zu", what, i);
		if (seven && p[i] >= 0x80)
			KOV_FUZZ_FAIL("%s: 8-bit byte 0x%02x at offset %zu", what, p[i], i);
		if (seven && ++line > 998)
			KOV_FUZZ_FAIL("%s: a line over 998 octets at offset %zu", what, i);
	}
}

static gint
kov_fuzz_compare_names(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Each header of @message starts a line of its own in the header block
 * written (@wire, CRLF), in order, and nothing else does: a header value
 * that lost its line end (GMime cuts a value at a NUL) would take the next
 * header onto its line, or the body into the header block. */
static inline void
kov_fuzz_check_header_block(GMimeMessage *message, GBytes *wire, const char *what)
{
	gsize len;
	const char *p = g_bytes_get_data(wire, &len);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	gsize i = 0;
	while (i < len) {
		const char *eol = g_strstr_len(p + i, len - i, "\r\n");
		gsize end = eol != NULL ? (gsize)(eol - p) : len;
		if (end == i)
			break;  /* the blank line: the body starts */
		if (p[i] != ' ' && p[i] != '\t') {
			const char *colon = memchr(p + i, ':', end - i);
			char *name = g_strndup(p + i, (colon ? (gsize)(colon - p) : end) - i);
			g_ptr_array_add(names, g_strchomp(name));  /* "Name : value" */
		}
		i = end + 2;
	}
	/* GMime writes the message's own headers and its MIME part's. */
	g_autoptr(GPtrArray) want = g_ptr_array_new();
	GMimeObject *objects[] = { GMIME_OBJECT(message), g_mime_message_get_mime_part(message) };
	for (gsize o = 0; o < G_N_ELEMENTS(objects) && objects[o] != NULL; o++) {
		GMimeHeaderList *headers = g_mime_object_get_header_list(objects[o]);
		for (int k = 0; k < g_mime_header_list_get_count(headers); k++)
			g_ptr_array_add(want, (gpointer)g_mime_header_get_name(g_mime_header_list_get_header_at(headers, k)));
	}
	/* In their original order, interleaved: compare them sorted. */
	g_ptr_array_sort(want, kov_fuzz_compare_names);
	g_ptr_array_sort(names, kov_fuzz_compare_names);
	for (guint k = 0; k < want->len || k < names->len; k++) {
		const char *w = k < want->len ? g_ptr_array_index(want, k) : "(none)";
		const char *got = k < names->len ? g_ptr_array_index(names, k) : "(none)";
		if (strcmp(w, got) != 0)
			KOV_FUZZ_FAIL("%s: %u headers on the wire, %u in the message (\"%s\" for \"%s\")",
			              what, names->len, want->len, got, w);
	}
}

/* @object written as crypto.c writes what it signs: DOS line ends. */
static inline GBytes *
kov_fuzz_write_object(GMimeObject *object)
{
	kov_fuzz_reset_output();
	g_autoptr(GMimeStream) fs = g_mime_stream_pipe_new(kov_fuzz.out);
	g_mime_stream_pipe_set_owner(GMIME_STREAM_PIPE(fs), FALSE);
	g_autoptr(GMimeStream) stream = g_mime_stream_filter_new(fs);
	g_autoptr(GMimeFilter) unix2dos = g_mime_filter_unix2dos_new(FALSE);
	g_mime_stream_filter_add(GMIME_STREAM_FILTER(stream), unix2dos);
	g_autoptr(GMimeFormatOptions) format = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(format, GMIME_NEWLINE_FORMAT_DOS);
	if (g_mime_object_write_to_stream(object, format, stream) < 0 || g_mime_stream_flush(stream) < 0)
		KOV_FUZZ_FAIL("cannot write an object to a memfd");
	return kov_fuzz_output();
}

static inline GBytes *
kov_fuzz_write_message(GMimeMessage *message, gboolean crlf)
{
	g_autoptr(GError) error = NULL;
	kov_fuzz_reset_output();
	if (!kov_message_write_fd(GMIME_OBJECT(message), kov_fuzz.out, crlf, &error))
		KOV_FUZZ_FAIL("kov_message_write_fd: %s", error->message);
	return kov_fuzz_output();
}

/* ---- the path --------------------------------------------------------- */

static inline void
kov_fuzz_seal(KovMail *mail, gboolean sealed_inside)
{
	gpgme_ctx_t ctx = NULL;
	g_autoptr(GError) error = NULL;
	ctx = kov_keys_new_context(kov_fuzz.keys, &error);
	if (ctx == NULL)
		KOV_FUZZ_FAIL("gpgme context: %s", error->message);
	KovCryptoOptions options = { .ctx = ctx, .tempdir = kov_fuzz.tempdir, .preamble = TRUE };
	g_autoptr(GMimeMessage) signed_copy = kov_crypto_sign(&options, mail->message, kov_fuzz.signer, &error);
	/* Our own signature must verify over whatever the input was. */
	if (signed_copy == NULL)
		KOV_FUZZ_FAIL("kov_crypto_sign: %s", error->message);
	g_autoptr(GBytes) wire = kov_fuzz_write_message(signed_copy, TRUE);
	kov_fuzz_check_header_block(signed_copy, wire, "signed copy");
	if (!sealed_inside)
		kov_fuzz_check_wire(wire, TRUE, "signed copy");
	gpgme_key_t rcpt[] = { kov_fuzz.recipient, NULL };
	g_autoptr(GMimeMessage) encrypted = kov_crypto_encrypt(&options, mail->message, rcpt, kov_fuzz.signer, &error);
	if (encrypted == NULL)
		KOV_FUZZ_FAIL("kov_crypto_encrypt: %s", error->message);
	g_autoptr(GBytes) wire2 = kov_fuzz_write_message(encrypted, TRUE);
	kov_fuzz_check_header_block(encrypted, wire2, "encrypted copy");
	kov_fuzz_check_wire(wire2, TRUE, "encrypted copy");
	gpgme_release(ctx);
}

static inline void
kov_fuzz_one_load(gboolean delivered_to)
{
	g_autoptr(GError) error = NULL;
	/* From the memfd itself: kov_message_load opens a path with
	 * O_NOFOLLOW, and /proc/self/fd/N is a link, so every input would
	 * fail to open, the same way, and nothing past it would be fuzzed. */
	KovMessageOptions options = { .use_delivered_to = delivered_to, .from_fd = TRUE,
	                              .fd = kov_fuzz.in };
	g_autoptr(KovMail) mail = kov_message_load(kov_fuzz.path, &options, &error);
	if (mail == NULL) {
		if (error == NULL || error->domain != KOV_ERROR || error->message == NULL || !*error->message)
			KOV_FUZZ_FAIL("a load failed without saying why");
		/* A mail is refused for what it is (DATAERR); not reading it at
		 * all is the harness's failure, not a finding. */
		if (error->code == KOV_ERROR_IOERR || error->code == KOV_ERROR_TEMPFAIL)
			KOV_FUZZ_FAIL("the input could not be read: %s", error->message);
		return;
	}
	kov_fuzz_check_mail(mail);
	kov_message_strip_private_headers(mail->message);
	kov_fuzz_check_stripped(mail->message);
	/* Ciphertext passes on only in koverto's own wrapping of it. */
	const char *why = NULL;
	if (mail->already_encrypted &&
	    kov_ciphertext_classify(mail->message, TRUE, NULL, &why) == KOV_CIPHERTEXT_NONE)
		KOV_FUZZ_FAIL("passed on as ciphertext, but not canonical: %s", why);

	GMimeObject *entity = g_mime_message_get_mime_part(mail->message);
	gboolean sealed = kov_fuzz_has_sealed(entity);
	if (entity != NULL) {
		kov_mime7bit_repair(entity);
		g_autoptr(GBytes) bytes = kov_fuzz_write_object(entity);
		if (!sealed)
			kov_fuzz_check_wire(bytes, TRUE, "entity after make_7bit");
	}
	g_autoptr(GBytes) wire = kov_fuzz_write_message(mail->message, TRUE);
	kov_fuzz_check_header_block(mail->message, wire, "message written for SMTP");
	if (!sealed)
		kov_fuzz_check_wire(wire, FALSE, "message written for SMTP");
	g_bytes_unref(kov_fuzz_write_message(mail->message, FALSE));  /* for msp */
	if (kov_fuzz.keys != NULL && entity != NULL)
		kov_fuzz_seal(mail, sealed);
}

/* The whole path for one input; aborts on a broken promise. */
static inline void
kov_fuzz_one(const guint8 *data, gsize size)
{
	if (ftruncate(kov_fuzz.in, 0) != 0 ||
	    (size > 0 && pwrite(kov_fuzz.in, data, size, 0) != (ssize_t)size))
		KOV_FUZZ_FAIL("cannot write the input to a memfd: %s", g_strerror(errno));
	kov_fuzz_one_load(FALSE);
	kov_fuzz_one_load(TRUE);
}
