/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Kuvert's directives in a mail: read into a KovMail, stripped from the
 * headers of a copy. */
#pragma once
#include <glib.h>
#include <gmime/gmime.h>
#include "message.h"

/* Give each of @mail's recipients its directive from To, Cc or Bcc (the
 * first one of its address), @mail the signing key from the first From
 * address's key=, and X-Kuvert (see KovMail). */
void kov_directive_load(KovMail *mail, GMimeHeaderList *headers, GMimeParserOptions *popts);

/* Rewrite every From/To/Cc field of @headers without its directives;
 * one with nothing left is removed. Fields without a directive are left
 * alone, byte for byte (no needless re-folding). */
void kov_directive_strip(GMimeHeaderList *headers);
