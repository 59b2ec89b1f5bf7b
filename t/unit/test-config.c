/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of lib/config/config.c: defaults, every option, every boolean
 * spelling, one bad value per typed option (file, line and key named),
 * unknown and duplicate keys, password file modes, per-queue keys and
 * anchored sender patterns, iniparser's quoting, and the shipped example.
 * Files are written into a fresh directory under /tmp per test. */
#include "config.h"
#include "error.h"
#include "fixture.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The queue at @i of @config: the built-ins at their KovQueueKind. */
#define QUEUE(config, i) ((const KovQueueConfig *)g_ptr_array_index((config)->queues, (i)))

/* ---- helpers --------------------------------------------------------- */

static void
remove_tree(char *dir)
{
	g_assert_true(kov_test_tree_remove(dir));
	g_free(dir);
}

static char *
write_file(const char *dir, const char *name, int mode, const char *text)
{
	char *path = g_build_filename(dir, name, NULL);
	g_autoptr(GError) error = NULL;
	g_assert_true(g_file_set_contents(path, text, -1, &error));
	g_assert_no_error(error);
	g_assert_cmpint(chmod(path, (mode_t)mode), ==, 0);
	return path;
}

static char *
write_conf(const char *dir, const char *text)
{
	return write_file(dir, "koverto.conf", 0600, text);
}

static KovConfig *
load_ok(const char *path)
{
	g_autoptr(GError) error = NULL;
	KovConfig *config = kov_config_load(path, &error);
	g_assert_no_error(error);
	g_assert_nonnull(config);
	g_assert_cmpstr(config->file, ==, path);
	return config;
}

/* The load must fail with KOV_ERROR_CONFIG and exactly this one line. */
static void
assert_load_error(const char *path, const char *expected)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(KovConfig) config = kov_config_load(path, &error);
	g_assert_null(config);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	g_assert_null(strchr(error->message, '\n'));
	g_assert_cmpstr(error->message, ==, expected);
}

/* As above, for messages whose tail comes from GLib (regex errors). */
static void
assert_load_error_prefix(const char *path, const char *prefix)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(KovConfig) config = kov_config_load(path, &error);
	g_assert_null(config);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	g_assert_null(strchr(error->message, '\n'));
	g_assert_true(g_str_has_prefix(error->message, prefix));
	g_assert_cmpuint(strlen(error->message), >, strlen(prefix));
}

static struct passwd *
me(void)
{
	struct passwd *pw = getpwuid(getuid());
	g_assert_nonnull(pw);
	return pw;
}

static char *
replace_all(const char *text, const char *from, const char *to)
{
	g_auto(GStrv) parts = g_strsplit(text, from, -1);
	return g_strjoinv(to, parts);
}

static void
make_program(const char *dir, const char *name)
{
	g_autofree char *bin = g_build_filename(dir, "bin", NULL);
	g_assert_cmpint(g_mkdir_with_parents(bin, 0700), ==, 0);
	g_free(write_file(bin, name, 0755, "#!/bin/sh\nexit 0\n"));
}

static const char *const all_options[] = {
	"defaultkey", "defaultaction", "alwaystrust", "use-agent", "query-secret",
	"flush-secret", "gpg", "queuedir", "tempdir", "interval", "logfile", "syslog",
	"mail-on-error", "identify", "preamble", "can-detach", "msserver", "msport", "ssl",
	"ssl-cert", "ssl-key", "ssl-ca", "msuser", "mspass", "mspass-from-query-secret", "msp",
	"maport", "ma-user", "ma-pass", "gnupghome",
	/* Kuvert's fork (occrp/kuvert): the listener's address */
	"mahost",
	/* koverto's own */
	"workers", "max-connections", "retry-first", "retry-max", "queue-lifetime",
	"failed-retention", "mail-timeout", "worker-memory", "max-hops", "dsn",
};

/* ---- defaults -------------------------------------------------------- */

/* Everything but the msp check, which depends on /usr/sbin/sendmail. */
static void
assert_defaults(const KovConfig *config)
{
	struct passwd *pw = me();
	g_autofree char *queuedir = g_build_filename(pw->pw_dir, ".kuvert_queue", NULL);
	g_autofree char *tempdir = g_strdup_printf("/var/tmp/kovtest/koverto.%s", pw->pw_name);

	g_assert_cmpstr(config->queuedir, ==, queuedir);
	g_assert_cmpstr(config->tempdir, ==, tempdir);
	g_assert_null(config->defaultkey);
	g_assert_cmpint(config->defaultaction, ==, KOV_ACTION_NONE);
	g_assert_false(config->alwaystrust);
	g_assert_cmpuint(config->msport, ==, 587);
	g_assert_cmpint(config->ssl, ==, KOV_SSL_NONE);
	g_assert_null(config->ssl_cert);
	g_assert_null(config->ssl_key);
	g_assert_null(config->ssl_ca);
	g_assert_null(config->msuser);
	g_assert_null(config->mspass);
	g_assert_nonnull(config->msp);
	g_assert_cmpuint(g_strv_length(config->msp), ==, 4);
	g_assert_cmpstr(config->msp[1], ==, "-om");
	g_assert_cmpstr(config->msp[2], ==, "-oi");
	g_assert_cmpstr(config->msp[3], ==, "-oem");
	g_assert_false(config->identify);
	g_assert_true(config->preamble);
	g_assert_null(config->logfile);
	g_assert_null(config->syslog);
	g_assert_null(config->mail_on_error);
	g_assert_null(config->gpg);
	g_assert_null(config->gnupghome);
	g_assert_cmpuint(config->interval, ==, 60);
	g_assert_false(config->use_agent);
	g_assert_null(config->query_secret);
	g_assert_null(config->flush_secret);
	g_assert_false(config->can_detach);
	g_assert_false(config->mspass_from_query_secret);
	g_assert_cmpuint(config->maport, ==, 2587);
	g_assert_null(config->ma_user);
	g_assert_null(config->ma_pass);
	g_assert_cmpuint(config->workers, ==, 0);
	g_assert_cmpuint(config->max_connections, ==, 0);
	g_assert_cmpuint(config->max_hops, ==, 10);
	g_assert_cmpint(config->retry_first, ==, 60);
	g_assert_cmpint(config->retry_max, ==, 3600);
	g_assert_cmpint(config->queue_lifetime, ==, 5 * 86400);
	g_assert_cmpint(config->failed_retention, ==, 30 * 86400);
	g_assert_cmpint(config->mail_timeout, ==, 600);
	g_assert_cmpuint(config->worker_memory, ==, 1024);
	g_assert_false(config->dsn);
	g_assert_nonnull(config->rules);
	g_assert_cmpuint(config->rules->len, ==, 0);
	for (int k = 0; k < KOV_QUEUE_N_POLICY; k++) {
		g_assert_null(QUEUE(config, k)->signing_key);
		g_assert_null(QUEUE(config, k)->allowed_senders);
		g_assert_null(QUEUE(config, k)->allowed_senders_re);
	}
}

/* Defaults come from the passwd entry, not $HOME, and from $TMPDIR. */
static void
with_test_environment(void (*body)(const char *dir))
{
	g_autofree char *home = g_strdup(g_getenv("HOME"));
	g_autofree char *tmpdir = g_strdup(g_getenv("TMPDIR"));
	g_setenv("HOME", "/nonexistent/home", TRUE);
	g_setenv("TMPDIR", "/var/tmp/kovtest", TRUE);
	char *dir = kov_test_tmpdir_new("kovcfg");
	body(dir);
	remove_tree(dir);
	if (home != NULL)
		g_setenv("HOME", home, TRUE);
	else
		g_unsetenv("HOME");
	if (tmpdir != NULL)
		g_setenv("TMPDIR", tmpdir, TRUE);
	else
		g_unsetenv("TMPDIR");
}

static void
defaults_smtp_body(const char *dir)
{
	g_autofree char *path = write_conf(dir, "[koverto]\nmsserver = localhost\n");
	g_autoptr(KovConfig) config = load_ok(path);
	assert_defaults(config);
	g_assert_cmpstr(config->msserver, ==, "localhost");
	/* msp is only the transport without msserver: stored as written. */
	g_assert_cmpstr(config->msp[0], ==, "/usr/sbin/sendmail");
}

static void
test_defaults_smtp(void)
{
	with_test_environment(defaults_smtp_body);
}

/* Without msserver the default msp must be runnable; the outcome depends
 * on whether this machine has /usr/sbin/sendmail, and both are checked. */
static void
check_default_msp(const char *path)
{
	if (g_file_test("/usr/sbin/sendmail", G_FILE_TEST_IS_EXECUTABLE)) {
		g_autoptr(KovConfig) config = load_ok(path);
		assert_defaults(config);
		g_assert_null(config->msserver);
		g_assert_cmpstr(config->msp[0], ==, "/usr/sbin/sendmail");
	} else {
		g_autofree char *expected = g_strdup_printf(
			"%s: key \"msp\" (default): \"/usr/sbin/sendmail\": not an executable file "
			"(msserver is unset, so msp delivers)", path);
		assert_load_error(path, expected);
	}
}

static void
defaults_empty_section_body(const char *dir)
{
	g_autofree char *path = write_conf(dir, "[koverto]\n");
	check_default_msp(path);
}

static void
defaults_empty_file_body(const char *dir)
{
	g_autofree char *path = write_conf(dir, "");
	check_default_msp(path);
}

static void
test_defaults_empty_section(void)
{
	with_test_environment(defaults_empty_section_body);
}

static void
test_defaults_empty_file(void)
{
	with_test_environment(defaults_empty_file_body);
}

static void
test_defaults_tmpdir_unset(void)
{
	g_autofree char *saved = g_strdup(g_getenv("TMPDIR"));
	g_unsetenv("TMPDIR");
	char *dir = kov_test_tmpdir_new("kovcfg");
	g_autofree char *path = write_conf(dir, "[koverto]\nmsserver = localhost\n");
	g_autoptr(KovConfig) config = load_ok(path);
	g_autofree char *expected = g_strdup_printf("/tmp/koverto.%s", me()->pw_name);
	g_assert_cmpstr(config->tempdir, ==, expected);
	remove_tree(dir);
	if (saved != NULL)
		g_setenv("TMPDIR", saved, TRUE);
}

/* ---- every option ---------------------------------------------------- */

/* The rules all.conf and all.kuvert give, in the order they apply. */
static void
assert_all_rules(const KovConfig *config, const guint lines[4])
{
	static const struct { const char *pattern; KovAction action; const char *key; } rules[] = {
		{ "^list-[a-z#]+@", KOV_ACTION_NONE, NULL },
		{ "@example\\.org$", KOV_ACTION_FALLBACK_ALL, "0x0123456789ABCDEF" },
		{ "^BOSS@", KOV_ACTION_MUSTENCRYPT, NULL },
		{ ".*", KOV_ACTION_FALLBACK, NULL },
	};
	g_assert_nonnull(config->rules);
	g_assert_cmpuint(config->rules->len, ==, G_N_ELEMENTS(rules));
	for (guint i = 0; i < config->rules->len; i++) {
		const KovRule *rule = g_ptr_array_index(config->rules, i);
		g_assert_cmpstr(rule->pattern, ==, rules[i].pattern);
		g_assert_cmpint(rule->action, ==, rules[i].action);
		g_assert_cmpstr(rule->key, ==, rules[i].key);
		g_assert_nonnull(rule->regex);
		g_assert_cmpuint(rule->line, ==, lines[i]);
	}
	/* First match wins, unanchored, any case. */
	static const struct { const char *address; guint rule; } matches[] = {
		{ "list-dev@lists.example.org", 0 },
		{ "alice@example.org", 1 },
		{ "boss@example.org", 1 },   /* rule 2 comes first */
		{ "boss@corp.example", 2 },  /* ^BOSS@ matches the lower-case address */
		{ "bob@elsewhere.example", 3 },
		{ "alice@example.org.evil", 3 },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(matches); i++) {
		const KovRule *rule = kov_policy_rule_match(config->rules, matches[i].address);
		g_assert_true(rule == g_ptr_array_index(config->rules, matches[i].rule));
	}
}

/* all.conf and all.kuvert: every option set to something not its default. */
static void
check_all_options(const char *fixture_name, gboolean ini)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	const char *programs[] = { "ask", "forget", "gpg", "sendmail" };
	for (gsize i = 0; i < G_N_ELEMENTS(programs); i++)
		make_program(dir, programs[i]);
	g_free(write_file(dir, "client.pem", 0600, "cert\n"));
	g_free(write_file(dir, "client.key", 0600, "key\n"));
	g_free(write_file(dir, "ca.pem", 0600, "ca\n"));
	g_autofree char *gnupg = g_build_filename(dir, "gnupg", NULL);
	g_assert_cmpint(g_mkdir(gnupg, 0700), ==, 0);

	g_autofree char *fixture = g_test_build_filename(G_TEST_DIST, "config", fixture_name, NULL);
	g_autofree char *text = NULL;
	g_assert_true(g_file_get_contents(fixture, &text, NULL, NULL));
	g_autofree char *conf = replace_all(text, "@DIR@", dir);
	g_autofree char *path = write_conf(dir, conf);
	g_autoptr(KovConfig) config = load_ok(path);

#define IN_DIR(name) g_build_filename(dir, name, NULL)
	g_autofree char *ask = IN_DIR("bin/ask --key %s");
	g_autofree char *forget = IN_DIR("bin/forget %s");
	g_autofree char *gpg = IN_DIR("bin/gpg");
	g_autofree char *sendmail = IN_DIR("bin/sendmail");
	g_autofree char *queue = IN_DIR("queue");
	g_autofree char *tmp = IN_DIR("tmp");
	g_autofree char *log = IN_DIR("koverto.log");
	g_autofree char *cert = IN_DIR("client.pem");
	g_autofree char *key = IN_DIR("client.key");
	g_autofree char *ca = IN_DIR("ca.pem");
#undef IN_DIR

	g_assert_cmpstr(config->defaultkey, ==, "0x0123456789ABCDEF0123456789ABCDEF01234567");
	g_assert_cmpint(config->defaultaction, ==, KOV_ACTION_FALLBACK_ALL);
	g_assert_true(config->alwaystrust);
	g_assert_true(config->use_agent);
	g_assert_cmpstr(config->query_secret, ==, ask);
	g_assert_cmpstr(config->flush_secret, ==, forget);
	g_assert_cmpstr(config->gpg, ==, gpg);
	g_assert_cmpstr(config->queuedir, ==, queue);
	g_assert_cmpstr(config->tempdir, ==, tmp);
	g_assert_cmpuint(config->interval, ==, 5);
	g_assert_cmpstr(config->logfile, ==, log);
	g_assert_cmpstr(config->syslog, ==, "local3");
	g_assert_cmpstr(config->mail_on_error, ==, "postmaster@example.org");
	g_assert_true(config->identify);
	g_assert_false(config->preamble);
	g_assert_true(config->can_detach);
	g_assert_cmpstr(config->msserver, ==, "smtp.example.org");
	g_assert_cmpuint(config->msport, ==, 465);
	g_assert_cmpint(config->ssl, ==, KOV_SSL_IMPLICIT);
	g_assert_cmpstr(config->ssl_cert, ==, cert);
	g_assert_cmpstr(config->ssl_key, ==, key);
	g_assert_cmpstr(config->ssl_ca, ==, ca);
	g_assert_cmpstr(config->msuser, ==, "alice");
	g_assert_cmpstr(config->mspass, ==, "s3cret; with # signs");
	g_assert_false(config->mspass_from_query_secret);
	g_assert_cmpuint(g_strv_length(config->msp), ==, 3);
	g_assert_cmpstr(config->msp[0], ==, sendmail);
	g_assert_cmpstr(config->msp[1], ==, "-i");
	g_assert_cmpstr(config->msp[2], ==, "-f");
	g_assert_cmpuint(config->maport, ==, 2525);
	g_assert_cmpstr(config->ma_user, ==, "bob");
	g_assert_cmpstr(config->ma_pass, ==, "p4ss word");
	g_assert_cmpstr(config->gnupghome, ==, gnupg);

	g_assert_cmpuint(config->workers, ==, 3);
	g_assert_cmpuint(config->max_connections, ==, 2);
	g_assert_cmpint(config->retry_first, ==, 30);
	g_assert_cmpint(config->retry_max, ==, 2 * 3600);
	g_assert_cmpint(config->queue_lifetime, ==, 3 * 86400);
	g_assert_cmpint(config->failed_retention, ==, 7 * 86400);
	g_assert_cmpint(config->mail_timeout, ==, 90);
	g_assert_cmpuint(config->worker_memory, ==, 512);
	g_assert_cmpuint(config->max_hops, ==, 25);
	g_assert_true(config->dsn);

	static const guint ini_lines[] = { 51, 50, 52, 49 }, kuvert_lines[] = { 46, 47, 48, 49 };
	assert_all_rules(config, ini ? ini_lines : kuvert_lines);

	if (ini) {
		g_assert_cmpstr(QUEUE(config, KOV_QUEUE_MUST_ENCRYPT)->signing_key, ==,
		                "0xAAAABBBBCCCCDDDD");
		g_assert_cmpstr(QUEUE(config, KOV_QUEUE_MUST_ENCRYPT)->allowed_senders, ==,
		                "(alice|bob)@example\\.org");
		g_assert_null(QUEUE(config, KOV_QUEUE_FALLBACK)->signing_key);
		g_assert_cmpstr(QUEUE(config, KOV_QUEUE_FALLBACK)->allowed_senders, ==,
		                ".*@example\\.org");
		g_assert_cmpstr(QUEUE(config, KOV_QUEUE_SIGN_ONLY)->signing_key, ==,
		                "1111222233334444555566667777888899990000");
		g_assert_null(QUEUE(config, KOV_QUEUE_SIGN_ONLY)->allowed_senders_re);
	}
	remove_tree(dir);
}

static void
test_all_options(void)
{
	check_all_options("all.conf", TRUE);
}

static void
test_all_options_kuvert(void)
{
	check_all_options("all.kuvert", FALSE);
}

/* gpg, msp and query-secret may name a program found in $PATH. */
static void
test_programs_in_path(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	g_autofree char *sh = g_find_program_in_path("sh");
	g_assert_nonnull(sh);
	g_autofree char *path = write_conf(dir, "[koverto]\ngpg = sh\nmsp = sh -c true\n"
	                                        "query-secret = sh -c 'echo %s'\n");
	g_autoptr(KovConfig) config = load_ok(path);
	g_assert_cmpstr(config->gpg, ==, sh);
	g_assert_cmpuint(g_strv_length(config->msp), ==, 3);
	g_assert_cmpstr(config->msp[0], ==, sh);
	g_assert_cmpstr(config->msp[1], ==, "-c");
	g_assert_cmpstr(config->msp[2], ==, "true");
	/* Kept with the program found in $PATH: it is run without a search. */
	g_autofree char *query = g_strconcat(sh, " -c 'echo %s'", NULL);
	g_assert_cmpstr(config->query_secret, ==, query);
	remove_tree(dir);
}

static void
test_msp(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	g_autofree char *path = NULL;
	g_autofree char *expected = NULL;

	/* With msserver, msp is not the transport: stored unchecked. */
	path = write_conf(dir, "[koverto]\nmsserver = 127.0.0.1\nmsp = /no/such/sendmail -t\n");
	KovConfig *config = load_ok(path);
	g_assert_cmpstr(config->msp[0], ==, "/no/such/sendmail");
	kov_config_free(config);
	g_free(path);

	path = write_conf(dir, "[koverto]\nmsp = /no/such/sendmail -t\n");
	expected = g_strdup_printf("%s:2: key \"msp\": \"/no/such/sendmail\": not an executable file "
	                           "(msserver is unset, so msp delivers)", path);
	assert_load_error(path, expected);
	g_free(path), g_free(expected);

	path = write_conf(dir, "[koverto]\n\nmsp =\n");
	expected = g_strdup_printf("%s:3: key \"msp\": empty, and without msserver nothing could "
	                           "deliver", path);
	assert_load_error(path, expected);
	g_free(path);

	path = write_conf(dir, "[koverto]\nmsp =\nmsserver = ::1\n");
	config = load_ok(path);
	g_assert_null(config->msp);
	g_assert_cmpstr(config->msserver, ==, "::1");
	kov_config_free(config);
	remove_tree(dir);
}

static void
test_home_expansion(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	g_autofree char *path = write_conf(dir, "[koverto]\nmsserver = localhost\n"
	                                        "queuedir = ~/spool\ntempdir = ~\n");
	g_autoptr(KovConfig) config = load_ok(path);
	g_autofree char *spool = g_build_filename(me()->pw_dir, "spool", NULL);
	g_assert_cmpstr(config->queuedir, ==, spool);
	g_assert_cmpstr(config->tempdir, ==, me()->pw_dir);
	remove_tree(dir);
}

/* ssl-ca may also be a hashed CA directory (curl's CAPATH). */
static void
test_ssl_ca_directory(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	g_autofree char *text = g_strdup_printf("[koverto]\nmsserver = localhost\nssl = STARTTLS\n"
	                                        "ssl-ca = %s\n", dir);
	g_autofree char *path = write_conf(dir, text);
	g_autoptr(KovConfig) config = load_ok(path);
	g_assert_cmpstr(config->ssl_ca, ==, dir);
	g_assert_cmpint(config->ssl, ==, KOV_SSL_STARTTLS);
	remove_tree(dir);
}

/* An empty text or path value means the default; Kuvert's "ssl" and
 * "syslog" are explicitly allowed to be empty. */
static void
test_empty_values(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	g_autofree char *path = write_conf(dir, "[koverto]\nmsserver = localhost\nqueuedir =\n"
	                                        "mail-on-error =\nsyslog =\nssl = \"\"\n"
	                                        "defaultkey = ''\ngpg =\nlogfile =\n");
	g_autoptr(KovConfig) config = load_ok(path);
	g_autofree char *queuedir = g_build_filename(me()->pw_dir, ".kuvert_queue", NULL);
	g_assert_cmpstr(config->queuedir, ==, queuedir);
	g_assert_null(config->mail_on_error);
	g_assert_null(config->syslog);
	g_assert_cmpint(config->ssl, ==, KOV_SSL_NONE);
	g_assert_null(config->defaultkey);
	g_assert_null(config->gpg);
	g_assert_null(config->logfile);
	remove_tree(dir);
}

/* ---- booleans -------------------------------------------------------- */

static void
test_booleans(void)
{
	static const char *const yes[] = { "1", "on", "t", "true", "yes", "ON", "On", "T", "TRUE",
	                                   "True", "YES", "yEs" };
	static const char *const no[] = { "0", "off", "f", "false", "no", "OFF", "Off", "F", "FALSE",
	                                  "False", "NO", "nO" };
	static const char *const bad[] = { "", "2", "y", "n", "onn", "tru", "yes please", "00", "-1" };
	char *dir = kov_test_tmpdir_new("kovcfg");

	for (gsize i = 0; i < G_N_ELEMENTS(yes); i++) {
		gboolean v = FALSE;
		g_assert_true(kov_config_parse_bool(yes[i], &v));
		g_assert_true(v);
		/* And through a file, where Kuvert read ON as false. */
		g_autofree char *text = g_strdup_printf("[koverto]\nmsserver = localhost\n"
		                                        "identify = %s\npreamble = %s\n", yes[i], no[i]);
		g_autofree char *path = write_conf(dir, text);
		g_autoptr(KovConfig) config = load_ok(path);
		g_assert_true(config->identify);
		g_assert_false(config->preamble);
	}
	for (gsize i = 0; i < G_N_ELEMENTS(no); i++) {
		gboolean v = TRUE;
		g_assert_true(kov_config_parse_bool(no[i], &v));
		g_assert_false(v);
	}
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		gboolean v = 7;
		g_assert_false(kov_config_parse_bool(bad[i], &v));
		g_assert_cmpint(v, ==, 7);
	}
	remove_tree(dir);
}

/* ---- bad values ------------------------------------------------------ */

typedef struct {
	const char *key;
	const char *value;    /* @DIR@ is the test directory */
	const char *what;     /* expected text after FILE:3: key "KEY": */
} BadValue;

static const BadValue bad_values[] = {
	{ "defaultkey", "zz12", "not a key ID or fingerprint (8, 16 or 40 hex digits, optional 0x): \"zz12\"" },
	{ "defaultkey", "0x", "not a key ID or fingerprint (8, 16 or 40 hex digits, optional 0x): \"0x\"" },
	/* gpg reads no other length as a key ID (issue 10 B2) */
	{ "defaultkey", "0xDEADBEEFDEADBEEF1",
	  "not a key ID or fingerprint (8, 16 or 40 hex digits, optional 0x): \"0xDEADBEEFDEADBEEF1\"" },
	{ "defaultkey", "1234567", "not a key ID or fingerprint (8, 16 or 40 hex digits, optional 0x): \"1234567\"" },
	{ "defaultaction", "encrypt", "not an action (none, signonly, fallback, fallback-all, "
	                              "mustencrypt): \"encrypt\"" },
	{ "defaultaction", "", "not an action (none, signonly, fallback, fallback-all, "
	                       "mustencrypt): \"\"" },
	{ "alwaystrust", "maybe", "not a boolean (1/on/t/true/yes or 0/off/f/false/no): \"maybe\"" },
	{ "use-agent", "2", "not a boolean (1/on/t/true/yes or 0/off/f/false/no): \"2\"" },
	{ "identify", "", "not a boolean (1/on/t/true/yes or 0/off/f/false/no): \"\"" },
	{ "preamble", "y", "not a boolean (1/on/t/true/yes or 0/off/f/false/no): \"y\"" },
	{ "can-detach", "onn", "not a boolean (1/on/t/true/yes or 0/off/f/false/no): \"onn\"" },
	{ "mspass-from-query-secret", "nope",
	  "not a boolean (1/on/t/true/yes or 0/off/f/false/no): \"nope\"" },
	{ "query-secret", "/bin/sh -c true", "the arguments must contain %s (the key ID): "
	                                     "\"/bin/sh -c true\"" },
	{ "query-secret", "@DIR@/nope %s", "\"@DIR@/nope\": not an executable file" },
	{ "flush-secret", "%s", "the arguments must contain %s (the key ID): \"%s\"" },
	{ "flush-secret", "bin/forget %s", "\"bin/forget\": not an absolute path" },
	{ "gpg", "@DIR@/nope", "\"@DIR@/nope\": not an executable file" },
	{ "gpg", "@DIR@", "\"@DIR@\": not an executable file" },
	{ "gpg", "no-such-program-for-koverto", "\"no-such-program-for-koverto\": not found in $PATH" },
	{ "queuedir", "relative/queue", "not an absolute path: \"relative/queue\"" },
	{ "queuedir", "~nobody/queue", "not an absolute path: \"~nobody/queue\"" },
	{ "tempdir", "tmp", "not an absolute path: \"tmp\"" },
	{ "interval", "60s", "not a number: \"60s\"" },
	{ "interval", "-1", "not a number: \"-1\"" },
	{ "interval", "0", "out of range 1-86400: \"0\"" },
	{ "interval", "86401", "out of range 1-86400: \"86401\"" },
	{ "logfile", "@DIR@", "is a directory: \"@DIR@\"" },
	{ "logfile", "log", "not an absolute path: \"log\"" },
	{ "syslog", "mail2", "not a syslog facility: \"mail2\"" },
	{ "msserver", "smtp://mail.example.org", "not a host name or IP address: "
	                                         "\"smtp://mail.example.org\"" },
	{ "msserver", "mail.example.org:25", "not a host name or IP address: \"mail.example.org:25\"" },
	{ "msport", "58x", "not a number: \"58x\"" },
	{ "msport", "+25", "not a number: \"+25\"" },
	{ "msport", "", "not a number: \"\"" },
	{ "msport", "0", "out of range 1-65535: \"0\"" },
	{ "msport", "65536", "out of range 1-65535: \"65536\"" },
	{ "msport", "99999999999999999999999", "out of range 1-65535: \"99999999999999999999999\"" },
	{ "maport", "x", "not a number: \"x\"" },
	{ "ssl", "tls", "not \"starttls\", \"ssl\" or empty: \"tls\"" },
	{ "ssl", "none", "not \"starttls\", \"ssl\" or empty: \"none\"" },
	{ "ssl-cert", "@DIR@/missing.pem", "cannot read \"@DIR@/missing.pem\": No such file or "
	                                   "directory" },
	{ "ssl-key", "key.pem", "not an absolute path: \"key.pem\"" },
	{ "ssl-cert", "@DIR@", "not a regular file: \"@DIR@\"" },
	{ "ssl-ca", "@DIR@/no-ca", "cannot read \"@DIR@/no-ca\": No such file or directory" },
	{ "ssl-ca", "/dev/null", "not a regular file: \"/dev/null\"" },
	{ "gnupghome", "@DIR@/nohome", "not a directory: \"@DIR@/nohome\": No such file or directory" },
	{ "gnupghome", "@DIR@/koverto.conf", "not a directory: \"@DIR@/koverto.conf\"" },
	{ "workers", "x", "not a number: \"x\"" },
	{ "workers", "-1", "not a number: \"-1\"" },
	{ "workers", "1025", "out of range 0-1024: \"1025\"" },
	{ "max-connections", "1025", "out of range 0-1024: \"1025\"" },
	{ "max-connections", "", "not a number: \"\"" },
	{ "max-hops", "0", "out of range 1-1000: \"0\"" },
	{ "max-hops", "1001", "out of range 1-1000: \"1001\"" },
	{ "retry-first", "0", "out of range 1s-3650d: \"0\"" },
	{ "retry-first", "0m", "out of range 1s-3650d: \"0m\"" },
	{ "retry-first", "", "not a duration (seconds, or a number with s, m, h or d): \"\"" },
	{ "retry-first", "1w", "not a duration (seconds, or a number with s, m, h or d): \"1w\"" },
	{ "retry-first", "h", "not a duration (seconds, or a number with s, m, h or d): \"h\"" },
	{ "retry-max", "10 m", "not a duration (seconds, or a number with s, m, h or d): \"10 m\"" },
	{ "retry-max", "1h30m", "not a duration (seconds, or a number with s, m, h or d): "
	                        "\"1h30m\"" },
	{ "queue-lifetime", "1.5d", "not a duration (seconds, or a number with s, m, h or d): "
	                            "\"1.5d\"" },
	{ "queue-lifetime", "-5d", "not a duration (seconds, or a number with s, m, h or d): "
	                           "\"-5d\"" },
	{ "failed-retention", "3651d", "out of range 1s-3650d: \"3651d\"" },
	{ "failed-retention", "99999999999999999999999d", "out of range 1s-3650d: "
	                                                  "\"99999999999999999999999d\"" },
	{ "mail-timeout", "10M", "not a duration (seconds, or a number with s, m, h or d): "
	                         "\"10M\"" },
	{ "dsn", "maybe", "not a boolean (1/on/t/true/yes or 0/off/f/false/no): \"maybe\"" },
	{ "keydir", "@DIR@/nokeys", "not a directory: \"@DIR@/nokeys\": No such file or directory" },
	{ "keydir", "@DIR@/koverto.conf", "not a directory: \"@DIR@/koverto.conf\"" },
	{ "keydir", "keys", "not an absolute path: \"keys\"" },
	{ "keydir-only", "maybe", "not a boolean (1/on/t/true/yes or 0/off/f/false/no): \"maybe\"" },
	{ "keydir-rescan", "86401", "out of range 0-86400: \"86401\"" },
};

/* Each bad value on line 3 of an INI and of a Kuvert-format file: the
 * same check and the same message in both. */
static void
test_bad_values(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	for (gsize i = 0; i < G_N_ELEMENTS(bad_values); i++) {
		const BadValue *bad = &bad_values[i];
		g_autofree char *value = replace_all(bad->value, "@DIR@", dir);
		g_autofree char *what = replace_all(bad->what, "@DIR@", dir);
		/* msserver spares the msp check; msp spares msserver a duplicate. */
		gboolean server = g_str_equal(bad->key, "msserver");
		const char *base_ini = server ? "msp = /bin/sh" : "msserver = localhost";
		const char *base_kuvert = server ? "msp /bin/sh" : "msserver localhost";
		g_autofree char *ini = g_strdup_printf("[koverto]\n%s\n%s = %s\n", base_ini, bad->key,
		                                       value);
		g_autofree char *kuvert = g_strdup_printf("# Kuvert\n%s\n%s %s\n", base_kuvert, bad->key,
		                                          value);
		const char *texts[] = { ini, kuvert };
		for (gsize t = 0; t < G_N_ELEMENTS(texts); t++) {
			g_autofree char *path = write_conf(dir, texts[t]);
			g_autofree char *expected = g_strdup_printf("%s:3: key \"%s\": %s", path, bad->key,
			                                            what);
			g_test_message("%s: %s = %s", t == 0 ? "ini" : "kuvert", bad->key, value);
			assert_load_error(path, expected);
		}
	}
	remove_tree(dir);
}

/* keydir (issue 14): global, per queue and per client; the innermost
 * level that says anything wins, "keydir =" turns it off there; a
 * directory koverto cannot read is a configuration error (-n: exit 78). */
static void
test_keydir(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	g_autofree char *keys = g_build_filename(dir, "keys", NULL);
	g_autofree char *qkeys = g_build_filename(dir, "qkeys", NULL);
	g_assert_cmpint(g_mkdir(keys, 0700), ==, 0);
	g_assert_cmpint(g_mkdir(qkeys, 0700), ==, 0);
	g_autofree char *text = g_strdup_printf(
		"[koverto]\nmsserver = localhost\nkeydir = %s\nkeydir-rescan = 0\n"
		"[queue must-encrypt]\nkeydir = %s\nkeydir-only = yes\n"
		"[queue fallback]\nkeydir =\n"
		"[queue app]\npolicy = fallback\n"
		"[listen]\nsubmission = 127.0.0.1:2525\n"
		"[client one]\npassword = $y$j9T$w4QM8H5c3aJl44xsI7SjQ/$O0O0hjfU4/2659E0aX1cXHlJnFqhQpDVQ7FzsAGmlH7\n"
		"queue = must-encrypt\nsenders = .*\nkeydir-only = no\n"
		"[client two]\npassword = $y$j9T$w4QM8H5c3aJl44xsI7SjQ/$O0O0hjfU4/2659E0aX1cXHlJnFqhQpDVQ7FzsAGmlH7\n"
		"queue = fallback\nsenders = .*\nkeydir = %s\n", keys, qkeys, keys);
	g_autofree char *path = write_conf(dir, text);
	g_autoptr(GError) error = NULL;
	g_autoptr(KovConfig) c = kov_config_load(path, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(c->keydir, ==, keys);
	g_assert_false(c->keydir_only);
	g_assert_cmpuint(c->keydir_rescan, ==, 0);
	const KovQueueConfig *me_q = kov_config_queue(c, "must-encrypt");
	const KovQueueConfig *fb = kov_config_queue(c, "fallback");
	const KovQueueConfig *app = kov_config_queue(c, "app");
	gboolean only = TRUE;
	g_assert_cmpstr(kov_config_keydir(c, me_q, NULL, &only), ==, qkeys);
	g_assert_true(only);
	g_assert_null(kov_config_keydir(c, fb, NULL, &only));
	g_assert_false(only);
	g_assert_cmpstr(kov_config_keydir(c, app, NULL, &only), ==, keys);
	g_assert_false(only);
	g_assert_cmpstr(kov_config_keydir(c, kov_config_queue(c, "kuvert"), NULL, NULL), ==, keys);
	const KovClientConfig *one = kov_listen_config_client(&c->listen, "one");
	const KovClientConfig *two = kov_listen_config_client(&c->listen, "two");
	g_assert_nonnull(one);
	g_assert_nonnull(two);
	g_assert_cmpstr(kov_config_keydir(c, me_q, one, &only), ==, qkeys);
	g_assert_false(only);
	g_assert_cmpstr(kov_config_keydir(c, fb, two, &only), ==, keys);
	g_assert_false(only);

	/* The defaults: none, and a rescan a minute. */
	g_autofree char *path2 = write_conf(dir, "[koverto]\nmsserver = localhost\nkeydir-only = yes\n");
	g_autoptr(KovConfig) d = load_ok(path2);
	g_assert_null(d->keydir);
	g_assert_cmpuint(d->keydir_rescan, ==, 60);
	g_assert_null(kov_config_keydir(d, kov_config_queue(d, "fallback"), NULL, &only));
	g_assert_false(only);

	/* A directory koverto may not read. */
	if (geteuid() != 0) {
		g_assert_cmpint(chmod(keys, 0), ==, 0);
		g_autofree char *t3 = g_strdup_printf("[koverto]\nmsserver = localhost\n"
		                                      "[queue fallback]\nkeydir = %s\n", keys);
		g_autofree char *path3 = write_conf(dir, t3);
		g_autofree char *want = g_strdup_printf("%s:4: key \"keydir\" in [queue fallback]: "
		                                        "cannot read directory \"%s\": Permission denied",
		                                        path3, keys);
		assert_load_error(path3, want);
		g_assert_cmpint(chmod(keys, 0700), ==, 0);
	}
	remove_tree(dir);
}

/* ---- structure ------------------------------------------------------- */

typedef struct {
	const char *text;
	const char *what;   /* expected message after "FILE" */
} BadFile;

#define KNOWN_SECTIONS "(known: [koverto], [rules], [queue must-encrypt], [queue fallback], " \
	"[queue sign-only], [queue NAME], [listen], [client NAME])"
#define NAME_CHARS "a queue name is letters a-z, digits, \"-\" and \"_\", starting with a letter " \
	"or a digit"
#define NO_POLICY "no policy; say which: policy = must-encrypt, fallback or sign-only"
#define RULE_SYNTAX "(expected REGEX ACTION[,KEY])"
#define KUVERT_READ " (read in Kuvert's format, \"name value\", because no line is a " \
	"\"[section]\"; an INI file needs \"[koverto]\" before its options)"
#define ACTIONS "(none, signonly, fallback, fallback-all, mustencrypt)"

static const BadFile bad_files[] = {
	{ "[koverto]\nmsserver = localhost\nfoo = 1\n", ":3: unknown key \"foo\" in [koverto]" },
	{ "[koverto]\nma-port = 2587\n", ":2: unknown key \"ma-port\" in [koverto]" },
	{ "[koverto]\nmsserver = localhost\n[queue fallback]\nsender = x\n",
	  ":4: unknown key \"sender\" in [queue fallback]" },
	{ "[koverto]\nmsserver = localhost\n\n[rule]\n",
	  ":4: unknown section [rule] " KNOWN_SECTIONS },
	/* Named queues (issue 12): a policy, always; a name that cannot
	 * collide with what else is in queuedir, nor leave it. */
	{ "[koverto]\nmsserver = localhost\n[queue nope]\n", ":3: section [queue nope]: " NO_POLICY },
	{ "[koverto]\nmsserver = localhost\n[queue nope]\nkey = 0x12345678\n",
	  ":3: section [queue nope]: " NO_POLICY },
	{ "[queue nope]\npolicy =\n", ":1: section [queue nope]: " NO_POLICY },
	{ "[queue nope]\npolicy = encrypt\n",
	  ":2: key \"policy\" in [queue nope]: \"encrypt\" is not a policy (must-encrypt, fallback or "
	  "sign-only)" },
	{ "[queue nope]\npolicy = kuvert\n",
	  ":2: key \"policy\" in [queue nope]: \"kuvert\" is not a policy (must-encrypt, fallback or "
	  "sign-only)" },
	{ "[queue nope]\npolicy = mustencrypt\n",
	  ":2: key \"policy\" in [queue nope]: \"mustencrypt\" is not a policy (must-encrypt, fallback or "
	  "sign-only)" },
	{ "[queue fallback]\npolicy = sign-only\n",
	  ":2: key \"policy\" in [queue fallback]: the built-in queue fallback has policy fallback and "
	  "no other; for a queue with policy sign-only, name it: [queue NAME] with policy = sign-only" },
	{ "[queue ok]\npolicy = fallback\npolicy = fallback\n",
	  ":3: key \"policy\" in [queue ok]: given twice, on lines 2 and 3" },
	{ "[queue ok]\npolicy = fallback\nsenders =\n",
	  ":3: key \"senders\" in [queue ok]: empty pattern (leave the key out to allow any sender)" },
	{ "[queue state]\npolicy = fallback\n",
	  ":1: section [queue state]: \"state\" cannot be a queue name: queuedir has it for something else" },
	{ "[queue failed]\n", ":1: section [queue failed]: \"failed\" cannot be a queue name: queuedir "
	  "has it for something else" },
	{ "[queue kuvert]\n", ":1: section [queue kuvert]: \"kuvert\" cannot be a queue name: queuedir "
	  "has it for something else" },
	{ "[queue tmp]\n", ":1: section [queue tmp]: \"tmp\" cannot be a queue name: queuedir has it "
	  "for something else" },
	{ "[queue new]\n", ":1: section [queue new]: \"new\" cannot be a queue name: queuedir has it "
	  "for something else" },
	{ "[queue cur]\n", ":1: section [queue cur]: \"cur\" cannot be a queue name: queuedir has it "
	  "for something else" },
	{ "[queue 2024]\npolicy = fallback\n",
	  ":1: section [queue 2024]: a queue name cannot be all digits (those are Kuvert's queue files)" },
	{ "[queue a.b]\n", ":1: section [queue a.b]: " NAME_CHARS },
	{ "[queue ..]\n", ":1: section [queue ..]: " NAME_CHARS },
	{ "[queue a/b]\n", ":1: section [queue a/b]: " NAME_CHARS },
	{ "[queue ../x]\n", ":1: section [queue ../x]: " NAME_CHARS },
	{ "[queue -x]\n", ":1: section [queue -x]: " NAME_CHARS },
	{ "[queue _x]\n", ":1: section [queue _x]: " NAME_CHARS },
	{ "[queue a b]\n", ":1: section [queue a b]: " NAME_CHARS },
	{ "[queue caf\xc3\xa9]\n", ":1: section [queue caf\xc3\xa9]: " NAME_CHARS },
	{ "[queue a0123456789012345678901234567890123456789012345678901234567890123]\n",
	  ":1: section [queue a0123456789012345678901234567890123456789012345678901234567890123]: "
	  "a queue name has 1 to 64 characters" },
	{ "[queue]\n", ":1: unknown section [queue] " KNOWN_SECTIONS },
	{ "msport = 25\n[koverto]\n", ":1: key \"msport\" outside any section (put it under [koverto])" },
	/* Duplicates: iniparser keeps the last silently; keys are case-blind. */
	{ "[koverto]\nmsport = 25\nmsserver = localhost\nMSPORT = 26\n",
	  ":4: key \"msport\": given twice, on lines 2 and 4" },
	{ "[koverto]\nmsserver = localhost\n[queue fallback]\n[koverto]\nmsserver = mx\n",
	  ":5: key \"msserver\": given twice, on lines 2 and 5" },
	{ "[queue sign-only]\nkey = 0x1234\nkey = 0x5678\n",
	  ":3: key \"key\" in [queue sign-only]: given twice, on lines 2 and 3" },
	/* Syntax errors come from iniparser with their line, never the text. */
	{ "[koverto]\nmsserver = localhost\nmspass hunter2\n",
	  ":3: syntax error: expected [section], key = value or a comment" },
	/* A continued line counts from its first line; errors after it too. */
	{ "[koverto]\nmail-on-error = ops\\\n@example.org\nmsport = x\n",
	  ":4: key \"msport\": not a number: \"x\"" },
	/* Checks across options. */
	{ "[koverto]\nmsserver = localhost\nmsuser = alice\n",
	  ":3: key \"msuser\": needs mspass (or mspass-from-query-secret)" },
	{ "[koverto]\nmsserver = localhost\nssl = starttls\nssl-cert = /etc/passwd\n",
	  ":4: key \"ssl-cert\": needs ssl-key too" },
	{ "[koverto]\nmsserver = localhost\nssl-key = /etc/passwd\n",
	  ":3: key \"ssl-key\": needs ssl-cert too" },
	{ "[koverto]\nmsserver = localhost\nretry-first = 2h\nretry-max = 1h\n",
	  ":4: key \"retry-max\" (3600s) is shorter than retry-first (7200s)" },
	{ "[koverto]\nmsserver = localhost\nretry-first = 2h\n",
	  ":3: key \"retry-max\" (3600s) is shorter than retry-first (7200s)" },
	/* Per-queue values. */
	{ "[queue sign-only]\nkey = alice@example.org\n",
	  ":2: key \"key\" in [queue sign-only]: not a key ID or fingerprint (8, 16 or 40 hex digits, optional "
	  "0x): \"alice@example.org\"" },
	{ "[queue must-encrypt]\nsenders =\n",
	  ":2: key \"senders\" in [queue must-encrypt]: empty pattern (leave the key out to allow "
	  "any sender)" },

	/* [rules]: numbered keys, one rule each. */
	{ "[koverto]\nmsserver = localhost\n[rules]\n^bob@ = fallback\n",
	  ":4: key \"^bob@\" in [rules]: not a rule number (rules are written "
	  "\"N = REGEX ACTION[,KEY]\" with N = 1, 2, 3...)" },
	{ "[rules]\n0 = .* none\n", ":2: key \"0\" in [rules]: not a rule number (rules are written "
	  "\"N = REGEX ACTION[,KEY]\" with N = 1, 2, 3...)" },
	{ "[rules]\n-1 = .* none\n", ":2: key \"-1\" in [rules]: not a rule number (rules are written "
	  "\"N = REGEX ACTION[,KEY]\" with N = 1, 2, 3...)" },
	{ "[rules]\n1 = a@ none\n2 = b@ none\n1 = c@ none\n",
	  ":4: key \"1\" in [rules]: given twice, on lines 2 and 4" },
	{ "[rules]\n1 = a@ none\n2 = b@ none\n01 = c@ none\n",
	  ":4: key \"01\" in [rules]: rule 1 given twice, on lines 2 and 4" },
	{ "[rules]\n1 =\n", ":2: key \"1\" in [rules]: empty rule " RULE_SYNTAX },
	{ "[rules]\n1 = ^bob@\n", ":2: key \"1\" in [rules]: no action after \"^bob@\" " RULE_SYNTAX },
	/* iniparser cuts an unquoted value at #: the pattern must be quoted. */
	{ "[rules]\n1 = ^a#b@ none\n", ":2: key \"1\" in [rules]: no action after \"^a\" " RULE_SYNTAX },
	{ "[rules]\n1 = ^bob@ encrypt\n",
	  ":2: key \"1\" in [rules]: not an action " ACTIONS ": \"encrypt\"" },
	{ "[rules]\n1 = ^bob@ None\n", ":2: key \"1\" in [rules]: not an action " ACTIONS ": \"None\"" },
	{ "[rules]\n1 = ^bob@ signonly,0x12345678\n",
	  ":2: key \"1\" in [rules]: only fallback and fallback-all take a key, not signonly" },
	{ "[rules]\n1 = ^bob@ fallback,bob\n",
	  ":2: key \"1\" in [rules]: not a key ID or fingerprint (8, 16 or 40 hex digits, optional 0x): \"bob\"" },
	{ "[rules]\n1 = ^bob@ fallback,\n",
	  ":2: key \"1\" in [rules]: not a key ID or fingerprint (8, 16 or 40 hex digits, optional 0x): \"\"" },
	{ "[rules]\n1 = ^bob@ none please\n",
	  ":2: key \"1\" in [rules]: \"please\" after the action (expected REGEX ACTION[,KEY], then "
	  "at most a # comment)" },

	/* Kuvert's format: same checks, same messages, its own line numbers. */
	{ "", NULL },  /* separator: the rest are Kuvert files */
	{ "msserver localhost\nfoo 1\n", ":2: unknown key \"foo\"" },
	{ "msserver localhost\nmsserver = localhost\n",
	  ":2: key \"msserver\": given twice, on lines 1 and 2" KUVERT_READ },
	/* A file meant as INI, without its [section] line: the format is named. */
	{ "msserver localhost\nmsport = 25\n", ":2: key \"msport\": not a number: \"= 25\"" KUVERT_READ },
	{ "msserver localhost\nmsport=25\n", ":2: unknown key \"msport=25\"" KUVERT_READ },
	{ "[koverto\nmsserver = localhost\n", ":1: unknown key \"[koverto\"" KUVERT_READ },
	{ "msserver = localhost\n",
	  ":1: key \"msserver\": not a host name or IP address: \"= localhost\"" KUVERT_READ },
	{ "queuedir = /tmp/q\n", ":1: key \"queuedir\": not an absolute path: \"= /tmp/q\"" KUVERT_READ },
	{ "msserver: localhost\n", ":1: unknown key \"msserver:\"" KUVERT_READ },
	{ "; koverto\nmsserver localhost\n", ":1: unknown key \";\"" KUVERT_READ },
	{ "msserver localhost\n\n# fine\nmsport\n", ":4: key \"msport\": not a number: \"\"" },
	{ "msserver localhost\ninterval 60 # a minute\n",
	  ":2: key \"interval\": not a number: \"60 # a minute\"" },
	{ "msserver localhost\nmsuser alice\n",
	  ":2: key \"msuser\": needs mspass (or mspass-from-query-secret)" },
	/* Kuvert 1.x: refused, not converted. */
	{ "msserver localhost\nDEFAULT fallback\n",
	  ":2: \"DEFAULT\" is a line of Kuvert's old (1.x) format: convert the file to Kuvert 2 or "
	  "INI format (see koverto.conf(5))" },
	{ "NGKEY 0x12345678\n", ":1: \"NGKEY\" is a line of Kuvert's old (1.x) format: convert the "
	  "file to Kuvert 2 or INI format (see koverto.conf(5))" },
	/* Rule lines: anything Kuvert would drop without a word is an error. */
	{ "msserver localhost\n  ^bob@\n", ":2: rule: no action after \"^bob@\" " RULE_SYNTAX },
	{ "msserver localhost\n\t^bob@ #none\n", ":2: rule: no action after \"^bob@\" " RULE_SYNTAX },
	{ "msserver localhost\n ^bob@ signonly,0x12345678\n",
	  ":2: rule: only fallback and fallback-all take a key, not signonly" },
	{ "msserver localhost\n ^bob@ mustencrypt,0x12345678\n",
	  ":2: rule: only fallback and fallback-all take a key, not mustencrypt" },
	{ "msserver localhost\n ^bob@ fallback,0xzz\n",
	  ":2: rule: not a key ID or fingerprint (8, 16 or 40 hex digits, optional 0x): \"0xzz\"" },
	{ "msserver localhost\n ^bob@ fallback 0x12\n",
	  ":2: rule: \"0x12\" after the action (expected REGEX ACTION[,KEY], then at most a # "
	  "comment)" },
	{ "msserver localhost\n ^bob@ FALLBACK\n", ":2: rule: not an action " ACTIONS ": \"FALLBACK\"" },
	{ "msserver localhost\n ^bob@ std\n", ":2: rule: not an action " ACTIONS ": \"std\"" },
	{ "msserver localhost\n ^bob@ none\n foo 1\n", ":3: rule: not an action " ACTIONS ": \"1\"" },
};

static void
test_bad_files(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	for (gsize i = 0; i < G_N_ELEMENTS(bad_files); i++) {
		if (bad_files[i].what == NULL)
			continue;
		g_autofree char *path = write_conf(dir, bad_files[i].text);
		g_autofree char *expected = g_strconcat(path, bad_files[i].what, NULL);
		g_test_message("bad file %" G_GSIZE_FORMAT ": %s", i, bad_files[i].text);
		assert_load_error(path, expected);
	}
	remove_tree(dir);
}

/* Rule patterns that are not regular expressions, in both formats. */
static void
test_rule_regex_errors(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	const char *patterns[] = { "(unclosed", "a)|(.*", "*x", "[z-a]" };
	for (gsize i = 0; i < G_N_ELEMENTS(patterns); i++) {
		g_autofree char *ini = g_strdup_printf("[koverto]\nmsserver = localhost\n[rules]\n"
		                                       "7 = %s fallback\n", patterns[i]);
		g_autofree char *path = write_conf(dir, ini);
		g_autofree char *prefix = g_strdup_printf(
			"%s:4: key \"7\" in [rules]: not a regular expression: ", path);
		assert_load_error_prefix(path, prefix);

		g_autofree char *kuvert = g_strdup_printf("msserver localhost\n\n\t%s fallback\n",
		                                          patterns[i]);
		g_autofree char *path2 = write_conf(dir, kuvert);
		g_autofree char *prefix2 = g_strdup_printf("%s:3: rule: not a regular expression: ", path2);
		assert_load_error_prefix(path2, prefix2);
	}
	remove_tree(dir);
}

/* A NUL byte would end a line early for iniparser and for a reader of
 * lines: such a file is not read at all, in either format. */
static void
test_nul_byte(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	static const char ini[] = "[koverto]\nmsserver = localhost\0\nmsport = x\n";
	static const char kuvert[] = "msserver localhost\0\nmsport x\n";
	const struct { const char *data; gsize len; } files[] = {
		{ ini, sizeof ini - 1 }, { kuvert, sizeof kuvert - 1 },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree char *path = g_build_filename(dir, "nul.conf", NULL);
		g_assert_true(g_file_set_contents(path, files[i].data, (gssize)files[i].len, NULL));
		g_assert_cmpint(chmod(path, 0600), ==, 0);
		g_autofree char *expected = g_strdup_printf("%s: not a text file (it holds a NUL byte)",
		                                            path);
		assert_load_error(path, expected);
	}
	remove_tree(dir);
}

static void
test_syntax_error_hides_text(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	g_autofree char *path = write_conf(dir, "[koverto]\nmspass: hunter2\n");
	g_autoptr(GError) error = NULL;
	g_autoptr(KovConfig) config = kov_config_load(path, &error);
	g_assert_null(config);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	g_assert_null(strstr(error->message, "hunter2"));
	g_assert_true(g_str_has_prefix(error->message, path));
	remove_tree(dir);
}

/* No message may carry the value of a secret option, whatever is wrong
 * with the file (issue 10 A9): every shape below once echoed it. */
static void
test_secret_never_echoed(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	const char *texts[] = {
		/* Kuvert format: an indented mspass line is read as a rule */
		"msserver localhost\n  mspass Hunter2xyz\n",
		"msserver localhost\n\tma-pass Hunter2xyz,0x1234\n",
		"msserver localhost\n  mspass \"correct Hunter2xyz staple\"\n",
		/* Kuvert format: "=" makes one unknown key of name and value */
		"msserver localhost\nmspass=Hunter2xyz\n",
		"msserver localhost\nMSPASS=\"Hunter2xyz\"\n",
		/* the same value given to another option */
		"msserver localhost\nmspass Hunter2xyz\nmsport Hunter2xyz\n",
		/* INI: name and value as one key, in a section, unknown */
		"[koverto]\nmsserver = localhost\nmspass Hunter2xyz = x\n",
		"[koverto]\nmsserver = localhost\n[mspass = Hunter2xyz]\n",
		"[koverto]\nmsserver = localhost\nmspass = Hunter2xyz\nmsport = Hunter2xyz\n",
		"[koverto]\nmsserver = localhost\nmspass = \"Hunter2xyz\"\n[rules]\n1 = Hunter2xyz\n",
		/* INI: continued over two lines */
		"[koverto]\nmsserver = localhost\nma-pass = abc\\\nHunter2xyz\nmsport = abcHunter2xyz\n",
		/* a misspelt secret option */
		"msserver localhost\nmspassword=Hunter2xyz\n",
		/* short: as a word of its own */
		"msserver localhost\nmspass H2x\nmsport H2x\n",
	};
	for (gsize t = 0; t < G_N_ELEMENTS(texts); t++) {
		g_autofree char *path = write_conf(dir, texts[t]);
		g_autoptr(GError) error = NULL;
		g_autoptr(KovConfig) config = kov_config_load(path, &error);
		g_assert_null(config);
		g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
		g_autofree char *lower = g_ascii_strdown(error->message, -1);
		if (strstr(lower, "hunter2") != NULL || strstr(lower, "\"h2x\"") != NULL)
			g_error("shape %" G_GSIZE_FORMAT " echoes the secret: %s", t, error->message);
		g_assert_true(g_str_has_prefix(error->message, path));
		/* still says where */
		g_assert_true(g_regex_match_simple("^[^:]+:[0-9]+: ", error->message, 0, 0));
	}
	remove_tree(dir);
}

/* A message echoes the file's text: its control characters (a terminal
 * escape sequence) are shown, not sent. */
static void
test_controls_escaped(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	g_autofree char *path = write_conf(dir, "msserver localhost\nmsport 5\x1b]0;owned\x07\r\n");
	g_autofree char *expected = g_strdup_printf(
		"%s:2: key \"msport\": not a number: \"5\\x1b]0;owned\\x07\"", path);
	assert_load_error(path, expected);
	g_autofree char *ini = write_conf(dir, "[koverto]\nmsserver = localhost\n\x1b[2J = 1\n");
	g_autofree char *expected_ini = g_strdup_printf(
		"%s:3: unknown key \"\\x1b[2j\" in [koverto]", ini);
	assert_load_error(ini, expected_ini);
	remove_tree(dir);
}

/* The tempdir check is made on the name itself, not on what a symbolic
 * link there points to (issue 10 A9). */
static void
test_tempdir(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	g_autoptr(GError) error = NULL;
	g_autofree char *made = g_build_filename(dir, "a", "b", NULL);
	g_assert_true(kov_config_prepare_tempdir(made, &error));
	g_assert_no_error(error);
	struct stat st;
	g_assert_cmpint(lstat(made, &st), ==, 0);
	g_assert_true(S_ISDIR(st.st_mode));
	g_assert_cmpint(st.st_mode & 0777, ==, 0700);
	g_assert_true(kov_config_prepare_tempdir(made, &error));   /* again: there already */

	/* a link to a directory that would pass: refused */
	g_autofree char *link = g_build_filename(dir, "link", NULL);
	g_assert_cmpint(symlink(made, link), ==, 0);
	g_assert_false(kov_config_prepare_tempdir(link, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	g_assert_nonnull(strstr(error->message, "is a symbolic link"));
	g_clear_error(&error);
	/* a dangling one: refused, and nothing made where it points */
	g_autofree char *target = g_build_filename(dir, "nowhere", NULL);
	g_autofree char *dangling = g_build_filename(dir, "dangling", NULL);
	g_assert_cmpint(symlink(target, dangling), ==, 0);
	g_assert_false(kov_config_prepare_tempdir(dangling, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	g_clear_error(&error);
	g_assert_false(g_file_test(target, G_FILE_TEST_EXISTS));
	/* open to the group, or not a directory: refused */
	g_autofree char *open_dir = g_build_filename(dir, "open", NULL);
	g_assert_cmpint(mkdir(open_dir, 0750), ==, 0);
	g_assert_cmpint(chmod(open_dir, 0750), ==, 0);
	g_assert_false(kov_config_prepare_tempdir(open_dir, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	g_clear_error(&error);
	g_autofree char *file = write_file(dir, "file", 0600, "");
	g_assert_false(kov_config_prepare_tempdir(file, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	g_clear_error(&error);
	remove_tree(dir);
}

static void
test_long_line(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	g_autofree char *x = g_strnfill(1100, 'x');
	g_autofree char *text = g_strdup_printf("[koverto]\nmsserver = localhost\n"
	                                        "mail-on-error = %s@example.org\n", x);
	g_autofree char *path = write_conf(dir, text);
	g_autofree char *expected = g_strdup_printf(
		"%s:3: line too long (iniparser reads at most 1022 characters)", path);
	assert_load_error(path, expected);
	remove_tree(dir);
}

static void
test_regex_errors(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	const char *patterns[] = { "(unclosed", "a)|(.*", "*x" };
	for (gsize i = 0; i < G_N_ELEMENTS(patterns); i++) {
		g_autofree char *text = g_strdup_printf("[koverto]\nmsserver = localhost\n"
		                                        "[queue fallback]\nsenders = %s\n", patterns[i]);
		g_autofree char *path = write_conf(dir, text);
		g_autofree char *prefix = g_strdup_printf(
			"%s:4: key \"senders\" in [queue fallback]: not a regular expression: ", path);
		assert_load_error_prefix(path, prefix);
	}
	remove_tree(dir);
}

static void
test_missing_file(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	g_autofree char *path = g_build_filename(dir, "none.conf", NULL);
	g_autofree char *expected = g_strdup_printf("%s: cannot read: %s", path, g_strerror(ENOENT));
	assert_load_error(path, expected);
	g_autofree char *expected_dir = g_strdup_printf("%s: cannot read: %s", dir, g_strerror(EISDIR));
	assert_load_error(dir, expected_dir);
	remove_tree(dir);
}

/* ---- Kuvert's format ----------------------------------------------------- */

/* Kuvert's lexical rules (kuvert-reference.md 4.1), with trailing blanks
 * trimmed (Kuvert kept them, bug 6). */
static void
test_kuvert_lexical(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	g_autofree char *path = write_conf(dir,
		"# comment\r\n"
		"   \t\r\n"
		"\t# indented comment\r\n"
		"MsServer localhost  \r\n"           /* any case but all-caps; CRLF */
		"msport\t\t2525\r\n"
		"mail-on-error \"ops team\"@example.org\r\n"   /* quotes not around all: kept */
		"msuser \"a 'quoted' user \"  \r\n"  /* blanks inside quotes kept */
		"mspass-from-query-secret on\r\n"
		"query-secret '/bin/sh -c \"echo %s\"'\r\n"
		"defaultkey \"0x1234ABCD'\r\n"       /* not a matching pair: not stripped */
		);
	g_autofree char *expected = g_strdup_printf(
		"%s:10: key \"defaultkey\": not a key ID or fingerprint (8, 16 or 40 hex digits, optional 0x): "
		"\"\"0x1234ABCD'\"", path);
	assert_load_error(path, expected);

	g_autofree char *text = NULL;
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	text[strlen(text) - strlen("defaultkey \"0x1234ABCD'\r\n")] = '\0';
	g_free(path);
	path = write_conf(dir, text);
	g_autoptr(KovConfig) config = load_ok(path);
	g_assert_cmpstr(config->msserver, ==, "localhost");
	g_assert_cmpuint(config->msport, ==, 2525);
	g_assert_cmpstr(config->mail_on_error, ==, "\"ops team\"@example.org");
	g_assert_cmpstr(config->msuser, ==, "a 'quoted' user ");
	g_assert_cmpstr(config->query_secret, ==, "/bin/sh -c \"echo %s\"");
	g_assert_null(config->defaultkey);
	g_assert_cmpuint(config->rules->len, ==, 0);

	/* No iniparser here, so no 1022-character limit either. */
	g_autofree char *x = g_strnfill(1100, 'x');
	g_autofree char *long_text = g_strdup_printf("msserver localhost\nmail-on-error %s@example.org\n",
	                                             x);
	g_autofree char *long_path = write_conf(dir, long_text);
	g_autoptr(KovConfig) long_config = load_ok(long_path);
	g_assert_cmpuint(strlen(long_config->mail_on_error), ==, 1100 + strlen("@example.org"));
	remove_tree(dir);
}

/* Option lines and rule lines mixed, rules kept in file order; an empty
 * string option means unset, as in INI. */
static void
test_kuvert_rules(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	g_autofree char *path = write_conf(dir,
		"defaultaction signonly\n"
		" ^.*-request@.*$ none\n"
		"msserver localhost\n"
		"\t\tbob@example\\.org\tfallback,0xB0B0B0B0B0B0B0B0   # Bob's key\n"
		"  Carol@Example.org fallback-all,deadbeefdeadbeef#comment\n"
		"  @example\\.org mustencrypt\n"
		"  . signonly\n"
		"logfile\n");
	g_autoptr(KovConfig) config = load_ok(path);
	g_assert_cmpint(config->defaultaction, ==, KOV_ACTION_SIGNONLY);
	g_assert_null(config->logfile);
	g_assert_cmpuint(config->rules->len, ==, 5);
	static const struct { const char *pattern; KovAction action; const char *key; guint line; }
	expected[] = {
		{ "^.*-request@.*$", KOV_ACTION_NONE, NULL, 2 },
		{ "bob@example\\.org", KOV_ACTION_FALLBACK, "0xB0B0B0B0B0B0B0B0", 4 },
		{ "Carol@Example.org", KOV_ACTION_FALLBACK_ALL, "deadbeefdeadbeef", 5 },
		{ "@example\\.org", KOV_ACTION_MUSTENCRYPT, NULL, 6 },
		{ ".", KOV_ACTION_SIGNONLY, NULL, 7 },
	};
	for (guint i = 0; i < G_N_ELEMENTS(expected); i++) {
		const KovRule *rule = g_ptr_array_index(config->rules, i);
		g_assert_cmpstr(rule->pattern, ==, expected[i].pattern);
		g_assert_cmpint(rule->action, ==, expected[i].action);
		g_assert_cmpstr(rule->key, ==, expected[i].key);
		g_assert_cmpuint(rule->line, ==, expected[i].line);
	}
	static const struct { const char *address; int rule; } matches[] = {
		{ "majordomo-request@lists.example.net", 0 },
		{ "bob@example.org", 1 },
		{ "xbob@example.org", 1 },      /* unanchored, as in Kuvert */
		{ "carol@example.org", 2 },     /* Kuvert never matched upper case (bug 3) */
		{ "dave@example.org", 3 },
		{ "dave@example.net", 4 },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(matches); i++) {
		const KovRule *rule = kov_policy_rule_match(config->rules, matches[i].address);
		g_assert_true(rule == g_ptr_array_index(config->rules, matches[i].rule));
	}
	g_assert_null(kov_policy_rule_match(config->rules, ""));
	remove_tree(dir);
}

/* The format is told by content: one "[section]" line makes a file INI,
 * wherever it is; without one, even INI-looking lines are Kuvert's. */
static void
test_format_detection(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	g_autofree char *path = write_conf(dir, "# a comment\nmsserver localhost\n  [koverto]  \n");
	g_autofree char *expected = g_strdup_printf(
		"%s:2: syntax error: expected [section], key = value or a comment", path);
	assert_load_error(path, expected);
	g_free(path);

	/* In a comment it does not count (and ";" is no comment in Kuvert's format). */
	path = write_conf(dir, "# [koverto]\n  # [koverto]\nmsserver localhost\n");
	KovConfig *config = load_ok(path);
	g_assert_cmpstr(config->msserver, ==, "localhost");
	kov_config_free(config);
	g_free(path);

	/* A Kuvert rule line that happens to end in "]" is still a rule. */
	path = write_conf(dir, "msserver localhost\n  [abc]@example.org none\n  x@[127.0.0.1]\n");
	g_free(expected);
	expected = g_strdup_printf("%s:3: rule: no action after \"x@[127.0.0.1]\" " RULE_SYNTAX,
	                           path);
	assert_load_error(path, expected);
	remove_tree(dir);
}

/* ---- passwords and file modes ---------------------------------------- */

/* Whoever may write the file may set msp: group- or world-writable files
 * are refused whatever they hold, in both formats. */
static void
test_writable_mode(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	const char *texts[] = { "[koverto]\nmsserver = localhost\n", "msserver localhost\n", "" };
	const int refused[] = { 0620, 0602, 0666, 0664, 0646 };
	const char *who[] = { "its group", "others", "its group and others", "its group", "others" };
	for (gsize t = 0; t < G_N_ELEMENTS(texts); t++) {
		for (gsize m = 0; m < G_N_ELEMENTS(refused); m++) {
			g_autofree char *path = write_file(dir, "w.conf", refused[m], texts[t]);
			g_autofree char *expected = g_strdup_printf(
				"%s: may be written by %s (mode %04o), who could make koverto run any "
				"program; chmod go-w it", path, who[m], refused[m]);
			assert_load_error(path, expected);
			g_assert_cmpint(unlink(path), ==, 0);
		}
	}
	const int accepted[] = { 0600, 0644, 0444, 0400, 0640 };
	for (gsize m = 0; m < G_N_ELEMENTS(accepted); m++) {
		g_autofree char *path = write_file(dir, "w.conf", accepted[m], texts[1]);
		g_autoptr(KovConfig) config = load_ok(path);
		g_assert_cmpstr(config->msserver, ==, "localhost");
		g_assert_cmpint(unlink(path), ==, 0);
	}
	remove_tree(dir);
}



static void
test_password_mode(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	const char *texts[] = {
		"[koverto]\nmsserver = localhost\nmsuser = alice\nmspass = secret\n",
		"[koverto]\nmsserver = localhost\nma-user = bob\nma-pass = secret\n",
		"msserver localhost\nmsuser alice\nmspass secret\n",
		"msserver localhost\nma-user bob\nma-pass \"secret\"\n",
	};
	const int refused[] = { 0644, 0640, 0604, 0444 };
	/* the group is named as the group (issue 10 B9) */
	const char *who[] = { "its group and others", "its group", "others", "its group and others" };
	for (gsize t = 0; t < G_N_ELEMENTS(texts); t++) {
		for (gsize m = 0; m < G_N_ELEMENTS(refused); m++) {
			g_autofree char *path = write_file(dir, "pw.conf", refused[m], texts[t]);
			g_autofree char *expected = g_strdup_printf(
				"%s: holds a password but is readable by %s (mode %04o); chmod 600 it",
				path, who[m], refused[m]);
			assert_load_error(path, expected);
			g_assert_cmpint(unlink(path), ==, 0);
		}
		g_autofree char *path = write_file(dir, "pw.conf", 0600, texts[t]);
		g_autoptr(KovConfig) config = load_ok(path);
		g_assert_cmpstr(t % 2 == 0 ? config->mspass : config->ma_pass, ==, "secret");
		g_assert_cmpint(unlink(path), ==, 0);
	}
	/* No password in it: any mode will do. */
	g_autofree char *path = write_file(dir, "open.conf", 0644,
	                                   "[koverto]\nmsserver = localhost\nmspass =\n"
	                                   "msuser = alice\nmspass-from-query-secret = on\n"
	                                   "query-secret = /bin/sh -c 'echo %s'\n");
	g_autoptr(KovConfig) config = load_ok(path);
	g_assert_null(config->mspass);
	g_assert_true(config->mspass_from_query_secret);
	remove_tree(dir);
}

/* ---- values: quoting, comments -------------------------------------- */

static void
test_quoting(void)
{
	g_autofree char *path = g_test_build_filename(G_TEST_DIST, "config", "quoting.conf", NULL);
	g_autoptr(KovConfig) config = load_ok(path);
	g_assert_cmpstr(config->msserver, ==, "localhost");
	/* Unquoted values end at ; and # (inline comments)... */
	g_assert_cmpuint(config->msport, ==, 25);
	g_assert_cmpstr(config->defaultkey, ==, "0xABCDEF0123456789");
	/* ...quoted ones keep them, and their blanks. */
	g_assert_cmpstr(config->mail_on_error, ==, "ops;team#1@example.org");
	g_assert_cmpstr(config->msuser, ==, "mail user");
	g_assert_cmpstr(config->query_secret, ==, "/bin/sh -c \"echo %s\"");
}

/* ---- per-queue sections ---------------------------------------------- */

static void
test_queue_senders(void)
{
	g_autofree char *path = g_test_build_filename(G_TEST_DIST, "config", "senders.conf", NULL);
	g_autoptr(KovConfig) config = load_ok(path);
	const KovQueueKind me_q = KOV_QUEUE_MUST_ENCRYPT, fb = KOV_QUEUE_FALLBACK,
	                   so = KOV_QUEUE_SIGN_ONLY;

	g_assert_true(kov_config_sender_allowed(QUEUE(config, me_q), "alice@example.org"));
	g_assert_true(kov_config_sender_allowed(QUEUE(config, me_q), "Alice@EXAMPLE.org"));
	g_assert_false(kov_config_sender_allowed(QUEUE(config, me_q), "x@example.org.evil"));
	g_assert_false(kov_config_sender_allowed(QUEUE(config, me_q), "x@example.orgevil"));
	g_assert_false(kov_config_sender_allowed(QUEUE(config, me_q), "x@example.org\n"));
	g_assert_false(kov_config_sender_allowed(QUEUE(config, me_q), "x@sub.example.org"));
	g_assert_false(kov_config_sender_allowed(QUEUE(config, me_q), "x@exampleXorg"));
	g_assert_false(kov_config_sender_allowed(QUEUE(config, me_q), ""));
	/* No sender established (issue 10 A4): refused, never skipped. */
	g_assert_false(kov_config_sender_allowed(QUEUE(config, me_q), NULL));

	/* Each alternative is anchored, not just the first and the last. */
	g_assert_true(kov_config_sender_allowed(QUEUE(config, fb), "alice@example.org"));
	g_assert_true(kov_config_sender_allowed(QUEUE(config, fb), "BOB@example.org"));
	g_assert_false(kov_config_sender_allowed(QUEUE(config, fb), "alice@example.org.evil"));
	g_assert_false(kov_config_sender_allowed(QUEUE(config, fb), "xbob@example.org"));
	g_assert_false(kov_config_sender_allowed(QUEUE(config, fb), "carol@example.org"));

	/* No pattern: anybody. */
	g_assert_true(kov_config_sender_allowed(QUEUE(config, so), "anyone@anywhere.example"));
	g_assert_true(kov_config_sender_allowed(QUEUE(config, so), NULL));
	g_assert_null(QUEUE(config, so)->allowed_senders);
}

/* Named queues (issue 12): in file order after the three built-ins, each
 * with its policy, key and senders; a name given in any case is the same
 * queue (iniparser folds section names); "kuvert" is Kuvert's queue. */
static void
test_named_queues(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	g_autofree char *path = write_conf(dir,
		"[koverto]\nmsserver = localhost\n"
		"[queue monitoring]\npolicy = must-encrypt\nkey = 0x1234567890ABCDEF\n"
		"senders = nagios@example\\.org\n"
		"[queue fallback]\npolicy = fallback\nkey = 0x12345678\n"
		"[queue Tickets_2]\npolicy = sign-only\n"
		"[queue crm-9]\npolicy = fallback\n"
		"[queue MONITORING]\nsenders = other@example.org\n");
	g_autoptr(GError) error = NULL;
	g_autoptr(KovConfig) config = kov_config_load(path, &error);
	/* the second [queue monitoring] is the same section: senders twice */
	g_assert_null(config);
	g_assert_nonnull(strstr(error->message, "key \"senders\" in [queue monitoring]: given twice"));

	g_autofree char *path2 = write_conf(dir,
		"[koverto]\nmsserver = localhost\n"
		"[queue monitoring]\npolicy = must-encrypt\nkey = 0x1234567890ABCDEF\n"
		"senders = nagios@example\\.org\n"
		"[queue fallback]\npolicy = fallback\nkey = 0x12345678\n"
		"[queue Tickets_2]\npolicy = sign-only\n"
		"[queue crm-9]\npolicy = fallback\n");
	g_autoptr(KovConfig) c = load_ok(path2);
	g_assert_cmpuint(c->queues->len, ==, 6);
	const char *order[] = { "must-encrypt", "fallback", "sign-only", "monitoring", "tickets_2", "crm-9" };
	const KovQueueKind kinds[] = { KOV_QUEUE_MUST_ENCRYPT, KOV_QUEUE_FALLBACK, KOV_QUEUE_SIGN_ONLY,
	                               KOV_QUEUE_MUST_ENCRYPT, KOV_QUEUE_SIGN_ONLY, KOV_QUEUE_FALLBACK };
	for (guint i = 0; i < G_N_ELEMENTS(order); i++) {
		g_assert_cmpstr(QUEUE(c, i)->name, ==, order[i]);
		g_assert_cmpint(QUEUE(c, i)->kind, ==, kinds[i]);
		g_assert_true(kov_config_queue(c, order[i]) == QUEUE(c, i));
	}
	const KovQueueConfig *mon = kov_config_queue(c, "monitoring");
	g_assert_cmpstr(mon->signing_key, ==, "0x1234567890ABCDEF");
	g_assert_true(kov_config_sender_allowed(mon, "Nagios@EXAMPLE.org"));
	g_assert_false(kov_config_sender_allowed(mon, "nagios@example.org.evil"));
	g_assert_false(kov_config_sender_allowed(mon, NULL));
	g_assert_cmpstr(kov_config_queue(c, "fallback")->signing_key, ==, "0x12345678");
	g_assert_null(kov_config_queue(c, "crm-9")->signing_key);
	g_assert_true(kov_config_queue_builtin(c, KOV_QUEUE_SIGN_ONLY) == QUEUE(c, 2));

	/* Kuvert's queue: a fixed entry, the rules decide; nothing else is known. */
	const KovQueueConfig *kuvert = kov_config_queue(c, "kuvert");
	g_assert_nonnull(kuvert);
	g_assert_cmpint(kuvert->kind, ==, KOV_QUEUE_KUVERT);
	g_assert_null(kuvert->signing_key);
	g_assert_true(kov_config_queue_builtin(c, KOV_QUEUE_KUVERT) == kuvert);
	g_assert_null(kov_config_queue(c, "Monitoring"));
	g_assert_null(kov_config_queue(c, "nope"));
	g_assert_null(kov_config_queue(c, "state"));
	g_assert_null(kov_config_queue(c, ""));
	g_autofree char *names = kov_config_queue_names(c);
	g_assert_cmpstr(names, ==, "must-encrypt, fallback, sign-only, monitoring, tickets_2, crm-9");

	/* Without queue sections: the three built-ins. */
	g_autofree char *path3 = write_conf(dir, "[koverto]\nmsserver = localhost\n");
	g_autoptr(KovConfig) plain = load_ok(path3);
	g_assert_cmpuint(plain->queues->len, ==, 3);
	remove_tree(dir);
}

static void
test_queue_names(void)
{
	const char *good[] = { "a", "0a", "a0", "must-encrypt", "fallback", "sign-only", "x_y-z",
	                       "1-2", "a123456789012345678901234567890123456789012345678901234567890123" };
	const char *bad[] = { "", "0", "007", "state", "failed", "kuvert", "tmp", "new", "cur", "A",
	                      "a.b", ".", "..", "a/b", "/", "-a", "_a", "a b", "a\n", "a:b",
	                      "koverto.pid", "a1234567890123456789012345678901234567890123456789012345678901234" };
	for (gsize i = 0; i < G_N_ELEMENTS(good); i++)
		g_assert_true(kov_config_queue_name_check(good[i], NULL));
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_assert_false(kov_config_queue_name_check(bad[i], &error));
		g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	}
}

static void
test_queue_quoted_pattern(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	g_autofree char *path = write_conf(dir, "[koverto]\nmsserver = localhost\n"
	                                        "[queue sign-only]\nsenders = \\Qa.b@example.org\n");
	g_autoptr(KovConfig) config = load_ok(path);
	g_assert_true(kov_config_sender_allowed(QUEUE(config, KOV_QUEUE_SIGN_ONLY), "a.b@example.org"));
	g_assert_false(kov_config_sender_allowed(QUEUE(config, KOV_QUEUE_SIGN_ONLY), "axb@example.org"));
	g_assert_false(kov_config_sender_allowed(QUEUE(config, KOV_QUEUE_SIGN_ONLY), "a.b@example.org.evil"));
	remove_tree(dir);
}

/* What -n and the start warn about (issue 10 B1, B4). */
static void
test_warnings(void)
{
	char *dir = kov_test_tmpdir_new("kovcfg");
	g_autofree char *quiet = write_conf(dir, "[koverto]\nmsserver = localhost\n"
	                                         "defaultaction = fallback\nmaport = 2600\n");
	g_autoptr(KovConfig) a = load_ok(quiet);
	g_auto(GStrv) none = kov_config_warnings(a);
	g_assert_cmpuint(g_strv_length(none), ==, 0);

	/* Kuvert's listener runs (issue 12): nothing to warn about but the
	 * default action. */
	g_autofree char *loud = write_conf(dir, "msserver localhost\nmaport 2600\nma-user app\n"
	                                        "ma-pass pw-in-file\n");
	g_autoptr(KovConfig) b = load_ok(loud);
	g_assert_true(b->listen.kuvert);
	g_auto(GStrv) two = kov_config_warnings(b);
	g_assert_cmpuint(g_strv_length(two), ==, 1);
	g_assert_true(g_str_has_prefix(two[0], "defaultaction is none:"));

	/* half of it: Kuvert would not listen, nor does koverto */
	g_autofree char *user_only = write_conf(dir, "[koverto]\nmsserver = localhost\n"
	                                             "defaultaction = signonly\nma-user = app\n"
	                                             "mahost = ::1\n");
	g_autoptr(KovConfig) c = load_ok(user_only);
	g_assert_false(c->listen.kuvert);
	g_auto(GStrv) one = kov_config_warnings(c);
	g_assert_cmpuint(g_strv_length(one), ==, 1);
	g_assert_nonnull(strstr(one[0], "::1:2587"));
	remove_tree(dir);
}

/* ---- where the file is ----------------------------------------------- */

static void
test_locate(void)
{
	g_autofree char *saved = g_strdup(g_getenv("KOVERTO_CONF"));
	char *home = kov_test_tmpdir_new("kovcfg");      /* stands in for the passwd home */
	g_autofree char *kuvert = g_build_filename(home, ".kuvert", NULL);
	g_unsetenv("KOVERTO_CONF");

	/* No ~/.kuvert: the system-wide file. */
	g_autofree char *a = kov_config_locate_in(NULL, home);
	g_assert_cmpstr(a, ==, "/etc/koverto/koverto.conf");
	g_assert_cmpstr(a, ==, KOV_CONFIG_DEFAULT_PATH);

	/* A Kuvert user's ~/.kuvert, even an empty one, comes before it... */
	g_free(write_file(home, ".kuvert", 0600, ""));
	g_autofree char *b = kov_config_locate_in(NULL, home);
	g_assert_cmpstr(b, ==, kuvert);

	/* ...and after $KOVERTO_CONF and -c. */
	g_setenv("KOVERTO_CONF", "/srv/env.conf", TRUE);
	g_autofree char *c = kov_config_locate_in(NULL, home);
	g_assert_cmpstr(c, ==, "/srv/env.conf");
	g_autofree char *d = kov_config_locate_in("/srv/explicit.conf", home);
	g_assert_cmpstr(d, ==, "/srv/explicit.conf");
	g_autofree char *e = kov_config_locate("/srv/explicit.conf");
	g_assert_cmpstr(e, ==, "/srv/explicit.conf");
	g_setenv("KOVERTO_CONF", "", TRUE);   /* empty: as if unset */
	g_autofree char *f = kov_config_locate_in(NULL, home);
	g_assert_cmpstr(f, ==, kuvert);
	g_autofree char *f2 = kov_config_locate_in("", home);
	g_assert_cmpstr(f2, ==, kuvert);

	/* -h prints the order walked above, from the same table (issue 10 B9). */
	g_autofree char *order = kov_config_search_order();
	g_assert_cmpstr(order, ==, "-c FILE, else $KOVERTO_CONF, else ~/.kuvert if it exists, else "
	                KOV_CONFIG_DEFAULT_PATH);

	/* The real lookup goes through the passwd entry, not $HOME. */
	g_autofree char *saved_home = g_strdup(g_getenv("HOME"));
	g_setenv("HOME", home, TRUE);
	g_autofree char *real_kuvert = g_build_filename(me()->pw_dir, ".kuvert", NULL);
	g_autofree char *g = kov_config_locate(NULL);
	g_assert_cmpstr(g, ==, g_file_test(real_kuvert, G_FILE_TEST_EXISTS) ? real_kuvert
	                                                                   : KOV_CONFIG_DEFAULT_PATH);
	if (saved_home != NULL)
		g_setenv("HOME", saved_home, TRUE);

	/* The per-user set-up: that file, ~/.kuvert_queue, the user's gpg home
	 * (msserver only spares the check for /usr/sbin/sendmail). */
	g_free(write_file(home, ".kuvert", 0600, "msserver localhost\n"));
	g_autoptr(KovConfig) config = load_ok(kuvert);
	g_autofree char *queue = g_build_filename(me()->pw_dir, ".kuvert_queue", NULL);
	g_assert_cmpstr(config->queuedir, ==, queue);
	g_assert_null(config->gnupghome);
	g_assert_cmpuint(config->rules->len, ==, 0);

	remove_tree(home);
	if (saved != NULL)
		g_setenv("KOVERTO_CONF", saved, TRUE);
	else
		g_unsetenv("KOVERTO_CONF");
}

/* ---- the shipped example and man page --------------------------------- */

/* The Kuvert-format block at the end of the example, without the "# " in
 * front of each line. (transfer full) */
static char *
example_kuvert_block(const char *text)
{
	const char *begin = strstr(text, "\n# ---- ~/.kuvert begins ----\n");
	const char *end = strstr(text, "\n# ---- ~/.kuvert ends ----\n");
	g_assert_nonnull(begin);
	g_assert_nonnull(end);
	begin = strchr(begin + 1, '\n') + 1;
	g_autofree char *block = g_strndup(begin, (gsize)(end + 1 - begin));
	g_auto(GStrv) lines = g_strsplit(block, "\n", -1);
	GString *out = g_string_new(NULL);
	for (gsize i = 0; lines[i] != NULL && lines[i + 1] != NULL; i++) {
		g_assert_true(lines[i][0] == '#');
		g_string_append_printf(out, "%s\n", lines[i] + (lines[i][1] == ' ' ? 2 : 1));
	}
	return g_string_free(out, FALSE);
}

static void
assert_same_rules(const GPtrArray *a, const GPtrArray *b)
{
	g_assert_cmpuint(a->len, ==, b->len);
	for (guint i = 0; i < a->len; i++) {
		const KovRule *x = g_ptr_array_index(a, i), *y = g_ptr_array_index(b, i);
		g_assert_cmpstr(x->pattern, ==, y->pattern);
		g_assert_cmpint(x->action, ==, y->action);
		g_assert_cmpstr(x->key, ==, y->key);
	}
}

static void
test_example(void)
{
	g_autofree char *path = g_test_build_filename(G_TEST_DIST, "..", "koverto.conf.example", NULL);
	g_autoptr(KovConfig) config = load_ok(path);
	g_assert_cmpstr(config->msserver, ==, "localhost");
	g_assert_cmpuint(config->msport, ==, 25);
	g_assert_cmpint(config->defaultaction, ==, KOV_ACTION_NONE);
	g_assert_cmpuint(config->rules->len, ==, 1);
	const KovRule *rule = g_ptr_array_index(config->rules, 0);
	g_assert_cmpstr(rule->pattern, ==, "^.*-request@");
	g_assert_cmpint(rule->action, ==, KOV_ACTION_NONE);

	/* Every option is listed, set or commented out, with a value. */
	g_autofree char *text = NULL;
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	for (gsize i = 0; i < G_N_ELEMENTS(all_options); i++) {
		g_autofree char *re = g_strdup_printf("^(# ?)?%s = ", all_options[i]);
		if (!g_regex_match_simple(re, text, G_REGEX_MULTILINE, 0))
			g_error("koverto.conf.example lacks %s", all_options[i]);
	}
	const char *queue_keys[] = { "key", "senders" };
	for (gsize i = 0; i < G_N_ELEMENTS(queue_keys); i++) {
		g_autofree char *re = g_strdup_printf("^(# ?)?%s = ", queue_keys[i]);
		g_assert_true(g_regex_match_simple(re, text, G_REGEX_MULTILINE, 0));
	}
	/* Each commented-out rule is a valid rule. */
	g_autoptr(GRegex) commented = g_regex_new("^# (\\d+) = (.*)$", G_REGEX_MULTILINE, 0, NULL);
	g_autoptr(GMatchInfo) match = NULL;
	guint n = 0;
	char *dir = kov_test_tmpdir_new("kovcfg");
	for (g_regex_match(commented, text, 0, &match); g_match_info_matches(match);
	     g_match_info_next(match, NULL), n++) {
		g_autofree char *number = g_match_info_fetch(match, 1);
		g_autofree char *value = g_match_info_fetch(match, 2);
		g_autofree char *one = g_strdup_printf("[koverto]\nmsserver = localhost\n[rules]\n%s = %s\n",
		                                       number, value);
		g_autofree char *one_path = write_conf(dir, one);
		g_autoptr(KovConfig) one_config = load_ok(one_path);
		g_assert_cmpuint(one_config->rules->len, ==, 1);
	}
	g_assert_cmpuint(n, ==, 3);

	/* The Kuvert-format block is the same configuration. */
	g_autofree char *kuvert = example_kuvert_block(text);
	g_autofree char *kuvert_path = write_conf(dir, kuvert);
	g_autoptr(KovConfig) k = load_ok(kuvert_path);
	g_assert_cmpstr(k->msserver, ==, config->msserver);
	g_assert_cmpuint(k->msport, ==, config->msport);
	g_assert_cmpint(k->defaultaction, ==, config->defaultaction);
	assert_same_rules(k->rules, config->rules);
	/* Its commented-out rules, uncommented, are those of [rules]. */
	g_autoptr(GString) uncommented = g_string_new(kuvert);
	g_string_replace(uncommented, "\n # ", "\n ", 0);
	g_autofree char *uncommented_path = write_conf(dir, uncommented->str);
	g_autoptr(KovConfig) all = load_ok(uncommented_path);
	g_assert_cmpuint(all->rules->len, ==, 4);
	g_autoptr(GString) ini = g_string_new(text);
	g_string_replace(ini, "\n# 2 = ", "\n2 = ", 0);
	g_string_replace(ini, "\n# 3 = ", "\n3 = ", 0);
	g_string_replace(ini, "\n# 4 = ", "\n4 = ", 0);
	g_autofree char *ini_path = write_conf(dir, ini->str);
	g_autoptr(KovConfig) all_ini = load_ok(ini_path);
	assert_same_rules(all->rules, all_ini->rules);
	remove_tree(dir);
}

static void
test_man_page(void)
{
	g_autofree char *path = g_test_build_filename(G_TEST_DIST, "..", "doc", "koverto.conf.5", NULL);
	g_autofree char *text = NULL;
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	for (gsize i = 0; i < G_N_ELEMENTS(all_options); i++) {
		g_autofree char *roff = replace_all(all_options[i], "-", "\\-");
		g_autofree char *tag = g_strdup_printf("\n.BI \"%s = \"", roff);
		if (strstr(text, tag) == NULL)
			g_error("koverto.conf.5 does not document %s", all_options[i]);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/config/defaults/smtp", test_defaults_smtp);
	g_test_add_func("/config/defaults/empty-section", test_defaults_empty_section);
	g_test_add_func("/config/defaults/empty-file", test_defaults_empty_file);
	g_test_add_func("/config/defaults/tmpdir-unset", test_defaults_tmpdir_unset);
	g_test_add_func("/config/options/all", test_all_options);
	g_test_add_func("/config/options/all-kuvert", test_all_options_kuvert);
	g_test_add_func("/config/options/programs-in-path", test_programs_in_path);
	g_test_add_func("/config/options/msp", test_msp);
	g_test_add_func("/config/options/home", test_home_expansion);
	g_test_add_func("/config/options/ssl-ca-directory", test_ssl_ca_directory);
	g_test_add_func("/config/values/empty", test_empty_values);
	g_test_add_func("/config/values/booleans", test_booleans);
	g_test_add_func("/config/values/bad", test_bad_values);
	g_test_add_func("/config/values/quoting", test_quoting);
	g_test_add_func("/config/structure/bad", test_bad_files);
	g_test_add_func("/config/rules/regex-errors", test_rule_regex_errors);
	g_test_add_func("/config/structure/syntax-hides-text", test_syntax_error_hides_text);
	g_test_add_func("/config/structure/secret-never-echoed", test_secret_never_echoed);
	g_test_add_func("/config/structure/long-line", test_long_line);
	g_test_add_func("/config/tempdir", test_tempdir);
	g_test_add_func("/config/structure/controls-escaped", test_controls_escaped);
	g_test_add_func("/config/structure/nul-byte", test_nul_byte);
	g_test_add_func("/config/structure/missing", test_missing_file);
	g_test_add_func("/config/password-mode", test_password_mode);
	g_test_add_func("/config/writable-mode", test_writable_mode);
	g_test_add_func("/config/kuvert/lexical", test_kuvert_lexical);
	g_test_add_func("/config/kuvert/rules", test_kuvert_rules);
	g_test_add_func("/config/kuvert/format-detection", test_format_detection);
	g_test_add_func("/config/queue/senders", test_queue_senders);
	g_test_add_func("/config/queue/quoted-pattern", test_queue_quoted_pattern);
	g_test_add_func("/config/queue/named", test_named_queues);
	g_test_add_func("/config/queue/names", test_queue_names);
	g_test_add_func("/config/queue/regex-errors", test_regex_errors);
	g_test_add_func("/config/locate", test_locate);
	g_test_add_func("/config/keydir", test_keydir);
	g_test_add_func("/config/warnings", test_warnings);
	g_test_add_func("/config/example", test_example);
	g_test_add_func("/config/man-page", test_man_page);
	return g_test_run();
}
