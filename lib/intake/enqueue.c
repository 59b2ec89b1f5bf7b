/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The listener's spool writer (enqueue.h): the envelope block and a
 * Received field, then the client's data as it arrives, handed over by
 * the spool's writer (writer.h: an unnamed file until the commit, so a
 * disconnect, a refusal or a kill -9 mid-DATA leave no trace; fsync,
 * rename into new/ or a link into the Kuvert queue, the directory's
 * fsync: then 250). */
#include "enqueue.h"
#include "address.h"
#include "error.h"
#include "fileio.h"
#include "gmime-autoptr.h"
#include "header.h"
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _KovEnqueue {
	KovQueueWriter *writer;
	char *id;
	gint64 data_off;    /* where the client's data begins */
	gint64 header_end;  /* offset of the blank line that ends its header section; -1 */
	gboolean line_start;
	guint64 size;
};

/* RFC 5322 date-time, in the C locale whatever the process's is. */
static char *
kov_enqueue_date(void)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	return g_mime_utils_header_format_date(now);
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

KovEnqueue *
kov_enqueue_begin(const char *queuedir, const KovEnqueueInfo *info, GError **error)
{
	g_return_val_if_fail(queuedir != NULL && info != NULL && info->sender != NULL, NULL);
	g_return_val_if_fail(info->recipients != NULL && info->client != NULL, NULL);
	g_autoptr(KovEnqueue) e = g_new0(KovEnqueue, 1);
	e->header_end = -1;
	e->line_start = TRUE;
	e->writer = kov_queue_writer_new(queuedir, info->queue, error);
	if (e->writer == NULL)
		return NULL;
	g_autofree char *header = kov_enqueue_header(info, kov_queue_writer_id(e->writer));
	if (!kov_queue_writer_write(e->writer, header, strlen(header), error))
		return NULL;
	e->data_off = (gint64)strlen(header);
	return g_steal_pointer(&e);
}

gboolean
kov_enqueue_write(KovEnqueue *e, const char *data, gsize len, GError **error)
{
	g_return_val_if_fail(e != NULL && e->id == NULL, FALSE);
	/* Where the header section ends: the first empty line. */
	for (gsize i = 0; e->header_end < 0 && i < len; i++) {
		if (data[i] == '\n' && e->line_start)
			e->header_end = e->data_off + (gint64)e->size + (gint64)i;
		e->line_start = data[i] == '\n';
	}
	if (!kov_queue_writer_write(e->writer, data, len, error))
		return FALSE;
	e->size += len;
	return TRUE;
}

GPtrArray *
kov_enqueue_from(KovEnqueue *e, GError **error)
{
	g_return_val_if_fail(e != NULL && e->id == NULL, NULL);
	gint64 end = e->header_end >= 0 ? e->header_end + 1 : e->data_off + (gint64)e->size;
	int fd = fcntl(kov_queue_writer_fd(e->writer), F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		kov_error_set_errno(error, errno, "cannot read the mail in %s", kov_queue_writer_name(e->writer));
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
	g_return_val_if_fail(e != NULL && e->id == NULL, FALSE);
	if (!kov_queue_writer_commit(e->writer, error))
		return FALSE;
	e->id = g_strdup(kov_queue_writer_id(e->writer));
	return TRUE;
}

const char *
kov_enqueue_id(const KovEnqueue *e)
{
	return e->id != NULL ? e->id : kov_queue_writer_id(e->writer);
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
	kov_queue_writer_free(e->writer);
	g_free(e->id);
	g_free(e);
}
