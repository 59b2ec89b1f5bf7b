/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A client's login. Every check costs one crypt(3) hash through
 * libxcrypt's thread-safe crypt_rn, whoever asks: a client's own hash;
 * for an unknown user, a client without a password (certificate only) or
 * Kuvert's plain ma-pass, a stand-in of the same method and cost, its
 * result thrown away. So the time does not tell whether a user exists.
 * Kuvert's ma-pass is compared as SHA-256 digests in constant time. At
 * most max_parallel hashes run at once (yescrypt takes 16 MiB each); a
 * thread waits for a slot, so only sessions that log in wait.
 *
 * Every failure waits a random 0.5-1 s, plus the back-off of the account
 * or the address with more recent failures (kov_auth_backoff_ms). A login
 * that comes while that back-off still runs is not checked at all
 * (KOV_AUTH_BACKED_OFF): parallel sessions cannot guess faster than one
 * can. Addresses are tracked by IPv4 address or IPv6 /64 (one host gets
 * a whole /64), loopback not at all (every local program shares it: the
 * account's own back-off is what limits guessing there). Accounts are
 * tracked only for configured clients, so a flood of made-up names cannot
 * push a real account out. Both tables are bounded; past the bound the
 * entry whose last failure is oldest goes. */
#include "auth-internal.h"
#include "error.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define KOV_AUTH_TABLE_CAP 4096
#define KOV_AUTH_WINDOW_MS (15 * 60 * 1000)
#define KOV_AUTH_DELAY_MIN_MS 500
#define KOV_AUTH_DELAY_MAX_MS 1000
#define KOV_AUTH_FREE_FAILURES 2       /* failures without a back-off */
#define KOV_AUTH_BACKOFF_FIRST_MS 1000
#define KOV_AUTH_BACKOFF_MAX_MS 60000

/* A yescrypt hash of a random password nobody knows: the stand-in when no
 * client has a hash to borrow the method and cost of. */
#define KOV_AUTH_DUMMY_HASH "$y$j9T$w4QM8H5c3aJl44xsI7SjQ/$O0O0hjfU4/2659E0aX1cXHlJnFqhQpDVQ7FzsAGmlH7"

typedef struct {
	guint failures;   /* recent: since the window last ran out */
	gint64 last;      /* monotonic µs of the last failure */
} KovAuthRecord;

struct _KovAuth {
	const KovListenConfig *listen;
	const char *dummy;          /* the stand-in hash (borrowed from @listen or static) */

	GMutex slots_lock;          /* the counting semaphore of hash checks */
	GCond slots_free;
	guint running, max_parallel, peak;

	GMutex table_lock;
	GHashTable *addresses;      /* key (transfer full) -> KovAuthRecord* */
	GHashTable *accounts;       /* client name -> KovAuthRecord* */
	guint cap;
	gint64 window_us;
	double scale;
};

KovAuth *
kov_auth_new(const KovListenConfig *listen, guint max_parallel)
{
	g_return_val_if_fail(listen != NULL, NULL);
	KovAuth *auth = g_new0(KovAuth, 1);
	auth->listen = listen;
	auth->max_parallel = max_parallel > 0 ? max_parallel : g_get_num_processors();
	g_mutex_init(&auth->slots_lock);
	g_cond_init(&auth->slots_free);
	g_mutex_init(&auth->table_lock);
	auth->addresses = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	auth->accounts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	auth->cap = KOV_AUTH_TABLE_CAP;
	auth->window_us = (gint64)KOV_AUTH_WINDOW_MS * 1000;
	auth->scale = 1.0;
	auth->dummy = KOV_AUTH_DUMMY_HASH;
	/* The stand-in costs what a real check costs: the first client hash. */
	for (guint i = 0; listen->clients != NULL && i < listen->clients->len; i++) {
		const KovClientConfig *client = g_ptr_array_index(listen->clients, i);
		if (client->password_hash != NULL) {
			auth->dummy = client->password_hash;
			break;
		}
	}
	return auth;
}

void
kov_auth_free(KovAuth *auth)
{
	if (auth == NULL)
		return;
	g_mutex_clear(&auth->slots_lock);
	g_cond_clear(&auth->slots_free);
	g_mutex_clear(&auth->table_lock);
	g_hash_table_unref(auth->addresses);
	g_hash_table_unref(auth->accounts);
	g_free(auth);
}

gint64
kov_auth_backoff_ms(guint failures)
{
	if (failures <= KOV_AUTH_FREE_FAILURES)
		return 0;
	guint doublings = failures - KOV_AUTH_FREE_FAILURES - 1;
	if (doublings >= 16)
		return KOV_AUTH_BACKOFF_MAX_MS;
	return MIN((gint64)KOV_AUTH_BACKOFF_FIRST_MS << doublings, KOV_AUTH_BACKOFF_MAX_MS);
}

/* ---- the tables ------------------------------------------------------- */

/* The key an address is tracked under, or NULL for loopback and text that
 * is no address (transfer full). */
static char *
kov_auth_address_key(const char *ip)
{
	guint8 b[16];
	if (ip == NULL)
		return NULL;
	if (inet_pton(AF_INET, ip, b) == 1)
		return b[0] == 127 ? NULL : g_strdup_printf("%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
	if (inet_pton(AF_INET6, ip, b) != 1)
		return NULL;
	static const guint8 loopback[16] = { [15] = 1 };
	static const guint8 mapped[12] = { [10] = 0xff, [11] = 0xff };
	if (memcmp(b, loopback, 16) == 0)
		return NULL;
	if (memcmp(b, mapped, 12) == 0)
		return b[12] == 127 ? NULL : g_strdup_printf("%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
	return g_strdup_printf("%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64", b[0], b[1], b[2], b[3],
	                       b[4], b[5], b[6], b[7]);
}

/* The record of @key in @table, its failures forgotten once the window
 * ran out; NULL if there is none. Under table_lock. */
static KovAuthRecord *
kov_auth_record(KovAuth *auth, GHashTable *table, const char *key, gint64 now)
{
	if (key == NULL)
		return NULL;
	KovAuthRecord *record = g_hash_table_lookup(table, key);
	if (record != NULL && now - record->last > auth->window_us) {
		g_hash_table_remove(table, key);
		record = NULL;
	}
	return record;
}

/* Count a failure of @key in @table, making room past the cap. Under
 * table_lock. */
static void
kov_auth_record_failure(KovAuth *auth, GHashTable *table, const char *key, gint64 now)
{
	if (key == NULL)
		return;
	KovAuthRecord *record = kov_auth_record(auth, table, key, now);
	if (record == NULL) {
		while (g_hash_table_size(table) >= auth->cap) {
			/* Expired ones first; otherwise the oldest last failure. */
			GHashTableIter iter;
			gpointer k, v;
			const char *oldest = NULL;
			gint64 oldest_last = G_MAXINT64;
			g_hash_table_iter_init(&iter, table);
			while (g_hash_table_iter_next(&iter, &k, &v)) {
				const KovAuthRecord *r = v;
				if (now - r->last > auth->window_us) {
					g_hash_table_iter_remove(&iter);
					continue;
				}
				if (r->last < oldest_last) {
					oldest_last = r->last;
					oldest = k;
				}
			}
			if (g_hash_table_size(table) >= auth->cap && oldest != NULL)
				g_hash_table_remove(table, oldest);
		}
		record = g_new0(KovAuthRecord, 1);
		g_hash_table_insert(table, g_strdup(key), record);
	}
	record->failures++;
	record->last = now;
}

/* How many ms of back-off remain for @record at @now. */
static gint64
kov_auth_remaining_ms(const KovAuthRecord *record, gint64 now)
{
	if (record == NULL)
		return 0;
	gint64 until = record->last + kov_auth_backoff_ms(record->failures) * 1000;
	return until > now ? (until - now + 999) / 1000 : 0;
}

/* ---- the check -------------------------------------------------------- */

/* The client whose login @user is. */
static const KovClientConfig *
kov_auth_client(const KovListenConfig *listen, const char *user)
{
	for (guint i = 0; listen->clients != NULL && i < listen->clients->len; i++) {
		const KovClientConfig *client = g_ptr_array_index(listen->clients, i);
		if (client->login != NULL ? strcmp(client->login, user) == 0
		                          : g_ascii_strcasecmp(client->name, user) == 0)
			return client;
	}
	return NULL;
}

/* Equal, in time that depends only on the lengths. */
static gboolean
kov_auth_equal(const char *a, gsize a_len, const char *b, gsize b_len)
{
	if (a_len != b_len)
		return FALSE;
	volatile guint8 diff = 0;
	for (gsize i = 0; i < a_len; i++)
		diff |= (guint8)(a[i] ^ b[i]);
	return diff == 0;
}

/* Does @password hash to @hash? One crypt_rn in a slot of the semaphore. */
static gboolean
kov_auth_verify_hash(KovAuth *auth, const char *password, const char *hash)
{
	g_mutex_lock(&auth->slots_lock);
	while (auth->running >= auth->max_parallel)
		g_cond_wait(&auth->slots_free, &auth->slots_lock);
	auth->running++;
	auth->peak = MAX(auth->peak, auth->running);
	g_mutex_unlock(&auth->slots_lock);

	/* 32 KiB: on the heap, not a session thread's stack. */
	struct crypt_data *data = g_malloc0(sizeof *data);
	const char *out = crypt_rn(password, hash, data, (int)sizeof *data);
	gboolean ok = out != NULL && out[0] != '*'
		&& kov_auth_equal(out, strlen(out), hash, strlen(hash));
	explicit_bzero(data, sizeof *data);
	g_free(data);

	g_mutex_lock(&auth->slots_lock);
	auth->running--;
	g_cond_signal(&auth->slots_free);
	g_mutex_unlock(&auth->slots_lock);
	return ok;
}

/* SHA-256 of both, compared in constant time: the length of ma-pass does
 * not show either. */
static gboolean
kov_auth_verify_plain(const char *password, const char *expected)
{
	guint8 a[32], b[32];
	gsize a_len = sizeof a, b_len = sizeof b;
	g_autoptr(GChecksum) ca = g_checksum_new(G_CHECKSUM_SHA256);
	g_autoptr(GChecksum) cb = g_checksum_new(G_CHECKSUM_SHA256);
	g_checksum_update(ca, (const guchar *)password, (gssize)strlen(password));
	g_checksum_update(cb, (const guchar *)expected, (gssize)strlen(expected));
	g_checksum_get_digest(ca, a, &a_len);
	g_checksum_get_digest(cb, b, &b_len);
	gboolean ok = kov_auth_equal((const char *)a, a_len, (const char *)b, b_len);
	explicit_bzero(a, sizeof a);
	explicit_bzero(b, sizeof b);
	return ok;
}

static void
kov_auth_sleep_ms(KovAuth *auth, gint64 ms)
{
	gint64 us = (gint64)((double)ms * 1000.0 * auth->scale);
	if (us > 0)
		g_usleep((gulong)us);
}

KovAuthResult
kov_auth_check(KovAuth *auth, const char *user, const char *password, const char *ip,
               const KovClientConfig **client)
{
	g_return_val_if_fail(auth != NULL && user != NULL && password != NULL, KOV_AUTH_FAILED);
	if (client != NULL)
		*client = NULL;
	const KovClientConfig *found = kov_auth_client(auth->listen, user);
	g_autofree char *address = kov_auth_address_key(ip);
	gint64 delay = g_random_int_range(KOV_AUTH_DELAY_MIN_MS, KOV_AUTH_DELAY_MAX_MS + 1);

	g_mutex_lock(&auth->table_lock);
	gint64 now = g_get_monotonic_time();
	gint64 wait = MAX(kov_auth_remaining_ms(kov_auth_record(auth, auth->addresses, address, now), now),
	                  found == NULL ? 0
	                  : kov_auth_remaining_ms(kov_auth_record(auth, auth->accounts, found->name, now),
	                                          now));
	g_mutex_unlock(&auth->table_lock);
	if (wait > 0) {
		/* Not checked, not counted: the back-off runs its course. */
		kov_auth_sleep_ms(auth, delay + wait);
		return KOV_AUTH_BACKED_OFF;
	}

	gboolean ok;
	if (found != NULL && found->password_hash != NULL) {
		ok = kov_auth_verify_hash(auth, password, found->password_hash);
	} else {
		/* the same work as a real check, its result thrown away */
		(void)kov_auth_verify_hash(auth, password, auth->dummy);
		ok = found != NULL && found->password_plain != NULL
			&& kov_auth_verify_plain(password, found->password_plain);
	}

	g_mutex_lock(&auth->table_lock);
	now = g_get_monotonic_time();
	guint failures = 0;
	if (ok) {
		/* The account is fine again; the address keeps its count, or one
		 * valid login would wash out guesses at the others. */
		g_hash_table_remove(auth->accounts, found->name);
	} else {
		kov_auth_record_failure(auth, auth->addresses, address, now);
		if (found != NULL)
			kov_auth_record_failure(auth, auth->accounts, found->name, now);
		const KovAuthRecord *a = kov_auth_record(auth, auth->addresses, address, now);
		const KovAuthRecord *b = found != NULL
			? kov_auth_record(auth, auth->accounts, found->name, now) : NULL;
		failures = MAX(a != NULL ? a->failures : 0, b != NULL ? b->failures : 0);
	}
	g_mutex_unlock(&auth->table_lock);

	if (ok) {
		if (client != NULL)
			*client = found;
		return KOV_AUTH_OK;
	}
	kov_auth_sleep_ms(auth, delay + kov_auth_backoff_ms(failures));
	return KOV_AUTH_FAILED;
}

char *
kov_auth_hash_password(const char *password, GError **error)
{
	g_return_val_if_fail(password != NULL, NULL);
	char *setting = crypt_gensalt_ra(NULL, 0, NULL, 0);
	if (setting == NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_IOERR, "cannot make a salt: %s",
		            g_strerror(errno));
		return NULL;
	}
	struct crypt_data *data = g_malloc0(sizeof *data);
	const char *out = crypt_rn(password, setting, data, (int)sizeof *data);
	char *hash = NULL;
	if (out == NULL || out[0] == '*')
		g_set_error(error, KOV_ERROR, KOV_ERROR_IOERR, "cannot hash the password: %s",
		            g_strerror(errno));
	else
		hash = g_strdup(out);
	explicit_bzero(data, sizeof *data);
	g_free(data);
	free(setting);
	return hash;
}

/* ---- for the tests (auth-internal.h) ---------------------------------- */

void
kov_auth_set_delay_scale(KovAuth *auth, double scale)
{
	auth->scale = scale;
}

void
kov_auth_set_window_ms(KovAuth *auth, gint64 window_ms)
{
	g_mutex_lock(&auth->table_lock);
	auth->window_us = window_ms * 1000;
	g_mutex_unlock(&auth->table_lock);
}

void
kov_auth_set_table_cap(KovAuth *auth, guint cap)
{
	g_mutex_lock(&auth->table_lock);
	auth->cap = MAX(cap, 1);
	g_mutex_unlock(&auth->table_lock);
}

void
kov_auth_tracked(KovAuth *auth, guint *addresses, guint *accounts)
{
	g_mutex_lock(&auth->table_lock);
	*addresses = g_hash_table_size(auth->addresses);
	*accounts = g_hash_table_size(auth->accounts);
	g_mutex_unlock(&auth->table_lock);
}

guint
kov_auth_failures(KovAuth *auth, const char *ip, const char *user)
{
	g_mutex_lock(&auth->table_lock);
	gint64 now = g_get_monotonic_time();
	const KovAuthRecord *record = NULL;
	if (ip != NULL) {
		g_autofree char *key = kov_auth_address_key(ip);
		record = kov_auth_record(auth, auth->addresses, key, now);
	} else {
		const KovClientConfig *client = kov_auth_client(auth->listen, user);
		record = client != NULL ? kov_auth_record(auth, auth->accounts, client->name, now) : NULL;
	}
	guint failures = record != NULL ? record->failures : 0;
	g_mutex_unlock(&auth->table_lock);
	return failures;
}

guint
kov_auth_peak_parallel(KovAuth *auth)
{
	g_mutex_lock(&auth->slots_lock);
	guint peak = auth->peak;
	g_mutex_unlock(&auth->slots_lock);
	return peak;
}
