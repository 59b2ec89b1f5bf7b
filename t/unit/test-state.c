/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The per-mail state: every address a recipient can have round-trips
 * through the file unchanged, a state written by koverto 0.1.0 is read,
 * texts are kept as GKeyFile can hold them, and a reservation is the
 * room the next save takes. Real files in a directory under /tmp. */
#include "state.h"
#include "error.h"
#include "fixture.h"
#include "../fuzz/fuzz-state-one.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What RFC 5321 (4.1.2, 4.1.3) and RFC 6531 allow, and bytes no address
 * should have but a hostile envelope may carry. */
static const char *const addresses[] = {
	"ops@[192.0.2.1]",
	"ops@[IPv6:2001:db8::1]",
	"ops@[IPv6:::ffff:192.0.2.1]",
	"\"john doe\"@example.org",
	"\"a]b[c\"@example.org",
	"\"x=y;z#w\"@example.org",
	"\"back\\\\slash\\\"quote\"@example.org",
	"\"[rcpt x]\"@example.org",
	"j\xc3\xb6rg@b\xc3\xbc" "cher.example",
	"\xce\xb4\xce\xbf\xce\xba\xce\xb9\xce\xbc\xce\xae@\xcf\x80\xce\xb1\xcf\x81.example",
	"%41@example.org",
	"A@example.org",
	"addr:A@example.org",
	"  lead and trail  @example.org",
	"ctl\x01\x1b\x7f@example.org",
	"line\nbreak\r@example.org",
	"\xff\xfe not utf-8@example.org",
	"plain@example.org",
	"",
};

static void
test_addresses_round_trip(KovTestDir *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	g_autoptr(KovState) state = kov_state_load(f->path, &error);
	g_assert_no_error(error);
	g_assert_true(kov_state_is_new(state));

	for (gsize i = 0; i < G_N_ELEMENTS(addresses); i++) {
		g_autofree char *reason = g_strdup_printf("reason %zu", i);
		gboolean ok = kov_state_set_rcpt(state, addresses[i], (KovRcptState)(i % 3),
		                                 i % 3 ? reason : NULL, &error);
		g_assert_no_error(error);
		g_assert_true(ok);
	}
	g_assert_true(kov_state_save(state, &error));
	g_assert_no_error(error);
	g_assert_false(kov_state_is_new(state));

	g_autoptr(KovState) back = kov_state_load(f->path, &error);
	g_assert_no_error(error);
	g_assert_false(kov_state_is_new(back));
	for (gsize i = 0; i < G_N_ELEMENTS(addresses); i++) {
		g_autofree char *reason = NULL;
		g_autofree char *want = g_strdup_printf("reason %zu", i);
		g_assert_cmpint(kov_state_get_rcpt(back, addresses[i], &reason), ==, (KovRcptState)(i % 3));
		g_assert_cmpstr(reason, ==, i % 3 ? want : NULL);
	}
	/* An address never set is pending, whatever it looks like. */
	g_assert_cmpint(kov_state_get_rcpt(back, "ops@[192.0.2.2]", NULL), ==, KOV_STATE_PENDING);
}

/* The group names of koverto 0.1.0 ([rcpt ADDRESS]) after an upgrade:
 * read, and replaced by the new record at the next change. */
static void
test_legacy_file(KovTestDir *f, gconstpointer data)
{
	(void)data;
	static const char legacy[] =
		"[mail]\n"
		"first-seen=1700000000\n"
		"attempts=2\n"
		"next-attempt=1700000120\n"
		"last-error=451 4.7.1 greylisted\n"
		"\n"
		"[rcpt bob@example.net]\n"
		"state=delivered\n"
		"\n"
		"[rcpt carol@example.net]\n"
		"state=pending\n"
		"reason=451 4.7.1 greylisted\n"
		"\n"
		"[rcpt \"odd=name\"@example.net]\n"
		"state=failed\n"
		"reason=550 5.1.1 no such user\n";
	g_autoptr(GError) error = NULL;

	g_assert_true(g_file_set_contents(f->path, legacy, -1, NULL));
	g_autoptr(KovState) state = kov_state_load(f->path, &error);
	g_assert_no_error(error);
	g_assert_false(kov_state_is_new(state));
	g_assert_cmpint(kov_state_get_first_seen(state), ==, 1700000000);
	g_assert_cmpuint(kov_state_get_attempts(state), ==, 2);
	g_assert_cmpint(kov_state_get_next_attempt(state), ==, 1700000120);
	g_assert_cmpint(kov_state_get_rcpt(state, "bob@example.net", NULL), ==, KOV_STATE_DELIVERED);
	g_autofree char *reason = NULL;
	g_assert_cmpint(kov_state_get_rcpt(state, "\"odd=name\"@example.net", &reason), ==,
	                KOV_STATE_FAILED);
	g_assert_cmpstr(reason, ==, "550 5.1.1 no such user");
	g_assert_cmpint(kov_state_get_rcpt(state, "carol@example.net", NULL), ==, KOV_STATE_PENDING);

	g_assert_true(kov_state_set_rcpt(state, "carol@example.net", KOV_STATE_DELIVERED, NULL, &error));
	g_assert_true(kov_state_save(state, &error));
	g_autoptr(KovState) back = kov_state_load(f->path, &error);
	g_assert_no_error(error);
	g_assert_cmpint(kov_state_get_rcpt(back, "carol@example.net", NULL), ==, KOV_STATE_DELIVERED);
	g_assert_cmpint(kov_state_get_rcpt(back, "bob@example.net", NULL), ==, KOV_STATE_DELIVERED);
	g_autofree char *text = NULL;
	g_assert_true(g_file_get_contents(f->path, &text, NULL, NULL));
	g_assert_null(strstr(text, "[rcpt carol@example.net]")); /* one record, not two */
	g_assert_nonnull(strstr(text, "[rcpt bob@example.net]"));
}

/* Reasons and the last error: SMTP replies with anything in them. */
static void
test_texts(KovTestDir *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	g_autoptr(KovState) state = kov_state_load(f->path, &error);
	static const char *const texts[] = {
		" 451 leading space",
		"451 trailing space ",
		"multi\nline\r\nreply\twith tab and back\\slash",
		"[group] = value ; # not a comment",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(texts); i++) {
		g_autofree char *who = g_strdup_printf("r%zu@example.org", i);
		g_assert_true(kov_state_set_rcpt(state, who, KOV_STATE_FAILED, texts[i], &error));
	}
	/* Not UTF-8: kept readable rather than lost (GKeyFile refuses to
	 * return a value that is not UTF-8). */
	g_assert_true(kov_state_set_rcpt(state, "bin@example.org", KOV_STATE_FAILED, "550 \xff\xfe x",
	                                  &error));
	/* Too long: cut at a character boundary. */
	g_autoptr(GString) longer = g_string_new("550 ");
	while (longer->len < 3 * KOV_STATE_TEXT_MAX)
		g_string_append(longer, "\xc3\xa9"); /* é */
	g_assert_true(kov_state_set_rcpt(state, "long@example.org", KOV_STATE_FAILED, longer->str, &error));
	kov_state_set_last_error(state, longer->str);
	g_assert_true(kov_state_save(state, &error));

	g_autoptr(KovState) back = kov_state_load(f->path, &error);
	g_assert_no_error(error);
	for (gsize i = 0; i < G_N_ELEMENTS(texts); i++) {
		g_autofree char *who = g_strdup_printf("r%zu@example.org", i);
		g_autofree char *reason = NULL;
		kov_state_get_rcpt(back, who, &reason);
		g_assert_cmpstr(reason, ==, texts[i]);
	}
	g_autofree char *bin = NULL;
	kov_state_get_rcpt(back, "bin@example.org", &bin);
	g_assert_nonnull(bin);
	g_assert_true(g_str_has_prefix(bin, "550 "));
	g_assert_true(g_utf8_validate(bin, -1, NULL));
	g_autofree char *cut = NULL;
	kov_state_get_rcpt(back, "long@example.org", &cut);
	g_assert_nonnull(cut);
	g_assert_true(g_utf8_validate(cut, -1, NULL));
	g_assert_cmpuint(strlen(cut), <=, KOV_STATE_TEXT_MAX);
	g_assert_cmpuint(strlen(cut), >=, KOV_STATE_TEXT_MAX - 1);
	g_assert_true(g_str_has_prefix(longer->str, cut));
	g_autofree char *last = kov_state_get_last_error(back);
	g_assert_cmpstr(last, ==, cut);
	/* Control characters: GKeyFile drops a form feed that starts a value
	 * when it reads the file (found by fuzz-state): kept as '?'. */
	g_assert_true(kov_state_set_rcpt(back, "ff@example.org", KOV_STATE_FAILED, "\f451 \x1b[31m\x7f",
	                                  &error));
	kov_state_set_last_error(back, "\f\v");
	g_assert_true(kov_state_save(back, &error));
	g_autoptr(KovState) again = kov_state_load(f->path, &error);
	g_autofree char *ff = NULL;
	kov_state_get_rcpt(again, "ff@example.org", &ff);
	g_assert_cmpstr(ff, ==, "?451 ?[31m?");
	g_autofree char *ff_last = kov_state_get_last_error(again);
	g_assert_cmpstr(ff_last, ==, "??");
}

static goffset
file_size(const char *path)
{
	GStatBuf st;
	return g_stat(path, &st) == 0 ? st.st_size : -1;
}

/* A reservation is a real file of the room the save may take; the save
 * uses it up, and an unused one is given back with the state. */
static void
test_reserve(KovTestDir *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	g_autofree char *tmp = g_strconcat(f->path, ".tmp", NULL);
	const char *const rcpts[] = { "ops@[192.0.2.1]", "bob@example.net" };

	KovState *state = kov_state_load(f->path, &error);
	g_assert_true(kov_state_reserve(state, rcpts, G_N_ELEMENTS(rcpts), &error));
	g_assert_no_error(error);
	g_assert_cmpint(file_size(tmp), >=, 2 * 3 * KOV_STATE_TEXT_MAX);
	g_autoptr(GString) worst = g_string_new(NULL);
	while (worst->len < 2 * KOV_STATE_TEXT_MAX)
		g_string_append(worst, "\\\n");
	for (gsize i = 0; i < G_N_ELEMENTS(rcpts); i++)
		g_assert_true(kov_state_set_rcpt(state, rcpts[i], KOV_STATE_FAILED, worst->str, &error));
	kov_state_set_last_error(state, worst->str);
	kov_state_add_attempt(state);
	kov_state_add_crash(state);
	kov_state_set_next_attempt(state, G_MAXINT64);
	/* The worst the record can be still fits in the room reserved. */
	goffset room = file_size(tmp);
	g_assert_true(kov_state_save(state, &error));
	g_assert_cmpint(file_size(f->path), <=, room);
	g_assert_cmpint(file_size(tmp), ==, -1);
	kov_state_free(state);

	state = kov_state_load(f->path, &error);
	g_assert_true(kov_state_reserve(state, rcpts, 1, &error));
	g_assert_cmpint(file_size(tmp), >, 0);
	kov_state_free(state); /* never saved: the room is given back */
	g_assert_cmpint(file_size(tmp), ==, -1);

	/* Nowhere to put it: an error, and nothing left behind. */
	g_autofree char *nowhere = g_build_filename(f->dir, "no", "such", NULL);
	state = kov_state_load(nowhere, &error);
	g_assert_no_error(error);
	g_assert_false(kov_state_reserve(state, rcpts, 1, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_IOERR);
	g_clear_error(&error);
	g_assert_false(kov_state_save(state, &error));
	g_assert_nonnull(error);
	kov_state_free(state);
}

static void
test_first_seen(KovTestDir *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	g_autoptr(KovState) state = kov_state_load(f->path, &error);
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	g_assert_cmpint(kov_state_get_first_seen(state), >=, now - 1);
	kov_state_set_first_seen(state, 1234567890);
	g_assert_true(kov_state_save(state, &error));
	g_autoptr(KovState) back = kov_state_load(f->path, &error);
	g_assert_cmpint(kov_state_get_first_seen(back), ==, 1234567890);
}

/* Attempts, crashes, the next attempt and the last error round-trip. A
 * save that cannot be made (its temporary cannot be created) fails and
 * leaves the state saved before it whole; a removed state is gone, and
 * removing it again is no error. */
static void
test_counters_and_failed_save(KovTestDir *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	g_autofree char *tmp = g_strconcat(f->path, ".tmp", NULL);
	g_autoptr(KovState) state = kov_state_load(f->path, &error);
	g_autofree char *none = kov_state_get_last_error(state);

	g_assert_cmpuint(kov_state_get_attempts(state), ==, 0);
	g_assert_cmpuint(kov_state_get_crashes(state), ==, 0);
	g_assert_cmpint(kov_state_get_next_attempt(state), ==, 0);
	g_assert_null(none);
	kov_state_add_attempt(state);
	kov_state_add_attempt(state);
	kov_state_add_crash(state);
	kov_state_set_next_attempt(state, 1800000000);
	kov_state_set_last_error(state, "451 4.7.1 later");
	g_assert_true(kov_state_save(state, &error));
	g_assert_no_error(error);

	g_assert_cmpint(g_mkdir(tmp, 0700), ==, 0);
	kov_state_add_attempt(state);
	g_assert_false(kov_state_save(state, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_IOERR);
	g_assert_true(g_str_has_prefix(error->message, "state: cannot create "));
	g_assert_cmpint(g_rmdir(tmp), ==, 0);

	g_autoptr(KovState) back = kov_state_load(f->path, &error);
	g_autofree char *last = kov_state_get_last_error(back);
	g_assert_cmpuint(kov_state_get_attempts(back), ==, 2);
	g_assert_cmpuint(kov_state_get_crashes(back), ==, 1);
	g_assert_cmpint(kov_state_get_next_attempt(back), ==, 1800000000);
	g_assert_cmpstr(last, ==, "451 4.7.1 later");

	kov_state_remove(f->path);
	g_assert_false(g_file_test(f->path, G_FILE_TEST_EXISTS));
	kov_state_remove(f->path);
}

/* What koverto never writes (a state is a regular file, made by rename)
 * is not read: a FIFO does not hang the load (alarm: a hang fails the
 * test), a link's target is neither read nor written, a dangling link
 * makes no file; each gives a fresh state, which the save puts in the
 * link's place. A FIFO or a link as the reservation's path.tmp does not
 * hang or lead the reservation and the save out either. */
static void
test_not_a_file(KovTestDir *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	g_autofree char *target = g_build_filename(f->dir, "target", NULL);
	g_autofree char *nothing = g_build_filename(f->dir, "nothing", NULL);
	g_autofree char *tmp = g_strconcat(f->path, ".tmp", NULL);
	const char *const rcpts[] = { "bob@example.net" };
	const char *known = "[mail]\nattempts=41\n[addr:bob@example.net]\nstate=delivered\n";
	kov_test_file_write(target, known, -1);

	alarm(20);
	for (int kind = 0; kind < 3; kind++) {
		g_assert_true(kind == 0 ? mkfifo(f->path, 0600) == 0
		              : symlink(kind == 1 ? target : nothing, f->path) == 0);
		g_assert_true(mkfifo(tmp, 0600) == 0);
		g_autoptr(KovState) state = kov_state_load(f->path, &error);
		g_assert_no_error(error);
		g_assert_true(kov_state_is_new(state));
		g_assert_cmpuint(kov_state_get_attempts(state), ==, 0);
		g_assert_cmpint(kov_state_get_rcpt(state, "bob@example.net", NULL), ==, KOV_STATE_PENDING);
		g_assert_true(kov_state_reserve(state, rcpts, 1, &error));
		g_assert_no_error(error);
		kov_state_add_attempt(state);
		g_assert_true(kov_state_save(state, &error));
		g_assert_no_error(error);
		GStatBuf st;
		g_assert_cmpint(g_lstat(f->path, &st), ==, 0);
		g_assert_true(S_ISREG(st.st_mode));
		g_autofree char *back = kov_test_file_read(target, NULL);
		g_assert_cmpstr(back, ==, known);
		g_assert_false(g_file_test(nothing, G_FILE_TEST_EXISTS));
		kov_state_remove(f->path);
	}
	/* A link or a FIFO as the tmp of a save without a reservation. */
	g_autoptr(KovState) state = kov_state_load(f->path, &error);
	g_assert_true(symlink(target, tmp) == 0);
	g_assert_false(kov_state_save(state, &error));
	g_assert_nonnull(error);
	g_clear_error(&error);
	g_assert_true(unlink(tmp) == 0 && mkfifo(tmp, 0600) == 0);
	g_assert_false(kov_state_save(state, &error));
	g_assert_nonnull(error);
	g_clear_error(&error);
	g_autofree char *back = kov_test_file_read(target, NULL);
	g_assert_cmpstr(back, ==, known);
	alarm(0);
	unlink(tmp);
	unlink(target);
}

/* The fuzz target's seeds and finds (t/fuzz/seed-state/, regressions
 * named state-*) through its checks (t/fuzz/fuzz-state-one.h). */
static void
test_fuzz_replay(KovTestDir *f, gconstpointer data)
{
	(void)data;
	kov_fuzz_state_tmpdir = f->dir;
	guint replayed = kov_test_fuzz_replay("seed-state", "state-", kov_fuzz_state_one);
	kov_fuzz_state_tmpdir = NULL;
	g_assert_cmpuint(replayed, >=, 6);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) KOV_TEST_ADD_DIR(name, "fallback.1.2.host", fn)
	ADD("/state/addresses-round-trip", test_addresses_round_trip);
	ADD("/state/legacy-file", test_legacy_file);
	ADD("/state/texts", test_texts);
	ADD("/state/reserve", test_reserve);
	ADD("/state/first-seen", test_first_seen);
	ADD("/state/counters-and-failed-save", test_counters_and_failed_save);
	ADD("/state/not-a-file", test_not_a_file);
	ADD("/state/fuzz-replay", test_fuzz_replay);
	return g_test_run();
}
