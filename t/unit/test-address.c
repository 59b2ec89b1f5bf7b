/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of lib/mail/address.c: the one walk over an address list
 * (order, groups before their members, nesting, empty groups), the
 * flattening every envelope reader uses, the envelope address check and
 * a list written back as a header's value. */
#include "address.h"
#include "gmime-autoptr.h"
#include "error.h"

#include <string.h>

static InternetAddressList *
parse(const char *text)
{
	InternetAddressList *list = internet_address_list_parse(NULL, text);
	g_assert_nonnull(list);
	return list;
}

static void
record(InternetAddress *ia, gpointer data)
{
	GString *out = data;
	if (out->len > 0)
		g_string_append_c(out, ' ');
	if (INTERNET_ADDRESS_IS_GROUP(ia))
		g_string_append_printf(out, "[%s]", internet_address_get_name(ia));
	else
		g_string_append(out, internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)));
}

static void
test_foreach_order(void)
{
	g_autoptr(InternetAddressList) list =
		parse("a@x, Team: b@x, \"C\" <c@x>;, undisclosed-recipients:;, d@x");
	g_autoptr(GString) seen = g_string_new(NULL);
	kov_address_foreach(list, record, seen);
	g_assert_cmpstr(seen->str, ==, "a@x [Team] b@x c@x [undisclosed-recipients] d@x");
}

/* GMime nests groups when a program builds them: the walk goes down. */
static void
test_foreach_nested(void)
{
	g_autoptr(InternetAddressList) list = internet_address_list_new();
	InternetAddress *outer = internet_address_group_new("outer");
	InternetAddress *inner = internet_address_group_new("inner");
	InternetAddress *deep = internet_address_mailbox_new(NULL, "deep@x");
	InternetAddress *last = internet_address_mailbox_new(NULL, "last@x");
	internet_address_group_add_member(INTERNET_ADDRESS_GROUP(inner), deep);
	internet_address_group_add_member(INTERNET_ADDRESS_GROUP(outer), inner);
	internet_address_list_add(list, outer);
	internet_address_list_add(list, last);
	/* the containers hold their own references */
	g_object_unref(outer);
	g_object_unref(inner);
	g_object_unref(deep);
	g_object_unref(last);
	g_autoptr(GString) seen = g_string_new(NULL);
	kov_address_foreach(list, record, seen);
	g_assert_cmpstr(seen->str, ==, "[outer] [inner] deep@x last@x");
	g_autoptr(GPtrArray) flat = g_ptr_array_new_with_free_func(g_free);
	kov_address_flatten(list, flat);
	g_assert_cmpuint(flat->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(flat, 0), ==, "deep@x");
	g_assert_cmpstr(g_ptr_array_index(flat, 1), ==, "last@x");
}

static void
test_flatten(void)
{
	g_autoptr(InternetAddressList) list = parse("A <A@X>, g: b@x;, undisclosed-recipients:;");
	g_autoptr(GPtrArray) flat = g_ptr_array_new_with_free_func(g_free);
	kov_address_flatten(list, flat);
	g_assert_cmpuint(flat->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(flat, 0), ==, "A@X");  /* as written */
	g_assert_cmpstr(g_ptr_array_index(flat, 1), ==, "b@x");
}

static void
test_sane(void)
{
	const char *good[] = { "a@b", "\"john doe\"@example.org", "a.b+c@d.e" };
	for (gsize i = 0; i < G_N_ELEMENTS(good); i++)
		g_assert_true(kov_address_is_sane(good[i]));
	const char *bad[] = { NULL, "", "-oQ@x", "a", "@b", "a@", "a b@c", "a\r\nb@c", "a\x7f@b",
	                      "=?utf-8?q?a=0D=0Ab?=@x", "a@b c", "\xff@x" };
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
		g_assert_false(kov_address_is_sane(bad[i]));
}

static void
test_normalize(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *lower = kov_address_normalize("Bob@Example.ORG", "To", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(lower, ==, "bob@example.org");
	g_assert_null(kov_address_normalize("a\nb@c", "X-Kuvert-To", &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_DATAERR);
	g_assert_cmpstr(error->message, ==, "bad address in X-Kuvert-To: \"a\\nb@c\"");
	g_clear_error(&error);
	g_assert_null(kov_address_normalize(NULL, "From", &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_DATAERR);
}

/* Written back: names encoded as needed, no charset left from the input
 * (in a group too), so GMime picks one for the text itself. */
static void
test_set_header(void)
{
	g_autoptr(GMimeMessage) message = g_mime_message_new(TRUE);
	GMimeHeaderList *headers = g_mime_object_get_header_list(GMIME_OBJECT(message));
	g_mime_header_list_append(headers, "To", "x@y", NULL);
	GMimeHeader *to = g_mime_header_list_get_header(headers, "To");
	g_autoptr(InternetAddressList) list =
		parse("=?x-unknown?q?J=FCrgen?= <j@x>, team: =?x-unknown?q?Ren=E9?= <r@x>;");
	kov_address_set_header(to, list);
	InternetAddress *first = internet_address_list_get_address(list, 0);
	InternetAddress *group = internet_address_list_get_address(list, 1);
	InternetAddress *member = internet_address_list_get_address(
		internet_address_group_get_members(INTERNET_ADDRESS_GROUP(group)), 0);
	g_assert_null(internet_address_get_charset(first));
	g_assert_null(internet_address_get_charset(group));
	g_assert_null(internet_address_get_charset(member));
	const char *raw = g_mime_header_get_raw_value(to);
	g_assert_nonnull(strstr(raw, "<j@x>"));
	g_assert_nonnull(strstr(raw, "team:"));
	g_assert_true(g_str_has_suffix(raw, "\n"));
	for (const char *p = raw; *p != '\0'; p++)
		g_assert_cmpint((unsigned char)*p, <, 0x80);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	g_test_add_func("/address/foreach-order", test_foreach_order);
	g_test_add_func("/address/foreach-nested", test_foreach_nested);
	g_test_add_func("/address/flatten", test_flatten);
	g_test_add_func("/address/sane", test_sane);
	g_test_add_func("/address/normalize", test_normalize);
	g_test_add_func("/address/set-header", test_set_header);
	int rc = g_test_run();
	g_mime_shutdown();
	return rc;
}
