/* SPDX-License-Identifier: GPL-3.0-or-later */
/* One converter of GPGME's errors for the gpg layer: which are temporary
 * (the agent's trouble, not the mail's), and a message that names what
 * failed, gpg's own words, and for a passphrase problem what to do, since
 * gpg's words ("No pinentry") do not say. */
#include "gpgerror.h"
#include "error.h"

gboolean
kov_gpgerror_is_temporary(gpgme_error_t err)
{
	/* gpg-agent's own trouble (seen under load: "Unmatched parentheses in
	 * S-expression" while signing) says nothing about the mail: retry. */
	if (gpg_err_source(err) == GPG_ERR_SOURCE_GPGAGENT
	    || (gpg_err_code(err) >= GPG_ERR_SEXP_INV_LEN_SPEC
	        && gpg_err_code(err) <= GPG_ERR_SEXP_BAD_OCT_CHAR))
		return TRUE;
	switch (gpg_err_code(err)) {
	case GPG_ERR_NO_AGENT:
	case GPG_ERR_AGENT:
	case GPG_ERR_ASS_CONNECT_FAILED:
	case GPG_ERR_INV_ENGINE:
	case GPG_ERR_TIMEOUT:
	case GPG_ERR_ETIMEDOUT:
	case GPG_ERR_EAGAIN:
	case GPG_ERR_EINTR:
	case GPG_ERR_ENOMEM:
	case GPG_ERR_ENOSPC:
	case GPG_ERR_EDQUOT:
	case GPG_ERR_EPIPE:
	case GPG_ERR_EIO:
	case GPG_ERR_LOCKED:
	/* A locked secret key: the operator can unlock it (gpg-preset-passphrase)
	 * and the mail go out later, so keep it rather than fail it. */
	case GPG_ERR_NO_PIN_ENTRY:
	case GPG_ERR_NO_PASSPHRASE:
	case GPG_ERR_BAD_PASSPHRASE:
	/* Only koverto's passphrase callback cancels: query-secret failed. */
	case GPG_ERR_CANCELED:
		return TRUE;
	default:
		return FALSE;
	}
}

void
kov_gpgerror_set(GError **error, gpgme_error_t err, KovGpgerrorKind kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	char buf[256];
	gpgme_strerror_r(err, buf, sizeof buf);
	gpg_err_code_t code = gpg_err_code(err);
	const char *hint = code == GPG_ERR_NO_PIN_ENTRY || code == GPG_ERR_NO_PASSPHRASE
		? " (the key needs a passphrase that gpg-agent does not have and koverto cannot ask "
		  "for: preset it with gpg-preset-passphrase, see koverto(8))"
		: code == GPG_ERR_BAD_PASSPHRASE ? " (the passphrase is wrong)"
		: code == GPG_ERR_CANCELED ? " (query-secret gave no passphrase: see the log)" : "";
	gboolean temporary = kind == KOV_GPGERROR_ENGINE || kov_gpgerror_is_temporary(err);
	g_set_error(error, KOV_ERROR, temporary ? KOV_ERROR_TEMPFAIL : KOV_ERROR_PERMFAIL, "%s: %s%s",
	            what, buf, hint);
}
