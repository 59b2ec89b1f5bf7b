/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of lib/intake/auth.c with real libxcrypt hashes: logins
 * right and wrong for every kind of client, the same answer and the same
 * work for an unknown user, the random delay, the back-off per account and
 * per address (IPv6 by /64, loopback not tracked), the bounded tables, the
 * cap on parallel hash checks, and new hashes. Delays are scaled down
 * (auth-internal.h) except where the delay itself is under test. */
#include "auth-internal.h"
#include "error.h"

#include <crypt.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* password "pw", made by libxcrypt 4.4: yescrypt at its default cost */
#define HASH_Y_DEFAULT "$y$j9T$w4QM8H5c3aJl44xsI7SjQ/$O0O0hjfU4/2659E0aX1cXHlJnFqhQpDVQ7FzsAGmlH7"
/* the same at the lowest cost (crypt_gensalt count 1: N 1024, not 4096),
 * some 20 times cheaper: under valgrind (scripts/memcheck), where a check
 * at the default cost takes seconds, the same crypt_rn code runs on it. */
#define HASH_Y_CHEAP "$y$j75$et8cYhyanq1eP3LMzWu7h.$Bj7FwUzuhJG7xoA8nbEWqdEbqWlblYlyJWDt.Y6IvfC"
static const char *hash_y = HASH_Y_DEFAULT;
#define HASH_Y hash_y
#define HASH_6 "$6$pQPCKMU0pldL1vMB$OrSs1S3ERucyiuaZBNxbeqkQFCoAK1UZPlkcEo9FthRq11Rx55gROg0rIlq4" \
               "jDNztLB7lWP2T1uCB6ml4r2BX0"

static KovClientConfig *
client_new(const char *name, const char *login, const char *hash, const char *plain,
           const char *certificate)
{
	KovClientConfig *c = g_new0(KovClientConfig, 1);
	c->name = g_strdup(name);
	c->login = g_strdup(login);
	c->password_hash = g_strdup(hash);
	c->password_plain = g_strdup(plain);
	c->certificate = g_strdup(certificate);
	c->queue = g_strdup("fallback");
	c->senders = g_strdup(".*");
	c->senders_re = g_regex_new(".*", 0, 0, NULL);
	return c;
}

static void
client_free(gpointer data)
{
	KovClientConfig *c = data;
	g_free(c->name);
	g_free(c->login);
	g_free(c->password_hash);
	g_free(c->password_plain);
	g_free(c->certificate);
	g_free(c->queue);
	g_free(c->senders);
	g_regex_unref(c->senders_re);
	g_free(c);
}

typedef struct {
	KovListenConfig listen;
	KovAuth *auth;
} Fixture;

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
	(void)data;
	memset(&f->listen, 0, sizeof f->listen);
	f->listen.clients = g_ptr_array_new_with_free_func(client_free);
	g_ptr_array_add(f->listen.clients, client_new("alice", NULL, HASH_Y, NULL, NULL));
	g_ptr_array_add(f->listen.clients, client_new("bob", NULL, HASH_6, NULL, NULL));
	g_ptr_array_add(f->listen.clients,
	                client_new("certonly", NULL, NULL, NULL,
	                           "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"));
	g_ptr_array_add(f->listen.clients, client_new("kuvert", "App.User", NULL, "p4ss word", NULL));
	f->auth = kov_auth_new(&f->listen, 0);
	kov_auth_set_delay_scale(f->auth, 0.01);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
	(void)data;
	kov_auth_free(f->auth);
	g_ptr_array_unref(f->listen.clients);
}

static KovAuthResult
check(Fixture *f, const char *user, const char *password, const char *ip,
      const KovClientConfig **client)
{
	return kov_auth_check(f->auth, user, password, ip, client);
}

static void
test_backoff(void)
{
	g_assert_cmpint(kov_auth_backoff_ms(0), ==, 0);
	g_assert_cmpint(kov_auth_backoff_ms(1), ==, 0);
	g_assert_cmpint(kov_auth_backoff_ms(2), ==, 0);
	g_assert_cmpint(kov_auth_backoff_ms(3), ==, 1000);
	g_assert_cmpint(kov_auth_backoff_ms(4), ==, 2000);
	g_assert_cmpint(kov_auth_backoff_ms(5), ==, 4000);
	g_assert_cmpint(kov_auth_backoff_ms(8), ==, 32000);
	g_assert_cmpint(kov_auth_backoff_ms(9), ==, 60000);
	g_assert_cmpint(kov_auth_backoff_ms(40), ==, 60000);
	g_assert_cmpint(kov_auth_backoff_ms(G_MAXUINT), ==, 60000);
	for (guint n = 1; n < 100; n++)
		g_assert_cmpint(kov_auth_backoff_ms(n), >=, kov_auth_backoff_ms(n - 1));
}

static void
test_logins(Fixture *f, gconstpointer data)
{
	(void)data;
	const KovClientConfig *client = NULL;
	g_assert_cmpint(check(f, "alice", "pw", "192.0.2.1", &client), ==, KOV_AUTH_OK);
	g_assert_true(client == g_ptr_array_index(f->listen.clients, 0));
	/* [client] names ignore case (iniparser lower-cases them) */
	g_assert_cmpint(check(f, "ALICE", "pw", "192.0.2.1", &client), ==, KOV_AUTH_OK);
	g_assert_cmpint(check(f, "bob", "pw", "192.0.2.1", &client), ==, KOV_AUTH_OK);
	g_assert_true(client == g_ptr_array_index(f->listen.clients, 1));
	/* Kuvert's: ma-user exactly, ma-pass in clear */
	g_assert_cmpint(check(f, "App.User", "p4ss word", "127.0.0.1", &client), ==, KOV_AUTH_OK);
	g_assert_true(client == g_ptr_array_index(f->listen.clients, 3));

	const struct { const char *user, *password; } bad[] = {
		{ "alice", "pW" }, { "alice", "" }, { "alice", "pw " }, { "alice", HASH_Y },
		{ "bob", "px" }, { "nobody", "pw" }, { "", "pw" }, { "certonly", "" },
		{ "certonly", "pw" }, { "kuvert", "p4ss word" }, { "app.user", "p4ss word" },
		{ "App.User", "p4ss wor" }, { "App.User", "p4ss word\n" }, { "App.User", "" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		client = (const KovClientConfig *)&client;  /* must be reset */
		/* a fresh address each, so no back-off builds up */
		g_autofree char *ip = g_strdup_printf("198.51.100.%u", (guint)i + 1);
		KovAuthResult r = check(f, bad[i].user, bad[i].password, ip, &client);
		/* alice's fourth failure finds her account backed off */
		g_assert_cmpint(r, ==, g_str_equal(bad[i].password, HASH_Y) ? KOV_AUTH_BACKED_OFF
		                                                           : KOV_AUTH_FAILED);
		g_assert_null(client);
	}
}

/* Every failure waits 0.5-1 s, an unknown user as a wrong password. */
static void
test_delay(Fixture *f, gconstpointer data)
{
	(void)data;
	kov_auth_set_delay_scale(f->auth, 1.0);
	const char *users[] = { "alice", "nobody", "certonly", "App.User" };
	for (gsize i = 0; i < G_N_ELEMENTS(users); i++) {
		g_autofree char *ip = g_strdup_printf("203.0.113.%u", (guint)i + 1);
		gint64 start = g_get_monotonic_time();
		g_assert_cmpint(check(f, users[i], "wrong", ip, NULL), ==, KOV_AUTH_FAILED);
		gint64 ms = (g_get_monotonic_time() - start) / 1000;
		g_test_message("failure for %s: %" G_GINT64_FORMAT " ms", users[i], ms);
		g_assert_cmpint(ms, >=, 500);
		g_assert_cmpint(ms, <, 1000 + 1500);  /* the hash, and a loaded machine */
	}
	gint64 start = g_get_monotonic_time();
	g_assert_cmpint(check(f, "bob", "pw", "203.0.113.9", NULL), ==, KOV_AUTH_OK);
	g_assert_cmpint((g_get_monotonic_time() - start) / 1000, <, 500);
}

/* Three failures are free; then each waits longer, and a login during the
 * back-off is not even checked: the right password too. */
static void
test_backoff_address(Fixture *f, gconstpointer data)
{
	(void)data;
	kov_auth_set_delay_scale(f->auth, 0.001);   /* back-off 1 s -> 1 ms of sleep */
	for (guint i = 0; i < 3; i++)
		g_assert_cmpint(check(f, "nobody", "x", "192.0.2.7", NULL), ==, KOV_AUTH_FAILED);
	g_assert_cmpuint(kov_auth_failures(f->auth, "192.0.2.7", NULL), ==, 3);
	/* the tables run on real time: a 1 s back-off is in force now */
	g_assert_cmpint(check(f, "alice", "pw", "192.0.2.7", NULL), ==, KOV_AUTH_BACKED_OFF);
	g_assert_cmpuint(kov_auth_failures(f->auth, "192.0.2.7", NULL), ==, 3);
	/* another address is not held up */
	g_assert_cmpint(check(f, "alice", "pw", "192.0.2.8", NULL), ==, KOV_AUTH_OK);
	/* the window runs out: forgotten */
	kov_auth_set_window_ms(f->auth, 50);
	g_usleep(100 * 1000);
	g_assert_cmpint(check(f, "alice", "pw", "192.0.2.7", NULL), ==, KOV_AUTH_OK);
	g_assert_cmpuint(kov_auth_failures(f->auth, "192.0.2.7", NULL), ==, 0);
}

/* An IPv6 host gets a /64: its addresses count together. IPv4-mapped is
 * IPv4. Loopback is not tracked at all. */
static void
test_address_keys(Fixture *f, gconstpointer data)
{
	(void)data;
	kov_auth_set_delay_scale(f->auth, 0.001);
	g_assert_cmpint(check(f, "nobody", "x", "2001:db8:1:2::1", NULL), ==, KOV_AUTH_FAILED);
	g_assert_cmpint(check(f, "nobody", "x", "2001:db8:1:2:ffff::9", NULL), ==, KOV_AUTH_FAILED);
	g_assert_cmpint(check(f, "nobody", "x", "2001:0DB8:0001:0002::77", NULL), ==, KOV_AUTH_FAILED);
	g_assert_cmpuint(kov_auth_failures(f->auth, "2001:db8:1:2::abcd", NULL), ==, 3);
	g_assert_cmpuint(kov_auth_failures(f->auth, "2001:db8:1:3::1", NULL), ==, 0);
	g_assert_cmpint(check(f, "bob", "pw", "2001:db8:1:2::5", NULL), ==, KOV_AUTH_BACKED_OFF);
	g_assert_cmpint(check(f, "bob", "pw", "2001:db8:1:3::5", NULL), ==, KOV_AUTH_OK);

	g_assert_cmpint(check(f, "nobody", "x", "::ffff:192.0.2.50", NULL), ==, KOV_AUTH_FAILED);
	g_assert_cmpuint(kov_auth_failures(f->auth, "192.0.2.50", NULL), ==, 1);

	for (guint i = 0; i < 5; i++) {
		g_assert_cmpint(check(f, "nobody", "x", "127.0.0.1", NULL), ==, KOV_AUTH_FAILED);
		g_assert_cmpint(check(f, "nobody", "x", "::1", NULL), ==, KOV_AUTH_FAILED);
		g_assert_cmpint(check(f, "nobody", "x", "127.1.2.3", NULL), ==, KOV_AUTH_FAILED);
		g_assert_cmpint(check(f, "nobody", "x", "::ffff:127.0.0.1", NULL), ==, KOV_AUTH_FAILED);
		g_assert_cmpint(check(f, "nobody", "x", "not an address", NULL), ==, KOV_AUTH_FAILED);
	}
	g_assert_cmpuint(kov_auth_failures(f->auth, "127.0.0.1", NULL), ==, 0);
	g_assert_cmpint(check(f, "alice", "pw", "127.0.0.1", NULL), ==, KOV_AUTH_OK);
	guint addresses, accounts;
	kov_auth_tracked(f->auth, &addresses, &accounts);
	g_assert_cmpuint(addresses, ==, 2);
	g_assert_cmpuint(accounts, ==, 0);   /* unknown users are not accounts */
}

/* The account's own back-off holds from any address (loopback included,
 * where all programs share one address); a good login clears the account,
 * not the address. */
static void
test_backoff_account(Fixture *f, gconstpointer data)
{
	(void)data;
	kov_auth_set_delay_scale(f->auth, 0.001);
	g_assert_cmpint(check(f, "bob", "x", "127.0.0.1", NULL), ==, KOV_AUTH_FAILED);
	g_assert_cmpint(check(f, "bob", "x", "192.0.2.1", NULL), ==, KOV_AUTH_FAILED);
	g_assert_cmpint(check(f, "BOB", "x", "::1", NULL), ==, KOV_AUTH_FAILED);
	g_assert_cmpuint(kov_auth_failures(f->auth, NULL, "bob"), ==, 3);
	g_assert_cmpint(check(f, "bob", "pw", "127.0.0.1", NULL), ==, KOV_AUTH_BACKED_OFF);
	g_assert_cmpint(check(f, "bob", "pw", "192.0.2.99", NULL), ==, KOV_AUTH_BACKED_OFF);
	/* alice is not held up by bob's failures */
	g_assert_cmpint(check(f, "alice", "pw", "127.0.0.1", NULL), ==, KOV_AUTH_OK);

	/* after the back-off (1 s), the right password clears the account */
	g_usleep(1100 * 1000);
	g_assert_cmpint(check(f, "bob", "pw", "127.0.0.1", NULL), ==, KOV_AUTH_OK);
	g_assert_cmpuint(kov_auth_failures(f->auth, NULL, "bob"), ==, 0);
	g_assert_cmpuint(kov_auth_failures(f->auth, "192.0.2.1", NULL), ==, 1);
	g_assert_cmpint(check(f, "alice", "pw", "192.0.2.1", NULL), ==, KOV_AUTH_OK);
	g_assert_cmpuint(kov_auth_failures(f->auth, "192.0.2.1", NULL), ==, 1);
}

/* However many addresses fail, the table stays at its cap, and the ones
 * that failed last are the ones kept. */
static void
test_table_bounds(Fixture *f, gconstpointer data)
{
	(void)data;
	kov_auth_set_delay_scale(f->auth, 0.0);
	kov_auth_set_table_cap(f->auth, 8);
	for (guint i = 0; i < 40; i++) {
		g_autofree char *ip = g_strdup_printf("10.0.%u.%u", i / 256, i % 256);
		g_assert_cmpint(check(f, "nobody", "x", ip, NULL), ==, KOV_AUTH_FAILED);
		guint addresses, accounts;
		kov_auth_tracked(f->auth, &addresses, &accounts);
		g_assert_cmpuint(addresses, <=, 8);
		g_assert_cmpuint(accounts, ==, 0);
	}
	guint addresses, accounts;
	kov_auth_tracked(f->auth, &addresses, &accounts);
	g_assert_cmpuint(addresses, ==, 8);
	for (guint i = 0; i < 40; i++) {
		g_autofree char *ip = g_strdup_printf("10.0.%u.%u", i / 256, i % 256);
		g_assert_cmpuint(kov_auth_failures(f->auth, ip, NULL), ==, i >= 32 ? 1 : 0);
	}
	/* a tracked address that fails again keeps its place */
	g_assert_cmpint(check(f, "nobody", "x", "10.0.0.32", NULL), ==, KOV_AUTH_FAILED);
	g_assert_cmpuint(kov_auth_failures(f->auth, "10.0.0.32", NULL), ==, 2);
	g_assert_cmpint(check(f, "nobody", "x", "10.0.1.0", NULL), ==, KOV_AUTH_FAILED);
	g_assert_cmpuint(kov_auth_failures(f->auth, "10.0.0.32", NULL), ==, 2);
	g_assert_cmpuint(kov_auth_failures(f->auth, "10.0.0.33", NULL), ==, 0);
	/* accounts too (from loopback: no address is tracked) */
	kov_auth_set_table_cap(f->auth, 2);
	const char *users[] = { "alice", "bob", "App.User", "certonly" };
	for (gsize i = 0; i < G_N_ELEMENTS(users); i++) {
		g_assert_cmpint(check(f, users[i], "x", "127.0.0.1", NULL), ==, KOV_AUTH_FAILED);
		kov_auth_tracked(f->auth, &addresses, &accounts);
		g_assert_cmpuint(accounts, ==, MIN(i + 1, 2));
	}
	g_assert_cmpuint(kov_auth_failures(f->auth, NULL, "alice"), ==, 0);
	g_assert_cmpuint(kov_auth_failures(f->auth, NULL, "certonly"), ==, 1);
	/* expired ones go first */
	kov_auth_set_window_ms(f->auth, 1);
	g_usleep(20 * 1000);
	g_assert_cmpint(check(f, "nobody", "x", "10.9.9.9", NULL), ==, KOV_AUTH_FAILED);
	kov_auth_tracked(f->auth, &addresses, &accounts);
	g_assert_cmpuint(addresses, ==, 1);
}

typedef struct {
	Fixture *f;
	const char *user, *password;
	KovAuthResult result;
} Login;

static gpointer
login_thread(gpointer data)
{
	Login *login = data;
	login->result = check(login->f, login->user, login->password, "127.0.0.1", NULL);
	return NULL;
}

/* @n logins at once with at most @cap hash checks at once: the peak stays
 * at the cap, every login gets its answer. Milliseconds for all. */
static gint64
parallel_logins(Fixture *f, guint n, guint cap, const char *user, const char *password,
                KovAuthResult expected)
{
	kov_auth_free(f->auth);
	f->auth = kov_auth_new(&f->listen, cap);
	kov_auth_set_delay_scale(f->auth, 0.0);
	Login *logins = g_new0(Login, n);
	GThread **threads = g_new0(GThread *, n);
	gint64 start = g_get_monotonic_time();
	for (guint i = 0; i < n; i++) {
		logins[i] = (Login){ f, user, password, -1 };
		threads[i] = g_thread_new("login", login_thread, &logins[i]);
	}
	for (guint i = 0; i < n; i++)
		g_thread_join(threads[i]);
	gint64 ms = (g_get_monotonic_time() - start) / 1000;
	for (guint i = 0; i < n; i++)
		g_assert_cmpint(logins[i].result, ==, expected);
	g_assert_cmpuint(kov_auth_peak_parallel(f->auth), <=, cap);
	g_assert_cmpuint(kov_auth_peak_parallel(f->auth), >=, 1);
	g_free(logins);
	g_free(threads);
	return ms;
}

static void
test_parallel(Fixture *f, gconstpointer data)
{
	(void)data;
	guint cpus = g_get_num_processors();
	gint64 one = parallel_logins(f, 1, 1, "alice", "pw", KOV_AUTH_OK);
	gint64 sha = parallel_logins(f, 1, 1, "bob", "pw", KOV_AUTH_OK);
	gint64 serial = parallel_logins(f, 16, 1, "alice", "pw", KOV_AUTH_OK);
	g_assert_cmpuint(kov_auth_peak_parallel(f->auth), ==, 1);
	gint64 capped = parallel_logins(f, 16, cpus, "alice", "pw", KOV_AUTH_OK);
	gint64 unknown = parallel_logins(f, 16, cpus, "nobody", "pw", KOV_AUTH_FAILED);
	g_test_message("one $y$ check %" G_GINT64_FORMAT " ms, one $6$ check %" G_GINT64_FORMAT
	               " ms; 16 $y$ logins: cap 1 %" G_GINT64_FORMAT " ms, cap %u (nproc) %"
	               G_GINT64_FORMAT " ms, unknown user cap %u %" G_GINT64_FORMAT " ms",
	               one, sha, serial, cpus, capped, cpus, unknown);
	if (g_getenv("KOV_AUTH_FIGURES") != NULL)
		g_printerr("one $y$ %" G_GINT64_FORMAT " ms, one $6$ %" G_GINT64_FORMAT
		           " ms; 16 logins cap 1: %" G_GINT64_FORMAT " ms, cap %u: %" G_GINT64_FORMAT
		           " ms, unknown cap %u: %" G_GINT64_FORMAT " ms\n",
		           one, sha, serial, cpus, capped, cpus, unknown);
}

/* The stand-in hash for an unknown user is a client's own: the same
 * method and cost. */
static void
test_same_work(Fixture *f, gconstpointer data)
{
	(void)data;
	kov_auth_set_delay_scale(f->auth, 0.0);
	gint64 known = 0, unknown = 0;
	for (guint i = 0; i < 6; i++) {
		g_autofree char *a = g_strdup_printf("192.0.2.%u", 100 + i);
		g_autofree char *b = g_strdup_printf("198.51.100.%u", 100 + i);
		gint64 t0 = g_get_monotonic_time();
		g_assert_cmpint(check(f, "alice", "wrong", a, NULL), ==, KOV_AUTH_FAILED);
		gint64 t1 = g_get_monotonic_time();
		check(f, "nobody", "wrong", b, NULL);
		gint64 t2 = g_get_monotonic_time();
		/* clears alice's count: no back-off skips a check here */
		g_assert_cmpint(check(f, "alice", "pw", "::1", NULL), ==, KOV_AUTH_OK);
		known += t1 - t0;
		unknown += t2 - t1;
	}
	g_test_message("6 wrong passwords %" G_GINT64_FORMAT " us, 6 unknown users %"
	               G_GINT64_FORMAT " us", known, unknown);
	/* both are a yescrypt check; a $6$ or no check would be ~10x apart */
	g_assert_cmpint(unknown * 3, >, known);
	g_assert_cmpint(known * 3, >, unknown);
}

static void
test_hash_password(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *a = kov_auth_hash_password("correct horse", &error);
	g_assert_no_error(error);
	g_autofree char *b = kov_auth_hash_password("correct horse", &error);
	g_assert_no_error(error);
	g_assert_true(g_str_has_prefix(a, "$y$"));
	g_assert_cmpstr(a, !=, b);   /* a new salt each time */
	g_assert_cmpint(crypt_checksalt(a), ==, CRYPT_SALT_OK);
	struct crypt_data *data = g_malloc0(sizeof *data);
	g_assert_cmpstr(crypt_rn("correct horse", a, data, (int)sizeof *data), ==, a);
	g_assert_cmpstr(crypt_rn("correct horsE", a, data, (int)sizeof *data), !=, a);
	g_free(data);

	/* and it logs in */
	KovListenConfig listen = { 0 };
	listen.clients = g_ptr_array_new_with_free_func(client_free);
	g_ptr_array_add(listen.clients, client_new("app", NULL, a, NULL, NULL));
	g_autoptr(KovAuth) auth = kov_auth_new(&listen, 1);
	kov_auth_set_delay_scale(auth, 0.0);
	g_assert_cmpint(kov_auth_check(auth, "app", "correct horse", "::1", NULL), ==, KOV_AUTH_OK);
	g_assert_cmpint(kov_auth_check(auth, "app", "correct", "::1", NULL), ==, KOV_AUTH_FAILED);
	g_ptr_array_unref(listen.clients);

	g_autofree char *empty = kov_auth_hash_password("", &error);
	g_assert_no_error(error);
	g_assert_true(g_str_has_prefix(empty, "$y$"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	if (RUNNING_ON_VALGRIND)
		hash_y = HASH_Y_CHEAP;
	g_test_add_func("/auth/backoff", test_backoff);
	g_test_add_func("/auth/hash-password", test_hash_password);
#define ADD(name, fn) g_test_add("/auth/" name, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
	ADD("logins", test_logins);
	ADD("delay", test_delay);
	ADD("backoff-address", test_backoff_address);
	ADD("address-keys", test_address_keys);
	ADD("backoff-account", test_backoff_account);
	ADD("table-bounds", test_table_bounds);
	ADD("parallel", test_parallel);
	ADD("same-work", test_same_work);
	return g_test_run();
}
