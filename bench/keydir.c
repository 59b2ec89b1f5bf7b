/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The keys-directory benchmark (issue 14), driven by bench/keydir:
 *   load HOME DIR SNAPDIR          one process loading DIR with lib/gpg/keydir.c
 *                                  twice (the second from memory): files, gpg
 *                                  runs and seconds of each, one JSON line each
 *   encrypt HOME MODE N INPUT SIGNER RCPT...
 *                                  N sign+encrypt operations as koverto makes
 *                                  them (armor, text mode, ALWAYS_TRUST,
 *                                  NO_ENCRYPT_TO), to keyring keys (MODE
 *                                  keyring: RCPT are fingerprints, looked up
 *                                  once), to snapshot files (MODE file: RCPT
 *                                  are paths, gpg --file), or both in one call
 *                                  (MODE mixed: FPR or /PATH)
 *   import HOME DIR                option B: import every ADDRESS.asc of DIR
 *                                  with keep-uid "mbox = ADDRESS", timed
 * Exits non-zero when any operation fails. */
#include "keydir.h"
#include "keys.h"

#include <gpgme.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>

static double
bench_now(void)
{
	return (double)g_get_monotonic_time() / G_USEC_PER_SEC;
}

static int
bench_load(const char *home, const char *dir, const char *snapdir)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(KovKeys) keys = kov_keys_new(home, NULL, FALSE, &error);
	if (keys == NULL) {
		fprintf(stderr, "keydir: %s\n", error->message);
		return 1;
	}
	g_autoptr(KovKeydir) kd = kov_keydir_new(keys, dir, snapdir, &error);
	if (kd == NULL) {
		fprintf(stderr, "keydir: %s\n", error->message);
		return 1;
	}
	for (int round = 1; round <= 2; round++) {
		guint runs = kov_keydir_gpg_runs(kd);
		double t0 = bench_now();
		if (!kov_keydir_load(kd, &error)) {
			fprintf(stderr, "keydir: %s\n", error->message);
			return 1;
		}
		double t = bench_now() - t0;
		g_autoptr(KovKeydirSnapshot) snap = kov_keydir_current(kd);
		g_autoptr(GPtrArray) all = kov_keydir_snapshot_entries(snap);
		printf("{\"load\":%d,\"accepted\":%u,\"refused\":%u,\"gpg_runs\":%u,\"seconds\":%.3f}\n", round,
		       all->len, kov_keydir_snapshot_refused(snap)->len, kov_keydir_gpg_runs(kd) - runs, t);
	}
	return 0;
}

/* CPU seconds of the gpg processes run so far: the machine's load changes
 * the wall time, much less this. GPGME starts gpg through a double fork,
 * so gpg is no child of ours: main() makes this process their subreaper
 * and the orphans are reaped here, which counts them. */
static double
bench_children_cpu(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	       ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static gpgme_ctx_t
bench_context(const char *home)
{
	gpgme_ctx_t ctx = NULL;
	if (gpgme_new(&ctx) != 0 || gpgme_ctx_set_engine_info(ctx, GPGME_PROTOCOL_OpenPGP, NULL, home) != 0)
		return NULL;
	gpgme_set_armor(ctx, 1);
	gpgme_set_textmode(ctx, 1);
	gpgme_set_pinentry_mode(ctx, GPGME_PINENTRY_MODE_ERROR);
	return ctx;
}

static gpgme_key_t
bench_key(gpgme_ctx_t ctx, const char *fpr, int secret)
{
	gpgme_key_t key = NULL;
	if (gpgme_get_key(ctx, fpr, &key, secret) != 0)
		fprintf(stderr, "keydir: no key %s\n", fpr);
	return key;
}

static int
bench_encrypt(const char *home, const char *mode, long n, const char *input, const char *signer,
              char **rcpts)
{
	g_autofree char *bytes = NULL;
	gsize len = 0;
	if (!g_file_get_contents(input, &bytes, &len, NULL))
		return 1;
	gpgme_ctx_t ctx = bench_context(home);
	if (ctx == NULL)
		return 1;
	gpgme_key_t sig = bench_key(ctx, signer, 1);
	if (sig == NULL || gpgme_signers_add(ctx, sig) != 0)
		return 1;
	g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func((GDestroyNotify)gpgme_key_unref);
	g_autoptr(GString) recp = g_string_new(NULL);
	gboolean keyring = strcmp(mode, "keyring") == 0;
	for (char **r = rcpts; *r != NULL; r++) {
		if (keyring) {
			gpgme_key_t key = bench_key(ctx, *r, 0);
			if (key == NULL)
				return 1;
			g_ptr_array_add(keys, key);
		} else if (**r == '/') {
			g_string_append_printf(recp, "--file\n%s\n", *r);
		} else {
			g_string_append_printf(recp, "%s\n", *r);
		}
	}
	g_ptr_array_add(keys, NULL);
	gpgme_encrypt_flags_t flags = GPGME_ENCRYPT_ALWAYS_TRUST | GPGME_ENCRYPT_NO_ENCRYPT_TO;
	double t0 = bench_now(), c0 = bench_children_cpu();
	for (long i = 0; i < n; i++) {
		gpgme_data_t in = NULL, out = NULL;
		gpgme_error_t err = gpgme_data_new_from_mem(&in, bytes, len, 0);
		if (err == 0)
			err = gpgme_data_new(&out);
		if (err == 0 && keyring)
			err = gpgme_op_encrypt_sign(ctx, (gpgme_key_t *)keys->pdata, flags, in, out);
		else if (err == 0)
			err = gpgme_op_encrypt_sign_ext(ctx, NULL, recp->str, flags, in, out);
		gpgme_encrypt_result_t er = err == 0 ? gpgme_op_encrypt_result(ctx) : NULL;
		if (err != 0 || er == NULL || er->invalid_recipients != NULL) {
			fprintf(stderr, "keydir: encrypt failed: %s\n",
			        err != 0 ? gpgme_strerror(err) : "invalid recipient");
			return 1;
		}
		gpgme_data_release(in);
		gpgme_data_release(out);
	}
	double t = bench_now() - t0, cpu = bench_children_cpu() - c0;
	printf("{\"mode\":\"%s\",\"recipients\":%u,\"ops\":%ld,\"seconds\":%.3f,\"ms_per_op\":%.2f,"
	       "\"gpg_cpu_ms_per_op\":%.2f}\n",
	       mode, g_strv_length(rcpts), n, t, 1000 * t / (double)n, 1000 * cpu / (double)n);
	gpgme_key_unref(sig);
	gpgme_release(ctx);
	return 0;
}

static int
bench_import(const char *home, const char *dir)
{
	gpgme_ctx_t ctx = bench_context(home);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	if (ctx == NULL || d == NULL)
		return 1;
	long files = 0;
	double t0 = bench_now();
	for (const char *name; (name = g_dir_read_name(d)) != NULL;) {
		g_autofree char *address = NULL, *reason = NULL;
		if (kov_keydir_parse_name(name, &address, &reason) != KOV_KEYDIR_NAME_KEY)
			continue;
		g_autofree char *path = g_build_filename(dir, name, NULL);
		g_autofree char *filter = g_strdup_printf("keep-uid=mbox = %s", address);
		gpgme_data_t data = NULL;
		gpgme_error_t err = gpgme_set_ctx_flag(ctx, "import-filter", filter);
		if (err == 0)
			err = gpgme_data_new_from_file(&data, path, 1);
		if (err == 0)
			err = gpgme_op_import(ctx, data);
		gpgme_data_release(data);
		if (err != 0) {
			fprintf(stderr, "keydir: import %s: %s\n", name, gpgme_strerror(err));
			return 1;
		}
		files++;
	}
	double t = bench_now() - t0;
	printf("{\"import\":%ld,\"seconds\":%.3f}\n", files, t);
	gpgme_release(ctx);
	return 0;
}

int
main(int argc, char **argv)
{
	setlocale(LC_ALL, "");
	gpgme_check_version(NULL);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (argc == 5 && strcmp(argv[1], "load") == 0)
		return bench_load(argv[2], argv[3], argv[4]);
	if (argc >= 8 && strcmp(argv[1], "encrypt") == 0)
		return bench_encrypt(argv[2], argv[3], strtol(argv[4], NULL, 10), argv[5], argv[6], argv + 7);
	if (argc == 4 && strcmp(argv[1], "import") == 0)
		return bench_import(argv[2], argv[3]);
	fprintf(stderr, "usage: bench-keydir load HOME DIR SNAPDIR\n"
	                "       bench-keydir encrypt HOME keyring|file|mixed N INPUT SIGNER RCPT...\n"
	                "       bench-keydir import HOME DIR\n");
	return 64;
}
