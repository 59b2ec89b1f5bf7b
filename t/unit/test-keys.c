/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of lib/gpg/keys.c against the fixture keyring of t/keys (real
 * GnuPG, one throwaway home for the whole run): each key case, exact
 * address matching, the newest of two keys, named keys, the signing key
 * order, and alwaystrust. */
#include "gmime-autoptr.h"
#include "gpgme-autoptr.h"
#include "error.h"
#include "keys.h"
#include "fixture.h"

#include <gmime/gmime.h>

static char *home;
static KovKeys *keys;          /* alwaystrust off */
static KovKeys *keys_trusting; /* alwaystrust on */

typedef struct {
	KovKeyStatus status;
	gpgme_key_t key;
	char *detail;
} Lookup;

static void
lookup_clear(Lookup *l)
{
	if (l->key != NULL)
		gpgme_key_unref(l->key);
	g_free(l->detail);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Lookup, lookup_clear)

static void
lookup(KovKeys *k, const char *address, const char *key_id, Lookup *l)
{
	g_autoptr(GError) error = NULL;
	l->status = kov_keys_find_encryption(k, address, key_id, &l->key, &l->detail, &error);
	g_assert_no_error(error);
	if (l->status == KOV_KEY_USABLE) {
		g_assert_nonnull(l->key);
		g_assert_null(l->detail);
	} else {
		g_assert_null(l->key);
		g_assert_nonnull(l->detail);
	}
}

static void
assert_usable(KovKeys *k, const char *address, const char *key_id, const char *fixture)
{
	g_auto(Lookup) l = { 0 };
	lookup(k, address, key_id, &l);
	g_assert_cmpint(l.status, ==, KOV_KEY_USABLE);
	g_autofree char *fpr = kov_test_fingerprint(fixture);
	g_assert_cmpstr(kov_keys_fingerprint(l.key), ==, fpr);
}

static void
assert_status(KovKeys *k, const char *address, const char *key_id, KovKeyStatus status,
              const char *detail_part)
{
	g_auto(Lookup) l = { 0 };
	lookup(k, address, key_id, &l);
	g_assert_cmpint(l.status, ==, status);
	if (strstr(l.detail, detail_part) == NULL)
		g_error("detail \"%s\" lacks \"%s\"", l.detail, detail_part);
}

static void
test_usable(void)
{
	assert_usable(keys, "bob@example.net", NULL, "bob");
	assert_usable(keys, "carol@example.net", NULL, "carol");
	assert_usable(keys, "jimbob@example.net", NULL, "jimbob");
}

static void
test_exact_address(void)
{
	/* jimbob's key is newer than bob's: a substring match would win. */
	assert_usable(keys, "bob@example.net", NULL, "bob");
	assert_usable(keys, "BOB@Example.NET", NULL, "bob");
	assert_status(keys, "ob@example.net", NULL, KOV_KEY_MISSING, "no key");
	assert_status(keys, "bob@example.ne", NULL, KOV_KEY_MISSING, "no key");
	assert_status(keys, "example.net", NULL, KOV_KEY_MISSING, "no key");
}

static void
test_missing(void)
{
	assert_status(keys, "dave@example.com", NULL, KOV_KEY_MISSING, "no key");
}

static void
test_sign_only(void)
{
	assert_status(keys, "erin@example.net", NULL, KOV_KEY_UNUSABLE, "no encryption subkey");
	assert_status(keys_trusting, "erin@example.net", NULL, KOV_KEY_UNUSABLE, "encrypt");
}

static void
test_not_valid(void)
{
	g_autofree char *fpr = kov_test_fingerprint("frank");
	assert_status(keys, "frank@example.net", NULL, KOV_KEY_NOT_VALID,
	              "present but not valid: unknown trust");
	assert_status(keys, "frank@example.net", NULL, KOV_KEY_NOT_VALID, fpr);
	assert_usable(keys_trusting, "frank@example.net", NULL, "frank");
}

static void
test_expired(void)
{
	assert_status(keys, "hank@example.net", NULL, KOV_KEY_UNUSABLE, "expired");
	assert_status(keys_trusting, "hank@example.net", NULL, KOV_KEY_UNUSABLE, "expired");
}

static void
test_revoked(void)
{
	assert_status(keys, "ivan@example.net", NULL, KOV_KEY_UNUSABLE, "revoked");
	assert_status(keys_trusting, "ivan@example.net", NULL, KOV_KEY_UNUSABLE, "revoked");
}

static void
test_newest_wins(void)
{
	assert_usable(keys, "judy@example.net", NULL, "judy-new");
}

static void
test_named_key(void)
{
	g_autofree char *old = kov_test_fingerprint("judy-old");
	g_autofree char *carol = kov_test_fingerprint("carol");
	g_autofree char *hank = kov_test_fingerprint("hank");
	g_autofree char *frank = kov_test_fingerprint("frank");
	g_autofree char *old_long = g_strdup_printf("0x%s", old + 24);
	g_autofree char *old_lower = g_ascii_strdown(old, -1);

	assert_usable(keys, "judy@example.net", old, "judy-old");
	assert_usable(keys, "judy@example.net", old_long, "judy-old");
	assert_usable(keys, "judy@example.net", old_lower, "judy-old");
	/* A named key is taken as named (Kuvert's key=), whatever its user ID. */
	assert_usable(keys, "bob@example.net", carol, "carol");
	assert_status(keys, "hank@example.net", hank, KOV_KEY_UNUSABLE, "expired");
	assert_status(keys, "frank@example.net", frank, KOV_KEY_NOT_VALID, "not valid");
	assert_status(keys, "bob@example.net", "0xDEADBEEFDEADBEEF", KOV_KEY_MISSING, "not found");
	/* Not a key ID: never handed to gpg as a user ID substring. */
	assert_status(keys, "bob@example.net", "bob", KOV_KEY_MISSING, "not a key ID");
	assert_status(keys, "bob@example.net", "0x12345", KOV_KEY_MISSING, "not a key ID");
}

static void
assert_signing(const char *configured, const char *from, const char *defaultkey, const char *fixture)
{
	g_autoptr(GError) error = NULL;
	g_auto(gpgme_key_t) key = kov_keys_find_signing(keys, configured, from, defaultkey, &error);
	g_assert_no_error(error);
	g_assert_nonnull(key);
	g_autofree char *fpr = kov_test_fingerprint(fixture);
	g_assert_cmpstr(kov_keys_fingerprint(key), ==, fpr);
	g_assert_true(key->secret);
}

static void
assert_signing_fails(const char *configured, const char *from, const char *defaultkey,
                     const char *message_part)
{
	g_autoptr(GError) error = NULL;
	g_auto(gpgme_key_t) key = kov_keys_find_signing(keys, configured, from, defaultkey, &error);
	g_assert_null(key);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL);
	if (strstr(error->message, message_part) == NULL)
		g_error("error \"%s\" lacks \"%s\"", error->message, message_part);
}

static void
test_signing_order(void)
{
	g_autofree char *alice = kov_test_fingerprint("alice");
	g_autofree char *sam = kov_test_fingerprint("sam");

	/* configured > From's own key > defaultkey */
	assert_signing(sam, "alice@example.org", alice, "sam");
	assert_signing(NULL, "sam@example.org", alice, "sam");
	assert_signing(NULL, "Sam@Example.ORG", alice, "sam");
	assert_signing(NULL, "alice@example.org", sam, "alice");
	/* No secret key of his own (bob), or no exact match: defaultkey. */
	assert_signing(NULL, "bob@example.net", alice, "alice");
	assert_signing(NULL, "am@example.org", alice, "alice");
	assert_signing(NULL, NULL, sam, "sam");
}

static void
test_signing_none(void)
{
	g_autoptr(GError) error = NULL;
	gpgme_key_t key = kov_keys_find_signing(keys, NULL, "dave@example.com", NULL, &error);
	g_assert_no_error(error);
	g_assert_null(key);
	key = kov_keys_find_signing(keys, NULL, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_null(key);
}

static void
test_signing_unusable(void)
{
	g_autofree char *bob = kov_test_fingerprint("bob");
	g_autofree char *alice = kov_test_fingerprint("alice");
	/* A configured key must work: never quietly another one. */
	assert_signing_fails(bob, "alice@example.org", alice, bob);
	assert_signing_fails(bob, "alice@example.org", alice, "configured signing key");
	assert_signing_fails("alice", "alice@example.org", NULL, "not a key ID");
	assert_signing_fails(NULL, "dave@example.com", "0xDEADBEEFDEADBEEF", "defaultkey");
	assert_signing_fails(NULL, "dave@example.com", bob, "secret keyring");
}

/* What explain reads: the problem of each key case as a code, every
 * candidate with its data, and which one won. */
static void
assert_problem(const char *address, KovKeyStatus status, KovKeyProblem problem, guint candidates)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(KovKeyLookup) l = NULL;
	g_auto(gpgme_key_t) key = NULL;
	g_assert_cmpint(kov_keys_lookup_encryption(keys, address, NULL, &key, &l, &error), ==, status);
	g_assert_no_error(error);
	g_assert_nonnull(l);
	g_assert_cmpint(l->status, ==, status);
	if (l->problem != problem)
		g_error("%s: problem %s, not %s", address, kov_keyinfo_problem_name(l->problem),
		        kov_keyinfo_problem_name(problem));
	g_assert_cmpuint(l->candidates->len, ==, candidates);
	g_assert_true((l->chosen >= 0) == (status == KOV_KEY_USABLE));
	g_assert_true((l->detail == NULL) == (status == KOV_KEY_USABLE));
}

static void
test_lookup_reasons(void)
{
	assert_problem("bob@example.net", KOV_KEY_USABLE, KOV_KEY_PROBLEM_NONE, 1);
	assert_problem("dave@example.com", KOV_KEY_MISSING, KOV_KEY_PROBLEM_NOT_FOUND, 0);
	assert_problem("hank@example.net", KOV_KEY_UNUSABLE, KOV_KEY_PROBLEM_EXPIRED, 1);
	assert_problem("ivan@example.net", KOV_KEY_UNUSABLE, KOV_KEY_PROBLEM_REVOKED, 1);
	assert_problem("erin@example.net", KOV_KEY_UNUSABLE, KOV_KEY_PROBLEM_NO_ENCRYPTION_SUBKEY, 1);
	assert_problem("frank@example.net", KOV_KEY_NOT_VALID, KOV_KEY_PROBLEM_NOT_VALID, 1);
	assert_problem("judy@example.net", KOV_KEY_USABLE, KOV_KEY_PROBLEM_NONE, 2);

	/* judy: both candidates described, the newer one chosen. */
	g_autoptr(KovKeyLookup) l = NULL;
	g_auto(gpgme_key_t) key = NULL;
	kov_keys_lookup_encryption(keys, "judy@example.net", NULL, &key, &l, NULL);
	g_autofree char *judy_new = kov_test_fingerprint("judy-new");
	const KovKeyInfo *chosen = kov_keyinfo_lookup_chosen(l);
	g_assert_cmpstr(chosen->fingerprint, ==, judy_new);
	g_assert_cmpstr(chosen->user_id, ==, "Judy Twokeys <judy@example.net>");
	g_assert_cmpstr(chosen->validity, ==, "ultimate");
	g_assert_cmpint(chosen->expires, ==, 0);
	for (guint i = 0; i < l->candidates->len; i++) {
		const KovKeyInfo *k = g_ptr_array_index(l->candidates, i);
		if (k != chosen)
			g_assert_cmpint(k->created, <, chosen->created);
	}

	/* hank: the expiry is told (2021-01-01). */
	g_autoptr(KovKeyLookup) h = NULL;
	g_auto(gpgme_key_t) none = NULL;
	kov_keys_lookup_encryption(keys, "hank@example.net", NULL, &none, &h, NULL);
	gint64 expires = ((KovKeyInfo *)g_ptr_array_index(h->candidates, 0))->expires;
	g_assert_cmpint(expires, >=, 1609459200);   /* in the day of 2021-01-01 UTC */
	g_assert_cmpint(expires, <, 1609459200 + 86400);

	/* A named key that is no key ID. */
	g_autoptr(KovKeyLookup) bad = NULL;
	g_auto(gpgme_key_t) nokey = NULL;
	kov_keys_lookup_encryption(keys, "bob@example.net", "bob", &nokey, &bad, NULL);
	g_assert_cmpint(bad->problem, ==, KOV_KEY_PROBLEM_NOT_A_KEY_ID);
}

/* Where the signing key came from, and why From's own was passed over. */
static void
test_signing_source(void)
{
	g_autofree char *alice = kov_test_fingerprint("alice");
	g_autofree char *sam = kov_test_fingerprint("sam");
	KovSignerSource source;
	g_autofree char *note = NULL;
	g_autoptr(GError) error = NULL;

	g_auto(gpgme_key_t) a = kov_keys_lookup_signing(keys, sam, "alice@example.org", alice, &source,
	                                                &note, &error);
	g_assert_cmpint(source, ==, KOV_SIGNER_CONFIGURED);
	g_assert_null(note);
	g_auto(gpgme_key_t) b = kov_keys_lookup_signing(keys, NULL, "sam@example.org", alice, &source,
	                                                &note, &error);
	g_assert_cmpint(source, ==, KOV_SIGNER_SENDER);
	g_auto(gpgme_key_t) c = kov_keys_lookup_signing(keys, NULL, "bob@example.net", alice, &source,
	                                                &note, &error);
	g_assert_cmpint(source, ==, KOV_SIGNER_DEFAULTKEY);
	g_assert_nonnull(strstr(note, "bob@example.net"));
	g_assert_cmpstr(kov_keys_fingerprint(c), ==, alice);
	g_clear_pointer(&note, g_free);
	gpgme_key_t d = kov_keys_lookup_signing(keys, NULL, "dave@example.com", NULL, &source, &note,
	                                        &error);
	g_assert_null(d);
	g_assert_cmpint(source, ==, KOV_SIGNER_NONE);
	g_assert_no_error(error);
	g_autoptr(KovKeyInfo) info = kov_keys_info(b, "sam@example.org");
	g_assert_cmpstr(info->fingerprint, ==, sam);
	g_assert_cmpstr(info->user_id, ==, "Sam Second <sam@example.org>");
}

static void
test_context(void)
{
	g_autoptr(GError) error = NULL;
	g_auto(gpgme_ctx_t) ctx = kov_keys_new_context(keys, &error);
	g_assert_no_error(error);
	g_assert_nonnull(ctx);
	g_assert_true(gpgme_get_armor(ctx));
	g_assert_true(gpgme_get_textmode(ctx));
	g_assert_cmpint(gpgme_get_pinentry_mode(ctx), ==, GPGME_PINENTRY_MODE_ERROR);
	g_assert_cmpint(gpgme_get_protocol(ctx), ==, GPGME_PROTOCOL_OpenPGP);
	gpgme_engine_info_t info = gpgme_ctx_get_engine_info(ctx);
	g_assert_nonnull(info);
	g_assert_cmpstr(info->home_dir, ==, home);
}

static void
test_bad_engine(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(KovKeys) k = kov_keys_new(home, "/nonexistent/gpg", FALSE, &error);
	g_assert_null(k);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL);
	g_assert_nonnull(strstr(error->message, "/nonexistent/gpg"));
	g_clear_error(&error);

	g_autoptr(KovKeys) nohome = kov_keys_new("/nonexistent/home", NULL, FALSE, &error);
	g_assert_null(nohome);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL);
	g_assert_nonnull(strstr(error->message, "/nonexistent/home"));
}

/* The encryption subkey of t/keys key @name as gpg lists it (even an
 * expired or revoked one). (transfer full) */
static char *
encryption_subkey_of(const char *name)
{
	g_autofree char *fpr = kov_test_fingerprint(name);
	g_autoptr(GError) error = NULL;
	g_auto(gpgme_ctx_t) ctx = kov_keys_new_context(keys, &error);
	g_assert_no_error(error);
	g_auto(gpgme_key_t) key = NULL;
	g_assert_cmpint(gpgme_get_key(ctx, fpr, &key, 0), ==, 0);
	for (gpgme_subkey_t sub = key->subkeys; sub != NULL; sub = sub->next)
		if (sub->can_encrypt)
			return g_strdup(sub->fpr);
	return NULL;
}

static KovKeyStatus
pinned(const char *address, const char *name, const char *subkey, KovKeyLookup **l, GError **error)
{
	g_autofree char *fpr = kov_test_fingerprint(name);
	g_auto(gpgme_key_t) key = NULL;
	KovKeyStatus status = kov_keys_lookup_pinned(keys, address, fpr, subkey, &key, l, error);
	g_assert_true((key != NULL) == (status == KOV_KEY_USABLE));
	if (key != NULL)
		g_assert_cmpstr(kov_keys_fingerprint(key), ==, fpr);
	return status;
}

/* A key from the keys directory (issue 14): valid without any trust,
 * pinned to the file's subkey, and its expiry and revocation checked
 * against the keyring and the clock at each use. */
static void
test_pinned(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(KovKeyLookup) l = NULL;

	/* frank: unknown validity in the keyring, fine from the directory. */
	g_autofree char *frank_sub = encryption_subkey_of("frank");
	g_assert_cmpint(pinned("frank@example.net", "frank", frank_sub, &l, &error), ==, KOV_KEY_USABLE);
	g_assert_no_error(error);
	g_assert_cmpint(l->source, ==, KOV_KEY_SOURCE_KEYDIR);
	g_assert_cmpstr(l->keydir_subkey, ==, frank_sub);
	g_assert_cmpstr(kov_keyinfo_lookup_chosen(l)->validity, ==, "full");
	g_assert_cmpstr(kov_keyinfo_lookup_chosen(l)->user_id, ==, "Frank Untrusted <frank@example.net>");
	g_clear_pointer(&l, kov_keyinfo_lookup_free);

	/* hank expired (after its file was accepted, as it were): at use. */
	g_autofree char *hank_sub = encryption_subkey_of("hank");
	g_assert_cmpint(pinned("hank@example.net", "hank", hank_sub, &l, &error), ==, KOV_KEY_UNUSABLE);
	g_assert_no_error(error);
	g_assert_cmpint(l->problem, ==, KOV_KEY_PROBLEM_EXPIRED);
	g_assert_nonnull(strstr(l->detail, "expired"));
	g_assert_cmpint(l->chosen, ==, -1);
	g_clear_pointer(&l, kov_keyinfo_lookup_free);

	g_autofree char *ivan_sub = encryption_subkey_of("ivan");
	g_assert_cmpint(pinned("ivan@example.net", "ivan", ivan_sub, &l, &error), ==, KOV_KEY_UNUSABLE);
	g_assert_cmpint(l->problem, ==, KOV_KEY_PROBLEM_REVOKED);
	g_clear_pointer(&l, kov_keyinfo_lookup_free);

	/* A subkey the key in the keyring does not have: never another one. */
	g_autofree char *bob_sub = encryption_subkey_of("bob");
	g_assert_cmpint(pinned("carol@example.net", "carol", bob_sub, &l, &error), ==, KOV_KEY_UNUSABLE);
	g_assert_cmpint(l->problem, ==, KOV_KEY_PROBLEM_ENCRYPTION_SUBKEY_DEAD);
	g_clear_pointer(&l, kov_keyinfo_lookup_free);

	/* Not imported (yet): the mail waits, it does not fall back. */
	g_auto(gpgme_key_t) none = NULL;
	g_assert_cmpint(kov_keys_lookup_pinned(keys, "x@example.net",
	                                       "0123456789ABCDEF0123456789ABCDEF01234567", bob_sub,
	                                       &none, &l, &error), ==, KOV_KEY_MISSING);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL);
	g_assert_null(l);
	g_clear_error(&error);
	g_assert_cmpint(kov_keys_lookup_pinned(keys, "x@example.net", "<bob@example.net>", bob_sub,
	                                       &none, &l, &error), ==, KOV_KEY_MISSING);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL);
}

static gboolean
hide_named(const char *fpr, gpointer data)
{
	for (const char *const *f = data; *f != NULL; f++)
		if (g_ascii_strcasecmp(*f, fpr) == 0)
			return TRUE;
	return FALSE;
}

/* The keys directory's keys serve their files' addresses alone: the
 * keyring look-ups by address and by named key skip them. */
static void
test_hidden(void)
{
	g_autofree char *judy_new = kov_test_fingerprint("judy-new");
	g_autofree char *judy_old = kov_test_fingerprint("judy-old");
	g_autofree char *bob = kov_test_fingerprint("bob");
	const char *hidden[] = { judy_new, bob, NULL };
	kov_keys_set_hidden(keys, hide_named, hidden);

	g_autoptr(KovKeyLookup) l = NULL;
	g_auto(gpgme_key_t) key = NULL;
	g_assert_cmpint(kov_keys_lookup_encryption(keys, "judy@example.net", NULL, &key, &l, NULL), ==,
	                KOV_KEY_USABLE);
	g_assert_cmpstr(kov_keys_fingerprint(key), ==, judy_old);
	g_assert_cmpuint(l->candidates->len, ==, 1);
	g_clear_pointer(&l, kov_keyinfo_lookup_free);
	g_clear_pointer(&key, gpgme_key_unref);
	g_assert_cmpint(kov_keys_lookup_encryption(keys, "bob@example.net", NULL, &key, &l, NULL), ==,
	                KOV_KEY_MISSING);
	g_assert_null(key);
	g_clear_pointer(&l, kov_keyinfo_lookup_free);
	g_assert_cmpint(kov_keys_lookup_encryption(keys, "x@example.net", bob, &key, &l, NULL), ==,
	                KOV_KEY_MISSING);
	g_clear_pointer(&l, kov_keyinfo_lookup_free);
	/* The pinned look-up is how a hidden key is used. */
	g_autofree char *bob_sub = encryption_subkey_of("bob");
	g_assert_cmpint(kov_keys_lookup_pinned(keys, "bob@example.net", bob, bob_sub, &key, &l, NULL), ==,
	                KOV_KEY_USABLE);
	g_clear_pointer(&key, gpgme_key_unref);

	kov_keys_set_hidden(keys, NULL, NULL);
	g_assert_cmpint(kov_keys_lookup_encryption(keys, "bob@example.net", NULL, &key, NULL, NULL), ==,
	                KOV_KEY_USABLE);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	gpgme_check_version(NULL);

	home = kov_test_gnupghome_new("setup-home");
	g_autoptr(GError) error = NULL;
	keys = kov_keys_new(home, NULL, FALSE, &error);
	g_assert_no_error(error);
	keys_trusting = kov_keys_new(home, NULL, TRUE, &error);
	g_assert_no_error(error);

	g_test_add_func("/keys/usable", test_usable);
	g_test_add_func("/keys/exact-address", test_exact_address);
	g_test_add_func("/keys/missing", test_missing);
	g_test_add_func("/keys/sign-only", test_sign_only);
	g_test_add_func("/keys/not-valid", test_not_valid);
	g_test_add_func("/keys/expired", test_expired);
	g_test_add_func("/keys/revoked", test_revoked);
	g_test_add_func("/keys/newest-wins", test_newest_wins);
	g_test_add_func("/keys/named-key", test_named_key);
	g_test_add_func("/keys/signing-order", test_signing_order);
	g_test_add_func("/keys/signing-none", test_signing_none);
	g_test_add_func("/keys/signing-unusable", test_signing_unusable);
	g_test_add_func("/keys/lookup-reasons", test_lookup_reasons);
	g_test_add_func("/keys/signing-source", test_signing_source);
	g_test_add_func("/keys/context", test_context);
	g_test_add_func("/keys/bad-engine", test_bad_engine);
	g_test_add_func("/keys/pinned", test_pinned);
	g_test_add_func("/keys/hidden", test_hidden);
	int rc = g_test_run();

	kov_keys_free(keys);
	kov_keys_free(keys_trusting);
	kov_test_gnupghome_free(home);
	g_mime_shutdown();
	return rc;
}
