/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Already encrypted? From the bytes (see ciphertext.h). */
#include "ciphertext.h"
#include "gmime-autoptr.h"

#include <string.h>

/* ---- readable text in what should be ciphertext ------------------------- */

/* Text bytes: printable ASCII, TAB, CR, LF; 98 of 256, so random bytes
 * (ciphertext) are ~38 % text. A body is taken for text when it holds a
 * run of KOV_TEXT_RUN text bytes or more text bytes than six standard
 * deviations above that share. A run of 32 starts at a given byte of
 * random data with p = 0.383^32 * 0.617, about 1.4e-14: some 3e-7 for a
 * 20 MB mail, whose copy kov_job_check_leak would then hold back. */
#define KOV_TEXT_RUN 32

typedef struct {
	gsize n, text, run;
	gboolean long_run;
} TextCount;

static void
text_count(TextCount *tc, const guint8 *p, gsize n)
{
	for (gsize i = 0; i < n; i++) {
		guint8 c = p[i];
		if ((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' || c == '\r') {
			tc->text++;
			if (++tc->run >= KOV_TEXT_RUN)
				tc->long_run = TRUE;
		} else
			tc->run = 0;
	}
	tc->n += n;
}

static gboolean
text_readable(const TextCount *tc)
{
	if (tc->long_run)
		return TRUE;
	double p = 98.0 / 256.0, mean = p * (double)tc->n, var = mean * (1.0 - p);
	double over = (double)tc->text - mean - 4.0;
	return over > 0 && over * over > 36.0 * var;
}

/* ---- OpenPGP packets (RFC 4880 4.2, RFC 9580 4.2) ----------------------- */

enum {
	PGP_PKESK = 1, PGP_SKESK = 3, PGP_SED = 9, PGP_SEIPD = 18, PGP_AEAD = 20,
	PGP_ESK_MAX = 16384,   /* a session key packet is a few hundred bytes */
};

static gboolean
pgp_be(const guint8 *data, gsize len, gsize *pos, guint nbytes, gsize *out)
{
	if (len - *pos < nbytes)
		return FALSE;
	gsize v = 0;
	for (guint i = 0; i < nbytes; i++)
		v = (v << 8) | data[(*pos)++];
	*out = v;
	return TRUE;
}

/* A new-format length at *pos; *partial for a partial body length. */
static gboolean
pgp_new_length(const guint8 *data, gsize len, gsize *pos, gsize *out, gboolean *partial)
{
	*partial = FALSE;
	if (*pos >= len)
		return FALSE;
	guint8 a = data[(*pos)++];
	if (a < 192) {
		*out = a;
		return TRUE;
	}
	if (a < 224) {
		if (*pos >= len)
			return FALSE;
		*out = ((gsize)(a - 192) << 8) + data[(*pos)++] + 192;
		return TRUE;
	}
	if (a == 255)
		return pgp_be(data, len, pos, 4, out);
	*out = (gsize)1 << (a & 0x1f);
	*partial = TRUE;
	return TRUE;
}

gboolean
kov_ciphertext_check_openpgp(const guint8 *data, gsize len, const char **why)
{
	const char *dummy;
	if (why == NULL)
		why = &dummy;
	gsize pos = 0;
	guint esk = 0;
	if (len == 0) {
		*why = "no OpenPGP packet";
		return FALSE;
	}
	while (pos < len) {
		guint8 h = data[pos++];
		guint tag;
		gsize body = 0;
		gboolean partial = FALSE, to_end = FALSE, ok = TRUE;
		if (!(h & 0x80)) {
			*why = "not an OpenPGP packet";
			return FALSE;
		}
		if (h & 0x40) {
			tag = h & 0x3f;
			ok = pgp_new_length(data, len, &pos, &body, &partial);
		} else {
			tag = (h >> 2) & 0x0f;
			switch (h & 3) {
			case 0: ok = pgp_be(data, len, &pos, 1, &body); break;
			case 1: ok = pgp_be(data, len, &pos, 2, &body); break;
			case 2: ok = pgp_be(data, len, &pos, 4, &body); break;
			default: to_end = TRUE; body = len - pos; break;
			}
		}
		if (!ok || body > len - pos) {
			*why = "an OpenPGP packet cut short";
			return FALSE;
		}
		gboolean is_data = tag == PGP_SED || tag == PGP_SEIPD || tag == PGP_AEAD;
		if (tag != PGP_PKESK && tag != PGP_SKESK && !is_data) {
			*why = "an OpenPGP packet that is not encryption (literal, compressed, "
			       "signature, marker, ...)";
			return FALSE;
		}
		if (!is_data && (partial || to_end || body < 2 || body > PGP_ESK_MAX)) {
			*why = "a malformed OpenPGP session key packet";
			return FALSE;
		}
		if (is_data && esk == 0) {
			*why = "OpenPGP encrypted data without a session key packet";
			return FALSE;
		}
		if (body == 0) {
			*why = "an empty OpenPGP packet";
			return FALSE;
		}
		guint8 version = data[pos];
		gboolean version_ok =
			tag == PGP_PKESK ? version == 3 || version == 6 :
			tag == PGP_SKESK ? version >= 4 && version <= 6 :
			tag == PGP_SEIPD ? version == 1 || version == 2 :
			tag == PGP_AEAD ? version == 1 : TRUE;
		if (!version_ok) {
			*why = "an OpenPGP packet of an unknown version";
			return FALSE;
		}
		TextCount tc = {0};
		text_count(&tc, data + pos, body);
		pos += body;
		while (partial) {
			if (!pgp_new_length(data, len, &pos, &body, &partial) || body > len - pos) {
				*why = "an OpenPGP packet cut short";
				return FALSE;
			}
			text_count(&tc, data + pos, body);
			pos += body;
		}
		if (text_readable(&tc)) {
			*why = "an OpenPGP packet holding readable text";
			return FALSE;
		}
		if (!is_data) {
			esk++;
			continue;
		}
		if (tc.n < 16) {
			*why = "OpenPGP encrypted data too short to be ciphertext";
			return FALSE;
		}
		if (pos != len) {
			*why = "more after the OpenPGP encrypted data";
			return FALSE;
		}
		return TRUE;
	}
	*why = "no OpenPGP encrypted data packet";
	return FALSE;
}

/* ---- ASCII armor (RFC 4880 6) ------------------------------------------- */

static int
b64_value(char c)
{
	unsigned char u = (unsigned char)c;
	return u >= 'A' && u <= 'Z' ? u - 'A' : u >= 'a' && u <= 'z' ? u - 'a' + 26 :
	       u >= '0' && u <= '9' ? u - '0' + 52 : u == '+' ? 62 : u == '/' ? 63 : -1;
}

/* Strict base64 of @text (no white space, padding only at the end) appended
 * to @out. */
static gboolean
b64_decode(const char *text, gsize len, GByteArray *out)
{
	if (len % 4 != 0)
		return FALSE;
	if (len == 0)
		return TRUE;
	gsize start = out->len;
	g_byte_array_set_size(out, start + len / 4 * 3);
	guint8 *w = out->data + start;
	for (gsize i = 0; i < len; i += 4) {
		int v[4];
		guint pad = 0;
		for (int k = 0; k < 4; k++) {
			if (text[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[k] = b64_value(text[i + k])) < 0)
				return FALSE;
		}
		w[0] = (guint8)(v[0] << 2 | v[1] >> 4);
		w[1] = (guint8)(v[1] << 4 | v[2] >> 2);
		w[2] = (guint8)(v[2] << 6 | v[3]);
		w += 3 - pad;
	}
	g_byte_array_set_size(out, (guint)(w - out->data));
	return TRUE;
}

/* RFC 4880 6.1, a byte at a time from a table made on first use. */
static guint32
crc24(const guint8 *p, gsize n)
{
	static guint32 table[256];
	static gsize made;
	if (g_once_init_enter(&made)) {
		for (guint32 b = 0; b < 256; b++) {
			guint32 crc = b << 16;
			for (int k = 0; k < 8; k++) {
				crc <<= 1;
				if (crc & 0x1000000u)
					crc ^= 0x1864CFBu;
			}
			table[b] = crc & 0xFFFFFFu;
		}
		g_once_init_leave(&made, 1);
	}
	guint32 crc = 0xB704CEu;
	for (gsize i = 0; i < n; i++)
		crc = ((crc << 8) ^ table[((crc >> 16) ^ p[i]) & 0xff]) & 0xFFFFFFu;
	return crc;
}

static gboolean
line_blank(const char *s, gsize n)
{
	for (gsize i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return FALSE;
	return TRUE;
}

GByteArray *
kov_ciphertext_dearmor(const char *text, gsize len, gboolean allow_headers, const char **why)
{
	static const char begin[] = "-----BEGIN PGP MESSAGE-----", end[] = "-----END PGP MESSAGE-----";
	enum { BEFORE, HEADERS, BODY, CRC, AFTER } state = BEFORE;
	g_autoptr(GString) b64 = g_string_new(NULL);
	g_autoptr(GByteArray) crc = g_byte_array_new();
	gboolean have_crc = FALSE;
	const char *dummy;
	if (why == NULL)
		why = &dummy;
	if (len == 0) {
		*why = "no complete OpenPGP armor";
		return NULL;
	}
	if (memchr(text, '\0', len) != NULL) {
		*why = "a NUL in the armor";
		return NULL;
	}
	for (gsize pos = 0; pos < len;) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		gsize n = nl != NULL ? (gsize)(nl - line) : len - pos;
		pos += n + (nl != NULL);
		while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
			n--;
		switch (state) {
		case BEFORE:
			if (line_blank(line, n))
				continue;
			if (n != strlen(begin) || memcmp(line, begin, n) != 0) {
				*why = "text before the OpenPGP armor";
				return NULL;
			}
			state = HEADERS;
			continue;
		case HEADERS:
			if (n == 0) {
				state = BODY;
				continue;
			}
			if (!allow_headers || memchr(line, ':', n) == NULL) {
				*why = "armor header lines";
				return NULL;
			}
			continue;
		case BODY:
			if (n == strlen(end) && memcmp(line, end, n) == 0) {
				state = AFTER;
				continue;
			}
			if (n > 0 && line[0] == '=') {
				if (n != 5 || !b64_decode(line + 1, 4, crc)) {
					*why = "a bad armor checksum line";
					return NULL;
				}
				have_crc = TRUE;
				state = CRC;
				continue;
			}
			g_string_append_len(b64, line, n);
			continue;
		case CRC:
			if (n != strlen(end) || memcmp(line, end, n) != 0) {
				*why = "text after the armor checksum";
				return NULL;
			}
			state = AFTER;
			continue;
		case AFTER:
			if (!line_blank(line, n)) {
				*why = "text after the OpenPGP armor";
				return NULL;
			}
			continue;
		}
	}
	if (state != AFTER) {
		*why = "no complete OpenPGP armor";
		return NULL;
	}
	g_autoptr(GByteArray) out = g_byte_array_new();
	if (!b64_decode(b64->str, b64->len, out) || out->len == 0) {
		*why = "bad base64 in the OpenPGP armor";
		return NULL;
	}
	if (have_crc && ((guint32)crc->data[0] << 16 | (guint32)crc->data[1] << 8 | crc->data[2])
	                    != crc24(out->data, out->len)) {
		*why = "the armor checksum does not match";
		return NULL;
	}
	return g_steal_pointer(&out);
}

/* The canonical armor of @data: no headers, 64 columns, a checksum. */
static GString *
armor(const guint8 *data, gsize len)
{
	GString *s = g_string_new("-----BEGIN PGP MESSAGE-----\n\n");
	g_autofree char *b64 = g_base64_encode(data, len);
	gsize n = strlen(b64);
	for (gsize i = 0; i < n; i += 64) {
		g_string_append_len(s, b64 + i, MIN(64, n - i));
		g_string_append_c(s, '\n');
	}
	guint32 c = crc24(data, len);
	guint8 cb[3] = { (guint8)(c >> 16), (guint8)(c >> 8), (guint8)c };
	g_autofree char *crc = g_base64_encode(cb, 3);
	g_string_append_printf(s, "=%s\n-----END PGP MESSAGE-----\n", crc);
	return s;
}

/* ---- CMS (RFC 5652, RFC 5083) in BER ------------------------------------ */

typedef struct {
	guint8 tag;             /* the identifier octet (low tag numbers only) */
	const guint8 *content;  /* content octets (children, for constructed) */
	gsize len;              /* of content, the end-of-contents excluded */
	gsize total;            /* identifier, length, content, end-of-contents */
} Ber;

enum { BER_DEPTH_MAX = 48 };

static gboolean ber_read(const guint8 *p, gsize n, int depth, Ber *el);

/* The next child of @parent at *off. FALSE at the end. */
static gboolean
ber_child(const Ber *parent, gsize *off, Ber *child)
{
	if (*off >= parent->len)
		return FALSE;
	if (!ber_read(parent->content + *off, parent->len - *off, 0, child))
		return FALSE;
	*off += child->total;
	return TRUE;
}

/* One element at @p, well formed to its last byte (children included). */
static gboolean
ber_read(const guint8 *p, gsize n, int depth, Ber *el)
{
	if (depth > BER_DEPTH_MAX || n < 2 || (p[0] & 0x1f) == 0x1f)
		return FALSE;
	el->tag = p[0];
	gboolean constructed = (p[0] & 0x20) != 0;
	gsize pos = 2, len = p[1];
	gboolean indefinite = FALSE;
	if (len == 0x80) {
		if (!constructed)
			return FALSE;
		indefinite = TRUE;
	} else if (len > 0x80) {
		guint k = len & 0x7f;
		if (k > 4 || n - pos < k)
			return FALSE;
		len = 0;
		for (guint i = 0; i < k; i++)
			len = (len << 8) | p[pos++];
	}
	el->content = p + pos;
	if (!indefinite) {
		if (len > n - pos)
			return FALSE;
		el->len = len;
		el->total = pos + len;
		for (gsize off = 0; constructed && off < len;) {
			Ber child;
			if (!ber_read(el->content + off, len - off, depth + 1, &child))
				return FALSE;
			off += child.total;
		}
		return TRUE;
	}
	for (gsize off = 0;;) {
		if (n - pos - off >= 2 && el->content[off] == 0 && el->content[off + 1] == 0) {
			el->len = off;
			el->total = pos + off + 2;
			return TRUE;
		}
		Ber child;
		if (n - pos - off < 2 || !ber_read(el->content + off, n - pos - off, depth + 1, &child))
			return FALSE;
		off += child.total;
	}
}

static gboolean
ber_is_oid(const Ber *el, const guint8 *oid, gsize len)
{
	return el->tag == 0x06 && el->len == len && memcmp(el->content, oid, len) == 0;
}

/* id-envelopedData 1.2.840.113549.1.7.3, id-ct-authEnvelopedData
 * 1.2.840.113549.1.9.16.1.23 */
static const guint8 oid_enveloped[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03 };
static const guint8 oid_auth_enveloped[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
	                                     0x09, 0x10, 0x01, 0x17 };

/* Feed the octets of (possibly constructed) string @el to @tc. */
static gboolean
ber_string_count(const Ber *el, int depth, TextCount *tc)
{
	if (!(el->tag & 0x20)) {
		text_count(tc, el->content, el->len);
		return TRUE;
	}
	if (depth > 8)
		return FALSE;
	Ber child;
	for (gsize off = 0; ber_child(el, &off, &child);)
		if ((child.tag & ~0x20) != 0x04 || !ber_string_count(&child, depth + 1, tc))
			return FALSE;
	return TRUE;
}

static gboolean
cms_check(const guint8 *data, gsize len, gboolean *auth, const char **why)
{
	Ber ci, el, env;
	gsize off = 0;
	if (len == 0 || !ber_read(data, len, 0, &ci) || ci.total != len || ci.tag != 0x30) {
		*why = "not a well-formed CMS ContentInfo to its last byte";
		return FALSE;
	}
	if (!ber_child(&ci, &off, &el) ||
	    !(ber_is_oid(&el, oid_enveloped, sizeof oid_enveloped) ||
	      ber_is_oid(&el, oid_auth_enveloped, sizeof oid_auth_enveloped))) {
		*why = "CMS content that is not EnvelopedData or AuthEnvelopedData";
		return FALSE;
	}
	*auth = el.len == sizeof oid_auth_enveloped;
	Ber wrap;
	gsize woff = 0;
	if (!ber_child(&ci, &off, &wrap) || wrap.tag != 0xa0 || ber_child(&ci, &off, &el) ||
	    !ber_child(&wrap, &woff, &env) || env.tag != 0x30 || ber_child(&wrap, &woff, &el)) {
		*why = "a malformed CMS ContentInfo";
		return FALSE;
	}
	/* version, [0] originatorInfo, recipientInfos SET, (auth)encryptedContentInfo */
	gsize eoff = 0;
	if (!ber_child(&env, &eoff, &el) || el.tag != 0x02 || !ber_child(&env, &eoff, &el)) {
		*why = "a malformed CMS EnvelopedData";
		return FALSE;
	}
	if (el.tag == 0xa0 && !ber_child(&env, &eoff, &el)) {
		*why = "a malformed CMS EnvelopedData";
		return FALSE;
	}
	Ber eci;
	if (el.tag != 0x31 || el.len == 0 || !ber_child(&env, &eoff, &eci) || eci.tag != 0x30) {
		*why = "CMS EnvelopedData without recipients or encrypted content";
		return FALSE;
	}
	gsize coff = 0;
	Ber content;
	if (!ber_child(&eci, &coff, &el) || el.tag != 0x06 || !ber_child(&eci, &coff, &el) ||
	    el.tag != 0x30 || !ber_child(&eci, &coff, &content) ||
	    (content.tag != 0x80 && content.tag != 0xa0) || ber_child(&eci, &coff, &el)) {
		*why = "CMS encrypted content missing or malformed";
		return FALSE;
	}
	TextCount tc = {0};
	if (!ber_string_count(&content, 0, &tc) || tc.n < 8) {
		*why = "CMS encrypted content missing or malformed";
		return FALSE;
	}
	if (text_readable(&tc)) {
		*why = "CMS encrypted content holding readable text";
		return FALSE;
	}
	/* What follows: [1] unprotected or authenticated attributes, the MAC,
	 * [2] unauthenticated attributes. */
	while (ber_child(&env, &eoff, &el))
		if (el.tag != 0xa1 && el.tag != 0xa2 && el.tag != 0x04) {
			*why = "a malformed CMS EnvelopedData";
			return FALSE;
		}
	return TRUE;
}

gboolean
kov_ciphertext_check_cms(const guint8 *data, gsize len, const char **why)
{
	const char *dummy;
	gboolean auth;
	return cms_check(data, len, &auth, why != NULL ? why : &dummy);
}

/* ---- MIME --------------------------------------------------------------- */

static guint
fields_named(GMimeObject *object, const char *name)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(object);
	guint n = 0;
	for (int i = 0; list != NULL && i < g_mime_header_list_get_count(list); i++)
		if (g_ascii_strcasecmp(g_mime_header_get_name(g_mime_header_list_get_header_at(list, i)),
		                       name) == 0)
			n++;
	return n;
}

/* @name is one of @allowed (NULL-terminated), ignoring case. */
static gboolean
name_in(const char *name, const char *const *allowed)
{
	for (gsize k = 0; allowed[k] != NULL; k++)
		if (g_ascii_strcasecmp(name, allowed[k]) == 0)
			return TRUE;
	return FALSE;
}

/* Only the Content-* fields named in @allowed (NULL-terminated), each at
 * most once, in @object's header list; other fields only when @others. */
static gboolean
fields_only(GMimeObject *object, const char *const *allowed, gboolean others)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(object);
	for (int i = 0; list != NULL && i < g_mime_header_list_get_count(list); i++) {
		const char *name = g_mime_header_get_name(g_mime_header_list_get_header_at(list, i));
		gboolean content = g_ascii_strncasecmp(name, "Content-", 8) == 0;
		if (!content && others)
			continue;
		if (!name_in(name, allowed))
			return FALSE;
	}
	return TRUE;
}

/* @ct has no parameter but those in @allowed (NULL-terminated). */
static gboolean
params_only(GMimeContentType *ct, const char *const *allowed)
{
	GMimeParamList *params = g_mime_content_type_get_parameters(ct);
	for (int i = 0; i < g_mime_param_list_length(params); i++) {
		const char *name = g_mime_param_get_name(g_mime_param_list_get_parameter_at(params, i));
		if (!name_in(name, allowed))
			return FALSE;
	}
	return TRUE;
}

static gboolean
text_blank(const char *s)
{
	return s == NULL || strspn(s, " \t\r\n") == strlen(s);
}

/* The decoded body of @part. (transfer full) */
static GByteArray *
part_body(GMimePart *part)
{
	GByteArray *out = g_byte_array_new();
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	if (content != NULL) {
		g_autoptr(GMimeStream) mem = g_mime_stream_mem_new_with_byte_array(out);
		g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
		g_mime_data_wrapper_write_to_stream(content, mem);
	}
	return out;
}

/* The Content-Disposition of a canonical part: none, or @value without
 * parameters but filename=@filename. */
static gboolean
disposition_canonical(GMimeObject *object, const char *value, const char *filename)
{
	GMimeContentDisposition *d = g_mime_object_get_content_disposition(object);
	if (d == NULL)
		return fields_named(object, "Content-Disposition") == 0;
	if (g_ascii_strcasecmp(g_mime_content_disposition_get_disposition(d), value) != 0)
		return FALSE;
	GMimeParamList *params = g_mime_content_disposition_get_parameters(d);
	for (int i = 0; i < g_mime_param_list_length(params); i++) {
		GMimeParam *p = g_mime_param_list_get_parameter_at(params, i);
		if (filename == NULL || g_ascii_strcasecmp(g_mime_param_get_name(p), "filename") != 0 ||
		    g_strcmp0(g_mime_param_get_value(p), filename) != 0)
			return FALSE;
	}
	return TRUE;
}

static gboolean
encoding_is(GMimePart *part, GMimeContentEncoding a, GMimeContentEncoding b)
{
	GMimeContentEncoding e = g_mime_part_get_content_encoding(part);
	return e == a || e == b;
}

static const char *const pgp_part_fields[] = {
	"Content-Type", "Content-Transfer-Encoding", "Content-Disposition", NULL
};
static const char *const no_params[] = { NULL };

/* A leaf of a PGP/MIME multipart/encrypted: @subtype, one Content-Type,
 * and (with @canonical) nothing else readable in its header. */
static GMimePart *
pgp_leaf(GMimeObject *object, const char *subtype, gboolean canonical)
{
	if (!GMIME_IS_PART(object) || GMIME_IS_MULTIPART(object) ||
	    !g_mime_content_type_is_type(g_mime_object_get_content_type(object), "application", subtype) ||
	    fields_named(object, "Content-Type") != 1 ||
	    fields_named(object, "Content-Transfer-Encoding") > 1)
		return NULL;
	if (canonical && (!fields_only(object, pgp_part_fields, FALSE) ||
	                  !params_only(g_mime_object_get_content_type(object), no_params) ||
	                  !disposition_canonical(object, "inline", NULL) ||
	                  !encoding_is(GMIME_PART(object), GMIME_CONTENT_ENCODING_DEFAULT,
	                               GMIME_CONTENT_ENCODING_7BIT)))
		return NULL;
	return GMIME_PART(object);
}

static KovCiphertextKind
classify_pgp(GMimeObject *top, gboolean canonical, GByteArray **payload, const char **why)
{
	static const char *const top_params[] = { "protocol", "boundary", NULL };
	GMimeMultipart *mp = GMIME_IS_MULTIPART(top) ? GMIME_MULTIPART(top) : NULL;
	if (mp == NULL || g_mime_multipart_get_count(mp) != 2) {
		*why = "PGP/MIME needs exactly two parts";
		return KOV_CIPHERTEXT_NONE;
	}
	if (canonical && (!params_only(g_mime_object_get_content_type(top), top_params) ||
	                  !(text_blank(g_mime_multipart_get_prologue(mp)) ||
	                    g_strcmp0(g_mime_multipart_get_prologue(mp), KOV_CIPHERTEXT_PGP_PREAMBLE) == 0) ||
	                  !text_blank(g_mime_multipart_get_epilogue(mp)))) {
		*why = "readable text beside the PGP/MIME parts";
		return KOV_CIPHERTEXT_NONE;
	}
	GMimePart *control = pgp_leaf(g_mime_multipart_get_part(mp, 0), "pgp-encrypted", canonical);
	GMimePart *data = pgp_leaf(g_mime_multipart_get_part(mp, 1), "octet-stream", canonical);
	if (control == NULL || data == NULL) {
		*why = "PGP/MIME parts not as RFC 3156 has them";
		return KOV_CIPHERTEXT_NONE;
	}
	g_autoptr(GByteArray) version = part_body(control);
	gsize n = version->len;
	while (n > 0 && strchr(" \t\r\n", version->data[n - 1]) != NULL)
		n--;
	if (n != strlen("Version: 1") || memcmp(version->data, "Version: 1", n) != 0) {
		*why = "the PGP/MIME control part is not \"Version: 1\"";
		return KOV_CIPHERTEXT_NONE;
	}
	g_autoptr(GByteArray) armored = part_body(data);
	g_autoptr(GByteArray) binary =
		kov_ciphertext_dearmor((const char *)armored->data, armored->len, !canonical, why);
	if (binary == NULL || !kov_ciphertext_check_openpgp(binary->data, binary->len, why))
		return KOV_CIPHERTEXT_NONE;
	if (payload != NULL)
		*payload = g_steal_pointer(&binary);
	return KOV_CIPHERTEXT_PGP;
}

static KovCiphertextKind
classify_smime(GMimeObject *top, gboolean canonical, GByteArray **payload, gboolean *auth,
               const char **why)
{
	static const char *const fields[] = {
		"Content-Type", "Content-Transfer-Encoding", "Content-Disposition", NULL
	};
	static const char *const params[] = { "smime-type", "name", NULL };
	GMimeContentType *ct = g_mime_object_get_content_type(top);
	if (!GMIME_IS_PART(top) || GMIME_IS_MULTIPART(top) ||
	    g_mime_part_get_content_encoding(GMIME_PART(top)) != GMIME_CONTENT_ENCODING_BASE64) {
		*why = "S/MIME enveloped data not in base64";
		return KOV_CIPHERTEXT_NONE;
	}
	const char *name = g_mime_content_type_get_parameter(ct, "name");
	if (canonical && (!fields_only(top, fields, TRUE) || !params_only(ct, params) ||
	                  (name != NULL && strcmp(name, "smime.p7m") != 0) ||
	                  !disposition_canonical(top, "attachment", "smime.p7m"))) {
		*why = "readable text beside the S/MIME enveloped data";
		return KOV_CIPHERTEXT_NONE;
	}
	g_autoptr(GByteArray) der = part_body(GMIME_PART(top));
	if (!cms_check(der->data, der->len, auth, why))
		return KOV_CIPHERTEXT_NONE;
	if (payload != NULL)
		*payload = g_steal_pointer(&der);
	return KOV_CIPHERTEXT_SMIME;
}

static KovCiphertextKind
classify(GMimeMessage *message, gboolean canonical, GByteArray **payload, gboolean *auth,
         const char **why)
{
	GMimeObject *top = g_mime_message_get_mime_part(message);
	GMimeContentType *ct = top != NULL ? g_mime_object_get_content_type(top) : NULL;
	*why = NULL;
	if (ct == NULL)
		return KOV_CIPHERTEXT_NONE;
	gboolean pgp = g_mime_content_type_is_type(ct, "multipart", "encrypted");
	gboolean smime = g_mime_content_type_is_type(ct, "application", "pkcs7-mime") ||
	                 g_mime_content_type_is_type(ct, "application", "x-pkcs7-mime");
	if (!pgp && !smime)
		return KOV_CIPHERTEXT_NONE;
	/* GMime moves the top-level Content-* fields to the MIME part; count
	 * in both lists. GMime reads the last of two, most readers the first. */
	GMimeObject *msg = GMIME_OBJECT(message);
	if (fields_named(msg, "Content-Type") + fields_named(top, "Content-Type") != 1 ||
	    fields_named(msg, "Content-Transfer-Encoding") +
	            fields_named(top, "Content-Transfer-Encoding") > 1) {
		*why = "more than one Content-Type or Content-Transfer-Encoding field";
		return KOV_CIPHERTEXT_NONE;
	}
	if (canonical && fields_named(msg, "Content-Description") + fields_named(top, "Content-Description") +
	                         fields_named(top, "Content-ID") + fields_named(msg, "Content-ID") > 0) {
		*why = "readable text beside the ciphertext";
		return KOV_CIPHERTEXT_NONE;
	}
	if (pgp) {
		const char *protocol = g_mime_content_type_get_parameter(ct, "protocol");
		if (protocol == NULL || g_ascii_strcasecmp(protocol, "application/pgp-encrypted") != 0) {
			*why = "multipart/encrypted without protocol=application/pgp-encrypted";
			return KOV_CIPHERTEXT_NONE;
		}
		if (canonical && !fields_only(top, pgp_part_fields, TRUE)) {
			*why = "readable text beside the ciphertext";
			return KOV_CIPHERTEXT_NONE;
		}
		return classify_pgp(top, canonical, payload, why);
	}
	/* Without smime-type it could be opaque signed-data, readable. */
	const char *type = g_mime_content_type_get_parameter(ct, "smime-type");
	if (type == NULL || (g_ascii_strcasecmp(type, "enveloped-data") != 0 &&
	                     g_ascii_strcasecmp(type, "authEnveloped-data") != 0)) {
		*why = "application/pkcs7-mime that is not enveloped-data";
		return KOV_CIPHERTEXT_NONE;
	}
	return classify_smime(top, canonical, payload, auth, why);
}

KovCiphertextKind
kov_ciphertext_classify(GMimeMessage *message, gboolean canonical, GByteArray **payload,
                        const char **why)
{
	g_return_val_if_fail(GMIME_IS_MESSAGE(message), KOV_CIPHERTEXT_NONE);
	const char *dummy;
	gboolean auth = FALSE;
	return classify(message, canonical, payload, &auth, why != NULL ? why : &dummy);
}

/* An application/@subtype part whose content is @stream as it is. */
static GMimePart *
part_from_stream(const char *subtype, GMimeStream *stream, GMimeContentEncoding encoding)
{
	g_autoptr(GMimePart) part = g_mime_part_new_with_type("application", subtype);
	g_autoptr(GMimeDataWrapper) content =
		g_mime_data_wrapper_new_with_stream(stream, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(part, content);
	g_mime_part_set_content_encoding(part, encoding);
	return g_steal_pointer(&part);
}

static GMimePart *
new_part(const char *subtype, const void *data, gsize len, GMimeContentEncoding encoding)
{
	g_autoptr(GMimeStream) stream = g_mime_stream_mem_new_with_buffer(data, len);
	return part_from_stream(subtype, stream, encoding);
}

GMimeObject *
kov_ciphertext_pgp_new(GMimeStream *armored, gboolean preamble)
{
	g_return_val_if_fail(GMIME_IS_STREAM(armored), NULL);
	g_autoptr(GMimePart) control = new_part("pgp-encrypted", "Version: 1\n", 11,
	                                        GMIME_CONTENT_ENCODING_7BIT);
	g_mime_object_set_disposition(GMIME_OBJECT(control), GMIME_DISPOSITION_INLINE);
	g_autoptr(GMimePart) data = part_from_stream("octet-stream", armored, GMIME_CONTENT_ENCODING_7BIT);
	g_mime_object_set_disposition(GMIME_OBJECT(data), GMIME_DISPOSITION_INLINE);
	GMimeMultipartEncrypted *mpe = g_mime_multipart_encrypted_new();
	GMimeMultipart *multipart = GMIME_MULTIPART(mpe);
	g_mime_multipart_set_boundary(multipart, NULL);
	g_mime_object_set_content_type_parameter(GMIME_OBJECT(mpe), "protocol",
	                                         "application/pgp-encrypted");
	if (preamble)
		g_mime_multipart_set_prologue(multipart, KOV_CIPHERTEXT_PGP_PREAMBLE);
	g_mime_multipart_add(multipart, GMIME_OBJECT(control));
	g_mime_multipart_add(multipart, GMIME_OBJECT(data));
	return GMIME_OBJECT(mpe);
}

gboolean
kov_ciphertext_canonicalize(GMimeMessage *message, const char **why)
{
	g_return_val_if_fail(GMIME_IS_MESSAGE(message), FALSE);
	const char *dummy;
	gboolean auth = FALSE;
	g_autoptr(GByteArray) payload = NULL;
	KovCiphertextKind kind = classify(message, FALSE, &payload, &auth, why != NULL ? why : &dummy);
	g_autoptr(GMimeObject) body = NULL;
	if (kind == KOV_CIPHERTEXT_PGP) {
		g_autoptr(GString) armored = armor(payload->data, payload->len);
		g_autoptr(GMimeStream) stream = g_mime_stream_mem_new_with_buffer(armored->str, armored->len);
		body = kov_ciphertext_pgp_new(stream, FALSE);
	} else if (kind == KOV_CIPHERTEXT_SMIME) {
		GMimePart *part = new_part("pkcs7-mime", payload->data, payload->len,
		                           GMIME_CONTENT_ENCODING_BASE64);
		body = GMIME_OBJECT(part);
		g_mime_object_set_content_type_parameter(body, "smime-type",
		                                         auth ? "authEnveloped-data" : "enveloped-data");
		g_mime_object_set_content_type_parameter(body, "name", "smime.p7m");
		g_mime_object_set_disposition(body, GMIME_DISPOSITION_ATTACHMENT);
		g_mime_object_set_content_disposition_parameter(body, "filename", "smime.p7m");
	} else
		return FALSE;
	/* Any Content-* field left in the message's own list goes too. */
	GMimeHeaderList *headers = g_mime_object_get_header_list(GMIME_OBJECT(message));
	for (int i = g_mime_header_list_get_count(headers); i-- > 0;)
		if (g_ascii_strncasecmp(g_mime_header_get_name(g_mime_header_list_get_header_at(headers, i)),
		                        "Content-", 8) == 0)
			g_mime_header_list_remove_at(headers, i);
	g_mime_message_set_mime_part(message, body);
	return TRUE;
}
