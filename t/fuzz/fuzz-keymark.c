/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target over a key marker file (lib/spool/keymark.c): the
 * files of queuedir/.keys-expiring/ are read as hostile. Promises, any
 * break aborts:
 * - kov_keymark_parse gives a marker, or FALSE with a KOV_ERROR message
 *   and nothing owned left in the output;
 * - a marker it gives has fingerprints of 40 or 64 hex digits, an expiry
 *   >= 0 and an address of at most KOV_KEYMARK_ADDRESS_MAX bytes, none
 *   of them a control, a space or DEL;
 * - it read exactly what kov_keymark_format writes: formatted again, the
 *   marker is the input byte for byte.
 * Built with -DKOVERTO_FUZZ=ON (clang); run by scripts/fuzz, seeds in
 * seed-keymark/. */
#include "keymark.h"
#include "error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...)                                                  \
	do {                                                       \
		fprintf(stderr, "fuzz-keymark: " __VA_ARGS__);     \
		fputc('\n', stderr);                               \
		abort();                                           \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gboolean
fpr_ok(const char *s)
{
	gsize n = s != NULL ? strlen(s) : 0;
	return (n == 40 || n == 64) && strspn(s, "0123456789ABCDEF") == n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) error = NULL;
	KovKeymark m;
	/* A copy of exactly @size bytes: no terminator to lean on. */
	g_autofree char *bytes = g_memdup2(data, size > 0 ? size : 1);

	if (!kov_keymark_parse(bytes, size, &m, &error)) {
		if (error == NULL || error->domain != KOV_ERROR || error->message[0] == '\0')
			FAIL("refused without an error");
		if (m.fpr != NULL || m.subkey != NULL || m.address != NULL)
			FAIL("refused, but left strings behind");
		return 0;
	}
	if (m.kind >= KOV_KEYMARK_N_KINDS || !fpr_ok(m.fpr) || !fpr_ok(m.subkey) || m.expires < 0)
		FAIL("a marker with a bad kind, fingerprint or expiry");
	if (m.address != NULL) {
		gsize n = strlen(m.address);
		if (n == 0 || n > KOV_KEYMARK_ADDRESS_MAX)
			FAIL("an address of %zu bytes", n);
		for (gsize i = 0; i < n; i++)
			if ((unsigned char)m.address[i] <= ' ' || (unsigned char)m.address[i] == 0x7f)
				FAIL("an address with a control or a space");
	}
	g_autofree char *again = kov_keymark_format(&m);
	if (again == NULL)
		FAIL("parsed, but cannot be formatted");
	if (strlen(again) != size || memcmp(again, data, size) != 0)
		FAIL("formatted again it differs:\n%s", again);
	kov_keymark_clear(&m);
	return 0;
}
