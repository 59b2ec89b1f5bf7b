/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Key lookup through GPGME on the configured GnuPG home. gpg is asked for
 * "<addr>" (its exact-address mode) and every answer is checked again
 * against uid->address, so bob@ never gets jimbob@'s key. Each candidate is
 * classified (usable, not valid, unusable) with a reason in words; the
 * newest usable one wins.
 *
 * A listing runs gpg (some 5 ms of CPU), and so would every context whose
 * engine is set on its own ("gpg --version"). So the engine is set once,
 * globally, and what gpg listed is kept: until the keyring files change
 * (any import, deletion, trust or secret-key change touches one of them),
 * for at most a minute, and expiry is checked against the clock at use.
 * Keyring changes still count from the next mail, without a reload. A mail
 * to thousands of recipients prefetches them, a few hundred per gpg run. */
#include "keys.h"

#include "gmime-autoptr.h"
#include "gpgme-autoptr.h"
#include "error.h"
#include "gpgerror.h"
#include "passphrase.h"

#include <string.h>
#include <sys/stat.h>

/* Addresses per gpg run in a prefetch: its command line stays short. */
#define KEYS_PREFETCH_CHUNK 500
/* Listings older than this are made again: validity in the web of trust
 * can change with the clock alone (a certification expires). */
#define KEYS_CACHE_TTL (60 * G_USEC_PER_SEC)
/* More answers than this and the cache starts afresh. */
#define KEYS_CACHE_MAX 50000

/* What the keyring files look like: any import, delete or trust change
 * alters one of them (gpg replaces pubring.kbx by rename on import,
 * gpg-agent adds or replaces files in private-keys-v1.d; GnuPG 2.4's
 * keyboxd keeps public-keys.d/pubring.db). */
typedef struct {
	struct stat pubring_kbx, pubring_gpg, keyboxd_db, trustdb, private_keys;
} KeysStamp;

struct _KovKeys {
	char *gnupghome;   /* nullable: gpg's own default */
	char *gpg;         /* nullable: GPGME's default engine */
	gboolean alwaystrust;
	KovPassphrase *passphrase;  /* nullable: gpg-agent alone */
	GHashTable *cache;       /* "P<pattern>" / "S<pattern>" -> GPtrArray of gpgme_key_t; nullable */
	KeysStamp stamp;         /* of the keyring before the cached listings */
	gint64 cache_born;       /* monotonic usec */
	KovKeysHiddenFunc hidden;  /* nullable: keys the look-ups skip */
	gpointer hidden_data;
};

/* Which engine and home GPGME's global engine setting holds (set by
 * keys_engine_select): gpgme_new() copies it without running gpg. One
 * KovKeys per process is the rule; a second one with other settings just
 * costs a "gpg --version" whenever the two alternate. */
static struct {
	gboolean set;
	char *gpg, *home;
} keys_engine;

KovKeys *
kov_keys_new(const char *gnupghome, const char *gpg, gboolean alwaystrust, GError **error)
{
	/* Idempotent; GPGME must be initialised before the first context. */
	gpgme_check_version(NULL);

	g_autoptr(KovKeys) keys = g_new0(KovKeys, 1);
	keys->gnupghome = g_strdup(gnupghome);
	keys->gpg = g_strdup(gpg);
	keys->alwaystrust = alwaystrust;

	/* gpg would quietly list nothing from a home that is not there. */
	if (gnupghome != NULL && !g_file_test(gnupghome, G_FILE_TEST_IS_DIR)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL, "keys: GnuPG home %s is not a directory",
		            gnupghome);
		return NULL;
	}
	g_auto(gpgme_ctx_t) ctx = kov_keys_new_context(keys, error);
	if (ctx == NULL)
		return NULL;
	return g_steal_pointer(&keys);
}

void
kov_keys_set_passphrase(KovKeys *keys, KovPassphrase *passphrase)
{
	g_return_if_fail(keys != NULL);
	g_clear_pointer(&keys->passphrase, kov_passphrase_free);
	keys->passphrase = passphrase;
}

void
kov_keys_set_hidden(KovKeys *keys, KovKeysHiddenFunc hidden, gpointer data)
{
	g_return_if_fail(keys != NULL);
	keys->hidden = hidden;
	keys->hidden_data = data;
}

void
kov_keys_free(KovKeys *keys)
{
	if (keys == NULL)
		return;
	g_clear_pointer(&keys->cache, g_hash_table_unref);
	g_clear_pointer(&keys->passphrase, kov_passphrase_free);
	g_free(keys->gnupghome);
	g_free(keys->gpg);
	g_free(keys);
}

/* Point GPGME's global engine at @keys' engine and home, unless it is
 * there already (setting it runs "gpg --version"). */
static gpgme_error_t
keys_engine_select(KovKeys *keys)
{
	if (keys_engine.set && g_strcmp0(keys_engine.gpg, keys->gpg) == 0 &&
	    g_strcmp0(keys_engine.home, keys->gnupghome) == 0)
		return 0;
	gpgme_error_t err = gpgme_set_engine_info(GPGME_PROTOCOL_OpenPGP, keys->gpg, keys->gnupghome);
	g_clear_pointer(&keys_engine.gpg, g_free);
	g_clear_pointer(&keys_engine.home, g_free);
	keys_engine.set = err == 0;
	if (err == 0) {
		keys_engine.gpg = g_strdup(keys->gpg);
		keys_engine.home = g_strdup(keys->gnupghome);
	}
	return err;
}

gpgme_ctx_t
kov_keys_new_context(KovKeys *keys, GError **error)
{
	g_return_val_if_fail(keys != NULL, NULL);

	g_auto(gpgme_ctx_t) ctx = NULL;
	gpgme_error_t err = keys_engine_select(keys);
	if (err == 0)
		err = gpgme_new(&ctx);
	if (err == 0)
		err = gpgme_set_protocol(ctx, GPGME_PROTOCOL_OpenPGP);
	/* ERROR: a passphrase-protected key fails at once instead of waiting
	 * for a pinentry nobody sees; keys without passphrase sign fine. With
	 * query-secret, gpg asks koverto instead (loopback). */
	if (err == 0 && keys->passphrase != NULL)
		kov_passphrase_attach(keys->passphrase, ctx);
	else if (err == 0)
		err = gpgme_set_pinentry_mode(ctx, GPGME_PINENTRY_MODE_ERROR);
	if (err != 0) {
		kov_gpgerror_set(error, err, KOV_GPGERROR_ENGINE, "keys: cannot create a GPGME context");
		return NULL;
	}
	/* Setting the engine ran "gpg --version": its answer catches a missing
	 * gpg, which GPGME would otherwise report as an empty key list. It
	 * fakes version 1.0.0 for an engine it cannot run. */
	gpgme_engine_info_t info = gpgme_ctx_get_engine_info(ctx);
	if (info == NULL || info->version == NULL ||
	    (info->req_version != NULL && strverscmp(info->version, info->req_version) < 0)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL, "keys: gpg engine %s is not usable",
		            info != NULL && info->file_name != NULL ? info->file_name : "(default)");
		/* Ask again next time: the engine may have been installed since. */
		keys_engine.set = FALSE;
		return NULL;
	}
	gpgme_set_armor(ctx, 1);
	gpgme_set_textmode(ctx, 1);
	return g_steal_pointer(&ctx);
}

const char *
kov_keys_fingerprint(gpgme_key_t key)
{
	g_return_val_if_fail(key != NULL, NULL);
	if (key->fpr != NULL)
		return key->fpr;
	return key->subkeys != NULL ? key->subkeys->fpr : NULL;
}

/* The gpg search pattern for a key ID or fingerprint ("0x" + hex), or NULL
 * when @key_id is neither: gpg would read anything else as a user ID
 * substring, the very thing a named key must not turn into. */
static char *
keys_id_pattern(const char *key_id)
{
	if (g_ascii_strncasecmp(key_id, "0x", 2) == 0)
		key_id += 2;
	size_t len = strlen(key_id);
	if (len != 8 && len != 16 && len != 40)
		return NULL;
	for (const char *p = key_id; *p != '\0'; p++)
		if (!g_ascii_isxdigit(*p))
			return NULL;
	g_autofree char *upper = g_ascii_strup(key_id, -1);
	return g_strdup_printf("0x%s", upper);
}

gboolean
kov_keys_address_equal(const char *uid_address, const char *address)
{
	return uid_address != NULL && address != NULL && g_ascii_strcasecmp(uid_address, address) == 0;
}

/* The user ID of @key whose address is exactly @address (any case). */
static gpgme_user_id_t
keys_uid_for(gpgme_key_t key, const char *address)
{
	for (gpgme_user_id_t uid = key->uids; uid != NULL; uid = uid->next)
		if (kov_keys_address_equal(uid->address, address))
			return uid;
	return NULL;
}

/* Expired by gpg's word when listed, or by the clock since: a listing
 * (prefetched) may be older than the expiry time. */
static gboolean
keys_subkey_expired(gpgme_subkey_t sub)
{
	return sub->expired || (sub->expires > 0 && sub->expires <= g_get_real_time() / G_USEC_PER_SEC);
}

/* The log's words for a key's problem (NULL: none, or said elsewhere). */
static const char *
keys_problem_text(KovKeyProblem problem)
{
	switch (problem) {
	case KOV_KEY_PROBLEM_REVOKED:   return "revoked";
	case KOV_KEY_PROBLEM_EXPIRED:   return "expired";
	case KOV_KEY_PROBLEM_DISABLED:  return "disabled";
	case KOV_KEY_PROBLEM_INVALID:   return "invalid";
	case KOV_KEY_PROBLEM_ENCRYPTION_SUBKEY_DEAD:
		return "cannot encrypt: encryption subkey expired or revoked";
	case KOV_KEY_PROBLEM_NO_ENCRYPTION_SUBKEY:
		return "cannot encrypt: no encryption subkey (sign-only key)";
	case KOV_KEY_PROBLEM_USER_ID_REVOKED: return "user ID revoked";
	case KOV_KEY_PROBLEM_USER_ID_INVALID: return "user ID invalid";
	case KOV_KEY_PROBLEM_CANNOT_SIGN:
		return "cannot sign: no live signing subkey with its secret part";
	case KOV_KEY_PROBLEM_NOT_IN_KEYDIR:
		return "no file in keydir";
	case KOV_KEY_PROBLEM_NONE:
	case KOV_KEY_PROBLEM_NOT_FOUND:
	case KOV_KEY_PROBLEM_NOT_A_KEY_ID:
	case KOV_KEY_PROBLEM_NOT_VALID:
		break;
	}
	return NULL;
}

static KovKeyProblem
keys_primary_problem(gpgme_key_t key)
{
	if (key->revoked)
		return KOV_KEY_PROBLEM_REVOKED;
	if (key->expired || (key->subkeys != NULL && keys_subkey_expired(key->subkeys)))
		return KOV_KEY_PROBLEM_EXPIRED;
	if (key->disabled)
		return KOV_KEY_PROBLEM_DISABLED;
	if (key->invalid)
		return KOV_KEY_PROBLEM_INVALID;
	return KOV_KEY_PROBLEM_NONE;
}

static gboolean
keys_subkey_alive(gpgme_subkey_t sub)
{
	return !sub->revoked && !keys_subkey_expired(sub) && !sub->disabled && !sub->invalid;
}

/* Why @key cannot encrypt (NONE: it can); *newest gets its newest live
 * encryption subkey, the one gpg will use. */
static KovKeyProblem
keys_encryption_problem(gpgme_key_t key, gpgme_subkey_t *newest)
{
	*newest = NULL;
	KovKeyProblem problem = keys_primary_problem(key);
	if (problem != KOV_KEY_PROBLEM_NONE)
		return problem;
	gboolean any = FALSE;
	for (gpgme_subkey_t sub = key->subkeys; sub != NULL; sub = sub->next) {
		if (!sub->can_encrypt)
			continue;
		any = TRUE;
		if (keys_subkey_alive(sub) && (*newest == NULL || sub->timestamp > (*newest)->timestamp))
			*newest = sub;
	}
	if (*newest != NULL)
		return KOV_KEY_PROBLEM_NONE;
	return any ? KOV_KEY_PROBLEM_ENCRYPTION_SUBKEY_DEAD : KOV_KEY_PROBLEM_NO_ENCRYPTION_SUBKEY;
}

static const char *
keys_validity_name(gpgme_validity_t validity)
{
	switch (validity) {
	case GPGME_VALIDITY_UNDEFINED: return "undefined trust";
	case GPGME_VALIDITY_NEVER:     return "never trusted";
	case GPGME_VALIDITY_MARGINAL:  return "marginal trust";
	default:                       return "unknown trust";
	}
}

/* gpg's own word for a validity (KovKeyInfo.validity). */
static const char *
keys_validity_word(gpgme_validity_t validity)
{
	switch (validity) {
	case GPGME_VALIDITY_UNDEFINED: return "undefined";
	case GPGME_VALIDITY_NEVER:     return "never";
	case GPGME_VALIDITY_MARGINAL:  return "marginal";
	case GPGME_VALIDITY_FULL:      return "full";
	case GPGME_VALIDITY_ULTIMATE:  return "ultimate";
	case GPGME_VALIDITY_UNKNOWN:   break;
	}
	return "unknown";
}

/* Best validity of @key's live user IDs: a key named by ID is as valid as
 * gpg considers it for any of its names. */
static gpgme_validity_t
keys_best_validity(gpgme_key_t key)
{
	gpgme_validity_t best = GPGME_VALIDITY_UNKNOWN;
	for (gpgme_user_id_t uid = key->uids; uid != NULL; uid = uid->next)
		if (!uid->revoked && !uid->invalid && uid->validity > best)
			best = uid->validity;
	return best;
}

/* One candidate: its problem (NONE: usable) and the subkey gpg would use. */
typedef struct {
	KovKeyStatus status;
	KovKeyProblem problem;
	gpgme_subkey_t subkey;    /* borrowed from the key; NULL when it cannot encrypt */
	gpgme_validity_t validity;
	char *why;                /* why not usable, in the log's words (owned) */
} KeysVerdict;

/* Classify one candidate for encryption to @uid (NULL: a key named by ID). */
static KeysVerdict
keys_classify_encryption(KovKeys *keys, gpgme_key_t key, gpgme_user_id_t uid)
{
	KeysVerdict v = { .status = KOV_KEY_USABLE };
	v.validity = uid != NULL ? uid->validity : keys_best_validity(key);
	v.problem = keys_encryption_problem(key, &v.subkey);
	if (v.problem == KOV_KEY_PROBLEM_NONE && uid != NULL && (uid->revoked || uid->invalid))
		v.problem = uid->revoked ? KOV_KEY_PROBLEM_USER_ID_REVOKED : KOV_KEY_PROBLEM_USER_ID_INVALID;
	if (v.problem != KOV_KEY_PROBLEM_NONE) {
		v.status = KOV_KEY_UNUSABLE;
		v.why = g_strdup(keys_problem_text(v.problem));
	} else if (!keys->alwaystrust && v.validity < GPGME_VALIDITY_FULL) {
		v.status = KOV_KEY_NOT_VALID;
		v.problem = KOV_KEY_PROBLEM_NOT_VALID;
		v.why = g_strdup_printf("present but not valid: %s", keys_validity_name(v.validity));
	}
	return v;
}

/* @key as plain data; @uid nullable (then the first user ID), @subkey
 * the one that would be used (nullable: the primary). */
static KovKeyInfo *
keys_info_new(gpgme_key_t key, gpgme_user_id_t uid, gpgme_subkey_t subkey,
              gpgme_validity_t validity)
{
	KovKeyInfo *info = kov_keyinfo_new();
	gpgme_subkey_t primary = key->subkeys;
	info->fingerprint = g_strdup(kov_keys_fingerprint(key));
	if (uid == NULL)
		uid = key->uids;
	info->user_id = uid != NULL ? g_strdup(uid->uid) : NULL;
	gpgme_subkey_t used = subkey != NULL ? subkey : primary;
	info->created = used != NULL ? used->timestamp : 0;
	/* The key stops working at the earlier of the two expiries. */
	if (primary != NULL && primary->expires > 0)
		info->expires = primary->expires;
	if (subkey != NULL && subkey->expires > 0 && (info->expires == 0 || subkey->expires < info->expires))
		info->expires = subkey->expires;
	info->validity = keys_validity_word(validity);
	return info;
}

KovKeyInfo *
kov_keys_info(gpgme_key_t key, const char *address)
{
	g_return_val_if_fail(key != NULL, NULL);
	gpgme_user_id_t uid = address != NULL ? keys_uid_for(key, address) : NULL;
	return keys_info_new(key, uid, NULL, uid != NULL ? uid->validity : keys_best_validity(key));
}

/* Higher is better when several keys answer for one address. */
static int
keys_status_rank(KovKeyStatus status)
{
	switch (status) {
	case KOV_KEY_USABLE:    return 3;
	case KOV_KEY_NOT_VALID: return 2;
	case KOV_KEY_UNUSABLE:  return 1;
	case KOV_KEY_MISSING:   return 0;
	}
	return 0;
}

/* ---- the cache ---------------------------------------------------------- */

static void
keys_stamp_take(const char *home, KeysStamp *stamp)
{
	memset(stamp, 0, sizeof *stamp);
	g_autofree char *kbx = g_build_filename(home, "pubring.kbx", NULL);
	g_autofree char *gpg = g_build_filename(home, "pubring.gpg", NULL);
	g_autofree char *keyboxd = g_build_filename(home, "public-keys.d", "pubring.db", NULL);
	g_autofree char *trust = g_build_filename(home, "trustdb.gpg", NULL);
	g_autofree char *private = g_build_filename(home, "private-keys-v1.d", NULL);
	/* A file that is not there stays all zeros: its appearance is a change. */
	(void)!stat(kbx, &stamp->pubring_kbx);
	(void)!stat(gpg, &stamp->pubring_gpg);
	(void)!stat(keyboxd, &stamp->keyboxd_db);
	(void)!stat(trust, &stamp->trustdb);
	(void)!stat(private, &stamp->private_keys);
}

static gboolean
keys_stat_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static gboolean
keys_stamp_same(const KeysStamp *a, const KeysStamp *b)
{
	return keys_stat_same(&a->pubring_kbx, &b->pubring_kbx) &&
	       keys_stat_same(&a->pubring_gpg, &b->pubring_gpg) &&
	       keys_stat_same(&a->keyboxd_db, &b->keyboxd_db) &&
	       keys_stat_same(&a->trustdb, &b->trustdb) &&
	       keys_stat_same(&a->private_keys, &b->private_keys);
}

/* The GnuPG home gpg uses: the configured one, else as gpg finds it. */
static char *
keys_home(KovKeys *keys)
{
	if (keys->gnupghome != NULL)
		return g_strdup(keys->gnupghome);
	const char *env = g_getenv("GNUPGHOME");
	if (env != NULL && *env != '\0')
		return g_strdup(env);
	return g_build_filename(g_get_home_dir(), ".gnupg", NULL);
}

gboolean
kov_keys_gpg_conf_has(KovKeys *keys, const char *option)
{
	g_autofree char *home = keys_home(keys);
	g_autofree char *path = g_build_filename(home, "gpg.conf", NULL);
	g_autofree char *text = NULL;
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return FALSE;
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	for (char **line = lines; *line != NULL; line++) {
		g_auto(GStrv) words = g_strsplit_set(g_strstrip(*line), " \t", 2);
		if (words[0] != NULL && strcmp(words[0], option) == 0)
			return TRUE;
	}
	return FALSE;
}

static void
keys_unref_array(gpointer data)
{
	g_ptr_array_unref(data);
}

/* Start the cache afresh when the keyring changed or the answers are old
 * or many. The stamp is taken before the listings that follow: a change
 * while gpg lists shows as a change the next time. */
static void
keys_cache_check(KovKeys *keys)
{
	g_autofree char *home = keys_home(keys);
	KeysStamp now;
	keys_stamp_take(home, &now);
	gint64 t = g_get_monotonic_time();
	if (keys->cache != NULL && t - keys->cache_born <= KEYS_CACHE_TTL &&
	    g_hash_table_size(keys->cache) < KEYS_CACHE_MAX && keys_stamp_same(&now, &keys->stamp))
		return;
	g_clear_pointer(&keys->cache, g_hash_table_unref);
	keys->cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, keys_unref_array);
	keys->stamp = now;
	keys->cache_born = t;
}

static char *
keys_cache_key(const char *pattern, gboolean secret)
{
	return g_strconcat(secret ? "S" : "P", pattern, NULL);
}

/* gpg's exact-address pattern for @address; it matches in any case, so
 * one lower-case pattern (and cache entry) per address. (transfer full) */
static char *
keys_address_pattern(const char *address)
{
	g_autofree char *lower = g_ascii_strdown(address, -1);
	return g_strdup_printf("<%s>", lower);
}

/* All keys gpg lists for @pattern (NULL: all of them, never cached). An
 * empty secret listing is not kept: it may mean gpg-agent was not there.
 * (transfer full) */
static GPtrArray *
keys_list(KovKeys *keys, const char *pattern, gboolean secret, GError **error)
{
	keys_cache_check(keys);
	g_autofree char *cache_key = pattern != NULL ? keys_cache_key(pattern, secret) : NULL;
	GPtrArray *hit = cache_key != NULL ? g_hash_table_lookup(keys->cache, cache_key) : NULL;
	if (hit != NULL)
		return g_ptr_array_ref(hit);

	g_auto(gpgme_ctx_t) ctx = kov_keys_new_context(keys, error);
	if (ctx == NULL)
		return NULL;
	g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func((GDestroyNotify)gpgme_key_unref);
	gpgme_error_t err = gpgme_op_keylist_start(ctx, pattern, secret ? 1 : 0);
	gpgme_key_t key = NULL;
	while (err == 0 && (err = gpgme_op_keylist_next(ctx, &key)) == 0)
		g_ptr_array_add(found, key);
	if (gpg_err_code(err) != GPG_ERR_EOF) {
		kov_gpgerror_set(error, err, KOV_GPGERROR_ENGINE, "keys: listing %skeys for %s",
		                 secret ? "secret " : "", pattern != NULL ? pattern : "all");
		gpgme_op_keylist_end(ctx);
		return NULL;
	}
	if (cache_key != NULL && (!secret || found->len > 0))
		g_hash_table_insert(keys->cache, g_steal_pointer(&cache_key), g_ptr_array_ref(found));
	return g_steal_pointer(&found);
}

/* One gpg run for @patterns (NULL-terminated "<addr>"); every key listed
 * goes to each requested address one of its user IDs has. */
static gboolean
keys_prefetch_chunk(gpgme_ctx_t ctx, const char **patterns, GHashTable *table, GError **error)
{
	gpgme_error_t err = gpgme_op_keylist_ext_start(ctx, patterns, 0, 0);
	gpgme_key_t key = NULL;
	while (err == 0 && (err = gpgme_op_keylist_next(ctx, &key)) == 0) {
		for (gpgme_user_id_t uid = key->uids; uid != NULL; uid = uid->next) {
			if (uid->address == NULL)
				continue;
			g_autofree char *pattern = keys_address_pattern(uid->address);
			g_autofree char *cache_key = keys_cache_key(pattern, FALSE);
			GPtrArray *found = g_hash_table_lookup(table, cache_key);
			if (found == NULL || g_ptr_array_find(found, key, NULL))
				continue;
			gpgme_key_ref(key);
			g_ptr_array_add(found, key);
		}
		gpgme_key_unref(key);
	}
	if (gpg_err_code(err) != GPG_ERR_EOF) {
		kov_gpgerror_set(error, err, KOV_GPGERROR_ENGINE, "keys: listing keys for many recipients");
		gpgme_op_keylist_end(ctx);
		return FALSE;
	}
	return TRUE;
}

gboolean
kov_keys_prefetch(KovKeys *keys, const char *const *addresses, gsize n, GError **error)
{
	g_return_val_if_fail(keys != NULL && (addresses != NULL || n == 0), FALSE);

	keys_cache_check(keys);
	g_auto(gpgme_ctx_t) ctx = kov_keys_new_context(keys, error);
	if (ctx == NULL)
		return FALSE;
	/* Filled apart and merged only when every run succeeded. */
	g_autoptr(GHashTable) table = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, keys_unref_array);
	g_autoptr(GPtrArray) patterns = g_ptr_array_new_with_free_func(g_free);
	for (gsize i = 0; i < n; i++) {
		g_autofree char *pattern = keys_address_pattern(addresses[i]);
		char *cache_key = keys_cache_key(pattern, FALSE);
		if (g_hash_table_contains(table, cache_key) || g_hash_table_contains(keys->cache, cache_key)) {
			g_free(cache_key);
			continue;
		}
		g_hash_table_insert(table, cache_key,
		                    g_ptr_array_new_with_free_func((GDestroyNotify)gpgme_key_unref));
		g_ptr_array_add(patterns, g_steal_pointer(&pattern));
		if (patterns->len == KEYS_PREFETCH_CHUNK) {
			g_ptr_array_add(patterns, NULL);
			if (!keys_prefetch_chunk(ctx, (const char **)patterns->pdata, table, error))
				return FALSE;
			g_ptr_array_set_size(patterns, 0);
		}
	}
	if (patterns->len > 0) {
		g_ptr_array_add(patterns, NULL);
		if (!keys_prefetch_chunk(ctx, (const char **)patterns->pdata, table, error))
			return FALSE;
	}
	GHashTableIter iter;
	gpointer cache_key, found;
	g_hash_table_iter_init(&iter, table);
	while (g_hash_table_iter_next(&iter, &cache_key, &found)) {
		g_hash_table_iter_steal(&iter);
		g_hash_table_insert(keys->cache, cache_key, found);
	}
	return TRUE;
}

/* ---- lookup ------------------------------------------------------------ */

/* Nothing answered: say why in words and as a problem. */
static KovKeyStatus
keys_lookup_missing(KovKeyLookup *lookup, KovKeyProblem problem, char *detail)
{
	lookup->status = KOV_KEY_MISSING;
	lookup->problem = problem;
	lookup->detail = detail;
	return KOV_KEY_MISSING;
}

KovKeyStatus
kov_keys_lookup_encryption(KovKeys *keys, const char *address, const char *key_id,
                           gpgme_key_t *key, KovKeyLookup **lookup_out, GError **error)
{
	g_return_val_if_fail(keys != NULL && address != NULL && key != NULL, KOV_KEY_MISSING);
	*key = NULL;
	if (lookup_out != NULL)
		*lookup_out = NULL;
	g_autoptr(KovKeyLookup) lookup = kov_keyinfo_lookup_new();

	g_autofree char *pattern = NULL;
	if (key_id != NULL) {
		pattern = keys_id_pattern(key_id);
		if (pattern == NULL) {
			keys_lookup_missing(lookup, KOV_KEY_PROBLEM_NOT_A_KEY_ID,
			                    g_strdup_printf("named key %s is not a key ID or fingerprint", key_id));
			if (lookup_out != NULL)
				*lookup_out = g_steal_pointer(&lookup);
			return KOV_KEY_MISSING;
		}
	} else {
		pattern = keys_address_pattern(address);
	}
	g_autoptr(GPtrArray) found = keys_list(keys, pattern, FALSE, error);
	if (found == NULL)
		return KOV_KEY_MISSING;

	KovKeyStatus status = KOV_KEY_MISSING;
	gpgme_key_t best = NULL;
	long best_time = -1;
	g_autoptr(GString) why_not = g_string_new(NULL);
	for (guint i = 0; i < found->len; i++) {
		gpgme_key_t candidate = found->pdata[i];
		/* A key from a keys directory serves its file's address alone,
		 * and only through that file: never by address or ID here. */
		if (keys->hidden != NULL && keys->hidden(kov_keys_fingerprint(candidate), keys->hidden_data))
			continue;
		/* A named key needs no user ID for @address (Kuvert's key=). */
		gpgme_user_id_t uid = key_id == NULL ? keys_uid_for(candidate, address) : NULL;
		if (key_id == NULL && uid == NULL)
			continue;
		KeysVerdict v = keys_classify_encryption(keys, candidate, uid);
		long newest = v.subkey != NULL ? v.subkey->timestamp : -1;
		if (v.why != NULL)
			g_string_append_printf(why_not, "%s%s (key %s)", why_not->len ? "; " : "", v.why,
			                       kov_keys_fingerprint(candidate));
		KovKeyInfo *info = keys_info_new(candidate, uid, v.subkey, v.validity);
		info->problem = v.problem;
		info->detail = v.why;
		g_ptr_array_add(lookup->candidates, info);
		if (keys_status_rank(v.status) > keys_status_rank(status) ||
		    (v.status == KOV_KEY_USABLE && status == KOV_KEY_USABLE && newest > best_time)) {
			status = v.status;
			best = candidate;
			best_time = newest;
			lookup->chosen = (int)lookup->candidates->len - 1;
			lookup->problem = v.problem;
		}
	}

	lookup->status = status;
	if (status == KOV_KEY_USABLE) {
		gpgme_key_ref(best);
		*key = best;
	} else if (status == KOV_KEY_MISSING) {
		keys_lookup_missing(lookup, KOV_KEY_PROBLEM_NOT_FOUND,
		                    key_id != NULL ? g_strdup_printf("named key %s not found", key_id)
		                                   : g_strdup("no key"));
	} else {
		/* Not usable: no candidate is the one used. */
		lookup->chosen = -1;
		lookup->detail = g_string_free(g_steal_pointer(&why_not), FALSE);
	}
	if (lookup_out != NULL)
		*lookup_out = g_steal_pointer(&lookup);
	return status;
}

/* The subkey of @key whose fingerprint is @fpr, or NULL. */
static gpgme_subkey_t
keys_subkey_by_fpr(gpgme_key_t key, const char *fpr)
{
	for (gpgme_subkey_t sub = key->subkeys; sub != NULL; sub = sub->next)
		if (sub->fpr != NULL && g_ascii_strcasecmp(sub->fpr, fpr) == 0)
			return sub;
	return NULL;
}

/* Why pinned @sub of @key cannot encrypt now (NONE: it can). */
static KovKeyProblem
keys_pinned_problem(gpgme_key_t key, gpgme_subkey_t sub)
{
	KovKeyProblem problem = keys_primary_problem(key);
	if (problem != KOV_KEY_PROBLEM_NONE)
		return problem;
	if (sub == NULL)
		return KOV_KEY_PROBLEM_ENCRYPTION_SUBKEY_DEAD;
	if (!sub->can_encrypt)
		return KOV_KEY_PROBLEM_NO_ENCRYPTION_SUBKEY;
	if (keys_subkey_expired(sub))
		return KOV_KEY_PROBLEM_EXPIRED;
	if (!keys_subkey_alive(sub))
		return KOV_KEY_PROBLEM_ENCRYPTION_SUBKEY_DEAD;
	return KOV_KEY_PROBLEM_NONE;
}

KovKeyStatus
kov_keys_lookup_pinned(KovKeys *keys, const char *address, const char *fingerprint,
                       const char *subkey, gpgme_key_t *key, KovKeyLookup **lookup_out,
                       GError **error)
{
	g_return_val_if_fail(keys != NULL && address != NULL && fingerprint != NULL && subkey != NULL
	                     && key != NULL, KOV_KEY_MISSING);
	*key = NULL;
	if (lookup_out != NULL)
		*lookup_out = NULL;
	g_autofree char *pattern = keys_id_pattern(fingerprint);
	if (pattern == NULL || strlen(fingerprint) != 40) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL,
		            "keys: keydir entry of %s: not a fingerprint: %s", address, fingerprint);
		return KOV_KEY_MISSING;
	}
	g_autoptr(GPtrArray) found = keys_list(keys, pattern, FALSE, error);
	if (found == NULL)
		return KOV_KEY_MISSING;
	gpgme_key_t candidate = NULL;
	for (guint i = 0; i < found->len && candidate == NULL; i++)
		if (g_ascii_strcasecmp(kov_keys_fingerprint(found->pdata[i]), fingerprint) == 0)
			candidate = found->pdata[i];
	if (candidate == NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL,
		            "keys: key %s of %s's keydir file is not in the keyring (not imported yet)",
		            fingerprint, address);
		return KOV_KEY_MISSING;
	}

	g_autoptr(KovKeyLookup) lookup = kov_keyinfo_lookup_new();
	lookup->source = KOV_KEY_SOURCE_KEYDIR;
	lookup->keydir_subkey = g_strdup(subkey);
	gpgme_subkey_t sub = keys_subkey_by_fpr(candidate, subkey);
	KovKeyProblem problem = keys_pinned_problem(candidate, sub);
	/* Verified by its operators: valid whatever the web of trust says. */
	KovKeyInfo *info = keys_info_new(candidate, keys_uid_for(candidate, address), sub,
	                                 GPGME_VALIDITY_FULL);
	info->problem = problem;
	g_ptr_array_add(lookup->candidates, info);
	lookup->problem = problem;
	if (problem == KOV_KEY_PROBLEM_NONE) {
		lookup->status = KOV_KEY_USABLE;
		lookup->chosen = 0;
		gpgme_key_ref(candidate);
		*key = candidate;
	} else {
		lookup->status = KOV_KEY_UNUSABLE;
		const char *text = keys_problem_text(problem);
		info->detail = g_strdup(text);
		lookup->detail = g_strdup_printf("%s (key %s)", text, fingerprint);
	}
	KovKeyStatus status = lookup->status;
	if (lookup_out != NULL)
		*lookup_out = g_steal_pointer(&lookup);
	return status;
}

KovKeyStatus
kov_keys_find_encryption(KovKeys *keys, const char *address, const char *key_id,
                         gpgme_key_t *key, char **detail, GError **error)
{
	g_autoptr(KovKeyLookup) lookup = NULL;
	KovKeyStatus status = kov_keys_lookup_encryption(keys, address, key_id, key, &lookup, error);
	if (detail != NULL)
		*detail = lookup != NULL ? g_steal_pointer(&lookup->detail) : NULL;
	return status;
}

/* Why the secret @key cannot sign (NONE: it can); *newest as for encryption. */
static KovKeyProblem
keys_signing_problem(gpgme_key_t key, long *newest)
{
	KovKeyProblem problem = keys_primary_problem(key);
	if (problem != KOV_KEY_PROBLEM_NONE)
		return problem;
	*newest = -1;
	for (gpgme_subkey_t sub = key->subkeys; sub != NULL; sub = sub->next)
		if (sub->can_sign && sub->secret && keys_subkey_alive(sub))
			*newest = MAX(*newest, sub->timestamp);
	return *newest >= 0 ? KOV_KEY_PROBLEM_NONE : KOV_KEY_PROBLEM_CANNOT_SIGN;
}

/* Secret keys are on disk but gpg lists none at all: with GnuPG 2.1 and
 * later that means gpg could not reach gpg-agent, which is temporary. */
static gboolean
keys_agent_unreachable(KovKeys *keys)
{
	g_autofree char *home = keys_home(keys);
	g_autofree char *dir_path = g_build_filename(home, "private-keys-v1.d", NULL);
	g_autoptr(GDir) dir = g_dir_open(dir_path, 0, NULL);
	gboolean on_disk = FALSE;

	for (const char *name; dir != NULL && !on_disk && (name = g_dir_read_name(dir)) != NULL;)
		on_disk = g_str_has_suffix(name, ".key");
	if (!on_disk)
		return FALSE;
	g_autoptr(GPtrArray) all = keys_list(keys, NULL, TRUE, NULL);
	return all != NULL && all->len == 0;
}

/* The newest secret key for @pattern that can sign, restricted to user ID
 * @address when not NULL. *why (transfer full) explains a NULL result. */
static gpgme_key_t
keys_signing_lookup(KovKeys *keys, const char *pattern, const char *address, char **why,
                    GError **error)
{
	g_autoptr(GPtrArray) found = keys_list(keys, pattern, TRUE, error);
	if (found == NULL)
		return NULL;
	gpgme_key_t best = NULL;
	long best_time = -1;
	g_autoptr(GString) why_not = g_string_new(NULL);
	for (guint i = 0; i < found->len; i++) {
		gpgme_key_t candidate = found->pdata[i];
		gpgme_user_id_t uid = address != NULL ? keys_uid_for(candidate, address) : NULL;
		if (address != NULL && (uid == NULL || uid->revoked || uid->invalid))
			continue;
		long newest = -1;
		KovKeyProblem problem = keys_signing_problem(candidate, &newest);
		if (problem != KOV_KEY_PROBLEM_NONE)
			g_string_append_printf(why_not, "%s%s (key %s)", why_not->len ? "; " : "",
			                       keys_problem_text(problem), kov_keys_fingerprint(candidate));
		else if (newest > best_time) {
			best = candidate;
			best_time = newest;
		}
	}
	if (best == NULL && found->len == 0 && keys_agent_unreachable(keys)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL,
		            "keys: gpg lists no secret key although private-keys-v1.d holds some: "
		            "gpg-agent is not reachable");
		return NULL;
	}
	if (best == NULL) {
		*why = why_not->len ? g_string_free(g_steal_pointer(&why_not), FALSE)
		                    : g_strdup("not in the secret keyring");
		return NULL;
	}
	gpgme_key_ref(best);
	return best;
}

/* A key the configuration names must work: anything else is an error. */
static gpgme_key_t
keys_signing_named(KovKeys *keys, const char *key_id, const char *role, GError **error)
{
	g_autofree char *pattern = keys_id_pattern(key_id);
	if (pattern == NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL,
		            "keys: %s %s is not a key ID or fingerprint", role, key_id);
		return NULL;
	}
	g_autofree char *why = NULL;
	GError *lookup_error = NULL;
	gpgme_key_t key = keys_signing_lookup(keys, pattern, NULL, &why, &lookup_error);
	if (lookup_error != NULL) {
		g_propagate_error(error, lookup_error);
		return NULL;
	}
	if (key == NULL)
		g_set_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL, "keys: %s %s cannot sign: %s", role,
		            key_id, why);
	return key;
}

gpgme_key_t
kov_keys_lookup_signing(KovKeys *keys, const char *configured, const char *from,
                        const char *defaultkey, KovSignerSource *source, char **note,
                        GError **error)
{
	g_return_val_if_fail(keys != NULL && source != NULL, NULL);
	*source = KOV_SIGNER_NONE;
	if (note != NULL)
		*note = NULL;

	if (configured != NULL) {
		*source = KOV_SIGNER_CONFIGURED;
		return keys_signing_named(keys, configured, "configured signing key", error);
	}
	g_autofree char *why = NULL;
	if (from != NULL && *from != '\0') {
		g_autofree char *pattern = g_strdup_printf("<%s>", from);
		GError *lookup_error = NULL;
		gpgme_key_t key = keys_signing_lookup(keys, pattern, from, &why, &lookup_error);
		if (lookup_error != NULL) {
			g_propagate_error(error, lookup_error);
			return NULL;
		}
		if (key != NULL) {
			*source = KOV_SIGNER_SENDER;
			return key;
		}
		/* The sender has no usable key of his own: defaultkey speaks for him. */
	}
	if (note != NULL && why != NULL)
		*note = g_strdup_printf("no key of %s's own: %s", from, why);
	if (defaultkey != NULL) {
		*source = KOV_SIGNER_DEFAULTKEY;
		return keys_signing_named(keys, defaultkey, "defaultkey", error);
	}
	return NULL;
}

gpgme_key_t
kov_keys_find_signing(KovKeys *keys, const char *configured, const char *from,
                      const char *defaultkey, GError **error)
{
	KovSignerSource source;
	return kov_keys_lookup_signing(keys, configured, from, defaultkey, &source, NULL, error);
}

gboolean
kov_keys_check_signing(KovKeys *keys, const char *key_id, const char *role, GError **error)
{
	g_return_val_if_fail(keys != NULL && key_id != NULL && role != NULL, FALSE);

	GError *why = NULL;
	gpgme_key_t key = keys_signing_named(keys, key_id, role, &why);
	if (key != NULL) {
		gpgme_key_unref(key);
		return TRUE;
	}
	/* A key that cannot sign now never will: the configuration is wrong. */
	if (g_error_matches(why, KOV_ERROR, KOV_ERROR_PERMFAIL))
		why->code = KOV_ERROR_CONFIG;
	g_propagate_error(error, why);
	return FALSE;
}

const char *
kov_keys_problem_text(KovKeyProblem problem)
{
	return keys_problem_text(problem);
}

gpgme_subkey_t
kov_keys_encryption_subkey(gpgme_key_t key, KovKeyProblem *problem)
{
	g_return_val_if_fail(key != NULL && problem != NULL, NULL);
	gpgme_subkey_t newest = NULL;
	*problem = keys_encryption_problem(key, &newest);
	return newest;
}

gpgme_subkey_t
kov_keys_expiry(gpgme_key_t key, gboolean signing, gint64 *expires)
{
	g_return_val_if_fail(key != NULL && expires != NULL, NULL);
	*expires = 0;
	gpgme_subkey_t used = NULL;
	if (!signing) {
		keys_encryption_problem(key, &used);
	} else if (keys_primary_problem(key) == KOV_KEY_PROBLEM_NONE) {
		/* The newest live signing subkey with its secret part, as
		 * keys_signing_problem() chooses. */
		for (gpgme_subkey_t sub = key->subkeys; sub != NULL; sub = sub->next)
			if (sub->can_sign && sub->secret && keys_subkey_alive(sub)
			    && (used == NULL || sub->timestamp > used->timestamp))
				used = sub;
	}
	if (used == NULL)
		return NULL;
	gint64 primary = key->subkeys != NULL ? key->subkeys->expires : 0;
	gint64 sub = used->expires;
	if (primary > 0 && (sub <= 0 || primary < sub))
		*expires = primary;
	else if (sub > 0)
		*expires = sub;
	return used;
}
