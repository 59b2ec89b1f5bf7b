/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What the files of lib/config share while one file is loaded: the option
 * types, the entries the pre-pass finds (each with its line), the state of
 * one load, and config.c's helpers for them. Internal to lib/config: the
 * rest of koverto sees only config.h. */
#pragma once
#include "config.h"
#include <iniparser.h>

#include <sys/stat.h>

#define KOV_CONFIG_WORD_SEPARATORS " \t\r\n\v\f"
#define KOV_DAY (24 * 3600)

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
	KOV_TYPE_SIZE,     /* octets: digits with an optional k, M or G (1024-based), min..max (guint64) */
	KOV_TYPE_ADDRESSES,/* "IP:PORT" / "[IPV6]:PORT" list (char **, normalized); empty: none */
	KOV_TYPE_CRYPT,    /* a crypt(3) hash of a strong method; secret-ish, never echoed */
	KOV_TYPE_SHA256,   /* a SHA-256 fingerprint, hex with optional colons; stored 64 lower-case hex */
	KOV_TYPE_KEYDIR,   /* PATH naming a directory koverto may read; empty: "" (off here) */
} KovOptionType;

typedef struct {
	const char *name;
	KovOptionType type;
	gsize offset;      /* of the field in KovConfig, KovQueueConfig, KovListenConfig or KovClientConfig */
	gsize aux_offset;  /* KOV_TYPE_REGEX: the compiled GRegex field; KOV_TYPE_BOOL: a
	                    * gboolean set TRUE when the option is given (0: none) */
	guint64 min, max;  /* KOV_TYPE_COUNT, KOV_TYPE_DURATION */
} KovOption;

#define KOV_FIELD(base, offset, type) ((type *)(void *)((char *)(base) + (offset)))

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

/* Overwrite @s (nullable) with zeros: it may hold a password. */
void kov_config_wipe(char *s);
/* Free what @load holds, wiping the text and values first. */
void kov_config_load_clear(KovConfigLoad *load);
/* KOV_ERROR_CONFIG "FILE:LINE: what" (@line 0: "FILE: what"). */
G_GNUC_PRINTF(4, 5)
void kov_config_fail(GError **error, const KovConfigLoad *load, guint line, const char *fmt, ...);
/* The first line of iniparser's dictionary key @dict_key; 0: none. */
guint kov_config_line_of(const KovConfigLoad *load, const char *dict_key);
/* Record @entry (transfer full) and whether its section:key came before. */
void kov_config_add_entry(KovConfigLoad *load, KovConfigEntry *entry);
/* The next line of @text from *@pos, without its "\n" (transfer full,
 * NULL at the end; free with kov_config_free_line). */
char *kov_config_next_line(const GString *text, gsize *pos);
void kov_config_free_line(char *line);
/* Look up the passwd entry of the real user into @load->home and ->user
 * (once). */
gboolean kov_config_passwd(KovConfigLoad *load, GError **error);
/* The [koverto] option called @name (lower case), or NULL. */
const KovOption *kov_config_option_find(const char *name);
