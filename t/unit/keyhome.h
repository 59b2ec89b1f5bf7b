/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Test helpers around the fixture keys in t/keys: a throwaway GnuPG home
 * under /tmp (short path: the agent socket lives in it) made by
 * setup-home or setup-reader, its removal with the agent it started, and
 * the fixture fingerprints by name. Header-only: each test is one .c. */
#pragma once
#include <glib.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Homes to clean up should a failed assertion abort the test: the agents
 * would outlive it otherwise. */
static char *kov_test_homes[8];

static inline void
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

static inline void
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

static inline void
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

/* Run @argv (PATH is searched); fail the test unless it exits 0. */
static inline char *
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

/* A new GnuPG home made by t/keys/@script ("setup-home" or "setup-reader").
 * (transfer full) */
static inline char *
kov_test_gnupghome_new(const char *script)
{
	char *home = g_strdup("/tmp/kovXXXXXX");
	if (g_mkdtemp(home) == NULL)
		g_error("mkdtemp: %s", g_strerror(errno));
	g_autofree char *path = g_test_build_filename(G_TEST_DIST, "keys", script, NULL);
	const char *argv[] = { path, home, NULL };
	kov_test_homes_track(home, TRUE);
	g_free(kov_test_run(argv));
	return home;
}

/* Stop the agent of @home and remove it. */
static inline void
kov_test_gnupghome_free(char *home)
{
	if (home == NULL)
		return;
	kov_test_homes_track(home, FALSE);
	const char *kill[] = { "gpgconf", "--homedir", home, "--kill", "all", NULL };
	g_free(kov_test_run(kill));
	const char *rm[] = { "rm", "-rf", home, NULL };
	g_free(kov_test_run(rm));
	g_free(home);
}

/* The fingerprint of fixture key @name (t/keys/fingerprints). (transfer full) */
static inline char *
kov_test_fingerprint(const char *name)
{
	g_autofree char *path = g_test_build_filename(G_TEST_DIST, "keys", "fingerprints", NULL);
	g_autofree char *text = NULL;
	g_autoptr(GError) error = NULL;
	if (!g_file_get_contents(path, &text, NULL, &error))
		g_error("%s", error->message);
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	for (char **line = lines; *line != NULL; line++) {
		g_auto(GStrv) f = g_strsplit(*line, " ", 2);
		if (f[0] != NULL && f[1] != NULL && strcmp(f[0], name) == 0)
			return g_strdup(f[1]);
	}
	g_error("no fixture key %s in %s", name, path);
	return NULL;
}
