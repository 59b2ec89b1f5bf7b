/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The typed value parsers of the option table, one per KovOptionType, and
 * the rule line. Each says only what is wrong with the value: the loader
 * adds file, line and key. kov_config_parse_bool and
 * kov_config_command_argv keep their public names (config.h): other layers
 * call them. */
#include "config-value.h"
#include "config-listen-load.h"
#include "error.h"
#include "log.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KOV_CONFIG_INTERVAL_MAX 86400u

/* A path option: "~" or "~/..." is the passwd home (as Kuvert takes its
 * home, not $HOME); the result must be absolute. (transfer full) */
static char *
kov_config_value_expand_path(KovConfigLoad *load, const char *value, GError **error)
{
	g_autofree char *path = NULL;
	if (value[0] == '~' && (value[1] == '\0' || value[1] == '/')) {
		if (!kov_config_passwd(load, error))
			return NULL;
		path = g_strconcat(load->home, value + 1, NULL);
	} else {
		path = g_strdup(value);
	}
	if (!g_path_is_absolute(path)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "not an absolute path: \"%s\"", value);
		return NULL;
	}
	return g_steal_pointer(&path);
}

/* @word as a program: a path to an executable file, or a name looked up
 * in $PATH. (transfer full) */
char *
kov_config_value_find_program(const char *word, GError **error)
{
	if (strchr(word, '/') == NULL) {
		char *found = g_find_program_in_path(word);
		if (found == NULL)
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "\"%s\": not found in $PATH", word);
		return found;
	}
	if (!g_path_is_absolute(word)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "\"%s\": not an absolute path", word);
		return NULL;
	}
	if (!g_file_test(word, G_FILE_TEST_IS_REGULAR) || !g_file_test(word, G_FILE_TEST_IS_EXECUTABLE)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "\"%s\": not an executable file", word);
		return NULL;
	}
	return g_strdup(word);
}

/* Split "program args" on whitespace, as Kuvert does (no shell quoting). */
char **
kov_config_value_split_words(const char *value)
{
	g_auto(GStrv) parts = g_strsplit_set(value, KOV_CONFIG_WORD_SEPARATORS, -1);
	GPtrArray *argv = g_ptr_array_new();
	for (gsize i = 0; parts[i] != NULL; i++)
		if (parts[i][0] != '\0')
			g_ptr_array_add(argv, g_strdup(parts[i]));
	g_ptr_array_add(argv, NULL);
	return (char **)g_ptr_array_free(argv, FALSE);
}

gboolean
kov_config_parse_bool(const char *value, gboolean *out)
{
	static const char *const yes[] = { "1", "on", "t", "true", "yes" };
	static const char *const no[] = { "0", "off", "f", "false", "no" };

	g_return_val_if_fail(value != NULL, FALSE);
	for (gsize i = 0; i < G_N_ELEMENTS(yes); i++) {
		if (g_ascii_strcasecmp(value, yes[i]) == 0) {
			if (out != NULL)
				*out = TRUE;
			return TRUE;
		}
		if (g_ascii_strcasecmp(value, no[i]) == 0) {
			if (out != NULL)
				*out = FALSE;
			return TRUE;
		}
	}
	return FALSE;
}

/* Digits only (no sign, no blanks), then the range. */
gboolean
kov_config_value_parse_number(const char *value, guint min, guint max, guint *out, GError **error)
{
	if (value[0] == '\0' || strspn(value, "0123456789") != strlen(value)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "not a number: \"%s\"", value);
		return FALSE;
	}
	guint64 n = 0;
	if (!g_ascii_string_to_unsigned(value, 10, min, max, &n, NULL)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "out of range %u-%u: \"%s\"", min, max,
		            value);
		return FALSE;
	}
	*out = (guint)n;
	return TRUE;
}

/* A duration: seconds, or a number with s, m, h or d. */
gboolean
kov_config_value_parse_duration(const char *value, guint64 min, guint64 max, gint64 *out, GError **error)
{
	static const struct { char suffix; guint64 seconds; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', KOV_DAY },
	};
	gsize digits = strspn(value, "0123456789");
	guint64 unit = 0;
	if (digits > 0 && value[digits] == '\0')
		unit = 1;
	for (gsize i = 0; digits > 0 && i < G_N_ELEMENTS(units); i++)
		if (value[digits] == units[i].suffix && value[digits + 1] == '\0')
			unit = units[i].seconds;
	if (unit == 0) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "not a duration (seconds, or a number with s, m, h or d): \"%s\"", value);
		return FALSE;
	}
	g_autofree char *number = g_strndup(value, digits);
	guint64 n = 0;
	if (!g_ascii_string_to_unsigned(number, 10, 0, max / unit, &n, NULL) || n * unit < min) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "out of range %" G_GUINT64_FORMAT "s-%" G_GUINT64_FORMAT "d: \"%s\"", min,
		            max / KOV_DAY, value);
		return FALSE;
	}
	*out = (gint64)(n * unit);
	return TRUE;
}

/* A size: octets, or a number with k, M or G (1024-based, any case). */
gboolean
kov_config_value_parse_size(const char *value, guint64 min, guint64 max, guint64 *out, GError **error)
{
	gsize digits = strspn(value, "0123456789");
	guint64 unit = 0;
	if (digits > 0 && value[digits] == '\0')
		unit = 1;
	else if (digits > 0 && value[digits + 1] == '\0')
		switch (g_ascii_tolower(value[digits])) {
		case 'k': unit = 1024; break;
		case 'm': unit = 1024 * 1024; break;
		case 'g': unit = 1024 * 1024 * 1024; break;
		default: break;
		}
	if (unit == 0) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "not a size (octets, or a number with k, M or G): \"%s\"", value);
		return FALSE;
	}
	g_autofree char *number = g_strndup(value, digits);
	guint64 n = 0;
	if (!g_ascii_string_to_unsigned(number, 10, 0, max / unit, &n, NULL) || n * unit < min) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "out of range %" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT " octets: \"%s\"",
		            min, max, value);
		return FALSE;
	}
	*out = n * unit;
	return TRUE;
}

/* A key ID or fingerprint: 8, 16 or 40 hex digits, any case, optional 0x.
 * Kuvert took any number of digits; gpg, and so koverto's key lookup,
 * reads no other length as a key ID (lib/gpg/keys.c, keys_id_pattern). */
gboolean
kov_config_value_is_keyid(const char *value)
{
	const char *p = value;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	gsize len = strlen(p);
	if (len != 8 && len != 16 && len != 40)
		return FALSE;
	for (; *p != '\0'; p++)
		if (!g_ascii_isxdigit(*p))
			return FALSE;
	return TRUE;
}

gboolean
kov_config_value_is_host(const char *value)
{
	if (g_hostname_is_ip_address(value))
		return TRUE;
	if (!g_ascii_isalnum(value[0]))
		return FALSE;
	for (const char *p = value; *p != '\0'; p++)
		if (!g_ascii_isalnum(*p) && *p != '.' && *p != '-' && *p != '_')
			return FALSE;
	return TRUE;
}

/* The senders pattern must match the whole bare address in any case. It is
 * compiled alone first, so a pattern with an unbalanced ")" cannot escape
 * the anchoring group; \E ends a stray \Q before the closing anchor. */
GRegex *
kov_config_value_compile_senders(const char *pattern, GError **error)
{
	g_autoptr(GError) why = NULL;
	g_autoptr(GRegex) alone = g_regex_new(pattern, G_REGEX_CASELESS, 0, &why);
	if (alone == NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "not a regular expression: %s",
		            why->message);
		return NULL;
	}
	g_autofree char *anchored = g_strconcat("\\A(?:", pattern, "\\E)\\z", NULL);
	GRegex *re = g_regex_new(anchored, G_REGEX_CASELESS, 0, &why);
	if (re == NULL)
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "cannot be anchored to the whole address: %s", why->message);
	return re;
}

static void
kov_config_value_set_string(char **field, const char *value, gboolean secret)
{
	if (secret)
		kov_config_wipe(*field);
	g_free(*field);
	*field = (value != NULL && value[0] != '\0') ? g_strdup(value) : NULL;
}

static gboolean
kov_config_value_parse_path(KovConfigLoad *load, const KovOption *opt, char **field, const char *value,
                      GError **error)
{
	if (value[0] == '\0') {
		kov_config_value_set_string(field, NULL, FALSE);
		/* keydir = (empty) in a section turns the global one off there. */
		if (opt->type == KOV_TYPE_KEYDIR)
			*field = g_strdup("");
		return TRUE;
	}
	g_autofree char *path = kov_config_value_expand_path(load, value, error);
	if (path == NULL)
		return FALSE;

	struct stat st;
	gboolean exists = stat(path, &st) == 0;
	int err = errno;
	switch (opt->type) {
	case KOV_TYPE_FILE:
	case KOV_TYPE_CA:
		if (!exists || access(path, R_OK) != 0) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "cannot read \"%s\": %s", path,
			            g_strerror(exists ? errno : err));
			return FALSE;
		}
		if (!S_ISREG(st.st_mode) && !(opt->type == KOV_TYPE_CA && S_ISDIR(st.st_mode))) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "not a regular file: \"%s\"", path);
			return FALSE;
		}
		break;
	case KOV_TYPE_DIR:
		if (!exists || !S_ISDIR(st.st_mode)) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "not a directory: \"%s\"%s%s", path,
			            exists ? "" : ": ", exists ? "" : g_strerror(err));
			return FALSE;
		}
		break;
	case KOV_TYPE_KEYDIR:
		/* The watcher lists it and workers read its files: a directory
		 * that cannot be read would give no key from it at all. */
		if (!exists || !S_ISDIR(st.st_mode)) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "not a directory: \"%s\"%s%s", path,
			            exists ? "" : ": ", exists ? "" : g_strerror(err));
			return FALSE;
		}
		if (access(path, R_OK | X_OK) != 0) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "cannot read directory \"%s\": %s",
			            path, g_strerror(errno));
			return FALSE;
		}
		break;
	case KOV_TYPE_LOGFILE:
		/* Kuvert: fatal if it exists and is not writable. */
		if (exists && S_ISDIR(st.st_mode)) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "is a directory: \"%s\"", path);
			return FALSE;
		}
		if (exists && access(path, W_OK) != 0) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "cannot write \"%s\": %s", path,
			            g_strerror(errno));
			return FALSE;
		}
		break;
	default:
		break;
	}
	g_free(*field);
	*field = g_steal_pointer(&path);
	return TRUE;
}

static gboolean
kov_config_value_parse_command(char **field, const char *value, GError **error)
{
	if (value[0] == '\0') {
		kov_config_value_set_string(field, NULL, FALSE);
		return TRUE;
	}
	g_auto(GStrv) words = kov_config_value_split_words(value);
	gboolean has_arg = FALSE;
	for (gsize i = 1; words[i] != NULL; i++)
		has_arg = has_arg || strstr(words[i], "%s") != NULL;
	if (!has_arg) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "the arguments must contain %%s (the key ID): \"%s\"", value);
		return FALSE;
	}
	g_autofree char *program = kov_config_value_find_program(words[0], error);
	if (program == NULL)
		return FALSE;
	/* Kept with the program found: it is run without a PATH search. */
	g_free(words[0]);
	words[0] = g_steal_pointer(&program);
	g_autofree char *command = g_strjoinv(" ", words);
	kov_config_value_set_string(field, command, FALSE);
	return TRUE;
}

char **
kov_config_command_argv(const char *command, const char *arg)
{
	g_return_val_if_fail(command != NULL && arg != NULL, NULL);
	char **argv = kov_config_value_split_words(command);
	for (gsize i = 1; argv[i] != NULL; i++) {
		if (strstr(argv[i], "%s") == NULL)
			continue;
		g_auto(GStrv) parts = g_strsplit(argv[i], "%s", -1);
		g_free(argv[i]);
		argv[i] = g_strjoinv(arg, parts);
	}
	return argv;
}

/* Check @value for @opt and store it in @base. On failure @error says only
 * what is wrong; the caller adds file, line and key. */
gboolean
kov_config_value_parse(KovConfigLoad *load, const KovOption *opt, gpointer base,
                        const char *value, GError **error)
{
	char **str = KOV_FIELD(base, opt->offset, char *);

	switch (opt->type) {
	case KOV_TYPE_STRING:
	case KOV_TYPE_SECRET:
		kov_config_value_set_string(str, value, opt->type == KOV_TYPE_SECRET);
		return TRUE;
	case KOV_TYPE_HOST:
		if (value[0] != '\0' && !kov_config_value_is_host(value)) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "not a host name or IP address: \"%s\"", value);
			return FALSE;
		}
		kov_config_value_set_string(str, value, FALSE);
		return TRUE;
	case KOV_TYPE_PATH:
	case KOV_TYPE_FILE:
	case KOV_TYPE_CA:
	case KOV_TYPE_DIR:
	case KOV_TYPE_LOGFILE:
	case KOV_TYPE_KEYDIR:
		return kov_config_value_parse_path(load, opt, str, value, error);
	case KOV_TYPE_BOOL:
		if (!kov_config_parse_bool(value, KOV_FIELD(base, opt->offset, gboolean))) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "not a boolean (1/on/t/true/yes or 0/off/f/false/no): \"%s\"", value);
			return FALSE;
		}
		if (opt->aux_offset != 0)
			*KOV_FIELD(base, opt->aux_offset, gboolean) = TRUE;
		return TRUE;
	case KOV_TYPE_SECONDS:
		return kov_config_value_parse_number(value, 1, KOV_CONFIG_INTERVAL_MAX,
		                               KOV_FIELD(base, opt->offset, guint), error);
	case KOV_TYPE_PORT:
		return kov_config_value_parse_number(value, 1, 65535, KOV_FIELD(base, opt->offset, guint), error);
	case KOV_TYPE_COUNT:
		return kov_config_value_parse_number(value, (guint)opt->min, (guint)opt->max,
		                               KOV_FIELD(base, opt->offset, guint), error);
	case KOV_TYPE_DURATION:
		return kov_config_value_parse_duration(value, opt->min, opt->max,
		                                 KOV_FIELD(base, opt->offset, gint64), error);
	case KOV_TYPE_SIZE:
		return kov_config_value_parse_size(value, opt->min, opt->max,
		                                   KOV_FIELD(base, opt->offset, guint64), error);
	case KOV_TYPE_ADDRESSES:
	case KOV_TYPE_CRYPT:
	case KOV_TYPE_SHA256:
		return kov_config_listen_parse_value(opt, base, value, error);
	case KOV_TYPE_KEYID:
		if (value[0] != '\0' && !kov_config_value_is_keyid(value)) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "not a key ID or fingerprint (8, 16 or 40 hex digits, optional 0x): \"%s\"", value);
			return FALSE;
		}
		kov_config_value_set_string(str, value, FALSE);
		return TRUE;
	case KOV_TYPE_ACTION:
		if (!kov_policy_action_parse(value, KOV_FIELD(base, opt->offset, KovAction))) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "not an action (none, signonly, fallback, fallback-all, mustencrypt): \"%s\"",
			            value);
			return FALSE;
		}
		return TRUE;
	case KOV_TYPE_SSL: {
		KovSsl *ssl = KOV_FIELD(base, opt->offset, KovSsl);
		if (value[0] == '\0')
			*ssl = KOV_SSL_NONE;
		else if (g_ascii_strcasecmp(value, "starttls") == 0)
			*ssl = KOV_SSL_STARTTLS;
		else if (g_ascii_strcasecmp(value, "ssl") == 0)
			*ssl = KOV_SSL_IMPLICIT;
		else {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "not \"starttls\", \"ssl\" or empty: \"%s\"", value);
			return FALSE;
		}
		return TRUE;
	}
	case KOV_TYPE_FACILITY:
		if (value[0] != '\0' && !kov_log_facility_parse(value, NULL)) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "not a syslog facility: \"%s\"", value);
			return FALSE;
		}
		g_free(*str);
		*str = value[0] != '\0' ? g_ascii_strdown(value, -1) : NULL;
		return TRUE;
	case KOV_TYPE_PROGRAM: {
		if (value[0] == '\0') {
			kov_config_value_set_string(str, NULL, FALSE);
			return TRUE;
		}
		char *program = kov_config_value_find_program(value, error);
		if (program == NULL)
			return FALSE;
		g_free(*str);
		*str = program;
		return TRUE;
	}
	case KOV_TYPE_COMMAND:
		return kov_config_value_parse_command(str, value, error);
	case KOV_TYPE_ARGV: {
		char ***argv = KOV_FIELD(base, opt->offset, char **);
		g_strfreev(*argv);
		*argv = kov_config_value_split_words(value);
		if ((*argv)[0] == NULL)
			g_clear_pointer(argv, g_strfreev);
		return TRUE;
	}
	case KOV_TYPE_REGEX: {
		if (value[0] == '\0') {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "empty pattern (leave the key out to allow any sender)");
			return FALSE;
		}
		GRegex *re = kov_config_value_compile_senders(value, error);
		if (re == NULL)
			return FALSE;
		GRegex **field = KOV_FIELD(base, opt->aux_offset, GRegex *);
		g_clear_pointer(field, g_regex_unref);
		*field = re;
		kov_config_value_set_string(str, value, FALSE);
		return TRUE;
	}
	}
	g_assert_not_reached();
}

/* "REGEX ACTION[,KEY]", optionally followed by a "#" comment: Kuvert's rule
 * line without its leading blanks, or the value of a [rules] key. Unlike
 * Kuvert, which drops a line it cannot read without a word, anything else
 * is an error. */
KovRule *
kov_config_value_parse_rule(const char *text, guint line, GError **error)
{
	g_auto(GStrv) words = kov_config_value_split_words(text);
	if (words[0] == NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "empty rule (expected REGEX ACTION[,KEY])");
		return NULL;
	}
	char *spec = words[1];
	gboolean comment = spec == NULL;
	if (spec != NULL) {
		char *hash = strchr(spec, '#');
		if (hash != NULL) {   /* Kuvert allows "none#comment" */
			*hash = '\0';
			comment = TRUE;
		}
	}
	if (spec == NULL || spec[0] == '\0') {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "no action after \"%s\" (expected REGEX ACTION[,KEY])", words[0]);
		return NULL;
	}
	if (!comment && words[2] != NULL && words[2][0] != '#') {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "\"%s\" after the action (expected REGEX ACTION[,KEY], then at most "
		            "a # comment)", words[2]);
		return NULL;
	}
	char *key = strchr(spec, ',');
	if (key != NULL)
		*key++ = '\0';
	KovAction action;
	if (!kov_policy_action_parse(spec, &action)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "not an action (none, signonly, fallback, fallback-all, mustencrypt): \"%s\"",
		            spec);
		return NULL;
	}
	if (key != NULL && !kov_config_value_is_keyid(key)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "not a key ID or fingerprint (8, 16 or 40 hex digits, optional 0x): \"%s\"", key);
		return NULL;
	}
	return kov_policy_rule_new(words[0], action, key, line, error);
}

/* A [rules] key: a positive whole number, the rule's place in the order. */
gboolean
kov_config_value_rule_number(const char *key, guint *number)
{
	guint64 n = 0;
	if (key[0] == '\0' || strspn(key, "0123456789") != strlen(key)
	    || !g_ascii_string_to_unsigned(key, 10, 1, G_MAXUINT, &n, NULL))
		return FALSE;
	*number = (guint)n;
	return TRUE;
}
