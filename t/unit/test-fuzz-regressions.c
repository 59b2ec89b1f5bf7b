/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Replays what the fuzzer found (t/fuzz/regressions/) and its seeds
 * (t/fuzz/seed/) through the very function the libFuzzer target runs
 * (t/fuzz/fuzz-one.h), without libFuzzer: once as the target does by
 * default (parse, clean up, make 7-bit, write), once also signing and
 * encrypting with the fixture keys. A broken promise aborts, and so fails
 * the test; the ASan/UBSan and valgrind runs check the memory side. */
#include "../fuzz/fuzz-one.h"

#include "fixture.h"

static KovKeys *sealing_keys;

static void
replay_file(const char *path)
{
	g_autofree char *bytes = NULL;
	gsize len = 0;
	g_autoptr(GError) error = NULL;
	g_assert_true(g_file_get_contents(path, &bytes, &len, &error));
	g_assert_no_error(error);
	kov_fuzz_one((const guint8 *)bytes, len);
}

static void
replay_plain(gconstpointer path)
{
	kov_fuzz.keys = NULL;
	replay_file(path);
}

static void
replay_sealed(gconstpointer path)
{
	kov_fuzz.keys = sealing_keys;
	replay_file(path);
	kov_fuzz.keys = NULL;
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every file in t/fuzz/@dir, sorted, as /fuzz/plain/@dir/NAME and
 * /fuzz/sealed/@dir/NAME. The paths live in @keep. */
static void
add_dir(const char *dir, GPtrArray *keep)
{
	g_autofree char *path = g_test_build_filename(G_TEST_DIST, "fuzz", dir, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GDir) d = g_dir_open(path, 0, &error);
	g_assert_no_error(error);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	for (const char *name; (name = g_dir_read_name(d)) != NULL;)
		if (name[0] != '.' && !g_str_has_suffix(name, ".md"))
			g_ptr_array_add(names, g_strdup(name));
	g_ptr_array_sort(names, compare_names);
	g_assert_cmpuint(names->len, >, 0);
	for (guint i = 0; i < names->len; i++) {
		const char *name = g_ptr_array_index(names, i);
		char *file = g_build_filename(path, name, NULL);
		g_ptr_array_add(keep, file);
		g_autofree char *plain = g_strdup_printf("/fuzz/plain/%s/%s", dir, name);
		g_autofree char *sealed = g_strdup_printf("/fuzz/sealed/%s/%s", dir, name);
		g_test_add_data_func(plain, file, replay_plain);
		g_test_add_data_func(sealed, file, replay_sealed);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	kov_fuzz_init();
	char *home = kov_test_gnupghome_new("setup-home");
	kov_fuzz_init_gnupg(home);
	sealing_keys = g_steal_pointer(&kov_fuzz.keys);

	g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
	add_dir("regressions", files);
	add_dir("seed", files);
	int status = g_test_run();

	gpgme_key_unref(kov_fuzz.signer);
	gpgme_key_unref(kov_fuzz.recipient);
	kov_keys_free(sealing_keys);
	g_free(kov_fuzz.tempdir);
	g_free(kov_fuzz.path);
	close(kov_fuzz.in);
	close(kov_fuzz.out);
	kov_test_gnupghome_free(home);
	g_mime_shutdown();
	return status;
}
