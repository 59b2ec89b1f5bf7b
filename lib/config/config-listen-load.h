/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What config.c, config-value.c and config-check.c call of config-listen.c:
 * the [listen] and [client NAME] sections, the listener's value types, and
 * the checks across them. Internal to lib/config. */
#pragma once
#include "config-internal.h"

/* The defaults of config-listen.h. */
void kov_config_listen_init(KovListenConfig *listen);
/* Free what @listen holds, wiping Kuvert's password. */
void kov_config_listen_clear(KovListenConfig *listen);
/* Is @section (lower case, as iniparser gives it) [listen] or [client NAME]?
 * Then the option table, the struct its values go into (a client is made
 * on the first call for its name, in file order) and the label for
 * messages (transfer full). */
gboolean kov_config_listen_section(KovConfig *config, const char *section,
                                   const KovOption **options, gsize *n_options, gpointer *base,
                                   char **label);
/* Check and store a value of KOV_TYPE_ADDRESSES, _CRYPT or _SHA256. */
gboolean kov_config_listen_parse_value(const KovOption *opt, gpointer base, const char *value,
                                       GError **error);
/* The checks across the listener's options, then Kuvert's listener from
 * maport, mahost, ma-user and ma-pass. */
gboolean kov_config_listen_check(KovConfigLoad *load, KovConfig *config, GError **error);
/* Does a [client] password hash make the file secret? TRUE when @load has
 * a non-empty "password" in any [client NAME]. */
gboolean kov_config_listen_holds_hash(const KovConfigLoad *load);
/* Add the listener's warnings (transfer full strings) to @out. */
void kov_config_listen_warnings(const KovConfig *config, GPtrArray *out);
