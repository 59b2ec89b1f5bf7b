/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The msp transport behind deliver.h: the configured sendmail-like
 * program, run without a shell, the mail on its stdin. */
#pragma once
#include "deliver.h"

/* See kov_deliver_new; for a configuration with msp set (an absolute path). */
KovDeliver *kov_msp_new(const KovConfig *config, GError **error);
