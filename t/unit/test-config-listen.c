/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of lib/config/config-listen.c: [listen] and [client NAME]
 * through kov_config_load, every value type (addresses, sizes, hashes,
 * fingerprints), every check across values (TLS for anything off
 * loopback, clients that can log in, known queues, unique certificates,
 * the key file's mode), Kuvert's listener from maport, mahost, ma-user and
 * ma-pass, the warnings, and that no password or hash leaves in a message.
 * Files are written into a fresh directory under /tmp per test. */
#include "config.h"
#include "error.h"
#include "fixture.h"

#include <string.h>
#include <sys/stat.h>

/* Real hashes made by libxcrypt 4.4 (password "pw"). */
#define HASH_Y "$y$j9T$w4QM8H5c3aJl44xsI7SjQ/$O0O0hjfU4/2659E0aX1cXHlJnFqhQpDVQ7FzsAGmlH7"
#define HASH_GY "$gy$j9T$eLMWCRnWrpP8/zXsTANM60$HKFwv2OaZJcLoj4A1GhdkaujU.DAfi0Grk580BF0C6A"
#define HASH_7 "$7$CU..../....dC4YgG5IlwM2pLuDG7CO41$HiR/ARUErDltBnivSQQlbzU1zk7rngWr8k/b6lTSQ95"
#define HASH_2B "$2b$05$UKzorts3OKn3u6VFC82e0up0h.b.Hcow.dhVSOYoeIg3/H8xY.nL2"
#define HASH_6 "$6$pQPCKMU0pldL1vMB$OrSs1S3ERucyiuaZBNxbeqkQFCoAK1UZPlkcEo9FthRq11Rx55gROg0rIlq4" \
               "jDNztLB7lWP2T1uCB6ml4r2BX0"
#define HASH_5 "$5$UhlXTgxOd./o2Sy/$zdI.7VURvgPY.8ikblN3meWEFTIkKMD3IiUEvn8oouD"
#define HASH_1 "$1$reZwsgOs$4mX8jjGw9RuzMjIaWY6B.."
#define FPR_COLONS "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:" \
                   "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
#define FPR_HEX "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"

typedef struct {
	char *dir;
	char *cert, *key;   /* two readable files, the key mode 0600 */
} Fixture;

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

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
	(void)data;
	f->dir = kov_test_tmpdir_new("kovlst");
	f->cert = write_file(f->dir, "cert.pem", 0644, "not parsed at load\n");
	f->key = write_file(f->dir, "key.pem", 0600, "not parsed at load\n");
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
	(void)data;
	g_assert_true(kov_test_tree_remove(f->dir));
	g_free(f->dir);
	g_free(f->cert);
	g_free(f->key);
}

/* A configuration: [koverto] for the sink, then @body. (transfer full) */
static char *
conf(Fixture *f, const char *body)
{
	g_autofree char *text = g_strdup_printf("[koverto]\nmsserver = localhost\nqueuedir = %s/q\n"
	                                        "tempdir = %s/t\n%s", f->dir, f->dir, body);
	return write_file(f->dir, "koverto.conf", 0600, text);
}

static KovConfig *
load_ok(const char *path)
{
	g_autoptr(GError) error = NULL;
	KovConfig *config = kov_config_load(path, &error);
	g_assert_no_error(error);
	g_assert_nonnull(config);
	return config;
}

/* The load fails with exactly @expected after "FILE:". */
static void
assert_error(const char *path, const char *expected)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(KovConfig) config = kov_config_load(path, &error);
	g_assert_null(config);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	g_assert_true(g_str_has_prefix(error->message, path));
	g_assert_cmpstr(error->message + strlen(path), ==, expected);
}

#define CLIENT_OK "[client app]\npassword = " HASH_Y "\nqueue = fallback\nsenders = app@example\\.org\n"

static void
test_defaults(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autofree char *path = conf(f, "");
	g_autoptr(KovConfig) config = load_ok(path);
	const KovListenConfig *l = &config->listen;
	g_assert_false(kov_listen_config_enabled(l));
	g_assert_null(l->submission);
	g_assert_null(l->submissions);
	g_assert_null(l->tls_cert);
	g_assert_null(l->tls_key);
	g_assert_cmpstr(l->hostname, ==, g_get_host_name());
	g_assert_cmpuint(l->max_sessions, ==, 64);
	g_assert_cmpuint(l->max_sessions_per_ip, ==, 16);
	g_assert_cmpuint(l->max_size, ==, 10 * 1024 * 1024);
	g_assert_cmpuint(l->max_recipients, ==, 100);
	g_assert_cmpuint(l->max_mails, ==, 100);
	g_assert_cmpint(l->timeout_greeted, ==, 30);
	g_assert_cmpint(l->timeout, ==, 300);
	g_assert_cmpint(l->timeout_data, ==, 600);
	g_assert_cmpint(l->timeout_tls, ==, 10);
	g_assert_cmpint(l->session_deadline, ==, 1800);
	g_assert_true(l->received_ip);
	g_assert_nonnull(l->clients);
	g_assert_cmpuint(l->clients->len, ==, 0);
	g_assert_false(l->kuvert);
	g_assert_null(l->kuvert_address);
	g_assert_null(config->ma_host);
}

static void
test_full(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autofree char *body = g_strdup_printf(
		"[listen]\nsubmission = 127.0.0.1:2525, [::1]:2525 0.0.0.0:587\n"
		"submissions = [0:0::0:1]:4465\ntls-cert = %s\ntls-key = %s\nhostname = mx.example.org\n"
		"max-sessions = 10\nmax-sessions-per-ip = 2\nmax-size = 25M\nmax-recipients = 500\n"
		"max-mails = 7\ntimeout-greeted = 1m\ntimeout = 2m\ntimeout-data = 1h\ntimeout-tls = 5\n"
		"session-deadline = 1d\nreceived-ip = no\n"
		"[client Monitor.App-1]\npassword = " HASH_6 "\nqueue = must-encrypt\nkey = 0x1234ABCD\n"
		"senders = nagios@example\\.org\n"
		"[client tickets]\ncertificate = " FPR_COLONS "\nqueue = kuvert\nsenders = .*\n"
		"[queue crm]\npolicy = sign-only\n"
		"[client crm]\npassword = " HASH_6 "\nqueue = crm\nsenders = .*\n",
		f->cert, f->key);
	g_autofree char *path = conf(f, body);
	g_autoptr(KovConfig) config = load_ok(path);
	const KovListenConfig *l = &config->listen;
	g_assert_true(kov_listen_config_enabled(l));
	g_assert_cmpuint(g_strv_length(l->submission), ==, 3);
	g_assert_cmpstr(l->submission[0], ==, "127.0.0.1:2525");
	g_assert_cmpstr(l->submission[1], ==, "[::1]:2525");
	g_assert_cmpstr(l->submission[2], ==, "0.0.0.0:587");
	g_assert_cmpuint(g_strv_length(l->submissions), ==, 1);
	g_assert_cmpstr(l->submissions[0], ==, "[::1]:4465");
	g_assert_cmpstr(l->tls_cert, ==, f->cert);
	g_assert_cmpstr(l->tls_key, ==, f->key);
	g_assert_cmpstr(l->hostname, ==, "mx.example.org");
	g_assert_cmpuint(l->max_sessions, ==, 10);
	g_assert_cmpuint(l->max_sessions_per_ip, ==, 2);
	g_assert_cmpuint(l->max_size, ==, 25 * 1024 * 1024);
	g_assert_cmpuint(l->max_recipients, ==, 500);
	g_assert_cmpuint(l->max_mails, ==, 7);
	g_assert_cmpint(l->timeout_greeted, ==, 60);
	g_assert_cmpint(l->timeout, ==, 120);
	g_assert_cmpint(l->timeout_data, ==, 3600);
	g_assert_cmpint(l->timeout_tls, ==, 5);
	g_assert_cmpint(l->session_deadline, ==, 86400);
	g_assert_false(l->received_ip);
	g_assert_cmpuint(l->clients->len, ==, 3);
	/* a named queue is a client's queue like the built-in ones */
	g_assert_cmpstr(kov_listen_config_client(l, "crm")->queue, ==, "crm");

	/* iniparser lower-cases section names: names are any case */
	const KovClientConfig *mon = kov_listen_config_client(l, "MONITOR.app-1");
	g_assert_nonnull(mon);
	g_assert_true(mon == g_ptr_array_index(l->clients, 0));
	g_assert_cmpstr(mon->name, ==, "monitor.app-1");
	g_assert_null(mon->login);
	g_assert_cmpstr(mon->password_hash, ==, HASH_6);
	g_assert_null(mon->password_plain);
	g_assert_null(mon->certificate);
	g_assert_cmpstr(mon->queue, ==, "must-encrypt");
	g_assert_cmpstr(mon->signing_key, ==, "0x1234ABCD");
	g_assert_true(g_regex_match(mon->senders_re, "NAGIOS@example.org", 0, NULL));
	g_assert_false(g_regex_match(mon->senders_re, "nagios@example.org.evil", 0, NULL));
	g_assert_false(g_regex_match(mon->senders_re, "x-nagios@example.org", 0, NULL));

	const KovClientConfig *tickets = kov_listen_config_client(l, "tickets");
	g_assert_nonnull(tickets);
	g_assert_null(tickets->password_hash);
	g_assert_cmpstr(tickets->certificate, ==, FPR_HEX);
	g_assert_null(tickets->signing_key);
	g_assert_true(kov_listen_config_client_by_certificate(l, FPR_HEX) == tickets);
	g_autofree char *upper = g_ascii_strup(FPR_HEX, -1);
	g_assert_true(kov_listen_config_client_by_certificate(l, upper) == tickets);
	g_assert_null(kov_listen_config_client_by_certificate(l, "00"));
	g_assert_null(kov_listen_config_client(l, "nobody"));
	g_assert_null(kov_listen_config_client(l, "kuvert"));

	g_auto(GStrv) warnings = kov_config_warnings(config);
	for (gsize i = 0; warnings[i] != NULL; i++)
		g_assert_null(strstr(warnings[i], "client"));
}

/* Each method libxcrypt verifies and koverto accepts, and plain hex. */
static void
test_hashes_accepted(Fixture *f, gconstpointer data)
{
	(void)data;
	const char *hashes[] = { HASH_Y, HASH_GY, HASH_7, HASH_2B, HASH_6, HASH_5 };
	for (gsize i = 0; i < G_N_ELEMENTS(hashes); i++) {
		g_autofree char *body = g_strdup_printf(
			"[listen]\nsubmission = 127.0.0.1:2525\n[client app]\npassword = %s\n"
			"certificate = %s\nqueue = sign-only\nsenders = .*\n", hashes[i], FPR_HEX);
		g_autofree char *path = conf(f, body);
		g_autoptr(KovConfig) config = load_ok(path);
		const KovClientConfig *app = kov_listen_config_client(&config->listen, "app");
		g_assert_cmpstr(app->password_hash, ==, hashes[i]);
		g_assert_cmpstr(app->certificate, ==, FPR_HEX);
	}
}

/* One bad value per listener type: the key, its section and what is
 * wrong; never the value of a password. */
static void
test_bad_values(Fixture *f, gconstpointer data)
{
	(void)data;
	static const struct {
		const char *line;
		const char *message;
	} cases[] = {
		{ "[listen]\nsubmission = localhost:25",
		  "key \"submission\" in [listen]: \"localhost:25\": not an IP address (a literal "
		  "address, no host name; IPv6 in brackets: [::1]:587)" },
		{ "[listen]\nsubmission = ::1:25",
		  "key \"submission\" in [listen]: \"::1:25\": not an IP address (a literal "
		  "address, no host name; IPv6 in brackets: [::1]:587)" },
		{ "[listen]\nsubmission = 127.0.0.1",
		  "key \"submission\" in [listen]: \"127.0.0.1\": expected IP:PORT or [IPV6]:PORT" },
		{ "[listen]\nsubmission = 127.0.0.1:0",
		  "key \"submission\" in [listen]: \"127.0.0.1:0\": the port must be 1-65535" },
		{ "[listen]\nsubmission = 127.0.0.1:65536",
		  "key \"submission\" in [listen]: \"127.0.0.1:65536\": the port must be 1-65535" },
		{ "[listen]\nsubmission = 127.0.0.1:+25",
		  "key \"submission\" in [listen]: \"127.0.0.1:+25\": the port must be 1-65535" },
		{ "[listen]\nsubmissions = [::1:465",
		  "key \"submissions\" in [listen]: \"[::1:465\": expected [IPV6]:PORT" },
		{ "[listen]\nsubmissions = [127.0.0.1]:465",
		  "key \"submissions\" in [listen]: \"[127.0.0.1]:465\": not an IPv6 address in [ ]" },
		{ "[listen]\nsubmission = 127.1:25",
		  "key \"submission\" in [listen]: \"127.1:25\": not an IP address (a literal "
		  "address, no host name; IPv6 in brackets: [::1]:587)" },
		{ "[listen]\nmax-size = 10x",
		  "key \"max-size\" in [listen]: not a size (octets, or a number with k, M or G): \"10x\"" },
		{ "[listen]\nmax-size = 100",
		  "key \"max-size\" in [listen]: out of range 1024-2147483648 octets: \"100\"" },
		{ "[listen]\nmax-size = 3G",
		  "key \"max-size\" in [listen]: out of range 1024-2147483648 octets: \"3G\"" },
		{ "[listen]\nmax-size = 99999999999999999999k",
		  "key \"max-size\" in [listen]: out of range 1024-2147483648 octets: "
		  "\"99999999999999999999k\"" },
		{ "[listen]\nmax-sessions = 0",
		  "key \"max-sessions\" in [listen]: out of range 1-10000: \"0\"" },
		{ "[listen]\nmax-recipients = 0",
		  "key \"max-recipients\" in [listen]: out of range 1-100000: \"0\"" },
		{ "[listen]\ntimeout = 0",
		  "key \"timeout\" in [listen]: out of range 1s-7d: \"0\"" },
		{ "[listen]\nsession-deadline = 8d",
		  "key \"session-deadline\" in [listen]: out of range 1s-7d: \"8d\"" },
		{ "[listen]\nreceived-ip = maybe",
		  "key \"received-ip\" in [listen]: not a boolean (1/on/t/true/yes or "
		  "0/off/f/false/no): \"maybe\"" },
		{ "[listen]\nhostname = bad host",
		  "key \"hostname\" in [listen]: not a host name or IP address: \"bad host\"" },
		{ "[listen]\ntls-cert = /nonexistent/cert.pem",
		  "key \"tls-cert\" in [listen]: cannot read \"/nonexistent/cert.pem\": "
		  "No such file or directory" },
		{ "[listen]\nport = 25", "unknown key \"port\" in [listen]" },
		{ "[client app]\nuser = x", "unknown key \"user\" in [client app]" },
		{ "[client app]\npassword = hunter2-secret",
		  "key \"password\" in [client app]: not a crypt(3) hash (a password in clear is "
		  "not accepted); make one with `koverto hash-password`" },
		{ "[client app]\npassword = " HASH_1,
		  "key \"password\" in [client app]: an MD5 crypt hash ($1$), which is too weak; "
		  "make one with `koverto hash-password`" },
		{ "[client app]\npassword = abJnggxhB/yWI",
		  "key \"password\" in [client app]: a DES crypt hash (too weak) or a password in "
		  "clear: neither is accepted; make one with `koverto hash-password`" },
		{ "[client app]\npassword = hunter2s3cret",
		  "key \"password\" in [client app]: a DES crypt hash (too weak) or a password in "
		  "clear: neither is accepted; make one with `koverto hash-password`" },
		{ "[client app]\npassword = $sha1$253121$vNFQjp6JX2Z6Fuh4rHJF$zTaTtmDsBUNwJabpSyXNl4Npyx",
		  "key \"password\" in [client app]: not a hash of an accepted method ($y$, $gy$, $7$, "
		  "$2b$, $6$, $5$); make one with `koverto hash-password`" },
		{ "[client app]\npassword = $6$pQPCKMU0pldL1vMB",
		  "key \"password\" in [client app]: not a whole sha512crypt hash (cut short, or only "
		  "a salt?); make one with `koverto hash-password`" },
		{ "[client app]\npassword = $y$j9T$w4QM8H5c3aJl44xsI7SjQ/$O0O0hjfU4/2659E0aX1cXHl",
		  "key \"password\" in [client app]: not a whole yescrypt hash (cut short, or only "
		  "a salt?); make one with `koverto hash-password`" },
		{ "[client app]\npassword = $y$j9T$w4QM8H5c3aJl44xsI7SjQ/$O0O0hjfU4/2659E0aX1cXHlJnFqhQpDVQ7FzsAGmlH!",
		  "key \"password\" in [client app]: not a whole yescrypt hash (cut short, or only "
		  "a salt?); make one with `koverto hash-password`" },
		{ "[client app]\ncertificate = abcd",
		  "key \"certificate\" in [client app]: not a SHA-256 fingerprint (64 hex digits, or "
		  "32 pairs with colons, as `openssl x509 -noout -fingerprint -sha256` prints them): "
		  "\"abcd\"" },
		{ "[client app]\ncertificate = " FPR_HEX "00",
		  "key \"certificate\" in [client app]: not a SHA-256 fingerprint (64 hex digits, or "
		  "32 pairs with colons, as `openssl x509 -noout -fingerprint -sha256` prints them): "
		  "\"" FPR_HEX "00\"" },
		{ "[client app]\ncertificate = A:BCD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:"
		  "01:23:45:67:89:AB:CD:EF:01:23:45:67:89",
		  "key \"certificate\" in [client app]: not a SHA-256 fingerprint (64 hex digits, or "
		  "32 pairs with colons, as `openssl x509 -noout -fingerprint -sha256` prints them): "
		  "\"A:BCD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:"
		  "01:23:45:67:89\"" },
		{ "[client app]\nkey = xyz",
		  "key \"key\" in [client app]: not a key ID or fingerprint (8, 16 or 40 hex digits, "
		  "optional 0x): \"xyz\"" },
		{ "[client app]\nsenders = (",
		  NULL },
		{ "[koverto]\nmahost = bad host",
		  "key \"mahost\": not a host name or IP address: \"bad host\"" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *body = g_strconcat(cases[i].line, "\n", NULL);
		g_autofree char *path = conf(f, body);
		g_autoptr(GError) error = NULL;
		g_autoptr(KovConfig) config = kov_config_load(path, &error);
		g_assert_null(config);
		g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
		g_test_message("%s", error->message);
		g_autofree char *expected = g_strdup_printf("%s:6: %s", path, cases[i].message);
		if (cases[i].message != NULL)
			g_assert_cmpstr(error->message, ==, expected);
		g_assert_null(strstr(error->message, "hunter2"));
		g_assert_null(strstr(error->message, "$pQPCKMU0pldL1vMB"));
		g_assert_null(strstr(error->message, "O0O0hjfU4"));
		g_assert_null(strstr(error->message, "reZwsgOs"));
		g_assert_null(strstr(error->message, "abJnggxhB"));
	}
}

/* The checks across values, each naming the line it is about. */
static void
test_checks(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autofree char *tls = g_strdup_printf("tls-cert = %s\ntls-key = %s\n", f->cert, f->key);
	const struct {
		const char *body;
		const char *message;
	} cases[] = {
		{ "[listen]\nsubmission = 192.0.2.1:587\n" CLIENT_OK,
		  ":6: key \"submission\" in [listen]: 192.0.2.1:587 is not a loopback address, and "
		  "without tls-cert and tls-key nobody could log in there safely (AUTH is offered only "
		  "after STARTTLS); set them, or listen on 127.0.0.1" },
		{ "[listen]\nsubmission = 0.0.0.0:587\n" CLIENT_OK,
		  ":6: key \"submission\" in [listen]: 0.0.0.0:587 is not a loopback address, and "
		  "without tls-cert and tls-key nobody could log in there safely (AUTH is offered only "
		  "after STARTTLS); set them, or listen on 127.0.0.1" },
		{ "[listen]\nsubmission = [::]:587\n" CLIENT_OK,
		  ":6: key \"submission\" in [listen]: [::]:587 is not a loopback address, and "
		  "without tls-cert and tls-key nobody could log in there safely (AUTH is offered only "
		  "after STARTTLS); set them, or listen on 127.0.0.1" },
		{ "[listen]\nsubmissions = 127.0.0.1:465\n" CLIENT_OK,
		  ":6: key \"submissions\" in [listen]: implicit TLS needs tls-cert and tls-key" },
		{ "[listen]\nsubmission = 127.0.0.1:587\n",
		  ":6: [listen]: no [client NAME] section, so nobody could log in" },
		{ "[listen]\nsubmission = 127.0.0.1:587\n[client app]\nqueue = fallback\nsenders = .*\n",
		  ":7: [client app]: needs password (a hash from `koverto hash-password`) or "
		  "certificate (a SHA-256 fingerprint), or both" },
		{ "[client app]\npassword = " HASH_Y "\nsenders = .*\n",
		  ":5: [client app]: needs queue (where its mail goes: must-encrypt, fallback, "
		  "sign-only, kuvert or a [queue NAME])" },
		{ "[client app]\npassword = " HASH_Y "\nsenders = .*\nqueue = nosuch\n",
		  ":8: key \"queue\" in [client app]: no such queue: \"nosuch\" (known: must-encrypt, fallback, sign-only)" },
		{ "[client app]\npassword = " HASH_Y "\nqueue = fallback\n",
		  ":5: [client app]: needs senders (a pattern for the addresses it may send as, e.g. "
		  "senders = app@example\\.org; .* for any)" },
		{ "[client a]\ncertificate = " FPR_HEX "\nqueue = fallback\nsenders = .*\n"
		  "[client b]\ncertificate = " FPR_COLONS "\nqueue = fallback\nsenders = .*\n",
		  ":10: key \"certificate\" in [client b]: the same as [client a]'s; a certificate "
		  "names one client" },
		{ "[client a/b]\npassword = " HASH_Y "\nqueue = fallback\nsenders = .*\n",
		  ":5: [client a/b]: a client name is 1-64 letters, digits, \".\", \"_\" or \"-\"" },
		{ "[client aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n",
		  ":5: [client aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]: a "
		  "client name is 1-64 letters, digits, \".\", \"_\" or \"-\"" },
		{ "[client kuvert]\npassword = " HASH_Y "\nqueue = kuvert\nsenders = .*\n",
		  ":5: [client kuvert]: the name is reserved for Kuvert's listener (maport, ma-user, "
		  "ma-pass); choose another" },
		{ "[listen]\nsubmission = 127.0.0.1:587, 127.0.0.1:587\n" CLIENT_OK,
		  ":6: submission 127.0.0.1:587: the same address and port as submission "
		  "127.0.0.1:587" },
		{ "[listen]\nsubmission = 127.0.0.1:587, [::]:587\n" CLIENT_OK,
		  ":6: key \"submission\" in [listen]: [::]:587 is not a loopback address, and "
		  "without tls-cert and tls-key nobody could log in there safely (AUTH is offered only "
		  "after STARTTLS); set them, or listen on 127.0.0.1" },
		{ "[koverto]\nma-user = other\nma-pass = s3cret\n"
		  "[listen]\nsubmission = 127.0.0.1:2587\n" CLIENT_OK,
		  ":6: maport 127.0.0.1:2587: the same address and port as submission 127.0.0.1:2587" },
		{ "[koverto]\nma-user = APP\nma-pass = s3cret\n"
		  "[listen]\nsubmission = 127.0.0.1:2525\n" CLIENT_OK,
		  ":10: [client app]: the same login as ma-user, Kuvert's listener user" },
		{ "[koverto]\nmahost = 192.0.2.1\n",
		  ":6: key \"mahost\": \"192.0.2.1\" is not a loopback IP address (Kuvert's listener "
		  "takes passwords without TLS: 127.0.0.1 or ::1 only)" },
		{ "[koverto]\nmahost = localhost\n",
		  ":6: key \"mahost\": \"localhost\" is not a loopback IP address (Kuvert's listener "
		  "takes passwords without TLS: 127.0.0.1 or ::1 only)" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *path = conf(f, cases[i].body);
		assert_error(path, cases[i].message);
	}
	/* with TLS, the same binds are fine; a wildcard clashes with its port */
	g_autofree char *ok_body = g_strconcat("[listen]\nsubmission = 192.0.2.1:587 [::]:588\n"
	                                       "submissions = 0.0.0.0:465\n", tls, CLIENT_OK, NULL);
	g_autofree char *ok = conf(f, ok_body);
	g_autoptr(KovConfig) config = load_ok(ok);
	g_autofree char *clash_body = g_strconcat("[listen]\nsubmission = 127.0.0.1:465\n"
	                                          "submissions = 0.0.0.0:465\n", tls, CLIENT_OK, NULL);
	g_autofree char *clash = conf(f, clash_body);
	assert_error(clash, ":7: submissions 0.0.0.0:465: the same address and port as submission "
	                    "127.0.0.1:465");
	g_autofree char *v6_body = g_strconcat("[listen]\nsubmission = 127.0.0.1:465\n"
	                                       "submissions = [::]:465\n", tls, CLIENT_OK, NULL);
	g_autofree char *v6 = conf(f, v6_body);
	assert_error(v6, ":7: submissions [::]:465: the same address and port as submission "
	                 "127.0.0.1:465");
}

/* tls-cert and tls-key come together; the key is the owner's alone. */
static void
test_tls_files(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autofree char *only_cert = g_strdup_printf("[listen]\ntls-cert = %s\n", f->cert);
	g_autofree char *a = conf(f, only_cert);
	assert_error(a, ":6: key \"tls-cert\" in [listen]: needs tls-key too");
	g_autofree char *only_key = g_strdup_printf("[listen]\ntls-key = %s\n", f->key);
	g_autofree char *b = conf(f, only_key);
	assert_error(b, ":6: key \"tls-key\" in [listen]: needs tls-cert too");

	g_autofree char *both = g_strdup_printf("[listen]\ntls-cert = %s\ntls-key = %s\n", f->cert,
	                                        f->key);
	const struct { int mode; const char *who; } modes[] = {
		{ 0640, "its group" }, { 0604, "others" }, { 0644, "its group and others" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(modes); i++) {
		g_assert_cmpint(chmod(f->key, (mode_t)modes[i].mode), ==, 0);
		g_autofree char *path = conf(f, both);
		g_autofree char *expected = g_strdup_printf(
			":7: key \"tls-key\" in [listen]: %s may be read by %s (mode %04o); chmod 600 it",
			f->key, modes[i].who, (unsigned)modes[i].mode);
		assert_error(path, expected);
	}
	g_assert_cmpint(chmod(f->key, 0400), ==, 0);
	g_autofree char *path = conf(f, both);
	g_autoptr(KovConfig) config = load_ok(path);
	g_assert_cmpstr(config->listen.tls_key, ==, f->key);
}

/* A file with a client's password hash is as secret as one with mspass. */
static void
test_hash_file_mode(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autofree char *path = conf(f, CLIENT_OK);
	g_assert_cmpint(chmod(path, 0640), ==, 0);
	assert_error(path, ": holds a password but is readable by its group (mode 0640); chmod 600 it");
	/* a certificate alone is no secret */
	g_autofree char *cert_only = conf(f, "[client app]\ncertificate = " FPR_HEX
	                                     "\nqueue = fallback\nsenders = .*\n");
	g_assert_cmpint(chmod(cert_only, 0644), ==, 0);
	g_autoptr(KovConfig) config = load_ok(cert_only);
}

/* Kuvert's listener: maport, ma-user and ma-pass all set (either format). */
static void
test_kuvert(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autofree char *kfile = g_strdup_printf("msserver localhost\nqueuedir %s/q\ntempdir %s/t\n"
	                                         "maport 2600\nma-user App.User\nma-pass p4ss word\n",
	                                         f->dir, f->dir);
	g_autofree char *path = write_file(f->dir, "dot-kuvert", 0600, kfile);
	g_autoptr(KovConfig) config = load_ok(path);
	const KovListenConfig *l = &config->listen;
	g_assert_true(kov_listen_config_enabled(l));
	g_assert_true(l->kuvert);
	g_assert_cmpstr(l->kuvert_address, ==, "127.0.0.1:2600");
	g_assert_null(l->submission);
	g_assert_cmpuint(l->clients->len, ==, 1);
	const KovClientConfig *k = kov_listen_config_client(l, "kuvert");
	g_assert_nonnull(k);
	g_assert_cmpstr(k->login, ==, "App.User");
	g_assert_cmpstr(k->password_plain, ==, "p4ss word");
	g_assert_null(k->password_hash);
	g_assert_null(k->certificate);
	g_assert_cmpstr(k->queue, ==, "kuvert");
	g_assert_null(k->signing_key);
	g_assert_nonnull(k->senders_re);
	g_assert_true(g_regex_match(k->senders_re, "anyone@anywhere.example", 0, NULL));
	g_assert_true(g_regex_match(k->senders_re, "", 0, NULL));
	g_auto(GStrv) warnings = kov_config_warnings(config);
	for (gsize i = 0; warnings[i] != NULL; i++) {
		g_assert_null(strstr(warnings[i], "ma-user"));
		g_assert_null(strstr(warnings[i], "p4ss"));
	}

	/* mahost ::1, with an INI listener beside it */
	g_autofree char *body = g_strdup_printf("[koverto]\nmahost = ::1\nma-user = app\n"
	                                        "ma-pass = pw\n[listen]\nsubmission = [::1]:2525\n"
	                                        CLIENT_OK);
	/* CLIENT_OK's client is called app: the same login as ma-user */
	g_autofree char *clash = conf(f, body);
	assert_error(clash, ":11: [client app]: the same login as ma-user, Kuvert's listener user");
	g_autofree char *body2 = g_strdup_printf("[koverto]\nmahost = ::1\nma-user = other\n"
	                                         "ma-pass = pw\n[listen]\nsubmission = [::1]:2525\n"
	                                         CLIENT_OK);
	g_autofree char *both = conf(f, body2);
	g_autoptr(KovConfig) c2 = load_ok(both);
	g_assert_true(c2->listen.kuvert);
	g_assert_cmpstr(c2->listen.kuvert_address, ==, "[::1]:2587");
	g_assert_cmpuint(c2->listen.clients->len, ==, 2);
	g_assert_nonnull(kov_listen_config_client(&c2->listen, "app"));
	g_assert_nonnull(kov_listen_config_client(&c2->listen, "kuvert"));

	/* half of it: no listener, as in Kuvert, and a warning */
	g_autofree char *half = conf(f, "[koverto]\nma-user = app\n");
	g_autoptr(KovConfig) c3 = load_ok(half);
	g_assert_false(kov_listen_config_enabled(&c3->listen));
	g_assert_cmpuint(c3->listen.clients->len, ==, 0);
	g_auto(GStrv) w3 = kov_config_warnings(c3);
	g_assert_cmpstr(w3[0], ==, "ma-user is set but ma-pass is not: Kuvert's listener runs only "
	                           "with maport, ma-user and ma-pass all set, so nothing listens "
	                           "on 127.0.0.1:2587 (as with Kuvert)");
}

static void
test_warnings(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autofree char *idle = conf(f, "[koverto]\ndefaultaction = fallback\n" CLIENT_OK);
	g_autoptr(KovConfig) a = load_ok(idle);
	g_auto(GStrv) wa = kov_config_warnings(a);
	g_assert_cmpuint(g_strv_length(wa), ==, 1);
	g_assert_cmpstr(wa[0], ==, "[client] sections but no submission or submissions address in "
	                           "[listen]: those clients cannot log in anywhere");

	g_autofree char *few = conf(f, "[koverto]\ndefaultaction = fallback\n[listen]\n"
	                               "submission = 127.0.0.1:2525\nmax-recipients = 10\n" CLIENT_OK);
	g_autoptr(KovConfig) b = load_ok(few);
	g_auto(GStrv) wb = kov_config_warnings(b);
	g_assert_cmpuint(g_strv_length(wb), ==, 1);
	g_assert_true(g_str_has_prefix(wb[0], "max-recipients is 10: RFC 5321"));

	g_autofree char *fine = conf(f, "[koverto]\ndefaultaction = fallback\n[listen]\n"
	                                "submission = 127.0.0.1:2525\n" CLIENT_OK);
	g_autoptr(KovConfig) c = load_ok(fine);
	g_auto(GStrv) wc = kov_config_warnings(c);
	g_assert_cmpuint(g_strv_length(wc), ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add("/config-listen/" name, Fixture, NULL, fixture_set_up, fn, \
                                 fixture_tear_down)
	ADD("defaults", test_defaults);
	ADD("full", test_full);
	ADD("hashes-accepted", test_hashes_accepted);
	ADD("bad-values", test_bad_values);
	ADD("checks", test_checks);
	ADD("tls-files", test_tls_files);
	ADD("hash-file-mode", test_hash_file_mode);
	ADD("kuvert", test_kuvert);
	ADD("warnings", test_warnings);
	return g_test_run();
}
