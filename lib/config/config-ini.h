/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The INI format: how it is told, the pre-pass that places its sections
 * and keys, and iniparser run with its error output caught. Internal to
 * lib/config. */
#pragma once
#include "config-internal.h"

/* Does @text hold a "[section]" line, as iniparser sees one? */
gboolean kov_config_ini_detect(const GString *text);
typedef void (*KovConfigLineFunc)(char *line, guint lineno, gpointer data);
/* Walk @text line by line, joining "\"-continued lines as iniparser does:
 * @physical (nullable) gets each line as the file has it, @logical each
 * joined line (line ends, trailing blanks and the "\" gone) with the
 * number of its first line. Either may change the line in place; every
 * line is wiped after (it may hold a password). */
void kov_config_ini_lines(const GString *text, KovConfigLineFunc physical,
                          KovConfigLineFunc logical, gpointer data);
/* Record every section header and key of @load's text with its (first)
 * line number, joining "\"-continued lines as iniparser does. */
void kov_config_ini_scan(KovConfigLoad *load);
/* iniparser's dictionary of @load's file, or NULL with its first error
 * (line number kept, echoed line dropped). (transfer full) */
dictionary *kov_config_ini_load(const KovConfigLoad *load, GError **error);
