/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Addresses as GMime parses them. One walk over an address list serves
 * every reader and writer of one (envelope, directives, the clean-up of
 * names, charsets): a group is visited before its members, which GMime
 * may nest. The check an envelope address must pass lives here too, so an
 * address from any header is judged by the same rules. */
#include "address.h"
#include "error.h"

#include <string.h>

/* Why these rules: see address.h. */
gboolean
kov_address_is_sane(const char *addr)
{
	if (addr == NULL || *addr == '\0' || *addr == '-')
		return FALSE;
	if (!g_utf8_validate(addr, -1, NULL))
		return FALSE;
	const char *word = strstr(addr, "=?");
	if (word != NULL && strstr(word + 2, "?=") != NULL)
		return FALSE;
	const char *at = strrchr(addr, '@');
	if (at == NULL || at == addr || at[1] == '\0')
		return FALSE;
	/* "john doe"@example.org: qtextSMTP includes the space (4.1.2). */
	gboolean quoted = addr[0] == '"' && at - addr >= 2 && at[-1] == '"';
	for (const unsigned char *p = (const unsigned char *)addr; *p; p++) {
		gboolean space_ok = *p == ' ' && quoted && p < (const unsigned char *)at;
		if ((*p <= ' ' && !space_ok) || *p == 0x7f)
			return FALSE;
	}
	return TRUE;
}

/* A printable rendering of a bad address for an error message. */
static char *
address_for_error(const char *addr)
{
	return g_strescape(addr, NULL);
}

char *
kov_address_normalize(const char *addr, const char *what, GError **error)
{
	if (!kov_address_is_sane(addr)) {
		g_autofree char *shown = address_for_error(addr ? addr : "");
		g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR,
		            "bad address in %s: \"%s\"", what, shown);
		return NULL;
	}
	return g_ascii_strdown(addr, -1);
}

void
kov_address_foreach(InternetAddressList *list, KovAddressFunc func, gpointer data)
{
	g_return_if_fail(IS_INTERNET_ADDRESS_LIST(list) && func != NULL);
	int n = internet_address_list_length(list);
	for (int i = 0; i < n; i++) {
		InternetAddress *ia = internet_address_list_get_address(list, i);
		func(ia, data);
		if (INTERNET_ADDRESS_IS_GROUP(ia))
			kov_address_foreach(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)),
			                    func, data);
	}
}

static void
address_add_mailbox(InternetAddress *ia, gpointer out)
{
	if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
		return;
	const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
	g_ptr_array_add(out, g_strdup(addr ? addr : ""));
}

void
kov_address_flatten(InternetAddressList *list, GPtrArray *out)
{
	kov_address_foreach(list, address_add_mailbox, out);
}

static void
address_forget_charset(InternetAddress *ia, gpointer data)
{
	(void)data;
	internet_address_set_charset(ia, NULL);
}

void
kov_address_set_header(GMimeHeader *header, InternetAddressList *list)
{
	g_return_if_fail(GMIME_IS_HEADER(header) && IS_INTERNET_ADDRESS_LIST(list));
	kov_address_foreach(list, address_forget_charset, NULL);
	/* The name and ": " first: GMime folds counting what precedes. */
	g_autoptr(GString) text = g_string_new(g_mime_header_get_name(header));
	g_string_append_c(text, ':');
	gsize value_at = text->len;
	g_string_append_c(text, ' ');
	internet_address_list_encode(list, NULL, text);
	g_mime_header_set_raw_value(header, text->str + value_at);
}
