/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target over a per-mail state file (lib/spool/state.c):
 * fuzz-state-one.h says which promises are checked. Built with
 * -DKOVERTO_FUZZ=ON (clang); run by scripts/fuzz, seeds in seed-state/. */
#include "fuzz-state-one.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kov_fuzz_state_one(data, size);
	return 0;
}
