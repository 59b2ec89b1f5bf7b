/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Keys from a directory of ADDRESS.asc files. A file is read once, by
 * descriptor, without following a link or blocking on a FIFO, and at most
 * KOV_KEYDIR_MAX_FILE bytes; those bytes are hashed, listed by gpg without
 * importing (gpgme_op_keylist_from_data_start) and, when accepted, copied
 * to <snapdir>/<sha256>.asc: gpg later reads that copy, never a file git
 * may be rewriting. What gpg said about a content hash is kept in memory
 * and in <snapdir>/<sha256>.facts (it does not depend on the file's name),
 * so a restart re-runs gpg only for new bytes. The address check, the
 * subkey choice and the words for a problem are kov_keys' own. */
#include "keydir.h"

#include "address.h"
#include "error.h"
#include "fileio.h"
#include "gpgerror.h"
#include "gpgme-autoptr.h"

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
	return kd;
}

void
kov_keydir_free(KovKeydir *kd)
{
	if (kd == NULL)
		return;
	kov_keydir_snapshot_unref(kd->current);
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

gboolean
kov_keydir_load(KovKeydir *kd, GError **error)
{
	g_return_val_if_fail(kd != NULL, FALSE);

	int dfd = open(kd->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		kov_error_set_errno(error, errno, "keydir: cannot open %s", kd->dir);
		return FALSE;
	}
	g_autoptr(GPtrArray) names = keydir_names(dfd, kd->dir, error);
	if (names == NULL) {
		close(dfd);
		return FALSE;
	}
	g_autoptr(KovKeydirSnapshot) snap = keydir_snapshot_new();
	/* Addresses named by two files (Bob@x.asc and bob@x.asc): neither wins. */
	g_autoptr(GHashTable) clash = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	for (guint i = 0; i < names->len; i++) {
		const char *name = names->pdata[i];
		g_autofree char *address = NULL, *reason = NULL;
		KovKeydirName kind = kov_keydir_parse_name(name, &address, &reason);
		if (kind == KOV_KEYDIR_NAME_IGNORED)
			continue;
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
				return FALSE;
			}
		}
		reason = keydir_verdict(facts, address, armored);
		if (reason != NULL) {
			keydir_refuse(snap->refused, name, g_steal_pointer(&reason));
			continue;
		}
		KovKeydirEntry *other = g_hash_table_lookup(snap->entries, address);
		if (other != NULL || g_hash_table_contains(clash, address)) {
			keydir_refuse(snap->refused, name,
			              g_strdup_printf("another file names %s too: neither is used", address));
			if (other != NULL) {
				keydir_refuse(snap->refused, other->file,
				              g_strdup_printf("another file names %s too: neither is used",
				                              address));
				g_hash_table_remove(snap->entries, address);
			}
			g_hash_table_add(clash, g_strdup(address));
			continue;
		}
		g_autofree char *base = g_strconcat(sha, ".asc", NULL);
		g_autofree char *snapshot = g_build_filename(kd->snapdir, base, NULL);
		if (!keydir_snapshot_write(snapshot, data, error)) {
			close(dfd);
			return FALSE;
		}
		KovKeydirEntry *e = g_new0(KovKeydirEntry, 1);
		e->address = g_steal_pointer(&address);
		e->file = g_strdup(name);
		e->snapshot = g_steal_pointer(&snapshot);
		e->sha256 = g_steal_pointer(&sha);
		e->fingerprint = g_strdup(facts->fingerprint);
		e->subkey = g_strdup(facts->subkey);
		e->expires = facts->expires;
		g_hash_table_insert(snap->entries, e->address, e);
	}
	close(dfd);
	g_ptr_array_sort(snap->refused, keydir_refusal_cmp);

	g_mutex_lock(&kd->lock);
	KovKeydirSnapshot *old = kd->current;
	kd->current = kov_keydir_snapshot_ref(snap);
	g_mutex_unlock(&kd->lock);
	keydir_retire(kd, old, snap);
	kov_keydir_snapshot_unref(old);
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
