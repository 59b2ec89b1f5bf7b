/* SPDX-License-Identifier: GPL-3.0-or-later */
/* koverto's logger: stderr, a log file and/or syslog. GLib's and GMime's
 * warnings are routed here too, so nothing writes behind its back. */
#pragma once
#include <glib.h>

typedef enum {
	KOV_LOG_ERR,
	KOV_LOG_WARNING,
	KOV_LOG_INFO,
	KOV_LOG_DEBUG,
} KovLogLevel;

typedef struct {
	const char *ident;     /* "koverto" */
	gboolean to_stderr;    /* foreground */
	gboolean debug;        /* -d: debug level on stderr */
	const char *logfile;   /* nullable: append here */
	const char *syslog;    /* nullable: facility name ("mail", "local0", ...) */
} KovLogOptions;

/* Open the destinations. Safe to call again (reload): closes the old ones. */
gboolean kov_log_open(const KovLogOptions *options, GError **error);
void kov_log_close(void);
gboolean kov_log_debug_enabled(void);
/* TRUE when @name is a syslog facility koverto accepts, or "yes" (mail);
 * *facility set. */
gboolean kov_log_facility_parse(const char *name, int *facility);

/* @text with every control shown escaped: C0 and DEL as \xNN, a byte that is
 * not UTF-8 as \xNN, C1 and the Unicode line separators and bidirectional
 * controls as \uNNNN. Printable text, UTF-8 included, is kept. (transfer full) */
char *kov_log_escape(const char *text);

/* TRUE for a code point that moves the cursor, ends a line or reorders
 * text when shown (C1, U+2028/9, the bidirectional controls): escaped. */
gboolean kov_log_unichar_unsafe(gunichar u);

void kov_log(KovLogLevel level, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
#define kov_log_err(...)     kov_log(KOV_LOG_ERR, __VA_ARGS__)
#define kov_log_warning(...) kov_log(KOV_LOG_WARNING, __VA_ARGS__)
#define kov_log_info(...)    kov_log(KOV_LOG_INFO, __VA_ARGS__)
#define kov_log_debug(...)   do { if (kov_log_debug_enabled()) kov_log(KOV_LOG_DEBUG, __VA_ARGS__); } while (0)
