/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target over what an SMTP client may send to the listener: the
 * octets go through the session machine (lib/intake/session.c) in random
 * pieces, a random host answering its requests; fuzz-session-one.h says
 * which promises are checked. Built with -DKOVERTO_FUZZ=ON (clang); run
 * by scripts/fuzz, seeds in seed-session/. */
#include "fuzz-session-one.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kov_fuzz_session_one(data, size);
	return 0;
}
