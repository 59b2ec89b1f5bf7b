/* SPDX-License-Identifier: GPL-3.0-or-later */
/* GPGME's errors in koverto's error domain: converted once, here, for
 * every caller of GPGME (keys.c, crypto.c). */
#pragma once
#include <glib.h>
#include <gpgme.h>

typedef enum {
	/* TEMPFAIL when kov_gpgerror_is_temporary(), else PERMFAIL: signing,
	 * encrypting, verifying, where the key or the mail may be at fault. */
	KOV_GPGERROR_BY_CODE,
	/* Always TEMPFAIL: the engine failed at what no mail can cause (a
	 * context, a key listing); keep the mail and try again. */
	KOV_GPGERROR_ENGINE,
} KovGpgerrorKind;

/* gpg-agent's trouble, a timeout, a full disk, a locked or cancelled
 * secret key: nothing wrong with the mail, so retry later. */
gboolean kov_gpgerror_is_temporary(gpgme_error_t err);

/* Set @error from @err: "WHAT: gpg's words", WHAT formatted from @fmt,
 * and for a passphrase problem what the operator can do about it. The
 * code as @kind says. */
void kov_gpgerror_set(GError **error, gpgme_error_t err, KovGpgerrorKind kind, const char *fmt, ...)
	G_GNUC_PRINTF(4, 5);
