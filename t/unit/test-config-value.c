/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of lib/config/config-value.c, the typed value parsers on
 * their own: numbers and durations at their bounds, key IDs, host names,
 * the anchored senders pattern, word splitting, rule lines and the
 * option dispatcher. test-config.c checks the same through whole files. */
#include "config-value.h"
#include "error.h"

#include <string.h>

static void
test_number(void)
{
	g_autoptr(GError) error = NULL;
	guint n = 0;
	g_assert_true(kov_config_value_parse_number("65535", 1, 65535, &n, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(n, ==, 65535);
	const char *bad[] = { "", "-1", "+1", " 1", "1 ", "0x10", "65536", "0", "99999999999999999999" };
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		n = 7;
		g_assert_false(kov_config_value_parse_number(bad[i], 1, 65535, &n, &error));
		g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
		g_assert_cmpuint(n, ==, 7);
		g_clear_error(&error);
	}
}

static void
test_duration(void)
{
	static const struct { const char *text; gint64 seconds; } good[] = {
		{ "1", 1 }, { "90s", 90 }, { "2m", 120 }, { "3h", 10800 }, { "5d", 432000 },
		{ "3650d", 3650 * 86400 },
	};
	g_autoptr(GError) error = NULL;
	for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
		gint64 out = 0;
		g_assert_true(kov_config_value_parse_duration(good[i].text, 1, 3650 * 86400, &out, &error));
		g_assert_no_error(error);
		g_assert_cmpint(out, ==, good[i].seconds);
	}
	const char *bad[] = { "", "s", "1w", "1 d", "1dd", "-1", "0", "3651d", "1.5h" };
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		gint64 out = 42;
		g_assert_false(kov_config_value_parse_duration(bad[i], 1, 3650 * 86400, &out, &error));
		g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
		g_assert_cmpint(out, ==, 42);
		g_clear_error(&error);
	}
}

static void
test_keyid(void)
{
	g_assert_true(kov_config_value_is_keyid("DEADBEEF"));
	g_assert_true(kov_config_value_is_keyid("0xdeadbeefDEADBEEF"));
	g_assert_true(kov_config_value_is_keyid("0123456789abcdef0123456789ABCDEF01234567"));
	g_assert_false(kov_config_value_is_keyid(""));
	g_assert_false(kov_config_value_is_keyid("0x"));
	g_assert_false(kov_config_value_is_keyid("DEADBEE"));
	g_assert_false(kov_config_value_is_keyid("DEADBEEFF"));
	g_assert_false(kov_config_value_is_keyid("DEADBEEG"));
}

static void
test_host(void)
{
	g_assert_true(kov_config_value_is_host("mail.example.org"));
	g_assert_true(kov_config_value_is_host("127.0.0.1"));
	g_assert_true(kov_config_value_is_host("::1"));
	g_assert_true(kov_config_value_is_host("smtp_relay-2"));
	g_assert_false(kov_config_value_is_host("-x"));
	g_assert_false(kov_config_value_is_host("a b"));
	g_assert_false(kov_config_value_is_host("a;b"));
}

static void
test_senders(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GRegex) re = kov_config_value_compile_senders(".*@example\\.org", &error);
	g_assert_no_error(error);
	g_assert_true(g_regex_match(re, "A@EXAMPLE.org", 0, NULL));
	g_assert_false(g_regex_match(re, "a@example.org.evil", 0, NULL));
	/* An unbalanced ")" cannot escape the anchors; a stray \Q is ended. */
	g_autoptr(GRegex) none = kov_config_value_compile_senders("a)|(.*", &error);
	g_assert_null(none);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	g_clear_error(&error);
	g_autoptr(GRegex) quoted = kov_config_value_compile_senders("\\Qa@b", &error);
	g_assert_no_error(error);
	g_assert_true(g_regex_match(quoted, "a@b", 0, NULL));
	g_assert_false(g_regex_match(quoted, "a@bc", 0, NULL));
}

static void
test_split_words(void)
{
	g_auto(GStrv) words = kov_config_value_split_words("  /usr/sbin/sendmail\t-oi \v-om  ");
	g_assert_cmpuint(g_strv_length(words), ==, 3);
	g_assert_cmpstr(words[0], ==, "/usr/sbin/sendmail");
	g_assert_cmpstr(words[2], ==, "-om");
	g_auto(GStrv) none = kov_config_value_split_words(" \t ");
	g_assert_null(none[0]);
}

static void
test_rule(void)
{
	g_autoptr(GError) error = NULL;
	KovRule *rule = kov_config_value_parse_rule(".*@example\\.org fallback,0xDEADBEEF # c", 3, &error);
	g_assert_no_error(error);
	g_assert_nonnull(rule);
	kov_policy_rule_free(rule);
	rule = kov_config_value_parse_rule("x none#comment", 4, &error);
	g_assert_no_error(error);
	kov_policy_rule_free(rule);
	const char *bad[] = { "", "x", "x sometimes", "x none extra", "x fallback,XYZ" };
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_assert_null(kov_config_value_parse_rule(bad[i], 1, &error));
		g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
		g_clear_error(&error);
	}
	guint n = 0;
	g_assert_true(kov_config_value_rule_number("01", &n));
	g_assert_cmpuint(n, ==, 1);
	g_assert_false(kov_config_value_rule_number("0", &n));
	g_assert_false(kov_config_value_rule_number("a", &n));
	g_assert_false(kov_config_value_rule_number("", &n));
}

/* The dispatcher by option type, on a KovConfig like the loader's. */
static void
test_parse_option(void)
{
	KovConfigLoad load = { .file = "test" };
	KovConfig config = { 0 };
	g_autoptr(GError) error = NULL;
	const KovOption ssl = { "ssl", KOV_TYPE_SSL, G_STRUCT_OFFSET(KovConfig, ssl), 0, 0, 0 };
	g_assert_true(kov_config_value_parse(&load, &ssl, &config, "STARTTLS", &error));
	g_assert_cmpint(config.ssl, ==, KOV_SSL_STARTTLS);
	g_assert_false(kov_config_value_parse(&load, &ssl, &config, "tls", &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	g_clear_error(&error);
	const KovOption bool_opt = { "dsn", KOV_TYPE_BOOL, G_STRUCT_OFFSET(KovConfig, dsn), 0, 0, 0 };
	g_assert_true(kov_config_value_parse(&load, &bool_opt, &config, "Yes", &error));
	g_assert_true(config.dsn);
	const KovOption host = { "msserver", KOV_TYPE_HOST, G_STRUCT_OFFSET(KovConfig, msserver), 0, 0, 0 };
	g_assert_true(kov_config_value_parse(&load, &host, &config, "mx.example.org", &error));
	g_assert_cmpstr(config.msserver, ==, "mx.example.org");
	g_assert_true(kov_config_value_parse(&load, &host, &config, "", &error));
	g_assert_null(config.msserver);
	const KovOption path = { "queuedir", KOV_TYPE_PATH, G_STRUCT_OFFSET(KovConfig, queuedir), 0, 0, 0 };
	g_assert_false(kov_config_value_parse(&load, &path, &config, "relative/dir", &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	g_clear_error(&error);
	g_assert_null(config.queuedir);
	kov_config_load_clear(&load);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/config-value/number", test_number);
	g_test_add_func("/config-value/duration", test_duration);
	g_test_add_func("/config-value/keyid", test_keyid);
	g_test_add_func("/config-value/host", test_host);
	g_test_add_func("/config-value/senders", test_senders);
	g_test_add_func("/config-value/split-words", test_split_words);
	g_test_add_func("/config-value/rule", test_rule);
	g_test_add_func("/config-value/parse-option", test_parse_option);
	return g_test_run();
}
