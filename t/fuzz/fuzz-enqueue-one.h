/* SPDX-License-Identifier: GPL-3.0-or-later */
/* One fuzz input through the listener's spool writer and its From reader
 * (lib/intake/enqueue.c: kov_enqueue_from, which takes the message's
 * From addresses from the header section of what the client sent so far,
 * read back from the queue file behind the envelope block), shared by the
 * libFuzzer target (fuzz-enqueue.c) and the replay of its seeds and finds
 * in t/unit/test-enqueue.c. The input is what DATA gave (LF line ends, as
 * the session machine hands it on, but any bytes). Promises checked, any
 * break aborts:
 * - the bytes written whole, and again in pieces of 1 to 64 bytes cut
 *   where a generator seeded from the input's hash says, give the same
 *   From list, or an error both times (the end of the header section is
 *   found across pieces);
 * - that list is what GMime reads from the header section alone, cut
 *   here independently (up to the first empty line), through the same
 *   address rules: the envelope block on top, the offsets and the
 *   substream change nothing;
 * - every address given is sane and lower case; an error is a
 *   KOV_ERROR_DATAERR with a message; nothing is ever committed. */
#pragma once
#include "enqueue.h"
#include "address.h"
#include "error.h"
#include "gmime-autoptr.h"
#include "header.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KOV_FUZZ_ENQUEUE_FAIL(...)                                         \
	do {                                                               \
		fprintf(stderr, "fuzz-enqueue: " __VA_ARGS__);             \
		fputc('\n', stderr);                                       \
		abort();                                                   \
	} while (0)

/* The queue directory: kov_fuzz_enqueue_queuedir when the caller set it
 * (the unit test's), else $KOVERTO_FUZZ_DIR/enqueue (scripts/fuzz makes
 * and removes $KOVERTO_FUZZ_DIR), else one made under /tmp once. */
static char *kov_fuzz_enqueue_queuedir;

static const char *
kov_fuzz_enqueue_dir(void)
{
	if (kov_fuzz_enqueue_queuedir != NULL)
		return kov_fuzz_enqueue_queuedir;
	if (g_getenv("KOVERTO_FUZZ_DIR") != NULL)
		kov_fuzz_enqueue_queuedir = g_build_filename(g_getenv("KOVERTO_FUZZ_DIR"), "enqueue", NULL);
	else {
		kov_fuzz_enqueue_queuedir = g_build_filename(g_get_tmp_dir(), "kovfeXXXXXX", NULL);
		if (g_mkdtemp(kov_fuzz_enqueue_queuedir) == NULL)
			KOV_FUZZ_ENQUEUE_FAIL("cannot make a directory");
	}
	g_autofree char *tmp = g_build_filename(kov_fuzz_enqueue_queuedir, "fallback", "tmp", NULL);
	if (g_mkdir_with_parents(tmp, 0700) != 0)
		KOV_FUZZ_ENQUEUE_FAIL("cannot make %s", tmp);
	return kov_fuzz_enqueue_queuedir;
}

/* The From list of @data written in pieces of at most @piece bytes (0:
 * whole; else cut as @rand says), as one line of text, or "error". */
static char *
kov_fuzz_enqueue_from(const uint8_t *data, size_t size, GRand *rand)
{
	GPtrArray *rcpts = g_ptr_array_new();
	g_ptr_array_add(rcpts, (gpointer) "bob@example.net");
	KovEnqueueInfo info = { .queue = "fallback", .client = "fuzz", .sender = "a@example.org",
		                .recipients = rcpts, .helo = "fuzz.example", .ip = "127.0.0.1",
		                .hostname = "koverto.test", .protocol = "ESMTPSA" };
	g_autoptr(GError) error = NULL;
	g_autoptr(KovEnqueue) e = kov_enqueue_begin(kov_fuzz_enqueue_dir(), &info, &error);
	g_ptr_array_unref(rcpts);
	if (e == NULL)
		KOV_FUZZ_ENQUEUE_FAIL("cannot begin: %s", error->message);
	for (size_t at = 0; at < size;) {
		size_t n = size - at;
		if (rand != NULL) {
			size_t want = (size_t)g_rand_int_range(rand, 1, 65);
			n = MIN(want, n);
		}
		if (!kov_enqueue_write(e, (const char *)data + at, n, &error))
			KOV_FUZZ_ENQUEUE_FAIL("cannot write: %s", error->message);
		at += n;
	}
	if (kov_enqueue_size(e) != size)
		KOV_FUZZ_ENQUEUE_FAIL("%zu bytes written, %" G_GUINT64_FORMAT " counted", size,
		                      kov_enqueue_size(e));
	g_autoptr(GPtrArray) from = kov_enqueue_from(e, &error);
	if (from == NULL) {
		if (error == NULL || !g_error_matches(error, KOV_ERROR, KOV_ERROR_DATAERR)
		    || error->message[0] == '\0')
			KOV_FUZZ_ENQUEUE_FAIL("no From list and no DATAERR");
		return g_strdup("error");
	}
	GString *s = g_string_new(NULL);
	for (guint i = 0; i < from->len; i++) {
		const char *a = g_ptr_array_index(from, i);
		g_autofree char *lower = g_ascii_strdown(a, -1);
		if (!kov_address_is_sane(a) || strcmp(a, lower) != 0)
			KOV_FUZZ_ENQUEUE_FAIL("an address that is not sane and lower case");
		g_string_append_printf(s, "<%s>", a);
	}
	return g_string_free(s, FALSE);
}

/* The same, from the header section cut here and parsed from memory. */
static char *
kov_fuzz_enqueue_reference(const uint8_t *data, size_t size)
{
	size_t end = size;
	for (size_t i = 0; i < size; i++)
		if (data[i] == '\n' && (i == 0 || data[i - 1] == '\n')) {
			end = i + 1;
			break;
		}
	g_autoptr(GMimeStream) mem = g_mime_stream_mem_new_with_buffer((const char *)data, end);
	g_autoptr(GMimeParser) parser = g_mime_parser_new_with_stream(mem);
	g_autoptr(GMimeParserOptions) popts = g_mime_parser_options_new();
	g_autoptr(GMimeMessage) message = g_mime_parser_construct_message(parser, popts);
	if (message == NULL)
		return g_strdup("");
	g_autoptr(GPtrArray) raw = kov_header_list_addresses(g_mime_object_get_header_list(GMIME_OBJECT(message)),
	                                                     "From", FALSE, popts);
	GString *s = g_string_new(NULL);
	for (guint i = 0; i < raw->len; i++) {
		g_autofree char *a = kov_address_normalize(g_ptr_array_index(raw, i), "From", NULL);
		if (a == NULL) {
			g_string_free(s, TRUE);
			return g_strdup("error");
		}
		g_string_append_printf(s, "<%s>", a);
	}
	return g_string_free(s, FALSE);
}

static void
kov_fuzz_enqueue_one(const uint8_t *data, size_t size)
{
	g_autofree char *whole = kov_fuzz_enqueue_from(data, size, NULL);
	guint32 seed = 2166136261u; /* FNV-1a: a crash reproduces from the input alone */
	for (size_t i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 16777619u;
	GRand *rand = g_rand_new_with_seed(seed);
	g_autofree char *pieces = kov_fuzz_enqueue_from(data, size, rand);
	g_rand_free(rand);
	if (strcmp(whole, pieces) != 0)
		KOV_FUZZ_ENQUEUE_FAIL("written whole: %s; in pieces: %s", whole, pieces);
	g_autofree char *reference = kov_fuzz_enqueue_reference(data, size);
	if (strcmp(whole, reference) != 0)
		KOV_FUZZ_ENQUEUE_FAIL("from the queue file: %s; from the header section: %s", whole, reference);
}
