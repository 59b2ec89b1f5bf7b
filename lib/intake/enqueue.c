/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The listener's spool writer (enqueue.h). A mail is written while the
 * client sends it into an unnamed file (O_TMPFILE) in its queue's tmp/,
 * so a disconnect, a refusal or a kill -9 mid-DATA leave no trace; at the
 * end it is fsynced, given a name in tmp/ and renamed into new/ (Maildir,
 * what the watcher's inotify sees), or linked under its all-digit name
 * into the Kuvert queue, and the directory is fsynced: then 250. Where
 * O_TMPFILE is missing, a named tmp/ file is removed on every failure. */
#include "enqueue.h"
#include "address.h"
#include "error.h"
#include "fileio.h"
#include "gmime-autoptr.h"
#include "header.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _KovEnqueue {
	int fd;
	gboolean kuvert;
	char *id;
	char *tmp_named;    /* the named tmp file without O_TMPFILE; NULL with it */
	char *tmp_path;     /* where the file gets its first name (tmp/<id>, or none for Kuvert) */
	char *final_path;   /* new/<id>, or queuedir/<id> for Kuvert */
	gint64 data_off;    /* where the client's data begins */
	gint64 header_end;  /* offset of the blank line that ends its header section; -1 */
	gboolean line_start;
	guint64 size;
	gboolean committed;
};

static gint kov_enqueue_counter;

/* A name no other mail of this host has: Maildir's time, microseconds,
 * pid and delivery counter (Q), a random part, the host; or, for the
 * Kuvert queue, digits only (kov_queue_is_kuvert_name). */
static char *
kov_enqueue_new_id(gboolean kuvert)
{
	gint64 now = g_get_real_time();
	guint n = (guint)g_atomic_int_add(&kov_enqueue_counter, 1) % 100000;

	if (kuvert)
		return g_strdup_printf("%" G_GINT64_FORMAT "%07d%05u%04u", now, (int)getpid() % 10000000, n,
		                       g_random_int_range(0, 10000));
	char host[256] = "localhost";
	gethostname(host, sizeof host - 1);
	g_strcanon(host, G_CSET_A_2_Z G_CSET_a_2_z G_CSET_DIGITS "-", '_');
	host[64] = '\0';
	return g_strdup_printf("%" G_GINT64_FORMAT ".M%06dP%dQ%uR%08x.%s", now / G_USEC_PER_SEC,
	                       (int)(now % G_USEC_PER_SEC), (int)getpid(), n, g_random_int(), host);
}

/* RFC 5322 date-time in the C locale whatever the process's is. */
static char *
kov_enqueue_date(void)
{
	static const char *const days[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
		                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	return g_strdup_printf("%s, %02d %s %d %02d:%02d:%02d +0000",
	                       days[g_date_time_get_day_of_week(now) - 1],
	                       g_date_time_get_day_of_month(now), months[g_date_time_get_month(now) - 1],
	                       g_date_time_get_year(now), g_date_time_get_hour(now),
	                       g_date_time_get_minute(now), g_date_time_get_second(now));
}

/* What the client said it is goes into a header field: at most 255 of
 * the characters a domain or an address literal has, the rest "_". */
static char *
kov_enqueue_helo(const char *helo)
{
	if (helo == NULL || *helo == '\0')
		return g_strdup("unknown");
	char *out = g_strndup(helo, 255);
	g_strcanon(out, G_CSET_A_2_Z G_CSET_a_2_z G_CSET_DIGITS ".-_:[]", '_');
	return out;
}

char *
kov_enqueue_received(const KovEnqueueInfo *info, const char *id, const char *date)
{
	g_autofree char *helo = kov_enqueue_helo(info->helo);
	GString *r = g_string_new("Received: from ");

	g_string_append(r, helo);
	if (info->ip != NULL)
		g_string_append_printf(r, " ([%s])", info->ip);
	g_string_append_printf(r, "\n\tby %s (koverto) with %s id %s\n\t(client %s);\n\t%s\n",
	                       info->hostname, info->protocol, id, info->client, date);
	return g_string_free(r, FALSE);
}

/* The lines above the client's data. Addresses come from the session,
 * which took them apart from the command and checked them; one
 * recipient per line keeps every line short. */
static char *
kov_enqueue_header(const KovEnqueueInfo *info, const char *id)
{
	g_autofree char *date = kov_enqueue_date();
	g_autofree char *received = kov_enqueue_received(info, id, date);
	GString *h = g_string_new(NULL);

	g_string_append_printf(h, "X-Kuvert-From: %s\nX-Kuvert-To: ", *info->sender ? info->sender : "<>");
	for (guint i = 0; i < info->recipients->len; i++)
		g_string_append_printf(h, "%s%s", i ? ",\n " : "",
		                       (const char *)g_ptr_array_index(info->recipients, i));
	g_string_append_printf(h, "\nX-Koverto-Client: %s\n%s", info->client, received);
	return g_string_free(h, FALSE);
}

/* A queue's name is a directory under queuedir (the configuration checked it). */
static gboolean
kov_enqueue_queue_ok(const char *queue)
{
	return queue != NULL && *queue != '\0' && *queue != '.' && strchr(queue, '/') == NULL;
}

static int
kov_enqueue_open(KovEnqueue *e, const char *dir, GError **error)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) {
		if (fd < 0)
			kov_error_set_errno(error, errno, "cannot create a file in %s", dir);
		return fd;
	}
	/* No O_TMPFILE here: a named file, removed on every failure. */
	g_autofree char *name = e->kuvert ? g_strconcat(".tmp.", e->id, NULL) : g_strdup(e->id);
	e->tmp_named = g_build_filename(dir, name, NULL);
	fd = open(e->tmp_named, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		kov_error_set_errno(error, errno, "cannot create %s", e->tmp_named);
		g_clear_pointer(&e->tmp_named, g_free);
	}
	return fd;
}

KovEnqueue *
kov_enqueue_begin(const char *queuedir, const KovEnqueueInfo *info, GError **error)
{
	g_return_val_if_fail(queuedir != NULL && info != NULL && info->sender != NULL, NULL);
	g_return_val_if_fail(info->recipients != NULL && info->client != NULL, NULL);
	if (!kov_enqueue_queue_ok(info->queue)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "bad queue name \"%s\"",
		            info->queue ? info->queue : "");
		return NULL;
	}
	g_autoptr(KovEnqueue) e = g_new0(KovEnqueue, 1);
	e->fd = -1;
	e->header_end = -1;
	e->line_start = TRUE;
	e->kuvert = g_str_equal(info->queue, "kuvert");
	e->id = kov_enqueue_new_id(e->kuvert);
	g_autofree char *dir = e->kuvert ? g_strdup(queuedir)
	                                 : g_build_filename(queuedir, info->queue, "tmp", NULL);
	if (e->kuvert) {
		e->final_path = g_build_filename(queuedir, e->id, NULL);
	} else {
		e->tmp_path = g_build_filename(dir, e->id, NULL);
		e->final_path = g_build_filename(queuedir, info->queue, "new", e->id, NULL);
	}
	e->fd = kov_enqueue_open(e, dir, error);
	if (e->fd < 0)
		return NULL;
	g_autofree char *header = kov_enqueue_header(info, e->id);
	if (!kov_fileio_write_all(e->fd, header, strlen(header), error, "cannot write %s", e->final_path))
		return NULL;
	e->data_off = (gint64)strlen(header);
	return g_steal_pointer(&e);
}

gboolean
kov_enqueue_write(KovEnqueue *e, const char *data, gsize len, GError **error)
{
	g_return_val_if_fail(e != NULL && e->fd >= 0 && !e->committed, FALSE);
	/* Where the header section ends: the first empty line. */
	for (gsize i = 0; e->header_end < 0 && i < len; i++) {
		if (data[i] == '\n' && e->line_start)
			e->header_end = e->data_off + (gint64)e->size + (gint64)i;
		e->line_start = data[i] == '\n';
	}
	if (!kov_fileio_write_all(e->fd, data, len, error, "cannot write %s", e->final_path))
		return FALSE;
	e->size += len;
	return TRUE;
}

GPtrArray *
kov_enqueue_from(KovEnqueue *e, GError **error)
{
	g_return_val_if_fail(e != NULL && e->fd >= 0, NULL);
	gint64 end = e->header_end >= 0 ? e->header_end + 1 : e->data_off + (gint64)e->size;
	int fd = fcntl(e->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		kov_error_set_errno(error, errno, "cannot read %s", e->final_path);
		return NULL;
	}
	/* The header section alone: cheap, whatever the size of the body. */
	g_autoptr(GMimeStream) file = g_mime_stream_fs_new(fd);
	g_autoptr(GMimeStream) head = g_mime_stream_substream(file, e->data_off, end);
	g_autoptr(GMimeParser) parser = g_mime_parser_new_with_stream(head);
	g_autoptr(GMimeParserOptions) popts = g_mime_parser_options_new();
	g_autoptr(GMimeMessage) message = g_mime_parser_construct_message(parser, popts);
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	if (message == NULL)
		return out;
	g_autoptr(GPtrArray) raw = kov_header_list_addresses(g_mime_object_get_header_list(GMIME_OBJECT(message)),
	                                                     "From", FALSE, popts);
	for (guint i = 0; i < raw->len; i++) {
		char *a = kov_address_normalize(g_ptr_array_index(raw, i), "From", error);
		if (a == NULL) {
			g_ptr_array_unref(out);
			return NULL;
		}
		g_ptr_array_add(out, a);
	}
	return out;
}

gboolean
kov_enqueue_commit(KovEnqueue *e, GError **error)
{
	g_return_val_if_fail(e != NULL && e->fd >= 0 && !e->committed, FALSE);
	if (fsync(e->fd) != 0) {
		kov_error_set_errno(error, errno, "cannot write %s", e->final_path);
		return FALSE;
	}
	/* Its first name: tmp/<id> for a Maildir (a rename into new/ is what
	 * the watcher's inotify sees), its final one in the Kuvert queue. */
	const char *first = e->kuvert ? e->final_path : e->tmp_path;
	if (e->tmp_named != NULL) {
		if (!e->kuvert ? rename(e->tmp_named, first) != 0 : link(e->tmp_named, first) != 0) {
			kov_error_set_errno(error, errno, "cannot name %s", first);
			return FALSE;
		}
		if (e->kuvert)
			unlink(e->tmp_named);
		g_clear_pointer(&e->tmp_named, g_free);
	} else {
		char proc[64];
		g_snprintf(proc, sizeof proc, "/proc/self/fd/%d", e->fd);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, first, AT_SYMLINK_FOLLOW) != 0
		    && linkat(e->fd, "", AT_FDCWD, first, AT_EMPTY_PATH) != 0) {
			kov_error_set_errno(error, errno, "cannot name %s", first);
			return FALSE;
		}
	}
	if (!e->kuvert && rename(e->tmp_path, e->final_path) != 0) {
		kov_error_set_errno(error, errno, "cannot move %s into new/", e->tmp_path);
		unlink(e->tmp_path);
		return FALSE;
	}
	if (!kov_fileio_sync_dir(e->final_path, error)) {
		/* Visible but perhaps not durable: take it back, unless the
		 * daemon has claimed it already; then it is in its hands. */
		if (unlink(e->final_path) == 0 || errno != ENOENT)
			return FALSE;
		g_clear_error(error);
	}
	e->committed = TRUE;
	return TRUE;
}

const char *
kov_enqueue_id(const KovEnqueue *e)
{
	return e->id;
}

guint64
kov_enqueue_size(const KovEnqueue *e)
{
	return e->size;
}

void
kov_enqueue_free(KovEnqueue *e)
{
	if (e == NULL)
		return;
	if (e->fd >= 0)
		close(e->fd);
	if (e->tmp_named != NULL)
		unlink(e->tmp_named);
	g_free(e->tmp_named);
	g_free(e->tmp_path);
	g_free(e->final_path);
	g_free(e->id);
	g_free(e);
}
