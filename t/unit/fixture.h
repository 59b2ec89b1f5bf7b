/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What the unit tests share (t/unit/fixture.c, the kov_testsupport
 * library every test-*.c links): a scratch directory under /tmp and its
 * removal, files read and written or the test fails, t/ fixtures, mails
 * parsed from bytes, and the throwaway GnuPG homes made from t/keys. */
#pragma once
#include <glib.h>
#include <gmime/gmime.h>

/* A new empty directory /tmp/@prefix.XXXXXX: a short path, as a GnuPG
 * home or a socket wants. (transfer full) */
char *kov_test_tmpdir_new(const char *prefix);
/* Remove @path and everything below it, never through a link. FALSE
 * when something could not be removed. */
gboolean kov_test_tree_remove(const char *path);

/* A g_test_add fixture: a new directory under /tmp (@dir) and the name
 * of a file in it (@path, named by the test data, a string), which the
 * test may create. Afterwards @path and @path.tmp are removed and the
 * directory must be empty: nothing else may be left behind. */
typedef struct {
	char *dir;
	char *path;
} KovTestDir;
void kov_test_dir_set_up(KovTestDir *f, gconstpointer file_name);
void kov_test_dir_tear_down(KovTestDir *f, gconstpointer file_name);
#define KOV_TEST_ADD_DIR(test_path, file_name, func)                                    \
	g_test_add(test_path, KovTestDir, file_name, kov_test_dir_set_up, func,          \
	           kov_test_dir_tear_down)
/* How many entries directory @path holds; the test fails if it cannot be read. */
guint kov_test_dir_count(const char *path);

/* The contents of @path (@len nullable); the test fails if it cannot be
 * read. (transfer full) */
char *kov_test_file_read(const char *path, gsize *len);
/* @path holds @len bytes of @data (-1: a string) afterwards, or the test fails. */
void kov_test_file_write(const char *path, const char *data, gssize len);
/* Every file of t/fuzz/@seeds, and those of t/fuzz/regressions named
 * @prefix*, through @one (a fuzz target's checks, which abort on a
 * broken promise). Returns how many. */
guint kov_test_fuzz_replay(const char *seeds, const char *prefix,
                           void (*one)(const guint8 *data, gsize len));
/* The contents of the fixture t/@first/... (G_TEST_DIST). (transfer full) */
char *kov_test_dist_read(gsize *len, const char *first, ...) G_GNUC_NULL_TERMINATED;

/* The message in @len bytes of @data; the test fails if GMime makes none.
 * (transfer full) */
GMimeMessage *kov_test_message_parse(const char *data, gsize len);
/* The MIME part in @len bytes of @data, likewise. (transfer full) */
GMimeObject *kov_test_part_parse(const char *data, gsize len);

/* Run @argv (PATH searched); the test fails unless it exits 0. Its
 * standard output. (transfer full) */
char *kov_test_run(const char *const *argv);
/* A new GnuPG home under /tmp made by t/keys/@script ("setup-home" or
 * "setup-reader"); should the test abort, it and its agent are removed
 * all the same. (transfer full) */
char *kov_test_gnupghome_new(const char *script);
/* Stop the agent of @home (nullable), remove it, free the string. */
void kov_test_gnupghome_free(char *home);
/* The fingerprint of fixture key @name (t/keys/fingerprints). (transfer full) */
char *kov_test_fingerprint(const char *name);
