/* SPDX-License-Identifier: GPL-3.0-or-later */
/* One queued mail read with GMime from a file-backed stream (bodies stay in
 * the file) and written out again: the parse and its sanity checks, the
 * load (envelope.c gives the envelope, directive.c Kuvert's directives),
 * the rewrite of a queue file's envelope, the clean-up of private headers,
 * and the CRLF/LF writer. */
#include "message.h"
#include "ciphertext.h"
#include "directive.h"
#include "envelope.h"
#include "header.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gmime-autoptr.h"
#include "error.h"
#include "fileio.h"

void
kov_message_free(KovMail *mail)
{
	if (mail == NULL)
		return;
	g_clear_object(&mail->message);
	g_free(mail->sender);
	g_free(mail->from);
	g_free(mail->from_key);
	g_free(mail->client);
	if (mail->recipients != NULL)
		g_ptr_array_unref(mail->recipients);
	if (mail->resent_to != NULL)
		g_ptr_array_unref(mail->resent_to);
	if (mail->resent_bcc != NULL)
		g_ptr_array_unref(mail->resent_bcc);
	g_free(mail->resent_from);
	g_free(mail);
}

void
kov_recipient_free(gpointer data)
{
	KovRecipient *r = data;
	g_free(r->address);
	g_free(r->directive_key);
	g_free(r);
}

static void
kov_message_add_resent(GPtrArray *rcpts, const GPtrArray *addresses, KovRole role)
{
	for (guint i = 0; addresses != NULL && i < addresses->len; i++) {
		KovRecipient *r = g_new0(KovRecipient, 1);
		r->address = g_strdup(g_ptr_array_index(addresses, i));
		r->role = role;
		g_ptr_array_add(rcpts, r);
	}
}

GPtrArray *
kov_message_addressed(const KovMail *mail, gboolean kuvert, const char **sender, gboolean *resent)
{
	g_return_val_if_fail(mail != NULL && sender != NULL && resent != NULL, NULL);
	*sender = mail->sender;
	*resent = kuvert && mail->resent_to != NULL
	          && mail->resent_to->len + (mail->resent_bcc != NULL ? mail->resent_bcc->len : 0) > 0;
	if (!*resent)
		return g_ptr_array_ref(mail->recipients);
	GPtrArray *rcpts = g_ptr_array_new_with_free_func(kov_recipient_free);
	kov_message_add_resent(rcpts, mail->resent_to, KOV_ROLE_TO);
	kov_message_add_resent(rcpts, mail->resent_bcc, KOV_ROLE_BCC);
	if (mail->resent_from != NULL && !mail->sender_given)
		*sender = mail->resent_from;
	return rcpts;
}

/* GMime cuts a header value at a NUL: the value loses its line end, and
 * written again the next header joins its line ("Subject: x Message-ID:
 * ..."), or, for the last one, the body's first lines become headers. It
 * keeps a bare CR, a line end to some readers. Either way the header
 * cannot be passed on as it is. Only a header that ends the file, with no
 * body after it (@may_end_file), may lack its line end. */
static gboolean
header_sane(GMimeHeader *h, gboolean may_end_file, GError **error)
{
	const char *name = g_mime_header_get_name(h);
	const char *raw = g_mime_header_get_raw_value(h);
	size_t len = raw != NULL ? strlen(raw) : 0;
	gboolean cut = !may_end_file && (len == 0 || raw[len - 1] != '\n');
	const char *cr = raw != NULL ? strchr(raw, '\r') : NULL;
	while (cr != NULL && cr[1] == '\n')
		cr = strchr(cr + 1, '\r');
	if (cut || cr != NULL || strchr(name, '\r') != NULL) {
		g_autofree char *shown = g_strescape(name, NULL);
		g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR, "bad header \"%s\": %s", shown,
		            cut ? "cut short by a NUL byte" : "a bare CR in it");
		return FALSE;
	}
	return TRUE;
}

/* The top-level header block: the message's own headers and those GMime
 * gave its MIME part (Content-*), interleaved in the file. */
static gboolean
headers_sane(GMimeMessage *message, gboolean body_follows, GError **error)
{
	GMimeObject *part = g_mime_message_get_mime_part(message);
	GMimeHeaderList *lists[] = { g_mime_object_get_header_list(GMIME_OBJECT(message)),
	                             part != NULL ? g_mime_object_get_header_list(part) : NULL };
	GMimeHeader *last = NULL;
	for (gsize l = 0; l < G_N_ELEMENTS(lists) && lists[l] != NULL; l++)
		for (int i = 0; i < g_mime_header_list_get_count(lists[l]); i++) {
			GMimeHeader *h = g_mime_header_list_get_header_at(lists[l], i);
			if (last == NULL || g_mime_header_get_offset(h) > g_mime_header_get_offset(last))
				last = h;
		}
	for (gsize l = 0; l < G_N_ELEMENTS(lists) && lists[l] != NULL; l++)
		for (int i = 0; i < g_mime_header_list_get_count(lists[l]); i++) {
			GMimeHeader *h = g_mime_header_list_get_header_at(lists[l], i);
			if (!header_sane(h, h == last && !body_follows, error))
				return FALSE;
		}
	return TRUE;
}

/* @path opened for parsing: never through a symbolic link; only a
 * regular file (queue.c checks first). With @given >= 0, a descriptor the
 * caller holds instead (a mail in memory), duplicated and rewound. */
static int
open_mail(const char *path, int given, GError **error)
{
	struct stat st;
	int fd = given >= 0 ? fcntl(given, F_DUPFD_CLOEXEC, 0)
	                    : open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || lseek(fd, 0, SEEK_SET) != 0)) {
		close(fd);
		fd = -1;
		errno = EINVAL;
	}
	if (fd < 0)
		kov_error_set_errno(error, errno, "cannot open %s", path);
	return fd;
}

/* Parse @path (or @given, see open_mail); *@headers_end: where the
 * top-level header ends (-1: at the end of the file, no body). */
static GMimeMessage *
parse_file(const char *path, int given, GMimeParserOptions *popts, gint64 *size,
           gint64 *headers_end, GError **error)
{
	struct stat st;
	int fd = open_mail(path, given, error);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0) {
		kov_error_set_errno(error, errno, "cannot open %s", path);
		close(fd);
		return NULL;
	}
	*size = st.st_size;
	/* The stream owns fd; with persist on, the parts keep referring to the
	 * file instead of copying bodies into memory, so fd stays open as long
	 * as the message lives. */
	g_autoptr(GMimeStream) stream = g_mime_stream_fs_new(fd);
	g_autoptr(GMimeParser) parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_persist_stream(parser, TRUE);
	g_autoptr(GMimeMessage) message = g_mime_parser_construct_message(parser, popts);
	if (message == NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR,
		            "not a mail: %s: no RFC 5322 header found", path);
		return NULL;
	}
	GMimeHeaderList *headers = g_mime_object_get_header_list(GMIME_OBJECT(message));
	if (g_mime_header_list_get_count(headers) == 0) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR,
		            "not a mail: %s: empty header", path);
		return NULL;
	}
	/* The end of the header block is known when a blank line ended it. */
	*headers_end = g_mime_parser_get_headers_end(parser);
	if (!headers_sane(message, *headers_end >= 0, error))
		return NULL;
	return g_steal_pointer(&message);
}

KovMail *
kov_message_load(const char *path, const KovMessageOptions *options, GError **error)
{
	g_return_val_if_fail(path != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);
	static const KovMessageOptions defaults = {0};
	if (options == NULL)
		options = &defaults;

	g_autoptr(GMimeParserOptions) popts = g_mime_parser_options_new();
	g_autoptr(KovMail) mail = g_new0(KovMail, 1);
	gint64 headers_end;
	mail->message = parse_file(path, options->from_fd ? options->fd : -1, popts, &mail->size,
	                           &headers_end, error);
	if (mail->message == NULL)
		return NULL;

	GMimeHeaderList *headers = g_mime_object_get_header_list(GMIME_OBJECT(mail->message));
	KovEnvelopeBlocks blocks;
	kov_envelope_blocks_init(&blocks, mail->message, options->mail_only);
	gboolean ok = kov_envelope_load(mail, headers, &blocks, options, popts, error);
	g_ptr_array_unref(blocks.all);
	if (!ok)
		return NULL;
	kov_directive_load(mail, headers, popts);
	/* Read once, gone: the pseudo-headers must never leave, neither the
	 * envelope's nor those in the mail's own header, which never count. */
	kov_header_remove(headers, kov_envelope_is_field);
	/* From the bytes, never the label; rewrapped by koverto when it is. */
	mail->already_encrypted = kov_ciphertext_canonicalize(mail->message, &mail->not_ciphertext);
	return g_steal_pointer(&mail);
}

#define MESSAGE_REWRITE_FAILED "cannot rewrite the envelope of %s"

/* Copy bytes [@from, @to) of @in to @out; @path names the file. */
static gboolean
copy_range(int in, gint64 from, gint64 to, int out, const char *path, GError **error)
{
	char buf[65536];
	while (from < to) {
		gsize want = MIN((gint64)sizeof buf, to - from);
		ssize_t n = pread(in, buf, want, from);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* n == 0: the file shrank under us */
			kov_error_set_errno(error, n == 0 ? EIO : errno, MESSAGE_REWRITE_FAILED, path);
			return FALSE;
		}
		if (!kov_fileio_write_all(out, buf, (gsize)n, error, MESSAGE_REWRITE_FAILED, path))
			return FALSE;
		from += n;
	}
	return TRUE;
}

gboolean
kov_message_rewrite_envelope(const char *path, const char *envelope, gboolean keep_sender, int fd,
                             GError **error)
{
	return kov_message_rewrite_envelope_fd(path, -1, envelope, keep_sender, fd, error);
}

gboolean
kov_message_rewrite_envelope_fd(const char *path, int given, const char *envelope,
                                gboolean keep_sender, int fd, GError **error)
{
	g_return_val_if_fail(path != NULL && fd >= 0, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	g_autoptr(GMimeParserOptions) popts = g_mime_parser_options_new();
	gint64 size, headers_end;
	g_autoptr(GMimeMessage) message = parse_file(path, given, popts, &size, &headers_end, error);
	if (message == NULL)
		return FALSE;
	KovEnvelopeBlocks blocks;
	kov_envelope_blocks_init(&blocks, message, !keep_sender);
	int in = given >= 0 ? fcntl(given, F_DUPFD_CLOEXEC, 0) : open(path, O_RDONLY | O_CLOEXEC);
	gboolean ok = in >= 0;
	if (!ok)
		kov_error_set_errno(error, errno, MESSAGE_REWRITE_FAILED, path);
	ok = ok && (envelope == NULL || kov_fileio_write_all(fd, envelope, strlen(envelope), error,
	                                                     MESSAGE_REWRITE_FAILED, path));
	gint64 at = 0;
	for (guint i = 0; ok && i < blocks.all->len; i++) {
		GMimeHeader *h = g_ptr_array_index(blocks.all, i);
		const char *name = g_mime_header_get_name(h);
		if (!kov_envelope_is_field(name))
			continue;
		if (i < blocks.n_envelope && (g_ascii_strcasecmp(name, "X-Kuvert-From") == 0
		                              || g_ascii_strcasecmp(name, "X-Koverto-Client") == 0))
			continue;  /* the sender and the client stay */
		/* A field runs to the next one, continuation lines and lines
		 * GMime skipped included, or to the end of the header. */
		gint64 start = g_mime_header_get_offset(h);
		gint64 end = i + 1 < blocks.all->len
			? g_mime_header_get_offset(g_ptr_array_index(blocks.all, i + 1))
			: headers_end >= 0 ? headers_end : size;
		ok = copy_range(in, at, start, fd, path, error);
		at = end;
	}
	ok = ok && copy_range(in, at, size, fd, path, error);
	g_ptr_array_unref(blocks.all);
	if (in >= 0)
		close(in);
	return ok;
}

static gboolean
is_private_header(const char *name)
{
	return g_ascii_strcasecmp(name, "Bcc") == 0 ||
	       g_ascii_strcasecmp(name, "Resent-Bcc") == 0 ||
	       g_ascii_strcasecmp(name, "Delivered-To") == 0 ||
	       g_ascii_strcasecmp(name, "Return-Path") == 0 ||
	       g_ascii_strncasecmp(name, "X-Kuvert", strlen("X-Kuvert")) == 0;
}

static gboolean
is_invalid_field_name(const char *name)
{
	return !kov_header_name_valid(name);
}

void
kov_message_strip_private_headers(GMimeMessage *message)
{
	g_return_if_fail(GMIME_IS_MESSAGE(message));
	GMimeHeaderList *headers = g_mime_object_get_header_list(GMIME_OBJECT(message));
	kov_header_remove(headers, is_private_header);
	/* Written as they came, they would start a line with a space (a
	 * continuation of nothing) or no header at all. */
	kov_header_remove(headers, is_invalid_field_name);
	GMimeObject *part = g_mime_message_get_mime_part(message);
	if (part != NULL)
		kov_header_remove(g_mime_object_get_header_list(part), is_invalid_field_name);
	kov_directive_strip(headers);
}

/* Serialize @object into @sink with @crlf line ends; the bytes that
 * reached @sink, or -1 with errno set. For CRLF a unix2dos filter behind
 * GMime's own newline format catches what GMime leaves alone (3.2.13
 * writes a multipart epilogue with a bare LF, and CTE binary parts
 * unconverted): bare LFs must not reach SMTP, which has no room for binary
 * anyway. LF output needs no such filter: GMime's UNIX format converts the
 * epilogue too, and binary parts stay intact for the sendmail program.
 * GMime writes a header or a line at a time; a 4 KiB block buffer makes
 * that one write() per block, and it answers a short write() of @sink
 * with an error, which GMime's own streams report as success. */
static gint64
serialize(GMimeObject *object, gboolean crlf, GMimeStream *sink)
{
	g_autoptr(GMimeFormatOptions) format = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(format, crlf ? GMIME_NEWLINE_FORMAT_DOS
	                                                      : GMIME_NEWLINE_FORMAT_UNIX);
	g_autoptr(GMimeStream) buffered = g_mime_stream_buffer_new(sink, GMIME_STREAM_BUFFER_BLOCK_WRITE);
	g_autoptr(GMimeStream) filtered = g_mime_stream_filter_new(buffered);
	if (crlf) {
		g_autoptr(GMimeFilter) unix2dos = g_mime_filter_unix2dos_new(FALSE);
		g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered), unix2dos);
	}

	errno = 0;
	/* GMime 3.2.13's filter flush does not flush its source: the buffer
	 * is flushed on its own. */
	if (g_mime_object_write_to_stream(object, format, filtered) < 0 || g_mime_stream_flush(filtered) != 0
	    || g_mime_stream_flush(buffered) != 0) {
		if (errno == 0)
			errno = EIO;
		return -1;
	}
	return g_mime_stream_tell(buffered) - buffered->bound_start;
}

gboolean
kov_message_write_fd(GMimeObject *object, int fd, gboolean crlf, GError **error)
{
	g_return_val_if_fail(GMIME_IS_OBJECT(object), FALSE);
	g_return_val_if_fail(fd >= 0, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (copy < 0) {
		kov_error_set_errno(error, errno, "cannot duplicate descriptor %d", fd);
		return FALSE;
	}
	/* A pipe stream for files too: it writes at the file offset without
	 * an lseek per write, and its flush is no fsync (every caller writes
	 * a scratch copy, read back at once from the page cache). */
	off_t start = lseek(copy, 0, SEEK_CUR);
	g_autoptr(GMimeStream) out = g_mime_stream_pipe_new(copy);  /* owns copy */
	gint64 written = serialize(object, crlf, out);
	if (written < 0) {
		kov_error_set_errno(error, errno, "cannot write the mail");
		return FALSE;
	}
	/* Of a file, the offset must have moved by as much (a pipe or socket,
	 * sendmail's stdin, shows a short write in the reader's exit status). */
	off_t end = start < 0 ? -1 : lseek(copy, 0, SEEK_CUR);
	if (start >= 0 && end - start != written) {
		kov_error_set_errno(error, end < 0 ? errno : EIO,
		                    "cannot write the mail: %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT " bytes written",
		                    (gint64)(end - start), written);
		return FALSE;
	}
	return TRUE;
}
