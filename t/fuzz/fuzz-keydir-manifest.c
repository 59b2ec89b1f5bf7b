/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target over the keydir manifest reader (lib/gpg/keydir.c):
 * fuzz-keydir-one.h says which promises are checked. Built with
 * -DKOVERTO_FUZZ=ON (clang); run by scripts/fuzz, seeds in seed-keydir/. */
#include "fuzz-keydir-one.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kov_fuzz_keydir_one(data, size);
	return 0;
}
