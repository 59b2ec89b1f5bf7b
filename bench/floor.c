/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The GPGME floor for koverto's benchmark: the least work any GPGME-based
 * program must do for N sign+encrypt operations. P processes (one per core
 * by default); each makes one context and looks up its two keys once, then
 * runs its share of the operations on the same bytes, armored, to one
 * recipient, signed by one signer: no mail handling, no SMTP, no queue.
 * Prints one JSON line; exits non-zero if any operation fails. */
#include <gpgme.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
	const char *home;
	const char *recipient;   /* fingerprint or address of the encryption key */
	const char *signer;      /* fingerprint or address of the signing key */
	const char *input;       /* file with the bytes to sign and encrypt */
	long ops;                /* total operations over all processes */
	int procs;
} FloorArgs;

static double
floor_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
floor_usage(void)
{
	fprintf(stderr, "usage: floor -H GNUPGHOME -r RECIPIENT -u SIGNER -i INPUT -n OPS [-p PROCS]\n");
	exit(64);
}

static char *
floor_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	char *buf = NULL;
	size_t cap = 0, n = 0, got;
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			char *grown = realloc(buf, cap);
			if (grown == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = grown;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	fclose(f);
	*len = n;
	return buf;
}

/* The one key lookup of a process: the first key whose listing matches
 * @pattern and that can do what we need (@secret: sign, else encrypt). */
static gpgme_key_t
floor_key(gpgme_ctx_t ctx, const char *pattern, int secret)
{
	gpgme_key_t key = NULL, found = NULL;
	gpgme_error_t err = gpgme_op_keylist_start(ctx, pattern, secret);

	while (!err && (err = gpgme_op_keylist_next(ctx, &key)) == 0) {
		if (found == NULL && (secret ? key->can_sign : key->can_encrypt))
			found = key;
		else
			gpgme_key_unref(key);
	}
	gpgme_op_keylist_end(ctx);
	if (found == NULL)
		fprintf(stderr, "floor: no usable %s key for %s\n", secret ? "signing" : "encryption", pattern);
	return found;
}

static int
floor_one(gpgme_ctx_t ctx, gpgme_key_t *rcpt, const char *bytes, size_t len)
{
	gpgme_data_t in = NULL, out = NULL;
	gpgme_error_t err = gpgme_data_new_from_mem(&in, bytes, len, 0);
	if (!err)
		err = gpgme_data_new(&out);
	if (!err)
		err = gpgme_op_encrypt_sign(ctx, rcpt, GPGME_ENCRYPT_ALWAYS_TRUST | GPGME_ENCRYPT_NO_ENCRYPT_TO,
		                            in, out);
	int ok = !err;
	if (ok) {
		gpgme_encrypt_result_t er = gpgme_op_encrypt_result(ctx);
		gpgme_sign_result_t sr = gpgme_op_sign_result(ctx);
		ok = er != NULL && er->invalid_recipients == NULL && sr != NULL && sr->signatures != NULL
		     && sr->invalid_signers == NULL;
	}
	if (ok) {
		size_t outlen = 0;
		char *armored = gpgme_data_release_and_get_mem(out, &outlen);
		out = NULL;
		ok = armored != NULL && outlen > 27 && memcmp(armored, "-----BEGIN PGP MESSAGE-----", 27) == 0;
		gpgme_free(armored);
	}
	if (!ok)
		fprintf(stderr, "floor: encrypt+sign failed: %s\n", err ? gpgme_strerror(err) : "bad result");
	gpgme_data_release(in);
	gpgme_data_release(out);
	return ok;
}

/* A worker: set up, tell the parent (@ready), wait for the start signal
 * (@go), then run @ops operations. */
static int
floor_worker(const FloorArgs *a, long ops, int ready, int go)
{
	size_t len = 0;
	char *bytes = floor_slurp(a->input, &len);
	gpgme_ctx_t ctx = NULL;
	gpgme_key_t rcpt[2] = { NULL, NULL }, signer = NULL;
	char c = 'f';

	if (bytes != NULL && gpgme_new(&ctx) == 0
	    && gpgme_ctx_set_engine_info(ctx, GPGME_PROTOCOL_OpenPGP, NULL, a->home) == 0) {
		gpgme_set_armor(ctx, 1);
		gpgme_set_pinentry_mode(ctx, GPGME_PINENTRY_MODE_ERROR);
		rcpt[0] = floor_key(ctx, a->recipient, 0);
		signer = floor_key(ctx, a->signer, 1);
		if (rcpt[0] != NULL && signer != NULL && gpgme_signers_add(ctx, signer) == 0)
			c = 'r';
	}
	/* Always answer, so the parent never waits for a worker that gave up. */
	if (write(ready, &c, 1) != 1 || c != 'r' || read(go, &c, 1) != 1)
		return 1;
	for (long i = 0; i < ops; i++)
		if (!floor_one(ctx, rcpt, bytes, len))
			return 1;
	gpgme_key_unref(rcpt[0]);
	gpgme_key_unref(signer);
	gpgme_release(ctx);
	free(bytes);
	return 0;
}

static void
floor_parse(int argc, char **argv, FloorArgs *a)
{
	int opt;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	*a = (FloorArgs){ .ops = 0, .procs = n > 0 ? (int)n : 1 };
	while ((opt = getopt(argc, argv, "H:r:u:i:n:p:")) != -1) {
		switch (opt) {
		case 'H': a->home = optarg; break;
		case 'r': a->recipient = optarg; break;
		case 'u': a->signer = optarg; break;
		case 'i': a->input = optarg; break;
		case 'n': a->ops = strtol(optarg, NULL, 10); break;
		case 'p': a->procs = atoi(optarg); break;
		default: floor_usage();
		}
	}
	if (!a->home || !a->recipient || !a->signer || !a->input || a->ops < 1 || a->procs < 1
	    || optind != argc)
		floor_usage();
	if (a->procs > a->ops)
		a->procs = (int)a->ops;
}

int
main(int argc, char **argv)
{
	FloorArgs a;
	int ready[2], go[2], failed = 0;
	char c;

	floor_parse(argc, argv, &a);
	setlocale(LC_ALL, "");
	gpgme_check_version(NULL);
	if (pipe(ready) != 0 || pipe(go) != 0) {
		perror("floor: pipe");
		return 1;
	}
	double t0 = floor_now();
	for (int i = 0; i < a.procs; i++) {
		long share = a.ops / a.procs + (i < a.ops % a.procs);
		pid_t pid = fork();
		if (pid < 0) {
			perror("floor: fork");
			return 1;
		}
		if (pid == 0) {
			close(ready[0]);
			close(go[1]);
			_exit(floor_worker(&a, share, ready[1], go[0]));
		}
	}
	close(ready[1]);
	close(go[0]);
	/* All contexts and keys ready before the clock starts: the floor is the
	 * operations alone. */
	for (int i = 0; i < a.procs; i++)
		if (read(ready[0], &c, 1) != 1 || c != 'r')
			failed = 1;
	double t1 = floor_now();
	/* On a failed set-up, closing go/ without a byte stops every worker. */
	for (int i = 0; i < a.procs && !failed; i++)
		if (write(go[1], "g", 1) != 1)
			failed = 1;
	close(go[1]);
	for (int i = 0; i < a.procs; i++) {
		int status;
		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	}
	double t2 = floor_now();
	if (failed) {
		fprintf(stderr, "floor: a worker failed\n");
		return 1;
	}
	printf("{\"procs\": %d, \"ops\": %ld, \"setup_s\": %.6f, \"wall_s\": %.6f, \"ops_per_s\": %.3f}\n",
	       a.procs, a.ops, t1 - t0, t2 - t1, (double)a.ops / (t2 - t1));
	return 0;
}
