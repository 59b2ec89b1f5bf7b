/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of delivery (deliver.c, through it smtp.c and msp.c) against real
 * parts: t/sink.py (aiosmtpd) on loopback, started per test on port 0 with
 * the replies it should give, and a fake sendmail script for msp. Each
 * test asserts on what the sink stored (the envelope and the bytes), not
 * only on what deliver.c says. The reply parser alone: test-smtp-reply.c. */
#include "deliver.h"
#include "error.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SINK_PYTHON "/usr/bin/python3"
#define WAIT_SECONDS 20

static char *cert_dir;   /* cert.pem, key.pem from t/mkcert */

typedef struct {
	char *dir;       /* /tmp/kovXXXXXX: port file, replies */
	char *mail;      /* --dir of the sink */
	GPid pid;
	guint port;
} Sink;

/* ---- small helpers ---- */

static void
rm_rf(const char *path)
{
	if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
		g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
		const char *name;
		while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
			g_autofree char *child = g_build_filename(path, name, NULL);
			rm_rf(child);
		}
		rmdir(path);
	} else {
		unlink(path);
	}
}

static char *
make_tmpdir(void)
{
	char *dir = g_strdup("/tmp/kovXXXXXX");
	g_assert_nonnull(g_mkdtemp(dir));
	return dir;
}

static gboolean
wait_for_file(const char *path)
{
	for (int i = 0; i < WAIT_SECONDS * 50; i++) {
		if (g_file_test(path, G_FILE_TEST_EXISTS))
			return TRUE;
		g_usleep(20000);
	}
	return FALSE;
}

static char *
slurp(const char *path, gsize *len)
{
	char *data = NULL;
	g_autoptr(GError) error = NULL;
	g_file_get_contents(path, &data, len, &error);
	g_assert_no_error(error);
	return data;
}

static void
write_file(const char *path, const char *data, gssize len)
{
	g_autoptr(GError) error = NULL;
	g_file_set_contents(path, data, len, &error);
	g_assert_no_error(error);
}

/* A mail on disk, opened read-only, as the caller of kov_deliver_send has it. */
static int
mail_fd(const char *dir, const char *data, gsize len)
{
	g_autofree char *path = g_build_filename(dir, "input.eml", NULL);
	write_file(path, data, (gssize)len);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	g_assert_cmpint(fd, >=, 0);
	return fd;
}

static guint
count_lines_with(const char *path, const char *needle)
{
	g_autofree char *text = NULL;
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return 0;
	guint count = 0;
	for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		count++;
	return count;
}

static guint
count_suffix(const char *dir, const char *suffix)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *name;
	guint count = 0;
	while (d != NULL && (name = g_dir_read_name(d)) != NULL)
		if (g_str_has_suffix(name, suffix))
			count++;
	return count;
}

/* ---- the sink ---- */

/* If a failed assertion kills the test, its sinks must not live on. */
static void
die_with_parent(gpointer data)
{
	(void)data;
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

/* Start t/sink.py with @extra arguments; @rules (nullable) become its
 * --replies file, which the test may rewrite later (sink_set_replies). */
static void
sink_start_full(Sink *sink, const char *rules, const char *const *extra)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;

	sink->dir = make_tmpdir();
	sink->mail = g_build_filename(sink->dir, "mail", NULL);
	g_assert_cmpint(mkdir(sink->mail, 0700), ==, 0);
	g_autofree char *port_file = g_build_filename(sink->dir, "port", NULL);

	g_ptr_array_add(argv, g_strdup(SINK_PYTHON));
	g_ptr_array_add(argv, g_test_build_filename(G_TEST_DIST, "sink.py", NULL));
	g_ptr_array_add(argv, g_strdup("--dir"));
	g_ptr_array_add(argv, g_strdup(sink->mail));
	g_ptr_array_add(argv, g_strdup("--port-file"));
	g_ptr_array_add(argv, g_strdup(port_file));
	if (rules != NULL) {
		g_autofree char *path = g_build_filename(sink->dir, "replies", NULL);
		write_file(path, rules, -1);
		g_ptr_array_add(argv, g_strdup("--replies"));
		g_ptr_array_add(argv, g_steal_pointer(&path));
	}
	for (gsize i = 0; extra != NULL && extra[i] != NULL; i++)
		g_ptr_array_add(argv, g_strdup(extra[i]));
	g_ptr_array_add(argv, NULL);
	g_assert_true(g_spawn_async(NULL, (char **)argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
	                            die_with_parent, NULL, &sink->pid, &error));
	g_assert_no_error(error);

	for (int i = 0; i < WAIT_SECONDS * 50; i++) {
		int status;
		if (g_file_test(port_file, G_FILE_TEST_EXISTS)) {
			g_autofree char *text = slurp(port_file, NULL);
			sink->port = (guint)g_ascii_strtoull(text, NULL, 10);
			g_assert_cmpuint(sink->port, >, 0);
			return;
		}
		if (waitpid(sink->pid, &status, WNOHANG) == sink->pid) {
			sink->pid = 0;
			g_error("sink.py exited before listening (status %d)", status);
		}
		g_usleep(20000);
	}
	g_error("sink.py did not write its port file in %d s", WAIT_SECONDS);
}

static void
sink_start(Sink *sink, const char *const *extra)
{
	sink_start_full(sink, NULL, extra);
}

static void
sink_stop(Sink *sink)
{
	if (sink->pid > 0) {
		int status = 0;
		kill(sink->pid, SIGTERM);
		g_assert_cmpint(waitpid(sink->pid, &status, 0), ==, sink->pid);
		g_spawn_close_pid(sink->pid);
		/* A sink that crashed would make every test after it meaningless. */
		g_assert_true(WIFEXITED(status));
		g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	}
	rm_rf(sink->dir);
	g_free(sink->dir);
	g_free(sink->mail);
	memset(sink, 0, sizeof *sink);
}

static char *
sink_path(const Sink *sink, const char *name)
{
	return g_build_filename(sink->mail, name, NULL);
}

/* The .json of message @n, after waiting for it. */
static char *
sink_json(const Sink *sink, guint n)
{
	g_autofree char *name = g_strdup_printf("%06u.json", n);
	g_autofree char *path = sink_path(sink, name);
	g_assert_true(wait_for_file(path));
	return slurp(path, NULL);
}

static void
assert_contains(const char *haystack, const char *needle)
{
	if (strstr(haystack, needle) == NULL)
		g_error("expected \"%s\" in:\n%s", needle, haystack);
}

static void
assert_lacks(const char *haystack, const char *needle)
{
	if (strstr(haystack, needle) != NULL)
		g_error("did not expect \"%s\" in:\n%s", needle, haystack);
}

/* ---- configuration by hand (config.c is not ours) ---- */

static KovConfig *
config_smtp(const char *server, guint port)
{
	KovConfig *config = g_new0(KovConfig, 1);
	config->msserver = g_strdup(server);
	config->msport = port;
	config->ssl = KOV_SSL_NONE;
	return config;
}

static KovConfig *
config_msp(const char *const *argv)
{
	KovConfig *config = g_new0(KovConfig, 1);
	config->msp = g_strdupv((char **)argv);
	return config;
}

static void
config_free(KovConfig *config)
{
	g_free(config->msserver);
	g_free(config->ssl_ca);
	g_free(config->ssl_cert);
	g_free(config->ssl_key);
	g_free(config->msuser);
	g_free(config->mspass);
	g_strfreev(config->msp);
	g_free(config);
}

static KovDeliver *
deliver_new_ok(const KovConfig *config)
{
	g_autoptr(GError) error = NULL;
	KovDeliver *deliver = kov_deliver_new(config, &error);
	g_assert_no_error(error);
	g_assert_nonnull(deliver);
	return deliver;
}

static void
results_clear(KovRcptResult *results, gsize n)
{
	for (gsize i = 0; i < n; i++)
		kov_rcpt_result_clear(&results[i]);
}

static const char mail_crlf[] =
	"From: Alice <alice@example.org>\r\n"
	"To: Bob <bob@example.org>\r\n"
	"Subject: test\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: 8bit\r\n"
	"\r\n"
	"Hello Bob,\r\n"
	".a line that starts with a dot\r\n"
	"..and two dots\r\n"
	".\r\n"
	"Gr\xc3\xbc\xc3\x9f""e, 8-bit\r\n";

/* Send mail_crlf through a fresh KovDeliver from @config. */
static gboolean
send_once(const KovConfig *config, const char *sender, const char *const *rcpts, gsize n,
          KovRcptResult *results, GError **error)
{
	g_autofree char *dir = make_tmpdir();
	g_autoptr(KovDeliver) deliver = deliver_new_ok(config);
	int fd = mail_fd(dir, mail_crlf, sizeof mail_crlf - 1);
	gboolean ok = kov_deliver_send(deliver, sender, rcpts, n, fd, results, error);
	close(fd);
	rm_rf(dir);
	return ok;
}

/* ---- SMTP ---- */

static void
test_plain(void)
{
	Sink sink = { 0 };
	sink_start(&sink, NULL);
	g_autoptr(GError) error = NULL;
	KovConfig *config = config_smtp("127.0.0.1", sink.port);
	g_autoptr(KovDeliver) deliver = deliver_new_ok(config);
	const char *rcpts[] = { "bob@example.org", "carol@example.net" };
	KovRcptResult results[2] = { 0 };
	g_autofree char *dir = make_tmpdir();
	int fd = mail_fd(dir, mail_crlf, sizeof mail_crlf - 1);

	g_assert_true(kov_deliver_wants_crlf(deliver));
	g_assert_true(kov_deliver_send(deliver, "alice@example.org", rcpts, 2, fd, results, &error));
	g_assert_no_error(error);
	for (int i = 0; i < 2; i++) {
		g_assert_cmpint(results[i].status, ==, KOV_RCPT_DELIVERED);
		g_assert_cmpint(results[i].code, ==, 250);
		assert_contains(results[i].reply, "queued as 000001");
	}
	g_autofree char *json = sink_json(&sink, 1);
	assert_contains(json, "\"mail_from\": \"alice@example.org\"");
	assert_contains(json, "\"rcpt_tos\": [\"bob@example.org\", \"carol@example.net\"]");
	assert_contains(json, "\"tls\": false");
	assert_contains(json, "\"auth\": null");

	/* The bytes arrive as sent: CRLF kept, dot-stuffing undone by the server. */
	gsize len;
	g_autofree char *eml_path = sink_path(&sink, "000001.eml");
	g_autofree char *eml = slurp(eml_path, &len);
	g_assert_cmpmem(eml, len, mail_crlf, sizeof mail_crlf - 1);

	results_clear(results, 2);
	close(fd);
	rm_rf(dir);
	g_clear_pointer(&deliver, kov_deliver_free);
	config_free(config);
	sink_stop(&sink);
}

static void
test_null_sender(void)
{
	Sink sink = { 0 };
	sink_start(&sink, NULL);
	g_autoptr(GError) error = NULL;
	KovConfig *config = config_smtp("localhost", sink.port);
	const char *rcpts[] = { "bob@example.org" };
	KovRcptResult results[1] = { 0 };

	g_assert_true(send_once(config, "", rcpts, 1, results, &error));
	g_assert_no_error(error);
	g_autofree char *json = sink_json(&sink, 1);
	assert_contains(json, "\"mail_from\": \"\"");
	g_autofree char *log = sink_path(&sink, "log");
	g_assert_cmpuint(count_lines_with(log, "MAIL FROM:<> "), ==, 1);

	results_clear(results, 1);
	config_free(config);
	sink_stop(&sink);
}

static void
test_reuse(void)
{
	Sink sink = { 0 };
	sink_start(&sink, NULL);
	KovConfig *config = config_smtp("127.0.0.1", sink.port);
	g_autoptr(KovDeliver) deliver = deliver_new_ok(config);
	g_autofree char *dir = make_tmpdir();
	int fd = mail_fd(dir, mail_crlf, sizeof mail_crlf - 1);

	for (int round = 0; round < 2; round++) {
		g_autoptr(GError) error = NULL;
		const char *rcpts[] = { round == 0 ? "bob@example.org" : "carol@example.net" };
		KovRcptResult results[1] = { 0 };
		g_assert_true(kov_deliver_send(deliver, "alice@example.org", rcpts, 1, fd, results, &error));
		g_assert_no_error(error);
		results_clear(results, 1);
	}
	g_autofree char *second = sink_json(&sink, 2);
	assert_contains(second, "\"rcpt_tos\": [\"carol@example.net\"]");
	g_autofree char *log = sink_path(&sink, "log");
	g_assert_cmpuint(count_lines_with(log, " CONNECT "), ==, 1);
	g_assert_cmpuint(count_lines_with(log, " DATA -> 250"), ==, 2);

	/* Freeing says goodbye properly on the open connection. */
	g_clear_pointer(&deliver, kov_deliver_free);
	for (int i = 0; i < WAIT_SECONDS * 50 && count_lines_with(log, " DISCONNECT") == 0; i++)
		g_usleep(20000);
	g_assert_cmpuint(count_lines_with(log, " QUIT -> 221"), ==, 1);

	close(fd);
	rm_rf(dir);
	config_free(config);
	sink_stop(&sink);
}

static void
sink_set_replies(const Sink *sink, const char *rules)
{
	g_autofree char *path = g_build_filename(sink->dir, "replies", NULL);
	g_autofree char *tmp = g_build_filename(sink->dir, "replies.tmp", NULL);
	write_file(tmp, rules, -1);
	g_assert_cmpint(rename(tmp, path), ==, 0);   /* the sink never reads half a file */
}

static void
test_rcpt_451(void)
{
	Sink sink = { 0 };
	sink_start_full(&sink, "RCPT carol@example.net 451 4.7.1 try later\n", NULL);
	g_autoptr(GError) error = NULL;
	KovConfig *config = config_smtp("127.0.0.1", sink.port);
	const char *rcpts[] = { "bob@example.org", "Carol@Example.NET", "dave@example.com" };
	KovRcptResult results[3] = { 0 };

	g_assert_false(send_once(config, "alice@example.org", rcpts, 3, results, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL);
	assert_contains(error->message, "Carol@Example.NET");
	g_assert_cmpint(results[0].status, ==, KOV_RCPT_DELIVERED);
	g_assert_cmpint(results[1].status, ==, KOV_RCPT_DEFERRED);
	g_assert_cmpint(results[1].code, ==, 451);
	g_assert_cmpstr(results[1].reply, ==, "451 4.7.1 try later");
	g_assert_cmpint(results[2].status, ==, KOV_RCPT_DELIVERED);
	g_assert_cmpint(results[2].code, ==, 250);
	g_autofree char *json = sink_json(&sink, 1);
	assert_contains(json, "\"rcpt_tos\": [\"bob@example.org\", \"dave@example.com\"]");

	results_clear(results, 3);
	config_free(config);
	sink_stop(&sink);
}

static void
test_rcpt_550(void)
{
	Sink sink = { 0 };
	sink_start_full(&sink, "RCPT nobody@example.org 550 5.1.1 no such user\n", NULL);
	g_autoptr(GError) error = NULL;
	KovConfig *config = config_smtp("127.0.0.1", sink.port);
	const char *rcpts[] = { "nobody@example.org", "bob@example.org" };
	KovRcptResult results[2] = { 0 };

	g_assert_false(send_once(config, "alice@example.org", rcpts, 2, results, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL);
	g_assert_cmpint(results[0].status, ==, KOV_RCPT_FAILED);
	g_assert_cmpint(results[0].code, ==, 550);
	assert_contains(results[0].reply, "no such user");
	g_assert_cmpint(results[1].status, ==, KOV_RCPT_DELIVERED);
	g_autofree char *json = sink_json(&sink, 1);
	assert_contains(json, "\"rcpt_tos\": [\"bob@example.org\"]");

	results_clear(results, 2);
	config_free(config);
	sink_stop(&sink);
}

/* A reply's control characters never reach the result (which goes on
 * into the state, the .reason file and reports): escaped at the source. */
static void
test_reply_controls(void)
{
	Sink sink = { 0 };
	sink_start_full(&sink, "RCPT nobody@example.org 550 5.1.1 \x1b[2J\x1b]0;x\x07 \x7f no\n", NULL);
	g_autoptr(GError) error = NULL;
	KovConfig *config = config_smtp("127.0.0.1", sink.port);
	const char *rcpts[] = { "nobody@example.org" };
	KovRcptResult results[1] = { 0 };

	g_assert_false(send_once(config, "alice@example.org", rcpts, 1, results, &error));
	g_assert_cmpint(results[0].status, ==, KOV_RCPT_FAILED);
	g_assert_cmpstr(results[0].reply, ==, "550 5.1.1 \\x1b[2J\\x1b]0;x\\x07 \\x7f no");
	assert_lacks(error->message, "\x1b");

	results_clear(results, 1);
	config_free(config);
	sink_stop(&sink);
}

static void
test_all_rcpts_refused_then_reuse(void)
{
	Sink sink = { 0 };
	sink_start_full(&sink, "RCPT * 550 5.7.1 relaying denied\n", NULL);
	KovConfig *config = config_smtp("127.0.0.1", sink.port);
	g_autoptr(KovDeliver) deliver = deliver_new_ok(config);
	g_autofree char *dir = make_tmpdir();
	int fd = mail_fd(dir, mail_crlf, sizeof mail_crlf - 1);
	const char *rcpts[] = { "bob@example.org", "carol@example.net" };
	KovRcptResult results[2] = { 0 };
	g_autoptr(GError) error = NULL;

	g_assert_false(kov_deliver_send(deliver, "alice@example.org", rcpts, 2, fd, results, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL);
	g_assert_cmpint(results[0].status, ==, KOV_RCPT_FAILED);
	g_assert_cmpint(results[1].status, ==, KOV_RCPT_FAILED);
	g_assert_cmpint(results[1].code, ==, 550);
	results_clear(results, 2);
	g_clear_error(&error);

	/* The same handle must recover for the next mail. */
	sink_set_replies(&sink, "");
	g_assert_true(kov_deliver_send(deliver, "alice@example.org", rcpts, 2, fd, results, &error));
	g_assert_no_error(error);
	g_autofree char *json = sink_json(&sink, 1);
	assert_contains(json, "\"rcpt_tos\": [\"bob@example.org\", \"carol@example.net\"]");
	g_autofree char *eml = sink_path(&sink, "000002.eml");
	g_assert_false(g_file_test(eml, G_FILE_TEST_EXISTS));

	results_clear(results, 2);
	close(fd);
	rm_rf(dir);
	g_clear_pointer(&deliver, kov_deliver_free);
	config_free(config);
	sink_stop(&sink);
}

static void
test_data_554(void)
{
	Sink sink = { 0 };
	sink_start_full(&sink, "DATA * 554 5.6.0 no thanks\n", NULL);
	g_autoptr(GError) error = NULL;
	KovConfig *config = config_smtp("127.0.0.1", sink.port);
	const char *rcpts[] = { "bob@example.org", "carol@example.net" };
	KovRcptResult results[2] = { 0 };

	g_assert_false(send_once(config, "alice@example.org", rcpts, 2, results, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL);
	for (int i = 0; i < 2; i++) {
		g_assert_cmpint(results[i].status, ==, KOV_RCPT_FAILED);
		g_assert_cmpint(results[i].code, ==, 554);
		g_assert_cmpstr(results[i].reply, ==, "554 5.6.0 no thanks");
	}
	g_assert_cmpuint(count_suffix(sink.mail, ".eml"), ==, 0);

	results_clear(results, 2);
	config_free(config);
	sink_stop(&sink);
}

static void
test_data_452_and_552(void)
{
	Sink sink = { 0 };
	sink_start_full(&sink, "DATA * 452x1 4.3.1 disk full\nDATA * 552x1 5.3.4 too big\n", NULL);
	KovConfig *config = config_smtp("127.0.0.1", sink.port);
	const char *rcpts[] = { "bob@example.org" };
	KovRcptResult results[1] = { 0 };
	g_autoptr(GError) error = NULL;

	g_assert_false(send_once(config, "alice@example.org", rcpts, 1, results, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL);
	g_assert_cmpint(results[0].status, ==, KOV_RCPT_DEFERRED);
	g_assert_cmpint(results[0].code, ==, 452);
	results_clear(results, 1);
	g_clear_error(&error);

	g_assert_false(send_once(config, "alice@example.org", rcpts, 1, results, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL);
	g_assert_cmpint(results[0].status, ==, KOV_RCPT_FAILED);
	g_assert_cmpint(results[0].code, ==, 552);
	results_clear(results, 1);
	g_clear_error(&error);

	/* Both rules used up: the third try goes through. */
	g_assert_true(send_once(config, "alice@example.org", rcpts, 1, results, &error));
	g_assert_no_error(error);
	g_autofree char *json = sink_json(&sink, 1);
	assert_contains(json, "\"rcpt_tos\": [\"bob@example.org\"]");

	results_clear(results, 1);
	config_free(config);
	sink_stop(&sink);
}

static void
test_mail_421(void)
{
	Sink sink = { 0 };
	sink_start_full(&sink, "MAIL * 421x1 4.3.2 shutting down\n", NULL);
	KovConfig *config = config_smtp("127.0.0.1", sink.port);
	g_autoptr(KovDeliver) deliver = deliver_new_ok(config);
	g_autofree char *dir = make_tmpdir();
	int fd = mail_fd(dir, mail_crlf, sizeof mail_crlf - 1);
	const char *rcpts[] = { "bob@example.org", "carol@example.net" };
	KovRcptResult results[2] = { 0 };
	g_autoptr(GError) error = NULL;

	g_assert_false(kov_deliver_send(deliver, "alice@example.org", rcpts, 2, fd, results, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL);
	for (int i = 0; i < 2; i++) {
		g_assert_cmpint(results[i].status, ==, KOV_RCPT_DEFERRED);
		g_assert_cmpint(results[i].code, ==, 421);
		assert_contains(results[i].reply, "shutting down");
	}
	g_assert_cmpuint(count_suffix(sink.mail, ".eml"), ==, 0);
	results_clear(results, 2);
	g_clear_error(&error);

	/* The server closed the connection: the next send reconnects. */
	g_assert_true(kov_deliver_send(deliver, "alice@example.org", rcpts, 2, fd, results, &error));
	g_assert_no_error(error);
	g_autofree char *json = sink_json(&sink, 1);
	g_autofree char *log = sink_path(&sink, "log");
	g_assert_cmpuint(count_lines_with(log, " CONNECT "), ==, 2);

	results_clear(results, 2);
	close(fd);
	rm_rf(dir);
	g_clear_pointer(&deliver, kov_deliver_free);
	config_free(config);
	sink_stop(&sink);
}

static void
test_mail_550(void)
{
	Sink sink = { 0 };
	sink_start_full(&sink, "MAIL ALICE@example.org 553 5.7.1 sender rejected\n", NULL);
	KovConfig *config = config_smtp("127.0.0.1", sink.port);
	const char *rcpts[] = { "bob@example.org", "carol@example.net" };
	KovRcptResult results[2] = { 0 };
	g_autoptr(GError) error = NULL;

	g_assert_false(send_once(config, "alice@example.org", rcpts, 2, results, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL);
	for (int i = 0; i < 2; i++) {
		g_assert_cmpint(results[i].status, ==, KOV_RCPT_FAILED);
		g_assert_cmpint(results[i].code, ==, 553);
	}
	g_assert_cmpuint(count_suffix(sink.mail, ".eml"), ==, 0);

	results_clear(results, 2);
	config_free(config);
	sink_stop(&sink);
}

/* A loopback port nobody listens on: bound, then closed. */
static guint
closed_port(void)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof addr;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
	g_assert_cmpint(getsockname(fd, (struct sockaddr *)&addr, &len), ==, 0);
	close(fd);
	return ntohs(addr.sin_port);
}

static void
test_connection_refused(void)
{
	KovConfig *config = config_smtp("127.0.0.1", closed_port());
	const char *rcpts[] = { "bob@example.org", "carol@example.net" };
	KovRcptResult results[2] = { 0 };
	g_autoptr(GError) error = NULL;

	g_assert_false(send_once(config, "alice@example.org", rcpts, 2, results, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL);
	g_assert_true(kov_error_is_temporary(error));
	for (int i = 0; i < 2; i++) {
		g_assert_cmpint(results[i].status, ==, KOV_RCPT_DEFERRED);
		g_assert_cmpint(results[i].code, ==, 0);
		assert_contains(results[i].reply, "127.0.0.1:");
	}
	results_clear(results, 2);
	config_free(config);
}

static void
test_slow_server(void)
{
	const char *args[] = { "--delay", "1.5", NULL };
	Sink sink = { 0 };
	sink_start(&sink, args);
	KovConfig *config = config_smtp("127.0.0.1", sink.port);
	const char *rcpts[] = { "bob@example.org" };
	KovRcptResult results[1] = { 0 };
	g_autoptr(GError) error = NULL;
	gint64 start = g_get_monotonic_time();

	g_assert_true(send_once(config, "alice@example.org", rcpts, 1, results, &error));
	g_assert_no_error(error);
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 1500000);
	results_clear(results, 1);
	config_free(config);
	sink_stop(&sink);
}

/* A few MB go through the read callback in many chunks, byte for byte. */
static void
test_large(void)
{
	Sink sink = { 0 };
	sink_start(&sink, NULL);
	KovConfig *config = config_smtp("127.0.0.1", sink.port);
	g_autoptr(KovDeliver) deliver = deliver_new_ok(config);
	g_autoptr(GString) mail = g_string_new("From: alice@example.org\r\nSubject: big\r\n\r\n");
	for (guint i = 0; mail->len < 3 * 1024 * 1024; i++)
		g_string_append_printf(mail, "%s%08u ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789\r\n",
		                       i % 7 == 0 ? "." : "", i);
	g_autofree char *dir = make_tmpdir();
	int fd = mail_fd(dir, mail->str, mail->len);
	const char *rcpts[] = { "bob@example.org" };
	KovRcptResult results[1] = { 0 };
	g_autoptr(GError) error = NULL;

	g_assert_true(kov_deliver_send(deliver, "alice@example.org", rcpts, 1, fd, results, &error));
	g_assert_no_error(error);
	g_autofree char *json = sink_json(&sink, 1);
	gsize len;
	g_autofree char *eml_path = sink_path(&sink, "000001.eml");
	g_autofree char *eml = slurp(eml_path, &len);
	g_assert_cmpuint(len, ==, mail->len);
	g_assert_true(memcmp(eml, mail->str, len) == 0);
	/* SIZE= was announced from the file's size. */
	g_autofree char *log = sink_path(&sink, "log");
	g_autofree char *size = g_strdup_printf("SIZE=%zu", mail->len);
	g_assert_cmpuint(count_lines_with(log, size), ==, 1);

	results_clear(results, 1);
	close(fd);
	rm_rf(dir);
	g_clear_pointer(&deliver, kov_deliver_free);
	config_free(config);
	sink_stop(&sink);
}

/* ---- TLS ---- */

static char *
cert_path(const char *name)
{
	return g_build_filename(cert_dir, name, NULL);
}

static void
sink_start_tls(Sink *sink, const char *mode, const char *const *more)
{
	g_autofree char *crt = cert_path("cert.pem");
	g_autofree char *key = cert_path("key.pem");
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_ptr_array_add(args, (gpointer) "--tls-cert");
	g_ptr_array_add(args, crt);
	g_ptr_array_add(args, (gpointer) "--tls-key");
	g_ptr_array_add(args, key);
	g_ptr_array_add(args, (gpointer)mode);
	for (gsize i = 0; more != NULL && more[i] != NULL; i++)
		g_ptr_array_add(args, (gpointer)more[i]);
	g_ptr_array_add(args, NULL);
	sink_start(sink, (const char *const *)args->pdata);
}

static void
test_starttls(void)
{
	const char *require[] = { "--require-starttls", NULL };
	Sink sink = { 0 };
	sink_start_tls(&sink, "--starttls", require);
	KovConfig *config = config_smtp("127.0.0.1", sink.port);
	config->ssl = KOV_SSL_STARTTLS;
	config->ssl_ca = cert_path("cert.pem");
	const char *rcpts[] = { "bob@example.org" };
	KovRcptResult results[1] = { 0 };
	g_autoptr(GError) error = NULL;

	g_assert_true(send_once(config, "alice@example.org", rcpts, 1, results, &error));
	g_assert_no_error(error);
	g_autofree char *json = sink_json(&sink, 1);
	assert_contains(json, "\"tls\": true");
	g_autofree char *log = sink_path(&sink, "log");
	g_assert_cmpuint(count_lines_with(log, " STARTTLS -> 220"), ==, 1);

	results_clear(results, 1);
	config_free(config);
	sink_stop(&sink);
}

static void
test_implicit_tls(void)
{
	Sink sink = { 0 };
	sink_start_tls(&sink, "--implicit-tls", NULL);
	KovConfig *config = config_smtp("localhost", sink.port);
	config->ssl = KOV_SSL_IMPLICIT;
	config->ssl_ca = cert_path("cert.pem");
	const char *rcpts[] = { "bob@example.org" };
	KovRcptResult results[1] = { 0 };
	g_autoptr(GError) error = NULL;

	g_assert_true(send_once(config, "alice@example.org", rcpts, 1, results, &error));
	g_assert_no_error(error);
	g_autofree char *json = sink_json(&sink, 1);
	assert_contains(json, "\"tls\": true");

	results_clear(results, 1);
	config_free(config);
	sink_stop(&sink);
}

/* Asked for STARTTLS, the server does not offer it: nothing may go out. */
static void
test_starttls_missing(void)
{
	Sink sink = { 0 };
	sink_start(&sink, NULL);
	KovConfig *config = config_smtp("127.0.0.1", sink.port);
	config->ssl = KOV_SSL_STARTTLS;
	config->ssl_ca = cert_path("cert.pem");
	const char *rcpts[] = { "bob@example.org" };
	KovRcptResult results[1] = { 0 };
	g_autoptr(GError) error = NULL;

	g_assert_false(send_once(config, "alice@example.org", rcpts, 1, results, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL);
	g_assert_cmpint(results[0].status, ==, KOV_RCPT_DEFERRED);
	/* Deferred (the mail is kept), but said to be the configuration's fault. */
	g_assert_true(g_str_has_prefix(results[0].reply, "configuration error: ssl = starttls, but 127.0.0.1:"));
	assert_contains(results[0].reply, "offers no STARTTLS");
	g_assert_cmpuint(count_suffix(sink.mail, ".eml"), ==, 0);
	g_autofree char *log = sink_path(&sink, "log");
	g_assert_cmpuint(count_lines_with(log, " EHLO "), ==, 1);   /* we did talk to it */
	g_assert_cmpuint(count_lines_with(log, " MAIL "), ==, 0);

	results_clear(results, 1);
	config_free(config);
	sink_stop(&sink);
}

static void
test_untrusted_cert(void)
{
	Sink sink = { 0 };
	sink_start_tls(&sink, "--starttls", NULL);
	KovConfig *config = config_smtp("127.0.0.1", sink.port);
	config->ssl = KOV_SSL_STARTTLS;   /* no ssl_ca: the system store does not know it */
	const char *rcpts[] = { "bob@example.org" };
	KovRcptResult results[1] = { 0 };
	g_autoptr(GError) error = NULL;

	g_assert_false(send_once(config, "alice@example.org", rcpts, 1, results, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL);
	g_assert_cmpint(results[0].status, ==, KOV_RCPT_DEFERRED);
	assert_contains(results[0].reply, "certificate");
	g_assert_true(g_str_has_prefix(results[0].reply, "configuration error: ssl-ca: "));
	g_assert_cmpuint(count_suffix(sink.mail, ".eml"), ==, 0);
	g_autofree char *log = sink_path(&sink, "log");
	g_assert_cmpuint(count_lines_with(log, " STARTTLS -> 220"), ==, 1);
	g_assert_cmpuint(count_lines_with(log, " MAIL "), ==, 0);

	results_clear(results, 1);
	config_free(config);
	sink_stop(&sink);
}

/* ---- AUTH ---- */

/* msuser set, the server offers no AUTH: libcurl would skip the login and
 * send anyway. Nothing is sent: not MAIL, not the mail. */
static void
test_auth_not_offered(void)
{
	Sink sink = { 0 };
	sink_start(&sink, NULL);
	KovConfig *config = config_smtp("127.0.0.1", sink.port);
	config->msuser = g_strdup("alice");
	config->mspass = g_strdup("pw");
	const char *rcpts[] = { "bob@example.org" };
	KovRcptResult results[1] = { 0 };
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = make_tmpdir();
	g_autoptr(KovDeliver) deliver = deliver_new_ok(config);

	/* Twice on one handle: a reused connection must not pass either. */
	for (int round = 0; round < 2; round++) {
		int fd = mail_fd(dir, mail_crlf, sizeof mail_crlf - 1);
		g_assert_false(kov_deliver_send(deliver, "alice@example.org", rcpts, 1, fd, results, &error));
		close(fd);
		g_assert_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL);
		g_clear_error(&error);
		g_assert_cmpint(results[0].status, ==, KOV_RCPT_DEFERRED);
		g_assert_true(g_str_has_prefix(results[0].reply, "configuration error: msuser is set, but 127.0.0.1:"));
		assert_contains(results[0].reply, "offers no AUTH");
		results_clear(results, 1);
	}
	g_assert_cmpuint(count_suffix(sink.mail, ".eml"), ==, 0);
	g_autofree char *log = sink_path(&sink, "log");
	g_assert_cmpuint(count_lines_with(log, " EHLO "), >=, 1);
	g_assert_cmpuint(count_lines_with(log, " MAIL "), ==, 0);
	g_assert_cmpuint(count_lines_with(log, " RCPT "), ==, 0);

	g_clear_pointer(&deliver, kov_deliver_free);
	rm_rf(dir);
	config_free(config);
	sink_stop(&sink);
}

/* -n --connect: the whole dialog but MAIL, against a working server and
 * against each mistake; never a mail. */
static void
test_probe(void)
{
	const char *more[] = { "--auth", "alice:s3cret-Pa55", NULL };
	Sink sink = { 0 };
	sink_start_tls(&sink, "--starttls", more);
	KovConfig *config = config_smtp("127.0.0.1", sink.port);
	config->ssl = KOV_SSL_STARTTLS;
	config->ssl_ca = cert_path("cert.pem");
	config->msuser = g_strdup("alice");
	config->mspass = g_strdup("s3cret-Pa55");
	g_autoptr(GError) error = NULL;
	g_autofree char *summary = NULL;
	g_autofree char *log = sink_path(&sink, "log");

	KovDeliver *deliver = deliver_new_ok(config);
	g_assert_true(kov_deliver_probe(deliver, &summary, &error));
	g_assert_no_error(error);
	assert_contains(summary, "STARTTLS with a verified certificate, logged in with msuser; no mail sent");
	kov_deliver_free(deliver);
	g_assert_cmpuint(count_lines_with(log, " STARTTLS -> 220"), ==, 1);
	g_assert_cmpuint(count_lines_with(log, " AUTH PLAIN user=alice -> 235"), ==, 1);
	g_assert_cmpuint(count_lines_with(log, " QUIT -> 221"), ==, 1);
	g_assert_cmpuint(count_lines_with(log, " MAIL "), ==, 0);

	/* A wrong password. */
	g_free(config->mspass);
	config->mspass = g_strdup("wrong");
	deliver = deliver_new_ok(config);
	g_assert_false(kov_deliver_probe(deliver, NULL, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	assert_contains(error->message, "msuser/mspass: 127.0.0.1:");
	assert_lacks(error->message, "wrong");
	g_clear_error(&error);
	kov_deliver_free(deliver);
	sink_stop(&sink);

	/* No STARTTLS and no AUTH offered. */
	sink_start(&sink, NULL);
	config->msport = sink.port;
	deliver = deliver_new_ok(config);
	g_assert_false(kov_deliver_probe(deliver, NULL, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	assert_contains(error->message, "ssl = starttls, but 127.0.0.1:");
	g_clear_error(&error);
	kov_deliver_free(deliver);
	config->ssl = KOV_SSL_NONE;   /* plaintext AUTH: allowed on loopback */
	deliver = deliver_new_ok(config);
	g_assert_false(kov_deliver_probe(deliver, NULL, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	assert_contains(error->message, "msuser is set, but 127.0.0.1:");
	g_clear_error(&error);
	kov_deliver_free(deliver);
	g_free(log);
	log = sink_path(&sink, "log");
	g_assert_cmpuint(count_lines_with(log, " QUIT -> 221"), ==, 1);   /* the probe says goodbye */
	g_assert_cmpuint(count_lines_with(log, " MAIL "), ==, 0);
	guint port = sink.port;
	sink_stop(&sink);

	/* Nobody listening: temporary, not the configuration. */
	config->msport = port;
	deliver = deliver_new_ok(config);
	g_assert_false(kov_deliver_probe(deliver, NULL, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL);
	g_clear_error(&error);
	kov_deliver_free(deliver);
	config_free(config);
}

static void
test_auth_starttls(void)
{
	const char *more[] = { "--auth", "alice:s3cret-Pa55", "--auth-mech", "PLAIN", NULL };
	Sink sink = { 0 };
	sink_start_tls(&sink, "--starttls", more);
	KovConfig *config = config_smtp("127.0.0.1", sink.port);
	config->ssl = KOV_SSL_STARTTLS;
	config->ssl_ca = cert_path("cert.pem");
	config->msuser = g_strdup("alice");
	config->mspass = g_strdup("s3cret-Pa55");
	const char *rcpts[] = { "bob@example.org" };
	KovRcptResult results[1] = { 0 };
	g_autoptr(GError) error = NULL;

	g_assert_true(send_once(config, "alice@example.org", rcpts, 1, results, &error));
	g_assert_no_error(error);
	g_autofree char *json = sink_json(&sink, 1);
	assert_contains(json, "\"auth\": \"alice\"");
	assert_contains(json, "\"tls\": true");
	g_autofree char *log = sink_path(&sink, "log");
	g_assert_cmpuint(count_lines_with(log, " AUTH PLAIN user=alice -> 235"), ==, 1);
	results_clear(results, 1);

	/* A wrong password: nothing sent, try again later (the operator fixes it). */
	g_free(config->mspass);
	config->mspass = g_strdup("wrong");
	g_assert_false(send_once(config, "alice@example.org", rcpts, 1, results, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL);
	g_assert_cmpint(results[0].status, ==, KOV_RCPT_DEFERRED);
	g_assert_cmpint(results[0].code, ==, 535);
	g_assert_cmpuint(count_suffix(sink.mail, ".eml"), ==, 1);

	results_clear(results, 1);
	config_free(config);
	sink_stop(&sink);
}

static void
test_auth_plain_loopback(void)
{
	const char *args[] = { "--auth", "alice:pw", "--auth-plaintext-ok", NULL };
	Sink sink = { 0 };
	sink_start(&sink, args);
	KovConfig *config = config_smtp("127.0.0.1", sink.port);
	config->msuser = g_strdup("alice");
	config->mspass = g_strdup("pw");
	const char *rcpts[] = { "bob@example.org" };
	KovRcptResult results[1] = { 0 };
	g_autoptr(GError) error = NULL;

	g_assert_true(send_once(config, "alice@example.org", rcpts, 1, results, &error));
	g_assert_no_error(error);
	g_autofree char *json = sink_json(&sink, 1);
	assert_contains(json, "\"auth\": \"alice\"");
	assert_contains(json, "\"tls\": false");

	results_clear(results, 1);
	config_free(config);
	sink_stop(&sink);
}

static void
test_auth_required_by_server(void)
{
	const char *args[] = { "--auth", "alice:pw", "--auth-plaintext-ok", NULL };
	Sink sink = { 0 };
	sink_start(&sink, args);
	KovConfig *config = config_smtp("127.0.0.1", sink.port);   /* no msuser */
	const char *rcpts[] = { "bob@example.org" };
	KovRcptResult results[1] = { 0 };
	g_autoptr(GError) error = NULL;

	g_assert_false(send_once(config, "alice@example.org", rcpts, 1, results, &error));
	g_assert_cmpint(results[0].code, ==, 530);
	g_assert_cmpint(results[0].status, ==, KOV_RCPT_FAILED);
	g_assert_cmpuint(count_suffix(sink.mail, ".eml"), ==, 0);

	results_clear(results, 1);
	config_free(config);
	sink_stop(&sink);
}

/* kov_deliver_new decides without connecting anywhere. */
static void
test_auth_plaintext_refused(void)
{
	static const struct {
		const char *host;
		KovSsl ssl;
		gboolean accepted;
	} cases[] = {
		{ "smtp.example.org", KOV_SSL_NONE, FALSE },
		{ "127.evil.example.org", KOV_SSL_NONE, FALSE },
		{ "localhost.example.org", KOV_SSL_NONE, FALSE },
		{ "10.0.0.1", KOV_SSL_NONE, FALSE },
		{ "::ffff:10.0.0.1", KOV_SSL_NONE, FALSE },
		{ "127.0.0.1", KOV_SSL_NONE, TRUE },
		{ "127.1.2.3", KOV_SSL_NONE, TRUE },
		{ "LocalHost", KOV_SSL_NONE, TRUE },
		{ "::1", KOV_SSL_NONE, TRUE },
		{ "[::1]", KOV_SSL_NONE, TRUE },
		{ "smtp.example.org", KOV_SSL_STARTTLS, TRUE },
		{ "smtp.example.org", KOV_SSL_IMPLICIT, TRUE },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		KovConfig *config = config_smtp(cases[i].host, 587);
		config->ssl = cases[i].ssl;
		config->msuser = g_strdup("alice");
		config->mspass = g_strdup("pw");
		g_autoptr(KovDeliver) deliver = kov_deliver_new(config, &error);
		if (cases[i].accepted) {
			g_assert_no_error(error);
			g_assert_nonnull(deliver);
		} else {
			g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
			g_assert_null(deliver);
			assert_contains(error->message, cases[i].host);
		}
		config_free(config);
	}

	/* Without AUTH a plaintext server anywhere is fine. */
	g_autoptr(GError) error = NULL;
	KovConfig *config = config_smtp("smtp.example.org", 25);
	g_autoptr(KovDeliver) deliver = kov_deliver_new(config, &error);
	g_assert_no_error(error);
	g_assert_nonnull(deliver);
	config_free(config);
}

static void
test_config_errors(void)
{
	g_autoptr(GError) error = NULL;
	KovConfig *config = g_new0(KovConfig, 1);   /* neither msserver nor msp */
	g_assert_null(kov_deliver_new(config, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	g_clear_error(&error);
	config_free(config);

	const char *relative[] = { "sendmail", "-oi", NULL };
	config = config_msp(relative);
	g_assert_null(kov_deliver_new(config, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	g_clear_error(&error);
	config_free(config);

	config = config_smtp("127.0.0.1", 25);
	config->msuser = g_strdup("alice");   /* and no mspass */
	g_assert_null(kov_deliver_new(config, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	config_free(config);
}

static char *
base64_of(const char *data, gsize len)
{
	return g_base64_encode((const guchar *)data, len);
}

/* The debug log shows the dialogue, but never the password in any form. */
static void
check_password_not_logged(const char *mech)
{
	const char *user = "alice", *pass = "Tr0ub4dor&3-horse";
	const char *more[] = { "--auth", "alice:Tr0ub4dor&3-horse", "--auth-mech", mech, NULL };
	Sink sink = { 0 };
	sink_start_tls(&sink, "--starttls", more);
	g_autofree char *logdir = make_tmpdir();
	g_autofree char *logfile = g_build_filename(logdir, "koverto.log", NULL);
	KovLogOptions options = { .ident = "test-deliver", .debug = TRUE, .logfile = logfile };
	g_autoptr(GError) error = NULL;
	g_assert_true(kov_log_open(&options, &error));
	g_assert_no_error(error);

	KovConfig *config = config_smtp("127.0.0.1", sink.port);
	config->ssl = KOV_SSL_STARTTLS;
	config->ssl_ca = cert_path("cert.pem");
	config->msuser = g_strdup(user);
	config->mspass = g_strdup(pass);
	const char *rcpts[] = { "bob@example.org" };
	KovRcptResult results[1] = { 0 };
	g_assert_true(send_once(config, "alice@example.org", rcpts, 1, results, &error));
	g_assert_no_error(error);
	kov_log_close();
	KovLogOptions quiet = { .ident = "test-deliver", .to_stderr = TRUE };
	g_assert_true(kov_log_open(&quiet, NULL));

	g_autofree char *sinklog = sink_path(&sink, "log");
	g_autofree char *want = g_strdup_printf(" AUTH %s user=alice -> 235", mech);
	g_assert_cmpuint(count_lines_with(sinklog, want), ==, 1);

	g_autofree char *text = slurp(logfile, NULL);
	/* The dialogue is there, so the absence below means something. */
	assert_contains(text, "smtp> EHLO");
	g_autofree char *auth_line = g_strdup_printf("smtp> AUTH %s (credentials hidden)", mech);
	assert_contains(text, auth_line);
	assert_contains(text, "smtp> MAIL FROM:<alice@example.org>");
	assert_contains(text, "smtp< 235");

	char plain[64];
	gsize plain_len = (gsize)g_snprintf(plain, sizeof plain, "%c%s%c%s", 0, user, 0, pass);
	g_autofree char *b64_plain = base64_of(plain, plain_len);
	g_autofree char *b64_user = base64_of(user, strlen(user));
	g_autofree char *b64_pass = base64_of(pass, strlen(pass));
	assert_lacks(text, pass);
	assert_lacks(text, b64_plain);   /* PLAIN */
	assert_lacks(text, b64_pass);    /* LOGIN */
	assert_lacks(text, b64_user);    /* nor anything else of the exchange */

	results_clear(results, 1);
	config_free(config);
	rm_rf(logdir);
	sink_stop(&sink);
}

static void
test_password_not_logged_plain(void)
{
	check_password_not_logged("PLAIN");
}

static void
test_password_not_logged_login(void)
{
	check_password_not_logged("LOGIN");
}

/* ---- msp ---- */

/* A fake sendmail that records its argv (one per line) and stdin in @dir. */
static char *
fake_sendmail(const char *dir, const char *exit_how)
{
	g_autofree char *script = g_strdup_printf(
		"#!/bin/sh\n"
		"for a in \"$@\"; do printf '%%s\\n' \"$a\"; done > '%s/argv'\n"
		"cat > '%s/stdin'\n"
		"echo 'fake sendmail: mailbox busy' >&2\n"
		"echo 'second line' >&2\n"
		"%s\n",
		dir, dir, exit_how);
	char *path = g_build_filename(dir, "sendmail", NULL);
	write_file(path, script, -1);
	g_assert_cmpint(chmod(path, 0700), ==, 0);
	return path;
}

static const char mail_lf[] =
	"From: alice@example.org\n"
	"To: bob@example.org\n"
	"Subject: by msp\n"
	"\n"
	".dot line stays as it is\n"
	"body\n";

static void
run_msp(const char *exit_how, KovRcptStatus want_status, int want_code, const char *want_reply,
        int want_error)
{
	g_autofree char *dir = make_tmpdir();
	g_autofree char *sendmail = fake_sendmail(dir, exit_how);
	const char *argv[] = { sendmail, "-oi", "-oem", NULL };
	KovConfig *config = config_msp(argv);
	g_autoptr(KovDeliver) deliver = deliver_new_ok(config);
	const char *rcpts[] = { "bob@example.org", "-oQ/tmp/evil@example.org" };
	KovRcptResult results[2] = { 0 };
	g_autoptr(GError) error = NULL;
	int fd = mail_fd(dir, mail_lf, sizeof mail_lf - 1);
	char skip[5];

	g_assert_false(kov_deliver_wants_crlf(deliver));
	/* The offset is not where the caller left it, but at 0. */
	g_assert_cmpint(read(fd, skip, sizeof skip), ==, 5);
	gboolean ok = kov_deliver_send(deliver, "alice@example.org", rcpts, 2, fd, results, &error);
	if (want_error < 0) {
		g_assert_no_error(error);
		g_assert_true(ok);
	} else {
		g_assert_false(ok);
		g_assert_error(error, KOV_ERROR, want_error);
	}
	for (int i = 0; i < 2; i++) {
		g_assert_cmpint(results[i].status, ==, want_status);
		g_assert_cmpint(results[i].code, ==, want_code);
		g_assert_cmpstr(results[i].reply, ==, want_reply);
	}

	g_autofree char *argv_path = g_build_filename(dir, "argv", NULL);
	g_autofree char *stdin_path = g_build_filename(dir, "stdin", NULL);
	g_autofree char *got_argv = slurp(argv_path, NULL);
	g_assert_cmpstr(got_argv, ==, "-oi\n-oem\n-f\nalice@example.org\n--\nbob@example.org\n-oQ/tmp/evil@example.org\n");
	gsize len;
	g_autofree char *got_stdin = slurp(stdin_path, &len);
	g_assert_cmpmem(got_stdin, len, mail_lf, sizeof mail_lf - 1);

	results_clear(results, 2);
	close(fd);
	g_clear_pointer(&deliver, kov_deliver_free);
	config_free(config);
	rm_rf(dir);
}

static void
test_msp_ok(void)
{
	run_msp("exit 0", KOV_RCPT_DELIVERED, 0,
	        "msp exited with status 0: fake sendmail: mailbox busy", -1);
}

static void
test_msp_tempfail(void)
{
	run_msp("exit 75", KOV_RCPT_DEFERRED, 75,
	        "msp exited with status 75: fake sendmail: mailbox busy", KOV_ERROR_TEMPFAIL);
}

/* msp's own configuration error (EX_CONFIG) keeps the mail. */
static void
test_msp_config(void)
{
	run_msp("exit 78", KOV_RCPT_DEFERRED, 78,
	        "configuration error: msp exited with status 78: fake sendmail: mailbox busy",
	        KOV_ERROR_TEMPFAIL);
}

static void
test_msp_fail(void)
{
	run_msp("exit 1", KOV_RCPT_FAILED, 1,
	        "msp exited with status 1: fake sendmail: mailbox busy", KOV_ERROR_PERMFAIL);
}

static void
test_msp_signal(void)
{
	run_msp("kill -KILL $$", KOV_RCPT_DEFERRED, 0,
	        "msp killed by signal 9: fake sendmail: mailbox busy", KOV_ERROR_TEMPFAIL);
}

static void
test_msp_null_sender_and_missing(void)
{
	g_autofree char *dir = make_tmpdir();
	g_autofree char *sendmail = fake_sendmail(dir, "exit 0");
	const char *argv[] = { sendmail, NULL };
	KovConfig *config = config_msp(argv);
	const char *rcpts[] = { "bob@example.org" };
	KovRcptResult results[1] = { 0 };
	g_autoptr(GError) error = NULL;
	g_autoptr(KovDeliver) deliver = deliver_new_ok(config);
	int fd = mail_fd(dir, mail_lf, sizeof mail_lf - 1);

	g_assert_true(kov_deliver_send(deliver, "", rcpts, 1, fd, results, &error));
	g_assert_no_error(error);
	g_autofree char *argv_path = g_build_filename(dir, "argv", NULL);
	g_autofree char *got_argv = slurp(argv_path, NULL);
	g_assert_cmpstr(got_argv, ==, "-f\n<>\n--\nbob@example.org\n");
	results_clear(results, 1);
	g_clear_pointer(&deliver, kov_deliver_free);
	config_free(config);

	/* A program that is not there: keep the mail, it is not the mail's fault. */
	const char *missing[] = { "/nonexistent/sendmail", NULL };
	config = config_msp(missing);
	deliver = deliver_new_ok(config);
	g_assert_false(kov_deliver_send(deliver, "alice@example.org", rcpts, 1, fd, results, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL);
	g_assert_cmpint(results[0].status, ==, KOV_RCPT_DEFERRED);
	assert_contains(results[0].reply, "/nonexistent/sendmail");
	/* ... and say whose mistake it is. */
	g_assert_true(g_str_has_prefix(results[0].reply, "configuration error: cannot run msp "));

	results_clear(results, 1);
	close(fd);
	g_clear_pointer(&deliver, kov_deliver_free);
	config_free(config);
	rm_rf(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	/* A test that dies on SIGPIPE would say nothing useful. */
	signal(SIGPIPE, SIG_IGN);

	/* Missing prerequisites fail the run, never skip it. */
	g_assert_true(g_file_test(SINK_PYTHON, G_FILE_TEST_IS_EXECUTABLE));
	cert_dir = make_tmpdir();
	g_autofree char *mkcert = g_test_build_filename(G_TEST_DIST, "mkcert", NULL);
	const char *mkcert_argv[] = { "/bin/sh", mkcert, cert_dir, NULL };
	int status = -1;
	g_autoptr(GError) error = NULL;
	g_assert_true(g_spawn_sync(NULL, (char **)mkcert_argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
	                           NULL, NULL, &status, &error));
	g_assert_no_error(error);
	g_assert_true(g_spawn_check_wait_status(status, NULL));

	g_test_add_func("/deliver/smtp/plain", test_plain);
	g_test_add_func("/deliver/smtp/null-sender", test_null_sender);
	g_test_add_func("/deliver/smtp/reuse", test_reuse);
	g_test_add_func("/deliver/smtp/rcpt-451", test_rcpt_451);
	g_test_add_func("/deliver/smtp/rcpt-550", test_rcpt_550);
	g_test_add_func("/deliver/smtp/reply-controls", test_reply_controls);
	g_test_add_func("/deliver/smtp/all-rcpts-refused-then-reuse", test_all_rcpts_refused_then_reuse);
	g_test_add_func("/deliver/smtp/data-554", test_data_554);
	g_test_add_func("/deliver/smtp/data-452-552", test_data_452_and_552);
	g_test_add_func("/deliver/smtp/mail-421", test_mail_421);
	g_test_add_func("/deliver/smtp/mail-553", test_mail_550);
	g_test_add_func("/deliver/smtp/connection-refused", test_connection_refused);
	g_test_add_func("/deliver/smtp/slow-server", test_slow_server);
	g_test_add_func("/deliver/smtp/large", test_large);
	g_test_add_func("/deliver/tls/starttls", test_starttls);
	g_test_add_func("/deliver/tls/implicit", test_implicit_tls);
	g_test_add_func("/deliver/tls/starttls-missing", test_starttls_missing);
	g_test_add_func("/deliver/tls/untrusted-cert", test_untrusted_cert);
	g_test_add_func("/deliver/auth/starttls", test_auth_starttls);
	g_test_add_func("/deliver/auth/not-offered", test_auth_not_offered);
	g_test_add_func("/deliver/probe", test_probe);
	g_test_add_func("/deliver/auth/plaintext-loopback", test_auth_plain_loopback);
	g_test_add_func("/deliver/auth/required-by-server", test_auth_required_by_server);
	g_test_add_func("/deliver/auth/plaintext-refused", test_auth_plaintext_refused);
	g_test_add_func("/deliver/auth/password-not-logged-plain", test_password_not_logged_plain);
	g_test_add_func("/deliver/auth/password-not-logged-login", test_password_not_logged_login);
	g_test_add_func("/deliver/config-errors", test_config_errors);
	g_test_add_func("/deliver/msp/ok", test_msp_ok);
	g_test_add_func("/deliver/msp/tempfail", test_msp_tempfail);
	g_test_add_func("/deliver/msp/fail", test_msp_fail);
	g_test_add_func("/deliver/msp/config", test_msp_config);
	g_test_add_func("/deliver/msp/signal", test_msp_signal);
	g_test_add_func("/deliver/msp/null-sender-and-missing", test_msp_null_sender_and_missing);

	int rc = g_test_run();
	rm_rf(cert_dir);
	g_free(cert_dir);
	return rc;
}
