/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of lib/gpg/gpgerror.c, the one converter of GPGME's errors:
 * which codes are temporary, the message (what failed, gpg's words, a hint
 * for passphrase trouble), and engine errors always temporary. (The
 * signing/encrypting case moved here from test-crypto.c.) */
#include "gpgerror.h"
#include "error.h"

#include <string.h>

static void
test_gpgme_error(void)
{
	g_autoptr(GError) error = NULL;
	kov_gpgerror_set(&error, gpg_error(GPG_ERR_NO_AGENT), KOV_GPGERROR_BY_CODE, "signing");
	g_assert_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL);
	g_assert_true(g_str_has_prefix(error->message, "signing: "));
	g_clear_error(&error);
	kov_gpgerror_set(&error, gpg_error(GPG_ERR_UNUSABLE_PUBKEY), KOV_GPGERROR_BY_CODE, "encrypting");
	g_assert_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL);
}

static void
test_temporary(void)
{
	const gpg_err_code_t temporary[] = { GPG_ERR_NO_AGENT, GPG_ERR_TIMEOUT, GPG_ERR_ENOSPC,
	                                     GPG_ERR_NO_PIN_ENTRY, GPG_ERR_BAD_PASSPHRASE,
	                                     GPG_ERR_CANCELED, GPG_ERR_SEXP_INV_LEN_SPEC };
	for (gsize i = 0; i < G_N_ELEMENTS(temporary); i++)
		g_assert_true(kov_gpgerror_is_temporary(gpg_error(temporary[i])));
	/* Whatever gpg-agent itself reports. */
	g_assert_true(kov_gpgerror_is_temporary(gpg_err_make(GPG_ERR_SOURCE_GPGAGENT, GPG_ERR_GENERAL)));
	const gpg_err_code_t permanent[] = { GPG_ERR_UNUSABLE_PUBKEY, GPG_ERR_UNUSABLE_SECKEY,
	                                     GPG_ERR_INV_VALUE, GPG_ERR_GENERAL };
	for (gsize i = 0; i < G_N_ELEMENTS(permanent); i++)
		g_assert_false(kov_gpgerror_is_temporary(gpg_err_make(GPG_ERR_SOURCE_GPGME, permanent[i])));
}

static void
test_message(void)
{
	g_autoptr(GError) error = NULL;
	kov_gpgerror_set(&error, gpg_error(GPG_ERR_NO_PIN_ENTRY), KOV_GPGERROR_BY_CODE,
	                 "crypto: signing with key %s", "ABCD");
	g_assert_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL);
	g_assert_true(g_str_has_prefix(error->message, "crypto: signing with key ABCD: "));
	g_assert_nonnull(strstr(error->message, "gpg-preset-passphrase"));
	g_clear_error(&error);
	kov_gpgerror_set(&error, gpg_error(GPG_ERR_BAD_PASSPHRASE), KOV_GPGERROR_BY_CODE, "x");
	g_assert_true(g_str_has_suffix(error->message, " (the passphrase is wrong)"));
	g_clear_error(&error);
	kov_gpgerror_set(&error, gpg_error(GPG_ERR_CANCELED), KOV_GPGERROR_BY_CODE, "x");
	g_assert_true(g_str_has_suffix(error->message, " (query-secret gave no passphrase: see the log)"));
}

/* An engine error is temporary whatever its code: keys.c's contexts and
 * key listings. */
static void
test_engine(void)
{
	g_autoptr(GError) error = NULL;
	kov_gpgerror_set(&error, gpg_error(GPG_ERR_INV_VALUE), KOV_GPGERROR_ENGINE,
	                 "keys: listing %skeys for %s", "secret ", "<a@b>");
	g_assert_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL);
	char words[256];
	gpgme_strerror_r(gpg_error(GPG_ERR_INV_VALUE), words, sizeof words);
	g_autofree char *expected = g_strdup_printf("keys: listing secret keys for <a@b>: %s", words);
	g_assert_cmpstr(error->message, ==, expected);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	gpgme_check_version(NULL);
	g_test_add_func("/gpgerror/gpgme-error", test_gpgme_error);
	g_test_add_func("/gpgerror/temporary", test_temporary);
	g_test_add_func("/gpgerror/message", test_message);
	g_test_add_func("/gpgerror/engine", test_engine);
	return g_test_run();
}
