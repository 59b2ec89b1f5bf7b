/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Kuvert's query-secret and flush-secret, made to work with GnuPG 2.1 and
 * later: gpg asks for a passphrase through GPGME's callback (loopback
 * pinentry), and the callback asks the query-secret program. */
#pragma once
#include <glib.h>
#include <gpgme.h>

typedef struct _KovPassphrase KovPassphrase;

/* @query and @flush: "program args" as the configuration checked them
 * (the first word a path, %s in the arguments); @flush nullable. NULL
 * when @query is NULL: gpg-agent alone then. (transfer full) */
KovPassphrase *kov_passphrase_new(const char *query, const char *flush);
void kov_passphrase_free(KovPassphrase *passphrase);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovPassphrase, kov_passphrase_free)

/* Have @ctx ask @passphrase (borrowed: it must outlive @ctx) for what
 * gpg-agent does not know. When gpg calls the answer bad, flush-secret is
 * run and the operation fails with GPG_ERR_BAD_PASSPHRASE: the mail is
 * tried again later, with a fresh answer. */
void kov_passphrase_attach(KovPassphrase *passphrase, gpgme_ctx_t ctx);

/* What query-secret prints for @what (Kuvert asks for "smtp-password"
 * so): its first line (transfer full; wipe it before freeing), or NULL,
 * logged, when it fails or prints nothing. */
char *kov_passphrase_query(KovPassphrase *passphrase, const char *what);

/* Run flush-secret, if set, for @what: the answer was rejected. */
void kov_passphrase_flush(KovPassphrase *passphrase, const char *what);

/* The key ID gpg's uid_hint names, as query-secret gets it for %s: "0x"
 * and 16 upper-case hex digits; NULL when the hint holds none.
 * (transfer full) */
char *kov_passphrase_key_id(const char *uid_hint);
