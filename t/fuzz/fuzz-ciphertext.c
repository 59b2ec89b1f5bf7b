/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target for the already-encrypted classifier (lib/mail/ciphertext.c):
 * the raw input through the packet walk, the CMS check and the de-armoring,
 * then parsed as a mail through kov_ciphertext_classify and
 * kov_ciphertext_canonicalize. Beyond "no crash, no sanitizer report" it
 * checks the promises: a canonical wrapping is also ciphertext when
 * tolerant; what canonicalize builds is canonical, holds the same
 * ciphertext bytes, and stays so written and parsed again; a mail that is
 * not ciphertext is left alone. Built with -DKOVERTO_FUZZ=ON; run by
 * scripts/fuzz beside fuzz-mail. */
#include <glib.h>
#include <gmime/gmime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gmime-autoptr.h"
#include "ciphertext.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                                          \
	do {                                                               \
		fprintf(stderr, "fuzz-ciphertext: " __VA_ARGS__);          \
		fputc('\n', stderr);                                       \
		abort();                                                   \
	} while (0)

static void
quiet_log(const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
	(void)data;
	if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR))
		FAIL("%s critical: %s", domain ? domain : "glib", message);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	g_mime_init();
	g_log_set_default_handler(quiet_log, NULL);
	return 0;
}

static GMimeMessage *
parse(const void *data, gsize size)
{
	g_autoptr(GMimeStream) stream = g_mime_stream_mem_new_with_buffer(data, size);
	g_autoptr(GMimeParser) parser = g_mime_parser_new_with_stream(stream);
	return g_mime_parser_construct_message(parser, NULL);
}

static gboolean
same(GByteArray *a, GByteArray *b)
{
	return a != NULL && b != NULL && a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = NULL;
	(void)kov_ciphertext_check_openpgp(data, size, &why);
	(void)kov_ciphertext_check_cms(data, size, &why);
	g_autoptr(GByteArray) binary = kov_ciphertext_dearmor((const char *)data, size, TRUE, &why);
	if (binary != NULL)
		(void)kov_ciphertext_check_openpgp(binary->data, binary->len, &why);

	g_autoptr(GMimeMessage) message = parse(data, size);
	if (message == NULL)
		return 0;
	g_autoptr(GByteArray) payload = NULL;
	KovCiphertextKind kind = kov_ciphertext_classify(message, FALSE, &payload, &why);
	KovCiphertextKind strict = kov_ciphertext_classify(message, TRUE, NULL, &why);
	if (strict != KOV_CIPHERTEXT_NONE && strict != kind)
		FAIL("canonical but not ciphertext when tolerant");
	if (!kov_ciphertext_canonicalize(message, &why)) {
		if (kind != KOV_CIPHERTEXT_NONE)
			FAIL("ciphertext, but not canonicalized");
		return 0;
	}
	g_autoptr(GByteArray) again = NULL;
	if (kov_ciphertext_classify(message, TRUE, &again, &why) != kind || !same(payload, again))
		FAIL("canonicalized, but not canonical: %s", why ? why : "other ciphertext");
	/* A NUL or a bare CR in the top-level header: kov_message_load refuses
	 * the mail (GMime would write that header into the next line). */
	const guint8 *end = memmem(data, size, "\n\n", 2);
	gsize header = end != NULL ? (gsize)(end - data) : size;
	for (gsize i = 0; i < header; i++)
		if (data[i] == '\0' || (data[i] == '\r' && (i + 1 >= size || data[i + 1] != '\n')))
			return 0;
	g_autoptr(GByteArray) wire = g_byte_array_new();
	g_autoptr(GMimeStream) mem = g_mime_stream_mem_new_with_byte_array(wire);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	g_mime_object_write_to_stream(GMIME_OBJECT(message), NULL, mem);
	g_autoptr(GMimeMessage) reread = parse(wire->data, wire->len);
	g_autoptr(GByteArray) third = NULL;
	if (reread == NULL || kov_ciphertext_classify(reread, TRUE, &third, &why) != kind ||
	    !same(payload, third))
		FAIL("canonical wrapping not canonical once written: %s", why ? why : "other ciphertext");
	return 0;
}
