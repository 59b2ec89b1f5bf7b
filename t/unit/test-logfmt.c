/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of logfmt.c: each outcome line read back by a strict logfmt
 * parser written here (keys, bare and quoted values, the escapes), so a
 * hostile address or reply is shown to come back as the one value it was,
 * with no key forged and no second line. */
#include "logfmt.h"
#include "fixture.h"

#include <string.h>

/* Parse @line strictly into (key, value) pairs, in order; NULL when it is
 * not logfmt: key=value separated by one space, a key of [a-z_], a bare
 * value without space, '"', '=' or '\\' or control, a quoted value with
 * \" \\ \xNN \uNNNN escapes only. */
static GPtrArray *
parse(const char *line)
{
	g_autoptr(GPtrArray) kv = g_ptr_array_new_with_free_func(g_free);
	const char *p = line;
	while (*p != '\0') {
		const char *k = p;
		while (g_ascii_islower(*p) || *p == '_')
			p++;
		if (p == k || *p != '=')
			return NULL;
		g_ptr_array_add(kv, g_strndup(k, p - k));
		p++;
		GString *v = g_string_new(NULL);
		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				if (*p == '\0' || (guchar)*p < 0x20 || *p == 0x7f) {
					g_string_free(v, TRUE);
					return NULL;
				}
				if (*p != '\\') {
					g_string_append_c(v, *p);
					continue;
				}
				p++;
				if (*p == '"' || *p == '\\')
					g_string_append_c(v, *p);
				else if (*p == 'x' && g_ascii_isxdigit(p[1]) && g_ascii_isxdigit(p[2])) {
					g_string_append_c(v, (char)(g_ascii_xdigit_value(p[1]) * 16 + g_ascii_xdigit_value(p[2])));
					p += 2;
				} else if (*p == 'u') {
					gunichar u = (gunichar)g_ascii_strtoull(p + 1, NULL, 16);
					g_string_append_unichar(v, u);
					p += 4;
				} else {
					g_string_free(v, TRUE);
					return NULL;
				}
			}
			p++;
		} else {
			for (; *p != '\0' && *p != ' '; p++) {
				if (*p == '"' || *p == '=' || *p == '\\' || (guchar)*p < 0x20 || *p == 0x7f) {
					g_string_free(v, TRUE);
					return NULL;
				}
				g_string_append_c(v, *p);
			}
		}
		g_ptr_array_add(kv, g_string_free(v, FALSE));
		if (*p == ' ' && p[1] != '\0')
			p++;
		else if (*p != '\0') {
			return NULL;
		}
	}
	return g_steal_pointer(&kv);
}

static const char *
get(GPtrArray *kv, const char *key)
{
	const char *found = NULL;
	for (guint i = 0; i + 1 < kv->len; i += 2)
		if (strcmp(g_ptr_array_index(kv, i), key) == 0) {
			g_assert_null(found); /* every key once */
			found = g_ptr_array_index(kv, i + 1);
		}
	return found;
}

static KovLogfmtOutcome
sample(void)
{
	KovLogfmtOutcome o = {
		.id = "1733500000.M1P2.host", .queue = "must-encrypt", .from = "alice@example.org",
		.to = "bob@example.net", .action = "encrypted",
		.key = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
		.signer = "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC", .relay = "127.0.0.1:2525",
		.attempts = 1, .delay = 0.4249, .size = 18234, .dsn = "2.0.0",
		.status = KOV_LOGFMT_SENT, .reply = "250 2.0.0 Ok: queued as 4XyZ",
	};
	return o;
}

static void
test_outcome_sent(void)
{
	KovLogfmtOutcome o = sample();
	g_autofree char *line = kov_logfmt_outcome(&o);
	g_assert_cmpstr(line, ==,
	                "id=1733500000.M1P2.host queue=must-encrypt from=<alice@example.org> "
	                "to=<bob@example.net> action=encrypted key=BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB "
	                "signer=CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC relay=127.0.0.1:2525 attempts=1 "
	                "delay=0.42 size=18234 dsn=2.0.0 status=sent reply=\"250 2.0.0 Ok: queued as 4XyZ\"");
	g_autoptr(GPtrArray) kv = parse(line);
	g_assert_nonnull(kv);
	g_assert_cmpstr(get(kv, "status"), ==, "sent");
	/* keysrc (issue 14) comes last, the rest in its order. */
	o.keysrc = "keydir";
	g_autofree char *with = kov_logfmt_outcome(&o);
	g_autofree char *want = g_strconcat(line, " keysrc=keydir", NULL);
	g_assert_cmpstr(with, ==, want);
}

static void
test_outcome_optional_keys(void)
{
	KovLogfmtOutcome o = { .id = "X", .queue = "fallback", .from = "", .to = "d@example.com",
	                       .action = "none", .attempts = -1, .delay = -1, .size = -1, .dsn = "5.7.1",
	                       .status = KOV_LOGFMT_REFUSED, .reason = "refused: no usable key" };
	g_autofree char *line = kov_logfmt_outcome(&o);
	g_assert_cmpstr(line, ==, "id=X queue=fallback from=<> to=<d@example.com> action=none dsn=5.7.1 "
	                          "status=refused reason=\"refused: no usable key\"");
}

/* A recipient and a reply that try to end the line and add their own keys. */
static void
test_outcome_hostile(void)
{
	const char *to = "x@y status=sent\r\nid=forged queue=q status=sent";
	const char *reply = "550 no\" status=sent reply=\"\\\n<6>koverto: info: forged \x1b[2J\xe2\x80\xae\xff";
	KovLogfmtOutcome o = sample();
	o.to = to;
	o.status = KOV_LOGFMT_BOUNCED;
	o.reply = reply;
	g_autofree char *line = kov_logfmt_outcome(&o);
	g_assert_null(strchr(line, '\n'));
	g_assert_null(strchr(line, '\r'));
	g_assert_null(strchr(line, '\x1b'));
	g_autoptr(GPtrArray) kv = parse(line);
	g_assert_nonnull(kv);
	g_assert_cmpuint(kv->len, ==, 2 * 14);
	g_assert_cmpstr(get(kv, "status"), ==, "bounced");
	g_assert_cmpstr(get(kv, "id"), ==, "1733500000.M1P2.host");
	g_autofree char *want_to = g_strdup_printf("<%s>", to);
	g_assert_cmpstr(get(kv, "to"), ==, want_to);
	g_assert_cmpstr(get(kv, "reply"), ==, reply);
	g_assert_nonnull(strstr(line, "\\u202e"));
}

static void
test_append_quoting(void)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "plain", "k=plain" },
		{ "", "k=\"\"" },
		{ "a b", "k=\"a b\"" },
		{ "a=b", "k=\"a=b\"" },
		{ "a\"b", "k=\"a\\\"b\"" },
		{ "a\\b", "k=\"a\\\\b\"" },
		{ "a\tb", "k=\"a\\x09b\"" },
		{ "gr\xc3\xbc\xc3\x9f", "k=gr\xc3\xbc\xc3\x9f" },
		{ "\xc2\x85", "k=\"\\u0085\"" },
		{ "\xc3", "k=\"\\xc3\"" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GString) s = g_string_new(NULL);
		g_assert_false(kov_logfmt_append(s, "k", cases[i].in, 0));
		g_assert_cmpstr(s->str, ==, cases[i].out);
	}
}

/* Cut values: never inside an escape or a UTF-8 sequence, marked, and
 * the line stays within its bound whatever the values. */
static void
test_bounded(void)
{
	g_autoptr(GString) s = g_string_new(NULL);
	g_assert_true(kov_logfmt_append(s, "k", "abcdefghijklmnop", 10));
	g_assert_cmpstr(s->str, ==, "k=\"abcde...\"");
	g_string_truncate(s, 0);
	g_assert_true(kov_logfmt_append(s, "k", "ab\ncd", 9));
	g_assert_cmpstr(s->str, ==, "k=\"ab...\"");
	g_string_truncate(s, 0);
	g_assert_true(kov_logfmt_append(s, "k", "a\xc3\xbc\xc3\xbc", 9));
	g_assert_cmpstr(s->str, ==, "k=\"a\xc3\xbc...\"");

	GString *big = g_string_new(NULL);
	for (int i = 0; i < 2000; i++)
		g_string_append(big, i % 3 ? "\n" : "\"");
	KovLogfmtOutcome o = { .id = big->str, .queue = big->str, .from = big->str, .to = big->str,
	                       .action = big->str, .key = big->str, .signer = big->str,
	                       .relay = big->str, .attempts = G_MAXINT, .delay = 1e300,
	                       .size = G_MAXINT64, .dsn = big->str, .status = KOV_LOGFMT_DEFERRED,
	                       .reply = big->str, .reason = big->str };
	g_autofree char *line = kov_logfmt_outcome(&o);
	g_string_free(big, TRUE);
	g_assert_cmpuint(strlen(line), <=, KOV_LOGFMT_LINE_MAX);
	g_autoptr(GPtrArray) kv = parse(line);
	g_assert_nonnull(kv);
	g_assert_cmpstr(get(kv, "truncated"), ==, "yes");
	g_assert_cmpstr(get(kv, "status"), ==, "deferred");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/logfmt/outcome/sent", test_outcome_sent);
	g_test_add_func("/logfmt/outcome/optional-keys", test_outcome_optional_keys);
	g_test_add_func("/logfmt/outcome/hostile", test_outcome_hostile);
	g_test_add_func("/logfmt/append/quoting", test_append_quoting);
	g_test_add_func("/logfmt/append/bounded", test_bounded);
	return g_test_run();
}
