/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The envelope of a queued mail (see kov_message_load for the precedence):
 * which top-level fields are its envelope block and delivery block, and
 * the recipients, sender and bounce addresses worked out from them. */
#pragma once
#include <glib.h>
#include <gmime/gmime.h>
#include "message.h"

/* Who wrote which field. Only what the writer of the file put on top of
 * the mail is its envelope: first the X-Kuvert-From/-To block that koverto
 * submit, kuvert_submit, Kuvert's listener and koverto's own rewrite of a
 * parked mail write, then the Return-Path/Delivered-To lines a delivery
 * agent writes. The same names further down are the mail's own, written
 * by whoever sent it, and count for nothing. One definition of "the
 * field is X" for reader and rewriter: GMime's (case-insensitive, blanks
 * before the colon allowed, continuation lines included). */
typedef struct {
	GPtrArray *all;       /* every top-level field in file order (borrowed) */
	guint n_envelope;     /* all[0 .. n_envelope) is the envelope block */
	guint n_delivery;     /* then all[.. + n_delivery) the delivery block */
} KovEnvelopeBlocks;

/* Set @b up for @message's top-level fields; with @mail_only there is no
 * envelope block (the mail as its author gave it). Free with
 * g_ptr_array_unref(@b->all). */
void kov_envelope_blocks_init(KovEnvelopeBlocks *b, GMimeMessage *message, gboolean mail_only);

/* An envelope pseudo-header: X-Kuvert-From, X-Kuvert-To, or the
 * listener's X-Koverto-Client (the client that submitted it), any case. */
gboolean kov_envelope_is_field(const char *name);

/* Work out @mail's recipients (with roles), envelope_given, from,
 * from_single, sender, sender_given and the Resent-* addresses.
 * KOV_ERROR_DATAERR with the reason: no sender, no recipient, a bad
 * address. */
gboolean kov_envelope_load(KovMail *mail, GMimeHeaderList *headers, const KovEnvelopeBlocks *blocks,
                           const KovMessageOptions *options, GMimeParserOptions *popts,
                           GError **error);
