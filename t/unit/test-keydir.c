/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of lib/gpg/keydir.c with the real keys of t/keys and real gpg
 * in an empty GnuPG home (nothing is imported, so nothing could come from
 * a keyring): the file-name parser as a pure function, each kind of file
 * accepted or refused with its reason, hostile entries (links, FIFOs,
 * directories, huge files) refused without hanging, the content-hash cache
 * (counted gpg runs, in one process and across a restart), snapshots
 * that outlive the files they came from, and their pruning. */
#include "../fuzz/fuzz-keydir-one.h"
#include "error.h"
#include "fixture.h"
#include "gpgme-autoptr.h"
#include "keydir.h"
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *home;
static KovKeys *keys;

/* A key directory and a snapshot directory under /tmp. */
typedef struct {
	char *top;
	char *dir;
	char *snapdir;
	KovKeydir *kd;
} Fixture;

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
	(void)data;
	f->top = kov_test_tmpdir_new("kovkd");
	f->dir = g_build_filename(f->top, "keys", NULL);
	f->snapdir = g_build_filename(f->top, "snap", NULL);
	g_assert_cmpint(g_mkdir(f->dir, 0700), ==, 0);
	g_autoptr(GError) error = NULL;
	f->kd = kov_keydir_new(keys, f->dir, f->snapdir, &error);
	g_assert_no_error(error);
	g_assert_nonnull(f->kd);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
	(void)data;
	kov_keydir_free(f->kd);
	g_assert_true(kov_test_tree_remove(f->top));
	g_free(f->top);
	g_free(f->dir);
	g_free(f->snapdir);
}

/* File @name in the key directory holds the public keys of @fixtures
 * (NULL-terminated names from t/keys), one after the other. */
static void
put_keys(Fixture *f, const char *name, ...)
{
	g_autoptr(GString) all = g_string_new(NULL);
	va_list ap;
	va_start(ap, name);
	for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
		g_autofree char *file = g_strconcat(k, ".pub.asc", NULL);
		g_autofree char *text = kov_test_dist_read(NULL, "keys", file, NULL);
		g_string_append(all, text);
	}
	va_end(ap);
	g_autofree char *path = g_build_filename(f->dir, name, NULL);
	kov_test_file_write(path, all->str, (gssize)all->len);
}

static void
load(Fixture *f)
{
	g_autoptr(GError) error = NULL;
	g_assert_true(kov_keydir_load(f->kd, &error));
	g_assert_no_error(error);
}

/* The reason file @name was refused for in @snap; the test fails when it
 * was not refused. */
static const char *
refused_for(KovKeydirSnapshot *snap, const char *name)
{
	const GPtrArray *refused = kov_keydir_snapshot_refused(snap);
	for (guint i = 0; i < refused->len; i++) {
		const KovKeydirRefusal *r = refused->pdata[i];
		if (strcmp(r->file, name) == 0)
			return r->reason;
	}
	g_error("%s was not refused", name);
	return NULL;
}

static void
assert_refused(KovKeydirSnapshot *snap, const char *name, const char *address, const char *part)
{
	const char *reason = refused_for(snap, name);
	if (strstr(reason, part) == NULL)
		g_error("%s: reason \"%s\" lacks \"%s\"", name, reason, part);
	if (address != NULL)
		g_assert_null(kov_keydir_snapshot_lookup(snap, address));
}

/* ---- the name parser ------------------------------------------------------ */

static void
assert_name(const char *name, KovKeydirName kind, const char *expect)
{
	g_autofree char *address = NULL, *reason = NULL;
	KovKeydirName got = kov_keydir_parse_name(name, &address, &reason);
	if (got != kind)
		g_error("\"%s\": kind %d, not %d (%s)", name, got, kind, reason ? reason : "");
	switch (kind) {
	case KOV_KEYDIR_NAME_KEY:
		g_assert_cmpstr(address, ==, expect);
		g_assert_null(reason);
		break;
	case KOV_KEYDIR_NAME_REFUSED:
		g_assert_null(address);
		g_assert_nonnull(reason);
		if (expect != NULL && strstr(reason, expect) == NULL)
			g_error("\"%s\": reason \"%s\" lacks \"%s\"", name, reason, expect);
		break;
	case KOV_KEYDIR_NAME_IGNORED:
		g_assert_null(address);
		g_assert_null(reason);
		break;
	}
}

static void
test_name(void)
{
	assert_name("bob@example.net.asc", KOV_KEYDIR_NAME_KEY, "bob@example.net");
	assert_name("Bob.Keyed@Example.NET.asc", KOV_KEYDIR_NAME_KEY, "bob.keyed@example.net");
	assert_name("o'neil+tag@m\xc3\xbcller.example.asc", KOV_KEYDIR_NAME_KEY,
	            "o'neil+tag@m\xc3\xbcller.example");

	/* Not key files at all. */
	assert_name(".", KOV_KEYDIR_NAME_IGNORED, NULL);
	assert_name("..", KOV_KEYDIR_NAME_IGNORED, NULL);
	assert_name(".git", KOV_KEYDIR_NAME_IGNORED, NULL);
	assert_name(".bob@example.net.asc.swp", KOV_KEYDIR_NAME_IGNORED, NULL);
	assert_name(".bob@example.net.asc", KOV_KEYDIR_NAME_IGNORED, NULL);
	assert_name("README.md", KOV_KEYDIR_NAME_IGNORED, NULL);
	assert_name("bob@example.net.asc~", KOV_KEYDIR_NAME_IGNORED, NULL);
	assert_name("bob@example.net", KOV_KEYDIR_NAME_IGNORED, NULL);
	assert_name("", KOV_KEYDIR_NAME_IGNORED, NULL);

	/* Key files with a wrong name. */
	assert_name("bob@example.net.gpg", KOV_KEYDIR_NAME_REFUSED, "armored");
	assert_name("bob@example.net.pgp", KOV_KEYDIR_NAME_REFUSED, "armored");
	assert_name("bob.asc", KOV_KEYDIR_NAME_REFUSED, "'@'");
	assert_name(".asc", KOV_KEYDIR_NAME_IGNORED, NULL);
	assert_name("@.asc", KOV_KEYDIR_NAME_REFUSED, "empty");
	assert_name("bob@.asc", KOV_KEYDIR_NAME_REFUSED, "empty");
	assert_name("@example.net.asc", KOV_KEYDIR_NAME_REFUSED, "empty");
	assert_name("a@b@example.net.asc", KOV_KEYDIR_NAME_REFUSED, "'@'");
	assert_name("a/b@example.net.asc", KOV_KEYDIR_NAME_REFUSED, "'/'");
	assert_name("../bob@example.net.asc", KOV_KEYDIR_NAME_IGNORED, NULL);
	assert_name("x/../../bob@example.net.asc", KOV_KEYDIR_NAME_REFUSED, "'/'");
	assert_name("a..b@example.net.asc", KOV_KEYDIR_NAME_REFUSED, "dot");
	assert_name("bob.@example.net.asc", KOV_KEYDIR_NAME_REFUSED, "dot");
	assert_name("bob@.example.net.asc", KOV_KEYDIR_NAME_REFUSED, "dot");
	assert_name("bob@example..net.asc", KOV_KEYDIR_NAME_REFUSED, "dot");
	assert_name("bob@example.net..asc", KOV_KEYDIR_NAME_REFUSED, "dot");
	assert_name("bob\n@example.net.asc", KOV_KEYDIR_NAME_REFUSED, "control");
	assert_name("bob\r@example.net.asc", KOV_KEYDIR_NAME_REFUSED, "control");
	assert_name("bob\x7f@example.net.asc", KOV_KEYDIR_NAME_REFUSED, "control");
	assert_name("bob\x1b[31m@example.net.asc", KOV_KEYDIR_NAME_REFUSED, "control");
	assert_name("b o b@example.net.asc", KOV_KEYDIR_NAME_REFUSED, "local part");
	assert_name("\"b o b\"@example.net.asc", KOV_KEYDIR_NAME_REFUSED, "local part");
	assert_name("bob@exa mple.net.asc", KOV_KEYDIR_NAME_REFUSED, "domain");
	assert_name("bob@[127.0.0.1].asc", KOV_KEYDIR_NAME_REFUSED, "domain");
	assert_name("bob@exam_ple.net.asc", KOV_KEYDIR_NAME_REFUSED, "domain");
	assert_name("b\\ob@example.net.asc", KOV_KEYDIR_NAME_REFUSED, "local part");
	assert_name("bob\xff@example.net.asc", KOV_KEYDIR_NAME_REFUSED, "UTF-8");
	assert_name("-oProxy@example.net.asc", KOV_KEYDIR_NAME_REFUSED, "envelope");
	assert_name("=?utf-8?q?x?=@example.net.asc", KOV_KEYDIR_NAME_REFUSED, "envelope");
	g_autofree char *local = g_strnfill(250, 'a');
	g_autofree char *longname = g_strdup_printf("%s@example.net.asc", local);
	assert_name(longname, KOV_KEYDIR_NAME_REFUSED, "254");
}

/* ---- accepted and refused keys ------------------------------------------- */

static void
test_accepted(Fixture *f, gconstpointer data)
{
	(void)data;
	put_keys(f, "bob@example.net.asc", "bob", NULL);
	put_keys(f, "Carol@Example.NET.asc", "carol", NULL);
	load(f);
	g_autoptr(KovKeydirSnapshot) snap = kov_keydir_current(f->kd);
	g_assert_cmpuint(kov_keydir_snapshot_refused(snap)->len, ==, 0);

	const KovKeydirEntry *bob = kov_keydir_snapshot_lookup(snap, "BOB@example.net");
	g_assert_nonnull(bob);
	g_autofree char *bob_fpr = kov_test_fingerprint("bob");
	g_assert_cmpstr(bob->address, ==, "bob@example.net");
	g_assert_cmpstr(bob->file, ==, "bob@example.net.asc");
	g_assert_cmpstr(bob->fingerprint, ==, bob_fpr);
	g_assert_nonnull(bob->subkey);
	g_assert_cmpstr(bob->subkey, !=, bob_fpr);  /* the cv25519 subkey, not the primary */
	g_assert_cmpint(bob->expires, ==, 0);
	g_assert_cmpuint(strlen(bob->sha256), ==, 64);
	g_autofree char *base = g_strconcat(bob->sha256, ".asc", NULL);
	g_autofree char *want = g_build_filename(f->snapdir, base, NULL);
	g_assert_cmpstr(bob->snapshot, ==, want);
	g_autofree char *orig = kov_test_dist_read(NULL, "keys", "bob.pub.asc", NULL);
	g_autofree char *copy = kov_test_file_read(bob->snapshot, NULL);
	g_assert_cmpstr(copy, ==, orig);
	struct stat st;
	g_assert_cmpint(stat(bob->snapshot, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);

	const KovKeydirEntry *carol = kov_keydir_snapshot_lookup(snap, "carol@example.net");
	g_assert_nonnull(carol);
	g_assert_cmpstr(carol->file, ==, "Carol@Example.NET.asc");
	g_autofree char *carol_fpr = kov_test_fingerprint("carol");
	g_assert_cmpstr(carol->fingerprint, ==, carol_fpr);
	g_assert_null(kov_keydir_snapshot_lookup(snap, "dave@example.com"));

	g_autoptr(GPtrArray) all = kov_keydir_snapshot_entries(snap);
	g_assert_cmpuint(all->len, ==, 2);
	g_assert_true(all->pdata[0] == bob);
	g_assert_true(all->pdata[1] == carol);

	/* gpg encrypts to the snapshot as a file, with nothing in the keyring. */
	g_autoptr(GError) error = NULL;
	g_auto(gpgme_ctx_t) ctx = kov_keys_new_context(keys, &error);
	g_assert_no_error(error);
	g_auto(gpgme_data_t) in = NULL, out = NULL;
	g_assert_cmpint(gpgme_data_new_from_mem(&in, "hello\n", 6, 0), ==, 0);
	g_assert_cmpint(gpgme_data_new(&out), ==, 0);
	g_autofree char *recp = g_strdup_printf("--file\n%s\n", bob->snapshot);
	gpgme_error_t err = gpgme_op_encrypt_ext(ctx, NULL, recp, GPGME_ENCRYPT_NO_ENCRYPT_TO, in, out);
	g_assert_cmpstr(gpgme_strerror(err), ==, gpgme_strerror(0));
	gpgme_encrypt_result_t result = gpgme_op_encrypt_result(ctx);
	g_assert_null(result->invalid_recipients);
}

static void
test_refused(Fixture *f, gconstpointer data)
{
	(void)data;
	put_keys(f, "two@example.net.asc", "bob", "carol", NULL);      /* two keys */
	put_keys(f, "carol@example.net.asc", "bob", NULL);             /* address missing */
	put_keys(f, "jimbob@example.net.asc", "jimbob", NULL);         /* accepted ... */
	put_keys(f, "bob@example.net.asc", "jimbob", NULL);            /* ... but not for bob */
	put_keys(f, "ivan@example.net.asc", "ivan", NULL);
	put_keys(f, "hank@example.net.asc", "hank", NULL);
	put_keys(f, "erin@example.net.asc", "erin", NULL);
	put_keys(f, "judy@example.net.asc", "judy-old", "judy-new", NULL);
	g_autofree char *secret = kov_test_dist_read(NULL, "keys", "alice.sec.asc", NULL);
	g_autofree char *alice = g_build_filename(f->dir, "alice@example.org.asc", NULL);
	kov_test_file_write(alice, secret, -1);
	g_autofree char *garbage = g_build_filename(f->dir, "dave@example.com.asc", NULL);
	kov_test_file_write(garbage, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n"
	                             "-----END PGP PUBLIC KEY BLOCK-----\n", -1);
	/* Armor around random bytes, and around a key with its packets cut. */
	guint8 noise[3000];
	for (gsize i = 0; i < sizeof noise; i++)
		noise[i] = (guint8)g_test_rand_int_range(0, 256);
	g_autofree char *noise64 = g_base64_encode(noise, sizeof noise);
	g_autofree char *noise_text = g_strdup_printf("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n%s\n"
	                                              "-----END PGP PUBLIC KEY BLOCK-----\n", noise64);
	g_autofree char *noise_file = g_build_filename(f->dir, "noise@example.net.asc", NULL);
	kov_test_file_write(noise_file, noise_text, -1);
	g_autofree char *bob_text = kov_test_dist_read(NULL, "keys", "bob.pub.asc", NULL);
	g_autoptr(GString) cut = g_string_new(bob_text);
	char *body = strstr(cut->str, "\n\n");
	g_assert_nonnull(body);
	g_string_erase(cut, body - cut->str + 2 + 40, 200);
	g_autofree char *cut_file = g_build_filename(f->dir, "cut@example.net.asc", NULL);
	kov_test_file_write(cut_file, cut->str, (gssize)cut->len);
	g_autofree char *empty = g_build_filename(f->dir, "frank@example.net.asc", NULL);
	kov_test_file_write(empty, "", 0);
	put_keys(f, "carol@example.net.gpg", "carol", NULL);
	put_keys(f, "README", "carol", NULL);
	load(f);
	g_autoptr(KovKeydirSnapshot) snap = kov_keydir_current(f->kd);

	assert_refused(snap, "two@example.net.asc", "two@example.net", "holds 2 keys");
	assert_refused(snap, "judy@example.net.asc", "judy@example.net", "holds 2 keys");
	assert_refused(snap, "carol@example.net.asc", "carol@example.net",
	               "no user ID with address carol@example.net (it has: bob@example.net)");
	/* jimbob@example.net ends in bob@example.net: no substring match. */
	assert_refused(snap, "bob@example.net.asc", "bob@example.net",
	               "no user ID with address bob@example.net (it has: jimbob@example.net)");
	assert_refused(snap, "ivan@example.net.asc", "ivan@example.net", "revoked");
	assert_refused(snap, "hank@example.net.asc", "hank@example.net", "expired");
	assert_refused(snap, "erin@example.net.asc", "erin@example.net", "no encryption subkey");
	assert_refused(snap, "alice@example.org.asc", "alice@example.org", "secret key");
	assert_refused(snap, "dave@example.com.asc", "dave@example.com", "no key");
	assert_refused(snap, "frank@example.net.asc", "frank@example.net", "not an armored public key");
	assert_refused(snap, "carol@example.net.gpg", NULL, "armored");
	g_assert_nonnull(kov_keydir_snapshot_lookup(snap, "jimbob@example.net"));
	assert_refused(snap, "noise@example.net.asc", "noise@example.net", "");
	assert_refused(snap, "cut@example.net.asc", "cut@example.net", "");
	g_assert_cmpuint(kov_keydir_snapshot_refused(snap)->len, ==, 13);  /* not README */
	g_autoptr(GPtrArray) all = kov_keydir_snapshot_entries(snap);
	g_assert_cmpuint(all->len, ==, 1);
	/* Only the accepted key has a snapshot; the secret key was never copied. */
	g_autoptr(GDir) d = g_dir_open(f->snapdir, 0, NULL);
	guint asc = 0;
	for (const char *n; (n = g_dir_read_name(d)) != NULL;)
		asc += g_str_has_suffix(n, ".asc");
	g_assert_cmpuint(asc, ==, 1);
}

/* Two files for one address (names differing in case): neither is used. */
static void
test_clash(Fixture *f, gconstpointer data)
{
	(void)data;
	put_keys(f, "bob@example.net.asc", "bob", NULL);
	put_keys(f, "BOB@example.net.asc", "bob", NULL);
	load(f);
	g_autoptr(KovKeydirSnapshot) snap = kov_keydir_current(f->kd);
	assert_refused(snap, "bob@example.net.asc", "bob@example.net", "another file");
	assert_refused(snap, "BOB@example.net.asc", "bob@example.net", "another file");
}

/* ---- hostile entries ------------------------------------------------------- */

static void
test_hostile(Fixture *f, gconstpointer data)
{
	(void)data;
	put_keys(f, "bob@example.net.asc", "bob", NULL);
	/* A link to an accepted file, and to a file outside. */
	g_autofree char *link1 = g_build_filename(f->dir, "bob2@example.net.asc", NULL);
	g_assert_cmpint(symlink("bob@example.net.asc", link1), ==, 0);
	g_autofree char *outside = g_build_filename(f->top, "carol.asc", NULL);
	g_autofree char *carol = kov_test_dist_read(NULL, "keys", "carol.pub.asc", NULL);
	kov_test_file_write(outside, carol, -1);
	g_autofree char *link2 = g_build_filename(f->dir, "carol@example.net.asc", NULL);
	g_assert_cmpint(symlink(outside, link2), ==, 0);
	g_autofree char *dangling = g_build_filename(f->dir, "dan@example.net.asc", NULL);
	g_assert_cmpint(symlink("/nonexistent", dangling), ==, 0);
	/* A FIFO nobody writes to: opening or reading it would block for ever. */
	g_autofree char *fifo = g_build_filename(f->dir, "fifo@example.net.asc", NULL);
	g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
	/* A directory. */
	g_autofree char *sub = g_build_filename(f->dir, "dir@example.net.asc", NULL);
	g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
	/* A huge file: a valid key padded past the cap. */
	g_autofree char *big = g_build_filename(f->dir, "big@example.net.asc", NULL);
	g_autoptr(GString) huge = g_string_new(carol);
	while (huge->len <= KOV_KEYDIR_MAX_FILE)
		g_string_append(huge, "Comment: padding padding padding padding padding padding\n");
	kov_test_file_write(big, huge->str, (gssize)huge->len);
	/* A name with a control character and one with an escape sequence. */
	g_autofree char *ctl = g_build_filename(f->dir, "e\nvil@example.net.asc", NULL);
	put_keys(f, "e\nvil@example.net.asc", "bob", NULL);
	put_keys(f, "e\x1b[2Jvil@example.net.asc", "bob", NULL);
	put_keys(f, "a..b@example.net.asc", "bob", NULL);
	(void)ctl;

	gint64 start = g_get_monotonic_time();
	load(f);
	g_assert_cmpint(g_get_monotonic_time() - start, <, 30 * G_USEC_PER_SEC);
	g_autoptr(KovKeydirSnapshot) snap = kov_keydir_current(f->kd);
	g_assert_nonnull(kov_keydir_snapshot_lookup(snap, "bob@example.net"));
	assert_refused(snap, "bob2@example.net.asc", "bob2@example.net", "symbolic link");
	assert_refused(snap, "carol@example.net.asc", "carol@example.net", "symbolic link");
	assert_refused(snap, "dan@example.net.asc", "dan@example.net", "symbolic link");
	assert_refused(snap, "fifo@example.net.asc", "fifo@example.net", "not a regular file");
	assert_refused(snap, "dir@example.net.asc", "dir@example.net", "not a regular file");
	assert_refused(snap, "big@example.net.asc", "big@example.net", "larger than 1048576 bytes");
	assert_refused(snap, "e\nvil@example.net.asc", NULL, "control");
	assert_refused(snap, "e\x1b[2Jvil@example.net.asc", NULL, "control");
	assert_refused(snap, "a..b@example.net.asc", NULL, "dot");
	g_autoptr(GPtrArray) all = kov_keydir_snapshot_entries(snap);
	g_assert_cmpuint(all->len, ==, 1);
	/* gpg never ran for a refused entry: only bob's bytes were listed. */
	g_assert_cmpuint(kov_keydir_gpg_runs(f->kd), ==, 1);
}

/* A directory that is not there: the load fails and the current snapshot stays. */
static void
test_no_dir(Fixture *f, gconstpointer data)
{
	(void)data;
	put_keys(f, "bob@example.net.asc", "bob", NULL);
	load(f);
	g_autofree char *moved = g_build_filename(f->top, "gone", NULL);
	g_assert_cmpint(g_rename(f->dir, moved), ==, 0);
	g_autoptr(GError) error = NULL;
	g_assert_false(kov_keydir_load(f->kd, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_IOERR);
	g_autoptr(KovKeydirSnapshot) snap = kov_keydir_current(f->kd);
	g_assert_nonnull(kov_keydir_snapshot_lookup(snap, "bob@example.net"));
	g_assert_cmpint(g_rename(moved, f->dir), ==, 0);
}

/* ---- cache and snapshots --------------------------------------------------- */

static void
test_cache(Fixture *f, gconstpointer data)
{
	(void)data;
	put_keys(f, "bob@example.net.asc", "bob", NULL);
	put_keys(f, "carol@example.net.asc", "carol", NULL);
	put_keys(f, "ivan@example.net.asc", "ivan", NULL);
	put_keys(f, "x@example.net.asc", "bob", "carol", NULL);
	load(f);
	g_assert_cmpuint(kov_keydir_gpg_runs(f->kd), ==, 4);
	/* Unchanged: no gpg run, the same verdicts. */
	load(f);
	g_assert_cmpuint(kov_keydir_gpg_runs(f->kd), ==, 4);

	/* A restart: a new KovKeydir on the same snapshot directory. */
	g_autoptr(GError) error = NULL;
	g_autoptr(KovKeydir) again = kov_keydir_new(keys, f->dir, f->snapdir, &error);
	g_assert_no_error(error);
	g_assert_true(kov_keydir_load(again, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(kov_keydir_gpg_runs(again), ==, 0);
	g_autoptr(KovKeydirSnapshot) snap = kov_keydir_current(again);
	g_autofree char *bob_fpr = kov_test_fingerprint("bob");
	const KovKeydirEntry *bob = kov_keydir_snapshot_lookup(snap, "bob@example.net");
	g_assert_nonnull(bob);
	g_assert_cmpstr(bob->fingerprint, ==, bob_fpr);
	g_assert_nonnull(kov_keydir_snapshot_lookup(snap, "carol@example.net"));
	assert_refused(snap, "ivan@example.net.asc", NULL, "revoked");
	assert_refused(snap, "x@example.net.asc", NULL, "holds 2 keys");

	/* The same bytes under another name: its verdict is the name's own, no gpg run. */
	put_keys(f, "bob@example.org.asc", "bob", NULL);
	g_assert_true(kov_keydir_load(again, &error));
	g_assert_cmpuint(kov_keydir_gpg_runs(again), ==, 0);
	g_autoptr(KovKeydirSnapshot) snap2 = kov_keydir_current(again);
	assert_refused(snap2, "bob@example.org.asc", NULL, "no user ID with address bob@example.org");

	/* Changed bytes: one gpg run. */
	put_keys(f, "carol@example.net.asc", "jimbob", NULL);
	g_assert_true(kov_keydir_load(again, &error));
	g_assert_cmpuint(kov_keydir_gpg_runs(again), ==, 1);

	/* A damaged facts file costs a gpg run, not a wrong verdict. */
	g_autofree char *facts_name = g_strconcat(bob->sha256, ".facts", NULL);
	g_autofree char *facts = g_build_filename(f->snapdir, facts_name, NULL);
	kov_test_file_write(facts, "[key]\nkeys=1\nfingerprint=../../etc\n", -1);
	g_autoptr(KovKeydir) third = kov_keydir_new(keys, f->dir, f->snapdir, &error);
	g_assert_true(kov_keydir_load(third, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(kov_keydir_gpg_runs(third), ==, 1);
	g_autoptr(KovKeydirSnapshot) snap3 = kov_keydir_current(third);
	g_assert_cmpstr(kov_keydir_snapshot_lookup(snap3, "bob@example.net")->fingerprint, ==, bob_fpr);

	/* Facts that held until a (sub)key expiry now past are made again:
	 * which subkey gpg uses may have changed. */
	g_autofree char *good = kov_test_file_read(facts, NULL);
	g_assert_nonnull(strstr(good, "until=0\n"));
	g_autoptr(GString) stale = g_string_new(good);
	g_string_replace(stale, "until=0\n", "until=1\n", 1);
	kov_test_file_write(facts, stale->str, -1);
	g_autoptr(KovKeydir) fourth = kov_keydir_new(keys, f->dir, f->snapdir, &error);
	g_assert_true(kov_keydir_load(fourth, &error));
	g_assert_cmpuint(kov_keydir_gpg_runs(fourth), ==, 1);
	g_autofree char *again_facts = kov_test_file_read(facts, NULL);
	g_assert_cmpstr(again_facts, ==, good);
}

/* A mail that took a snapshot keeps it, and its key file, whatever the
 * directory does afterwards. */
static void
test_isolation(Fixture *f, gconstpointer data)
{
	(void)data;
	put_keys(f, "bob@example.net.asc", "bob", NULL);
	load(f);
	g_autoptr(KovKeydirSnapshot) old = kov_keydir_current(f->kd);
	const KovKeydirEntry *bob = kov_keydir_snapshot_lookup(old, "bob@example.net");
	g_assert_nonnull(bob);
	g_autofree char *orig = kov_test_dist_read(NULL, "keys", "bob.pub.asc", NULL);

	/* Rewritten in place (truncated, half written), as a writer would. */
	g_autofree char *path = g_build_filename(f->dir, "bob@example.net.asc", NULL);
	kov_test_file_write(path, orig, (gssize)strlen(orig) / 2);
	g_autofree char *copy = kov_test_file_read(bob->snapshot, NULL);
	g_assert_cmpstr(copy, ==, orig);
	load(f);
	g_autoptr(KovKeydirSnapshot) now = kov_keydir_current(f->kd);
	g_assert_true(now != old);
	g_assert_null(kov_keydir_snapshot_lookup(now, "bob@example.net"));
	assert_refused(now, "bob@example.net.asc", NULL, "");
	/* The old snapshot still answers, with the old bytes. */
	g_assert_true(kov_keydir_snapshot_lookup(old, "bob@example.net") == bob);
	g_free(copy);
	copy = kov_test_file_read(bob->snapshot, NULL);
	g_assert_cmpstr(copy, ==, orig);

	/* Replaced by another valid key for bob: the new snapshot has it; the old
	 * one still has the old one. */
	g_autofree char *old_fpr = g_strdup(bob->fingerprint);
	kov_test_file_write(path, orig, -1);
	g_autofree char *extra = g_strconcat(orig, "\n", NULL);
	kov_test_file_write(path, extra, -1);
	load(f);
	g_autoptr(KovKeydirSnapshot) third = kov_keydir_current(f->kd);
	const KovKeydirEntry *bob3 = kov_keydir_snapshot_lookup(third, "bob@example.net");
	g_assert_nonnull(bob3);
	g_assert_cmpstr(bob3->sha256, !=, bob->sha256);
	g_assert_cmpstr(bob3->snapshot, !=, bob->snapshot);
	g_assert_cmpstr(bob3->fingerprint, ==, old_fpr);
	g_assert_cmpstr(kov_keydir_snapshot_lookup(old, "bob@example.net")->sha256, ==, bob->sha256);

	/* The snapshot outlives the file. */
	g_assert_cmpint(g_unlink(path), ==, 0);
	load(f);
	g_autoptr(KovKeydirSnapshot) fourth = kov_keydir_current(f->kd);
	g_assert_null(kov_keydir_snapshot_lookup(fourth, "bob@example.net"));
	g_free(copy);
	copy = kov_test_file_read(bob->snapshot, NULL);
	g_assert_cmpstr(copy, ==, orig);
}

/* Set the times of snapshot-directory file <@sha>@ext to @age seconds ago. */
static void
age_file(Fixture *f, const char *sha, const char *ext, gint64 age)
{
	g_autofree char *name = g_strconcat(sha, ext, NULL);
	g_autofree char *path = g_build_filename(f->snapdir, name, NULL);
	gint64 t = g_get_real_time() / G_USEC_PER_SEC - age;
	struct timespec times[2] = { { .tv_sec = t }, { .tv_sec = t } };
	g_assert_cmpint(utimensat(AT_FDCWD, path, times, 0), ==, 0);
}

static gboolean
snap_file_exists(Fixture *f, const char *sha, const char *ext)
{
	g_autofree char *name = g_strconcat(sha, ext, NULL);
	g_autofree char *path = g_build_filename(f->snapdir, name, NULL);
	return g_file_test(path, G_FILE_TEST_EXISTS);
}

static void
prune(Fixture *f, gint64 grace, guint expect)
{
	g_autoptr(GError) error = NULL;
	g_assert_cmpuint(kov_keydir_prune(f->kd, grace, &error), ==, expect);
	g_assert_no_error(error);
}

/* Old snapshots go only after a grace counted from when they stopped
 * being current; what the directory holds now stays, accepted or not. */
static void
test_prune(Fixture *f, gconstpointer data)
{
	(void)data;
	put_keys(f, "bob@example.net.asc", "bob", NULL);
	put_keys(f, "carol@example.net.asc", "carol", NULL);
	put_keys(f, "two@example.net.asc", "bob", "carol", NULL);
	load(f);
	g_autoptr(KovKeydirSnapshot) first = kov_keydir_current(f->kd);
	g_autofree char *bob_sha = g_strdup(kov_keydir_snapshot_lookup(first, "bob@example.net")->sha256);
	g_autofree char *carol_sha = g_strdup(kov_keydir_snapshot_lookup(first, "carol@example.net")->sha256);
	/* Files of others in the snapshot directory are never touched. */
	g_autofree char *other = g_build_filename(f->snapdir, "README", NULL);
	kov_test_file_write(other, "not ours\n", -1);
	age_file(f, bob_sha, ".asc", 365 * 86400);
	age_file(f, carol_sha, ".asc", 365 * 86400);
	age_file(f, carol_sha, ".facts", 365 * 86400);
	prune(f, 0, 0);   /* all current, the two-key file's facts too */
	g_assert_cmpuint(kov_test_dir_count(f->snapdir), ==, 6);

	/* carol's file goes, bob's is rewritten: both old snapshots retire now. */
	g_autofree char *carol_path = g_build_filename(f->dir, "carol@example.net.asc", NULL);
	g_assert_cmpint(g_unlink(carol_path), ==, 0);
	g_autofree char *bob_path = g_build_filename(f->dir, "bob@example.net.asc", NULL);
	g_autofree char *orig = kov_test_file_read(bob_path, NULL);
	g_autofree char *changed = g_strconcat(orig, "\n", NULL);
	kov_test_file_write(bob_path, changed, -1);
	load(f);
	prune(f, 3600, 0);  /* a year old, but current until a moment ago */
	g_assert_true(snap_file_exists(f, carol_sha, ".asc"));
	g_assert_true(snap_file_exists(f, bob_sha, ".asc"));

	age_file(f, carol_sha, ".asc", 7200);
	age_file(f, carol_sha, ".facts", 7200);
	age_file(f, bob_sha, ".asc", 7200);
	prune(f, 3600, 3);  /* bob's old facts still in their grace */
	g_assert_false(snap_file_exists(f, carol_sha, ".asc"));
	g_assert_false(snap_file_exists(f, carol_sha, ".facts"));
	g_assert_false(snap_file_exists(f, bob_sha, ".asc"));
	g_assert_true(snap_file_exists(f, bob_sha, ".facts"));
	g_autoptr(KovKeydirSnapshot) now = kov_keydir_current(f->kd);
	const KovKeydirEntry *bob = kov_keydir_snapshot_lookup(now, "bob@example.net");
	g_assert_true(g_file_test(bob->snapshot, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(other, G_FILE_TEST_EXISTS));
	/* carol's bytes back: gpg runs again, her snapshot is written again. */
	put_keys(f, "carol@example.net.asc", "carol", NULL);
	guint runs = kov_keydir_gpg_runs(f->kd);
	load(f);
	g_assert_cmpuint(kov_keydir_gpg_runs(f->kd), ==, runs + 1);
	g_assert_true(snap_file_exists(f, carol_sha, ".asc"));
}


/* ---- the watcher's side: import, manifest, retire, delete ---------------- */

/* Like Fixture, with a GnuPG home of its own: the watcher imports. */
typedef struct {
	char *top, *dir, *snapdir, *home;
	KovKeys *keys;
	KovKeydir *kd;
} Watch;

static void
watch_set_up(Watch *w, gconstpointer data)
{
	(void)data;
	w->top = kov_test_tmpdir_new("kovkw");
	w->dir = g_build_filename(w->top, "keys", NULL);
	w->snapdir = g_build_filename(w->top, "snap", NULL);
	g_assert_cmpint(g_mkdir(w->dir, 0700), ==, 0);
	w->home = kov_test_tmpdir_new("kovwh");
	g_autoptr(GError) error = NULL;
	w->keys = kov_keys_new(w->home, NULL, FALSE, &error);
	g_assert_no_error(error);
	w->kd = kov_keydir_new(w->keys, w->dir, w->snapdir, &error);
	g_assert_no_error(error);
}

static void
watch_tear_down(Watch *w, gconstpointer data)
{
	(void)data;
	kov_keydir_free(w->kd);
	kov_keys_free(w->keys);
	kov_test_gnupghome_free(w->home);
	g_assert_true(kov_test_tree_remove(w->top));
	g_free(w->top);
	g_free(w->dir);
	g_free(w->snapdir);
}

static void
watch_put(Watch *w, const char *name, const char *key)
{
	g_autofree char *file = g_strconcat(key, ".pub.asc", NULL);
	g_autofree char *text = kov_test_dist_read(NULL, "keys", file, NULL);
	g_autofree char *path = g_build_filename(w->dir, name, NULL);
	kov_test_file_write(path, text, -1);
}

static gboolean
watch_update(Watch *w, GHashTable *hold, gint64 young)
{
	g_autoptr(GError) error = NULL;
	gboolean changed = FALSE;
	g_assert_true(kov_keydir_update(w->kd, hold, young, &changed, &error));
	g_assert_no_error(error);
	return changed;
}

static KovKeydirSnapshot *
watch_read(Watch *w)
{
	g_autoptr(GError) error = NULL;
	KovKeydirSnapshot *snap = kov_keydir_snapshot_read(w->snapdir, &error);
	g_assert_no_error(error);
	g_assert_nonnull(snap);
	return snap;
}

/* The keyring's key @fpr (NULL: none), with its user IDs. */
static gpgme_key_t
ring_key(Watch *w, const char *fpr)
{
	g_autoptr(GError) error = NULL;
	g_auto(gpgme_ctx_t) ctx = kov_keys_new_context(w->keys, &error);
	g_assert_no_error(error);
	gpgme_key_t key = NULL;
	gpgme_error_t err = gpgme_get_key(ctx, fpr, &key, 0);
	g_assert_true(err == 0 || gpg_err_code(err) == GPG_ERR_EOF);
	return key;
}

static void
ring_import(Watch *w, const char *name)
{
	g_autofree char *file = g_strconcat(name, ".pub.asc", NULL);
	g_autofree char *path = g_test_build_filename(G_TEST_DIST, "keys", file, NULL);
	const char *argv[] = { "gpg", "--homedir", w->home, "--batch", "--quiet", "--import", path, NULL };
	g_free(kov_test_run(argv));
}

static void
assert_same_snapshot(KovKeydirSnapshot *a, KovKeydirSnapshot *b)
{
	g_autoptr(GPtrArray) ea = kov_keydir_snapshot_entries(a);
	g_autoptr(GPtrArray) eb = kov_keydir_snapshot_entries(b);
	g_assert_cmpuint(ea->len, ==, eb->len);
	for (guint i = 0; i < ea->len; i++) {
		const KovKeydirEntry *x = ea->pdata[i], *y = eb->pdata[i];
		g_assert_cmpstr(x->address, ==, y->address);
		g_assert_cmpstr(x->file, ==, y->file);
		g_assert_cmpstr(x->snapshot, ==, y->snapshot);
		g_assert_cmpstr(x->sha256, ==, y->sha256);
		g_assert_cmpstr(x->fingerprint, ==, y->fingerprint);
		g_assert_cmpstr(x->subkey, ==, y->subkey);
		g_assert_cmpint(x->expires, ==, y->expires);
	}
	const GPtrArray *ra = kov_keydir_snapshot_refused(a), *rb = kov_keydir_snapshot_refused(b);
	g_assert_cmpuint(ra->len, ==, rb->len);
	for (guint i = 0; i < ra->len; i++) {
		const KovKeydirRefusal *x = ra->pdata[i], *y = rb->pdata[i];
		g_assert_cmpstr(x->file, ==, y->file);
		g_assert_cmpstr(x->reason, ==, y->reason);
	}
	g_assert_cmpuint(kov_keydir_snapshot_generation(a), ==, kov_keydir_snapshot_generation(b));
}

/* What the watcher publishes is what a worker reads, hostile names too;
 * nothing published yet reads as an empty, unpublished snapshot. */
static void
test_manifest_round_trip(Watch *w, gconstpointer data)
{
	(void)data;
	g_autoptr(KovKeydirSnapshot) none = watch_read(w);
	g_assert_false(kov_keydir_snapshot_published(none));
	g_assert_null(kov_keydir_snapshot_lookup(none, "bob@example.net"));

	watch_put(w, "bob@example.net.asc", "bob");
	watch_put(w, "carol@example.net.asc", "carol");
	watch_put(w, "erin@example.net.asc", "erin");
	watch_put(w, "x y%41\n\t\x01\xff@example.net.asc", "bob");
	watch_put(w, "wrong@example.net.asc", "carol");
	g_assert_true(watch_update(w, NULL, 0));
	g_autoptr(KovKeydirSnapshot) mine = kov_keydir_current(w->kd);
	g_autoptr(KovKeydirSnapshot) read = watch_read(w);
	g_assert_true(kov_keydir_snapshot_published(read));
	/* One for the record of the keys about to be imported, one for the load. */
	guint64 gen = kov_keydir_snapshot_generation(read);
	g_assert_cmpuint(gen, ==, 2);
	assert_same_snapshot(mine, read);
	g_assert_cmpuint(kov_keydir_snapshot_refused(read)->len, ==, 3);
	g_autofree char *bob = kov_test_fingerprint("bob");
	g_autofree char *carol = kov_test_fingerprint("carol");
	g_assert_cmpint(kov_keydir_snapshot_retired(read, bob), ==, 0);
	g_assert_cmpint(kov_keydir_snapshot_retired(read, carol), ==, 0);
	/* Nothing changed: nothing written, the generation stays. */
	g_assert_false(watch_update(w, NULL, 0));
	g_autoptr(KovKeydirSnapshot) again = watch_read(w);
	g_assert_cmpuint(kov_keydir_snapshot_generation(again), ==, gen);
	/* A change: one more. */
	g_autofree char *path = g_build_filename(w->dir, "carol@example.net.asc", NULL);
	g_assert_cmpint(g_unlink(path), ==, 0);
	g_assert_true(watch_update(w, NULL, 0));
	g_autoptr(KovKeydirSnapshot) third = watch_read(w);
	g_assert_cmpuint(kov_keydir_snapshot_generation(third), ==, gen + 1);
	g_assert_null(kov_keydir_snapshot_lookup(third, "carol@example.net"));
	g_assert_cmpint(kov_keydir_snapshot_retired(third, carol), >, 0);
}

/* A valid manifest, then each way the reader must refuse one. */
static const char manifest_ok[] =
	"koverto-keydir-manifest 1\n"
	"generation 7\n"
	"dir /srv/keys\n"
	"entry bob@example.net bob@example.net.asc "
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef "
	"DA81CE83EBFA3F2FC582F38CBF5AF35EC57F0990 DA81CE83EBFA3F2FC582F38CBF5AF35EC57F0991 0\n"
	"refused a%20b.asc no%20key\n"
	"imported DA81CE83EBFA3F2FC582F38CBF5AF35EC57F0990 0\n"
	"imported CE4D6F435979AB5061B92E8E3AFB341BD7007AE0 1700000000\n"
	"end\n";

static void
test_manifest_malformed(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(KovKeydirSnapshot) ok = kov_keydir_manifest_parse("/q/s", manifest_ok, strlen(manifest_ok), &error);
	g_assert_no_error(error);
	const KovKeydirEntry *e = kov_keydir_snapshot_lookup(ok, "BOB@example.net");
	g_assert_nonnull(e);
	g_assert_cmpstr(e->snapshot, ==, "/q/s/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.asc");
	g_assert_cmpstr(refused_for(ok, "a b.asc"), ==, "no key");
	g_assert_true(kov_keydir_snapshot_hides(ok, "da81ce83ebfa3f2fc582f38cbf5af35ec57f0990"));
	g_assert_true(kov_keydir_snapshot_hides(ok, "CE4D6F435979AB5061B92E8E3AFB341BD7007AE0"));
	g_assert_false(kov_keydir_snapshot_hides(ok, "AB52B24463669D8772527E20E564D6CEFFF75147"));
	g_assert_cmpint(kov_keydir_snapshot_retired(ok, "CE4D6F435979AB5061B92E8E3AFB341BD7007AE0"), ==, 1700000000);
	g_assert_cmpuint(kov_keydir_snapshot_generation(ok), ==, 7);

	/* { what to replace, with what } in manifest_ok */
	static const char *const bad[][2] = {
		{ "koverto-keydir-manifest 1", "koverto-keydir-manifest 2" },
		{ "generation 7", "generation 07" },
		{ "generation 7", "generation -7" },
		{ "generation 7", "generation 99999999999999999999" },
		{ "generation 7\n", "" },
		{ "dir /srv/keys", "dir srv/keys" },
		{ "dir /srv/keys", "dir /srv keys" },
		{ "entry bob@example.net bob", "entry bob@example.org bob" },
		{ "entry bob@example.net bob", "entry Bob@example.net Bob" },
		{ "bob@example.net.asc", "../bob@example.net.asc" },
		{ "0123456789abcdef0123", "0123456789ABCDEF0123" },
		{ "0123456789abcdef0123", "0123456789abcdef012" },
		{ "F0990 DA81", "f0990 DA81" },
		{ "F0991 0\n", "F0991\n" },
		{ "F0991 0\n", "F0991 0 0\n" },
		{ "F0991 0\n", "F0991 -1\n" },
		{ "F0991 0\n", "F0991  0\n" },
		{ "refused a%20b.asc", "refused a b.asc" },
		{ "refused a%20b.asc", "refused a%2fb.asc" },
		{ "refused a%20b.asc", "refused a%2Fb.asc" },
		{ "refused a%20b.asc", "refused a%41b.asc" },
		{ "refused a%20b.asc", "refused a%00b.asc" },
		{ "refused a%20b.asc", "refused a%2" },
		{ "no%20key", "no%20key extra" },
		{ "no%20key", "no%FFkey" },
		{ "imported DA81CE83EBFA3F2FC582F38CBF5AF35EC57F0990 0\n", "imported DA81CE83EBFA3F2FC582F38CBF5AF35EC57F0990 0\nimported DA81CE83EBFA3F2FC582F38CBF5AF35EC57F0990 0\n" },
		{ "imported CE4D", "imported XE4D" },
		{ "refused a%20b.asc no%20key\n", "" "refused a%20b.asc no%20key\nunknown x\n" },
		{ "end\n", "" },
		{ "end\n", "end\nend\n" },
		{ "end\n", "end" },
		{ "end\n", "end\r\n" },
		{ "\nrefused", "\n\nrefused" },
		{ "imported CE4D6F435979AB5061B92E8E3AFB341BD7007AE0 1700000000\n", "imported CE4D6F435979AB5061B92E8E3AFB341BD7007AE0 1700000000\nrefused c.asc x\n" },
		{ "refused a%20b.asc no%20key\n", "" },  /* then the entry after: below */
	};
	for (gsize i = 0; i + 1 < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GString) text = g_string_new(manifest_ok);
		g_assert_nonnull(strstr(text->str, bad[i][0]));
		g_string_replace(text, bad[i][0], bad[i][1], 1);
		g_autoptr(GError) err = NULL;
		g_autoptr(KovKeydirSnapshot) snap = kov_keydir_manifest_parse("/q/s", text->str, text->len, &err);
		if (snap != NULL)
			g_error("manifest %zu accepted:\n%s", i, text->str);
		g_assert_error(err, KOV_ERROR, KOV_ERROR_CONFIG);
	}
	/* An entry after a refusal; two entries for one address; a NUL; empty. */
	static const char *const whole[] = {
		"koverto-keydir-manifest 1\ngeneration 1\ndir /k\nrefused a x\n"
		"entry bob@example.net bob@example.net.asc "
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef "
		"DA81CE83EBFA3F2FC582F38CBF5AF35EC57F0990 DA81CE83EBFA3F2FC582F38CBF5AF35EC57F0991 0\nend\n",
		"koverto-keydir-manifest 1\ngeneration 1\ndir /k\n"
		"entry bob@example.net bob@example.net.asc "
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef "
		"DA81CE83EBFA3F2FC582F38CBF5AF35EC57F0990 DA81CE83EBFA3F2FC582F38CBF5AF35EC57F0991 0\n"
		"entry bob@example.net BOB@example.net.asc "
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef "
		"DA81CE83EBFA3F2FC582F38CBF5AF35EC57F0990 DA81CE83EBFA3F2FC582F38CBF5AF35EC57F0991 0\nend\n",
		"",
		"koverto-keydir-manifest 1\ngeneration 1\ndir /k\nend\n",   /* fine: checked below */
	};
	for (gsize i = 0; i < G_N_ELEMENTS(whole); i++) {
		g_autoptr(GError) err = NULL;
		g_autoptr(KovKeydirSnapshot) snap = kov_keydir_manifest_parse("/q/s", whole[i], strlen(whole[i]), &err);
		if (i + 1 == G_N_ELEMENTS(whole))
			g_assert_nonnull(snap);
		else if (snap != NULL)
			g_error("manifest %zu accepted:\n%s", i, whole[i]);
	}
	static const char nul[] = "koverto-keydir-manifest 1\ngeneration 1\ndir /k\0\nend\n";
	g_autoptr(GError) err = NULL;
	g_assert_null(kov_keydir_manifest_parse("/q/s", nul, sizeof nul - 1, &err));
}

/* The keyring gets the file's key with the file's address as its only
 * user ID, hidden from keyring look-ups, the subkey pinned there. */
static void
test_import_keep_uid(Watch *w, gconstpointer data)
{
	(void)data;
	/* bob's key with a second user ID, made in a home of its own. */
	g_autofree char *scratch = kov_test_tmpdir_new("kovsc");
	g_autofree char *sec = g_test_build_filename(G_TEST_DIST, "keys", "bob.sec.asc", NULL);
	g_autofree char *bob = kov_test_fingerprint("bob");
	const char *imp[] = { "gpg", "--homedir", scratch, "--batch", "--quiet", "--import", sec, NULL };
	g_free(kov_test_run(imp));
	const char *add[] = { "gpg", "--homedir", scratch, "--batch", "--quiet", "--pinentry-mode", "loopback",
	                      "--passphrase", "", "--quick-add-uid", bob, "Other <other@example.org>", NULL };
	g_free(kov_test_run(add));
	const char *exp[] = { "gpg", "--homedir", scratch, "--batch", "--armor", "--export", bob, NULL };
	g_autofree char *both = kov_test_run(exp);
	g_autofree char *path = g_build_filename(w->dir, "bob@example.net.asc", NULL);
	kov_test_file_write(path, both, -1);
	const char *kill[] = { "gpgconf", "--homedir", scratch, "--kill", "all", NULL };
	g_free(kov_test_run(kill));
	g_assert_true(kov_test_tree_remove(scratch));

	g_assert_null(ring_key(w, bob));
	watch_update(w, NULL, 0);
	g_auto(gpgme_key_t) key = ring_key(w, bob);
	g_assert_nonnull(key);
	guint uids = 0;
	for (gpgme_user_id_t u = key->uids; u != NULL; u = u->next, uids++)
		g_assert_cmpstr(u->address, ==, "bob@example.net");
	g_assert_cmpuint(uids, ==, 1);
	g_autoptr(KovKeydirSnapshot) read = watch_read(w);
	g_assert_true(kov_keydir_snapshot_hides(read, bob));
	const KovKeydirEntry *e = kov_keydir_snapshot_lookup(read, "bob@example.net");
	gboolean pinned = FALSE;
	for (gpgme_subkey_t s = key->subkeys; s != NULL; s = s->next)
		pinned = pinned || (s->can_encrypt && g_strcmp0(s->fpr, e->subkey) == 0);
	g_assert_true(pinned);
}

/* koverto's key is retired when its file goes, still hidden, and deleted
 * from the keyring only after the grace; one the keyring had before is
 * neither hidden nor ever deleted. */
static void
test_retire_delete(Watch *w, gconstpointer data)
{
	(void)data;
	g_autofree char *bob = kov_test_fingerprint("bob");
	g_autofree char *carol = kov_test_fingerprint("carol");
	ring_import(w, "carol");
	watch_put(w, "bob@example.net.asc", "bob");
	watch_put(w, "carol@example.net.asc", "carol");
	watch_update(w, NULL, 0);
	g_autoptr(KovKeydirSnapshot) first = watch_read(w);
	g_assert_true(kov_keydir_snapshot_hides(first, bob));
	g_assert_false(kov_keydir_snapshot_hides(first, carol));

	for (const char *const *n = (const char *const[]){ "bob@example.net.asc", "carol@example.net.asc", NULL };
	     *n != NULL; n++) {
		g_autofree char *path = g_build_filename(w->dir, *n, NULL);
		g_assert_cmpint(g_unlink(path), ==, 0);
	}
	gint64 t0 = g_get_real_time() / G_USEC_PER_SEC;
	watch_update(w, NULL, 0);
	g_autoptr(KovKeydirSnapshot) second = watch_read(w);
	gint64 since = kov_keydir_snapshot_retired(second, bob);
	g_assert_cmpint(since, >=, t0);
	g_assert_true(kov_keydir_snapshot_hides(second, bob));
	g_assert_cmpint(kov_keydir_snapshot_retired(second, carol), ==, -1);

	g_autoptr(GError) error = NULL;
	g_assert_true(kov_keydir_tidy(w->kd, since + 3599, 3600, &error));
	g_assert_no_error(error);
	g_auto(gpgme_key_t) still = ring_key(w, bob);
	g_assert_nonnull(still);
	g_assert_true(kov_keydir_tidy(w->kd, since + 3600, 3600, &error));
	g_assert_no_error(error);
	g_auto(gpgme_key_t) gone = ring_key(w, bob);
	g_assert_null(gone);
	g_autoptr(KovKeydirSnapshot) third = watch_read(w);
	g_assert_false(kov_keydir_snapshot_hides(third, bob));
	g_assert_cmpuint(kov_keydir_snapshot_generation(third), ==, kov_keydir_snapshot_generation(second) + 1);
	/* The operator's carol: there for ever. */
	g_assert_true(kov_keydir_tidy(w->kd, since + 10 * 365 * 86400, 3600, &error));
	g_auto(gpgme_key_t) kept = ring_key(w, carol);
	g_assert_nonnull(kept);

	/* Back within the grace: in use again, not deleted. */
	watch_put(w, "bob@example.net.asc", "bob");
	watch_update(w, NULL, 0);
	g_autofree char *path = g_build_filename(w->dir, "bob@example.net.asc", NULL);
	g_assert_cmpint(g_unlink(path), ==, 0);
	watch_update(w, NULL, 0);
	g_autoptr(KovKeydirSnapshot) fourth = watch_read(w);
	since = kov_keydir_snapshot_retired(fourth, bob);
	watch_put(w, "bob@example.net.asc", "bob");
	watch_update(w, NULL, 0);
	g_assert_true(kov_keydir_tidy(w->kd, since + 7200, 3600, &error));
	g_auto(gpgme_key_t) back = ring_key(w, bob);
	g_assert_nonnull(back);
	g_autoptr(KovKeydirSnapshot) fifth = watch_read(w);
	g_assert_cmpint(kov_keydir_snapshot_retired(fifth, bob), ==, 0);
}

/* A file a writer may still be writing keeps its previous state: its
 * entry, or its absence; a restart takes over the record of koverto's keys. */
static void
test_hold_resume(Watch *w, gconstpointer data)
{
	(void)data;
	g_autoptr(GHashTable) hold = g_hash_table_new(g_str_hash, g_str_equal);
	g_hash_table_add(hold, (char *)"bob@example.net.asc");
	g_hash_table_add(hold, (char *)"carol@example.net.asc");
	watch_put(w, "carol@example.net.asc", "carol");
	watch_update(w, NULL, 0);
	/* bob's file half written: absent; carol's overwritten with garbage: still carol. */
	g_autofree char *bob_path = g_build_filename(w->dir, "bob@example.net.asc", NULL);
	g_autofree char *full = kov_test_dist_read(NULL, "keys", "bob.pub.asc", NULL);
	kov_test_file_write(bob_path, full, (gssize)strlen(full) / 2);
	g_autofree char *carol_path = g_build_filename(w->dir, "carol@example.net.asc", NULL);
	kov_test_file_write(carol_path, "-----BEGIN PGP", -1);
	g_assert_false(watch_update(w, hold, 0));
	g_autoptr(KovKeydirSnapshot) held = watch_read(w);
	g_assert_null(kov_keydir_snapshot_lookup(held, "bob@example.net"));
	g_assert_nonnull(kov_keydir_snapshot_lookup(held, "carol@example.net"));
	g_assert_cmpuint(kov_keydir_snapshot_refused(held)->len, ==, 0);
	/* The rescan's rule: changed less than 2 s ago is held too. */
	g_assert_false(watch_update(w, NULL, 2));
	/* But not a time in the future: no writer is at work there. */
	watch_put(w, "jimbob@example.net.asc", "jimbob");
	g_autofree char *jim_path = g_build_filename(w->dir, "jimbob@example.net.asc", NULL);
	gint64 later = g_get_real_time() / G_USEC_PER_SEC + 3600;
	struct timespec times[2] = { { .tv_sec = later }, { .tv_sec = later } };
	g_assert_cmpint(utimensat(AT_FDCWD, jim_path, times, 0), ==, 0);
	g_assert_true(watch_update(w, hold, 2));
	g_autoptr(KovKeydirSnapshot) future = watch_read(w);
	g_assert_nonnull(kov_keydir_snapshot_lookup(future, "jimbob@example.net"));
	/* Closed: now it counts. */
	kov_test_file_write(bob_path, full, -1);
	watch_update(w, NULL, 0);
	g_autoptr(KovKeydirSnapshot) done = watch_read(w);
	g_assert_nonnull(kov_keydir_snapshot_lookup(done, "bob@example.net"));
	assert_refused(done, "carol@example.net.asc", "carol@example.net", "");

	/* A restart: what was published is current, koverto's keys still its own. */
	g_autoptr(GError) error = NULL;
	g_autoptr(KovKeydir) again = kov_keydir_new(w->keys, w->dir, w->snapdir, &error);
	g_assert_true(kov_keydir_resume(again, &error));
	g_assert_no_error(error);
	g_autoptr(KovKeydirSnapshot) resumed = kov_keydir_current(again);
	g_assert_nonnull(kov_keydir_snapshot_lookup(resumed, "bob@example.net"));
	g_autofree char *carol = kov_test_fingerprint("carol");
	g_assert_cmpint(kov_keydir_snapshot_retired(resumed, carol), >, 0);
	gboolean changed = TRUE;
	g_assert_true(kov_keydir_update(again, NULL, 0, &changed, &error));
	g_assert_false(changed);
}

/* The fuzz target's seeds (t/fuzz/seed-keydir/) and finds
 * (t/fuzz/regressions/keydir-*) through its promises. */
static void
test_fuzz_seeds(void)
{
	g_autofree char *path = g_test_build_filename(G_TEST_DIST, "fuzz", "seed-keydir", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GDir) d = g_dir_open(path, 0, &error);
	g_assert_no_error(error);
	guint n = 0;
	for (const char *name; (name = g_dir_read_name(d)) != NULL; n++) {
		g_autofree char *file = g_build_filename(path, name, NULL);
		gsize len = 0;
		g_autofree char *bytes = kov_test_file_read(file, &len);
		kov_fuzz_keydir_one((const uint8_t *)bytes, len);
		g_autoptr(KovKeydirSnapshot) snap = kov_keydir_manifest_parse("/s", bytes, len, &error);
		g_assert_no_error(error);   /* the seeds are all valid */
	}
	g_assert_cmpuint(n, >=, 3);
	/* What scripts/fuzz kept of this target (artifact prefix keydir-). */
	g_autofree char *finds = g_test_build_filename(G_TEST_DIST, "fuzz", "regressions", NULL);
	g_autoptr(GDir) r = g_dir_open(finds, 0, NULL);
	for (const char *name; r != NULL && (name = g_dir_read_name(r)) != NULL;) {
		if (!g_str_has_prefix(name, "keydir-"))
			continue;
		g_autofree char *file = g_build_filename(finds, name, NULL);
		gsize len = 0;
		g_autofree char *bytes = kov_test_file_read(file, &len);
		kov_fuzz_keydir_one((const uint8_t *)bytes, len);
	}
	/* The malformed manifests too. */
	kov_fuzz_keydir_one((const uint8_t *)"end\n", 4);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	gpgme_check_version(NULL);
	/* An empty home: every key the tests see comes from a file. */
	home = kov_test_tmpdir_new("kovh");
	g_autoptr(GError) error = NULL;
	keys = kov_keys_new(home, NULL, FALSE, &error);
	g_assert_no_error(error);

	g_test_add_func("/keydir/name", test_name);
#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
	ADD("/keydir/accepted", test_accepted);
	ADD("/keydir/refused", test_refused);
	ADD("/keydir/clash", test_clash);
	ADD("/keydir/hostile", test_hostile);
	ADD("/keydir/no-dir", test_no_dir);
	ADD("/keydir/cache", test_cache);
	ADD("/keydir/isolation", test_isolation);
	ADD("/keydir/prune", test_prune);
	g_test_add_func("/keydir/manifest/malformed", test_manifest_malformed);
	g_test_add_func("/keydir/manifest/fuzz-seeds", test_fuzz_seeds);
#define WATCH(path, func) g_test_add(path, Watch, NULL, watch_set_up, func, watch_tear_down)
	WATCH("/keydir/manifest/round-trip", test_manifest_round_trip);
	WATCH("/keydir/import/keep-uid", test_import_keep_uid);
	WATCH("/keydir/retire-delete", test_retire_delete);
	WATCH("/keydir/hold-resume", test_hold_resume);
	int rc = g_test_run();
	kov_keys_free(keys);
	kov_test_gnupghome_free(home);
	return rc;
}
