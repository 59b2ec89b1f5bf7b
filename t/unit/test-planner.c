/* SPDX-License-Identifier: GPL-3.0-or-later */
/* lib/run/planner.c against the fixture keyring (t/keys) and real mails:
 * the plan the daemon acts on and koverto explain prints. What the pure
 * part decides is tested in test-plan.c; here what is gathered: the
 * recipients (the bounce shortcut, a retry's pending ones), the sender
 * check, the keys found and the signing key with its source. */
#include "gpgme-autoptr.h"
#include "config.h"
#include "error.h"
#include "keys.h"
#include "fixture.h"
#include "message.h"
#include "keysource.h"
#include "planner.h"
#include "state.h"

#include <glib/gstdio.h>
#include <gmime/gmime.h>

static char *home;
static KovConfig *config;
static KovConfig *kd_config;   /* with keys from a directory */
static KovKeys *keys;

static KovMail *
mail_load(const char *text, KovQueueKind kind)
{
	g_autofree char *path = g_build_filename(home, "mail", NULL);
	g_autoptr(GError) error = NULL;
	g_assert_true(g_file_set_contents(path, text, -1, &error));
	KovMessageOptions options = { .use_delivered_to = kind != KOV_QUEUE_KUVERT };
	KovMail *mail = kov_message_load(path, &options, &error);
	g_assert_no_error(error);
	return mail;
}

static KovPlanner *
plan(KovQueueKind kind, KovMail *mail, KovState *state)
{
	g_autoptr(GError) error = NULL;
	KovPlanner *planner = kov_planner_make(config, keys, kov_config_queue_builtin(config, kind), mail, state, &error);
	g_assert_no_error(error);
	g_assert_nonnull(planner);
	return planner;
}

static KovPlanRecipient *
rcpt(const KovPlanner *planner, guint i)
{
	g_assert_cmpuint(i, <, planner->plan->recipients->len);
	return g_ptr_array_index(planner->plan->recipients, i);
}

static void
test_fallback(void)
{
	g_autoptr(KovMail) mail = mail_load("X-Kuvert-From: sam@example.org\n"
	                                    "X-Kuvert-To: bob@example.net, dave@example.com\n"
	                                    "From: sam@example.org\nTo: bob@example.net, dave@example.com\n"
	                                    "Subject: t\n\nbody\n", KOV_QUEUE_FALLBACK);
	g_autoptr(KovPlanner) p = plan(KOV_QUEUE_FALLBACK, mail, NULL);
	g_autofree char *bob = kov_test_fingerprint("bob");
	g_autofree char *sam = kov_test_fingerprint("sam");

	g_assert_null(p->plan->refused);
	g_assert_cmpint(rcpt(p, 0)->decision, ==, KOV_DECISION_ENCRYPT);
	g_assert_cmpstr(kov_keys_fingerprint(kov_planner_key(p, 0)), ==, bob);
	g_assert_cmpstr(kov_plan_recipient_key(rcpt(p, 0))->fingerprint, ==, bob);
	g_assert_cmpint(rcpt(p, 1)->decision, ==, KOV_DECISION_SIGN);
	g_assert_null(kov_planner_key(p, 1));
	g_assert_cmpint(rcpt(p, 1)->key->problem, ==, KOV_KEY_PROBLEM_NOT_FOUND);
	g_assert_cmpuint(p->plan->copies->len, ==, 2);
	g_assert_cmpint(p->plan->signer_source, ==, KOV_SIGNER_SENDER);
	g_assert_cmpstr(kov_keys_fingerprint(p->signer), ==, sam);
	g_assert_cmpstr(p->plan->signer->fingerprint, ==, sam);
	g_assert_cmpstr(p->sender, ==, "sam@example.org");
}

/* A sender the queue does not take: refused before any key look-up. */
static void
test_sender_refused(void)
{
	g_autoptr(KovMail) mail = mail_load("X-Kuvert-From: eve@example.org\n"
	                                    "X-Kuvert-To: bob@example.net\n"
	                                    "From: eve@example.org\nTo: bob@example.net\n\nbody\n",
	                                    KOV_QUEUE_FALLBACK);
	g_autoptr(KovPlanner) p = plan(KOV_QUEUE_FALLBACK, mail, NULL);
	g_assert_true(p->refused_early);
	g_assert_cmpstr(p->plan->refused, ==, "sender eve@example.org is not allowed in queue fallback");
	g_assert_null(rcpt(p, 0)->key);
	g_assert_null(rcpt(p, 0)->reason);
	g_assert_cmpuint(p->plan->copies->len, ==, 0);
}

/* A configured signing key that cannot sign refuses the mail. */
static void
test_signing_key_refused(void)
{
	g_autoptr(KovMail) mail = mail_load("X-Kuvert-From: alice@example.org\n"
	                                    "X-Kuvert-To: dave@example.com\n"
	                                    "From: alice@example.org\nTo: dave@example.com\n\nbody\n",
	                                    KOV_QUEUE_SIGN_ONLY);
	g_autoptr(KovPlanner) p = plan(KOV_QUEUE_SIGN_ONLY, mail, NULL);
	g_assert_false(p->refused_early);
	g_assert_nonnull(strstr(p->plan->refused, "configured signing key"));
	g_assert_cmpint(p->plan->signer_source, ==, KOV_SIGNER_CONFIGURED);
	g_assert_null(p->plan->signer);
	g_assert_null(p->signer);
}

/* Kuvert's bounce shortcut: the Resent-To addresses, from the resender. */
static void
test_resent(void)
{
	g_autoptr(KovMail) mail = mail_load("From: alice@example.org\nTo: bob@example.net\n"
	                                    "Resent-From: sam@example.org\nResent-To: carol@example.net\n"
	                                    "Subject: bounce\n\nbody\n", KOV_QUEUE_KUVERT);
	g_autoptr(KovPlanner) p = plan(KOV_QUEUE_KUVERT, mail, NULL);
	g_assert_true(p->resent);
	g_assert_cmpstr(p->sender, ==, "sam@example.org");
	g_assert_cmpuint(p->rcpts->len, ==, 1);
	g_assert_cmpstr(rcpt(p, 0)->address, ==, "carol@example.net");
	g_assert_cmpint(rcpt(p, 0)->decision, ==, KOV_DECISION_UNCHANGED);
	g_assert_false(p->plan->needs_signer);
}

/* A retry plans for the recipients still pending only. */
static void
test_retry_pending_only(void)
{
	g_autoptr(KovMail) mail = mail_load("X-Kuvert-From: sam@example.org\n"
	                                    "X-Kuvert-To: bob@example.net, carol@example.net\n"
	                                    "From: sam@example.org\nTo: bob@example.net, carol@example.net\n"
	                                    "\nbody\n", KOV_QUEUE_MUST_ENCRYPT);
	g_autofree char *path = g_build_filename(home, "state", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(KovState) state = kov_state_load(path, &error);
	g_assert_no_error(error);
	g_assert_true(kov_state_set_rcpt(state, "bob@example.net", KOV_STATE_DELIVERED, NULL, &error));
	g_autoptr(KovPlanner) p = plan(KOV_QUEUE_MUST_ENCRYPT, mail, state);
	g_assert_cmpuint(p->rcpts->len, ==, 2);
	g_assert_cmpuint(p->plan->recipients->len, ==, 1);
	g_assert_cmpstr(rcpt(p, 0)->address, ==, "carol@example.net");
	g_assert_cmpint(rcpt(p, 0)->decision, ==, KOV_DECISION_ENCRYPT);
}

static KovPlanner *
plan_keydir(KovQueueKind kind, KovMail *mail)
{
	g_autoptr(GError) error = NULL;
	KovPlanner *planner = kov_planner_make(kd_config, keys, kov_config_queue_builtin(kd_config, kind),
	                                       mail, NULL, &error);
	g_assert_no_error(error);
	return planner;
}

/* The keys directory (issue 14): judy's file holds her OLDER key (the
 * keyring would take the newer), frank's a key the keyring does not find
 * valid, carol's file holds bob's key (refused: carol keeps her keyring
 * key, and explain says why her file was not taken); bob has no file. */
static void
test_keydir(void)
{
	g_autoptr(KovMail) mail = mail_load("X-Kuvert-From: sam@example.org\n"
	                                    "X-Kuvert-To: judy@example.net, frank@example.net, "
	                                    "bob@example.net, carol@example.net\n"
	                                    "From: sam@example.org\nTo: judy@example.net\n"
	                                    "Subject: t\n\nbody\n", KOV_QUEUE_FALLBACK);
	g_autoptr(KovPlanner) p = plan_keydir(KOV_QUEUE_FALLBACK, mail);
	g_autofree char *judy_old = kov_test_fingerprint("judy-old");
	g_autofree char *frank = kov_test_fingerprint("frank");
	g_autofree char *bob = kov_test_fingerprint("bob");
	g_autofree char *carol = kov_test_fingerprint("carol");

	g_assert_nonnull(p->keydir);
	g_assert_false(p->keydir_only);
	g_assert_nonnull(p->keydir_snapshot);
	g_assert_null(p->plan->refused);

	const KovPlanRecipient *judy = rcpt(p, 0);
	g_assert_cmpstr(judy->address, ==, "judy@example.net");
	g_assert_cmpint(judy->decision, ==, KOV_DECISION_ENCRYPT);
	g_assert_cmpint(judy->key->source, ==, KOV_KEY_SOURCE_KEYDIR);
	g_assert_cmpstr(judy->key->keydir_file, ==, "judy@example.net.asc");
	g_assert_cmpstr(kov_keys_fingerprint(kov_planner_key(p, 0)), ==, judy_old);
	g_autofree char *pin = kov_planner_pin(p, 0);
	g_assert_nonnull(pin);
	g_assert_cmpuint(strlen(pin), ==, 41);
	g_assert_cmpint(pin[40], ==, '!');
	g_assert_cmpstr(pin, !=, judy_old);

	const KovPlanRecipient *fr = rcpt(p, 1);
	g_assert_cmpint(fr->decision, ==, KOV_DECISION_ENCRYPT);
	g_assert_cmpint(fr->key->source, ==, KOV_KEY_SOURCE_KEYDIR);
	g_assert_cmpstr(kov_plan_recipient_key(fr)->validity, ==, "full");
	g_assert_cmpstr(kov_keys_fingerprint(kov_planner_key(p, 1)), ==, frank);

	const KovPlanRecipient *b = rcpt(p, 2);
	g_assert_cmpint(b->decision, ==, KOV_DECISION_ENCRYPT);
	g_assert_cmpint(b->key->source, ==, KOV_KEY_SOURCE_KEYRING);
	g_assert_cmpstr(kov_keys_fingerprint(kov_planner_key(p, 2)), ==, bob);
	g_assert_null(kov_planner_pin(p, 2));

	const KovPlanRecipient *c = rcpt(p, 3);
	g_assert_cmpint(c->key->source, ==, KOV_KEY_SOURCE_KEYRING);
	g_assert_cmpstr(kov_keys_fingerprint(kov_planner_key(p, 3)), ==, carol);
	g_assert_nonnull(c->key->keydir_refused);
	g_test_message("carol's file: %s", c->key->keydir_refused);

	g_assert_true(p->keydir_published);
	/* judy's key was in the keyring before: it is not koverto's to hide;
	 * frank's was imported from the directory: hidden. */
	g_assert_false(kov_keysource_hides(judy_old, p->keydir_snapshot));
	g_assert_true(kov_keysource_hides(frank, p->keydir_snapshot));
	g_assert_false(kov_keysource_hides(bob, p->keydir_snapshot));
}

/* A key koverto took from the directory is not found by the keyring for
 * anything else: a rule naming frank's key for dave finds no such key
 * (without the hiding: present, but not valid). */
static void
test_keydir_hidden(void)
{
	g_autoptr(KovMail) mail = mail_load("From: sam@example.org\nTo: dave@example.com\n"
	                                    "Subject: t\n\nbody\n", KOV_QUEUE_KUVERT);
	g_autoptr(KovPlanner) p = plan_keydir(KOV_QUEUE_KUVERT, mail);
	const KovPlanRecipient *d = rcpt(p, 0);
	g_assert_nonnull(d->key_id);
	g_assert_cmpint(d->key->source, ==, KOV_KEY_SOURCE_KEYRING);
	g_assert_cmpint(d->key->status, ==, KOV_KEY_MISSING);
	g_assert_cmpint(d->key->problem, ==, KOV_KEY_PROBLEM_NOT_FOUND);
	/* The hiding lasts for the look-ups of that mail only. */
	g_autoptr(KovMail) again = mail_load("From: sam@example.org\nTo: dave@example.com\n"
	                                     "Subject: t\n\nbody\n", KOV_QUEUE_KUVERT);
	g_autoptr(GError) error = NULL;
	g_autoptr(KovPlanner) q = kov_planner_make(config, keys, kov_config_queue_builtin(config, KOV_QUEUE_KUVERT),
	                                           again, NULL, &error);
	g_assert_no_error(error);
	g_assert_null(q->keydir);
}

/* ... and by the keyring look-up of a queue that does not use the
 * directory at all: frank's address there finds no key (without the
 * hiding: frank's imported key, present but not valid). */
static void
test_keydir_hidden_elsewhere(void)
{
	g_autoptr(KovMail) mail = mail_load("X-Kuvert-From: sam@example.org\nX-Kuvert-To: frank@example.net\n"
	                                    "From: sam@example.org\nTo: frank@example.net\n\nbody\n",
	                                    KOV_QUEUE_FALLBACK);
	g_autoptr(GError) error = NULL;
	g_autoptr(KovPlanner) p = kov_planner_make(kd_config, keys, kov_config_queue(kd_config, "nokd"),
	                                           mail, NULL, &error);
	g_assert_no_error(error);
	g_assert_null(p->keydir);
	g_assert_cmpint(rcpt(p, 0)->key->source, ==, KOV_KEY_SOURCE_KEYRING);
	g_assert_cmpint(rcpt(p, 0)->key->status, ==, KOV_KEY_MISSING);
	g_assert_cmpint(rcpt(p, 0)->decision, ==, KOV_DECISION_SIGN);
}

/* ... and by a configuration that names no keys directory any more (a
 * reload dropped it; its manifest is still in the spool): frank's
 * imported key stays hidden (without: present but not valid). */
static void
test_keydir_hidden_dropped(void)
{
	g_autoptr(KovMail) mail = mail_load("X-Kuvert-From: sam@example.org\nX-Kuvert-To: frank@example.net\n"
	                                    "From: sam@example.org\nTo: frank@example.net\n\nbody\n",
	                                    KOV_QUEUE_FALLBACK);
	g_autoptr(GError) error = NULL;
	g_autoptr(KovPlanner) p = kov_planner_make(config, keys, kov_config_queue(config, "fallback"), mail,
	                                           NULL, &error);
	g_assert_no_error(error);
	g_assert_null(p->keydir);
	g_assert_cmpint(rcpt(p, 0)->key->source, ==, KOV_KEY_SOURCE_KEYRING);
	g_assert_cmpint(rcpt(p, 0)->key->status, ==, KOV_KEY_MISSING);
}

/* Nothing published yet: the worker's mail waits (TEMPFAIL) instead of
 * going out without the directory's answer. */
static void
test_keydir_unpublished(void)
{
	g_autofree char *kd2 = g_build_filename(home, "kd2", NULL);
	g_assert_cmpint(g_mkdir(kd2, 0700), ==, 0);
	g_autofree char *text = g_strdup_printf("[koverto]\nqueuedir = %s/q\ngnupghome = %s\nkeydir = %s\n",
	                                        home, home, kd2);
	g_autofree char *path = g_build_filename(home, "kd2.conf", NULL);
	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	g_chmod(path, 0600);
	g_autoptr(GError) error = NULL;
	g_autoptr(KovConfig) c = kov_config_load(path, &error);
	g_assert_no_error(error);
	g_autoptr(KovMail) mail = mail_load("X-Kuvert-From: sam@example.org\nX-Kuvert-To: bob@example.net\n"
	                                    "From: sam@example.org\nTo: bob@example.net\n\nbody\n",
	                                    KOV_QUEUE_FALLBACK);
	g_autoptr(KovPlanner) p = kov_planner_make(c, keys, kov_config_queue_builtin(c, KOV_QUEUE_FALLBACK),
	                                           mail, NULL, &error);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_TEMPFAIL);
	g_assert_nonnull(strstr(error->message, "not published"));
	g_assert_false(p->plan->decided);
}

/* keydir-only in must-encrypt: bob has a keyring key but no file, so no
 * key, and the whole mail is refused. */
static void
test_keydir_only(void)
{
	g_autoptr(KovMail) mail = mail_load("X-Kuvert-From: sam@example.org\n"
	                                    "X-Kuvert-To: judy@example.net, bob@example.net\n"
	                                    "From: sam@example.org\nTo: judy@example.net\n"
	                                    "Subject: t\n\nbody\n", KOV_QUEUE_MUST_ENCRYPT);
	g_autoptr(KovPlanner) p = plan_keydir(KOV_QUEUE_MUST_ENCRYPT, mail);
	g_assert_true(p->keydir_only);
	g_assert_cmpint(rcpt(p, 0)->key->source, ==, KOV_KEY_SOURCE_KEYDIR);
	g_assert_cmpint(rcpt(p, 0)->key->status, ==, KOV_KEY_USABLE);
	const KovPlanRecipient *b = rcpt(p, 1);
	g_assert_cmpint(b->key->status, ==, KOV_KEY_MISSING);
	g_assert_cmpint(b->key->problem, ==, KOV_KEY_PROBLEM_NOT_IN_KEYDIR);
	g_assert_cmpint(b->key->source, ==, KOV_KEY_SOURCE_KEYDIR);
	g_assert_cmpstr(kov_keyinfo_problem_name(b->key->problem), ==, "not-in-keydir");
	g_assert_null(kov_planner_key(p, 1));
	g_assert_nonnull(p->plan->refused);
	g_assert_nonnull(strstr(p->plan->refused, "bob@example.net"));
	g_assert_nonnull(strstr(p->plan->refused, "no file in keydir"));

	/* The sign-only queue turns the keys directory off: the keyring as ever. */
	g_autoptr(KovPlanner) s = plan_keydir(KOV_QUEUE_SIGN_ONLY, mail);
	g_assert_null(s->keydir);
	g_assert_null(s->keydir_snapshot);
}

static void
write_keyfile(const char *dir, const char *file, const char *key)
{
	g_autofree char *text = kov_test_dist_read(NULL, "keys", key, NULL);
	g_autofree char *path = g_build_filename(dir, file, NULL);
	kov_test_file_write(path, text, -1);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	home = kov_test_gnupghome_new("setup-home");
	g_autofree char *conf = g_build_filename(home, "koverto.conf", NULL);
	g_autofree char *alice = kov_test_fingerprint("alice");
	g_autofree char *bob = kov_test_fingerprint("bob");
	g_autofree char *text = g_strdup_printf("[koverto]\nqueuedir = %s/q\ngnupghome = %s\n"
	                                        "defaultkey = %s\n[queue fallback]\n"
	                                        "senders = (alice|sam)@example\\.org\n"
	                                        "[queue sign-only]\nkey = %s\n", home, home, alice, bob);
	g_autoptr(GError) error = NULL;
	g_assert_true(g_file_set_contents(conf, text, -1, &error));
	g_chmod(conf, 0600);
	config = kov_config_load(conf, &error);
	g_assert_no_error(error);
	keys = kov_keys_new(home, NULL, FALSE, &error);
	g_assert_no_error(error);

	g_autofree char *kd = g_build_filename(home, "kd", NULL);
	g_assert_cmpint(g_mkdir(kd, 0700), ==, 0);
	write_keyfile(kd, "judy@example.net.asc", "judy-old.pub.asc");
	write_keyfile(kd, "frank@example.net.asc", "frank.pub.asc");
	write_keyfile(kd, "carol@example.net.asc", "bob.pub.asc");
	g_autofree char *kd_conf = g_build_filename(home, "kd.conf", NULL);
	g_autofree char *frank = kov_test_fingerprint("frank");
	g_autofree char *kd_text = g_strdup_printf("[koverto]\nqueuedir = %s/q\ngnupghome = %s\n"
	                                           "defaultkey = %s\nkeydir = %s\n"
	                                           "[rules]\n1 = ^dave@example\\.com$ fallback,0x%s\n"
	                                           "[queue must-encrypt]\nkeydir-only = yes\n"
	                                           "[queue sign-only]\nkeydir =\n"
	                                           "[queue nokd]\npolicy = fallback\nkeydir =\n", home, home, alice, kd,
	                                           frank);
	g_assert_true(g_file_set_contents(kd_conf, kd_text, -1, &error));
	g_chmod(kd_conf, 0600);
	kd_config = kov_config_load(kd_conf, &error);
	g_assert_no_error(error);
	/* The watcher's part (keydir.c): frank's key is not in the keyring
	 * before, so the import makes it koverto's; then publish. */
	g_autofree char *del = g_strdup_printf("gpg --homedir %s --batch --yes --delete-keys %s", home, frank);
	g_assert_true(g_spawn_command_line_sync(del, NULL, NULL, NULL, &error));
	g_autofree char *snapdir = kov_keysource_snapdir(kd_config, kd);
	g_autoptr(KovKeydir) watcher = kov_keydir_new(keys, kd, snapdir, &error);
	g_assert_no_error(error);
	gboolean changed = FALSE;
	g_assert_true(kov_keydir_update(watcher, NULL, 0, &changed, &error));
	g_assert_no_error(error);
	g_assert_true(changed);

	g_test_add_func("/planner/fallback", test_fallback);
	g_test_add_func("/planner/sender-refused", test_sender_refused);
	g_test_add_func("/planner/signing-key-refused", test_signing_key_refused);
	g_test_add_func("/planner/resent", test_resent);
	g_test_add_func("/planner/retry-pending-only", test_retry_pending_only);
	g_test_add_func("/planner/keydir", test_keydir);
	g_test_add_func("/planner/keydir-only", test_keydir_only);
	g_test_add_func("/planner/keydir-hidden", test_keydir_hidden);
	g_test_add_func("/planner/keydir-hidden-elsewhere", test_keydir_hidden_elsewhere);
	g_test_add_func("/planner/keydir-hidden-dropped", test_keydir_hidden_dropped);
	g_test_add_func("/planner/keydir-unpublished", test_keydir_unpublished);
	int status = g_test_run();

	kov_keysource_reset();
	kov_config_free(kd_config);
	kov_keys_free(keys);
	kov_config_free(config);
	kov_test_gnupghome_free(home);
	g_mime_shutdown();
	return status;
}
