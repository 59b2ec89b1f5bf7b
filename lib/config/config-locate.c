/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Where the configuration is: -c, $KOVERTO_CONF, a Kuvert user's
 * ~/.kuvert (found through the passwd entry, as Kuvert does), the system
 * file. One table, walked by the lookup and printed for -h. */
#include "config-internal.h"

#include <sys/stat.h>

/* Where the configuration is looked for, in order: the one table that
 * kov_config_locate_in() walks and kov_config_search_order() prints. */
typedef enum {
	KOV_LOCATE_OPTION,   /* -c FILE */
	KOV_LOCATE_ENV,      /* $KOVERTO_CONF */
	KOV_LOCATE_KUVERT,   /* ~/.kuvert, if it exists */
	KOV_LOCATE_DEFAULT,  /* KOV_CONFIG_DEFAULT_PATH */
} KovLocate;

static const struct {
	KovLocate where;
	const char *text;
} kov_config_search[] = {
	{ KOV_LOCATE_OPTION, "-c FILE" },
	{ KOV_LOCATE_ENV, "$KOVERTO_CONF" },
	{ KOV_LOCATE_KUVERT, "~/.kuvert if it exists" },
	{ KOV_LOCATE_DEFAULT, KOV_CONFIG_DEFAULT_PATH },
};

char *
kov_config_search_order(void)
{
	GString *out = g_string_new(NULL);
	for (gsize i = 0; i < G_N_ELEMENTS(kov_config_search); i++)
		g_string_append_printf(out, "%s%s", i > 0 ? ", else " : "", kov_config_search[i].text);
	return g_string_free(out, FALSE);
}

/* ~/.kuvert of @home, or of the passwd entry's home, if it exists.
 * (transfer full, nullable) */
static char *
kov_config_locate_kuvert(const char *home)
{
	/* A Kuvert user's own set-up, found as Kuvert finds it: through the
	 * passwd entry, not $HOME. */
	KovConfigLoad load = { 0 };
	if (home == NULL && kov_config_passwd(&load, NULL))
		home = load.home;
	g_autofree char *kuvert = home != NULL ? g_build_filename(home, ".kuvert", NULL) : NULL;
	kov_config_load_clear(&load);
	struct stat st;
	if (kuvert != NULL && stat(kuvert, &st) == 0)
		return g_steal_pointer(&kuvert);
	return NULL;
}

char *
kov_config_locate_in(const char *explicit_path, const char *home)
{
	for (gsize i = 0; i < G_N_ELEMENTS(kov_config_search); i++) {
		const char *env;
		char *found = NULL;
		switch (kov_config_search[i].where) {
		case KOV_LOCATE_OPTION:
			if (explicit_path != NULL && explicit_path[0] != '\0')
				found = g_strdup(explicit_path);
			break;
		case KOV_LOCATE_ENV:
			env = g_getenv("KOVERTO_CONF");
			if (env != NULL && env[0] != '\0')
				found = g_strdup(env);
			break;
		case KOV_LOCATE_KUVERT:
			found = kov_config_locate_kuvert(home);
			break;
		case KOV_LOCATE_DEFAULT:
			found = g_strdup(KOV_CONFIG_DEFAULT_PATH);
			break;
		}
		if (found != NULL)
			return found;
	}
	g_assert_not_reached();
}

char *
kov_config_locate(const char *explicit_path)
{
	return kov_config_locate_in(explicit_path, NULL);
}
