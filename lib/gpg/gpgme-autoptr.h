/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Cleanup functions for GPGME's handles, which are pointer typedefs: use
 * g_auto(gpgme_ctx_t) etc. The gpg layer's own header, as gmime-autoptr.h
 * is the mail layer's. */
#pragma once
#include <glib.h>
#include <gpgme.h>

G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gpgme_ctx_t, gpgme_release, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gpgme_data_t, gpgme_data_release, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gpgme_key_t, gpgme_key_unref, NULL)
