/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Loop detection. The mark names the host, so two koverto instances on
 * different machines may relay through each other; the hop count catches
 * loops through other software too (each MTA adds a Received line). */
#include "trace.h"
#include "error.h"

#include <string.h>
#include <unistd.h>

const char *
kov_trace_host(void)
{
	static char host[256];
	if (host[0] == '\0' && (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0'))
		g_strlcpy(host, "localhost", sizeof host);
	return host;
}

gboolean
kov_trace_check(GMimeMessage *message, const char *host, guint max_hops, GError **error)
{
	GMimeHeaderList *headers = g_mime_object_get_header_list(GMIME_OBJECT(message));
	int n = g_mime_header_list_get_count(headers);
	guint hops = 0;
	g_autofree char *mark = g_strconcat(host, ";", NULL);

	for (int i = 0; i < n; i++) {
		GMimeHeader *header = g_mime_header_list_get_header_at(headers, i);
		const char *name = g_mime_header_get_name(header);
		if (g_ascii_strcasecmp(name, "Received") == 0) {
			hops++;
		} else if (g_ascii_strcasecmp(name, KOV_TRACE_HEADER) == 0) {
			const char *value = g_mime_header_get_raw_value(header);
			hops++;
			while (value != NULL && g_ascii_isspace(*value))
				value++;
			if (value != NULL && g_str_has_prefix(value, mark)) {
				g_set_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL,
				            "mail loop: it already passed through koverto on %s", host);
				return FALSE;
			}
		}
	}
	if (hops > max_hops) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL,
		            "mail loop: %u hops (Received and %s headers), more than max-hops %u", hops,
		            KOV_TRACE_HEADER, max_hops);
		return FALSE;
	}
	return TRUE;
}

void
kov_trace_add(GMimeMessage *message, const char *host, const char *id)
{
	g_autofree char *value = g_strdup_printf("%s; id=%s", host, id);
	g_mime_object_prepend_header(GMIME_OBJECT(message), KOV_TRACE_HEADER, value, NULL);
}
