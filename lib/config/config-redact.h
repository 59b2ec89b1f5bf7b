/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What the message of a failed load may show: no secret of the file, no
 * control character. Internal to lib/config. */
#pragma once
#include "config-internal.h"

/* Replace every value of a secret option of @load's file in @error's
 * message (nullable) by "(secret)". */
void kov_config_redact(const KovConfigLoad *load, GError *error);
/* Show @error's control characters as \xNN. */
void kov_config_redact_controls(GError *error);
