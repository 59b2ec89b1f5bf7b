/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Per-mail state in a GKeyFile: one [mail] group and one [addr:ADDRESS]
 * group per recipient, the address percent-encoded: a group name cannot
 * hold '[', ']' or control characters, and a recipient may have them all
 * (ops@[192.0.2.1], "a]b"@example.org). koverto 0.1.0 wrote [rcpt ADDRESS]
 * with the plain address; such groups are still read, and replaced by the
 * encoded one at the next change. */
#include "state.h"
#include "error.h"
#include "fileio.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _KovState {
	char *path;
	GKeyFile *keyfile;
	gboolean is_new;
	gboolean reserved;     /* path.tmp is allocated for the next save */
	gboolean read_only;    /* kov_state_parse's: path only names it */
};

static const char *const kov_state_names[] = { "pending", "delivered", "failed" };

/* The bytes of the regular file @path, opened without following a link
 * and without waiting on a FIFO. NULL and *@missing for no file at all;
 * NULL and *@refused (transfer full: what it is) for a symbolic link, a
 * FIFO, a device or a directory, which is not read. */
static char *
kov_state_read(const char *path, gsize *len, gboolean *missing, char **refused, GError **error)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	*missing = FALSE;
	*refused = NULL;
	if (fd < 0 && errno == ENOENT) {
		*missing = TRUE;
		return NULL;
	}
	if (fd < 0 && errno == ELOOP) {
		*refused = g_strdup("a symbolic link");
		return NULL;
	}
	if (fd < 0 || fstat(fd, &st) != 0) {
		kov_error_set_errno(error, errno, "state %s", path);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		*refused = g_strdup_printf("not a regular file (mode %06o)", (unsigned)st.st_mode);
		return NULL;
	}
	char *data = kov_fileio_read_all(fd, G_MAXSIZE, len, path, error);
	close(fd);
	if (data == NULL)
		g_prefix_error(error, "state ");
	return data;
}

KovState *
kov_state_load(const char *path, GError **error)
{
	gsize len = 0;
	gboolean missing = FALSE;
	g_autofree char *refused = NULL;
	g_autofree char *data = kov_state_read(path, &len, &missing, &refused, error);

	if (data != NULL) {
		g_autoptr(GError) local = NULL;
		KovState *state = kov_state_parse(path, data, len, &local);
		if (state == NULL) {
			g_set_error_literal(error, KOV_ERROR, KOV_ERROR_IOERR, local->message);
			return NULL;
		}
		state->read_only = FALSE;
		return state;
	}
	if (!missing && refused == NULL)
		return NULL;
	/* Not koverto's: it writes a state by rename, a regular file. What
	 * is there is left unread (a FIFO would hang the reader, a link
	 * would lead out of the spool) and the next save replaces it; the
	 * target of a link is never touched. */
	if (refused != NULL)
		kov_log_warning("state %s: %s, not a state file: not read; a new state replaces it", path,
		                refused);
	KovState *state = g_new0(KovState, 1);
	state->path = g_strdup(path);
	state->keyfile = g_key_file_new();
	state->is_new = TRUE;
	g_key_file_set_int64(state->keyfile, "mail", "first-seen", g_get_real_time() / G_USEC_PER_SEC);
	g_key_file_set_uint64(state->keyfile, "mail", "attempts", 0);
	return state;
}

KovState *
kov_state_parse(const char *name, const char *data, gsize len, GError **error)
{
	g_autoptr(GError) local = NULL;
	KovState *state = g_new0(KovState, 1);

	state->path = g_strdup(name);
	state->read_only = TRUE;
	state->keyfile = g_key_file_new();
	if (!g_key_file_load_from_data(state->keyfile, data, len, G_KEY_FILE_NONE, &local)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR, "state %s: %s", name, local->message);
		kov_state_free(state);
		return NULL;
	}
	return state;
}

gboolean
kov_state_is_new(KovState *state)
{
	return state->is_new;
}

static char *
kov_state_tmp_path(KovState *state)
{
	return g_strconcat(state->path, ".tmp", NULL);
}

/* Through kov_fileio_replace, into path.tmp as kov_state_reserve left it:
 * written over in place, never truncated first, so the room reserved for
 * this write is there; then fsync, rename over the state, fsync of the
 * directory. */
gboolean
kov_state_save(KovState *state, GError **error)
{
	gsize len = 0;
	g_autofree char *data = g_key_file_to_data(state->keyfile, &len, NULL);
	g_return_val_if_fail(!state->read_only, FALSE);
	g_autofree char *tmp = kov_state_tmp_path(state);

	state->reserved = FALSE; /* used up by this save, whatever comes of it */
	if (!kov_fileio_replace(state->path, tmp, data, len, error)) {
		g_prefix_error(error, "state: ");
		return FALSE;
	}
	state->is_new = FALSE;
	return TRUE;
}

/* The most a recorded text takes in the file: GKeyFile escapes a byte
 * into at most two. */
#define KOV_STATE_TEXT_ROOM (2 * KOV_STATE_TEXT_MAX + 64)

gboolean
kov_state_reserve(KovState *state, const char *const *addresses, guint n, GError **error)
{
	g_return_val_if_fail(!state->read_only, FALSE);
	gsize len = 0;
	g_free(g_key_file_to_data(state->keyfile, &len, NULL)); /* only its size */
	g_autofree char *tmp = kov_state_tmp_path(state);
	/* today's file, a last error, next-attempt/attempts/crashes, and a
	 * group of each new recipient: "[addr:" + 3 bytes a byte + "]",
	 * state= and a reason */
	gsize room = len + KOV_STATE_TEXT_ROOM + 256;
	for (guint i = 0; i < n; i++)
		room += 3 * strlen(addresses[i]) + 64 + KOV_STATE_TEXT_ROOM;

	/* path.tmp is this mail's alone: whatever is there (a crashed run's
	 * file, or a link or a FIFO that is not koverto's) goes, unfollowed,
	 * and a new file is made. */
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0) {
		state->reserved = FALSE;
		kov_error_set_errno(error, errno, "state: cannot create %s", tmp);
		return FALSE;
	}
	int err = posix_fallocate(fd, 0, (off_t)room);
	close(fd);
	if (err != 0) {
		unlink(tmp);
		state->reserved = FALSE;
		kov_error_set_errno(error, err, "state: no room to record %s", state->path);
		return FALSE;
	}
	state->reserved = TRUE;
	return TRUE;
}

void
kov_state_free(KovState *state)
{
	if (state == NULL)
		return;
	if (state->reserved) {
		g_autofree char *tmp = kov_state_tmp_path(state);
		unlink(tmp);
	}
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

/* "addr:" and the address with every byte outside [A-Za-z0-9.@_+-] as
 * %XX: a valid group name for any address, and one per address. */
static char *
kov_state_group(const char *address)
{
	static const char hex[] = "0123456789ABCDEF";
	GString *s = g_string_new("addr:");

	for (const unsigned char *p = (const unsigned char *)address; *p != '\0'; p++) {
		if (g_ascii_isalnum(*p) || strchr(".@_+-", *p) != NULL)
			g_string_append_c(s, (char)*p);
		else {
			g_string_append_c(s, '%');
			g_string_append_c(s, hex[*p >> 4]);
			g_string_append_c(s, hex[*p & 15]);
		}
	}
	return g_string_free(s, FALSE);
}

/* koverto 0.1.0's group for @address, if it could have written one. */
static char *
kov_state_legacy_group(const char *address)
{
	for (const char *p = address; *p != '\0'; p++)
		if (*p == '[' || *p == ']' || g_ascii_iscntrl(*p))
			return NULL;
	return g_strconcat("rcpt ", address, NULL);
}

/* The group that holds @address: the encoded one, else a legacy one. */
static char *
kov_state_find_group(KovState *state, const char *address)
{
	char *group = kov_state_group(address);
	if (g_key_file_has_group(state->keyfile, group))
		return group;
	char *legacy = kov_state_legacy_group(address);
	if (legacy != NULL && g_key_file_has_group(state->keyfile, legacy)) {
		g_free(group);
		return legacy;
	}
	g_free(legacy);
	return group;
}

/* @text as GKeyFile can keep it: valid UTF-8, at most KOV_STATE_TEXT_MAX
 * bytes, cut at a character boundary, and no control character but tab,
 * CR and LF (each a '?'): GKeyFile writes them unescaped, and reading the
 * file back it drops a form feed at the start of a value, so a record
 * kept in memory would not be the one on disk. */
static char *
kov_state_text(const char *text)
{
	char *valid = g_utf8_make_valid(text, -1);
	if (strlen(valid) > KOV_STATE_TEXT_MAX) {
		const char *end = g_utf8_find_prev_char(valid, valid + KOV_STATE_TEXT_MAX + 1);
		valid[end - valid] = '\0';
	}
	for (char *p = valid; *p != '\0'; p++)
		if (g_ascii_iscntrl(*p) && *p != '\t' && *p != '\r' && *p != '\n')
			*p = '?';
	return valid;
}

KovRcptState
kov_state_get_rcpt(KovState *state, const char *address, char **reason)
{
	g_autofree char *group = kov_state_find_group(state, address);
	g_autofree char *value = g_key_file_get_string(state->keyfile, group, "state", NULL);

	if (reason != NULL)
		*reason = g_key_file_get_string(state->keyfile, group, "reason", NULL);
	for (gsize i = 0; value != NULL && i < G_N_ELEMENTS(kov_state_names); i++)
		if (g_str_equal(value, kov_state_names[i]))
			return (KovRcptState)i;
	return KOV_STATE_PENDING;
}

gboolean
kov_state_set_rcpt(KovState *state, const char *address, KovRcptState rcpt_state,
                   const char *reason, GError **error)
{
	g_autofree char *group = kov_state_group(address);
	g_autofree char *legacy = kov_state_legacy_group(address);
	g_autofree char *text = reason != NULL ? kov_state_text(reason) : NULL;

	if (legacy != NULL)
		g_key_file_remove_group(state->keyfile, legacy, NULL);
	g_key_file_set_string(state->keyfile, group, "state", kov_state_names[rcpt_state]);
	if (text != NULL)
		g_key_file_set_string(state->keyfile, group, "reason", text);
	else
		g_key_file_remove_key(state->keyfile, group, "reason", NULL);
	/* Read it back: a record the format could not take must not pass. */
	g_autofree char *back = NULL;
	if (kov_state_get_rcpt(state, address, &back) != rcpt_state || g_strcmp0(back, text) != 0) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_IOERR, "state %s: cannot record recipient %s",
		            state->path, address);
		return FALSE;
	}
	return TRUE;
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

void
kov_state_set_first_seen(KovState *state, gint64 when)
{
	g_key_file_set_int64(state->keyfile, "mail", "first-seen", when);
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
	g_autofree char *valid = kov_state_text(text);
	g_key_file_set_string(state->keyfile, "mail", "last-error", valid);
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
