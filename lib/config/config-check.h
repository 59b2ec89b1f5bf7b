/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The checks of a load that look at more than one value: the file's mode,
 * what iniparser read against what the pre-pass placed, and the options
 * that need each other. Internal to lib/config. */
#pragma once
#include "config-internal.h"

/* Refuse a file that group or others may write. */
gboolean kov_config_check_writable(KovConfigLoad *load, GError **error);
/* Refuse a file with a password that group or others may read. */
gboolean kov_config_check_mode(KovConfigLoad *load, GError **error);
/* Refuse when iniparser read a key the pre-pass did not place. */
gboolean kov_config_check_placed(KovConfigLoad *load, GError **error);
/* Checks across options, and the defaults that need the passwd entry. */
gboolean kov_config_check_all(KovConfigLoad *load, KovConfig *config, GError **error);
