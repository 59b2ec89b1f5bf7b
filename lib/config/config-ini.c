/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The INI format (a "[section]" line anywhere). iniparser reads the
 * syntax; since it keeps no line numbers and silently merges duplicate
 * keys, a small pre-pass over the same text maps every section and key to
 * its line and finds duplicates. iniparser prints its errors through one
 * global callback: they are caught here, under a lock, for the GError. */
#include "config-ini.h"
#include "error.h"
#include "log.h"

#include <string.h>

/* One logical line (stripped, modified in place), classified the way
 * iniparser_line() does it: blank, comment (# or ;), [section], or
 * key = value. Anything else is left to iniparser, which reports it as a
 * syntax error with its line number. */
static void
kov_config_ini_scan_line(KovConfigLoad *load, char *s, guint line, char **section)
{
	gsize len = strlen(s);

	if (len == 0 || s[0] == '#' || s[0] == ';')
		return;
	KovConfigEntry *entry = g_new0(KovConfigEntry, 1);
	entry->line = line;
	if (s[0] == '[' && s[len - 1] == ']') {
		char *name = s + 1;
		*strchr(name, ']') = '\0';
		g_free(*section);
		*section = g_ascii_strdown(g_strstrip(name), -1);
		entry->section = g_strdup(*section);
	} else {
		char *eq = strchr(s, '=');
		if (eq == NULL) {
			g_free(entry);
			return;
		}
		*eq = '\0';
		entry->section = g_strdup(*section);
		entry->key = g_ascii_strdown(g_strstrip(s), -1);
	}
	kov_config_add_entry(load, entry);
}

/* A "[section]" line, the way iniparser sees it, makes the file INI. */
gboolean
kov_config_ini_detect(const GString *text)
{
	gsize pos = 0;
	char *line;
	gboolean ini = FALSE;
	while (!ini && (line = kov_config_next_line(text, &pos)) != NULL) {
		char *s = g_strstrip(line);
		gsize len = strlen(s);
		ini = len >= 2 && s[0] == '[' && s[len - 1] == ']';
		kov_config_free_line(line);
	}
	return ini;
}

void
kov_config_ini_lines(const GString *text, KovConfigLineFunc physical, KovConfigLineFunc logical,
                     gpointer data)
{
	GString *joined = g_string_new(NULL);
	gsize pos = 0;
	guint lineno = 0, start = 0;
	char *buf;
	while ((buf = kov_config_next_line(text, &pos)) != NULL) {
		lineno++;
		if (joined->len == 0)
			start = lineno;
		if (physical != NULL)
			physical(buf, lineno, data);
		g_strchomp(buf);
		gsize len = strlen(buf);
		gboolean continued = len > 0 && buf[len - 1] == '\\';
		if (continued)
			buf[len - 1] = '\0';
		g_string_append(joined, buf);
		kov_config_free_line(buf);
		if (continued)
			continue;
		logical(joined->str, start, data);
		/* The line may hold a password. */
		explicit_bzero(joined->str, joined->allocated_len);
		g_string_truncate(joined, 0);
	}
	if (joined->len > 0)
		logical(joined->str, start, data);
	explicit_bzero(joined->str, joined->allocated_len);
	g_string_free(joined, TRUE);
}

typedef struct {
	KovConfigLoad *load;
	char *section;   /* the current section, lower case */
} KovConfigIniScan;

static void
kov_config_ini_scan_logical(char *line, guint lineno, gpointer data)
{
	KovConfigIniScan *scan = data;
	kov_config_ini_scan_line(scan->load, g_strstrip(line), lineno, &scan->section);
}

void
kov_config_ini_scan(KovConfigLoad *load)
{
	KovConfigIniScan scan = { load, NULL };
	kov_config_ini_lines(load->text, NULL, kov_config_ini_scan_logical, &scan);
	g_free(scan.section);
}

/* iniparser prints its errors through one global callback without user
 * data: while kov_config_load runs it, the first message is kept here
 * (under the lock) and becomes the GError; at any other time a message
 * goes to the logger. */
G_LOCK_DEFINE_STATIC(kov_config_ini);
static gboolean kov_config_ini_capturing;
static char *kov_config_ini_message;   /* after "FILE": ":LINE: what" or ": what" */

static int
kov_config_ini_error(const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	/* iniparser 4.1's two messages with a line number, matched by their
	 * format so the line can be taken out. The syntax error also echoes
	 * the line, which may hold a password: it is deliberately dropped. */
	if (strcmp(fmt, "iniparser: syntax error in %s (%d):\n-> %s\n") == 0) {
		(void)va_arg(ap, const char *);
		int line = va_arg(ap, int);
		text = g_strdup_printf(":%d: syntax error: expected [section], key = value or a comment",
		                       line);
	} else if (strcmp(fmt, "iniparser: input line too long in %s (%d)\n") == 0) {
		(void)va_arg(ap, const char *);
		int line = va_arg(ap, int);
		text = g_strdup_printf(":%d: line too long (iniparser reads at most 1022 characters)",
		                       line);
	} else {
		g_autofree char *raw = g_strdup_vprintf(fmt, ap);
		char *nl = strchr(raw, '\n');
		if (nl != NULL)   /* an echoed line follows: see above */
			*nl = '\0';
		text = g_strdup_printf(": %s", g_strstrip(raw));
	}
	va_end(ap);

	if (kov_config_ini_capturing) {
		if (kov_config_ini_message == NULL)
			kov_config_ini_message = text;
		else
			g_free(text);
	} else {
		kov_log_err("config%s", text);
		g_free(text);
	}
	return 0;
}

dictionary *
kov_config_ini_load(const KovConfigLoad *load, GError **error)
{
	G_LOCK(kov_config_ini);
	iniparser_set_error_callback(kov_config_ini_error);
	kov_config_ini_capturing = TRUE;
	dictionary *dict = iniparser_load(load->file);
	kov_config_ini_capturing = FALSE;
	char *message = g_steal_pointer(&kov_config_ini_message);
	G_UNLOCK(kov_config_ini);

	if (dict == NULL) {
		kov_config_fail(error, load, 0, "%s", "cannot parse");
		if (message != NULL) {
			g_clear_error(error);
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "%s%s", load->file, message);
		}
	}
	g_free(message);
	return dict;
}
