/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Keys from a directory of ADDRESS.asc files. A file is read once, by
 * descriptor, without following a link or blocking on a FIFO, and at most
 * KOV_KEYDIR_MAX_FILE bytes; those bytes are hashed, listed by gpg without
 * importing (gpgme_op_keylist_from_data_start) and, when accepted, copied
 * to <snapdir>/<sha256>.asc: gpg later reads that copy, never a file git
 * may be rewriting. What gpg said about a content hash is kept in memory
 * and in <snapdir>/<sha256>.facts (it does not depend on the file's name),
 * so a restart re-runs gpg only for new bytes. The address check, the
 * subkey choice and the words for a problem are kov_keys' own. The
 * watcher's update then imports (keep-uid filter), records which keys are
 * koverto's before importing them, and publishes <snapdir>/current in a
 * line format whose reader takes nothing the writer would not write. */
#include "keydir.h"

#include "address.h"
#include "error.h"
#include "fileio.h"
#include "gpgerror.h"
#include "gpgme-autoptr.h"
#include "log.h"
#include "logfmt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- file names -------------------------------------------------------- */

/* Characters of an unquoted local part (RFC 5322 atext and '.') but '/'. */
static gboolean
keydir_local_char(unsigned char c)
{
	return g_ascii_isalnum(c) || c >= 0x80 || (c != '/' && strchr("!#$%&'*+-=?^_`{|}~.", c) != NULL);
}

static gboolean
keydir_domain_char(unsigned char c)
{
	return g_ascii_isalnum(c) || c >= 0x80 || c == '-' || c == '.';
}

/* Why the address part @addr of a file name is no address, or NULL. */
static const char *
keydir_address_problem(const char *addr)
{
	const char *at = strchr(addr, '@');
	if (at == NULL || strchr(at + 1, '@') != NULL)
		return "the name is not ADDRESS.asc: one '@' is needed";
	if (at == addr || at[1] == '\0')
		return "the name is not ADDRESS.asc: empty local part or domain";
	if (strlen(addr) > 254)
		return "the address is longer than 254 bytes";
	if (!g_utf8_validate(addr, -1, NULL))
		return "the name is not valid UTF-8";
	for (const unsigned char *p = (const unsigned char *)addr; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return "the name holds a control character";
	if (strstr(addr, "..") != NULL || addr[0] == '.' || at[-1] == '.' || at[1] == '.' ||
	    addr[strlen(addr) - 1] == '.')
		return "the address has an empty dot-separated part";
	for (const char *p = addr; p < at; p++)
		if (!keydir_local_char((unsigned char)*p))
			return "the local part holds a character other than letters, digits and !#$%&'*+-=?^_`{|}~.";
	for (const char *p = at + 1; *p != '\0'; p++)
		if (!keydir_domain_char((unsigned char)*p))
			return "the domain holds a character other than letters, digits, '-' and '.'";
	/* The check every envelope address passes (a leading '-', an encoded-word). */
	if (!kov_address_is_sane(addr))
		return "the address is not one koverto accepts in an envelope";
	return NULL;
}

KovKeydirName
kov_keydir_parse_name(const char *name, char **address, char **reason)
{
	g_return_val_if_fail(name != NULL && address != NULL && reason != NULL, KOV_KEYDIR_NAME_IGNORED);
	*address = NULL;
	*reason = NULL;

	/* ".", "..", .git, an editor's .bob@example.net.asc.swp, git's .lock files. */
	if (name[0] == '\0' || name[0] == '.')
		return KOV_KEYDIR_NAME_IGNORED;
	if (strchr(name, '/') != NULL) {
		*reason = g_strdup("the name holds a '/'");
		return KOV_KEYDIR_NAME_REFUSED;
	}
	static const char *const binary[] = { ".gpg", ".pgp", ".key" };
	for (gsize i = 0; i < G_N_ELEMENTS(binary); i++)
		if (g_str_has_suffix(name, binary[i]) && strchr(name, '@') != NULL) {
			*reason = g_strdup("only armored ADDRESS.asc files are read (gpg --armor --export)");
			return KOV_KEYDIR_NAME_REFUSED;
		}
	if (!g_str_has_suffix(name, ".asc"))
		return KOV_KEYDIR_NAME_IGNORED;

	g_autofree char *addr = g_strndup(name, strlen(name) - strlen(".asc"));
	const char *why = keydir_address_problem(addr);
	if (why != NULL) {
		*reason = g_strdup(why);
		return KOV_KEYDIR_NAME_REFUSED;
	}
	*address = g_ascii_strdown(addr, -1);
	return KOV_KEYDIR_NAME_KEY;
}

/* ---- what gpg said about some bytes ------------------------------------- */

/* Independent of the file's name; the same bytes under two names (a key
 * with two addresses) are listed once. */
typedef struct {
	guint nkeys;              /* keys in the bytes */
	gboolean secret;          /* a secret key block */
	char *fingerprint;        /* of the (single) key */
	char *subkey;             /* the encryption subkey gpg would use, or NULL */
	gint64 expires;           /* when it stops encrypting; 0: never */
	gint64 until;             /* the first expiry of any of its (sub)keys: the
	                           * subkey choice may change then; 0: never */
	KovKeyProblem problem;    /* why it cannot encrypt (NONE: it can) */
	char **addresses;         /* of its live user IDs */
	char **dead_addresses;    /* of its revoked or invalid user IDs */
} KeydirFacts;

static void
keydir_facts_free(gpointer data)
{
	KeydirFacts *facts = data;
	if (facts == NULL)
		return;
	g_free(facts->fingerprint);
	g_free(facts->subkey);
	g_strfreev(facts->addresses);
	g_strfreev(facts->dead_addresses);
	g_free(facts);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KeydirFacts, keydir_facts_free)

/* Facts for @key; @facts->nkeys is the caller's. */
static void
keydir_facts_take(KeydirFacts *facts, gpgme_key_t key)
{
	facts->fingerprint = g_strdup(kov_keys_fingerprint(key));
	facts->secret = facts->secret || key->secret;
	KovKeyProblem problem = KOV_KEY_PROBLEM_NONE;
	gpgme_subkey_t sub = kov_keys_encryption_subkey(key, &problem);
	facts->problem = problem;
	if (sub != NULL) {
		facts->subkey = g_strdup(sub->fpr);
		facts->expires = sub->expires > 0 ? sub->expires : 0;
		gpgme_subkey_t primary = key->subkeys;
		if (primary != NULL && primary->expires > 0 &&
		    (facts->expires == 0 || primary->expires < facts->expires))
			facts->expires = primary->expires;
	}
	for (gpgme_subkey_t s = key->subkeys; s != NULL; s = s->next)
		if (s->expires > 0 && s->expires > g_get_real_time() / G_USEC_PER_SEC &&
		    (facts->until == 0 || s->expires < facts->until))
			facts->until = s->expires;
	g_autoptr(GPtrArray) live = g_ptr_array_new();
	g_autoptr(GPtrArray) dead = g_ptr_array_new();
	for (gpgme_user_id_t uid = key->uids; uid != NULL; uid = uid->next)
		if (uid->address != NULL && *uid->address != '\0')
			g_ptr_array_add(uid->revoked || uid->invalid ? dead : live, g_strdup(uid->address));
	g_ptr_array_add(live, NULL);
	g_ptr_array_add(dead, NULL);
	facts->addresses = (char **)g_ptr_array_free(g_steal_pointer(&live), FALSE);
	facts->dead_addresses = (char **)g_ptr_array_free(g_steal_pointer(&dead), FALSE);
}

/* gpg could not make sense of the bytes (as opposed to gpg not running). */
static gboolean
keydir_gpg_data_error(gpgme_error_t err)
{
	switch (gpg_err_code(err)) {
	case GPG_ERR_NO_DATA:
	case GPG_ERR_INV_DATA:
	case GPG_ERR_BAD_DATA:
	case GPG_ERR_INV_PACKET:
	case GPG_ERR_INV_KEYRING:
	case GPG_ERR_UNKNOWN_PACKET:
	case GPG_ERR_INV_ARMOR:
	case GPG_ERR_NO_PUBKEY:
	case GPG_ERR_BAD_PUBKEY:
	case GPG_ERR_UNKNOWN_VERSION:
	case GPG_ERR_TRUNCATED:
	case GPG_ERR_EOF:
		return TRUE;
	default:
		return FALSE;
	}
}

/* List the keys in @len bytes of @data. NULL with @error only when gpg
 * cannot run; unreadable data gives facts with no key. (transfer full) */
static KeydirFacts *
keydir_facts_list(KovKeys *keys, const char *data, gsize len, GError **error)
{
	g_auto(gpgme_ctx_t) ctx = kov_keys_new_context(keys, error);
	if (ctx == NULL)
		return NULL;
	g_auto(gpgme_data_t) in = NULL;
	gpgme_error_t err = gpgme_data_new_from_mem(&in, data, len, 0);
	if (err != 0) {
		kov_gpgerror_set(error, err, KOV_GPGERROR_ENGINE, "keydir: cannot hand a key file to gpg");
		return NULL;
	}
	g_autoptr(KeydirFacts) facts = g_new0(KeydirFacts, 1);
	err = gpgme_op_keylist_from_data_start(ctx, in, 0);
	gpgme_key_t key = NULL;
	while (err == 0 && (err = gpgme_op_keylist_next(ctx, &key)) == 0) {
		if (++facts->nkeys == 1)
			keydir_facts_take(facts, key);
		facts->secret = facts->secret || key->secret;
		gpgme_key_unref(key);
	}
	if (err != 0 && !keydir_gpg_data_error(err)) {
		kov_gpgerror_set(error, err, KOV_GPGERROR_ENGINE, "keydir: gpg cannot list a key file");
		return NULL;
	}
	gpgme_op_keylist_end(ctx);
	if (facts->nkeys != 1) {
		g_clear_pointer(&facts->fingerprint, g_free);
		g_clear_pointer(&facts->subkey, g_free);
	}
	if (facts->addresses == NULL) {
		facts->addresses = g_new0(char *, 1);
		facts->dead_addresses = g_new0(char *, 1);
	}
	return g_steal_pointer(&facts);
}

/* The facts as a key file (<snapdir>/<sha256>.facts). (transfer full) */
static char *
keydir_facts_dump(const KeydirFacts *facts, gsize *len)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_key_file_set_uint64(kf, "key", "keys", facts->nkeys);
	g_key_file_set_boolean(kf, "key", "secret", facts->secret);
	if (facts->fingerprint != NULL)
		g_key_file_set_string(kf, "key", "fingerprint", facts->fingerprint);
	if (facts->subkey != NULL)
		g_key_file_set_string(kf, "key", "subkey", facts->subkey);
	g_key_file_set_int64(kf, "key", "expires", facts->expires);
	g_key_file_set_int64(kf, "key", "until", facts->until);
	g_key_file_set_integer(kf, "key", "problem", (int)facts->problem);
	g_key_file_set_string_list(kf, "key", "addresses", (const char *const *)facts->addresses,
	                           g_strv_length(facts->addresses));
	g_key_file_set_string_list(kf, "key", "dead-addresses",
	                           (const char *const *)facts->dead_addresses,
	                           g_strv_length(facts->dead_addresses));
	return g_key_file_to_data(kf, len, NULL);
}

static gboolean
keydir_fpr_ok(const char *fpr)
{
	if (fpr == NULL)
		return TRUE;
	gsize n = strlen(fpr);
	if (n != 40 && n != 64)
		return FALSE;
	for (const char *p = fpr; *p != '\0'; p++)
		if (!g_ascii_isxdigit(*p))
			return FALSE;
	return TRUE;
}

/* Facts read back from @path, or NULL when there are none that make sense
 * (the file is koverto's own, but a damaged one only costs a gpg run). */
static KeydirFacts *
keydir_facts_load(const char *path)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL))
		return NULL;
	g_autoptr(KeydirFacts) facts = g_new0(KeydirFacts, 1);
	GError *bad = NULL;
	facts->nkeys = (guint)MIN(g_key_file_get_uint64(kf, "key", "keys", &bad), G_MAXUINT);
	facts->secret = bad == NULL && g_key_file_get_boolean(kf, "key", "secret", &bad);
	facts->expires = bad == NULL ? g_key_file_get_int64(kf, "key", "expires", &bad) : 0;
	facts->until = bad == NULL ? g_key_file_get_int64(kf, "key", "until", &bad) : 0;
	int problem = bad == NULL ? g_key_file_get_integer(kf, "key", "problem", &bad) : 0;
	if (bad == NULL)
		facts->addresses = g_key_file_get_string_list(kf, "key", "addresses", NULL, &bad);
	if (bad == NULL)
		facts->dead_addresses = g_key_file_get_string_list(kf, "key", "dead-addresses", NULL, &bad);
	if (bad != NULL) {
		g_error_free(bad);
		return NULL;
	}
	facts->fingerprint = g_key_file_get_string(kf, "key", "fingerprint", NULL);
	facts->subkey = g_key_file_get_string(kf, "key", "subkey", NULL);
	if (problem < KOV_KEY_PROBLEM_NONE || problem > KOV_KEY_PROBLEM_CANNOT_SIGN ||
	    facts->expires < 0 || facts->until < 0 || !keydir_fpr_ok(facts->fingerprint) ||
	    !keydir_fpr_ok(facts->subkey) || (facts->nkeys == 1) != (facts->fingerprint != NULL))
		return NULL;
	facts->problem = (KovKeyProblem)problem;
	return g_steal_pointer(&facts);
}

/* Still true now? The subkey gpg uses can change when one expires. */
static gboolean
keydir_facts_current(const KeydirFacts *facts)
{
	return facts->until == 0 || facts->until > g_get_real_time() / G_USEC_PER_SEC;
}

/* ---- snapshot ------------------------------------------------------------ */

struct _KovKeydirSnapshot {
	gatomicrefcount refs;
	GHashTable *entries;     /* lower-case address -> KovKeydirEntry* (owned) */
	GPtrArray *refused;      /* of KovKeydirRefusal* (owned) */
	GHashTable *hashes;      /* sha256 of every file read, accepted or not (a set) */
	GHashTable *imported;    /* fingerprint -> gint64* retired since (0: in use): keys
	                          * koverto imported that the keyring did not have before */
	guint64 generation;
	gboolean published;      /* read from a manifest, or made by a load */
	char *dir;               /* the key directory; NULL: not known */
};

static void
keydir_entry_free(gpointer data)
{
	KovKeydirEntry *e = data;
	g_free(e->address);
	g_free(e->file);
	g_free(e->snapshot);
	g_free(e->sha256);
	g_free(e->fingerprint);
	g_free(e->subkey);
	g_free(e);
}

static void
keydir_refusal_free(gpointer data)
{
	KovKeydirRefusal *r = data;
	g_free(r->file);
	g_free(r->reason);
	g_free(r);
}

static KovKeydirSnapshot *
keydir_snapshot_new(void)
{
	KovKeydirSnapshot *snap = g_new0(KovKeydirSnapshot, 1);
	g_atomic_ref_count_init(&snap->refs);
	snap->entries = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, keydir_entry_free);
	snap->refused = g_ptr_array_new_with_free_func(keydir_refusal_free);
	snap->hashes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	snap->imported = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	snap->published = TRUE;
	return snap;
}

KovKeydirSnapshot *
kov_keydir_snapshot_ref(KovKeydirSnapshot *snap)
{
	g_return_val_if_fail(snap != NULL, NULL);
	g_atomic_ref_count_inc(&snap->refs);
	return snap;
}

void
kov_keydir_snapshot_unref(KovKeydirSnapshot *snap)
{
	if (snap == NULL || !g_atomic_ref_count_dec(&snap->refs))
		return;
	g_hash_table_unref(snap->entries);
	g_ptr_array_unref(snap->refused);
	g_hash_table_unref(snap->hashes);
	g_hash_table_unref(snap->imported);
	g_free(snap->dir);
	g_free(snap);
}

const KovKeydirEntry *
kov_keydir_snapshot_lookup(KovKeydirSnapshot *snap, const char *address)
{
	g_return_val_if_fail(snap != NULL && address != NULL, NULL);
	g_autofree char *lower = g_ascii_strdown(address, -1);
	return g_hash_table_lookup(snap->entries, lower);
}

static gint
keydir_entry_cmp(gconstpointer a, gconstpointer b)
{
	const KovKeydirEntry *x = *(const KovKeydirEntry *const *)a;
	const KovKeydirEntry *y = *(const KovKeydirEntry *const *)b;
	return strcmp(x->address, y->address);
}

GPtrArray *
kov_keydir_snapshot_entries(KovKeydirSnapshot *snap)
{
	g_return_val_if_fail(snap != NULL, NULL);
	GPtrArray *all = g_ptr_array_sized_new(g_hash_table_size(snap->entries));
	GHashTableIter iter;
	gpointer value;
	g_hash_table_iter_init(&iter, snap->entries);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		g_ptr_array_add(all, value);
	g_ptr_array_sort(all, keydir_entry_cmp);
	return all;
}

const GPtrArray *
kov_keydir_snapshot_refused(KovKeydirSnapshot *snap)
{
	g_return_val_if_fail(snap != NULL, NULL);
	return snap->refused;
}

/* ---- the directory -------------------------------------------------------- */

struct _KovKeydir {
	KovKeys *keys;           /* borrowed */
	char *dir;
	char *snapdir;
	GHashTable *facts;       /* sha256 -> KeydirFacts* (owned) */
	GMutex lock;             /* guards current */
	KovKeydirSnapshot *current;
	guint gpg_runs;
	/* The watcher's (kov_keydir_update): */
	GHashTable *imported;    /* fingerprint -> gint64* retired since (0: in use) */
	GHashTable *done;        /* "sha256 address" imported by this process (a set) */
	guint64 generation;
	char *published;         /* the body of the manifest last written (no generation) */
};

KovKeydir *
kov_keydir_new(KovKeys *keys, const char *dir, const char *snapdir, GError **error)
{
	g_return_val_if_fail(keys != NULL && dir != NULL && snapdir != NULL, NULL);
	if (g_mkdir_with_parents(snapdir, 0700) != 0) {
		kov_error_set_errno(error, errno, "keydir: cannot make the snapshot directory %s", snapdir);
		return NULL;
	}
	KovKeydir *kd = g_new0(KovKeydir, 1);
	kd->keys = keys;
	kd->dir = g_strdup(dir);
	kd->snapdir = g_strdup(snapdir);
	kd->facts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, keydir_facts_free);
	g_mutex_init(&kd->lock);
	kd->current = keydir_snapshot_new();
	kd->imported = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	kd->done = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	return kd;
}

void
kov_keydir_free(KovKeydir *kd)
{
	if (kd == NULL)
		return;
	kov_keydir_snapshot_unref(kd->current);
	g_hash_table_unref(kd->imported);
	g_hash_table_unref(kd->done);
	g_free(kd->published);
	g_mutex_clear(&kd->lock);
	g_hash_table_unref(kd->facts);
	g_free(kd->dir);
	g_free(kd->snapdir);
	g_free(kd);
}

KovKeydirSnapshot *
kov_keydir_current(KovKeydir *kd)
{
	g_return_val_if_fail(kd != NULL, NULL);
	g_mutex_lock(&kd->lock);
	KovKeydirSnapshot *snap = kov_keydir_snapshot_ref(kd->current);
	g_mutex_unlock(&kd->lock);
	return snap;
}

guint
kov_keydir_gpg_runs(KovKeydir *kd)
{
	g_return_val_if_fail(kd != NULL, 0);
	return kd->gpg_runs;
}

/* Read directory entry @name of @dfd into *@data, or say why not in
 * *@reason: never through a link, never waiting on a FIFO or a device,
 * never more than KOV_KEYDIR_MAX_FILE bytes. */
static gboolean
keydir_read(int dfd, const char *name, GBytes **data, char **reason)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		*reason = g_strdup_printf("cannot read it: %s", g_strerror(errno));
		return FALSE;
	}
	if (S_ISLNK(st.st_mode)) {
		*reason = g_strdup("a symbolic link: keys are read from regular files only");
		return FALSE;
	}
	if (!S_ISREG(st.st_mode)) {
		*reason = g_strdup("not a regular file");
		return FALSE;
	}
	if (st.st_size > KOV_KEYDIR_MAX_FILE) {
		*reason = g_strdup_printf("larger than %d bytes", KOV_KEYDIR_MAX_FILE);
		return FALSE;
	}
	/* It may have been replaced since the fstatat: check again on the descriptor. */
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		*reason = err == ELOOP ? g_strdup("a symbolic link: keys are read from regular files only")
		                       : g_strdup_printf("cannot read it: %s", g_strerror(err));
		return FALSE;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		*reason = g_strdup("not a regular file");
		return FALSE;
	}
	/* One byte more than the cap tells a file that grew past it. */
	gsize cap = KOV_KEYDIR_MAX_FILE + 1, len = 0;
	char *buf = g_malloc(MIN((gsize)st.st_size + 1, cap));
	gsize size = MIN((gsize)st.st_size + 1, cap);
	for (;;) {
		if (len == size) {
			if (size == cap)
				break;
			size = MIN(size * 2, cap);
			buf = g_realloc(buf, size);
		}
		ssize_t n = read(fd, buf + len, size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			close(fd);
			g_free(buf);
			*reason = g_strdup_printf("cannot read it: %s", g_strerror(err));
			return FALSE;
		}
		if (n == 0)
			break;
		len += (gsize)n;
	}
	close(fd);
	if (len > KOV_KEYDIR_MAX_FILE) {
		g_free(buf);
		*reason = g_strdup_printf("larger than %d bytes", KOV_KEYDIR_MAX_FILE);
		return FALSE;
	}
	*data = g_bytes_new_take(buf, len);
	return TRUE;
}

/* What gpg says about @data (hash @sha): from memory, from the facts file
 * of an earlier run, or from gpg (then remembered in both). NULL with
 * @error when gpg cannot run or the facts cannot be written. (borrowed) */
static const KeydirFacts *
keydir_facts_for(KovKeydir *kd, const char *sha, GBytes *data, GError **error)
{
	KeydirFacts *facts = g_hash_table_lookup(kd->facts, sha);
	if (facts != NULL && keydir_facts_current(facts))
		return facts;
	g_autofree char *name = g_strconcat(sha, ".facts", NULL);
	g_autofree char *path = g_build_filename(kd->snapdir, name, NULL);
	if (facts == NULL) {
		facts = keydir_facts_load(path);
		if (facts != NULL && keydir_facts_current(facts)) {
			g_hash_table_replace(kd->facts, g_strdup(sha), facts);
			return facts;
		}
		keydir_facts_free(facts);
	}
	gsize len = 0;
	const char *bytes = g_bytes_get_data(data, &len);
	kd->gpg_runs++;
	facts = keydir_facts_list(kd->keys, bytes, len, error);
	if (facts == NULL)
		return NULL;
	g_hash_table_replace(kd->facts, g_strdup(sha), facts);
	gsize dump_len = 0;
	g_autofree char *dump = keydir_facts_dump(facts, &dump_len);
	if (!kov_fileio_replace(path, NULL, dump, dump_len, error)) {
		g_prefix_error(error, "keydir: ");
		return NULL;
	}
	return facts;
}

/* Why a file with @facts is no key for @address, or NULL: it is. (transfer full) */
static char *
keydir_verdict(const KeydirFacts *facts, const char *address, gboolean armored_public)
{
	if (facts->secret || !armored_public)
		return g_strdup(facts->secret ? "holds a secret key: only public keys belong here"
		                              : "not an armored public key block (gpg --armor --export)");
	if (facts->nkeys == 0)
		return g_strdup("holds no key gpg can read");
	if (facts->nkeys > 1)
		return g_strdup_printf("holds %u keys: exactly one is allowed", facts->nkeys);
	gboolean live = FALSE, dead = FALSE;
	for (char **a = facts->addresses; *a != NULL && !live; a++)
		live = kov_keys_address_equal(*a, address);
	for (char **a = facts->dead_addresses; *a != NULL && !live && !dead; a++)
		dead = kov_keys_address_equal(*a, address);
	if (!live && dead)
		return g_strdup_printf("key %s: the user ID for %s is revoked or invalid",
		                       facts->fingerprint, address);
	if (!live) {
		g_autofree char *has = g_strjoinv(", ", facts->addresses);
		return g_strdup_printf("key %s has no user ID with address %s (it has: %s)",
		                       facts->fingerprint, address, *has != '\0' ? has : "none");
	}
	if (facts->problem != KOV_KEY_PROBLEM_NONE) {
		const char *text = kov_keys_problem_text(facts->problem);
		return g_strdup_printf("key %s: %s", facts->fingerprint, text != NULL ? text : "unusable");
	}
	if (facts->subkey == NULL)
		return g_strdup_printf("key %s cannot encrypt", facts->fingerprint);
	if (facts->expires != 0 && facts->expires <= g_get_real_time() / G_USEC_PER_SEC)
		return g_strdup_printf("key %s: %s", facts->fingerprint,
		                       kov_keys_problem_text(KOV_KEY_PROBLEM_EXPIRED));
	return NULL;
}

/* The bytes are one armored public key block, as gpg --armor --export
 * writes it; a secret key block is refused before gpg sees it. */
static gboolean
keydir_armored_public(GBytes *data, gboolean *secret)
{
	gsize len = 0;
	const char *p = g_bytes_get_data(data, &len);
	static const char pub[] = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
	static const char sec[] = "-----BEGIN PGP PRIVATE KEY BLOCK-----";
	*secret = g_strstr_len(p, (gssize)len, sec) != NULL;
	return g_strstr_len(p, (gssize)len, pub) != NULL;
}

/* Write @data to @snapshot unless it is there already with that size. */
static gboolean
keydir_snapshot_write(const char *snapshot, GBytes *data, GError **error)
{
	struct stat st;
	gsize len = 0;
	const char *bytes = g_bytes_get_data(data, &len);
	if (lstat(snapshot, &st) == 0 && S_ISREG(st.st_mode) && (gsize)st.st_size == len)
		return TRUE;
	if (!kov_fileio_replace(snapshot, NULL, bytes, len, error)) {
		g_prefix_error(error, "keydir: ");
		return FALSE;
	}
	return TRUE;
}

/* Stamp the files of the bytes @old read and @now does not with the time
 * they left: kov_keydir_prune() counts its grace from then, not from when
 * they were written (a key may have been current for a year). */
static void
keydir_retire(KovKeydir *kd, KovKeydirSnapshot *old, KovKeydirSnapshot *now)
{
	GHashTableIter iter;
	gpointer sha;
	g_hash_table_iter_init(&iter, old->hashes);
	while (g_hash_table_iter_next(&iter, &sha, NULL)) {
		if (g_hash_table_contains(now->hashes, sha))
			continue;
		static const char *const ext[] = { ".asc", ".facts" };
		for (gsize i = 0; i < G_N_ELEMENTS(ext); i++) {
			g_autofree char *name = g_strconcat(sha, ext[i], NULL);
			g_autofree char *path = g_build_filename(kd->snapdir, name, NULL);
			/* Not there (a refused file has no .asc): nothing to keep. */
			(void)utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW);
		}
	}
}

static void
keydir_refuse(GPtrArray *refused, const char *file, char *reason)
{
	KovKeydirRefusal *r = g_new0(KovKeydirRefusal, 1);
	r->file = g_strdup(file);
	r->reason = reason;
	g_ptr_array_add(refused, r);
}

static gint
keydir_name_cmp(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static gint
keydir_refusal_cmp(gconstpointer a, gconstpointer b)
{
	const KovKeydirRefusal *x = *(const KovKeydirRefusal *const *)a;
	const KovKeydirRefusal *y = *(const KovKeydirRefusal *const *)b;
	return strcmp(x->file, y->file);
}

/* The names in @dfd, sorted (a load is the same whatever readdir's order). */
static GPtrArray *
keydir_names(int dfd, const char *dir, GError **error)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		kov_error_set_errno(error, errno, "keydir: cannot read %s", dir);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	errno = 0;
	for (struct dirent *ent; (ent = readdir(d)) != NULL; errno = 0)
		g_ptr_array_add(names, g_strdup(ent->d_name));
	int err = errno;
	closedir(d);
	if (err != 0) {
		kov_error_set_errno(error, err, "keydir: cannot read %s", dir);
		g_ptr_array_unref(names);
		return NULL;
	}
	g_ptr_array_sort(names, keydir_name_cmp);
	return names;
}

static KovKeydirEntry *
keydir_entry_copy(const KovKeydirEntry *e)
{
	KovKeydirEntry *c = g_new0(KovKeydirEntry, 1);
	*c = (KovKeydirEntry){ g_strdup(e->address), g_strdup(e->file), g_strdup(e->snapshot),
	                       g_strdup(e->sha256), g_strdup(e->fingerprint), g_strdup(e->subkey),
	                       e->expires };
	return c;
}

/* Add accepted @e (owned) to @snap unless another file names its address
 * too: then neither is used. */
static void
keydir_accept(KovKeydirSnapshot *snap, GHashTable *clash, KovKeydirEntry *e)
{
	KovKeydirEntry *other = g_hash_table_lookup(snap->entries, e->address);
	if (other == NULL && !g_hash_table_contains(clash, e->address)) {
		g_hash_table_insert(snap->entries, e->address, e);
		return;
	}
	keydir_refuse(snap->refused, e->file,
	              g_strdup_printf("another file names %s too: neither is used", e->address));
	if (other != NULL) {
		keydir_refuse(snap->refused, other->file,
		              g_strdup_printf("another file names %s too: neither is used", e->address));
		g_hash_table_remove(snap->entries, e->address);
	}
	g_hash_table_add(clash, g_strdup(e->address));
	keydir_entry_free(e);
}

/* @name keeps what @old said of it (a writer may still be writing it):
 * its entry, its refusal, or nothing. */
static void
keydir_hold(KovKeydirSnapshot *snap, GHashTable *clash, KovKeydirSnapshot *old, const char *name)
{
	GHashTableIter iter;
	gpointer value;
	g_hash_table_iter_init(&iter, old->entries);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		const KovKeydirEntry *e = value;
		if (strcmp(e->file, name) == 0) {
			g_hash_table_add(snap->hashes, g_strdup(e->sha256));
			keydir_accept(snap, clash, keydir_entry_copy(e));
			return;
		}
	}
	for (guint i = 0; i < old->refused->len; i++) {
		const KovKeydirRefusal *r = old->refused->pdata[i];
		if (strcmp(r->file, name) == 0)
			keydir_refuse(snap->refused, name, g_strdup(r->reason));
	}
}

/* A new snapshot of the directory; the names in @hold, and those changed
 * less than @young seconds ago (0: none), keep their state in @old. */
static KovKeydirSnapshot *
keydir_build(KovKeydir *kd, KovKeydirSnapshot *old, GHashTable *hold, gint64 young, GError **error)
{
	int dfd = open(kd->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		kov_error_set_errno(error, errno, "keydir: cannot open %s", kd->dir);
		return NULL;
	}
	g_autoptr(GPtrArray) names = keydir_names(dfd, kd->dir, error);
	if (names == NULL) {
		close(dfd);
		return NULL;
	}
	g_autoptr(KovKeydirSnapshot) snap = keydir_snapshot_new();
	/* Addresses named by two files (Bob@x.asc and bob@x.asc): neither wins. */
	g_autoptr(GHashTable) clash = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	for (guint i = 0; i < names->len; i++) {
		const char *name = names->pdata[i];
		g_autofree char *address = NULL, *reason = NULL;
		KovKeydirName kind = kov_keydir_parse_name(name, &address, &reason);
		if (kind == KOV_KEYDIR_NAME_IGNORED)
			continue;
		struct stat st;
		if ((hold != NULL && g_hash_table_contains(hold, name)) ||
		    (young > 0 && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		     st.st_mtim.tv_sec > now - young && st.st_mtim.tv_sec <= now + 1)) {
			/* (A time in the future is no writer at work: held, such a
			 * file would never be read.) */
			keydir_hold(snap, clash, old, name);
			continue;
		}
		if (kind == KOV_KEYDIR_NAME_REFUSED) {
			keydir_refuse(snap->refused, name, g_steal_pointer(&reason));
			continue;
		}
		g_autoptr(GBytes) data = NULL;
		if (!keydir_read(dfd, name, &data, &reason)) {
			keydir_refuse(snap->refused, name, g_steal_pointer(&reason));
			continue;
		}
		gboolean secret = FALSE;
		gboolean armored = keydir_armored_public(data, &secret);
		g_autofree char *sha = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, data);
		g_hash_table_add(snap->hashes, g_strdup(sha));
		KeydirFacts refusal = { .secret = secret };
		const KeydirFacts *facts = &refusal;
		if (armored && !secret) {
			facts = keydir_facts_for(kd, sha, data, error);
			if (facts == NULL) {
				close(dfd);
				return NULL;
			}
		}
		reason = keydir_verdict(facts, address, armored);
		if (reason != NULL) {
			keydir_refuse(snap->refused, name, g_steal_pointer(&reason));
			continue;
		}
		g_autofree char *base = g_strconcat(sha, ".asc", NULL);
		g_autofree char *snapshot = g_build_filename(kd->snapdir, base, NULL);
		if (!keydir_snapshot_write(snapshot, data, error)) {
			close(dfd);
			return NULL;
		}
		KovKeydirEntry *e = g_new0(KovKeydirEntry, 1);
		e->address = g_steal_pointer(&address);
		e->file = g_strdup(name);
		e->snapshot = g_steal_pointer(&snapshot);
		e->sha256 = g_steal_pointer(&sha);
		e->fingerprint = g_strdup(facts->fingerprint);
		e->subkey = g_strdup(facts->subkey);
		e->expires = facts->expires;
		keydir_accept(snap, clash, e);
	}
	close(dfd);
	g_ptr_array_sort(snap->refused, keydir_refusal_cmp);
	return g_steal_pointer(&snap);
}

/* @snap is current now. */
static void
keydir_swap(KovKeydir *kd, KovKeydirSnapshot *snap)
{
	g_mutex_lock(&kd->lock);
	KovKeydirSnapshot *old = kd->current;
	kd->current = kov_keydir_snapshot_ref(snap);
	g_mutex_unlock(&kd->lock);
	keydir_retire(kd, old, snap);
	kov_keydir_snapshot_unref(old);
}

gboolean
kov_keydir_load(KovKeydir *kd, GError **error)
{
	g_return_val_if_fail(kd != NULL, FALSE);
	g_autoptr(KovKeydirSnapshot) old = kov_keydir_current(kd);
	g_autoptr(KovKeydirSnapshot) snap = keydir_build(kd, old, NULL, 0, error);
	if (snap == NULL)
		return FALSE;
	keydir_swap(kd, snap);
	return TRUE;
}

/* "<64 hex>.asc" or "<64 hex>.facts": a file of ours; its hash in *@sha. */
static gboolean
keydir_own_file(const char *name, char sha[65])
{
	if (strspn(name, "0123456789abcdef") != 64 ||
	    (strcmp(name + 64, ".asc") != 0 && strcmp(name + 64, ".facts") != 0))
		return FALSE;
	memcpy(sha, name, 64);
	sha[64] = '\0';
	return TRUE;
}

guint
kov_keydir_prune(KovKeydir *kd, gint64 grace, GError **error)
{
	g_return_val_if_fail(kd != NULL && grace >= 0, 0);

	g_autoptr(KovKeydirSnapshot) snap = kov_keydir_current(kd);
	int dfd = open(kd->snapdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		kov_error_set_errno(error, errno, "keydir: cannot open %s", kd->snapdir);
		return 0;
	}
	g_autoptr(GPtrArray) names = keydir_names(dfd, kd->snapdir, error);
	if (names == NULL) {
		close(dfd);
		return 0;
	}
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	guint removed = 0;
	for (guint i = 0; i < names->len; i++) {
		const char *name = names->pdata[i];
		char sha[65];
		struct stat st;
		if (!keydir_own_file(name, sha) || g_hash_table_contains(snap->hashes, sha) ||
		    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
		    st.st_mtim.tv_sec > now - grace)
			continue;
		if (unlinkat(dfd, name, 0) != 0) {
			if (errno == ENOENT)
				continue;
			kov_error_set_errno(error, errno, "keydir: cannot remove %s/%s", kd->snapdir, name);
			close(dfd);
			return removed;
		}
		g_hash_table_remove(kd->facts, sha);
		removed++;
	}
	close(dfd);
	return removed;
}

/* ---- the manifest: what the watcher publishes, what workers read -------- */

/* <snapdir>/current, one record a line, fields split by one space:
 *
 *   koverto-keydir-manifest 1
 *   generation G
 *   dir DIR
 *   entry ADDRESS FILE SHA256 FINGERPRINT SUBKEY EXPIRES     (by address)
 *   refused FILE REASON                                       (by file)
 *   imported FINGERPRINT RETIRED-SINCE                        (0: in use)
 *   end
 *
 * DIR, FILE and REASON are written with every byte outside '!'..'~' and
 * '%' itself as %XX (upper-case hex): a hostile file name cannot end a
 * line or add a field. The reader takes nothing else. */

#define KEYDIR_MANIFEST "current"
#define KEYDIR_MANIFEST_MAGIC "koverto-keydir-manifest 1"
#define KEYDIR_MANIFEST_MAX (64 * 1024 * 1024)

static void
keydir_enc(GString *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p > 0x20 && *p < 0x7f && *p != '%')
			g_string_append_c(out, (char)*p);
		else
			g_string_append_printf(out, "%%%02X", *p);
}

/* @s decoded, or NULL: a byte that should have been escaped, a bad
 * escape, an escaped NUL, or nothing at all. (transfer full) */
static char *
keydir_dec(const char *s)
{
	GString *out = g_string_new(NULL);
	for (const char *p = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '%') {
			static const char hex[] = "0123456789ABCDEF";
			const char *hi = p[1] != '\0' ? strchr(hex, p[1]) : NULL;
			const char *lo = hi != NULL && p[2] != '\0' ? strchr(hex, p[2]) : NULL;
			int v = lo != NULL ? (int)((hi - hex) * 16 + (lo - hex)) : 0;
			/* Only what the writer escapes: no %41 for 'A', no %00. */
			if (lo == NULL || v == 0 || (v > 0x20 && v < 0x7f && v != '%')) {
				g_string_free(out, TRUE);
				return NULL;
			}
			g_string_append_c(out, (char)v);
			p += 2;
		} else if (c > 0x20 && c < 0x7f) {
			g_string_append_c(out, (char)c);
		} else {
			g_string_free(out, TRUE);
			return NULL;
		}
	}
	if (out->len == 0) {
		g_string_free(out, TRUE);
		return NULL;
	}
	return g_string_free(out, FALSE);
}

static gboolean
keydir_is_hex(const char *s, gsize len, const char *digits)
{
	return strlen(s) == len && strspn(s, digits) == len;
}

static gboolean
keydir_is_fpr(const char *s)
{
	return keydir_is_hex(s, 40, "0123456789ABCDEF") || keydir_is_hex(s, 64, "0123456789ABCDEF");
}

/* A decimal number without sign or leading zero, at most G_MAXINT64. */
static gboolean
keydir_number(const char *s, gint64 *out)
{
	if (s[0] == '\0' || strspn(s, "0123456789") != strlen(s) || (s[0] == '0' && s[1] != '\0') ||
	    strlen(s) > 19)
		return FALSE;
	guint64 v = g_ascii_strtoull(s, NULL, 10);
	if (v > G_MAXINT64)
		return FALSE;
	*out = (gint64)v;
	return TRUE;
}

static gint
keydir_str_cmp(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The manifest's records but the first two lines: what a change is
 * measured by. (transfer full) */
static char *
keydir_manifest_body(const char *dir, KovKeydirSnapshot *snap, GHashTable *imported)
{
	GString *out = g_string_new("dir ");
	keydir_enc(out, dir);
	g_string_append_c(out, '\n');
	g_autoptr(GPtrArray) entries = kov_keydir_snapshot_entries(snap);
	for (guint i = 0; i < entries->len; i++) {
		const KovKeydirEntry *e = entries->pdata[i];
		g_string_append_printf(out, "entry %s %s %s %s %s %" G_GINT64_FORMAT "\n", e->address,
		                       e->file, e->sha256, e->fingerprint, e->subkey, MAX(e->expires, 0));
	}
	for (guint i = 0; i < snap->refused->len; i++) {
		const KovKeydirRefusal *r = snap->refused->pdata[i];
		g_string_append(out, "refused ");
		keydir_enc(out, r->file);
		g_string_append_c(out, ' ');
		keydir_enc(out, r->reason);
		g_string_append_c(out, '\n');
	}
	g_autoptr(GPtrArray) fprs = g_ptr_array_new();
	GHashTableIter iter;
	gpointer fpr;
	g_hash_table_iter_init(&iter, imported);
	while (g_hash_table_iter_next(&iter, &fpr, NULL))
		g_ptr_array_add(fprs, fpr);
	g_ptr_array_sort(fprs, keydir_str_cmp);
	for (guint i = 0; i < fprs->len; i++) {
		const gint64 *since = g_hash_table_lookup(imported, fprs->pdata[i]);
		g_string_append_printf(out, "imported %s %" G_GINT64_FORMAT "\n", (const char *)fprs->pdata[i],
		                       *since);
	}
	g_string_append(out, "end\n");
	return g_string_free(out, FALSE);
}

static GHashTable *
keydir_imported_copy(GHashTable *from)
{
	GHashTable *to = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	GHashTableIter iter;
	gpointer k, v;
	g_hash_table_iter_init(&iter, from);
	while (g_hash_table_iter_next(&iter, &k, &v))
		g_hash_table_insert(to, g_strdup(k), g_memdup2(v, sizeof(gint64)));
	return to;
}

static void
keydir_imported_set(GHashTable *imported, const char *fpr, gint64 since)
{
	g_hash_table_insert(imported, g_strdup(fpr), g_memdup2(&since, sizeof since));
}

/* Write @snap with kd's imported set as the manifest, unless it says what
 * the last one said. *@changed: it was written. */
static gboolean
keydir_publish(KovKeydir *kd, KovKeydirSnapshot *snap, gboolean *changed, GError **error)
{
	*changed = FALSE;
	g_autofree char *body = keydir_manifest_body(kd->dir, snap, kd->imported);
	if (kd->published != NULL && strcmp(body, kd->published) == 0)
		return TRUE;
	guint64 generation = kd->generation + 1;
	g_autofree char *text = g_strdup_printf(KEYDIR_MANIFEST_MAGIC "\ngeneration %" G_GUINT64_FORMAT
	                                        "\n%s", generation, body);
	g_autofree char *path = g_build_filename(kd->snapdir, KEYDIR_MANIFEST, NULL);
	if (!kov_fileio_replace(path, NULL, text, strlen(text), error)) {
		g_prefix_error(error, "keydir: cannot publish %s: ", kd->dir);
		return FALSE;
	}
	kd->generation = generation;
	g_free(kd->published);
	kd->published = g_steal_pointer(&body);
	*changed = TRUE;
	return TRUE;
}

gboolean
kov_keydir_publish(KovKeydir *kd, GError **error)
{
	g_return_val_if_fail(kd != NULL, FALSE);
	g_autoptr(KovKeydirSnapshot) snap = kov_keydir_current(kd);
	gboolean changed = FALSE;
	return keydir_publish(kd, snap, &changed, error);
}

static gboolean
keydir_manifest_fail(GError **error, guint line, const char *what)
{
	g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "keydir manifest: line %u: %s", line, what);
	return FALSE;
}

/* One record (@fields, @n of them) of line @line into @snap. */
static gboolean
keydir_manifest_record(KovKeydirSnapshot *snap, const char *snapdir, char **fields, guint n,
                       guint line, int *stage, GError **error)
{
	if (strcmp(fields[0], "entry") == 0) {
		if (*stage > 0)
			return keydir_manifest_fail(error, line, "an entry after a refusal or an import");
		gint64 expires = 0;
		g_autofree char *address = NULL, *reason = NULL;
		if (n != 7 || kov_keydir_parse_name(fields[2], &address, &reason) != KOV_KEYDIR_NAME_KEY ||
		    strcmp(address, fields[1]) != 0 || !keydir_is_hex(fields[3], 64, "0123456789abcdef") ||
		    !keydir_is_fpr(fields[4]) || !keydir_is_fpr(fields[5]) || !keydir_number(fields[6], &expires))
			return keydir_manifest_fail(error, line, "not an entry");
		if (g_hash_table_contains(snap->entries, address))
			return keydir_manifest_fail(error, line, "a second entry for one address");
		KovKeydirEntry *e = g_new0(KovKeydirEntry, 1);
		g_autofree char *base = g_strconcat(fields[3], ".asc", NULL);
		*e = (KovKeydirEntry){ g_steal_pointer(&address), g_strdup(fields[2]),
		                       g_build_filename(snapdir, base, NULL), g_strdup(fields[3]),
		                       g_strdup(fields[4]), g_strdup(fields[5]), expires };
		g_hash_table_add(snap->hashes, g_strdup(e->sha256));
		g_hash_table_insert(snap->entries, e->address, e);
		return TRUE;
	}
	if (strcmp(fields[0], "refused") == 0) {
		if (*stage > 1)
			return keydir_manifest_fail(error, line, "a refusal after an import");
		*stage = 1;
		g_autofree char *file = n == 3 ? keydir_dec(fields[1]) : NULL;
		g_autofree char *reason = file != NULL ? keydir_dec(fields[2]) : NULL;
		if (reason == NULL || strchr(file, '/') != NULL || !g_utf8_validate(reason, -1, NULL))
			return keydir_manifest_fail(error, line, "not a refusal");
		keydir_refuse(snap->refused, file, g_steal_pointer(&reason));
		return TRUE;
	}
	if (strcmp(fields[0], "imported") == 0) {
		*stage = 2;
		gint64 since = 0;
		if (n != 3 || !keydir_is_fpr(fields[1]) || !keydir_number(fields[2], &since))
			return keydir_manifest_fail(error, line, "not an imported key");
		if (g_hash_table_contains(snap->imported, fields[1]))
			return keydir_manifest_fail(error, line, "a key imported twice");
		keydir_imported_set(snap->imported, fields[1], since);
		return TRUE;
	}
	return keydir_manifest_fail(error, line, "an unknown record");
}

KovKeydirSnapshot *
kov_keydir_manifest_parse(const char *snapdir, const char *text, gsize len, GError **error)
{
	g_return_val_if_fail(snapdir != NULL && (text != NULL || len == 0), NULL);
	if (len > KEYDIR_MANIFEST_MAX || len == 0 || text[len - 1] != '\n' || memchr(text, '\0', len) != NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "keydir manifest: empty, too large, not ending in a line end, or with a NUL");
		return NULL;
	}
	g_autofree char *copy = g_strndup(text, len - 1);
	g_auto(GStrv) lines = g_strsplit(copy, "\n", -1);
	guint nlines = g_strv_length(lines);
	if (nlines < 4 || strcmp(lines[0], KEYDIR_MANIFEST_MAGIC) != 0) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "keydir manifest: not a manifest of version 1");
		return NULL;
	}
	g_autoptr(KovKeydirSnapshot) snap = keydir_snapshot_new();
	gint64 generation = 0;
	g_autofree char *dir = NULL;
	if (!g_str_has_prefix(lines[1], "generation ") || !keydir_number(lines[1] + 11, &generation)) {
		keydir_manifest_fail(error, 2, "not a generation");
		return NULL;
	}
	if (!g_str_has_prefix(lines[2], "dir ") || (dir = keydir_dec(lines[2] + 4)) == NULL || dir[0] != '/') {
		keydir_manifest_fail(error, 3, "not a directory");
		return NULL;
	}
	if (strcmp(lines[nlines - 1], "end") != 0) {
		keydir_manifest_fail(error, nlines, "no end: the manifest is cut short");
		return NULL;
	}
	snap->generation = (guint64)generation;
	snap->dir = g_steal_pointer(&dir);
	int stage = 0;
	for (guint i = 3; i + 1 < nlines; i++) {
		g_auto(GStrv) fields = g_strsplit(lines[i], " ", 8);
		guint n = g_strv_length(fields);
		for (guint k = 0; k < n; k++)
			if (fields[k][0] == '\0') {
				keydir_manifest_fail(error, i + 1, "an empty field");
				return NULL;
			}
		if (n == 0) {
			keydir_manifest_fail(error, i + 1, "an empty line");
			return NULL;
		}
		if (!keydir_manifest_record(snap, snapdir, fields, n, i + 1, &stage, error))
			return NULL;
	}
	return g_steal_pointer(&snap);
}

KovKeydirSnapshot *
kov_keydir_snapshot_read(const char *snapdir, GError **error)
{
	g_return_val_if_fail(snapdir != NULL, NULL);
	g_autofree char *path = g_build_filename(snapdir, KEYDIR_MANIFEST, NULL);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		KovKeydirSnapshot *snap = keydir_snapshot_new();
		snap->published = FALSE;
		return snap;
	}
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > KEYDIR_MANIFEST_MAX) {
		int err = fd < 0 ? errno : EINVAL;
		if (fd >= 0)
			close(fd);
		kov_error_set_errno(error, err, "keydir: cannot read the manifest %s", path);
		return NULL;
	}
	g_autofree char *text = g_malloc((gsize)st.st_size + 1);
	gsize len = 0;
	while (len < (gsize)st.st_size + 1) {
		ssize_t n = read(fd, text + len, (gsize)st.st_size + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			close(fd);
			kov_error_set_errno(error, err, "keydir: cannot read the manifest %s", path);
			return NULL;
		}
		if (n == 0)
			break;
		len += (gsize)n;
	}
	close(fd);
	if (len != (gsize)st.st_size) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL, "keydir: the manifest %s changed while read", path);
		return NULL;
	}
	KovKeydirSnapshot *snap = kov_keydir_manifest_parse(snapdir, text, len, error);
	if (snap == NULL)
		g_prefix_error(error, "%s: ", path);
	return snap;
}

char *
kov_keydir_snapshot_dump(KovKeydirSnapshot *snap)
{
	g_return_val_if_fail(snap != NULL, NULL);
	g_autofree char *body = keydir_manifest_body(snap->dir != NULL ? snap->dir : "/", snap, snap->imported);
	return g_strdup_printf(KEYDIR_MANIFEST_MAGIC "\ngeneration %" G_GUINT64_FORMAT "\n%s",
	                       snap->generation, body);
}

gboolean
kov_keydir_snapshot_hides(KovKeydirSnapshot *snap, const char *fpr)
{
	g_return_val_if_fail(snap != NULL, FALSE);
	if (fpr == NULL)
		return FALSE;
	g_autofree char *upper = g_ascii_strup(fpr, -1);
	return g_hash_table_contains(snap->imported, upper);
}

gboolean
kov_keydir_snapshot_published(KovKeydirSnapshot *snap)
{
	g_return_val_if_fail(snap != NULL, FALSE);
	return snap->published;
}

guint64
kov_keydir_snapshot_generation(KovKeydirSnapshot *snap)
{
	g_return_val_if_fail(snap != NULL, 0);
	return snap->generation;
}

gint64
kov_keydir_snapshot_retired(KovKeydirSnapshot *snap, const char *fpr)
{
	g_return_val_if_fail(snap != NULL && fpr != NULL, -1);
	g_autofree char *upper = g_ascii_strup(fpr, -1);
	const gint64 *since = g_hash_table_lookup(snap->imported, upper);
	return since != NULL ? *since : -1;
}

char *
kov_keydir_snapdir_for(const char *queuedir, const char *dir)
{
	g_return_val_if_fail(queuedir != NULL && dir != NULL, NULL);
	g_autofree char *sha = g_compute_checksum_for_string(G_CHECKSUM_SHA256, dir, -1);
	sha[16] = '\0';
	return g_build_filename(queuedir, ".keydir", sha, NULL);
}

/* ---- the watcher: import, retire, delete -------------------------------- */

/* Every key of the keyring, by primary fingerprint: one gpg run. NULL with
 * @error when gpg cannot run. (transfer full: gpgme_key_t values) */
static GHashTable *
keydir_keyring(KovKeys *keys, GError **error)
{
	g_auto(gpgme_ctx_t) ctx = kov_keys_new_context(keys, error);
	if (ctx == NULL)
		return NULL;
	GHashTable *all = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	                                        (GDestroyNotify)gpgme_key_unref);
	gpgme_error_t err = gpgme_op_keylist_start(ctx, NULL, 0);
	gpgme_key_t key = NULL;
	while (err == 0 && (err = gpgme_op_keylist_next(ctx, &key)) == 0) {
		const char *fpr = kov_keys_fingerprint(key);
		if (fpr != NULL)
			g_hash_table_replace(all, g_ascii_strup(fpr, -1), key);
		else
			gpgme_key_unref(key);
	}
	gpgme_op_keylist_end(ctx);
	if (gpg_err_code(err) != GPG_ERR_EOF) {
		kov_gpgerror_set(error, err, KOV_GPGERROR_ENGINE, "keydir: cannot list the keyring");
		g_hash_table_unref(all);
		return NULL;
	}
	return all;
}

/* @key in the keyring already serves @e as the file says: the subkey is
 * there, live, with the same expiry, and a live user ID has the address. */
static gboolean
keydir_keyring_serves(gpgme_key_t key, const KovKeydirEntry *e)
{
	if (key == NULL || key->revoked || key->disabled || key->invalid)
		return FALSE;
	gboolean uid = FALSE;
	for (gpgme_user_id_t u = key->uids; u != NULL && !uid; u = u->next)
		uid = !u->revoked && !u->invalid && u->address != NULL && kov_keys_address_equal(u->address, e->address);
	gpgme_subkey_t primary = key->subkeys;
	for (gpgme_subkey_t s = key->subkeys; s != NULL && uid; s = s->next) {
		if (s->fpr == NULL || g_ascii_strcasecmp(s->fpr, e->subkey) != 0)
			continue;
		gint64 expires = s->expires > 0 ? s->expires : 0;
		if (primary->expires > 0 && (expires == 0 || primary->expires < expires))
			expires = primary->expires;
		return !s->revoked && !s->invalid && !s->disabled && s->can_encrypt && expires == e->expires;
	}
	return FALSE;
}

/* The user ID address of the file's key that is @e's address, as the key
 * spells it (gpg's mbox filter compares it exactly). (transfer full) */
static char *
keydir_uid_address(KovKeydir *kd, const KovKeydirEntry *e)
{
	const KeydirFacts *facts = g_hash_table_lookup(kd->facts, e->sha256);
	for (char **a = facts != NULL ? facts->addresses : NULL; a != NULL && *a != NULL; a++)
		if (kov_keys_address_equal(*a, e->address))
			return g_strdup(*a);
	return g_strdup(e->address);
}

/* Import @e's snapshot into the keyring with only the user ID of its address. */
static gboolean
keydir_import_one(KovKeydir *kd, const KovKeydirEntry *e, GError **error)
{
	g_auto(gpgme_ctx_t) ctx = kov_keys_new_context(kd->keys, error);
	if (ctx == NULL)
		return FALSE;
	g_autofree char *mbox = keydir_uid_address(kd, e);
	g_autofree char *filter = g_strdup_printf("keep-uid=mbox = %s", mbox);
	g_auto(gpgme_data_t) data = NULL;
	gpgme_error_t err = gpgme_set_ctx_flag(ctx, "import-filter", filter);
	if (err == 0)
		err = gpgme_data_new_from_file(&data, e->snapshot, 1);
	if (err == 0)
		err = gpgme_op_import(ctx, data);
	if (err != 0) {
		kov_gpgerror_set(error, err, KOV_GPGERROR_ENGINE, "keydir: cannot import %s", e->file);
		return FALSE;
	}
	return TRUE;
}

static char *
keydir_done_key(const KovKeydirEntry *e)
{
	return g_strconcat(e->sha256, " ", e->address, NULL);
}

/* Import what @snap's entries need into the keyring; an entry gpg would
 * not take becomes a refusal. Keys the keyring did not have are recorded
 * (and published, with @old, as koverto's) before they are imported: a
 * crash between the two leaves them hidden and deletable, never taken for
 * the operator's. *@imported: how many files were imported. */
static gboolean
keydir_import(KovKeydir *kd, KovKeydirSnapshot *old, KovKeydirSnapshot *snap, guint *imported,
              GError **error)
{
	*imported = 0;
	g_autoptr(GPtrArray) todo = g_ptr_array_new();
	g_autoptr(GPtrArray) entries = kov_keydir_snapshot_entries(snap);
	for (guint i = 0; i < entries->len; i++) {
		g_autofree char *done = keydir_done_key(entries->pdata[i]);
		if (!g_hash_table_contains(kd->done, done))
			g_ptr_array_add(todo, entries->pdata[i]);
	}
	if (todo->len == 0)
		return TRUE;
	g_autoptr(GHashTable) ring = keydir_keyring(kd->keys, error);
	if (ring == NULL)
		return FALSE;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	gboolean fresh = FALSE;
	g_autoptr(GPtrArray) need = g_ptr_array_new();
	for (guint i = 0; i < todo->len; i++) {
		const KovKeydirEntry *e = todo->pdata[i];
		gpgme_key_t key = g_hash_table_lookup(ring, e->fingerprint);
		if (keydir_keyring_serves(key, e)) {
			g_hash_table_add(kd->done, keydir_done_key(e));
			continue;
		}
		if (key == NULL && !g_hash_table_contains(kd->imported, e->fingerprint)) {
			keydir_imported_set(kd->imported, e->fingerprint, now);
			fresh = TRUE;
		}
		g_ptr_array_add(need, todo->pdata[i]);
	}
	gboolean changed = FALSE;
	if (fresh && !keydir_publish(kd, old, &changed, error))
		return FALSE;
	for (guint i = 0; i < need->len; i++)
		if (!keydir_import_one(kd, need->pdata[i], error))
			return FALSE;
	if (need->len == 0)
		return TRUE;
	/* What gpg made of it: a pin must name a subkey the keyring has. */
	g_autoptr(GHashTable) after = keydir_keyring(kd->keys, error);
	if (after == NULL)
		return FALSE;
	for (guint i = 0; i < need->len; i++) {
		const KovKeydirEntry *e = need->pdata[i];
		if (keydir_keyring_serves(g_hash_table_lookup(after, e->fingerprint), e)) {
			g_hash_table_add(kd->done, keydir_done_key(e));
			(*imported)++;
			continue;
		}
		keydir_refuse(snap->refused, e->file,
		              g_strdup_printf("key %s: gpg did not import it with the user ID %s",
		                              e->fingerprint, e->address));
		g_hash_table_remove(snap->entries, e->address);   /* frees e */
	}
	g_ptr_array_sort(snap->refused, keydir_refusal_cmp);
	return TRUE;
}

/* Mark koverto's keys that no entry of @snap uses as retired (now), and
 * those used again as in use. */
static void
keydir_mark(KovKeydir *kd, KovKeydirSnapshot *snap, gint64 now)
{
	g_autoptr(GHashTable) used = g_hash_table_new(g_str_hash, g_str_equal);
	GHashTableIter iter;
	gpointer k, v;
	g_hash_table_iter_init(&iter, snap->entries);
	while (g_hash_table_iter_next(&iter, NULL, &v))
		g_hash_table_add(used, ((KovKeydirEntry *)v)->fingerprint);
	g_hash_table_iter_init(&iter, kd->imported);
	while (g_hash_table_iter_next(&iter, &k, &v)) {
		gint64 *since = v;
		if (g_hash_table_contains(used, k))
			*since = 0;
		else if (*since == 0) {
			*since = now;
			kov_log_info("keydir retired: fpr=%s dir=%s", (const char *)k, kd->dir);
		}
	}
}

/* A snapshot like @snap, with kd's imported set and generation. */
static KovKeydirSnapshot *
keydir_stamp(KovKeydir *kd, KovKeydirSnapshot *snap)
{
	KovKeydirSnapshot *s = g_new0(KovKeydirSnapshot, 1);
	g_atomic_ref_count_init(&s->refs);
	s->entries = g_hash_table_ref(snap->entries);
	s->refused = g_ptr_array_ref(snap->refused);
	s->hashes = g_hash_table_ref(snap->hashes);
	s->imported = keydir_imported_copy(kd->imported);
	s->generation = kd->generation;
	s->published = TRUE;
	s->dir = g_strdup(kd->dir);
	return s;
}

/* Log each refusal @old did not have in the same words. */
static void
keydir_log_refusals(KovKeydir *kd, KovKeydirSnapshot *old, KovKeydirSnapshot *snap)
{
	g_autoptr(GHashTable) before = g_hash_table_new(g_str_hash, g_str_equal);
	for (guint i = 0; i < old->refused->len; i++) {
		const KovKeydirRefusal *r = old->refused->pdata[i];
		g_hash_table_insert(before, r->file, r->reason);
	}
	for (guint i = 0; i < snap->refused->len; i++) {
		const KovKeydirRefusal *r = snap->refused->pdata[i];
		if (g_strcmp0(g_hash_table_lookup(before, r->file), r->reason) == 0)
			continue;
		g_autoptr(GString) line = g_string_new("keydir refused:");
		kov_logfmt_append(line, "dir", kd->dir, 0);
		kov_logfmt_append(line, "file", r->file, 512);
		kov_logfmt_append(line, "reason", r->reason, 0);
		kov_log_warning("%s", line->str);
	}
}

gboolean
kov_keydir_update(KovKeydir *kd, GHashTable *hold, gint64 young, gboolean *changed, GError **error)
{
	g_return_val_if_fail(kd != NULL, FALSE);
	gboolean dummy = FALSE;
	if (changed == NULL)
		changed = &dummy;
	*changed = FALSE;
	g_autoptr(KovKeydirSnapshot) old = kov_keydir_current(kd);
	g_autoptr(KovKeydirSnapshot) built = keydir_build(kd, old, hold, young, error);
	guint imported = 0;
	if (built == NULL || !keydir_import(kd, old, built, &imported, error))
		return FALSE;
	keydir_mark(kd, built, g_get_real_time() / G_USEC_PER_SEC);
	if (!keydir_publish(kd, built, changed, error))
		return FALSE;
	g_autoptr(KovKeydirSnapshot) snap = keydir_stamp(kd, built);
	keydir_swap(kd, snap);
	if (*changed) {
		keydir_log_refusals(kd, old, snap);
		kov_log_info("keydir loaded: dir=%s accepted=%u refused=%u imported=%u generation=%" G_GUINT64_FORMAT,
		             kd->dir, g_hash_table_size(snap->entries), snap->refused->len, imported,
		             kd->generation);
	}
	return TRUE;
}

gboolean
kov_keydir_tidy(KovKeydir *kd, gint64 now, gint64 grace, GError **error)
{
	g_return_val_if_fail(kd != NULL, FALSE);
	g_autoptr(KovKeydirSnapshot) snap = kov_keydir_current(kd);
	g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(g_free);
	GHashTableIter iter;
	gpointer k, v;
	g_hash_table_iter_init(&iter, kd->imported);
	while (g_hash_table_iter_next(&iter, &k, &v))
		if (*(gint64 *)v > 0 && now - *(gint64 *)v >= grace)
			g_ptr_array_add(gone, g_strdup(k));
	if (gone->len > 0) {
		g_auto(gpgme_ctx_t) ctx = kov_keys_new_context(kd->keys, error);
		if (ctx == NULL)
			return FALSE;
		for (guint i = 0; i < gone->len; i++) {
			const char *fpr = gone->pdata[i];
			g_auto(gpgme_key_t) key = NULL;
			gpgme_error_t err = gpgme_get_key(ctx, fpr, &key, 0);
			if (err == 0)
				err = gpgme_op_delete_ext(ctx, key, GPGME_DELETE_FORCE);
			if (err != 0 && gpg_err_code(err) != GPG_ERR_EOF) {
				kov_gpgerror_set(error, err, KOV_GPGERROR_ENGINE, "keydir: cannot delete key %s", fpr);
				return FALSE;
			}
			g_hash_table_remove(kd->imported, fpr);
			/* Imported again, it is looked at again. */
			g_hash_table_remove_all(kd->done);
			kov_log_info("keydir deleted: fpr=%s dir=%s", fpr, kd->dir);
		}
	}
	gboolean changed = FALSE;
	if (!keydir_publish(kd, snap, &changed, error))
		return FALSE;
	if (changed) {
		g_autoptr(KovKeydirSnapshot) stamped = keydir_stamp(kd, snap);
		keydir_swap(kd, stamped);
	}
	g_autoptr(GError) prune_error = NULL;
	kov_keydir_prune(kd, grace, &prune_error);
	if (prune_error != NULL)
		kov_log_warning("%s", prune_error->message);
	return TRUE;
}

/* What a previous run published: its record of imported keys carries on. */
gboolean
kov_keydir_resume(KovKeydir *kd, GError **error)
{
	g_return_val_if_fail(kd != NULL, FALSE);
	g_autoptr(KovKeydirSnapshot) prev = kov_keydir_snapshot_read(kd->snapdir, error);
	if (prev == NULL)
		return FALSE;
	if (!prev->published)
		return TRUE;
	g_hash_table_unref(kd->imported);
	kd->imported = keydir_imported_copy(prev->imported);
	kd->generation = prev->generation;
	g_free(kd->published);
	kd->published = keydir_manifest_body(kd->dir, prev, kd->imported);
	/* What workers see until the first load is published. */
	keydir_swap(kd, prev);
	return TRUE;
}

void
kov_keydir_disown(KovKeydir *kd)
{
	g_return_if_fail(kd != NULL);
	g_hash_table_remove_all(kd->imported);
	g_hash_table_remove_all(kd->done);
}
