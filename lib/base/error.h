/* SPDX-License-Identifier: GPL-3.0-or-later */
/* One error domain for koverto. The code carries the decision the caller
 * must make (retry later, fail the mail, exit with a sysexits status), so
 * foreign errors are converted once, where the foreign library is called. */
#pragma once
#include <glib.h>

#define KOV_ERROR (kov_error_quark())
GQuark kov_error_quark(void);

typedef enum {
	KOV_ERROR_TEMPFAIL,  /* try again later: SMTP 4xx, no connection, timeout, agent down, disk full */
	KOV_ERROR_PERMFAIL,  /* this mail cannot go out as it is: 5xx, no key under must-encrypt */
	KOV_ERROR_DATAERR,   /* the input is not a usable mail */
	KOV_ERROR_CONFIG,    /* the configuration is wrong */
	KOV_ERROR_USAGE,     /* bad command line */
	KOV_ERROR_CANTCREAT, /* cannot create an output file or directory */
	KOV_ERROR_IOERR,     /* read or write failed */
	KOV_ERROR_LOCKED,    /* another daemon holds the queue */
} KovErrorCode;

/* TRUE when @error means "keep the mail and try again later". */
gboolean kov_error_is_temporary(const GError *error);
/* The sysexits(3) status a program should exit with for @error. */
int kov_error_to_sysexit(const GError *error);
/* Set @error from errno @err with KOV_ERROR_IOERR, or TEMPFAIL for ENOSPC/EDQUOT. */
void kov_error_set_errno(GError **error, int err, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
