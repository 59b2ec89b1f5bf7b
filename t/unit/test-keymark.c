/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Markers of keys that expire soon: the text round-trips and nothing else
 * parses; a key is warned of once a day, again after a day or a new
 * expiry, never outside the window; the scan counts by kind and skips
 * links, FIFOs, directories, large files and garbage. Real files in a
 * directory under /tmp. */
#include "keymark.h"
#include "fixture.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define FPR_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define FPR_B "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
#define FPR_C "C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0C0"
#define DAY (24 * 3600)

static void
test_round_trip(void)
{
	KovKeymark m = { KOV_KEYMARK_RECIPIENT, FPR_A, FPR_C, 1766188800, "bob@example.net" };
	g_autofree char *text = kov_keymark_format(&m);
	g_assert_cmpstr(text, ==, "kind=recipient\nfpr=" FPR_A "\nsubkey=" FPR_C
	                "\nexpires=1766188800\naddress=bob@example.net\n");
	KovKeymark back;
	g_assert_true(kov_keymark_parse(text, strlen(text), &back, NULL));
	g_assert_cmpint(back.kind, ==, KOV_KEYMARK_RECIPIENT);
	g_assert_cmpstr(back.fpr, ==, FPR_A);
	g_assert_cmpstr(back.subkey, ==, FPR_C);
	g_assert_cmpint(back.expires, ==, 1766188800);
	g_assert_cmpstr(back.address, ==, "bob@example.net");
	kov_keymark_clear(&back);

	/* No address; a hostile one cannot add a line or a field. */
	KovKeymark s = { KOV_KEYMARK_SIGNING, FPR_B, FPR_B, 5, NULL };
	g_autofree char *plain = kov_keymark_format(&s);
	g_assert_cmpstr(plain, ==, "kind=signing\nfpr=" FPR_B "\nsubkey=" FPR_B "\nexpires=5\n");
	g_assert_true(kov_keymark_parse(plain, strlen(plain), &back, NULL));
	g_assert_null(back.address);
	kov_keymark_clear(&back);
	s.address = "evil\nkind=signing x\x7f@example.org";
	g_autofree char *evil = kov_keymark_format(&s);
	g_assert_true(kov_keymark_parse(evil, strlen(evil), &back, NULL));
	g_assert_cmpstr(back.address, ==, "evil?kind=signing?x?@example.org");
	kov_keymark_clear(&back);

	/* A fingerprint that is not one is never written. */
	s.fpr = "../../etc/passwd";
	g_assert_null(kov_keymark_format(&s));
}

static void
test_parse_strict(void)
{
	const char *const bad[] = {
		"",
		"kind=recipient\n",
		"kind=recipient\nfpr=" FPR_A "\nsubkey=" FPR_A "\nexpires=10",     /* no line end */
		"kind=other\nfpr=" FPR_A "\nsubkey=" FPR_A "\nexpires=10\n",
		"kind=recipient\nfpr=" FPR_A "\nsubkey=" FPR_A "\nexpires=-10\n",
		"kind=recipient\nfpr=" FPR_A "\nsubkey=" FPR_A "\nexpires=010\n",
		"kind=recipient\nfpr=" FPR_A "\nsubkey=" FPR_A "\nexpires=1e9\n",
		"kind=recipient\nfpr=" FPR_A "\nsubkey=" FPR_A "\nexpires=9999999999999\n",
		"kind=recipient\nfpr=aaaa\nsubkey=" FPR_A "\nexpires=10\n",
		"kind=recipient\nfpr=" FPR_A "\nsubkey=" FPR_A "\nexpires=10\naddress=\n",
		"kind=recipient\nfpr=" FPR_A "\nsubkey=" FPR_A "\nexpires=10\naddress=a b\n",
		"kind=recipient\nfpr=" FPR_A "\nsubkey=" FPR_A "\nexpires=10\naddress=a\nextra=1\n",
		"kind=recipient\nkind=recipient\nfpr=" FPR_A "\nsubkey=" FPR_A "\nexpires=10\n",
		"fpr=" FPR_A "\nkind=recipient\nsubkey=" FPR_A "\nexpires=10\n",
		"kind=recipient\r\nfpr=" FPR_A "\nsubkey=" FPR_A "\nexpires=10\n",
	};
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		KovKeymark m;
		g_autoptr(GError) error = NULL;
		if (kov_keymark_parse(bad[i], strlen(bad[i]), &m, &error))
			g_error("parsed: \"%s\"", bad[i]);
		g_assert_nonnull(error);
	}
	/* A NUL inside. */
	static const char nul[] = "kind=recipient\nfpr=" FPR_A "\nsubkey=" FPR_A "\nexpires=1\0\n";
	KovKeymark m;
	g_assert_false(kov_keymark_parse(nul, sizeof nul - 1, &m, NULL));
}

static char *
marker_path(const char *dir, const char *name)
{
	return g_build_filename(dir, KOV_KEYMARK_DIR, name, NULL);
}

static void
set_mtime(const char *path, gint64 when)
{
	struct timeval tv[2] = { { (time_t)when, 0 }, { (time_t)when, 0 } };
	g_assert_cmpint(utimes(path, tv), ==, 0);
}

static void
test_note_once_a_day(void)
{
	g_autofree char *dir = kov_test_tmpdir_new("kovt.km");
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	KovKeymark m = { KOV_KEYMARK_RECIPIENT, FPR_A, FPR_B, now + 5 * DAY + 60, "bob@example.net" };
	g_autoptr(GError) error = NULL;

	g_autofree char *line = kov_keymark_note(dir, &m, 14, now, &error);
	g_assert_no_error(error);
	g_autofree char *expected_tail = g_strdup_printf(" fpr=%s subkey=%s expires=", FPR_A, FPR_B);
	g_assert_nonnull(line);
	g_assert_true(g_str_has_prefix(line, "key expires soon: kind=recipient address=<bob@example.net>"));
	g_assert_nonnull(strstr(line, expected_tail));
	g_autofree char *days = g_strdup_printf(" days=%" G_GINT64_FORMAT, m.expires / DAY - now / DAY);
	g_assert_true(g_str_has_suffix(line, days));
	g_autofree char *path = marker_path(dir, "recipient-" FPR_A);
	struct stat st;
	g_assert_cmpint(lstat(path, &st), ==, 0);
	g_assert_true(S_ISREG(st.st_mode));
	g_assert_cmpint(st.st_mode & 07777, ==, 0600);

	/* Again the same day: nothing. */
	g_assert_null(kov_keymark_note(dir, &m, 14, now, &error));
	g_assert_no_error(error);
	/* The same key as a signing key is another marker. */
	KovKeymark s = m;
	s.kind = KOV_KEYMARK_SIGNING;
	g_autofree char *signing = kov_keymark_note(dir, &s, 14, now, &error);
	g_assert_nonnull(signing);
	/* A day later: again, once. */
	set_mtime(path, now - 25 * 3600);
	g_autofree char *again = kov_keymark_note(dir, &m, 14, now, &error);
	g_assert_nonnull(again);
	g_assert_null(kov_keymark_note(dir, &m, 14, now, &error));
	/* A new expiry (still soon): said at once. */
	m.expires -= DAY;
	g_autofree char *moved = kov_keymark_note(dir, &m, 14, now, &error);
	g_assert_nonnull(moved);
	g_autofree char *days_moved = g_strdup_printf(" days=%" G_GINT64_FORMAT, m.expires / DAY - now / DAY);
	g_assert_true(g_str_has_suffix(moved, days_moved));

	/* Outside the window, or warnings off: nothing; a renewed key's marker goes. */
	KovKeymark far = { KOV_KEYMARK_RECIPIENT, FPR_B, FPR_B, now + 30 * DAY, NULL };
	g_assert_null(kov_keymark_note(dir, &far, 14, now, &error));
	g_autofree char *far_path = marker_path(dir, "recipient-" FPR_B);
	g_assert_false(g_file_test(far_path, G_FILE_TEST_EXISTS));
	m.expires = now + 30 * DAY;
	g_assert_null(kov_keymark_note(dir, &m, 14, now, &error));
	g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
	m.expires = now + DAY;
	g_assert_null(kov_keymark_note(dir, &m, 0, now, &error));
	g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
	g_assert_no_error(error);

	/* A link in the marker's place is replaced, never followed. */
	g_autofree char *target = g_build_filename(dir, "target", NULL);
	kov_test_file_write(target, "untouched", -1);
	g_assert_cmpint(symlink(target, path), ==, 0);
	/* ... and a FIFO where the temporary goes is not opened (it would block). */
	g_autofree char *tmp = marker_path(dir, ".recipient-" FPR_A ".tmp");
	g_assert_cmpint(mkfifo(tmp, 0600), ==, 0);
	g_autofree char *through = kov_keymark_note(dir, &m, 14, now, &error);
	g_assert_no_error(error);
	g_assert_nonnull(through);
	g_autofree char *still = kov_test_file_read(target, NULL);
	g_assert_cmpstr(still, ==, "untouched");
	g_assert_cmpint(lstat(path, &st), ==, 0);
	g_assert_true(S_ISREG(st.st_mode));
	g_assert_false(g_file_test(tmp, G_FILE_TEST_EXISTS));
	g_assert_true(kov_test_tree_remove(dir));
}

/* Workers at once, started together by one byte each down a pipe: one
 * warns. */
static void
test_note_workers(void)
{
	g_autofree char *dir = kov_test_tmpdir_new("kovt.km");
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	KovKeymark m = { KOV_KEYMARK_RECIPIENT, FPR_A, FPR_B, now + 2 * DAY, "bob@example.net" };
	enum { N = 16 };
	int go[2];
	g_assert_cmpint(pipe(go), ==, 0);
	pid_t pids[N];
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		g_assert_cmpint(pids[i], >=, 0);
		if (pids[i] == 0) {
			char c;
			close(go[1]);
			if (read(go[0], &c, 1) != 1)
				_exit(3);
			char *line = kov_keymark_note(dir, &m, 14, now, NULL);
			_exit(line != NULL ? 1 : 0);
		}
	}
	close(go[0]);
	g_assert_cmpint(write(go[1], "xxxxxxxxxxxxxxxx", N), ==, N);
	close(go[1]);
	int warned = 0;
	for (int i = 0; i < N; i++) {
		int status;
		g_assert_cmpint(waitpid(pids[i], &status, 0), ==, pids[i]);
		g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) <= 1);
		warned += WEXITSTATUS(status);
	}
	g_assert_cmpint(warned, ==, 1);
	g_assert_true(kov_test_tree_remove(dir));
}

static void
test_scan_hostile(void)
{
	g_autofree char *dir = kov_test_tmpdir_new("kovt.km");
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	KovKeymarkSummary sum;

	kov_keymark_scan(dir, 14, now, &sum);   /* no directory: nothing */
	g_assert_cmpuint(sum.count[0] + sum.count[1] + sum.skipped, ==, 0);

	KovKeymark a = { KOV_KEYMARK_RECIPIENT, FPR_A, FPR_A, now + 5 * DAY, "a@example.net" };
	KovKeymark b = { KOV_KEYMARK_RECIPIENT, FPR_B, FPR_B, now + 3 * DAY, "b@example.net" };
	KovKeymark c = { KOV_KEYMARK_SIGNING, FPR_C, FPR_C, now + 2 * DAY, NULL };
	g_free(kov_keymark_note(dir, &a, 14, now, NULL));
	g_free(kov_keymark_note(dir, &b, 14, now, NULL));
	g_free(kov_keymark_note(dir, &c, 14, now, NULL));

	g_autofree char *d = g_build_filename(dir, KOV_KEYMARK_DIR, NULL);
	kov_keymark_scan(dir, 14, now, &sum);
	g_assert_cmpuint(sum.count[KOV_KEYMARK_RECIPIENT], ==, 2);
	g_assert_cmpuint(sum.count[KOV_KEYMARK_SIGNING], ==, 1);
	g_assert_cmpint(sum.earliest[KOV_KEYMARK_RECIPIENT], ==, now + 3 * DAY);
	g_assert_cmpint(sum.earliest[KOV_KEYMARK_SIGNING], ==, now + 2 * DAY);
	g_assert_cmpuint(sum.skipped, ==, 0);
	/* A smaller window, or off; a clock past the expiry. */
	kov_keymark_scan(dir, 4, now, &sum);
	g_assert_cmpuint(sum.count[KOV_KEYMARK_RECIPIENT], ==, 1);
	kov_keymark_scan(dir, 0, now, &sum);
	g_assert_cmpuint(sum.count[KOV_KEYMARK_RECIPIENT] + sum.count[KOV_KEYMARK_SIGNING], ==, 0);
	kov_keymark_scan(dir, 14, now + 4 * DAY, &sum);
	g_assert_cmpuint(sum.count[KOV_KEYMARK_RECIPIENT], ==, 1);
	g_assert_cmpuint(sum.count[KOV_KEYMARK_SIGNING], ==, 0);
	g_assert_cmpuint(sum.pruned, ==, 0);
	/* Long expired: the signing marker (now + 2 days) 29 days after its
	 * expiry stays, 30 days and a second after it is removed; the others
	 * (expiring a day and more later) stay. */
	g_autofree char *c_path = g_build_filename(d, "signing-" FPR_C, NULL);
	kov_keymark_scan(dir, 14, now + 31 * DAY, &sum);
	g_assert_cmpuint(sum.pruned, ==, 0);
	g_assert_true(g_file_test(c_path, G_FILE_TEST_EXISTS));
	kov_keymark_scan(dir, 14, now + 32 * DAY + 1, &sum);
	g_assert_cmpuint(sum.pruned, ==, 1);
	g_assert_false(g_file_test(c_path, G_FILE_TEST_EXISTS));
	g_free(kov_keymark_note(dir, &c, 14, now, NULL));   /* back, for what follows */

	/* Hostile entries: each skipped, none counted, none waited on. */
	const char *const fake = "recipient-DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD";
	g_autofree char *good = g_build_filename(d, "recipient-" FPR_A, NULL);
	g_autofree char *link = g_build_filename(d, fake, NULL);
	g_assert_cmpint(symlink(good, link), ==, 0);                      /* a link to a good marker */
	g_autofree char *fifo = g_build_filename(d, "recipient-EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE", NULL);
	g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);                       /* would block a plain open */
	g_autofree char *sub = g_build_filename(d, "signing-FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", NULL);
	g_assert_cmpint(mkdir(sub, 0700), ==, 0);
	g_autofree char *garbage = g_build_filename(d, "signing-1111111111111111111111111111111111111111", NULL);
	kov_test_file_write(garbage, "kind=signing\nfpr=junk\n", -1);
	/* A good text under another key's name. */
	g_autofree char *renamed = g_build_filename(d, "signing-2222222222222222222222222222222222222222", NULL);
	g_autofree char *c_text = kov_keymark_format(&c);
	kov_test_file_write(renamed, c_text, -1);
	g_autofree char *big = g_build_filename(d, "signing-3333333333333333333333333333333333333333", NULL);
	g_autofree char *padding = g_strnfill(KOV_KEYMARK_FILE_MAX + 1, 'x');
	kov_test_file_write(big, padding, -1);
	g_autofree char *other = g_build_filename(d, "README", NULL);
	kov_test_file_write(other, c_text, -1);
	kov_keymark_scan(dir, 14, now, &sum);
	g_assert_cmpuint(sum.count[KOV_KEYMARK_RECIPIENT], ==, 2);
	g_assert_cmpuint(sum.count[KOV_KEYMARK_SIGNING], ==, 1);
	g_assert_cmpuint(sum.skipped, ==, 7);

	/* The directory itself a link: not followed. */
	g_autofree char *moved = g_build_filename(dir, "elsewhere", NULL);
	g_assert_cmpint(rename(d, moved), ==, 0);
	g_assert_cmpint(symlink(moved, d), ==, 0);
	kov_keymark_scan(dir, 14, now, &sum);
	g_assert_cmpuint(sum.count[KOV_KEYMARK_RECIPIENT] + sum.count[KOV_KEYMARK_SIGNING], ==, 0);
	g_autoptr(GError) error = NULL;
	KovKeymark e = { KOV_KEYMARK_RECIPIENT, FPR_C, FPR_C, now + DAY, NULL };
	g_assert_null(kov_keymark_note(dir, &e, 14, now, &error));
	g_assert_nonnull(error);
	g_assert_true(kov_test_tree_remove(dir));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/keymark/round-trip", test_round_trip);
	g_test_add_func("/keymark/parse-strict", test_parse_strict);
	g_test_add_func("/keymark/note-once-a-day", test_note_once_a_day);
	g_test_add_func("/keymark/note-workers", test_note_workers);
	g_test_add_func("/keymark/scan-hostile", test_scan_hostile);
	return g_test_run();
}
