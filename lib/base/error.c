/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The KOV_ERROR domain and the two questions every caller asks of it:
 * is this temporary, and which exit status does it mean. */
#include "error.h"

#include <errno.h>
#include <string.h>
#include <sysexits.h>

G_DEFINE_QUARK(koverto-error-quark, kov_error)

gboolean
kov_error_is_temporary(const GError *error)
{
	return error != NULL && error->domain == KOV_ERROR && error->code == KOV_ERROR_TEMPFAIL;
}

int
kov_error_to_sysexit(const GError *error)
{
	if (error == NULL)
		return EX_OK;
	if (error->domain != KOV_ERROR)
		return EX_SOFTWARE;
	switch ((KovErrorCode)error->code) {
	case KOV_ERROR_TEMPFAIL:  return EX_TEMPFAIL;
	case KOV_ERROR_PERMFAIL:  return EX_UNAVAILABLE;
	case KOV_ERROR_DATAERR:   return EX_DATAERR;
	case KOV_ERROR_CONFIG:    return EX_CONFIG;
	case KOV_ERROR_USAGE:     return EX_USAGE;
	case KOV_ERROR_CANTCREAT: return EX_CANTCREAT;
	case KOV_ERROR_IOERR:     return EX_IOERR;
	case KOV_ERROR_LOCKED:    return EX_TEMPFAIL;
	}
	return EX_SOFTWARE;
}

void
kov_error_set_errno(GError **error, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	int code = (err == ENOSPC || err == EDQUOT) ? KOV_ERROR_TEMPFAIL : KOV_ERROR_IOERR;
	g_set_error(error, KOV_ERROR, code, "%s: %s", what, g_strerror(err));
}
