/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Helpers shared by the unit tests, built once as kov_testsupport instead
 * of copied from one test file to the next. Each fails the test itself
 * (g_assert, g_error) where a test could not go on anyway, so a test
 * reads as what it checks. The GnuPG homes are tracked so that a failed
 * assertion (SIGABRT) does not leave their agents running. */
#include "fixture.h"
#include "gmime-autoptr.h"

#include <errno.h>
#include <ftw.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

char *
kov_test_tmpdir_new(const char *prefix)
{
	char *dir = g_strdup_printf("/tmp/%s.XXXXXX", prefix);
	if (g_mkdtemp(dir) == NULL)
		g_error("mkdtemp %s: %s", dir, g_strerror(errno));
	return dir;
}

static int
kov_test_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1; /* an agent's socket may go first */
}

gboolean
kov_test_tree_remove(const char *path)
{
	return nftw(path, kov_test_remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0;
}

void
kov_test_dir_set_up(KovTestDir *f, gconstpointer file_name)
{
	f->dir = kov_test_tmpdir_new("kovt");
	f->path = g_build_filename(f->dir, (const char *)file_name, NULL);
}

void
kov_test_dir_tear_down(KovTestDir *f, gconstpointer file_name)
{
	(void)file_name;
	g_autofree char *tmp = g_strconcat(f->path, ".tmp", NULL);
	g_unlink(f->path);
	g_unlink(tmp);
	g_assert_cmpint(g_rmdir(f->dir), ==, 0); /* nothing else was left behind */
	g_free(f->path);
	g_free(f->dir);
}

guint
kov_test_dir_count(const char *path)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GDir) dir = g_dir_open(path, 0, &error);
	guint n = 0;
	if (dir == NULL)
		g_error("%s", error->message);
	while (g_dir_read_name(dir) != NULL)
		n++;
	return n;
}

char *
kov_test_file_read(const char *path, gsize *len)
{
	char *data = NULL;
	g_autoptr(GError) error = NULL;
	if (!g_file_get_contents(path, &data, len, &error))
		g_error("%s", error->message);
	return data;
}

void
kov_test_file_write(const char *path, const char *data, gssize len)
{
	g_autoptr(GError) error = NULL;
	if (!g_file_set_contents(path, data, len, &error))
		g_error("%s", error->message);
}

char *
kov_test_dist_read(gsize *len, const char *first, ...)
{
	va_list ap;
	va_start(ap, first);
	g_autofree char *rel = g_build_filename_valist(first, &ap);
	va_end(ap);
	g_autofree char *path = g_test_build_filename(G_TEST_DIST, rel, NULL);
	return kov_test_file_read(path, len);
}

/* The parser holds its own reference to the stream. */
static GMimeParser *
kov_test_parser_new(const char *data, gsize len)
{
	g_autoptr(GMimeStream) stream = g_mime_stream_mem_new_with_buffer(data, len);
	return g_mime_parser_new_with_stream(stream);
}

GMimeMessage *
kov_test_message_parse(const char *data, gsize len)
{
	g_autoptr(GMimeParser) parser = kov_test_parser_new(data, len);
	GMimeMessage *message = g_mime_parser_construct_message(parser, NULL);
	g_assert_nonnull(message);
	return message;
}

GMimeObject *
kov_test_part_parse(const char *data, gsize len)
{
	g_autoptr(GMimeParser) parser = kov_test_parser_new(data, len);
	GMimeObject *part = g_mime_parser_construct_part(parser, NULL);
	g_assert_nonnull(part);
	return part;
}

/* ---- GnuPG homes ------------------------------------------------------ */

/* Homes to clean up should a failed assertion abort the test: the agents
 * would outlive it otherwise. */
static char *kov_test_homes[8];

static void
kov_test_spawn_quietly(const char *const *argv)
{
	pid_t pid = fork();
	if (pid == 0) {
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

static void
kov_test_on_abort(int sig)
{
	for (size_t i = 0; i < G_N_ELEMENTS(kov_test_homes); i++) {
		if (kov_test_homes[i] == NULL)
			continue;
		const char *kill[] = { "gpgconf", "--homedir", kov_test_homes[i], "--kill", "all", NULL };
		kov_test_spawn_quietly(kill);
		const char *rm[] = { "rm", "-rf", kov_test_homes[i], NULL };
		kov_test_spawn_quietly(rm);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
kov_test_homes_track(char *home, gboolean add)
{
	for (size_t i = 0; i < G_N_ELEMENTS(kov_test_homes); i++) {
		if (add && kov_test_homes[i] == NULL) {
			kov_test_homes[i] = home;
			signal(SIGABRT, kov_test_on_abort);
			return;
		}
		if (!add && kov_test_homes[i] == home) {
			kov_test_homes[i] = NULL;
			return;
		}
	}
}

char *
kov_test_run(const char *const *argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *err = NULL;
	char *out = NULL;
	int status = 0;
	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
	                  &status, &error))
		g_error("cannot run %s: %s", argv[0], error->message);
	if (!g_spawn_check_wait_status(status, &error))
		g_error("%s failed: %s\n%s", argv[0], error->message, err);
	return out;
}

char *
kov_test_gnupghome_new(const char *script)
{
	char *home = kov_test_tmpdir_new("kov");
	g_autofree char *path = g_test_build_filename(G_TEST_DIST, "keys", script, NULL);
	const char *argv[] = { path, home, NULL };
	kov_test_homes_track(home, TRUE);
	g_free(kov_test_run(argv));
	return home;
}

void
kov_test_gnupghome_free(char *home)
{
	if (home == NULL)
		return;
	kov_test_homes_track(home, FALSE);
	const char *kill[] = { "gpgconf", "--homedir", home, "--kill", "all", NULL };
	g_free(kov_test_run(kill));
	if (!kov_test_tree_remove(home))
		g_error("cannot remove %s: %s", home, g_strerror(errno));
	g_free(home);
}

char *
kov_test_fingerprint(const char *name)
{
	g_autofree char *text = kov_test_dist_read(NULL, "keys", "fingerprints", NULL);
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	for (char **line = lines; *line != NULL; line++) {
		g_auto(GStrv) f = g_strsplit(*line, " ", 2);
		if (f[0] != NULL && f[1] != NULL && strcmp(f[0], name) == 0)
			return g_strdup(f[1]);
	}
	g_error("no fixture key %s in t/keys/fingerprints", name);
	return NULL;
}

guint
kov_test_fuzz_replay(const char *seeds, const char *prefix, void (*one)(const guint8 *data, gsize len))
{
	const char *dirs[] = { seeds, "regressions" };
	guint replayed = 0;
	for (guint i = 0; i < G_N_ELEMENTS(dirs); i++) {
		g_autofree char *dir = g_test_build_filename(G_TEST_DIST, "fuzz", dirs[i], NULL);
		g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
		g_assert_nonnull(d);
		for (const char *name; (name = g_dir_read_name(d)) != NULL;) {
			if (i == 1 && !g_str_has_prefix(name, prefix))
				continue;
			g_autofree char *path = g_build_filename(dir, name, NULL);
			gsize len = 0;
			g_autofree char *bytes = kov_test_file_read(path, &len);
			one((const guint8 *)bytes, len);
			replayed++;
		}
	}
	return replayed;
}
