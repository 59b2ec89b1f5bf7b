/* SPDX-License-Identifier: GPL-3.0-or-later */
/* RFC 3156 PGP/MIME construction. GMime builds the structure; GPGME signs
 * and encrypts on file descriptors with keys we chose (GMime's own helpers
 * buffer in memory and look keys up by substring). The top-level non-Content
 * headers stay outside, the original entity goes inside. */
#pragma once
#include <glib.h>
#include <gmime/gmime.h>
#include <gpgme.h>

typedef struct {
	gpgme_ctx_t ctx;        /* borrowed: from kov_keys_new_context() */
	const char *tempdir;    /* where a large mail's scratch files go (kov_scratch_new) */
	gint64 mail_size;       /* bytes of the queued mail: a small one's stay in memory */
	gboolean preamble;      /* Kuvert's explanatory preamble in the multipart */
} KovCryptoOptions;

/* A new message: @message's non-Content headers outside, a
 * multipart/signed (micalg from the signature) holding @message's MIME
 * entity made 7-bit safe and a detached text-mode signature by @signer.
 * The signature is verified before returning. (transfer full)
 * Note: @message's own entity is re-encoded in place by
 * kov_mime7bit_repair() (its decoded content does not change). */
GMimeMessage *kov_crypto_sign(const KovCryptoOptions *options, GMimeMessage *message,
                              gpgme_key_t signer, GError **error);

/* A new message: @message's non-Content headers outside, a
 * multipart/encrypted holding @message's MIME entity encrypted to
 * @recipients (NULL-terminated, keys chosen by the caller, no others) and,
 * when @signer is not NULL, signed inside in one OpenPGP message.
 * (transfer full) The entity is made 7-bit in place as for kov_crypto_sign(). */
GMimeMessage *kov_crypto_encrypt(const KovCryptoOptions *options, GMimeMessage *message,
                                 gpgme_key_t *recipients, gpgme_key_t signer, GError **error);

/* As kov_crypto_encrypt(), to keyring keys named by fingerprint
 * (NULL-terminated @pins): "FPR!" is exactly that subkey, as the keys
 * directory pins the subkey its file chose (keydir.h: a keyring import
 * merges, so a subkey the file no longer has may still be in the
 * keyring, and newer); "FPR" a primary key, whose subkey gpg picks.
 * Anything else (a user ID, an option, a second line) is refused with
 * KOV_ERROR_PERMFAIL before gpg runs. */
GMimeMessage *kov_crypto_encrypt_pinned(const KovCryptoOptions *options, GMimeMessage *message,
                                        const char *const *pins, gpgme_key_t signer,
                                        GError **error);
