/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Markers of keys that expire soon (keymark.h). */
#include "keymark.h"
#include "error.h"
#include "fileio.h"
#include "logfmt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define KOV_KEYMARK_DAY (24 * 3600)

static const char *const kov_keymark_kinds[] = { "recipient", "signing" };
static const char *const kov_keymark_fields[] = { "kind", "fpr", "subkey", "expires", "address" };

const char *
kov_keymark_kind_word(KovKeymarkKind kind)
{
	g_return_val_if_fail(kind < KOV_KEYMARK_N_KINDS, "");
	return kov_keymark_kinds[kind];
}

/* 40 or 64 upper-case hex digits (what gpg prints), and nothing else. */
static gboolean
kov_keymark_fpr_ok(const char *s, gsize len)
{
	if (s == NULL || (len != 40 && len != 64))
		return FALSE;
	for (gsize i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
			return FALSE;
	return TRUE;
}

static gboolean
kov_keymark_address_byte_ok(unsigned char c)
{
	return c > ' ' && c != 0x7f;
}

char *
kov_keymark_format(const KovKeymark *m)
{
	g_return_val_if_fail(m != NULL && m->kind < KOV_KEYMARK_N_KINDS, NULL);
	if (!kov_keymark_fpr_ok(m->fpr, m->fpr ? strlen(m->fpr) : 0)
	    || !kov_keymark_fpr_ok(m->subkey, m->subkey ? strlen(m->subkey) : 0) || m->expires < 0)
		return NULL;
	GString *s = g_string_new(NULL);
	g_string_append_printf(s, "kind=%s\nfpr=%s\nsubkey=%s\nexpires=%" G_GINT64_FORMAT "\n",
	                       kov_keymark_kinds[m->kind], m->fpr, m->subkey, m->expires);
	if (m->address != NULL && *m->address != '\0') {
		g_string_append(s, "address=");
		for (gsize i = 0; m->address[i] != '\0' && i < KOV_KEYMARK_ADDRESS_MAX; i++) {
			unsigned char c = (unsigned char)m->address[i];
			g_string_append_c(s, kov_keymark_address_byte_ok(c) ? (char)c : '?');
		}
		g_string_append_c(s, '\n');
	}
	return g_string_free(s, FALSE);
}

void
kov_keymark_clear(KovKeymark *m)
{
	if (m == NULL)
		return;
	g_clear_pointer(&m->fpr, g_free);
	g_clear_pointer(&m->subkey, g_free);
	g_clear_pointer(&m->address, g_free);
	m->expires = 0;
}

static gboolean
kov_keymark_refuse(GError **error, const char *why)
{
	g_set_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL, "not a key marker: %s", why);
	return FALSE;
}

gboolean
kov_keymark_parse(const char *data, gsize len, KovKeymark *out, GError **error)
{
	g_return_val_if_fail(data != NULL && out != NULL, FALSE);
	memset(out, 0, sizeof *out);
	if (len > KOV_KEYMARK_FILE_MAX)
		return kov_keymark_refuse(error, "too large");
	if (memchr(data, '\0', len) != NULL)
		return kov_keymark_refuse(error, "a NUL byte");
	if (len == 0 || data[len - 1] != '\n')
		return kov_keymark_refuse(error, "no line end at the end");

	/* The fields in kov_keymark_format's order, each once; address may be missing. */
	gsize field = 0;
	gboolean kind_seen = FALSE;
	KovKeymark m = { 0 };
	for (const char *p = data, *end = data + len; p < end;) {
		const char *nl = memchr(p, '\n', end - p);
		const char *eq = memchr(p, '=', nl - p);
		if (eq == NULL || field >= G_N_ELEMENTS(kov_keymark_fields)
		    || (gsize)(eq - p) != strlen(kov_keymark_fields[field])
		    || memcmp(p, kov_keymark_fields[field], eq - p) != 0) {
			kov_keymark_clear(&m);
			return kov_keymark_refuse(error, "a field missing, repeated, unknown or out of order");
		}
		const char *v = eq + 1;
		gsize vlen = nl - v;
		gboolean ok = vlen > 0;
		switch (field) {
		case 0:
			ok = FALSE;
			for (gsize k = 0; k < KOV_KEYMARK_N_KINDS; k++)
				if (vlen == strlen(kov_keymark_kinds[k]) && memcmp(v, kov_keymark_kinds[k], vlen) == 0) {
					m.kind = (KovKeymarkKind)k;
					ok = kind_seen = TRUE;
				}
			break;
		case 1:
		case 2:
			ok = kov_keymark_fpr_ok(v, vlen);
			if (ok)
				*(field == 1 ? &m.fpr : &m.subkey) = g_strndup(v, vlen);
			break;
		case 3:
			/* A plain decimal number of seconds, no sign, no leading zero. */
			ok = vlen >= 1 && vlen <= 12 && (v[0] != '0' || vlen == 1);
			for (gsize k = 0; ok && k < vlen; k++)
				ok = v[k] >= '0' && v[k] <= '9';
			if (ok)
				m.expires = g_ascii_strtoll(v, NULL, 10);
			break;
		default:
			ok = ok && vlen <= KOV_KEYMARK_ADDRESS_MAX;
			for (gsize k = 0; ok && k < vlen; k++)
				ok = kov_keymark_address_byte_ok((unsigned char)v[k]);
			if (ok)
				m.address = g_strndup(v, vlen);
			break;
		}
		if (!ok) {
			kov_keymark_clear(&m);
			g_set_error(error, KOV_ERROR, KOV_ERROR_PERMFAIL, "not a key marker: a bad %s",
			            kov_keymark_fields[field]);
			return FALSE;
		}
		field++;
		p = nl + 1;
	}
	if (field < 4 || !kind_seen) {
		kov_keymark_clear(&m);
		return kov_keymark_refuse(error, "a field missing");
	}
	*out = m;
	return TRUE;
}

/* KIND-FPR: the marker's name. */
static char *
kov_keymark_name(const KovKeymark *m)
{
	return g_strdup_printf("%s-%s", kov_keymark_kinds[m->kind], m->fpr);
}

/* Is @name a marker's name? Its kind in *@kind. */
static gboolean
kov_keymark_name_ok(const char *name, KovKeymarkKind *kind)
{
	for (gsize k = 0; k < KOV_KEYMARK_N_KINDS; k++) {
		gsize n = strlen(kov_keymark_kinds[k]);
		if (strncmp(name, kov_keymark_kinds[k], n) == 0 && name[n] == '-'
		    && kov_keymark_fpr_ok(name + n + 1, strlen(name + n + 1))) {
			*kind = (KovKeymarkKind)k;
			return TRUE;
		}
	}
	return FALSE;
}

/* Read the marker @name in @dirfd, hostile: no link followed, no FIFO
 * waited on, a regular file of at most KOV_KEYMARK_FILE_MAX bytes, parsed
 * strictly and naming the key its file name names. Its mtime in *@mtime. */
static gboolean
kov_keymark_read(int dirfd, const char *name, KovKeymark *out, gint64 *mtime)
{
	KovKeymarkKind kind;
	if (!kov_keymark_name_ok(name, &kind))
		return FALSE;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return FALSE;
	struct stat st;
	g_autofree char *text = NULL;
	gsize len = 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= KOV_KEYMARK_FILE_MAX)
		text = kov_fileio_read_all(fd, KOV_KEYMARK_FILE_MAX + 1, &len, name, NULL);
	close(fd);
	if (text == NULL || !kov_keymark_parse(text, len, out, NULL))
		return FALSE;
	g_autofree char *expected = kov_keymark_name(out);
	if (out->kind != kind || strcmp(expected, name) != 0) {
		kov_keymark_clear(out);
		return FALSE;
	}
	*mtime = st.st_mtime;
	return TRUE;
}

/* The markers' directory, made when @create; -1 with errno when it is not
 * there or not a directory of ours (a link is not followed). */
static int
kov_keymark_open_dir(const char *queuedir, gboolean create)
{
	g_autofree char *path = g_build_filename(queuedir, KOV_KEYMARK_DIR, NULL);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return -1;
		fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	return fd;
}

/* Was @m warned of in the last day, with the same expiry and subkey? */
static gboolean
kov_keymark_warned(int dirfd, const char *name, const KovKeymark *m, gint64 now)
{
	KovKeymark old = { 0 };
	gint64 mtime = 0;
	if (!kov_keymark_read(dirfd, name, &old, &mtime))
		return FALSE;
	gboolean same = old.expires == m->expires && strcmp(old.subkey, m->subkey) == 0;
	kov_keymark_clear(&old);
	return same && mtime > now - KOV_KEYMARK_WARN_GAP && mtime <= now + 60;
}

/* days= is in calendar days (UTC), as expires= is a date: a key made
 * today to last 5 days says days=5. */
static char *
kov_keymark_line(const KovKeymark *m, gint64 now)
{
	g_autoptr(GDateTime) when = g_date_time_new_from_unix_utc(m->expires);
	g_autofree char *date = when != NULL ? g_date_time_format(when, "%Y-%m-%d") : g_strdup("?");
	g_autofree char *address = m->address != NULL ? g_strdup_printf("<%s>", m->address) : NULL;
	g_autoptr(GString) line = g_string_new("key expires soon:");
	kov_logfmt_append(line, "kind", kov_keymark_kinds[m->kind], 0);
	if (address != NULL)
		kov_logfmt_append(line, "address", address, KOV_KEYMARK_ADDRESS_MAX + 8);
	g_string_append_printf(line, " fpr=%s subkey=%s expires=%s days=%" G_GINT64_FORMAT, m->fpr,
	                       m->subkey, date, m->expires / KOV_KEYMARK_DAY - now / KOV_KEYMARK_DAY);
	return g_string_free(g_steal_pointer(&line), FALSE);
}

char *
kov_keymark_note(const char *queuedir, const KovKeymark *m, guint window_days, gint64 now,
                 GError **error)
{
	g_return_val_if_fail(queuedir != NULL && m != NULL && m->kind < KOV_KEYMARK_N_KINDS, NULL);
	if (window_days == 0 || !kov_keymark_fpr_ok(m->fpr, m->fpr ? strlen(m->fpr) : 0)
	    || !kov_keymark_fpr_ok(m->subkey, m->subkey ? strlen(m->subkey) : 0))
		return NULL;
	g_autofree char *name = kov_keymark_name(m);
	gboolean soon = m->expires > now && m->expires - now <= (gint64)window_days * KOV_KEYMARK_DAY;
	if (!soon) {
		/* Renewed, replaced or never expiring: its marker (if any) goes,
		 * so that the gauge stops counting it. An expired key keeps its
		 * marker: it is refused at use, and the gauge no longer counts it. */
		if (m->expires == 0 || m->expires > now) {
			int dirfd = kov_keymark_open_dir(queuedir, FALSE);
			if (dirfd >= 0) {
				unlinkat(dirfd, name, 0);
				close(dirfd);
			}
		}
		return NULL;
	}

	int dirfd = kov_keymark_open_dir(queuedir, TRUE);
	if (dirfd < 0) {
		kov_error_set_errno(error, errno, "keys: cannot open %s/%s", queuedir, KOV_KEYMARK_DIR);
		return NULL;
	}
	/* Cheap first look; then under the lock again, which one worker holds. */
	if (kov_keymark_warned(dirfd, name, m, now)) {
		close(dirfd);
		return NULL;
	}
	while (flock(dirfd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			kov_error_set_errno(error, errno, "keys: cannot lock %s/%s", queuedir, KOV_KEYMARK_DIR);
			close(dirfd);
			return NULL;
		}
	}
	char *line = NULL;
	if (!kov_keymark_warned(dirfd, name, m, now)) {
		g_autofree char *text = kov_keymark_format(m);
		g_autofree char *path = g_build_filename(queuedir, KOV_KEYMARK_DIR, name, NULL);
		/* Under the lock one temporary name serves; a dot keeps it out of the scan. */
		g_autofree char *tmp_name = g_strconcat(".", name, ".tmp", NULL);
		g_autofree char *tmp = g_build_filename(queuedir, KOV_KEYMARK_DIR, tmp_name, NULL);
		/* A link or a directory in the marker's place is removed, not followed. */
		struct stat st;
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode))
			unlinkat(dirfd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
		unlinkat(dirfd, tmp_name, 0);   /* a left-over that is no file (a FIFO) would fail every write */
		if (kov_fileio_replace(path, tmp, text, strlen(text), error))
			line = kov_keymark_line(m, now);
	}
	flock(dirfd, LOCK_UN);
	close(dirfd);
	return line;
}

void
kov_keymark_scan(const char *queuedir, guint window_days, gint64 now, KovKeymarkSummary *out)
{
	g_return_if_fail(queuedir != NULL && out != NULL);
	memset(out, 0, sizeof *out);
	if (window_days == 0)
		return;
	int dirfd = kov_keymark_open_dir(queuedir, FALSE);
	if (dirfd < 0)
		return;
	int listfd = dup(dirfd);
	DIR *dir = listfd >= 0 ? fdopendir(listfd) : NULL;
	if (dir == NULL) {
		if (listfd >= 0)
			close(listfd);
		close(dirfd);
		return;
	}
	for (struct dirent *e; (e = readdir(dir)) != NULL;) {
		if (e->d_name[0] == '.')
			continue;   /* ., .., and kov_fileio_replace's temporaries are not */
		KovKeymark m = { 0 };
		gint64 mtime;
		if (!kov_keymark_read(dirfd, e->d_name, &m, &mtime)) {
			out->skipped++;
			continue;
		}
		if (m.expires > now && m.expires - now <= (gint64)window_days * KOV_KEYMARK_DAY) {
			out->count[m.kind]++;
			if (out->earliest[m.kind] == 0 || m.expires < out->earliest[m.kind])
				out->earliest[m.kind] = m.expires;
		} else if (m.expires != 0 && now - m.expires > KOV_KEYMARK_KEEP_EXPIRED
		           && unlinkat(dirfd, e->d_name, 0) == 0) {
			out->pruned++;
		}
		kov_keymark_clear(&m);
	}
	closedir(dir);
	close(dirfd);
}
