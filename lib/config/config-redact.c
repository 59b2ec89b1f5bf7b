/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The one place every message of a failed load passes through: whatever
 * went wrong, no value of a secret option leaves in it, and the file's
 * control characters are shown, never sent to a terminal or log. */
#include "config-redact.h"
#include "config-ini.h"

#include <string.h>

/* Is @name (lower case) the name of a secret option, or what may be one
 * misspelt? A known option is what its type says. */
static gboolean
kov_config_redact_is_secret_name(const char *name)
{
	const KovOption *opt = kov_config_option_find(name);
	if (opt != NULL)
		return opt->type == KOV_TYPE_SECRET;
	return strstr(name, "pass") != NULL || strstr(name, "secret") != NULL;
}

#define KOV_CONFIG_SECRET_SEPARATORS KOV_CONFIG_WORD_SEPARATORS "=:\"'"

/* If @line, whatever its syntax, names a secret option first, add what
 * follows the name to @secrets: as written, without quotes, and word by
 * word (a message may echo any one of these). */
static void
kov_config_redact_collect(const char *line, GPtrArray *secrets)
{
	const char *s = line + strspn(line, KOV_CONFIG_WORD_SEPARATORS "\"'[");
	gsize n = strcspn(s, KOV_CONFIG_SECRET_SEPARATORS);
	g_autofree char *name = g_ascii_strdown(s, (gssize)n);
	if (n == 0 || !kov_config_redact_is_secret_name(name))
		return;
	const char *rest = s + n + strspn(s + n, KOV_CONFIG_SECRET_SEPARATORS);
	char *value = g_strchomp(g_strdup(rest));
	if (value[0] == '\0') {
		g_free(value);
		return;
	}
	g_ptr_array_add(secrets, value);
	/* every separator a parser here splits on */
	g_auto(GStrv) words = g_strsplit_set(value, KOV_CONFIG_SECRET_SEPARATORS ",#;[]", -1);
	for (gsize i = 0; words[i] != NULL; i++) {
		if (words[i][0] != '\0')
			g_ptr_array_add(secrets, g_strdup(words[i]));
		kov_config_wipe(words[i]);
	}
}

static void
kov_config_redact_line(char *line, guint lineno, gpointer secrets)
{
	(void)lineno;
	kov_config_redact_collect(line, secrets);
}

/* The values of every line of the file that names a secret option, the
 * physical lines and the "\"-joined ones, as iniparser would join them. */
static GPtrArray *
kov_config_redact_secrets(const KovConfigLoad *load)
{
	GPtrArray *secrets = g_ptr_array_new_with_free_func((GDestroyNotify)kov_config_free_line);
	kov_config_ini_lines(load->text, kov_config_redact_line, kov_config_redact_line, secrets);
	return secrets;
}

static gint
kov_config_redact_longer_first(gconstpointer a, gconstpointer b)
{
	gsize x = strlen(*(char *const *)a), y = strlen(*(char *const *)b);
	return x > y ? -1 : x < y;
}

/* The one place every message of a failed load passes through: whatever
 * went wrong and whichever message a check built from the file's text, no
 * value of a secret option leaves in it. Compared without regard to case,
 * as names and keys are lower-cased before they are echoed; one shorter
 * than 4 characters only where it stands alone. */
void
kov_config_redact(const KovConfigLoad *load, GError *error)
{
	if (error == NULL || load->text == NULL)
		return;
	g_autoptr(GPtrArray) secrets = kov_config_redact_secrets(load);
	g_ptr_array_sort(secrets, kov_config_redact_longer_first);
	for (guint i = 0; i < secrets->len; i++) {
		const char *secret = g_ptr_array_index(secrets, i);
		g_autofree char *needle = g_ascii_strdown(secret, -1);
		gsize n = strlen(needle);
		GString *out = g_string_new(NULL);
		g_autofree char *lower = g_ascii_strdown(error->message, -1);
		const char *from = lower, *hit;
		for (const char *at = lower; (hit = strstr(at, needle)) != NULL;) {
			/* A short one counts only as a word of its own: "x" is in
			 * most paths. */
			if (n < 4 && ((hit > lower && g_ascii_isalnum(hit[-1])) || g_ascii_isalnum(hit[n]))) {
				at = hit + 1;
				continue;
			}
			g_string_append_len(out, error->message + (from - lower), hit - from);
			g_string_append(out, "(secret)");
			from = at = hit + n;
		}
		g_string_append(out, error->message + (from - lower));
		kov_config_wipe(needle);
		kov_config_wipe(error->message);
		g_free(error->message);
		error->message = g_string_free(out, FALSE);
	}
}

/* The message goes to a terminal or a log: the file's (or its name's)
 * control characters, an escape sequence among them, are shown as \xNN,
 * never sent. */
void
kov_config_redact_controls(GError *error)
{
	GString *out = g_string_new(NULL);
	for (const char *p = error->message; *p != '\0'; p++) {
		if ((guchar)*p < 0x20 || *p == 0x7f)
			g_string_append_printf(out, "\\x%02x", (guchar)*p);
		else
			g_string_append_c(out, *p);
	}
	g_free(error->message);
	error->message = g_string_free(out, FALSE);
}
