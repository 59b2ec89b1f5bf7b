/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Key lookup through GPGME, at send time (keyring changes need no reload:
 * what gpg listed is kept only while the keyring files stay as they were,
 * and for a minute at most).
 * Recipients are matched by exact address, never by substring, and a key is
 * usable only when it is not expired, revoked, disabled or invalid, has an
 * encryption-capable subkey, and is valid in the web of trust (unless
 * alwaystrust). */
#pragma once
#include <glib.h>
#include <gpgme.h>

#include "keyinfo.h"
#include "passphrase.h"

typedef struct _KovKeys KovKeys;

/* KovKeyStatus, and the look-up results as plain data: keyinfo.h. */

/* @gnupghome nullable ($GNUPGHOME / ~/.gnupg as gpg does); @gpg nullable
 * (engine path). Fails with KOV_ERROR_TEMPFAIL when the engine is unusable. */
KovKeys *kov_keys_new(const char *gnupghome, const char *gpg, gboolean alwaystrust, GError **error);
void kov_keys_free(KovKeys *keys);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovKeys, kov_keys_free)

/* Where passphrases gpg-agent does not have come from (transfer full;
 * NULL: nowhere, such a key fails at once). */
void kov_keys_set_passphrase(KovKeys *keys, KovPassphrase *passphrase);

/* A fresh GPGME context on the same home and engine, armor and text mode
 * on, pinentry mode ERROR (never prompts) or, with a passphrase source,
 * loopback to it. (transfer full) */
gpgme_ctx_t kov_keys_new_context(KovKeys *keys, GError **error);

/* Is fingerprint @fpr one that the keyring look-ups must not return (a
 * key koverto imported from a keys directory: it serves only the address
 * of its file, through kov_keys_lookup_pinned())? */
typedef gboolean (*KovKeysHiddenFunc)(const char *fpr, gpointer data);

/* From now on kov_keys_lookup_encryption() and kov_keys_find_encryption()
 * skip the keys @hidden says so of, by address and by a named key ID
 * alike; NULL: none is hidden. @data is borrowed until the next call. */
void kov_keys_set_hidden(KovKeys *keys, KovKeysHiddenFunc hidden, gpointer data);

/* The key of @address's accepted file in a keys directory: primary key
 * @fingerprint, pinned to its encryption subkey @subkey, both as the file
 * had them. It must be in the keyring (the watcher imports it before it
 * publishes the entry): not there is a temporary failure (KOV_ERROR_TEMPFAIL).
 * Treated as valid (its operators verified it); unusable when the primary
 * key is revoked, expired, disabled or invalid or @subkey is expired,
 * revoked or gone, checked against the clock now. *@lookup as for
 * kov_keys_lookup_encryption(), source KOV_KEY_SOURCE_KEYDIR. */
KovKeyStatus kov_keys_lookup_pinned(KovKeys *keys, const char *address, const char *fingerprint,
                                    const char *subkey, gpgme_key_t *key, KovKeyLookup **lookup,
                                    GError **error);

/* Find the encryption key for bare @address. With @key_id non-NULL (a rule
 * or directive named one) that key is taken instead, if usable. Among
 * several usable keys the newest wins. On KOV_KEY_USABLE *key is set
 * (transfer full). *detail (transfer full, nullable) explains any other
 * status in words for the log ("expired", "present but not valid: unknown
 * trust", ...). Engine failures: KOV_KEY_MISSING plus @error (TEMPFAIL). */
KovKeyStatus kov_keys_find_encryption(KovKeys *keys, const char *address, const char *key_id,
                                      gpgme_key_t *key, char **detail, GError **error);

/* As kov_keys_find_encryption(), and *@lookup (transfer full; nullable
 * out) tells every candidate apart: fingerprint, user ID, dates, validity
 * and the one problem that rules it out, and which one won. */
KovKeyStatus kov_keys_lookup_encryption(KovKeys *keys, const char *address, const char *key_id,
                                        gpgme_key_t *key, KovKeyLookup **lookup, GError **error);

/* Look up the encryption keys of @n @addresses at once (a mail to
 * thousands: one gpg run per 500 addresses instead of one each) into the
 * cache that kov_keys_find_encryption() without a key ID reads; expiry is
 * checked against the clock at use. Engine failures: KOV_ERROR_TEMPFAIL. */
gboolean kov_keys_prefetch(KovKeys *keys, const char *const *addresses, gsize n, GError **error);

/* The signing key, first found of: @configured (the queue's key), the
 * secret key whose user ID address is exactly @from, @defaultkey. Returns
 * NULL without error when there is none at all; NULL with error when a
 * configured key is unusable or the engine fails. (transfer full) */
gpgme_key_t kov_keys_find_signing(KovKeys *keys, const char *configured, const char *from,
                                  const char *defaultkey, GError **error);

/* As kov_keys_find_signing(), and where the key came from in *@source;
 * *@note (transfer full, nullable out) says why the sender's own key was
 * not taken when one was looked for and another (or none) was. */
gpgme_key_t kov_keys_lookup_signing(KovKeys *keys, const char *configured, const char *from,
                                    const char *defaultkey, KovSignerSource *source, char **note,
                                    GError **error);

/* @key as plain data: its user ID for @address (nullable: the first),
 * dates and validity. (transfer full) */
KovKeyInfo *kov_keys_info(gpgme_key_t key, const char *address);

/* A start-up check of a signing key the configuration names (@role, for
 * the message: "defaultkey", "key in [queue fallback]"): its secret key is
 * in the keyring, it can sign, and it is not expired, revoked, disabled or
 * invalid. FALSE with KOV_ERROR_CONFIG naming the key and the reason, or
 * KOV_ERROR_TEMPFAIL when the engine fails. */
gboolean kov_keys_check_signing(KovKeys *keys, const char *key_id, const char *role,
                                GError **error);

/* Does the gpg.conf of the GnuPG home in use set @option (a line whose
 * first word it is)? FALSE when there is no gpg.conf. */
gboolean kov_keys_gpg_conf_has(KovKeys *keys, const char *option);

/* The primary key's fingerprint (borrowed from @key). */
const char *kov_keys_fingerprint(gpgme_key_t key);

/* Does a user ID's @uid_address name @address? The one comparison of a
 * recipient with a key's user ID (exact address, ASCII case ignored):
 * the look-ups above and the keys directory (keydir.h) both use it. */
gboolean kov_keys_address_equal(const char *uid_address, const char *address);

/* The encryption subkey gpg would use for @key (its newest live one,
 * borrowed from @key), or NULL with *@problem saying why there is none
 * (the primary key revoked, expired, disabled or invalid; no encryption
 * subkey; every one expired or revoked). Checked against the clock now. */
gpgme_subkey_t kov_keys_encryption_subkey(gpgme_key_t key, KovKeyProblem *problem);

/* When @key stops serving for encryption (@signing FALSE) or signing:
 * *@expires (unix seconds; 0: never) is the earlier expiry of the primary
 * key and of the subkey gpg would use, which is returned (borrowed from
 * @key); NULL (and *@expires 0) when no subkey serves now. No gpg run. */
gpgme_subkey_t kov_keys_expiry(gpgme_key_t key, gboolean signing, gint64 *expires);

/* A key problem in the log's words; NULL for NONE, NOT_FOUND,
 * NOT_A_KEY_ID and NOT_VALID (said elsewhere). (static) */
const char *kov_keys_problem_text(KovKeyProblem problem);
