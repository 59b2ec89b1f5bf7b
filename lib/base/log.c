/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A small logger in the manner of OpenSMTPD's log.c: one function, three
 * independent destinations. Lines carry a level word so tests and operators
 * can grep them; secrets are the callers' business never to pass in. Every
 * line passes through kov_log_escape at one place, so no byte from a mail, a
 * server or a file name can reach a terminal or a log reader as a control. */
#include "log.h"
#include "error.h"

#include <stdio.h>
#include <syslog.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct {
	char *ident;
	gboolean to_stderr;
	gboolean debug;
	gboolean journal;   /* stderr is the systemd journal: "<N>" prefixes */
	FILE *file;
	gboolean syslog_open;
} kov_log_state = { .to_stderr = TRUE };

static const struct {
	const char *name;
	int facility;
} kov_log_facilities[] = {
	{ "authpriv", LOG_AUTHPRIV }, { "cron", LOG_CRON }, { "daemon", LOG_DAEMON },
	{ "ftp", LOG_FTP }, { "kern", LOG_KERN }, { "lpr", LOG_LPR }, { "mail", LOG_MAIL },
	{ "news", LOG_NEWS }, { "syslog", LOG_SYSLOG }, { "user", LOG_USER }, { "uucp", LOG_UUCP },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
	{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

gboolean
kov_log_facility_parse(const char *name, int *facility)
{
	/* "yes": syslog with the facility of mail software, as Postfix and
	 * kuvert_submit use. */
	if (g_ascii_strcasecmp(name, "yes") == 0) {
		if (facility != NULL)
			*facility = LOG_MAIL;
		return TRUE;
	}
	for (gsize i = 0; i < G_N_ELEMENTS(kov_log_facilities); i++) {
		if (g_ascii_strcasecmp(name, kov_log_facilities[i].name) == 0) {
			if (facility != NULL)
				*facility = kov_log_facilities[i].facility;
			return TRUE;
		}
	}
	return FALSE;
}

static void
kov_log_glib_handler(const char *domain, GLogLevelFlags flags, const char *message, gpointer data)
{
	(void)data;
	KovLogLevel level = KOV_LOG_DEBUG;
	if (flags & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
		level = KOV_LOG_ERR;
	else if (flags & G_LOG_LEVEL_WARNING)
		level = KOV_LOG_WARNING;
	else if (flags & G_LOG_LEVEL_MESSAGE)
		level = KOV_LOG_INFO;
	if (level == KOV_LOG_DEBUG && !kov_log_state.debug)
		return;
	kov_log(level, "%s: %s", domain ? domain : "glib", message);
}

void
kov_log_close(void)
{
	if (kov_log_state.file != NULL)
		fclose(kov_log_state.file);
	kov_log_state.file = NULL;
	if (kov_log_state.syslog_open)
		closelog();
	kov_log_state.syslog_open = FALSE;
	g_clear_pointer(&kov_log_state.ident, g_free);
}

/* TRUE when stderr is the journal's stream: systemd sets $JOURNAL_STREAM
 * to "DEV:INODE" of the stream it connects (systemd.exec(5)); compared with
 * fstat of stderr, so a process whose stderr was redirected elsewhere, with
 * the variable inherited, writes plain lines. */
static gboolean
kov_log_stderr_is_journal(void)
{
	const char *env = g_getenv("JOURNAL_STREAM");
	struct stat st;
	char *end = NULL;

	if (env == NULL || !g_ascii_isdigit(*env) || fstat(STDERR_FILENO, &st) != 0)
		return FALSE;
	guint64 dev = g_ascii_strtoull(env, &end, 10);
	if (*end != ':' || !g_ascii_isdigit(end[1]))
		return FALSE;
	guint64 ino = g_ascii_strtoull(end + 1, &end, 10);
	return *end == '\0' && dev == (guint64)st.st_dev && ino == (guint64)st.st_ino;
}

gboolean
kov_log_open(const KovLogOptions *options, GError **error)
{
	int facility = LOG_MAIL;
	FILE *file = NULL;

	if (options->syslog != NULL && *options->syslog != '\0'
	    && !kov_log_facility_parse(options->syslog, &facility)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "unknown syslog facility \"%s\"",
		            options->syslog);
		return FALSE;
	}
	if (options->logfile != NULL && *options->logfile != '\0') {
		file = fopen(options->logfile, "ae");
		if (file == NULL) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "cannot open log file %s: %s",
			            options->logfile, g_strerror(errno));
			return FALSE;
		}
		setvbuf(file, NULL, _IOLBF, 0);
	}
	kov_log_close();
	tzset();
	kov_log_state.ident = g_strdup(options->ident ? options->ident : "koverto");
	kov_log_state.to_stderr = options->to_stderr;
	kov_log_state.debug = options->debug;
	kov_log_state.journal = options->to_stderr && kov_log_stderr_is_journal();
	kov_log_state.file = file;
	if (options->syslog != NULL && *options->syslog != '\0') {
		openlog(kov_log_state.ident, LOG_PID | LOG_NDELAY, facility);
		kov_log_state.syslog_open = TRUE;
	}
	g_log_set_default_handler(kov_log_glib_handler, NULL);
	return TRUE;
}

gboolean
kov_log_debug_enabled(void)
{
	return kov_log_state.debug;
}

static const char *
kov_log_level_word(KovLogLevel level)
{
	switch (level) {
	case KOV_LOG_ERR:     return "error";
	case KOV_LOG_WARNING: return "warning";
	case KOV_LOG_INFO:    return "info";
	case KOV_LOG_DEBUG:   return "debug";
	}
	return "info";
}

/* The log file's time stamp in local time. libc reads the zone once (at
 * kov_log_open's tzset); GLib's g_date_time_new_now_local would re-read
 * /etc/localtime for every line when TZ is unset, and a worker writes
 * several lines per mail. A changed zone is picked up at the next start. */
static void
kov_log_stamp(char *buf, gsize size)
{
	time_t now = time(NULL);
	struct tm tm;
	if (localtime_r(&now, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%S%z", &tm) == 0)
		g_strlcpy(buf, "-", size);
}

/* Code points that move the cursor, end a line or reorder text when shown:
 * C1 controls, the Unicode line and paragraph separators, and the
 * directional marks, embeddings, overrides and isolates. */
gboolean
kov_log_unichar_unsafe(gunichar u)
{
	return (u >= 0x80 && u <= 0x9f) || u == 0x061c || u == 0x200e || u == 0x200f
	       || (u >= 0x2028 && u <= 0x202e) || (u >= 0x2066 && u <= 0x2069);
}

char *
kov_log_escape(const char *text)
{
	g_return_val_if_fail(text != NULL, NULL);
	const char *p = text;
	const char *end = text + strlen(text);
	GString *out = g_string_sized_new((gsize)(end - p) + 16);

	while (p < end) {
		guchar c = (guchar)*p;
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				g_string_append_printf(out, "\\x%02x", c);
			else
				g_string_append_c(out, (char)c);
			p++;
			continue;
		}
		gunichar u = g_utf8_get_char_validated(p, end - p);
		if (u == (gunichar)-1 || u == (gunichar)-2) {
			/* Not UTF-8: the byte alone (a raw 0x9b is an 8-bit CSI). */
			g_string_append_printf(out, "\\x%02x", c);
			p++;
			continue;
		}
		const char *next = g_utf8_next_char(p);
		if (kov_log_unichar_unsafe(u))
			g_string_append_printf(out, "\\u%04x", (unsigned)u);
		else
			g_string_append_len(out, p, next - p);
		p = next;
	}
	return g_string_free(out, FALSE);
}

void
kov_log(KovLogLevel level, const char *fmt, ...)
{
	static const int priority[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	va_list ap;

	if (level == KOV_LOG_DEBUG && !kov_log_state.debug)
		return;
	va_start(ap, fmt);
	g_autofree char *raw = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	/* One event, one line, no controls: a CR or LF from a foreign message
	 * must not forge a second entry, nor an ESC sequence rewrite the screen. */
	g_autofree char *text = kov_log_escape(raw);

	const char *ident = kov_log_state.ident ? kov_log_state.ident : "koverto";
	if (kov_log_state.to_stderr && kov_log_state.journal)
		/* sd-daemon(3)'s prefix: the journal takes the priority from it
		 * and adds its own time and the program's name. */
		fprintf(stderr, "<%d>%s: %s\n", priority[level], kov_log_level_word(level), text);
	else if (kov_log_state.to_stderr)
		fprintf(stderr, "%s: %s: %s\n", ident, kov_log_level_word(level), text);
	if (kov_log_state.file != NULL) {
		char stamp[64];
		kov_log_stamp(stamp, sizeof stamp);
		fprintf(kov_log_state.file, "%s %s[%d]: %s: %s\n", stamp, ident, (int)getpid(),
		        kov_log_level_word(level), text);
	}
	if (kov_log_state.syslog_open)
		syslog(priority[level], "%s: %s", kov_log_level_word(level), text);
}
