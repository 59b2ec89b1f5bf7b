/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The configuration file. iniparser reads the INI syntax; since it keeps no
 * line numbers and silently merges duplicate keys, a small pre-pass over the
 * same file maps every section and key to its line and finds duplicates.
 * Every value is then copied out of the dictionary and checked by a typed
 * parser from one option table, so each error names file, line and key.
 * The first problem wins: koverto refuses to start on any of them. */
#include "config.h"
#include "autoptr.h"
#include "error.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KOV_CONFIG_MSP_DEFAULT "/usr/sbin/sendmail -om -oi -oem"
#define KOV_CONFIG_INTERVAL_MAX 86400u
#define KOV_CONFIG_WORD_SEPARATORS " \t\r\n\v\f"

/* ---- option table ---------------------------------------------------- */

typedef enum {
	KOV_TYPE_STRING,   /* any text; empty: unset */
	KOV_TYPE_SECRET,   /* any text, never echoed, wiped on free; empty: unset */
	KOV_TYPE_HOST,     /* host name or IP address; empty: unset */
	KOV_TYPE_PATH,     /* absolute after ~/ expansion; empty: default */
	KOV_TYPE_FILE,     /* PATH naming a readable regular file */
	KOV_TYPE_CA,       /* PATH naming a readable file (bundle) or directory (hashed) */
	KOV_TYPE_DIR,      /* PATH naming a directory */
	KOV_TYPE_LOGFILE,  /* PATH; if it exists it must be a writable file */
	KOV_TYPE_BOOL,
	KOV_TYPE_SECONDS,  /* digits, 1..KOV_CONFIG_INTERVAL_MAX */
	KOV_TYPE_PORT,     /* digits, 1..65535 */
	KOV_TYPE_KEYID,    /* hex, optional 0x; empty: unset */
	KOV_TYPE_ACTION,   /* Kuvert action name */
	KOV_TYPE_SSL,      /* "", "starttls", "ssl" */
	KOV_TYPE_FACILITY, /* syslog facility; empty: unset */
	KOV_TYPE_PROGRAM,  /* an executable; stored as its full path */
	KOV_TYPE_COMMAND,  /* "program args" with %s in args; first word executable */
	KOV_TYPE_ARGV,     /* "program args" split on whitespace; checked after reading */
	KOV_TYPE_REGEX,    /* GLib regular expression, whole address, any case */
} KovOptionType;

typedef struct {
	const char *name;
	KovOptionType type;
	gsize offset;      /* of the field in KovConfig or KovQueueConfig */
	gsize aux_offset;  /* KOV_TYPE_REGEX: the compiled GRegex field */
} KovOption;

#define KOV_OPT(name, type, field) { name, type, offsetof(KovConfig, field), 0 }

/* Kuvert's options (kuvert-reference.md 4.2) plus gnupghome. */
static const KovOption kov_config_options[] = {
	KOV_OPT("defaultkey", KOV_TYPE_KEYID, defaultkey),
	KOV_OPT("defaultaction", KOV_TYPE_ACTION, defaultaction),
	KOV_OPT("alwaystrust", KOV_TYPE_BOOL, alwaystrust),
	KOV_OPT("use-agent", KOV_TYPE_BOOL, use_agent),
	KOV_OPT("query-secret", KOV_TYPE_COMMAND, query_secret),
	KOV_OPT("flush-secret", KOV_TYPE_COMMAND, flush_secret),
	KOV_OPT("gpg", KOV_TYPE_PROGRAM, gpg),
	KOV_OPT("queuedir", KOV_TYPE_PATH, queuedir),
	KOV_OPT("tempdir", KOV_TYPE_PATH, tempdir),
	KOV_OPT("interval", KOV_TYPE_SECONDS, interval),
	KOV_OPT("logfile", KOV_TYPE_LOGFILE, logfile),
	KOV_OPT("syslog", KOV_TYPE_FACILITY, syslog),
	KOV_OPT("mail-on-error", KOV_TYPE_STRING, mail_on_error),
	KOV_OPT("identify", KOV_TYPE_BOOL, identify),
	KOV_OPT("preamble", KOV_TYPE_BOOL, preamble),
	KOV_OPT("can-detach", KOV_TYPE_BOOL, can_detach),
	KOV_OPT("msserver", KOV_TYPE_HOST, msserver),
	KOV_OPT("msport", KOV_TYPE_PORT, msport),
	KOV_OPT("ssl", KOV_TYPE_SSL, ssl),
	KOV_OPT("ssl-cert", KOV_TYPE_FILE, ssl_cert),
	KOV_OPT("ssl-key", KOV_TYPE_FILE, ssl_key),
	KOV_OPT("ssl-ca", KOV_TYPE_CA, ssl_ca),
	KOV_OPT("msuser", KOV_TYPE_STRING, msuser),
	KOV_OPT("mspass", KOV_TYPE_SECRET, mspass),
	KOV_OPT("mspass-from-query-secret", KOV_TYPE_BOOL, mspass_from_query_secret),
	KOV_OPT("msp", KOV_TYPE_ARGV, msp),
	KOV_OPT("maport", KOV_TYPE_PORT, maport),
	KOV_OPT("ma-user", KOV_TYPE_STRING, ma_user),
	KOV_OPT("ma-pass", KOV_TYPE_SECRET, ma_pass),
	KOV_OPT("gnupghome", KOV_TYPE_DIR, gnupghome),
};

static const KovOption kov_config_queue_options[] = {
	{ "key", KOV_TYPE_KEYID, offsetof(KovQueueConfig, signing_key), 0 },
	{ "senders", KOV_TYPE_REGEX, offsetof(KovQueueConfig, allowed_senders),
	  offsetof(KovQueueConfig, allowed_senders_re) },
};

#define KOV_FIELD(base, offset, type) ((type *)(void *)((char *)(base) + (offset)))

/* ---- the pre-pass: where is each section and key? --------------------- */

typedef struct {
	char *section;   /* lower case, as iniparser stores it; NULL before any header */
	char *key;       /* lower case; NULL for a section header */
	guint line;
	guint first_line; /* line of the first occurrence of the same section:key */
} KovConfigEntry;

typedef struct {
	const char *file;
	struct stat st;
	GPtrArray *entries;   /* KovConfigEntry, file order */
	GHashTable *where;    /* iniparser's dictionary key ("sec" or "sec:key") -> first line */
	dictionary *dict;
	char *home, *user;    /* passwd entry of the real uid, looked up on demand */
} KovConfigLoad;

static void
kov_config_entry_free(gpointer data)
{
	KovConfigEntry *entry = data;
	g_free(entry->section);
	g_free(entry->key);
	g_free(entry);
}

static void
kov_config_wipe(char *s)
{
	if (s != NULL)
		explicit_bzero(s, strlen(s));
}

static void
kov_config_load_clear(KovConfigLoad *load)
{
	g_clear_pointer(&load->entries, g_ptr_array_unref);
	g_clear_pointer(&load->where, g_hash_table_unref);
	if (load->dict != NULL) {
		/* Passwords were in there too; iniparser frees without wiping. */
		for (ssize_t i = 0; i < load->dict->size; i++)
			kov_config_wipe(load->dict->val[i]);
		g_clear_pointer(&load->dict, iniparser_freedict);
	}
	g_clear_pointer(&load->home, g_free);
	g_clear_pointer(&load->user, g_free);
}

G_GNUC_PRINTF(4, 5) static void
kov_config_fail(GError **error, const KovConfigLoad *load, guint line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (line > 0)
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "%s:%u: %s", load->file, line, what);
	else
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "%s: %s", load->file, what);
}

static guint
kov_config_line_of(const KovConfigLoad *load, const char *dict_key)
{
	return GPOINTER_TO_UINT(g_hash_table_lookup(load->where, dict_key));
}

/* Record @entry and whether its section:key came before. */
static void
kov_config_scan_add(KovConfigLoad *load, KovConfigEntry *entry)
{
	g_autofree char *dict_key = entry->key == NULL
		? g_strdup(entry->section)
		: g_strconcat(entry->section ? entry->section : "", ":", entry->key, NULL);
	entry->first_line = kov_config_line_of(load, dict_key);
	if (entry->first_line == 0) {
		entry->first_line = entry->line;
		g_hash_table_insert(load->where, g_steal_pointer(&dict_key),
		                    GUINT_TO_POINTER(entry->line));
	}
	g_ptr_array_add(load->entries, entry);
}

/* One logical line (stripped, modified in place), classified the way
 * iniparser_line() does it: blank, comment (# or ;), [section], or
 * key = value. Anything else is left to iniparser, which reports it as a
 * syntax error with its line number. */
static void
kov_config_scan_line(KovConfigLoad *load, char *s, guint line, char **section)
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
	kov_config_scan_add(load, entry);
}

/* Read the file line by line, joining "\"-continued lines as iniparser does,
 * and record every section header and key with its (first) line number. */
static gboolean
kov_config_scan(KovConfigLoad *load, GError **error)
{
	int fd = open(load->file, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &load->st) != 0) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		kov_config_fail(error, load, 0, "cannot read: %s", g_strerror(err));
		return FALSE;
	}
	FILE *in = fdopen(fd, "re");
	if (in == NULL) {
		int err = errno;
		close(fd);
		kov_config_fail(error, load, 0, "cannot read: %s", g_strerror(err));
		return FALSE;
	}

	GString *logical = g_string_new(NULL);
	g_autofree char *section = NULL;
	char *buf = NULL;
	size_t cap = 0;
	guint lineno = 0, start = 0;
	while (getline(&buf, &cap, in) != -1) {
		lineno++;
		if (logical->len == 0)
			start = lineno;
		g_strchomp(buf);
		gsize len = strlen(buf);
		gboolean continued = len > 0 && buf[len - 1] == '\\';
		if (continued)
			buf[len - 1] = '\0';
		g_string_append(logical, buf);
		explicit_bzero(buf, cap);
		if (continued)
			continue;
		kov_config_scan_line(load, g_strstrip(logical->str), start, &section);
		/* The line may hold a password. */
		explicit_bzero(logical->str, logical->allocated_len);
		g_string_truncate(logical, 0);
	}
	int err = ferror(in) ? errno : 0;
	if (err == 0 && logical->len > 0)
		kov_config_scan_line(load, g_strstrip(logical->str), start, &section);
	explicit_bzero(logical->str, logical->allocated_len);
	g_string_free(logical, TRUE);
	if (buf != NULL)
		explicit_bzero(buf, cap);
	free(buf);
	fclose(in);
	if (err != 0) {
		kov_config_fail(error, load, 0, "cannot read: %s", g_strerror(err));
		return FALSE;
	}
	return TRUE;
}

/* ---- iniparser's own error output ------------------------------------ */

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

static dictionary *
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

/* ---- value parsers --------------------------------------------------- */

static gboolean
kov_config_passwd(KovConfigLoad *load, GError **error)
{
	if (load->home != NULL)
		return TRUE;
	long size = sysconf(_SC_GETPW_R_SIZE_MAX);
	if (size < 16384)
		size = 16384;
	g_autofree char *buf = g_malloc((gsize)size);
	struct passwd pw, *found = NULL;
	int rc = getpwuid_r(getuid(), &pw, buf, (size_t)size, &found);
	if (found == NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "no password database entry for user ID %u%s%s", (unsigned)getuid(),
		            rc != 0 ? ": " : "", rc != 0 ? g_strerror(rc) : "");
		return FALSE;
	}
	load->home = g_strdup(pw.pw_dir);
	load->user = g_strdup(pw.pw_name);
	return TRUE;
}

/* A path option: "~" or "~/..." is the passwd home (as Kuvert takes its
 * home, not $HOME); the result must be absolute. (transfer full) */
static char *
kov_config_expand_path(KovConfigLoad *load, const char *value, GError **error)
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
static char *
kov_config_find_program(const char *word, GError **error)
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
static char **
kov_config_split_words(const char *value)
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
static gboolean
kov_config_parse_number(const char *value, guint min, guint max, guint *out, GError **error)
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

/* Kuvert's key syntax: ^(0x)?[0-9a-f]+$, any case (long ID or fingerprint). */
static gboolean
kov_config_is_keyid(const char *value)
{
	const char *p = value;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	if (*p == '\0')
		return FALSE;
	for (; *p != '\0'; p++)
		if (!g_ascii_isxdigit(*p))
			return FALSE;
	return TRUE;
}

static gboolean
kov_config_is_host(const char *value)
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
static GRegex *
kov_config_compile_senders(const char *pattern, GError **error)
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
kov_config_set_string(char **field, const char *value, gboolean secret)
{
	if (secret)
		kov_config_wipe(*field);
	g_free(*field);
	*field = (value != NULL && value[0] != '\0') ? g_strdup(value) : NULL;
}

static gboolean
kov_config_parse_path(KovConfigLoad *load, const KovOption *opt, char **field, const char *value,
                      GError **error)
{
	if (value[0] == '\0') {
		kov_config_set_string(field, NULL, FALSE);
		return TRUE;
	}
	g_autofree char *path = kov_config_expand_path(load, value, error);
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
kov_config_parse_command(char **field, const char *value, GError **error)
{
	if (value[0] == '\0') {
		kov_config_set_string(field, NULL, FALSE);
		return TRUE;
	}
	g_auto(GStrv) words = kov_config_split_words(value);
	gboolean has_arg = FALSE;
	for (gsize i = 1; words[i] != NULL; i++)
		has_arg = has_arg || strstr(words[i], "%s") != NULL;
	if (!has_arg) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "the arguments must contain %%s (the key ID): \"%s\"", value);
		return FALSE;
	}
	g_autofree char *program = kov_config_find_program(words[0], error);
	if (program == NULL)
		return FALSE;
	kov_config_set_string(field, value, FALSE);
	return TRUE;
}

/* Check @value for @opt and store it in @base. On failure @error says only
 * what is wrong; the caller adds file, line and key. */
static gboolean
kov_config_parse_option(KovConfigLoad *load, const KovOption *opt, gpointer base,
                        const char *value, GError **error)
{
	char **str = KOV_FIELD(base, opt->offset, char *);

	switch (opt->type) {
	case KOV_TYPE_STRING:
	case KOV_TYPE_SECRET:
		kov_config_set_string(str, value, opt->type == KOV_TYPE_SECRET);
		return TRUE;
	case KOV_TYPE_HOST:
		if (value[0] != '\0' && !kov_config_is_host(value)) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "not a host name or IP address: \"%s\"", value);
			return FALSE;
		}
		kov_config_set_string(str, value, FALSE);
		return TRUE;
	case KOV_TYPE_PATH:
	case KOV_TYPE_FILE:
	case KOV_TYPE_CA:
	case KOV_TYPE_DIR:
	case KOV_TYPE_LOGFILE:
		return kov_config_parse_path(load, opt, str, value, error);
	case KOV_TYPE_BOOL:
		if (!kov_config_parse_bool(value, KOV_FIELD(base, opt->offset, gboolean))) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "not a boolean (1/on/t/true/yes or 0/off/f/false/no): \"%s\"", value);
			return FALSE;
		}
		return TRUE;
	case KOV_TYPE_SECONDS:
		return kov_config_parse_number(value, 1, KOV_CONFIG_INTERVAL_MAX,
		                               KOV_FIELD(base, opt->offset, guint), error);
	case KOV_TYPE_PORT:
		return kov_config_parse_number(value, 1, 65535, KOV_FIELD(base, opt->offset, guint), error);
	case KOV_TYPE_KEYID:
		if (value[0] != '\0' && !kov_config_is_keyid(value)) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "not a key ID or fingerprint (hex digits, optional 0x): \"%s\"", value);
			return FALSE;
		}
		kov_config_set_string(str, value, FALSE);
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
			kov_config_set_string(str, NULL, FALSE);
			return TRUE;
		}
		char *program = kov_config_find_program(value, error);
		if (program == NULL)
			return FALSE;
		g_free(*str);
		*str = program;
		return TRUE;
	}
	case KOV_TYPE_COMMAND:
		return kov_config_parse_command(str, value, error);
	case KOV_TYPE_ARGV: {
		char ***argv = KOV_FIELD(base, opt->offset, char **);
		g_strfreev(*argv);
		*argv = kov_config_split_words(value);
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
		GRegex *re = kov_config_compile_senders(value, error);
		if (re == NULL)
			return FALSE;
		GRegex **field = KOV_FIELD(base, opt->aux_offset, GRegex *);
		g_clear_pointer(field, g_regex_unref);
		*field = re;
		kov_config_set_string(str, value, FALSE);
		return TRUE;
	}
	}
	g_assert_not_reached();
}

/* ---- sections -------------------------------------------------------- */

typedef struct {
	const KovOption *options;
	gsize n_options;
	gpointer base;
	char *label;   /* for messages: "" or " in [queue fallback]" */
} KovConfigSection;

static gboolean
kov_config_section_find(KovConfig *config, const char *name, KovConfigSection *section)
{
	if (g_str_equal(name, "koverto")) {
		*section = (KovConfigSection){ kov_config_options, G_N_ELEMENTS(kov_config_options),
		                               config, g_strdup("") };
		return TRUE;
	}
	KovQueueKind kind;
	if (g_str_has_prefix(name, "queue") && g_ascii_isspace(name[5])
	    && kov_queue_kind_parse(name + 5 + strspn(name + 5, KOV_CONFIG_WORD_SEPARATORS), &kind)) {
		*section = (KovConfigSection){
			kov_config_queue_options, G_N_ELEMENTS(kov_config_queue_options),
			&config->queue[kind], g_strdup_printf(" in [queue %s]", kov_queue_name(kind)) };
		return TRUE;
	}
	return FALSE;
}

/* The section and option of @entry; FALSE with @error if either is unknown
 * or the key came before. */
static gboolean
kov_config_entry_find(KovConfigLoad *load, KovConfig *config, const KovConfigEntry *entry,
                      KovConfigSection *section, const KovOption **option, GError **error)
{
	*option = NULL;
	if (entry->section == NULL) {
		kov_config_fail(error, load, entry->line,
		                "key \"%s\" outside any section (put it under [koverto])", entry->key);
		return FALSE;
	}
	if (!kov_config_section_find(config, entry->section, section)) {
		kov_config_fail(error, load, entry->line,
		                "unknown section [%s] (known: [koverto], [queue must-encrypt], "
		                "[queue fallback], [queue sign-only])", entry->section);
		return FALSE;
	}
	if (entry->key == NULL)
		return TRUE;
	for (gsize k = 0; k < section->n_options && *option == NULL; k++)
		if (g_str_equal(entry->key, section->options[k].name))
			*option = &section->options[k];
	if (*option == NULL) {
		kov_config_fail(error, load, entry->line, "unknown key \"%s\"%s", entry->key,
		                section->label[0] != '\0' ? section->label : " in [koverto]");
		return FALSE;
	}
	if (entry->first_line != entry->line) {
		kov_config_fail(error, load, entry->line, "key \"%s\"%s: given twice, on lines %u and %u",
		                entry->key, section->label, entry->first_line, entry->line);
		return FALSE;
	}
	return TRUE;
}

/* Two walks over the entries in file order. The first finds unknown
 * sections and keys and duplicates: a duplicate's value in the dictionary
 * is the last one, so no value may be checked before duplicates are ruled
 * out. The second checks and stores each value. */
static gboolean
kov_config_read_entries(KovConfigLoad *load, KovConfig *config, GError **error)
{
	for (int pass = 0; pass < 2; pass++) {
		for (guint i = 0; i < load->entries->len; i++) {
			const KovConfigEntry *entry = g_ptr_array_index(load->entries, i);
			KovConfigSection section = { 0 };
			const KovOption *opt = NULL;

			gboolean found = kov_config_entry_find(load, config, entry, &section, &opt, error);
			g_autofree char *label = section.label;
			if (!found)
				return FALSE;
			if (pass == 0 || opt == NULL)
				continue;

			g_autofree char *dict_key = g_strconcat(entry->section, ":", entry->key, NULL);
			const char *value = iniparser_getstring(load->dict, dict_key, NULL);
			if (value == NULL)
				value = "";
			if (!kov_config_parse_option(load, opt, section.base, value, error)) {
				g_prefix_error(error, "%s:%u: key \"%s\"%s: ", load->file, entry->line,
				               entry->key, label);
				return FALSE;
			}
		}
	}
	return TRUE;
}

/* The pre-pass must have placed everything iniparser read; if the two ever
 * disagree about the syntax, refuse rather than check the wrong lines. */
static gboolean
kov_config_check_placed(KovConfigLoad *load, GError **error)
{
	for (ssize_t i = 0; i < load->dict->size; i++) {
		const char *key = load->dict->key[i];
		if (key != NULL && !g_hash_table_contains(load->where, key)) {
			kov_config_fail(error, load, 0, "cannot tell where \"%s\" is in the file", key);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
kov_config_check_mode(KovConfigLoad *load, GError **error)
{
	const char *secrets[] = { "koverto:mspass", "koverto:ma-pass" };
	gboolean holds = FALSE;
	for (gsize i = 0; i < G_N_ELEMENTS(secrets); i++) {
		const char *value = iniparser_getstring(load->dict, secrets[i], NULL);
		holds = holds || (value != NULL && value[0] != '\0');
	}
	if (holds && (load->st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
		kov_config_fail(error, load, 0,
		                "holds a password but is readable by others (mode %04o); chmod 600 it",
		                (unsigned)(load->st.st_mode & 07777));
		return FALSE;
	}
	return TRUE;
}

/* Checks across options, and the defaults that need the passwd entry. */
static gboolean
kov_config_check_all(KovConfigLoad *load, KovConfig *config, GError **error)
{
	guint msp_line = kov_config_line_of(load, "koverto:msp");

	if (config->msserver == NULL) {
		/* No SMTP server: msp is the transport, so it must run. */
		if (config->msp == NULL) {
			kov_config_fail(error, load, msp_line,
			                "key \"msp\": empty, and without msserver nothing could deliver");
			return FALSE;
		}
		g_autoptr(GError) why = NULL;
		g_autofree char *program = kov_config_find_program(config->msp[0], &why);
		if (program == NULL) {
			kov_config_fail(error, load, msp_line,
			                "key \"msp\"%s: %s (msserver is unset, so msp delivers)",
			                msp_line != 0 ? "" : " (default)", why->message);
			return FALSE;
		}
		g_free(config->msp[0]);
		config->msp[0] = g_steal_pointer(&program);
	}
	if (config->msuser != NULL && config->mspass == NULL && !config->mspass_from_query_secret) {
		kov_config_fail(error, load, kov_config_line_of(load, "koverto:msuser"),
		                "key \"msuser\": needs mspass (or mspass-from-query-secret)");
		return FALSE;
	}
	if ((config->ssl_cert == NULL) != (config->ssl_key == NULL)) {
		gboolean cert = config->ssl_cert != NULL;
		kov_config_fail(error, load,
		                kov_config_line_of(load, cert ? "koverto:ssl-cert" : "koverto:ssl-key"),
		                "key \"%s\": needs %s too", cert ? "ssl-cert" : "ssl-key",
		                cert ? "ssl-key" : "ssl-cert");
		return FALSE;
	}
	if (config->queuedir == NULL || config->tempdir == NULL) {
		if (!kov_config_passwd(load, error)) {
			g_prefix_error(error, "%s: ", load->file);
			return FALSE;
		}
		if (config->queuedir == NULL)
			config->queuedir = g_build_filename(load->home, ".kuvert_queue", NULL);
		if (config->tempdir == NULL) {
			/* Not Kuvert's name: Kuvert empties its tempdir on start. */
			const char *tmp = g_getenv("TMPDIR");
			g_autofree char *name = g_strconcat("koverto.", load->user, NULL);
			config->tempdir = g_build_filename(tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", name,
			                                   NULL);
		}
	}
	return TRUE;
}

/* ---- public ---------------------------------------------------------- */

static KovConfig *
kov_config_new_defaults(const char *path)
{
	KovConfig *config = g_new0(KovConfig, 1);
	config->file = g_strdup(path);
	config->defaultaction = KOV_ACTION_NONE;
	config->alwaystrust = FALSE;
	config->msport = 587;
	config->ssl = KOV_SSL_NONE;
	config->msp = kov_config_split_words(KOV_CONFIG_MSP_DEFAULT);
	config->identify = FALSE;
	config->preamble = TRUE;
	config->interval = 60;
	config->use_agent = FALSE;
	config->can_detach = FALSE;
	config->mspass_from_query_secret = FALSE;
	config->maport = 2587;
	return config;
}

char *
kov_config_locate(const char *explicit_path)
{
	if (explicit_path != NULL && explicit_path[0] != '\0')
		return g_strdup(explicit_path);
	const char *env = g_getenv("KOVERTO_CONF");
	if (env != NULL && env[0] != '\0')
		return g_strdup(env);
	return g_strdup(KOV_CONFIG_DEFAULT_PATH);
}

KovConfig *
kov_config_load(const char *path, GError **error)
{
	g_return_val_if_fail(path != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	KovConfigLoad load = {
		.file = path,
		.entries = g_ptr_array_new_with_free_func(kov_config_entry_free),
		.where = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
	};
	g_autoptr(KovConfig) config = kov_config_new_defaults(path);
	gboolean ok = kov_config_scan(&load, error)
		&& (load.dict = kov_config_ini_load(&load, error)) != NULL
		&& kov_config_check_mode(&load, error)
		&& kov_config_read_entries(&load, config, error)
		&& kov_config_check_placed(&load, error)
		&& kov_config_check_all(&load, config, error);
	kov_config_load_clear(&load);
	return ok ? g_steal_pointer(&config) : NULL;
}

void
kov_config_free(KovConfig *config)
{
	if (config == NULL)
		return;
	kov_config_wipe(config->mspass);
	kov_config_wipe(config->ma_pass);
	char **strings[] = {
		&config->file, &config->queuedir, &config->defaultkey, &config->msserver,
		&config->ssl_cert, &config->ssl_key, &config->ssl_ca, &config->msuser, &config->mspass,
		&config->logfile, &config->syslog, &config->mail_on_error, &config->gpg,
		&config->tempdir, &config->gnupghome, &config->query_secret, &config->flush_secret,
		&config->ma_user, &config->ma_pass,
	};
	for (gsize i = 0; i < G_N_ELEMENTS(strings); i++)
		g_clear_pointer(strings[i], g_free);
	g_strfreev(config->msp);
	for (gsize k = 0; k < KOV_QUEUE_N_POLICY; k++) {
		g_free(config->queue[k].signing_key);
		g_free(config->queue[k].allowed_senders);
		g_clear_pointer(&config->queue[k].allowed_senders_re, g_regex_unref);
	}
	g_free(config);
}

gboolean
kov_config_sender_allowed(const KovConfig *config, KovQueueKind kind, const char *address)
{
	g_return_val_if_fail(config != NULL, FALSE);
	g_return_val_if_fail(kind < KOV_QUEUE_N_POLICY, FALSE);
	g_return_val_if_fail(address != NULL, FALSE);

	const GRegex *re = config->queue[kind].allowed_senders_re;
	if (re == NULL)
		return TRUE;
	return g_regex_match(re, address, 0, NULL);
}
