/* SPDX-License-Identifier: GPL-3.0-or-later */
/* lib/run/planner.c against the fixture keyring (t/keys) and real mails:
 * the plan the daemon acts on and koverto explain prints. What the pure
 * part decides is tested in test-plan.c; here what is gathered: the
 * recipients (the bounce shortcut, a retry's pending ones), the sender
 * check, the keys found and the signing key with its source. */
#include "gpgme-autoptr.h"
#include "config.h"
#include "keys.h"
#include "fixture.h"
#include "message.h"
#include "planner.h"
#include "state.h"

#include <glib/gstdio.h>
#include <gmime/gmime.h>

static char *home;
static KovConfig *config;
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

	g_test_add_func("/planner/fallback", test_fallback);
	g_test_add_func("/planner/sender-refused", test_sender_refused);
	g_test_add_func("/planner/signing-key-refused", test_signing_key_refused);
	g_test_add_func("/planner/resent", test_resent);
	g_test_add_func("/planner/retry-pending-only", test_retry_pending_only);
	int status = g_test_run();

	kov_keys_free(keys);
	kov_config_free(config);
	kov_test_gnupghome_free(home);
	g_mime_shutdown();
	return status;
}
