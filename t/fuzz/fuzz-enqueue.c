/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target over the listener's From reader on top of a queue
 * file (lib/intake/enqueue.c): fuzz-enqueue-one.h says which promises are
 * checked. Built with -DKOVERTO_FUZZ=ON (clang); run by scripts/fuzz,
 * seeds in seed-enqueue/. */
#include "fuzz-enqueue-one.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	g_mime_init();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kov_fuzz_enqueue_one(data, size);
	return 0;
}
