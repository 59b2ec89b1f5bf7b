/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Kuvert's ~/.kuvert format (any file without a "[section]" line), read
 * here by Kuvert's lexical rules (kuvert-reference.md 4.1) into the
 * entries the INI pre-pass would give, so one table checks both. A file
 * that fails and looks like INI says which format was assumed. */
#include "config-kuvert.h"
#include "error.h"

#include <string.h>

/* Kuvert's old (1.x) format: an all-upper-case word, blanks, a value. */
static gboolean
kov_config_kuvert_is_old_format(const char *line)
{
	gsize word = 0;
	while (g_ascii_isupper(line[word]))
		word++;
	if (word == 0 || (line[word] != ' ' && line[word] != '\t'))
		return FALSE;
	const char *rest = line + word;
	while (g_ascii_isspace(*rest))
		rest++;
	return *rest != '\0';
}

/* An option line: the name up to the first blank, lower-cased; the value is
 * the rest after the blanks, without trailing blanks (Kuvert keeps them and
 * then rejects "60 "), and without one pair of matching quotes around it. */
static KovConfigEntry *
kov_config_kuvert_option(char *line, guint lineno)
{
	gsize name_len = strcspn(line, KOV_CONFIG_WORD_SEPARATORS);
	char *value = line + name_len;
	value += strspn(value, KOV_CONFIG_WORD_SEPARATORS);
	g_strchomp(value);
	gsize len = strlen(value);
	if (len >= 2 && (value[0] == '"' || value[0] == '\'') && value[len - 1] == value[0]) {
		value[len - 1] = '\0';
		value++;
	}
	KovConfigEntry *entry = g_new0(KovConfigEntry, 1);
	entry->line = lineno;
	entry->section = g_strdup("koverto");
	entry->key = g_ascii_strdown(line, (gssize)name_len);
	entry->value = g_strdup(value);
	return entry;
}

/* Kuvert's lexical rules (kuvert-reference.md 4.1): blank lines and lines
 * whose first non-blank is # are skipped; a line starting with a blank is
 * a rule; any other line is an option. */
gboolean
kov_config_kuvert_scan(KovConfigLoad *load, GError **error)
{
	gsize pos = 0;
	guint lineno = 0;
	char *line;
	while ((line = kov_config_next_line(load->text, &pos)) != NULL) {
		lineno++;
		const char *first = line + strspn(line, KOV_CONFIG_WORD_SEPARATORS);
		KovConfigEntry *entry = NULL;
		if (*first == '\0' || *first == '#') {
			/* blank or comment */
		} else if (first != line) {
			entry = g_new0(KovConfigEntry, 1);
			entry->line = lineno;
			entry->rule = TRUE;
			entry->value = g_strchomp(g_strdup(first));
		} else if (kov_config_kuvert_is_old_format(line)) {
			gsize word = strspn(line, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
			kov_config_fail(error, load, lineno,
			                "\"%.*s\" is a line of Kuvert's old (1.x) format: convert the file "
			                "to Kuvert 2 or INI format (see koverto.conf(5))",
			                (int)word, line);
			kov_config_free_line(line);
			return FALSE;
		} else {
			entry = kov_config_kuvert_option(line, lineno);
		}
		kov_config_free_line(line);
		if (entry != NULL)
			kov_config_add_entry(load, entry);
	}
	return TRUE;
}

/* Was a file read in Kuvert's format meant to be INI? An option line
 * written "name = value", "name: value" or "name=value", a ";" comment
 * or a broken "[section" line says so. */
static gboolean
kov_config_kuvert_looks_ini(const KovConfigLoad *load)
{
	for (guint i = 0; i < load->entries->len; i++) {
		const KovConfigEntry *entry = g_ptr_array_index(load->entries, i);
		if (entry->rule)
			continue;
		const char *value = entry->value != NULL ? entry->value : "";
		if (strpbrk(entry->key, "=:[]") != NULL || entry->key[0] == ';' || value[0] == '='
		    || value[0] == ':')
			return TRUE;
	}
	return FALSE;
}

/* A check failed in a file read in Kuvert's format that looks like INI:
 * say which format was assumed and why, as the message alone misleads
 * ("msserver = x" is the option msserver with the value "= x"). */
void
kov_config_kuvert_explain(const KovConfigLoad *load, GError *error)
{
	if (error == NULL || !load->kuvert || !kov_config_kuvert_looks_ini(load))
		return;
	char *message = g_strconcat(error->message,
	                            " (read in Kuvert's format, \"name value\", because no line is a "
	                            "\"[section]\"; an INI file needs \"[koverto]\" before its options)",
	                            NULL);
	g_free(error->message);
	error->message = message;
}
