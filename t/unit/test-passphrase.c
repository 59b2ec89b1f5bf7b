/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The pieces of query-secret that need no gpg: the key ID taken from gpg's
 * uid_hint for %s, and the argument vector the program is run with (no
 * shell: words split on white space, every %s replaced). The whole path,
 * with a real passphrase-protected key, is t/0022-query-secret.t. */
#include "config.h"
#include "passphrase.h"

#include <glib.h>

static void
test_key_id(void)
{
	static const struct {
		const char *hint, *want;
	} cases[] = {
		{ "D6AE538B98F80452 Pat Protected <pat@example.org>", "0xD6AE538B98F80452" },
		{ "d6ae538b98f80452 lower case", "0xD6AE538B98F80452" },
		{ "D6AE538B98F80452", "0xD6AE538B98F80452" },
		{ "D6AE538B98F8045 short", NULL },
		{ "D6AE538B98F80452A long", NULL },
		{ "D6AE538B98F8045G not hex", NULL },
		{ "", NULL },
		{ " D6AE538B98F80452 leading blank", NULL },
		{ NULL, NULL },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *got = kov_passphrase_key_id(cases[i].hint);
		g_assert_cmpstr(got, ==, cases[i].want);
	}
}

static void
test_command_argv(void)
{
	g_auto(GStrv) a = kov_config_command_argv("/usr/bin/ask  --key %s\t--again=%s%s", "0xAB");
	const char *want[] = { "/usr/bin/ask", "--key", "0xAB", "--again=0xAB0xAB", NULL };
	g_assert_cmpstrv(a, want);

	/* The program itself is never substituted: it is a path, checked. */
	g_auto(GStrv) b = kov_config_command_argv("/opt/%s/ask %s", "x; rm -rf /");
	const char *want_b[] = { "/opt/%s/ask", "x; rm -rf /", NULL };
	g_assert_cmpstrv(b, want_b);
}

static void
test_no_query(void)
{
	g_assert_null(kov_passphrase_new(NULL, "/bin/true %s"));
	g_autoptr(KovPassphrase) p = kov_passphrase_new("/bin/echo %s", NULL);
	g_assert_nonnull(p);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/passphrase/key-id", test_key_id);
	g_test_add_func("/passphrase/command-argv", test_command_argv);
	g_test_add_func("/passphrase/no-query", test_no_query);
	return g_test_run();
}
