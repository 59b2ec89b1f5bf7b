/* SPDX-License-Identifier: GPL-3.0-or-later */
/* One fuzz input through the keydir manifest reader (lib/gpg/keydir.c),
 * shared by the libFuzzer target (fuzz-keydir-manifest.c) and the replay
 * of its seeds in t/unit/test-keydir.c. Workers and `koverto explain` read
 * the manifest the watcher wrote, from a directory anyone with queue
 * access may write: the bytes are hostile. Promises checked, any break
 * aborts:
 * - kov_keydir_manifest_parse gives a snapshot, or NULL with a KOV_ERROR;
 * - every entry is found by its address, its file name is that address's
 *   name, its snapshot lies in the snapshot directory; every refusal is
 *   valid UTF-8 and names no '/';
 * - written again (kov_keydir_snapshot_dump) it parses again, and writes
 *   the very same bytes: reader and writer agree. */
#pragma once
#include "error.h"
#include "keydir.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KOV_FUZZ_KEYDIR_FAIL(...)                                          \
	do {                                                               \
		fprintf(stderr, "fuzz-keydir: " __VA_ARGS__);              \
		fputc('\n', stderr);                                       \
		abort();                                                   \
	} while (0)

static void
kov_fuzz_keydir_one(const uint8_t *data, size_t size)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(KovKeydirSnapshot) snap =
		kov_keydir_manifest_parse("/q/.keydir/0123456789abcdef", (const char *)data, size, &error);
	if (snap == NULL) {
		if (error == NULL || error->domain != KOV_ERROR || error->message[0] == '\0')
			KOV_FUZZ_KEYDIR_FAIL("no snapshot and no error");
		return;
	}
	g_autoptr(GPtrArray) entries = kov_keydir_snapshot_entries(snap);
	for (guint i = 0; i < entries->len; i++) {
		const KovKeydirEntry *e = entries->pdata[i];
		g_autofree char *address = NULL, *reason = NULL;
		if (kov_keydir_snapshot_lookup(snap, e->address) != e)
			KOV_FUZZ_KEYDIR_FAIL("an entry not found by its address");
		if (kov_keydir_parse_name(e->file, &address, &reason) != KOV_KEYDIR_NAME_KEY ||
		    strcmp(address, e->address) != 0)
			KOV_FUZZ_KEYDIR_FAIL("an entry whose file is not its address's");
		if (!g_str_has_prefix(e->snapshot, "/q/.keydir/0123456789abcdef/") ||
		    strchr(e->snapshot + 28, '/') != NULL)
			KOV_FUZZ_KEYDIR_FAIL("a snapshot outside the snapshot directory");
	}
	const GPtrArray *refused = kov_keydir_snapshot_refused(snap);
	for (guint i = 0; i < refused->len; i++) {
		const KovKeydirRefusal *r = refused->pdata[i];
		if (strchr(r->file, '/') != NULL || !g_utf8_validate(r->reason, -1, NULL))
			KOV_FUZZ_KEYDIR_FAIL("a refusal with a '/' or a reason not UTF-8");
	}
	g_autofree char *dump = kov_keydir_snapshot_dump(snap);
	g_autoptr(KovKeydirSnapshot) again =
		kov_keydir_manifest_parse("/q/.keydir/0123456789abcdef", dump, strlen(dump), &error);
	if (again == NULL)
		KOV_FUZZ_KEYDIR_FAIL("written again, not read: %s", error->message);
	g_autofree char *dump2 = kov_keydir_snapshot_dump(again);
	if (strcmp(dump, dump2) != 0)
		KOV_FUZZ_KEYDIR_FAIL("written twice, two texts:\n%s---\n%s", dump, dump2);
}
