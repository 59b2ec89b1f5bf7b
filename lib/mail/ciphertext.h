/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Is a mail already encrypted? Decided from its bytes, never from its label:
 * the MIME structure RFC 3156 (PGP/MIME) or RFC 8551 (S/MIME enveloped) lays
 * down, exactly one Content-Type field per header, and the payload checked
 * for what it is (OpenPGP packets: session keys, then one encrypted-data
 * packet; CMS: ContentInfo with EnvelopedData or AuthEnvelopedData, well
 * formed BER to its last byte; neither holding runs of readable text).
 * What may stand readable beside the ciphertext (preamble, epilogue, part
 * headers, armor headers) is not passed on: such a mail goes out in a
 * wrapping koverto builds itself around the unchanged ciphertext. */
#pragma once
#include <glib.h>
#include <gmime/gmime.h>

typedef enum {
	KOV_CIPHERTEXT_NONE,   /* not ciphertext: plaintext to koverto */
	KOV_CIPHERTEXT_PGP,    /* PGP/MIME multipart/encrypted */
	KOV_CIPHERTEXT_SMIME,  /* S/MIME application/pkcs7-mime enveloped data */
} KovCiphertextKind;

/* Koverto's own preamble for multipart/encrypted (Kuvert's words,
 * kuvert-reference 9.3): the one prologue a canonical wrapping may hold. */
#define KOV_CIPHERTEXT_PGP_PREAMBLE \
	"This is a multi-part message in MIME format.\n" \
	"It has been encrypted conforming to RFC3156.\n" \
	"You need GPG to view the content.\n"

/* The binary OpenPGP message @data: one or more PKESK/SKESK packets, then
 * exactly one SED/SEIPD/AEAD packet that ends the data, none of them with
 * readable text in it. FALSE with *why (a static string) otherwise. */
gboolean kov_ciphertext_check_openpgp(const guint8 *data, gsize len, const char **why);

/* Strip the ASCII armor from @text (one "PGP MESSAGE" block, nothing but
 * white space around it; armor headers allowed only when @allow_headers;
 * the CRC24 checked when present). (transfer full) the binary, or NULL
 * with *why. */
GByteArray *kov_ciphertext_dearmor(const char *text, gsize len, gboolean allow_headers,
                                   const char **why);

/* The DER (BER) ContentInfo @data: contentType id-envelopedData or
 * id-ct-authEnvelopedData, well formed to its last byte, its encrypted
 * content present and not readable text. */
gboolean kov_ciphertext_check_cms(const guint8 *data, gsize len, const char **why);

/* Classify @message from its bytes. With @canonical the wrapping must be
 * exactly what koverto builds (no readable text beside the ciphertext:
 * what kov_job_check_leak requires of a copy); without, a preamble,
 * epilogue, extra part headers and armor headers are tolerated (they are
 * dropped by kov_ciphertext_canonicalize). *why says why a mail is not
 * ciphertext (NULL when it does not even claim to be). @payload, when
 * not NULL, gets the binary ciphertext (transfer full). */
KovCiphertextKind kov_ciphertext_classify(GMimeMessage *message, gboolean canonical,
                                          GByteArray **payload, const char **why);

/* Koverto's PGP/MIME wrapping (RFC 3156) of the armored OpenPGP message
 * in @armored (whole stream, taken as it is: 7-bit): a multipart/encrypted
 * with a fresh boundary, the Version: 1 control part and the payload,
 * both inline, and KOV_CIPHERTEXT_PGP_PREAMBLE when @preamble. The one
 * builder for crypto.c's encrypted copies and the canonical rewrap below,
 * so the wrapping classify checks is the wrapping koverto builds.
 * (transfer full) */
GMimeObject *kov_ciphertext_pgp_new(GMimeStream *armored, gboolean preamble);

/* When @message is ciphertext (kov_ciphertext_classify without
 * @canonical), replace its MIME part (and every top-level Content-*
 * field) with koverto's own wrapping of the same ciphertext bytes and
 * return TRUE; the other header fields stay as they are. FALSE (and
 * @message untouched) otherwise, *why as for kov_ciphertext_classify. */
gboolean kov_ciphertext_canonicalize(GMimeMessage *message, const char **why);
