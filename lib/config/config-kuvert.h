/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Kuvert's ~/.kuvert format read by Kuvert's lexical rules into the same
 * entries the INI pre-pass finds. Internal to lib/config. */
#pragma once
#include "config-internal.h"

/* Every option and rule line of @load's text into @load's entries; FALSE
 * with @error on a line of Kuvert's old (1.x) format. */
gboolean kov_config_kuvert_scan(KovConfigLoad *load, GError **error);
/* When @load was read in Kuvert's format but looks like INI, say so at
 * the end of @error's message (nullable): the message alone misleads. */
void kov_config_kuvert_explain(const KovConfigLoad *load, GError *error);
