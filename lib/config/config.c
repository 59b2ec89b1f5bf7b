/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The configuration file, in two formats told apart by content. INI (a
 * "[section]" line anywhere): iniparser reads the syntax; since it keeps no
 * line numbers and silently merges duplicate keys, a small pre-pass over the
 * same text maps every section and key to its line and finds duplicates.
 * Kuvert's ~/.kuvert (anything else): read here by Kuvert's lexical rules
 * into the same entries. Either way every value is checked by a typed
 * parser from one option table, so each error names file, line and key.
 * The first problem wins: koverto refuses to start on any of them. */
#include "config.h"
#include <iniparser.h>
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
	KOV_TYPE_COUNT,    /* digits, min..max of the option (guint) */
	KOV_TYPE_DURATION, /* digits with an optional s/m/h/d, min..max seconds (gint64) */
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
	guint64 min, max;  /* KOV_TYPE_COUNT, KOV_TYPE_DURATION */
} KovOption;

#define KOV_OPT(name, type, field) { name, type, offsetof(KovConfig, field), 0, 0, 0 }
#define KOV_OPT_RANGE(name, type, field, min, max) \
	{ name, type, offsetof(KovConfig, field), 0, min, max }
#define KOV_DAY (24 * 3600)
#define KOV_DURATION_MAX (3650 * KOV_DAY)

/* Kuvert's 29 options (kuvert-reference.md 4.2), then koverto's own. */
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
	KOV_OPT_RANGE("workers", KOV_TYPE_COUNT, workers, 0, 1024),
	KOV_OPT_RANGE("max-connections", KOV_TYPE_COUNT, max_connections, 0, 1024),
	KOV_OPT_RANGE("retry-first", KOV_TYPE_DURATION, retry_first, 1, KOV_DURATION_MAX),
	KOV_OPT_RANGE("retry-max", KOV_TYPE_DURATION, retry_max, 1, KOV_DURATION_MAX),
	KOV_OPT_RANGE("queue-lifetime", KOV_TYPE_DURATION, queue_lifetime, 1, KOV_DURATION_MAX),
	KOV_OPT_RANGE("failed-retention", KOV_TYPE_DURATION, failed_retention, 1, KOV_DURATION_MAX),
	KOV_OPT_RANGE("mail-timeout", KOV_TYPE_DURATION, mail_timeout, 1, KOV_DURATION_MAX),
	KOV_OPT_RANGE("worker-memory", KOV_TYPE_COUNT, worker_memory, 0, 1048576),
	KOV_OPT_RANGE("max-hops", KOV_TYPE_COUNT, max_hops, 1, 1000),
	KOV_OPT("dsn", KOV_TYPE_BOOL, dsn),
};

static const KovOption kov_config_queue_options[] = {
	{ "key", KOV_TYPE_KEYID, offsetof(KovQueueConfig, signing_key), 0, 0, 0 },
	{ "senders", KOV_TYPE_REGEX, offsetof(KovQueueConfig, allowed_senders),
	  offsetof(KovQueueConfig, allowed_senders_re), 0, 0 },
};

#define KOV_FIELD(base, offset, type) ((type *)(void *)((char *)(base) + (offset)))

/* ---- the pre-pass: where is each section and key? --------------------- */

typedef struct {
	char *section;   /* lower case, as iniparser stores it; NULL before any header */
	char *key;       /* lower case; NULL for a section header or a Kuvert rule */
	char *value;     /* Kuvert format only: the option's value or the rule's text */
	gboolean rule;   /* Kuvert format: an indented rule line */
	guint line;
	guint first_line; /* line of the first occurrence of the same section:key */
} KovConfigEntry;

typedef struct {
	const char *file;
	struct stat st;
	gboolean kuvert;      /* Kuvert's format, not INI */
	GString *text;        /* the whole file; may hold passwords: wiped */
	GPtrArray *entries;   /* KovConfigEntry, file order */
	GHashTable *where;    /* iniparser's dictionary key ("sec" or "sec:key") -> first line */
	dictionary *dict;     /* INI only */
	char *home, *user;    /* passwd entry of the real uid, looked up on demand */
} KovConfigLoad;

static void
kov_config_wipe(char *s)
{
	if (s != NULL)
		explicit_bzero(s, strlen(s));
}

static void
kov_config_entry_free(gpointer data)
{
	KovConfigEntry *entry = data;
	g_free(entry->section);
	g_free(entry->key);
	kov_config_wipe(entry->value);
	g_free(entry->value);
	g_free(entry);
}

static void
kov_config_load_clear(KovConfigLoad *load)
{
	g_clear_pointer(&load->entries, g_ptr_array_unref);
	g_clear_pointer(&load->where, g_hash_table_unref);
	if (load->text != NULL) {
		explicit_bzero(load->text->str, load->text->allocated_len);
		g_string_free(g_steal_pointer(&load->text), TRUE);
	}
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
	if (entry->rule) {
		entry->first_line = entry->line;
		g_ptr_array_add(load->entries, entry);
		return;
	}
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

/* Read the whole file; its mode is checked on the descriptor it was read
 * from. */
static gboolean
kov_config_read(KovConfigLoad *load, GError **error)
{
	int fd = open(load->file, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &load->st) != 0) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		kov_config_fail(error, load, 0, "cannot read: %s", g_strerror(err));
		return FALSE;
	}
	load->text = g_string_sized_new(4096);
	for (;;) {
		if (load->text->allocated_len - load->text->len < 4096) {
			/* Grow by hand: GString's own growth would leave a copy of
			 * a password behind, unwiped. */
			GString *bigger = g_string_sized_new(load->text->allocated_len * 2);
			g_string_append_len(bigger, load->text->str, (gssize)load->text->len);
			explicit_bzero(load->text->str, load->text->allocated_len);
			g_string_free(load->text, TRUE);
			load->text = bigger;
		}
		gsize room = load->text->allocated_len - load->text->len - 1;
		ssize_t n = read(fd, load->text->str + load->text->len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			close(fd);
			kov_config_fail(error, load, 0, "cannot read: %s", g_strerror(err));
			return FALSE;
		}
		if (n == 0)
			break;
		load->text->len += (gsize)n;
		load->text->str[load->text->len] = '\0';
	}
	close(fd);
	if (memchr(load->text->str, '\0', load->text->len) != NULL) {
		kov_config_fail(error, load, 0, "not a text file (it holds a NUL byte)");
		return FALSE;
	}
	return TRUE;
}

/* Who besides the owner has the permission @group_bit/@other_bit in
 * @mode: "its group", "others" or "its group and others". */
static const char *
kov_config_who(mode_t mode, mode_t group_bit, mode_t other_bit)
{
	if ((mode & group_bit) != 0)
		return (mode & other_bit) != 0 ? "its group and others" : "its group";
	return "others";
}

/* Anyone who can write the file can set msp, and so make koverto run any
 * program as the user it runs as. */
static gboolean
kov_config_check_writable(KovConfigLoad *load, GError **error)
{
	if ((load->st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		kov_config_fail(error, load, 0,
		                "may be written by %s (mode %04o), who could make koverto run any "
		                "program; chmod go-w it",
		                kov_config_who(load->st.st_mode, S_IWGRP, S_IWOTH),
		                (unsigned)(load->st.st_mode & 07777));
		return FALSE;
	}
	return TRUE;
}

/* The next line of @text from *@pos, without its "\n" (transfer full,
 * NULL at the end). */
static char *
kov_config_next_line(const GString *text, gsize *pos)
{
	if (*pos >= text->len)
		return NULL;
	const char *start = text->str + *pos;
	const char *nl = memchr(start, '\n', text->len - *pos);
	gsize len = nl != NULL ? (gsize)(nl - start) : text->len - *pos;
	*pos += len + (nl != NULL ? 1 : 0);
	return g_strndup(start, len);
}

static void
kov_config_free_line(char *line)
{
	kov_config_wipe(line);
	g_free(line);
}

/* A "[section]" line, the way iniparser sees it, makes the file INI. */
static gboolean
kov_config_is_ini(const GString *text)
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

/* Record every section header and key of an INI file with its (first)
 * line number, joining "\"-continued lines as iniparser does. */
static void
kov_config_scan_ini(KovConfigLoad *load)
{
	GString *logical = g_string_new(NULL);
	g_autofree char *section = NULL;
	gsize pos = 0;
	guint lineno = 0, start = 0;
	char *buf;
	while ((buf = kov_config_next_line(load->text, &pos)) != NULL) {
		lineno++;
		if (logical->len == 0)
			start = lineno;
		g_strchomp(buf);
		gsize len = strlen(buf);
		gboolean continued = len > 0 && buf[len - 1] == '\\';
		if (continued)
			buf[len - 1] = '\0';
		g_string_append(logical, buf);
		kov_config_free_line(buf);
		if (continued)
			continue;
		kov_config_scan_line(load, g_strstrip(logical->str), start, &section);
		/* The line may hold a password. */
		explicit_bzero(logical->str, logical->allocated_len);
		g_string_truncate(logical, 0);
	}
	if (logical->len > 0)
		kov_config_scan_line(load, g_strstrip(logical->str), start, &section);
	explicit_bzero(logical->str, logical->allocated_len);
	g_string_free(logical, TRUE);
}

/* ---- Kuvert's format ---------------------------------------------------- */

/* Kuvert's old (1.x) format: an all-upper-case word, blanks, a value. */
static gboolean
kov_config_is_old_format(const char *line)
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
static gboolean
kov_config_scan_kuvert(KovConfigLoad *load, GError **error)
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
		} else if (kov_config_is_old_format(line)) {
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
			kov_config_scan_add(load, entry);
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

/* Tell the format by content and find every entry with its line. */
static gboolean
kov_config_scan(KovConfigLoad *load, GError **error)
{
	load->kuvert = !kov_config_is_ini(load->text);
	if (load->kuvert)
		return kov_config_scan_kuvert(load, error);
	kov_config_scan_ini(load);
	load->dict = kov_config_ini_load(load, error);
	return load->dict != NULL;
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

/* A duration: seconds, or a number with s, m, h or d. */
static gboolean
kov_config_parse_duration(const char *value, guint64 min, guint64 max, gint64 *out, GError **error)
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

/* A key ID or fingerprint: 8, 16 or 40 hex digits, any case, optional 0x.
 * Kuvert took any number of digits; gpg, and so koverto's key lookup,
 * reads no other length as a key ID (lib/keys.c, keys_id_pattern). */
static gboolean
kov_config_is_keyid(const char *value)
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
	/* Kept with the program found: it is run without a PATH search. */
	g_free(words[0]);
	words[0] = g_steal_pointer(&program);
	g_autofree char *command = g_strjoinv(" ", words);
	kov_config_set_string(field, command, FALSE);
	return TRUE;
}

char **
kov_config_command_argv(const char *command, const char *arg)
{
	g_return_val_if_fail(command != NULL && arg != NULL, NULL);
	char **argv = kov_config_split_words(command);
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
	case KOV_TYPE_COUNT:
		return kov_config_parse_number(value, (guint)opt->min, (guint)opt->max,
		                               KOV_FIELD(base, opt->offset, guint), error);
	case KOV_TYPE_DURATION:
		return kov_config_parse_duration(value, opt->min, opt->max,
		                                 KOV_FIELD(base, opt->offset, gint64), error);
	case KOV_TYPE_KEYID:
		if (value[0] != '\0' && !kov_config_is_keyid(value)) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "not a key ID or fingerprint (8, 16 or 40 hex digits, optional 0x): \"%s\"", value);
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

/* ---- rules -------------------------------------------------------------- */

/* "REGEX ACTION[,KEY]", optionally followed by a "#" comment: Kuvert's rule
 * line without its leading blanks, or the value of a [rules] key. Unlike
 * Kuvert, which drops a line it cannot read without a word, anything else
 * is an error. */
static KovRule *
kov_config_parse_rule(const char *text, guint line, GError **error)
{
	g_auto(GStrv) words = kov_config_split_words(text);
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
	if (key != NULL && !kov_config_is_keyid(key)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "not a key ID or fingerprint (8, 16 or 40 hex digits, optional 0x): \"%s\"", key);
		return NULL;
	}
	return kov_policy_rule_new(words[0], action, key, line, error);
}

/* A [rules] key: a positive whole number, the rule's place in the order. */
static gboolean
kov_config_rule_number(const char *key, guint *number)
{
	guint64 n = 0;
	if (key[0] == '\0' || strspn(key, "0123456789") != strlen(key)
	    || !g_ascii_string_to_unsigned(key, 10, 1, G_MAXUINT, &n, NULL))
		return FALSE;
	*number = (guint)n;
	return TRUE;
}

typedef struct {
	guint number;
	const KovConfigEntry *entry;
	KovRule *rule;
} KovNumberedRule;

static gint
kov_config_rule_cmp(gconstpointer a, gconstpointer b)
{
	const KovNumberedRule *x = a, *y = b;
	if (x->number != y->number)
		return x->number < y->number ? -1 : 1;
	return x->entry->line < y->entry->line ? -1 : (x->entry->line > y->entry->line);
}

/* Put the [rules] in numeric order into @config; "1" and "01" are the same
 * place, and iniparser cannot see that. Takes the rules from @numbered. */
static gboolean
kov_config_order_rules(KovConfigLoad *load, KovConfig *config, GArray *numbered, GError **error)
{
	g_array_sort(numbered, kov_config_rule_cmp);
	for (guint i = 1; i < numbered->len; i++) {
		const KovNumberedRule *a = &g_array_index(numbered, KovNumberedRule, i - 1);
		const KovNumberedRule *b = &g_array_index(numbered, KovNumberedRule, i);
		if (a->number == b->number) {
			kov_config_fail(error, load, b->entry->line,
			                "key \"%s\" in [rules]: rule %u given twice, on lines %u and %u",
			                b->entry->key, b->number, a->entry->line, b->entry->line);
			return FALSE;
		}
	}
	for (guint i = 0; i < numbered->len; i++) {
		KovNumberedRule *n = &g_array_index(numbered, KovNumberedRule, i);
		g_ptr_array_add(config->rules, g_steal_pointer(&n->rule));
	}
	return TRUE;
}

static void
kov_config_numbered_rule_clear(gpointer data)
{
	KovNumberedRule *n = data;
	g_clear_pointer(&n->rule, kov_policy_rule_free);
}

/* ---- sections -------------------------------------------------------- */

typedef struct {
	const KovOption *options;
	gsize n_options;
	gpointer base;
	gboolean rules;  /* [rules]: numbered keys, each a rule */
	char *label;     /* for messages: "", " in [rules]" or " in [queue fallback]" */
} KovConfigSection;

static gboolean
kov_config_section_find(KovConfig *config, const char *name, KovConfigSection *section)
{
	if (g_str_equal(name, "koverto")) {
		*section = (KovConfigSection){ kov_config_options, G_N_ELEMENTS(kov_config_options),
		                               config, FALSE, g_strdup("") };
		return TRUE;
	}
	if (g_str_equal(name, "rules")) {
		*section = (KovConfigSection){ NULL, 0, NULL, TRUE, g_strdup(" in [rules]") };
		return TRUE;
	}
	KovQueueKind kind;
	if (g_str_has_prefix(name, "queue") && g_ascii_isspace(name[5])
	    && kov_policy_queue_parse(name + 5 + strspn(name + 5, KOV_CONFIG_WORD_SEPARATORS), &kind)) {
		*section = (KovConfigSection){
			kov_config_queue_options, G_N_ELEMENTS(kov_config_queue_options),
			&config->queue[kind], FALSE,
			g_strdup_printf(" in [queue %s]", kov_policy_queue_name(kind)) };
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
	if (entry->rule)
		return TRUE;
	if (entry->section == NULL) {
		kov_config_fail(error, load, entry->line,
		                "key \"%s\" outside any section (put it under [koverto])", entry->key);
		return FALSE;
	}
	if (!kov_config_section_find(config, entry->section, section)) {
		kov_config_fail(error, load, entry->line,
		                "unknown section [%s] (known: [koverto], [rules], [queue must-encrypt], "
		                "[queue fallback], [queue sign-only])", entry->section);
		return FALSE;
	}
	if (entry->key == NULL)
		return TRUE;
	guint number;
	if (section->rules && !kov_config_rule_number(entry->key, &number)) {
		kov_config_fail(error, load, entry->line,
		                "key \"%s\" in [rules]: not a rule number (rules are written "
		                "\"N = REGEX ACTION[,KEY]\" with N = 1, 2, 3...)", entry->key);
		return FALSE;
	}
	for (gsize k = 0; k < section->n_options && *option == NULL; k++)
		if (g_str_equal(entry->key, section->options[k].name))
			*option = &section->options[k];
	if (*option == NULL && !section->rules) {
		if (load->kuvert)
			kov_config_fail(error, load, entry->line, "unknown key \"%s\"", entry->key);
		else
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

/* The value of @entry: Kuvert's format keeps it in the entry, iniparser in
 * its dictionary. (borrowed) */
static const char *
kov_config_entry_value(const KovConfigLoad *load, const KovConfigEntry *entry)
{
	if (load->kuvert)
		return entry->value != NULL ? entry->value : "";
	g_autofree char *dict_key = g_strconcat(entry->section, ":", entry->key, NULL);
	const char *value = iniparser_getstring(load->dict, dict_key, NULL);
	return value != NULL ? value : "";
}

/* Check and store one entry's value: an option, or a rule (Kuvert's rules
 * go to @config in file order, [rules] into @numbered). */
static gboolean
kov_config_read_value(KovConfigLoad *load, KovConfig *config, const KovConfigEntry *entry,
                      const KovConfigSection *section, const KovOption *opt, GArray *numbered,
                      GError **error)
{
	const char *value = kov_config_entry_value(load, entry);
	if (entry->rule || section->rules) {
		KovRule *rule = kov_config_parse_rule(value, entry->line, error);
		if (rule == NULL) {
			if (entry->rule)
				g_prefix_error(error, "%s:%u: rule: ", load->file, entry->line);
			else
				g_prefix_error(error, "%s:%u: key \"%s\" in [rules]: ", load->file, entry->line,
				               entry->key);
			return FALSE;
		}
		if (entry->rule) {
			g_ptr_array_add(config->rules, rule);
		} else {
			KovNumberedRule n = { 0, entry, rule };
			kov_config_rule_number(entry->key, &n.number);
			g_array_append_val(numbered, n);
		}
		return TRUE;
	}
	if (!kov_config_parse_option(load, opt, section->base, value, error)) {
		g_prefix_error(error, "%s:%u: key \"%s\"%s: ", load->file, entry->line, entry->key,
		               section->label);
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
	g_autoptr(GArray) numbered = g_array_new(FALSE, TRUE, sizeof(KovNumberedRule));
	g_array_set_clear_func(numbered, kov_config_numbered_rule_clear);
	for (int pass = 0; pass < 2; pass++) {
		for (guint i = 0; i < load->entries->len; i++) {
			const KovConfigEntry *entry = g_ptr_array_index(load->entries, i);
			KovConfigSection section = { 0 };
			const KovOption *opt = NULL;

			gboolean ok = kov_config_entry_find(load, config, entry, &section, &opt, error);
			if (ok && pass == 1 && (opt != NULL || entry->rule || (section.rules && entry->key)))
				ok = kov_config_read_value(load, config, entry, &section, opt, numbered, error);
			g_free(section.label);
			if (!ok)
				return FALSE;
		}
	}
	return kov_config_order_rules(load, config, numbered, error);
}

/* The pre-pass must have placed everything iniparser read; if the two ever
 * disagree about the syntax, refuse rather than check the wrong lines. */
static gboolean
kov_config_check_placed(KovConfigLoad *load, GError **error)
{
	if (load->kuvert)
		return TRUE;
	for (ssize_t i = 0; i < load->dict->size; i++) {
		const char *key = load->dict->key[i];
		if (key != NULL && !g_hash_table_contains(load->where, key)) {
			kov_config_fail(error, load, 0, "cannot tell where \"%s\" is in the file", key);
			return FALSE;
		}
	}
	return TRUE;
}

/* The first value given for option @name, before any check. (borrowed) */
static const char *
kov_config_raw_value(const KovConfigLoad *load, const char *name)
{
	if (!load->kuvert) {
		g_autofree char *dict_key = g_strconcat("koverto:", name, NULL);
		return iniparser_getstring(load->dict, dict_key, NULL);
	}
	for (guint i = 0; i < load->entries->len; i++) {
		const KovConfigEntry *entry = g_ptr_array_index(load->entries, i);
		if (!entry->rule && g_str_equal(entry->key, name))
			return entry->value;
	}
	return NULL;
}

static gboolean
kov_config_check_mode(KovConfigLoad *load, GError **error)
{
	const char *secrets[] = { "mspass", "ma-pass" };
	gboolean holds = FALSE;
	for (gsize i = 0; i < G_N_ELEMENTS(secrets); i++) {
		const char *value = kov_config_raw_value(load, secrets[i]);
		holds = holds || (value != NULL && value[0] != '\0');
	}
	if (holds && (load->st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
		kov_config_fail(error, load, 0,
		                "holds a password but is readable by %s (mode %04o); chmod 600 it",
		                kov_config_who(load->st.st_mode, S_IRGRP, S_IROTH),
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
	if (config->mspass_from_query_secret && config->query_secret == NULL) {
		kov_config_fail(error, load, kov_config_line_of(load, "koverto:mspass-from-query-secret"),
		                "key \"mspass-from-query-secret\": needs query-secret");
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
	if (config->retry_max < config->retry_first) {
		guint line = kov_config_line_of(load, "koverto:retry-max");
		kov_config_fail(error, load, line != 0 ? line : kov_config_line_of(load, "koverto:retry-first"),
		                "key \"retry-max\" (%" G_GINT64_FORMAT "s) is shorter than retry-first (%"
		                G_GINT64_FORMAT "s)", config->retry_max, config->retry_first);
		return FALSE;
	}
	return TRUE;
}

/* ---- secrets in messages ------------------------------------------------ */

/* Is @name (lower case) the name of a secret option, or what may be one
 * misspelt? A known option is what its type says. */
static gboolean
kov_config_is_secret_name(const char *name)
{
	for (gsize k = 0; k < G_N_ELEMENTS(kov_config_options); k++)
		if (g_str_equal(name, kov_config_options[k].name))
			return kov_config_options[k].type == KOV_TYPE_SECRET;
	return strstr(name, "pass") != NULL || strstr(name, "secret") != NULL;
}

#define KOV_CONFIG_SECRET_SEPARATORS KOV_CONFIG_WORD_SEPARATORS "=:\"'"

/* If @line, whatever its syntax, names a secret option first, add what
 * follows the name to @secrets: as written, without quotes, and word by
 * word (a message may echo any one of these). */
static void
kov_config_collect_secrets(const char *line, GPtrArray *secrets)
{
	const char *s = line + strspn(line, KOV_CONFIG_WORD_SEPARATORS "\"'[");
	gsize n = strcspn(s, KOV_CONFIG_SECRET_SEPARATORS);
	g_autofree char *name = g_ascii_strdown(s, (gssize)n);
	if (n == 0 || !kov_config_is_secret_name(name))
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

/* The values of every line of the file that names a secret option, the
 * physical lines and the "\"-joined ones, as iniparser would join them. */
static GPtrArray *
kov_config_secrets(const KovConfigLoad *load)
{
	GPtrArray *secrets = g_ptr_array_new_with_free_func((GDestroyNotify)kov_config_free_line);
	GString *logical = g_string_new(NULL);
	gsize pos = 0;
	char *line;
	while ((line = kov_config_next_line(load->text, &pos)) != NULL) {
		kov_config_collect_secrets(line, secrets);
		g_strchomp(line);
		gsize len = strlen(line);
		gboolean continued = len > 0 && line[len - 1] == '\\';
		if (continued)
			line[len - 1] = '\0';
		g_string_append(logical, line);
		kov_config_free_line(line);
		if (continued)
			continue;
		kov_config_collect_secrets(logical->str, secrets);
		explicit_bzero(logical->str, logical->allocated_len);
		g_string_truncate(logical, 0);
	}
	kov_config_collect_secrets(logical->str, secrets);
	explicit_bzero(logical->str, logical->allocated_len);
	g_string_free(logical, TRUE);
	return secrets;
}

static gint
kov_config_longer_first(gconstpointer a, gconstpointer b)
{
	gsize x = strlen(*(char *const *)a), y = strlen(*(char *const *)b);
	return x > y ? -1 : x < y;
}

/* The one place every message of a failed load passes through: whatever
 * went wrong and whichever message a check built from the file's text, no
 * value of a secret option leaves in it. Compared without regard to case,
 * as names and keys are lower-cased before they are echoed; one shorter
 * than 4 characters only where it stands alone. */
static void
kov_config_redact(const KovConfigLoad *load, GError *error)
{
	if (error == NULL || load->text == NULL)
		return;
	g_autoptr(GPtrArray) secrets = kov_config_secrets(load);
	g_ptr_array_sort(secrets, kov_config_longer_first);
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

/* Was a file read in Kuvert's format meant to be INI? An option line
 * written "name = value", "name: value" or "name=value", a ";" comment
 * or a broken "[section" line says so. */
static gboolean
kov_config_looks_ini(const KovConfigLoad *load)
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
static void
kov_config_explain_format(const KovConfigLoad *load, GError *error)
{
	if (error == NULL || !load->kuvert || !kov_config_looks_ini(load))
		return;
	char *message = g_strconcat(error->message,
	                            " (read in Kuvert's format, \"name value\", because no line is a "
	                            "\"[section]\"; an INI file needs \"[koverto]\" before its options)",
	                            NULL);
	g_free(error->message);
	error->message = message;
}

/* The message goes to a terminal or a log: the file's (or its name's)
 * control characters, an escape sequence among them, are shown as \xNN,
 * never sent. */
static void
kov_config_escape_controls(GError *error)
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
	config->workers = 0;
	config->max_connections = 0;
	config->max_hops = 10;
	config->retry_first = 60;
	config->retry_max = 3600;
	config->queue_lifetime = 5 * KOV_DAY;
	config->failed_retention = 30 * KOV_DAY;
	config->mail_timeout = 600;
	config->worker_memory = 1024;
	config->dsn = FALSE;
	config->rules = g_ptr_array_new_with_free_func((GDestroyNotify)kov_policy_rule_free);
	return config;
}

gboolean
kov_config_prepare_tempdir(const char *tempdir, GError **error)
{
	g_return_val_if_fail(tempdir != NULL, FALSE);

	g_autofree char *parent = g_path_get_dirname(tempdir);
	int fd = -1;
	if (g_mkdir_with_parents(parent, 0700) == 0 && (mkdir(tempdir, 0700) == 0 || errno == EEXIST))
		fd = open(tempdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		struct stat lst;
		if (lstat(tempdir, &lst) == 0 && S_ISLNK(lst.st_mode))
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "tempdir %s: is a symbolic link; it must be a directory of ours with "
			            "mode 0700", tempdir);
		else
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "tempdir %s: %s", tempdir,
			            g_strerror(err));
		return FALSE;
	}
	struct stat st;
	gboolean ours = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid()
		&& (st.st_mode & 077) == 0;
	close(fd);
	if (!ours) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "tempdir %s: must be a directory of ours with mode 0700", tempdir);
		return FALSE;
	}
	return TRUE;
}

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

char **
kov_config_warnings(const KovConfig *config)
{
	g_return_val_if_fail(config != NULL, NULL);
	GPtrArray *out = g_ptr_array_new();
	if (config->ma_user != NULL || config->ma_pass != NULL)
		g_ptr_array_add(out, g_strdup_printf(
			"maport, ma-user and ma-pass (Kuvert's inbound SMTP listener) are set, but koverto "
			"has no listener yet: nothing listens on 127.0.0.1:%u, and mail programs that send "
			"there get \"connection refused\"; have them run koverto submit (or kuvert_submit) "
			"instead (see kuvert-migration.md)", config->maport));
	if (config->defaultaction == KOV_ACTION_NONE)
		g_ptr_array_add(out, g_strdup(
			"defaultaction is none: mail in the Kuvert queue (koverto submit without --queue, "
			"kuvert_submit) to a recipient that no rule matches is sent as it is, neither "
			"signed nor encrypted; set defaultaction (e.g. fallback) or submit with --queue"));
	g_ptr_array_add(out, NULL);
	return (char **)g_ptr_array_free(out, FALSE);
}

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
	gboolean ok = kov_config_read(&load, error)
		&& kov_config_check_writable(&load, error)
		&& kov_config_scan(&load, error)
		&& kov_config_check_mode(&load, error);
	if (ok) {
		ok = kov_config_read_entries(&load, config, error)
			&& kov_config_check_placed(&load, error)
			&& kov_config_check_all(&load, config, error);
		if (!ok && error != NULL)
			kov_config_explain_format(&load, *error);
	}
	if (!ok && error != NULL) {
		kov_config_redact(&load, *error);
		kov_config_escape_controls(*error);
	}
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
	g_clear_pointer(&config->rules, g_ptr_array_unref);
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

	const GRegex *re = config->queue[kind].allowed_senders_re;
	if (re == NULL)
		return TRUE;
	/* No address (no single From mailbox, the null sender) is no match:
	 * a restricted queue signs only for a sender it has established. */
	return address != NULL && *address != '\0' && g_regex_match(re, address, 0, NULL);
}
