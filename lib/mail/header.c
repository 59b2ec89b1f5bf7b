/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Header fields read as a block, by name, in any case: the envelope, the
 * directives and the clean-up all look fields up this way, and addresses
 * always come from the raw value (GMime's decoded value has encoded-words
 * expanded, CR/LF included). */
#include "header.h"
#include "address.h"
#include "gmime-autoptr.h"

GPtrArray *
kov_header_fields(GMimeHeaderList *headers)
{
	int n = g_mime_header_list_get_count(headers);
	GPtrArray *fields = g_ptr_array_sized_new(n);
	for (int i = 0; i < n; i++)
		g_ptr_array_add(fields, g_mime_header_list_get_header_at(headers, i));
	return fields;
}

GPtrArray *
kov_header_addresses(GPtrArray *fields, const char *name, gboolean first_only,
                     GMimeParserOptions *options)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < fields->len; i++) {
		GMimeHeader *h = g_ptr_array_index(fields, i);
		if (g_ascii_strcasecmp(g_mime_header_get_name(h), name) != 0)
			continue;
		const char *raw = g_mime_header_get_raw_value(h);
		g_autoptr(InternetAddressList) list = raw ? internet_address_list_parse(options, raw) : NULL;
		if (list != NULL)
			kov_address_flatten(list, out);
		if (first_only)
			break;
	}
	return out;
}

GPtrArray *
kov_header_list_addresses(GMimeHeaderList *headers, const char *name, gboolean first_only,
                          GMimeParserOptions *options)
{
	g_autoptr(GPtrArray) fields = kov_header_fields(headers);
	return kov_header_addresses(fields, name, first_only, options);
}

char *
kov_header_first_value(GPtrArray *fields, const char *name)
{
	for (guint i = 0; i < fields->len; i++) {
		GMimeHeader *h = g_ptr_array_index(fields, i);
		if (g_ascii_strcasecmp(g_mime_header_get_name(h), name) == 0) {
			const char *raw = g_mime_header_get_raw_value(h);
			return g_strstrip(g_strdup(raw ? raw : ""));
		}
	}
	return NULL;
}

char *
kov_header_list_first_value(GMimeHeaderList *headers, const char *name)
{
	g_autoptr(GPtrArray) fields = kov_header_fields(headers);
	return kov_header_first_value(fields, name);
}

gboolean
kov_header_contains(GPtrArray *fields, const char *name)
{
	for (guint i = 0; i < fields->len; i++)
		if (g_ascii_strcasecmp(g_mime_header_get_name(g_ptr_array_index(fields, i)), name) == 0)
			return TRUE;
	return FALSE;
}

void
kov_header_remove(GMimeHeaderList *headers, gboolean (*match)(const char *name))
{
	for (int i = g_mime_header_list_get_count(headers) - 1; i >= 0; i--) {
		GMimeHeader *h = g_mime_header_list_get_header_at(headers, i);
		if (match(g_mime_header_get_name(h)))
			g_mime_header_list_remove_at(headers, i);
	}
}

gboolean
kov_header_name_valid(const char *name)
{
	if (name == NULL || *name == '\0')
		return FALSE;
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == ':')
			return FALSE;
	return TRUE;
}
