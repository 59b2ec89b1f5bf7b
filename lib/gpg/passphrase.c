/* SPDX-License-Identifier: GPL-3.0-or-later */
/* query-secret through GPGME's passphrase callback. Kuvert piped the
 * program's output into gpg --passphrase-fd, which GnuPG 2.1 and later
 * ignore without loopback pinentry: its query-secret was never called.
 * Here gpg asks (pinentry mode loopback), GPGME calls back, the program is
 * run without a shell (its words split, %s the key ID), its first output
 * line goes to gpg, and the copy in memory is wiped; when gpg reports it
 * bad, flush-secret is run for the key. What the program
 * says on stderr goes to koverto's stderr; the passphrase is never logged.
 * A hanging program is ended with its worker by the mail's time limit. */
#include "passphrase.h"

#include "config.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

struct _KovPassphrase {
	char *query;  /* "program args" */
	char *flush;  /* nullable */
	char *asked;  /* the key ID last asked for: one operation at a time */
};

KovPassphrase *
kov_passphrase_new(const char *query, const char *flush)
{
	if (query == NULL)
		return NULL;
	KovPassphrase *passphrase = g_new0(KovPassphrase, 1);
	passphrase->query = g_strdup(query);
	passphrase->flush = g_strdup(flush);
	return passphrase;
}

void
kov_passphrase_free(KovPassphrase *passphrase)
{
	if (passphrase == NULL)
		return;
	g_free(passphrase->query);
	g_free(passphrase->flush);
	g_free(passphrase->asked);
	g_free(passphrase);
}

char *
kov_passphrase_key_id(const char *uid_hint)
{
	if (uid_hint == NULL)
		return NULL;
	gsize len = strcspn(uid_hint, " ");
	if (len != 16)
		return NULL;
	for (gsize i = 0; i < len; i++)
		if (!g_ascii_isxdigit(uid_hint[i]))
			return NULL;
	g_autofree char *hex = g_ascii_strup(uid_hint, len);
	return g_strconcat("0x", hex, NULL);
}

/* Run @command with @arg for %s; its stdout in *out (nullable: thrown
 * away). FALSE, logged, when it cannot run or does not exit 0. */
static gboolean
passphrase_run(const char *what, const char *command, const char *arg, char **out)
{
	g_auto(GStrv) argv = kov_config_command_argv(command, arg);
	g_autoptr(GError) error = NULL;
	int status = 0;

	if (!g_spawn_sync(NULL, argv, NULL, out ? 0 : G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, out, NULL,
	                  &status, &error) ||
	    !g_spawn_check_wait_status(status, &error)) {
		kov_log_warning("passphrase: %s %s for %s: %s", what, argv[0], arg, error->message);
		if (out != NULL && *out != NULL) {
			explicit_bzero(*out, strlen(*out));
			g_clear_pointer(out, g_free);
		}
		return FALSE;
	}
	return TRUE;
}

char *
kov_passphrase_query(KovPassphrase *passphrase, const char *what)
{
	g_return_val_if_fail(passphrase != NULL && what != NULL, NULL);
	char *secret = NULL;
	if (!passphrase_run("query-secret", passphrase->query, what, &secret))
		return NULL;
	gsize full = strlen(secret), len = strcspn(secret, "\r\n");
	explicit_bzero(secret + len, full - len);  /* only the first line counts */
	if (len == 0) {
		kov_log_warning("passphrase: query-secret gave nothing for %s", what);
		g_free(secret);
		return NULL;
	}
	return secret;
}

void
kov_passphrase_flush(KovPassphrase *passphrase, const char *what)
{
	g_return_if_fail(passphrase != NULL && what != NULL);
	if (passphrase->flush != NULL)
		(void)passphrase_run("flush-secret", passphrase->flush, what, NULL);
}

static gpgme_error_t
passphrase_ask(void *hook, const char *uid_hint, const char *info, int prev_was_bad, int fd)
{
	(void)info;
	KovPassphrase *passphrase = hook;
	g_autofree char *key_id = kov_passphrase_key_id(uid_hint);

	if (key_id == NULL) {
		kov_log_warning("passphrase: gpg asked for a key it did not name (\"%s\")",
		                uid_hint ? uid_hint : "");
		return gpg_error(GPG_ERR_CANCELED);
	}
	/* Asked again in one operation: the rejection has been dealt with
	 * (passphrase_status); a fresh answer waits for the next attempt. */
	if (prev_was_bad)
		return gpg_error(GPG_ERR_BAD_PASSPHRASE);
	g_free(passphrase->asked);
	passphrase->asked = g_strdup(key_id);
	char *secret = kov_passphrase_query(passphrase, key_id);
	if (secret == NULL)
		return gpg_error(GPG_ERR_CANCELED);
	gsize len = strlen(secret);
	gpgme_error_t err = 0;
	secret[len] = '\n';  /* gpg reads one line; the old NUL was ours */
	if (gpgme_io_writen(fd, secret, len + 1) != 0)
		err = gpgme_error_from_syserror();
	explicit_bzero(secret, len + 1);
	g_free(secret);
	return err;
}

/* Did gpg reject the passphrase? GnuPG 2.2 in loopback mode ends with
 * "FAILURE sign <code>" (it does not ask again in batch mode); others say
 * "BAD_PASSPHRASE <long key ID>". */
static gboolean
passphrase_rejected(const char *keyword, const char *args)
{
	if (strcmp(keyword, "BAD_PASSPHRASE") == 0)
		return TRUE;
	if (strcmp(keyword, "FAILURE") != 0 || args == NULL)
		return FALSE;
	const char *code = strchr(args, ' ');
	return code != NULL &&
	       gpg_err_code((gpgme_error_t)strtoul(code + 1, NULL, 10)) == GPG_ERR_BAD_PASSPHRASE;
}

/* A rejected passphrase is forgotten: flush-secret for the key asked for. */
static gpgme_error_t
passphrase_status(void *hook, const char *keyword, const char *args)
{
	KovPassphrase *passphrase = hook;
	if (keyword == NULL || passphrase->asked == NULL || !passphrase_rejected(keyword, args))
		return 0;
	g_autofree char *key_id = g_steal_pointer(&passphrase->asked);
	kov_log_warning("passphrase: gpg rejected the passphrase for %s%s", key_id,
	                passphrase->flush ? "; running flush-secret" : "");
	kov_passphrase_flush(passphrase, key_id);
	return 0;
}

void
kov_passphrase_attach(KovPassphrase *passphrase, gpgme_ctx_t ctx)
{
	g_return_if_fail(passphrase != NULL && ctx != NULL);
	gpgme_set_pinentry_mode(ctx, GPGME_PINENTRY_MODE_LOOPBACK);
	gpgme_set_passphrase_cb(ctx, passphrase_ask, passphrase);
	/* Every status line, BAD_PASSPHRASE among them, reaches the callback. */
	gpgme_set_ctx_flag(ctx, "full-status", "1");
	gpgme_set_status_cb(ctx, passphrase_status, passphrase);
}
