/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of log.c: the escaping every logged line goes through, and the
 * three destinations writing it (a real log file, stderr through a pipe).
 * syslog shares the one escaped text; it is not read back here. */
#include "log.h"
#include "fixture.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <sys/stat.h>
#include <unistd.h>

static void
check_escape(const char *in, const char *want)
{
	g_autofree char *got = kov_log_escape(in);
	g_assert_cmpstr(got, ==, want);
}

static void
test_escape_c0_del(void)
{
	check_escape("plain text, ok", "plain text, ok");
	check_escape("", "");
	check_escape("\x1b[2J\x1b]0;owned\x07", "\\x1b[2J\\x1b]0;owned\\x07");
	check_escape("a\r\nb\tc\x7f", "a\\x0d\\x0ab\\x09c\\x7f");
	check_escape("\x01\x08\x1f", "\\x01\\x08\\x1f");
}

static void
test_escape_utf8(void)
{
	/* Printable UTF-8 stays readable. */
	check_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92");
	/* C1 controls as code points: U+009B is CSI, U+0085 NEL. */
	check_escape("\xc2\x9b" "31m\xc2\x85", "\\u009b31m\\u0085");
	/* The line separators and bidirectional overrides and isolates. */
	check_escape("\xe2\x80\xa8\xe2\x80\xae\xe2\x81\xa6x", "\\u2028\\u202e\\u2066x");
	/* Not UTF-8: each stray byte, a raw 8-bit CSI included. */
	check_escape("\x9b" "31m \xff\xfe", "\\x9b31m \\xff\\xfe");
	/* A truncated sequence at the end, an overlong ESC (C0 80 9B). */
	check_escape("x\xe2\x82", "x\\xe2\\x82");
	check_escape("\xc0\x9b", "\\xc0\\x9b");
	/* A surrogate encoded in UTF-8 is not UTF-8. */
	check_escape("\xed\xa0\x80", "\\xed\\xa0\\x80");
}

/* Every byte of every line the logger wrote is printable ASCII or UTF-8
 * other than a control, and each event is one line. */
static void
assert_clean(const char *text, guint lines)
{
	guint n = 0;
	for (const guchar *p = (const guchar *)text; *p != '\0'; p++) {
		if (*p == '\n') {
			n++;
			continue;
		}
		g_assert_true(*p >= 0x20 && *p != 0x7f);
	}
	g_assert_true(g_utf8_validate(text, -1, NULL));
	g_assert_cmpuint(n, ==, lines);
}

static void
test_destinations(void)
{
	char dir[] = "/tmp/kovlogXXXXXX";
	g_assert_nonnull(g_mkdtemp(dir));
	g_autofree char *file = g_build_filename(dir, "log", NULL);
	g_autofree char *err = g_build_filename(dir, "stderr", NULL);

	int saved = dup(STDERR_FILENO);
	int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(dup2(fd, STDERR_FILENO), ==, STDERR_FILENO);
	close(fd);

	KovLogOptions options = { "koverto", TRUE, FALSE, file, NULL };
	g_assert_true(kov_log_open(&options, NULL));
	kov_log_err("deliver: 550 \x1b[31mred\x1b[0m\r\nid=forged: sent \xc2\x9b");
	kov_log_info("watch: new/%s", "1.\x1b]0;title\x07.host\xff");
	/* A GLib message is routed through the same logger (warnings are fatal under GTest). */
	g_log("test", G_LOG_LEVEL_MESSAGE, "glib \x1b[2J");
	kov_log_close();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);

	g_autofree char *logged = kov_test_file_read(file, NULL);
	g_autofree char *errors = kov_test_file_read(err, NULL);
	assert_clean(logged, 3);
	assert_clean(errors, 3);
	g_assert_nonnull(strstr(logged, ": error: deliver: 550 \\x1b[31mred\\x1b[0m\\x0d\\x0aid=forged: sent \\u009b\n"));
	g_assert_nonnull(strstr(logged, ": info: watch: new/1.\\x1b]0;title\\x07.host\\xff\n"));
	g_assert_nonnull(strstr(logged, ": info: test: glib \\x1b[2J\n"));
	g_assert_nonnull(strstr(errors, "koverto: error: deliver: 550 \\x1b[31mred"));
	g_assert_nonnull(strstr(errors, "koverto: info: test: glib \\x1b[2J\n"));
	unlink(file);
	unlink(err);
	rmdir(dir);
}

/* Log to stderr redirected to @err with $JOURNAL_STREAM set to @stream;
 * returns what stderr got. (transfer full) */
static char *
log_to_stderr(const char *err, const char *stream)
{
	int saved = dup(STDERR_FILENO);
	int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(dup2(fd, STDERR_FILENO), ==, STDERR_FILENO);
	close(fd);
	if (stream == NULL) {
		struct stat st;
		g_assert_cmpint(fstat(STDERR_FILENO, &st), ==, 0);
		g_autofree char *mine = g_strdup_printf("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT,
		                                        (guint64)st.st_dev, (guint64)st.st_ino);
		g_setenv("JOURNAL_STREAM", mine, TRUE);
	} else {
		g_setenv("JOURNAL_STREAM", stream, TRUE);
	}

	KovLogOptions options = { "koverto", TRUE, TRUE, NULL, NULL };
	g_assert_true(kov_log_open(&options, NULL));
	kov_log_err("e \n<6>koverto: info: forged");
	kov_log_warning("w");
	kov_log_info("i");
	kov_log_debug("d");
	kov_log_close();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	g_unsetenv("JOURNAL_STREAM");
	return kov_test_file_read(err, NULL);
}

/* stderr is the journal's stream ($JOURNAL_STREAM is its dev:inode): each
 * line starts with its sd-daemon(3) priority, so journalctl -p works; any
 * other value, or a stderr that is some other file, gets plain lines. */
static void
test_journal(void)
{
	char dir[] = "/tmp/kovlogXXXXXX";
	g_assert_nonnull(g_mkdtemp(dir));
	g_autofree char *err = g_build_filename(dir, "stderr", NULL);

	g_autofree char *journal = log_to_stderr(err, NULL);
	g_assert_cmpstr(journal, ==, "<3>error: e \\x0a<6>koverto: info: forged\n<4>warning: w\n<6>info: i\n<7>debug: d\n");
	static const char *const others[] = { "1:2", "", "garbage", "0:0x", ":" };
	for (gsize i = 0; i < G_N_ELEMENTS(others); i++) {
		g_autofree char *plain = log_to_stderr(err, others[i]);
		g_assert_cmpstr(plain, ==, "koverto: error: e \\x0a<6>koverto: info: forged\nkoverto: warning: w\n"
		                           "koverto: info: i\nkoverto: debug: d\n");
	}
	unlink(err);
	rmdir(dir);
}

/* Facilities by name; "yes" is mail's, as Postfix logs; anything else no. */
static void
test_facility(void)
{
	int f = -1;
	g_assert_true(kov_log_facility_parse("yes", &f));
	g_assert_cmpint(f, ==, LOG_MAIL);
	g_assert_true(kov_log_facility_parse("LOCAL3", &f));
	g_assert_cmpint(f, ==, LOG_LOCAL3);
	g_assert_false(kov_log_facility_parse("no", &f));
	g_assert_false(kov_log_facility_parse("mail ", &f));
	g_assert_false(kov_log_facility_parse("", &f));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/log/escape/c0-del", test_escape_c0_del);
	g_test_add_func("/log/escape/utf8", test_escape_utf8);
	g_test_add_func("/log/destinations", test_destinations);
	g_test_add_func("/log/journal", test_journal);
	g_test_add_func("/log/facility", test_facility);
	return g_test_run();
}
