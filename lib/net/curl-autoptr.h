/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Cleanup functions for libcurl's handles: the net layer's own header, as
 * gmime-autoptr.h is the mail layer's. */
#pragma once
#include <glib.h>
#include <curl/curl.h>

typedef struct curl_slist KovCurlSlist;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CURL, curl_easy_cleanup)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovCurlSlist, curl_slist_free_all)
