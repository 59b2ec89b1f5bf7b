/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Per-mail state in a GKeyFile: one [mail] group and one [rcpt ADDRESS]
 * group per recipient. Addresses are validated before they get here (no
 * brackets, no control characters), so they are safe as group names. */
#include "state.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

struct _KovState {
	char *path;
	GKeyFile *keyfile;
};

static const char *const kov_state_names[] = { "pending", "delivered", "failed" };

KovState *
kov_state_load(const char *path, GError **error)
{
	g_autoptr(GError) local = NULL;
	KovState *state = g_new0(KovState, 1);

	state->path = g_strdup(path);
	state->keyfile = g_key_file_new();
	if (!g_key_file_load_from_file(state->keyfile, path, G_KEY_FILE_NONE, &local)) {
		if (!g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_IOERR, "state %s: %s", path, local->message);
			kov_state_free(state);
			return NULL;
		}
		g_key_file_set_int64(state->keyfile, "mail", "first-seen", g_get_real_time() / G_USEC_PER_SEC);
		g_key_file_set_uint64(state->keyfile, "mail", "attempts", 0);
	}
	return state;
}

gboolean
kov_state_save(KovState *state, GError **error)
{
	gsize len = 0;
	g_autofree char *data = g_key_file_to_data(state->keyfile, &len, NULL);
	g_autofree char *tmp = g_strconcat(state->path, ".tmp", NULL);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		kov_error_set_errno(error, errno, "state: cannot create %s", tmp);
		return FALSE;
	}
	gboolean ok = write(fd, data, len) == (ssize_t)len && fsync(fd) == 0;
	int err = errno;
	if (close(fd) != 0 && ok) {
		ok = FALSE;
		err = errno;
	}
	if (ok && rename(tmp, state->path) != 0) {
		ok = FALSE;
		err = errno;
	}
	if (!ok) {
		unlink(tmp);
		kov_error_set_errno(error, err, "state: cannot write %s", state->path);
	}
	return ok;
}

void
kov_state_free(KovState *state)
{
	if (state == NULL)
		return;
	g_key_file_free(state->keyfile);
	g_free(state->path);
	g_free(state);
}

void
kov_state_remove(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
		g_warning("state: cannot remove %s: %s", path, g_strerror(errno));
}

static char *
kov_state_group(const char *address)
{
	return g_strconcat("rcpt ", address, NULL);
}

KovRcptState
kov_state_get_rcpt(KovState *state, const char *address, char **reason)
{
	g_autofree char *group = kov_state_group(address);
	g_autofree char *value = g_key_file_get_string(state->keyfile, group, "state", NULL);

	if (reason != NULL)
		*reason = g_key_file_get_string(state->keyfile, group, "reason", NULL);
	for (gsize i = 0; value != NULL && i < G_N_ELEMENTS(kov_state_names); i++)
		if (g_str_equal(value, kov_state_names[i]))
			return (KovRcptState)i;
	return KOV_STATE_PENDING;
}

void
kov_state_set_rcpt(KovState *state, const char *address, KovRcptState rcpt_state, const char *reason)
{
	g_autofree char *group = kov_state_group(address);

	g_key_file_set_string(state->keyfile, group, "state", kov_state_names[rcpt_state]);
	if (reason != NULL)
		g_key_file_set_string(state->keyfile, group, "reason", reason);
	else
		g_key_file_remove_key(state->keyfile, group, "reason", NULL);
}

guint
kov_state_get_attempts(KovState *state)
{
	return (guint)g_key_file_get_uint64(state->keyfile, "mail", "attempts", NULL);
}

void
kov_state_add_attempt(KovState *state)
{
	g_key_file_set_uint64(state->keyfile, "mail", "attempts", kov_state_get_attempts(state) + 1);
}

gint64
kov_state_get_first_seen(KovState *state)
{
	return g_key_file_get_int64(state->keyfile, "mail", "first-seen", NULL);
}

gint64
kov_state_get_next_attempt(KovState *state)
{
	return g_key_file_get_int64(state->keyfile, "mail", "next-attempt", NULL);
}

void
kov_state_set_next_attempt(KovState *state, gint64 when)
{
	g_key_file_set_int64(state->keyfile, "mail", "next-attempt", when);
}

char *
kov_state_get_last_error(KovState *state)
{
	return g_key_file_get_string(state->keyfile, "mail", "last-error", NULL);
}

void
kov_state_set_last_error(KovState *state, const char *text)
{
	g_key_file_set_string(state->keyfile, "mail", "last-error", text);
}

guint
kov_state_get_crashes(KovState *state)
{
	return (guint)g_key_file_get_uint64(state->keyfile, "mail", "crashes", NULL);
}

void
kov_state_add_crash(KovState *state)
{
	g_key_file_set_uint64(state->keyfile, "mail", "crashes", kov_state_get_crashes(state) + 1);
}
