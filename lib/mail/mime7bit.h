/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The 7-bit repair of a MIME entity before it is signed or encrypted:
 * whatever came in, what goes out is fit for a 7-bit SMTP transaction
 * (RFC 5322 line lengths, no 8-bit bytes, no bare CR). Mail work, done
 * with GMime alone; lib/gpg/crypto.c calls it on the entity it protects. */
#pragma once
#include <glib.h>
#include <gmime/gmime.h>

/* Re-encode every leaf part of @object so it is 7-bit safe
 * (quoted-printable for text, base64 otherwise; 8-bit parameters re-set so
 * GMime writes them RFC 2231-encoded), headers made fit or dropped, a bad
 * multipart boundary replaced. Signed and encrypted entities inside are
 * left as they are. The decoded content does not change. */
void kov_mime7bit_repair(GMimeObject *object);

/* Can @header not be written as it came: 8-bit bytes, control characters,
 * a line over 998 octets, a line break that is no fold, or no line end? */
gboolean kov_mime7bit_header_unfit(GMimeHeader *header);

/* Give an unfit @header a value GMime encodes and folds: an address list
 * parsed from the raw value and formatted again, anything else its decoded
 * value with control characters made spaces. It may stay unfit. */
void kov_mime7bit_header_refit(GMimeHeader *header);

/* Can GMime write a parameter of this name? (Its RFC 2231 encoder never
 * ends for a name of 70 to 72 characters: longer than 60 is refused.) */
gboolean kov_mime7bit_param_name_writable(const char *name);
