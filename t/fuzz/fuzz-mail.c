/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target over raw mail bytes: everything between a file in the
 * queue and the bytes koverto hands to SMTP, without network (see
 * fuzz-one.h for the path and what it checks). With KOVERTO_FUZZ_GNUPGHOME
 * set to a t/keys/setup-home keyring it signs and encrypts each input too:
 * a gpg run per input, so some fifty inputs a second instead of thousands.
 * Built with -DKOVERTO_FUZZ=ON (clang); run by scripts/fuzz. */
#include "fuzz-one.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	kov_fuzz_init();
	const char *home = g_getenv("KOVERTO_FUZZ_GNUPGHOME");
	if (home != NULL && *home != '\0')
		kov_fuzz_init_gnupg(home);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kov_fuzz_one(data, size);
	return 0;
}
