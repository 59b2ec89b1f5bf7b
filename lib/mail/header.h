/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Header fields of a GMime header list read by name (any case), as a
 * block, and removed by a predicate on the name. */
#pragma once
#include <glib.h>
#include <gmime/gmime.h>

/* The fields of @headers, in order, to read like a block. (transfer
 * container: the GMimeHeader* are borrowed from @headers) */
GPtrArray *kov_header_fields(GMimeHeaderList *headers);

/* The raw addresses of every field called @name in @fields (of
 * GMimeHeader*; all of them, or only the first one with @first_only), in
 * order, groups flattened. Parsed from the raw value: GMime's decoded
 * value has encoded-words expanded, CR/LF included. (transfer full, of
 * char*) */
GPtrArray *kov_header_addresses(GPtrArray *fields, const char *name, gboolean first_only,
                                GMimeParserOptions *options);
/* The same over all of @headers. */
GPtrArray *kov_header_list_addresses(GMimeHeaderList *headers, const char *name,
                                     gboolean first_only, GMimeParserOptions *options);

/* The raw value of the first field called @name in @fields, trimmed; NULL
 * if none. (transfer full) */
char *kov_header_first_value(GPtrArray *fields, const char *name);
/* The same over all of @headers. */
char *kov_header_list_first_value(GMimeHeaderList *headers, const char *name);

/* Is there a field called @name in @fields? */
gboolean kov_header_contains(GPtrArray *fields, const char *name);

/* Remove every field of @headers whose name @match says TRUE to. */
void kov_header_remove(GMimeHeaderList *headers, gboolean (*match)(const char *name));

/* A field name as RFC 5322 3.6.8 has it: printable ASCII but ':'. GMime
 * takes whatever precedes a colon, binary junk or nothing included. */
gboolean kov_header_name_valid(const char *name);
