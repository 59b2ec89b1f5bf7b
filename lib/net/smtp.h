/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The SMTP transport behind deliver.h: libcurl to msserver:msport, one
 * connection reused across mails, TLS and AUTH as configured. */
#pragma once
#include "deliver.h"

/* See kov_deliver_new; for a configuration with msserver set. */
KovDeliver *kov_smtp_new(const KovConfig *config, GError **error);
