/* SPDX-License-Identifier: GPL-3.0-or-later */
/* One fuzz input through the per-mail state reader (lib/spool/state.c),
 * shared by the libFuzzer target (fuzz-state.c) and the replay of its
 * seeds and finds in t/unit/test-state.c. A state file is written by
 * koverto, but `koverto status` reads it from a spool that anyone with
 * queue access may write, and the daemon reloads it after every crash:
 * the bytes are hostile. Promises checked, any break aborts:
 * - kov_state_parse gives a state, or NULL with a KOV_ERROR message;
 * - every getter answers; a last error and a reason are valid UTF-8;
 * - the same bytes as a file (kov_state_load) read as parse read them;
 * - any address (up to four lines of the input, NUL cut) can be recorded
 *   in that state with any reason (another line), and reads back so;
 * - saved and loaded again, everything reads the same: what GKeyFile
 *   writes it reads back, whatever it was given. */
#pragma once
#include "state.h"
#include "error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KOV_FUZZ_STATE_FAIL(...)                                           \
	do {                                                               \
		fprintf(stderr, "fuzz-state: " __VA_ARGS__);               \
		fputc('\n', stderr);                                       \
		abort();                                                   \
	} while (0)

/* What one state says, as text, for comparing two readings. */
static char *
kov_fuzz_state_text(KovState *state, char *const *addresses)
{
	GString *s = g_string_new(NULL);
	g_autofree char *last = kov_state_get_last_error(state);
	if (last != NULL && !g_utf8_validate(last, -1, NULL))
		KOV_FUZZ_STATE_FAIL("a last error that is not UTF-8");
	g_string_append_printf(s, "a=%u c=%u f=%" G_GINT64_FORMAT " n=%" G_GINT64_FORMAT " e=%s\n",
	                       kov_state_get_attempts(state), kov_state_get_crashes(state),
	                       kov_state_get_first_seen(state), kov_state_get_next_attempt(state),
	                       last != NULL ? last : "(none)");
	for (char *const *a = addresses; *a != NULL; a++) {
		g_autofree char *reason = NULL;
		KovRcptState r = kov_state_get_rcpt(state, *a, &reason);
		if (reason != NULL && !g_utf8_validate(reason, -1, NULL))
			KOV_FUZZ_STATE_FAIL("a reason that is not UTF-8");
		g_string_append_printf(s, "%d %s\n", (int)r, reason != NULL ? reason : "(none)");
	}
	return g_string_free(s, FALSE);
}

/* Where the files go: kov_fuzz_state_tmpdir when the caller set it (the
 * unit test's directory), else $KOVERTO_FUZZ_DIR (scripts/fuzz makes and
 * removes it), else a directory made under /tmp once. */
static char *kov_fuzz_state_tmpdir;

static const char *
kov_fuzz_state_dir(void)
{
	if (kov_fuzz_state_tmpdir == NULL && g_getenv("KOVERTO_FUZZ_DIR") != NULL)
		kov_fuzz_state_tmpdir = g_strdup(g_getenv("KOVERTO_FUZZ_DIR"));
	if (kov_fuzz_state_tmpdir == NULL) {
		kov_fuzz_state_tmpdir = g_build_filename(g_get_tmp_dir(), "kovfsXXXXXX", NULL);
		if (g_mkdtemp(kov_fuzz_state_tmpdir) == NULL)
			KOV_FUZZ_STATE_FAIL("cannot make a directory");
	}
	return kov_fuzz_state_tmpdir;
}

static void
kov_fuzz_state_one(const uint8_t *data, size_t size)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(KovState) parsed = kov_state_parse("fuzz", (const char *)data, size, &error);
	if (parsed == NULL) {
		if (error == NULL || error->domain != KOV_ERROR || error->message[0] == '\0')
			KOV_FUZZ_STATE_FAIL("no state and no error");
		return;
	}
	/* Up to four addresses and a reason from the input's lines, NUL cut. */
	g_autofree char *text = g_strndup((const char *)data, size);
	g_auto(GStrv) lines = g_strsplit(text, "\n", 6);
	g_autoptr(GPtrArray) addresses = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; lines[i] != NULL && i < 4; i++)
		g_ptr_array_add(addresses, g_strndup(lines[i], 400));
	const char *reason = lines[0] != NULL && lines[1] != NULL && lines[2] != NULL ? lines[2] : "why";
	g_ptr_array_add(addresses, NULL);
	char *const *addr = (char *const *)addresses->pdata;

	g_autofree char *parse_text = kov_fuzz_state_text(parsed, addr);
	/* The same bytes as a file. */
	const char *dir = kov_fuzz_state_dir();
	g_autofree char *path = g_build_filename(dir, "fallback.m", NULL);
	if (!g_file_set_contents(path, (const char *)data, (gssize)size, NULL))
		KOV_FUZZ_STATE_FAIL("cannot write %s", path);
	g_autoptr(KovState) loaded = kov_state_load(path, &error);
	if (loaded == NULL)
		KOV_FUZZ_STATE_FAIL("parsed, but not loaded: %s", error->message);
	g_autofree char *load_text = kov_fuzz_state_text(loaded, addr);
	if (strcmp(parse_text, load_text) != 0)
		KOV_FUZZ_STATE_FAIL("parse and load read differently:\n%s---\n%s", parse_text, load_text);

	/* Any address is recorded, with any reason, and reads back. */
	for (char *const *a = addr; *a != NULL; a++) {
		KovRcptState want = (KovRcptState)((a - addr) % 3);
		if (!kov_state_set_rcpt(loaded, *a, want, reason, &error))
			KOV_FUZZ_STATE_FAIL("cannot record \"%s\": %s", *a, error->message);
		if (kov_state_get_rcpt(loaded, *a, NULL) != want)
			KOV_FUZZ_STATE_FAIL("\"%s\" reads back otherwise", *a);
	}
	kov_state_set_last_error(loaded, reason);
	kov_state_add_attempt(loaded);
	g_autofree char *before = kov_fuzz_state_text(loaded, addr);
	if (!kov_state_save(loaded, &error))
		KOV_FUZZ_STATE_FAIL("cannot save: %s", error->message);
	g_autoptr(KovState) again = kov_state_load(path, &error);
	if (again == NULL)
		KOV_FUZZ_STATE_FAIL("saved, but not loaded again: %s", error->message);
	g_autofree char *after = kov_fuzz_state_text(again, addr);
	if (strcmp(before, after) != 0)
		KOV_FUZZ_STATE_FAIL("saved and loaded, it reads differently:\n%s---\n%s", before, after);
	unlink(path);
}
