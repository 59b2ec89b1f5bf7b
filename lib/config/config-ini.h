/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The INI format: how it is told, the pre-pass that places its sections
 * and keys, and iniparser run with its error output caught. Internal to
 * lib/config. */
#pragma once
#include "config-internal.h"

/* Does @text hold a "[section]" line, as iniparser sees one? */
gboolean kov_config_ini_detect(const GString *text);
/* Record every section header and key of @load's text with its (first)
 * line number, joining "\"-continued lines as iniparser does. */
void kov_config_ini_scan(KovConfigLoad *load);
/* iniparser's dictionary of @load's file, or NULL with its first error
 * (line number kept, echoed line dropped). (transfer full) */
dictionary *kov_config_ini_load(const KovConfigLoad *load, GError **error);
