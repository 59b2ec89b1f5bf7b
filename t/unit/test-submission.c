/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of lib/mail/submission.c, the command-line addresses of
 * koverto submit: every address it takes must be read back by the daemon
 * from the X-Kuvert-To/-From line as that same address. OpenSMTPD's mda
 * expansion turns o&brien@example.com into o:brien@example.com, which an
 * address-list parser reads as the group "o" holding brien@example.com. */
#include "submission.h"
#include "address.h"
#include "gmime-autoptr.h"
#include "error.h"

#include <string.h>

static gboolean
check(const char *sender, const char *rcpt, GError **error)
{
	g_autoptr(GPtrArray) rcpts = g_ptr_array_new();
	if (rcpt != NULL)
		g_ptr_array_add(rcpts, (gpointer)rcpt);
	KovSubmission s = { .kind = KOV_QUEUE_FALLBACK, .sender = sender, .recipients = rcpts };
	return kov_submission_check(&s, error);
}

static gboolean
rcpt_ok(const char *rcpt)
{
	g_autoptr(GError) error = NULL;
	gboolean ok = check(NULL, rcpt, &error);
	g_assert_true(ok == (error == NULL));
	if (!ok) {
		g_assert_error(error, KOV_ERROR, KOV_ERROR_USAGE);
		g_assert_nonnull(strstr(error->message, "bad recipient address"));
	}
	return ok;
}

/* What the daemon makes of a header value: its own reader's walk. */
static char *
read_back(const char *value)
{
	g_autoptr(InternetAddressList) list = internet_address_list_parse(NULL, value);
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
	if (list != NULL)
		kov_address_flatten(list, out);
	GString *s = g_string_new(NULL);
	for (guint i = 0; i < out->len; i++)
		g_string_append_printf(s, "%s%s", i ? " " : "", (char *)g_ptr_array_index(out, i));
	return g_string_free(s, FALSE);
}

static void
test_plain(void)
{
	g_assert_true(rcpt_ok("bob@example.net"));
	g_assert_true(rcpt_ok("Bob.Smith+tag@Example.NET"));
	g_assert_true(rcpt_ok("<bob@example.net>"));
	g_assert_true(rcpt_ok("o'brien@example.com"));
	g_assert_true(rcpt_ok("o&brien@example.com"));
	g_assert_true(rcpt_ok("\"o:brien\"@example.com"));
	g_assert_true(check("alice@example.org", "bob@example.net", NULL));
	g_assert_true(check("", "bob@example.net", NULL));
	g_assert_true(check("<>", "bob@example.net", NULL));
}

static void
test_refused(void)
{
	const char *bad[] = {
		"o:brien@example.com",          /* the group "o" */
		"team:bob@example.net;",
		"a;b@example.com",
		"bob@example.net(comment)",
		"(c)bob@example.net",
		"@relay.example:bob@example.net", /* a route */
		"<bob@example.net",
		"bob@example.net>",
		"<<bob@example.net>>",
		"a<b@example.com>",
		"\"Bob\"<bob@example.net>",
		"bob@example.net,carol@example.net",
		"bob@example.net\nBcc: x@example.com",
		"bob",
		"-oQ/tmp@example.com",
	};
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		if (rcpt_ok(bad[i]))
			g_error("accepted \"%s\"", bad[i]);
	}
	g_autoptr(GError) error = NULL;
	g_assert_false(check("o:brien@example.com", "bob@example.net", &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_USAGE);
	g_assert_nonnull(strstr(error->message, "bad sender address"));
}

/* The class: for every printable character in every place of an address,
 * what submit takes, the daemon reads back as exactly that address. */
static void
test_read_back(void)
{
	const char *shapes[] = { "a%cb@example.com", "%cab@example.com", "ab%c@example.com",
	                         "ab@ex%cample.com", "<a%cb@example.com>", "\"a%cb\"@example.com" };
	guint taken = 0;
	for (guint s = 0; s < G_N_ELEMENTS(shapes); s++) {
		for (int c = 0x21; c < 0x7f; c++) {
			g_autofree char *addr = g_strdup_printf(shapes[s], c);
			if (!rcpt_ok(addr))
				continue;
			taken++;
			g_autofree char *bare = addr[0] == '<' ? g_strndup(addr + 1, strlen(addr) - 2) : g_strdup(addr);
			g_autofree char *back = read_back(addr);
			if (g_strcmp0(back, bare) != 0)
				g_error("submit takes \"%s\", the daemon reads \"%s\"", addr, back);
		}
	}
	g_assert_cmpuint(taken, >, 100);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	g_test_add_func("/submission/plain", test_plain);
	g_test_add_func("/submission/refused", test_refused);
	g_test_add_func("/submission/read-back", test_read_back);
	int status = g_test_run();
	g_mime_shutdown();
	return status;
}
