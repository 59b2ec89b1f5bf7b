/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Mail addresses with GMime: the one walk over an address list, the check
 * every envelope address passes, and a list made a header's value. */
#pragma once
#include <glib.h>
#include <gmime/gmime.h>

typedef void (*KovAddressFunc)(InternetAddress *address, gpointer data);

/* Call @func for every address of @list (groups and mailboxes) in order,
 * depth first: a group before its members ("undisclosed-recipients:;" is
 * a group without any). @func may change an address, not the list. */
void kov_address_foreach(InternetAddressList *list, KovAddressFunc func, gpointer data);

/* Append the addr-spec of every mailbox in @list to @out (of char*,
 * owned), groups flattened (so "undisclosed-recipients:;" adds nobody). */
void kov_address_flatten(InternetAddressList *list, GPtrArray *out);

/* A sane envelope address: local@domain, both non-empty, valid UTF-8, no
 * control characters (no CR/LF to break SMTP), whitespace only as the
 * space RFC 5321 allows inside a quoted local part, no leading '-' (it
 * would become an option of a sendmail program), and nothing that looks
 * like an RFC 2047 encoded-word: never valid in an addr-spec (RFC 2047
 * section 5), and some servers decode it there (aiosmtpd turns
 * <=?utf-8?q?a=0D=0Ab?=@x> into "a\r\nb"@x in its envelope). */
gboolean kov_address_is_sane(const char *addr);

/* Lower-cased copy of a sane @addr (nullable), or NULL with
 * KOV_ERROR_DATAERR "bad address in @what". (transfer full) */
char *kov_address_normalize(const char *addr, const char *what, GError **error);

/* Make @list the value of @header, its names RFC 2047-encoded where they
 * need it, folded by GMime. Set as raw text, and each address's charset
 * dropped first: g_mime_header_set_value() would parse the text again, and
 * GMime's formatter trips (a GLib critical) over a name in a charset iconv
 * does not know, from an encoded-word; without one GMime picks the best
 * charset for the text itself. */
void kov_address_set_header(GMimeHeader *header, InternetAddressList *list);
