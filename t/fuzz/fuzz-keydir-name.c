/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target over a file name in a keys directory
 * (lib/gpg/keydir.c: kov_keydir_parse_name): whoever can write the
 * directory (a git checkout) names the files. The input, cut at its first
 * NUL, is the name. Promises, any break aborts:
 * - IGNORED sets nothing; REFUSED a reason in valid UTF-8 and no address;
 *   KEY an address and no reason;
 * - a KEY name is ADDRESS.asc, its address that name's lower-cased,
 *   valid UTF-8, without '/', "..", whitespace or a control character,
 *   and one kov_address_is_sane() accepts (it goes into gpg's and the
 *   SMTP envelope's way);
 * - a name with a '/' is never a key, nor one starting with a dot;
 * - for an .asc name, the answer does not depend on the case of its
 *   ASCII letters (one address, whatever the case it was written in).
 * Built with -DKOVERTO_FUZZ=ON (clang); run by scripts/fuzz, seeds in
 * seed-keydir-name/. */
#include "address.h"
#include "keydir.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...)                                                  \
	do {                                                       \
		fprintf(stderr, "fuzz-keydir-name: " __VA_ARGS__); \
		fputc('\n', stderr);                               \
		abort();                                           \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *name = g_strndup((const char *)data, size);
	g_autofree char *address = NULL, *reason = NULL;
	KovKeydirName kind = kov_keydir_parse_name(name, &address, &reason);

	switch (kind) {
	case KOV_KEYDIR_NAME_IGNORED:
		if (address != NULL || reason != NULL)
			FAIL("ignored, with an address or a reason");
		break;
	case KOV_KEYDIR_NAME_REFUSED:
		if (address != NULL || reason == NULL || reason[0] == '\0' || !g_utf8_validate(reason, -1, NULL))
			FAIL("refused without a reason in words, or with an address");
		break;
	case KOV_KEYDIR_NAME_KEY: {
		if (address == NULL || reason != NULL)
			FAIL("a key without an address, or with a reason");
		gsize n = strlen(name);
		if (n < 5 || strcmp(name + n - 4, ".asc") != 0 || strlen(address) != n - 4
		    || g_ascii_strncasecmp(address, name, n - 4) != 0)
			FAIL("a key whose address is not its name's: \"%s\"", address);
		if (name[0] == '.' || strchr(name, '/') != NULL || strstr(address, "..") != NULL)
			FAIL("a key with a dot first, a '/' or \"..\": \"%s\"", name);
		if (!g_utf8_validate(address, -1, NULL))
			FAIL("a key address that is not UTF-8");
		for (const unsigned char *p = (const unsigned char *)address; *p != '\0'; p++)
			if (*p <= ' ' || *p == 0x7f || g_ascii_isupper(*p))
				FAIL("a key address with a blank, a control or an upper-case letter");
		if (!kov_address_is_sane(address))
			FAIL("a key address kov_address_is_sane() refuses: \"%s\"", address);
		break;
	}
	default:
		FAIL("an answer out of range: %d", (int)kind);
	}

	/* Case does not matter (the suffix aside: "x.ASC" is no key file). */
	if (g_str_has_suffix(name, ".asc")) {
		g_autofree char *lower = g_ascii_strdown(name, -1);
		g_autofree char *address2 = NULL, *reason2 = NULL;
		KovKeydirName kind2 = kov_keydir_parse_name(lower, &address2, &reason2);
		if (kind2 != kind || g_strcmp0(address2, address) != 0)
			FAIL("\"%s\" and its lower case read differently", name);
	}
	return 0;
}
