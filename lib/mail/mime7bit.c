/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The 7-bit repair of hostile input (junk, NULs, bare CRs, endless lines):
 * GMime writes raw bytes back unchanged, so each unfit header or part gets
 * a value GMime must encode anew; contents are streamed, never held. MIME
 * work without GPGME: it lives in the mail layer, and lib/gpg/crypto.c
 * calls it on the entity it protects. */
#include "mime7bit.h"
#include "address.h"
#include "gmime-autoptr.h"
#include "header.h"

#include <string.h>

/* RFC 5322 2.1.1: at most 998 octets per line, CRLF excluded. */
#define MIME7BIT_MAX_LINE 998

/* Text that cannot go into a 7-bit SMTP transaction as it is: 8-bit bytes,
 * control characters (a bare CR is a line end to some readers: header
 * injection, SMTP smuggling), or a line over 998 octets (@indent: what
 * precedes @text on its first line). In a header (@folded) a line break
 * must be a fold (LF, then white space). NULL is fine. */
static gboolean
mime7bit_text_unfit(const char *text, gsize indent, gboolean folded)
{
	gsize line = indent;
	for (const unsigned char *p = (const unsigned char *)text; p != NULL && *p != '\0'; p++) {
		if (*p & 0x80 || *p == 0x7f)
			return TRUE;
		if (*p == '\r' && p[1] == '\n')
			continue;
		if (*p == '\n') {
			if (folded && p[1] != '\0' && p[1] != ' ' && p[1] != '\t')
				return TRUE;
			line = 0;
			continue;
		}
		if (*p < ' ' && *p != '\t')
			return TRUE;
		if (++line > MIME7BIT_MAX_LINE)
			return TRUE;
	}
	return FALSE;
}

/* @text with every control character (CR and LF included) made a space:
 * a value GMime may encode and fold as it likes. (transfer full) */
static char *
mime7bit_text_flatten(const char *text)
{
	char *flat = g_strdup(text != NULL ? text : "");
	for (unsigned char *p = (unsigned char *)flat; *p != '\0'; p++)
		if (*p < ' ' || *p == 0x7f)
			*p = ' ';
	return flat;
}

/* An RFC 2045 token: printable ASCII but tspecials. */
static gboolean
mime7bit_token_valid(const char *word)
{
	if (word == NULL || *word == '\0')
		return FALSE;
	for (const unsigned char *p = (const unsigned char *)word; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f || strchr("()<>@,;:\\\"/[]?=", *p) != NULL)
			return FALSE;
	return TRUE;
}

/* GMime 3.2's RFC 2231 encoder never ends (it allocates until memory runs
 * out) for a name of 70 to 72 characters whose value it must encode or
 * fold; real parameter names are short ("filename", "creation-date"). */
#define MIME7BIT_MAX_PARAM_NAME 60

gboolean
kov_mime7bit_param_name_writable(const char *name)
{
	return name != NULL && strlen(name) <= MIME7BIT_MAX_PARAM_NAME;
}

/* Does @params hold a parameter GMime would never finish writing? */
static gboolean
mime7bit_params_unwritable(GMimeParamList *params)
{
	for (int i = 0; params != NULL && i < g_mime_param_list_length(params); i++) {
		GMimeParam *param = g_mime_param_list_get_parameter_at(params, i);
		if (!kov_mime7bit_param_name_writable(g_mime_param_get_name(param)))
			return TRUE;
	}
	return FALSE;
}

/* Setting a parameter again marks it changed: GMime then writes the header
 * anew, RFC 2231-encoding what is not ASCII and folding what is long.
 * Control characters become spaces: GMime would quote them as they are.
 * A parameter whose name is no token (GMime writes names as they came), is
 * too long, or came before, is dropped; the caller then makes GMime write the
 * header anew. */
static void
mime7bit_reset_params(GMimeParamList *params, void (*set)(gpointer, const char *, const char *),
                    gpointer owner)
{
	/* First drop every bad one: each set() below writes the whole header
	 * anew, the parameters not yet looked at included. */
	for (int i = g_mime_param_list_length(params) - 1; i >= 0; i--) {
		const char *name = g_mime_param_get_name(g_mime_param_list_get_parameter_at(params, i));
		gboolean again = FALSE;  /* a second boundary= would leave readers guessing */
		for (int j = 0; j < i && !again; j++)
			again = g_ascii_strcasecmp(g_mime_param_get_name(g_mime_param_list_get_parameter_at(params, j)),
			                           name) == 0;
		if (again || !mime7bit_token_valid(name) || !kov_mime7bit_param_name_writable(name))
			g_mime_param_list_remove_at(params, i);
	}
	for (int i = 0; i < g_mime_param_list_length(params); i++) {
		GMimeParam *param = g_mime_param_list_get_parameter_at(params, i);
		g_autofree char *name = g_strdup(g_mime_param_get_name(param));
		g_autofree char *value = mime7bit_text_flatten(g_mime_param_get_value(param));
		set(owner, name, value);
		/* A value that came as RFC 2047 words would be written so again,
		 * in one quoted string GMime cannot fold; RFC 2231 continues it. */
		GMimeParam *fresh = g_mime_param_list_get_parameter(params, name);
		if (fresh != NULL)
			g_mime_param_set_encoding_method(fresh, GMIME_PARAM_ENCODING_METHOD_RFC2231);
	}
}

static void
mime7bit_set_type_param(gpointer type, const char *name, const char *value)
{
	g_mime_content_type_set_parameter(type, name, value);
}

static void
mime7bit_set_disposition_param(gpointer disposition, const char *name, const char *value)
{
	g_mime_content_disposition_set_parameter(disposition, name, value);
}

/* The header's raw value cannot be written as it came (see
 * mime7bit_text_unfit(); the name and ": " precede it on its line), or it
 * lacks its line end: GMime cuts a value at a NUL, and written as it is the
 * next header would join its line, or the body its header block. */
gboolean
kov_mime7bit_header_unfit(GMimeHeader *header)
{
	const char *name = g_mime_header_get_name(header);
	const char *raw = g_mime_header_get_raw_value(header);
	if (raw == NULL || !g_str_has_suffix(raw, "\n"))
		return TRUE;
	return mime7bit_text_unfit(raw, strlen(name) + 1, TRUE);
}

static gboolean
mime7bit_is_address_header(const char *name)
{
	static const char *const names[] = { "From", "To", "Cc", "Bcc", "Reply-To", "Sender",
		"Resent-From", "Resent-To", "Resent-Cc", "Resent-Bcc", "Resent-Reply-To",
		"Resent-Sender", "Disposition-Notification-To", NULL };
	for (const char *const *n = names; *n != NULL; n++)
		if (g_ascii_strcasecmp(name, *n) == 0)
			return TRUE;
	return FALSE;
}

/* Give an unfit header a value GMime encodes and folds. An address list is
 * parsed from the raw value and formatted again: its decoded text would
 * read an encoded display name ("=?...?=" for "evil@example.org,") as an
 * address of its own. Anything else is its decoded value, control
 * characters made spaces. */
void
kov_mime7bit_header_refit(GMimeHeader *header)
{
	if (mime7bit_is_address_header(g_mime_header_get_name(header))) {
		const char *raw = g_mime_header_get_raw_value(header);
		g_autoptr(InternetAddressList) list = raw ? internet_address_list_parse(NULL, raw) : NULL;
		if (list != NULL && internet_address_list_length(list) > 0) {
			kov_address_set_header(header, list);
			return;
		}
		g_mime_header_set_value(header, NULL, "", NULL);  /* unfit still: dropped */
		return;
	}
	g_autofree char *value = mime7bit_text_flatten(g_mime_header_get_value(header));
	g_mime_header_set_value(header, NULL, value, NULL);
}

/* Write @object's Content-Type anew from what GMime understood of it:
 * parameters re-set (RFC 2231 where needed), and a type or subtype that is
 * no token replaced, as RFC 2045 5.2 has readers do with an invalid field:
 * text/plain; a multipart stays one (mixed), other types get octet-stream. */
static void
mime7bit_content_type_refit(GMimeObject *object)
{
	GMimeContentType *type = g_mime_object_get_content_type(object);
	mime7bit_reset_params(g_mime_content_type_get_parameters(type), mime7bit_set_type_param, type);
	const char *media = g_mime_content_type_get_media_type(type);
	if (!mime7bit_token_valid(media)) {
		media = GMIME_IS_MULTIPART(object) ? "multipart" : "text";
		g_mime_content_type_set_media_type(type, media);
	}
	const char *sub = g_mime_content_type_get_media_subtype(type);
	const char *fallback = GMIME_IS_MULTIPART(object) ? "mixed"
	                       : g_ascii_strcasecmp(media, "text") == 0 ? "plain" : "octet-stream";
	/* Setting the subtype, even to itself, rewrites the header. */
	g_autofree char *subtype = g_strdup(mime7bit_token_valid(sub) ? sub : fallback);
	g_mime_content_type_set_media_subtype(type, subtype);
}

static void
mime7bit_content_disposition_refit(GMimeObject *object)
{
	GMimeContentDisposition *disp = g_mime_object_get_content_disposition(object);
	if (disp == NULL)
		return;
	mime7bit_reset_params(g_mime_content_disposition_get_parameters(disp), mime7bit_set_disposition_param,
	                    disp);
	const char *word = g_mime_content_disposition_get_disposition(disp);
	/* Setting the disposition, even to itself, rewrites the header. */
	g_autofree char *value = g_strdup(mime7bit_token_valid(word) ? word : "attachment");
	g_mime_content_disposition_set_disposition(disp, value);
}

static gboolean
mime7bit_header_is(GMimeHeader *header, const char *name)
{
	return g_ascii_strcasecmp(g_mime_header_get_name(header), name) == 0;
}

/* The first header called @name in @headers fit to send, or NULL. */
static GMimeHeader *
mime7bit_fit_header(GMimeHeaderList *headers, const char *name)
{
	for (int i = 0; i < g_mime_header_list_get_count(headers); i++) {
		GMimeHeader *header = g_mime_header_list_get_header_at(headers, i);
		if (mime7bit_header_is(header, name) && !kov_mime7bit_header_unfit(header))
			return header;
	}
	return NULL;
}

/* GMime keeps raw header bytes as they came and writes them back unchanged:
 * 8-bit bytes, control characters, unfolded 1 MB lines. Giving such a
 * header its (decoded) value again makes GMime encode and fold it: RFC 2231
 * for parameters, RFC 2047 for the rest. A header whose name is not one
 * (binary junk GMime took for a header) is dropped, and so is one that
 * stays unfit.
 * Content-Type, -Disposition and -Transfer-Encoding are written from what
 * GMime parsed of them (and setting their text would change that: an
 * encoding GMime cannot read becomes none), so they are made anew from it,
 * once, first; a second, unfit one becomes a copy of the fit one (removed,
 * the part would lose its type or encoding). */
static void
mime7bit_headers_make_7bit(GMimeObject *object)
{
	static const char *const parsed[] = { "Content-Type", "Content-Disposition",
	                                      "Content-Transfer-Encoding" };
	GMimeHeaderList *headers = g_mime_object_get_header_list(object);
	GMimePart *part = GMIME_IS_PART(object) ? GMIME_PART(object) : NULL;
	GMimeContentEncoding encoding =
		part ? g_mime_part_get_content_encoding(part) : GMIME_CONTENT_ENCODING_DEFAULT;
	gboolean unfit[G_N_ELEMENTS(parsed)] = { FALSE };
	for (int i = 0; i < g_mime_header_list_get_count(headers); i++) {
		GMimeHeader *header = g_mime_header_list_get_header_at(headers, i);
		for (gsize k = 0; k < G_N_ELEMENTS(parsed); k++)
			unfit[k] = unfit[k] || (mime7bit_header_is(header, parsed[k]) && kov_mime7bit_header_unfit(header));
	}
	/* A parameter GMime would never finish encoding (mime7bit_reset_params)
	 * must not wait for the next one who copies the type: refit now. */
	GMimeContentType *type = g_mime_object_get_content_type(object);
	unfit[0] = unfit[0] ||
		(type != NULL && mime7bit_params_unwritable(g_mime_content_type_get_parameters(type)));
	GMimeContentDisposition *disposition = g_mime_object_get_content_disposition(object);
	unfit[1] = unfit[1] ||
		(disposition != NULL &&
		 mime7bit_params_unwritable(g_mime_content_disposition_get_parameters(disposition)));
	if (unfit[0])
		mime7bit_content_type_refit(object);
	if (unfit[1])
		mime7bit_content_disposition_refit(object);
	if (unfit[2] && part != NULL)
		g_mime_part_set_content_encoding(part, encoding);

	for (int i = g_mime_header_list_get_count(headers) - 1; i >= 0; i--) {
		GMimeHeader *header = g_mime_header_list_get_header_at(headers, i);
		if (!kov_header_name_valid(g_mime_header_get_name(header))) {
			g_mime_header_list_remove_at(headers, i);
			continue;
		}
		if (!kov_mime7bit_header_unfit(header))
			continue;
		gboolean from_parsed = mime7bit_header_is(header, "Content-Type") ||
		                       (part != NULL && mime7bit_header_is(header, "Content-Transfer-Encoding"));
		if (from_parsed) {
			GMimeHeader *fit = mime7bit_fit_header(headers, g_mime_header_get_name(header));
			if (fit != NULL)
				g_mime_header_set_raw_value(header, g_mime_header_get_raw_value(fit));
			else if (mime7bit_header_is(header, "Content-Transfer-Encoding"))
				g_mime_header_list_remove_at(headers, i);  /* made anew below */
			continue;
		}
		if (!mime7bit_header_is(header, "Content-Disposition"))
			kov_mime7bit_header_refit(header);
		if (kov_mime7bit_header_unfit(header))
			g_mime_header_list_remove_at(headers, i);
	}
	/* Whatever happened to its headers, the part keeps its encoding, and
	 * says so (GMime does not rewrite the header for an unchanged value). */
	if (part != NULL && g_mime_part_get_content_encoding(part) != encoding)
		g_mime_part_set_content_encoding(part, encoding);
	if (part != NULL && encoding != GMIME_CONTENT_ENCODING_DEFAULT &&
	    !g_mime_header_list_contains(headers, "Content-Transfer-Encoding"))
		g_mime_object_set_header(object, "Content-Transfer-Encoding",
		                         g_mime_content_encoding_to_string(encoding), NULL);
}

/* Multiparts and message/rfc822 may only be 7bit, 8bit or binary; once
 * their children are 7-bit, say so. */
static void
mime7bit_container_make_7bit(GMimeObject *object)
{
	const char *cte = g_mime_object_get_header(object, "Content-Transfer-Encoding");
	if (cte == NULL)
		return;
	g_autofree char *value = g_strstrip(g_strdup(cte));
	if (g_ascii_strcasecmp(value, "7bit") != 0)
		g_mime_object_set_header(object, "Content-Transfer-Encoding", "7bit", NULL);
}

static gboolean
mime7bit_encoding_is_identity(GMimeContentEncoding encoding)
{
	return encoding == GMIME_CONTENT_ENCODING_DEFAULT || encoding == GMIME_CONTENT_ENCODING_7BIT ||
	       encoding == GMIME_CONTENT_ENCODING_8BIT || encoding == GMIME_CONTENT_ENCODING_BINARY;
}

/* What a scan of stored content found. */
typedef struct {
	gboolean bare_cr;   /* a CR that does not start a CRLF */
	gboolean unfit;     /* that, or an 8-bit byte, a NUL, a line over 998 octets */
} Mime7bitScan;

/* Read @content's stored bytes once (streamed: a large part is not held).
 * GMime's best-encoding filter does not look for a bare CR, a line end to
 * some SMTP servers and readers (SMTP smuggling); and content stored
 * encoded is written as it is stored, whatever it holds. */
static Mime7bitScan
mime7bit_scan_content(GMimeDataWrapper *content)
{
	Mime7bitScan scan = { FALSE, FALSE };
	GMimeStream *stream = g_mime_data_wrapper_get_stream(content);
	if (stream == NULL)
		return scan;
	g_autoptr(GMimeStream) view = g_mime_stream_substream(stream, stream->bound_start, stream->bound_end);
	unsigned char buf[4096];
	gboolean cr = FALSE;
	gsize line = 0;
	ssize_t n;
	while ((n = g_mime_stream_read(view, (char *)buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (cr && buf[i] != '\n')
				scan.bare_cr = TRUE;
			cr = buf[i] == '\r';
			if (buf[i] == '\n')
				line = 0;
			else if (!cr && ++line > MIME7BIT_MAX_LINE)
				scan.unfit = TRUE;
			if (buf[i] >= 0x80 || buf[i] == '\0')
				scan.unfit = TRUE;
		}
	}
	scan.bare_cr = scan.bare_cr || cr;
	scan.unfit = scan.unfit || scan.bare_cr;
	return scan;
}

/* Content stored base64, quoted-printable or uuencoded is written as it
 * is stored: junk in it (8-bit bytes, NULs, endless lines) would go out.
 * Give the part its decoded content instead (a filter on the stored bytes,
 * still streamed), so that GMime encodes it anew, cleanly, when written. */
/* Does the stored uuencoded @stream hold a "begin" line before anything
 * else? Without one GMime's decoder yields nothing at all. */
static gboolean
mime7bit_uu_has_begin(GMimeStream *stream)
{
	char buf[1024];
	gint64 start = g_mime_stream_tell(stream);
	ssize_t n = g_mime_stream_read(stream, buf, sizeof buf - 1);
	g_mime_stream_seek(stream, start, GMIME_STREAM_SEEK_SET);
	if (n <= 0)
		return FALSE;
	buf[n] = '\0';
	const char *p = buf + strspn(buf, " \t\r\n");
	return strncmp(p, "begin ", 6) == 0;
}

static void
mime7bit_part_reencode(GMimePart *part, GMimeDataWrapper *content, GMimeContentEncoding encoding)
{
	GMimeStream *stored = g_mime_data_wrapper_get_stream(content);
	g_autoptr(GMimeStream) decoded = g_mime_stream_filter_new(stored);
	g_autoptr(GMimeFilter) decoder = g_mime_filter_basic_new(encoding, FALSE);
	g_mime_stream_filter_add(GMIME_STREAM_FILTER(decoded), decoder);
	g_autoptr(GMimeDataWrapper) plain =
		g_mime_data_wrapper_new_with_stream(decoded, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(part, plain);
	g_mime_part_set_content_encoding(part, encoding);
}

static void
mime7bit_part_make_7bit(GMimePart *part)
{
	GMimeContentEncoding encoding = g_mime_part_get_content_encoding(part);
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	if (content == NULL)
		return;
	if (encoding == GMIME_CONTENT_ENCODING_BASE64 ||
	    encoding == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
	    encoding == GMIME_CONTENT_ENCODING_UUENCODE) {
		/* Stored as encoded (as parsed): what is stored goes out. */
		if (g_mime_data_wrapper_get_encoding(content) != encoding || !mime7bit_scan_content(content).unfit)
			return;
		if (encoding != GMIME_CONTENT_ENCODING_UUENCODE ||
		    mime7bit_uu_has_begin(g_mime_data_wrapper_get_stream(content))) {
			mime7bit_part_reencode(part, content, encoding);
			return;
		}
		/* Labelled uuencode but not uuencoded: decoding would drop every
		 * byte. Keep the bytes as they are, encoded anew below. */
		g_autoptr(GMimeDataWrapper) raw = g_mime_data_wrapper_new_with_stream(
			g_mime_data_wrapper_get_stream(content), GMIME_CONTENT_ENCODING_DEFAULT);
		g_mime_part_set_content(part, raw);
		content = raw;
	}
	/* Reads the decoded content once (streamed): 8-bit bytes, NULs, lines
	 * over 998 octets, "From " at a line start; then bare CRs. */
	GMimeContentEncoding best = g_mime_part_get_best_content_encoding(part, GMIME_ENCODING_CONSTRAINT_7BIT);
	if ((best == GMIME_CONTENT_ENCODING_DEFAULT || best == GMIME_CONTENT_ENCODING_7BIT) &&
	    !(mime7bit_encoding_is_identity(g_mime_data_wrapper_get_encoding(content)) &&
	      mime7bit_scan_content(content).bare_cr)) {
		if (encoding == GMIME_CONTENT_ENCODING_8BIT || encoding == GMIME_CONTENT_ENCODING_BINARY)
			g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_7BIT);
		return;
	}
	GMimeContentType *type = g_mime_object_get_content_type(GMIME_OBJECT(part));
	gboolean text = type != NULL && g_mime_content_type_is_type(type, "text", "*");
	g_mime_part_set_content_encoding(part, text ? GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE
	                                            : GMIME_CONTENT_ENCODING_BASE64);
}

/* RFC 2046 5.1.1: 1 to 70 of these, not ending in a space. */
static gboolean
mime7bit_boundary_valid(const char *boundary)
{
	static const char bchars[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                             "'()+_,-./:=? ";
	size_t len = strlen(boundary);
	return len >= 1 && len <= 70 && strspn(boundary, bchars) == len && boundary[len - 1] != ' ';
}

void
kov_mime7bit_repair(GMimeObject *object)
{
	g_return_if_fail(GMIME_IS_OBJECT(object));

	/* First: setting the boundary writes the Content-Type anew, and an
	 * unwritable parameter must be gone by then. */
	mime7bit_headers_make_7bit(object);
	/* A boundary of 8-bit bytes would be on every delimiter line, and RFC
	 * 2231 cannot encode one: a multipart with a bad boundary gets a new,
	 * random one (the parts are already told apart). */
	const char *boundary = g_mime_object_get_content_type_parameter(object, "boundary");
	if (GMIME_IS_MULTIPART(object) && !GMIME_IS_MULTIPART_SIGNED(object) &&
	    !GMIME_IS_MULTIPART_ENCRYPTED(object) && boundary != NULL && !mime7bit_boundary_valid(boundary))
		g_mime_multipart_set_boundary(GMIME_MULTIPART(object), NULL);
	/* Re-encoding inside a signed entity would break its signature, and an
	 * encrypted one is armored text already: leave both as they are. */
	if (GMIME_IS_MULTIPART_SIGNED(object) || GMIME_IS_MULTIPART_ENCRYPTED(object))
		return;
	if (GMIME_IS_MULTIPART(object)) {
		GMimeMultipart *multipart = GMIME_MULTIPART(object);
		/* Text before and after the parts is to be ignored by readers
		 * (RFC 2046): drop it rather than carry 8-bit bytes or bare CRs. */
		if (mime7bit_text_unfit(g_mime_multipart_get_prologue(multipart), 0, FALSE))
			g_mime_multipart_set_prologue(multipart, NULL);
		if (mime7bit_text_unfit(g_mime_multipart_get_epilogue(multipart), 0, FALSE))
			g_mime_multipart_set_epilogue(multipart, NULL);
		for (int i = 0; i < g_mime_multipart_get_count(multipart); i++)
			kov_mime7bit_repair(g_mime_multipart_get_part(multipart, i));
		mime7bit_container_make_7bit(object);
	} else if (GMIME_IS_MESSAGE_PART(object)) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
		if (inner != NULL) {
			mime7bit_headers_make_7bit(GMIME_OBJECT(inner));
			GMimeObject *body = g_mime_message_get_mime_part(inner);
			if (body != NULL)
				kov_mime7bit_repair(body);
		}
		mime7bit_container_make_7bit(object);
	} else if (GMIME_IS_PART(object)) {
		mime7bit_part_make_7bit(GMIME_PART(object));
	}
}
