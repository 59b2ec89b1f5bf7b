/* SPDX-License-Identifier: GPL-3.0-or-later */
/* One queued mail read with GMime from a file-backed stream (bodies stay in
 * the file), its envelope worked out by the precedence X-Kuvert-To/-From >
 * Delivered-To/Return-Path > To/Cc/Bcc/From, what Kuvert's decision reads
 * from it (in-address directives, X-Kuvert, Resent-To), and the clean-up
 * of private headers. Addresses are parsed from raw header values with
 * GMime, so an encoded-word can never smuggle CR/LF into an envelope
 * address; a directive is told from a quoted name by the raw text only. */
#include "message.h"
#include "ciphertext.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gmime-autoptr.h"
#include "error.h"

void
kov_message_free(KovMail *mail)
{
	if (mail == NULL)
		return;
	g_clear_object(&mail->message);
	g_free(mail->sender);
	g_free(mail->from);
	g_free(mail->from_key);
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

/* ---- addresses ---------------------------------------------------------- */

/* A sane envelope address: local@domain, both non-empty, valid UTF-8, no
 * control characters (no CR/LF to break SMTP), whitespace only as the
 * space RFC 5321 allows inside a quoted local part, no leading
 * '-' (it would become an option of a sendmail program), and nothing that
 * looks like an RFC 2047 encoded-word: never valid in an addr-spec (RFC
 * 2047 section 5), and some servers decode it there (aiosmtpd turns
 * <=?utf-8?q?a=0D=0Ab?=@x> into "a\r\nb"@x in its envelope). */
static gboolean
address_is_sane(const char *addr)
{
	if (addr == NULL || *addr == '\0' || *addr == '-')
		return FALSE;
	if (!g_utf8_validate(addr, -1, NULL))
		return FALSE;
	const char *word = strstr(addr, "=?");
	if (word != NULL && strstr(word + 2, "?=") != NULL)
		return FALSE;
	const char *at = strrchr(addr, '@');
	if (at == NULL || at == addr || at[1] == '\0')
		return FALSE;
	/* "john doe"@example.org: qtextSMTP includes the space (4.1.2). */
	gboolean quoted = addr[0] == '"' && at - addr >= 2 && at[-1] == '"';
	for (const unsigned char *p = (const unsigned char *)addr; *p; p++) {
		gboolean space_ok = *p == ' ' && quoted && p < (const unsigned char *)at;
		if ((*p <= ' ' && !space_ok) || *p == 0x7f)
			return FALSE;
	}
	return TRUE;
}

/* A printable rendering of a bad address for an error message. */
static char *
address_for_error(const char *addr)
{
	return g_strescape(addr, NULL);
}

/* Lower-cased copy of a sane @addr, or NULL with DATAERR naming @what. */
static char *
address_normalize(const char *addr, const char *what, GError **error)
{
	if (!address_is_sane(addr)) {
		g_autofree char *shown = address_for_error(addr ? addr : "");
		g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR,
		            "bad address in %s: \"%s\"", what, shown);
		return NULL;
	}
	return g_ascii_strdown(addr, -1);
}

/* Append the addr-spec of every mailbox in @list to @out, groups flattened
 * (so "undisclosed-recipients:;" adds nobody). */
static void
flatten_addresses(InternetAddressList *list, GPtrArray *out)
{
	int n = internet_address_list_length(list);
	for (int i = 0; i < n; i++) {
		InternetAddress *ia = internet_address_list_get_address(list, i);
		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			flatten_addresses(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)), out);
		} else if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
			const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
			g_ptr_array_add(out, g_strdup(addr ? addr : ""));
		}
	}
}

/* The fields of @headers, in order (borrowed), to read like a block. */
static GPtrArray *
list_fields(GMimeHeaderList *headers)
{
	int n = g_mime_header_list_get_count(headers);
	GPtrArray *fields = g_ptr_array_sized_new(n);
	for (int i = 0; i < n; i++)
		g_ptr_array_add(fields, g_mime_header_list_get_header_at(headers, i));
	return fields;
}

/* The raw addresses of every field called @name in @fields (of
 * GMimeHeader*; all of them, or only the first one with @first_only), in
 * order. Parsed from the raw value: GMime's decoded value has
 * encoded-words expanded, CR/LF included. */
static GPtrArray *
fields_addresses(GPtrArray *fields, const char *name, gboolean first_only,
                 GMimeParserOptions *options)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < fields->len; i++) {
		GMimeHeader *h = g_ptr_array_index(fields, i);
		if (g_ascii_strcasecmp(g_mime_header_get_name(h), name) != 0)
			continue;
		const char *raw = g_mime_header_get_raw_value(h);
		g_autoptr(InternetAddressList) list = raw ? internet_address_list_parse(options, raw) : NULL;
		if (list != NULL)
			flatten_addresses(list, out);
		if (first_only)
			break;
	}
	return out;
}

static GPtrArray *
header_addresses(GMimeHeaderList *headers, const char *name, gboolean first_only,
                 GMimeParserOptions *options)
{
	g_autoptr(GPtrArray) fields = list_fields(headers);
	return fields_addresses(fields, name, first_only, options);
}

/* The raw value of the first field called @name in @fields, trimmed; NULL
 * if none. */
static char *
fields_first_value(GPtrArray *fields, const char *name)
{
	for (guint i = 0; i < fields->len; i++) {
		GMimeHeader *h = g_ptr_array_index(fields, i);
		if (g_ascii_strcasecmp(g_mime_header_get_name(h), name) == 0) {
			const char *raw = g_mime_header_get_raw_value(h);
			return g_strstrip(g_strdup(raw ? raw : ""));
		}
	}
	return NULL;
}

static char *
header_first_value(GMimeHeaderList *headers, const char *name)
{
	g_autoptr(GPtrArray) fields = list_fields(headers);
	return fields_first_value(fields, name);
}

static void
remove_headers(GMimeHeaderList *headers, gboolean (*match)(const char *name))
{
	for (int i = g_mime_header_list_get_count(headers) - 1; i >= 0; i--) {
		GMimeHeader *h = g_mime_header_list_get_header_at(headers, i);
		if (match(g_mime_header_get_name(h)))
			g_mime_header_list_remove_at(headers, i);
	}
}

/* ---- envelope ----------------------------------------------------------- */

static gboolean
is_envelope_header(const char *name)
{
	return g_ascii_strcasecmp(name, "X-Kuvert-From") == 0 ||
	       g_ascii_strcasecmp(name, "X-Kuvert-To") == 0;
}

/* What a delivery agent writes on top of the mail it puts into a Maildir. */
static gboolean
is_delivery_header(const char *name)
{
	return g_ascii_strcasecmp(name, "Return-Path") == 0 ||
	       g_ascii_strcasecmp(name, "Delivered-To") == 0 ||
	       g_ascii_strcasecmp(name, "X-Original-To") == 0;
}

static gint
field_offset_cmp(gconstpointer a, gconstpointer b)
{
	gint64 x = g_mime_header_get_offset(*(GMimeHeader *const *)a);
	gint64 y = g_mime_header_get_offset(*(GMimeHeader *const *)b);
	return x < y ? -1 : x > y;
}

/* The top-level header fields in file order (borrowed): the message's own
 * and those GMime gave its MIME part (Content-*), interleaved in the file. */
static GPtrArray *
top_fields(GMimeMessage *message)
{
	GPtrArray *fields = list_fields(g_mime_object_get_header_list(GMIME_OBJECT(message)));
	GMimeObject *part = g_mime_message_get_mime_part(message);
	if (part != NULL) {
		GMimeHeaderList *more = g_mime_object_get_header_list(part);
		for (int i = 0; i < g_mime_header_list_get_count(more); i++)
			g_ptr_array_add(fields, g_mime_header_list_get_header_at(more, i));
	}
	g_ptr_array_sort(fields, field_offset_cmp);
	return fields;
}

/* Who wrote which field. Only what the writer of the file put on top of
 * the mail is its envelope: first the X-Kuvert-From/-To block that koverto
 * submit, kuvert_submit, Kuvert's listener and koverto's own rewrite of a
 * parked mail write, then the Return-Path/Delivered-To lines a delivery
 * agent writes. The same names further down are the mail's own, written
 * by whoever sent it, and count for nothing. One definition of "the
 * field is X" for reader and rewriter: GMime's (case-insensitive, blanks
 * before the colon allowed, continuation lines included). */
typedef struct {
	GPtrArray *all;       /* every top-level field in file order (borrowed) */
	guint n_envelope;     /* all[0 .. n_envelope) is the envelope block */
	guint n_delivery;     /* then all[.. + n_delivery) the delivery block */
} Blocks;

static void
blocks_init(Blocks *b, GMimeMessage *message, gboolean mail_only)
{
	b->all = top_fields(message);
	b->n_envelope = 0;
	b->n_delivery = 0;
	guint i = 0;
	while (!mail_only && i < b->all->len
	       && is_envelope_header(g_mime_header_get_name(g_ptr_array_index(b->all, i))))
		i++;
	b->n_envelope = i;
	while (i < b->all->len && is_delivery_header(g_mime_header_get_name(g_ptr_array_index(b->all, i))))
		i++;
	b->n_delivery = i - b->n_envelope;
}

/* A block as an array of its own (borrowed fields). */
static GPtrArray *
blocks_slice(const Blocks *b, guint from, guint n)
{
	GPtrArray *out = g_ptr_array_sized_new(n);
	for (guint i = from; i < from + n; i++)
		g_ptr_array_add(out, g_ptr_array_index(b->all, i));
	return out;
}

/* The envelope sender named by the first field @name of @block: "" for
 * "<>", a bare lower-case address, NULL (no error) when there is no such
 * field or it is empty; NULL with DATAERR when it names something unusable. */
static char *
envelope_sender(GPtrArray *block, const char *name, GMimeParserOptions *options, GError **error)
{
	g_autofree char *value = fields_first_value(block, name);
	if (value == NULL || *value == '\0')
		return NULL;
	if (strcmp(value, "<>") == 0)
		return g_strdup("");
	g_autoptr(GPtrArray) addrs = fields_addresses(block, name, TRUE, options);
	if (addrs->len == 0) {
		g_autofree char *shown = address_for_error(value);
		g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR,
		            "bad address in %s: \"%s\"", name, shown);
		return NULL;
	}
	return address_normalize(g_ptr_array_index(addrs, 0), name, error);
}

/* Lower-case address -> role as the headers show it. To before Cc (the
 * first one seen), Bcc over both, as Kuvert does. Not validated: these only
 * give roles to envelope recipients, or are validated when they are the
 * recipients themselves. */
static void
add_roles(GHashTable *roles, GPtrArray *order, GPtrArray *addrs, KovRole role)
{
	for (guint i = 0; i < addrs->len; i++) {
		char *lower = g_ascii_strdown(g_ptr_array_index(addrs, i), -1);
		if (g_hash_table_contains(roles, lower)) {
			if (role == KOV_ROLE_BCC)
				g_hash_table_insert(roles, lower, GINT_TO_POINTER(role));
			else
				g_free(lower);
			continue;
		}
		g_hash_table_insert(roles, lower, GINT_TO_POINTER(role));
		g_ptr_array_add(order, g_ptr_array_index(addrs, i));
	}
}

/* Append a recipient unless already there (@seen holds the addresses). */
static void
add_recipient(GPtrArray *recipients, GHashTable *seen, char *lower, KovRole role)
{
	if (g_hash_table_contains(seen, lower)) {
		g_free(lower);
		return;
	}
	KovRecipient *r = g_new0(KovRecipient, 1);
	r->address = lower;
	r->role = role;
	g_hash_table_add(seen, r->address);
	g_ptr_array_add(recipients, r);
}

/* Stable order by role: To, then Cc, then Bcc, first appearance within. */
static GPtrArray *
order_by_role(GPtrArray *recipients)
{
	GPtrArray *sorted = g_ptr_array_new_full(recipients->len, kov_recipient_free);
	for (int role = KOV_ROLE_TO; role <= KOV_ROLE_BCC; role++) {
		for (guint i = 0; i < recipients->len; i++) {
			KovRecipient *r = g_ptr_array_index(recipients, i);
			if ((int)r->role == role)
				g_ptr_array_add(sorted, r);
		}
	}
	g_ptr_array_set_free_func(recipients, NULL);
	g_ptr_array_unref(recipients);
	return sorted;
}

static gboolean
fields_contain(GPtrArray *fields, const char *name)
{
	for (guint i = 0; i < fields->len; i++)
		if (g_ascii_strcasecmp(g_mime_header_get_name(g_ptr_array_index(fields, i)), name) == 0)
			return TRUE;
	return FALSE;
}

/* The explicit envelope recipients (raw), NULL when there is none: every
 * X-Kuvert-To of the envelope block (Kuvert's queue format; present but
 * empty means nobody), else the topmost Delivered-To of the delivery
 * block when the queue asks for it. *@name says which header it was. */
static GPtrArray *
envelope_recipients(const Blocks *blocks, const KovMessageOptions *options,
                    GMimeParserOptions *popts, const char **name)
{
	g_autoptr(GPtrArray) envelope = blocks_slice(blocks, 0, blocks->n_envelope);
	g_autoptr(GPtrArray) delivery = blocks_slice(blocks, blocks->n_envelope, blocks->n_delivery);
	if (options->mail_only && options->recipients != NULL) {
		*name = "the given envelope";
		GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
		for (const char *const *r = options->recipients; *r != NULL; r++)
			g_ptr_array_add(out, g_strdup(*r));
		return out;
	}
	if (fields_contain(envelope, "X-Kuvert-To")) {
		*name = "X-Kuvert-To";
		return fields_addresses(envelope, *name, FALSE, popts);
	}
	if (options->use_delivered_to && fields_contain(delivery, "Delivered-To")) {
		*name = "Delivered-To";
		return fields_addresses(delivery, *name, TRUE, popts);
	}
	return NULL;
}

/* Work out mail->recipients and mail->envelope_given. */
static gboolean
load_recipients(KovMail *mail, GMimeHeaderList *headers, const Blocks *blocks,
                const KovMessageOptions *options, GMimeParserOptions *popts, GError **error)
{
	g_autoptr(GPtrArray) to = header_addresses(headers, "To", FALSE, popts);
	g_autoptr(GPtrArray) cc = header_addresses(headers, "Cc", FALSE, popts);
	g_autoptr(GPtrArray) bcc = header_addresses(headers, "Bcc", FALSE, popts);
	g_autoptr(GHashTable) roles = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GPtrArray) header_order = g_ptr_array_new();  /* borrowed from to/cc/bcc */
	add_roles(roles, header_order, to, KOV_ROLE_TO);
	add_roles(roles, header_order, cc, KOV_ROLE_CC);
	add_roles(roles, header_order, bcc, KOV_ROLE_BCC);

	const char *envelope_name = NULL;
	g_autoptr(GPtrArray) envelope = envelope_recipients(blocks, options, popts, &envelope_name);
	mail->envelope_given = envelope != NULL;

	GPtrArray *recipients = g_ptr_array_new_with_free_func(kov_recipient_free);
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	GPtrArray *source = envelope != NULL ? envelope : header_order;
	const char *what = envelope != NULL ? envelope_name : "To/Cc/Bcc";
	for (guint i = 0; i < source->len; i++) {
		char *lower = address_normalize(g_ptr_array_index(source, i), what, error);
		if (lower == NULL) {
			g_ptr_array_unref(recipients);
			return FALSE;
		}
		gpointer role;
		if (!g_hash_table_lookup_extended(roles, lower, NULL, &role))
			role = GINT_TO_POINTER(KOV_ROLE_BCC);  /* envelope only: blind */
		add_recipient(recipients, seen, lower, (KovRole)GPOINTER_TO_INT(role));
	}
	mail->recipients = order_by_role(recipients);
	if (mail->recipients->len == 0) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR, "no recipients%s%s",
		            envelope_name ? " in " : "", envelope_name ? envelope_name : "");
		return FALSE;
	}
	return TRUE;
}

/* Exactly one From field holding exactly one mailbox (no group): a sender
 * that can be checked against a queue's senders. */
static gboolean
from_is_single(GMimeHeaderList *headers, GMimeParserOptions *popts)
{
	const char *raw = NULL;
	int n = g_mime_header_list_get_count(headers);
	for (int i = 0; i < n; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(headers, i);
		if (g_ascii_strcasecmp(g_mime_header_get_name(h), "From") != 0)
			continue;
		if (raw != NULL)
			return FALSE;
		raw = g_mime_header_get_raw_value(h);
		if (raw == NULL)
			return FALSE;
	}
	if (raw == NULL)
		return FALSE;
	g_autoptr(InternetAddressList) list = internet_address_list_parse(popts, raw);
	return list != NULL && internet_address_list_length(list) == 1
	       && INTERNET_ADDRESS_IS_MAILBOX(internet_address_list_get_address(list, 0));
}

/* Work out mail->from and mail->sender. */
static gboolean
load_sender(KovMail *mail, GMimeHeaderList *headers, const Blocks *blocks,
            const KovMessageOptions *options, GMimeParserOptions *popts, GError **error)
{
	g_autoptr(GPtrArray) from = header_addresses(headers, "From", TRUE, popts);
	if (from->len > 0) {
		/* Checked even when an envelope sender is given: From selects the
		 * signing key and is matched against a queue's allowed senders. */
		mail->from = address_normalize(g_ptr_array_index(from, 0), "From", error);
		if (mail->from == NULL)
			return FALSE;
	}
	mail->from_single = mail->from != NULL && from_is_single(headers, popts);

	GError *local = NULL;
	g_autoptr(GPtrArray) envelope = blocks_slice(blocks, 0, blocks->n_envelope);
	g_autoptr(GPtrArray) delivery = blocks_slice(blocks, blocks->n_envelope, blocks->n_delivery);
	if (options->mail_only && options->sender != NULL)
		mail->sender = *options->sender == '\0'
			? g_strdup("") : address_normalize(options->sender, "the given envelope", &local);
	else
		mail->sender = envelope_sender(envelope, "X-Kuvert-From", popts, &local);
	if (mail->sender == NULL && local == NULL && options->use_delivered_to)
		mail->sender = envelope_sender(delivery, "Return-Path", popts, &local);
	if (local != NULL) {
		g_propagate_error(error, local);
		return FALSE;
	}
	mail->sender_given = mail->sender != NULL;
	if (mail->sender == NULL && mail->from != NULL)
		mail->sender = g_strdup(mail->from);
	if (mail->sender == NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR,
		            "no sender: no From header and no envelope sender");
		return FALSE;
	}
	return TRUE;
}

/* ---- directives ------------------------------------------------------- */

static gboolean
is_directive(const char *text)
{
	g_autofree char *lower = g_ascii_strdown(text, -1);
	return strstr(lower, "action=") != NULL || strstr(lower, "key=") != NULL;
}

/* The unquoted text of every quoted-string in the raw header value @raw
 * that holds a Kuvert directive (kuvert-reference 6.2). GMime hands out
 * display names already unquoted, so only the raw text tells a directive
 * ("action=...") from a quoted name ("Doe, Bob"). Comments are skipped:
 * a quote inside parentheses starts nothing. */
static GPtrArray *
find_directives(const char *raw)
{
	GPtrArray *found = g_ptr_array_new_with_free_func(g_free);
	int comment = 0;
	for (const char *p = raw; *p != '\0'; p++) {
		if (comment > 0) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '(')
				comment++;
			else if (*p == ')')
				comment--;
			continue;
		}
		if (*p == '(') {
			comment = 1;
			continue;
		}
		if (*p != '"')
			continue;
		GString *text = g_string_new(NULL);
		for (p++; *p != '\0' && *p != '"'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			if (*p != '\r' && *p != '\n')  /* unfold */
				g_string_append_c(text, *p);
		}
		if (is_directive(text->str))
			g_ptr_array_add(found, g_string_free(text, FALSE));
		else
			g_string_free(text, TRUE);
		if (*p == '\0')
			break;
	}
	return found;
}

/* What one directive text says (kuvert-reference 6.2): "action=" one of
 * the five actions (mustencrypt too, which Kuvert ignored), "key=" a hex
 * key ID; in any order, separated by anything, in any case. Anything else
 * in it has no effect, as in Kuvert. */
typedef struct {
	gboolean has_action;
	KovAction action;
	char *key;
} Directive;

static void
directive_parse(const char *text, Directive *out)
{
	g_autoptr(GRegex) action_re = g_regex_new(
		"\\baction=(none|signonly|fallback-all|fallback|mustencrypt)(?![\\w-])",
		G_REGEX_CASELESS, 0, NULL);
	g_autoptr(GRegex) key_re = g_regex_new("\\bkey=((?:0x)?[0-9a-f]+)(?!\\w)", G_REGEX_CASELESS,
	                                       0, NULL);
	g_autoptr(GMatchInfo) match = NULL;
	if (g_regex_match(action_re, text, 0, &match)) {
		g_autofree char *name = g_match_info_fetch(match, 1);
		g_autofree char *lower = g_ascii_strdown(name, -1);
		out->has_action = kov_policy_action_parse(lower, &out->action);
	}
	g_clear_pointer(&match, g_match_info_free);
	if (g_regex_match(key_re, text, 0, &match))
		out->key = g_match_info_fetch(match, 1);
}

/* The directive of the mailbox @ia whose header's raw value held the
 * quoted directive texts @found: GMime hands out the display name
 * unquoted, with the directive inside it. */
static gboolean
mailbox_directive(InternetAddress *ia, GPtrArray *found, Directive *out)
{
	const char *name = internet_address_get_name(ia);
	if (name == NULL)
		return FALSE;
	for (guint i = 0; i < found->len; i++) {
		const char *text = g_ptr_array_index(found, i);
		if (*text != '\0' && strstr(name, text) != NULL) {
			directive_parse(text, out);
			return TRUE;
		}
	}
	return FALSE;
}

typedef struct {
	GHashTable *by_address;   /* lower-case address -> Directive* (first one wins) */
	GPtrArray *found;         /* directive texts of the header at hand */
	char *first_key;          /* with @want_first: key= of the first mailbox */
	gboolean want_first, seen_first;
} DirectiveScan;

static void
directive_free(gpointer data)
{
	Directive *d = data;
	g_free(d->key);
	g_free(d);
}

static void
scan_list(DirectiveScan *scan, InternetAddressList *list)
{
	int n = internet_address_list_length(list);
	for (int i = 0; i < n; i++) {
		InternetAddress *ia = internet_address_list_get_address(list, i);
		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			scan_list(scan, internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)));
			continue;
		}
		if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
			continue;
		gboolean first = scan->want_first && !scan->seen_first;
		scan->seen_first = TRUE;
		Directive d = { 0 };
		if (!mailbox_directive(ia, scan->found, &d))
			continue;
		if (first) {
			scan->first_key = g_steal_pointer(&d.key);
			continue;
		}
		const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
		char *lower = g_ascii_strdown(addr ? addr : "", -1);
		if (!g_hash_table_contains(scan->by_address, lower) && (d.has_action || d.key != NULL)) {
			g_hash_table_insert(scan->by_address, lower, g_memdup2(&d, sizeof d));
			continue;
		}
		g_free(lower);
		g_free(d.key);
	}
}

/* Scan every header called @name (only the first with @first_only). */
static void
scan_headers(DirectiveScan *scan, GMimeHeaderList *headers, const char *name,
             gboolean first_only, GMimeParserOptions *popts)
{
	int n = g_mime_header_list_get_count(headers);
	for (int i = 0; i < n; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(headers, i);
		if (g_ascii_strcasecmp(g_mime_header_get_name(h), name) != 0)
			continue;
		const char *raw = g_mime_header_get_raw_value(h);
		scan->found = raw ? find_directives(raw) : g_ptr_array_new_with_free_func(g_free);
		g_autoptr(InternetAddressList) list =
			raw && scan->found->len > 0 ? internet_address_list_parse(popts, raw) : NULL;
		if (list != NULL)
			scan_list(scan, list);
		g_clear_pointer(&scan->found, g_ptr_array_unref);
		if (first_only)
			break;
	}
}

/* Give each recipient its directive from To, Cc or Bcc, and the mail the
 * signing key from the first From address. */
static void
load_directives(KovMail *mail, GMimeHeaderList *headers, GMimeParserOptions *popts)
{
	DirectiveScan scan = {
		.by_address = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, directive_free),
		.want_first = TRUE,
	};
	/* Kuvert: only the first From address's key= counts. */
	scan_headers(&scan, headers, "From", TRUE, popts);
	mail->from_key = g_steal_pointer(&scan.first_key);
	g_hash_table_remove_all(scan.by_address);

	scan.want_first = FALSE;
	static const char *const names[] = { "To", "Cc", "Bcc" };
	for (gsize i = 0; i < G_N_ELEMENTS(names); i++)
		scan_headers(&scan, headers, names[i], FALSE, popts);
	for (guint i = 0; i < mail->recipients->len; i++) {
		KovRecipient *r = g_ptr_array_index(mail->recipients, i);
		Directive *d = g_hash_table_lookup(scan.by_address, r->address);
		if (d == NULL)
			continue;
		r->has_directive_action = d->has_action;
		r->directive_action = d->action;
		r->directive_key = g_strdup(d->key);
	}
	g_hash_table_unref(scan.by_address);
}

/* ---- X-Kuvert and Resent-To ------------------------------------------- */

/* The first X-Kuvert header, as Kuvert reads it: trimmed, lower-cased,
 * and only if it is exactly an action name. */
static void
load_x_kuvert(KovMail *mail, GMimeHeaderList *headers)
{
	g_autofree char *value = header_first_value(headers, "X-Kuvert");
	if (value == NULL)
		return;
	g_autofree char *lower = g_ascii_strdown(value, -1);
	mail->has_x_kuvert = kov_policy_action_parse(lower, &mail->x_kuvert);
}

/* The addresses of the first header @name, checked like any recipient's,
 * lower case, without duplicates, added to @into (of char*). */
static gboolean
load_resent_header(GPtrArray *into, GMimeHeaderList *headers, const char *name,
                   GMimeParserOptions *popts, GError **error)
{
	g_autoptr(GPtrArray) raw = header_addresses(headers, name, TRUE, popts);
	for (guint i = 0; i < raw->len; i++) {
		char *lower = address_normalize(g_ptr_array_index(raw, i), name, error);
		if (lower == NULL)
			return FALSE;
		if (g_ptr_array_find_with_equal_func(into, lower, g_str_equal, NULL))
			g_free(lower);
		else
			g_ptr_array_add(into, lower);
	}
	return TRUE;
}

/* A bounce: Resent-To (with Resent-Cc and Resent-Bcc, and Resent-From as
 * the resender), when no explicit envelope names the recipients. */
static gboolean
load_resent_to(KovMail *mail, GMimeHeaderList *headers, GMimeParserOptions *popts,
               GError **error)
{
	if (mail->envelope_given || !g_mime_header_list_contains(headers, "Resent-To"))
		return TRUE;
	g_autoptr(GPtrArray) to = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) bcc = g_ptr_array_new_with_free_func(g_free);
	if (!load_resent_header(to, headers, "Resent-To", popts, error)
	    || !load_resent_header(to, headers, "Resent-Cc", popts, error)
	    || !load_resent_header(bcc, headers, "Resent-Bcc", popts, error))
		return FALSE;
	g_autoptr(GPtrArray) from = header_addresses(headers, "Resent-From", TRUE, popts);
	if (from->len > 0) {
		mail->resent_from = address_normalize(g_ptr_array_index(from, 0), "Resent-From", error);
		if (mail->resent_from == NULL)
			return FALSE;
	}
	mail->resent_to = g_steal_pointer(&to);
	mail->resent_bcc = g_steal_pointer(&bcc);
	return TRUE;
}

/* ---- load --------------------------------------------------------------- */

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
	Blocks blocks;
	blocks_init(&blocks, mail->message, options->mail_only);
	gboolean ok = load_recipients(mail, headers, &blocks, options, popts, error)
	              && load_sender(mail, headers, &blocks, options, popts, error)
	              && load_resent_to(mail, headers, popts, error);
	g_ptr_array_unref(blocks.all);
	if (!ok)
		return NULL;
	load_directives(mail, headers, popts);
	load_x_kuvert(mail, headers);
	/* Read once, gone: the pseudo-headers must never leave, neither the
	 * envelope's nor those in the mail's own header, which never count. */
	remove_headers(headers, is_envelope_header);
	/* From the bytes, never the label; rewrapped by koverto when it is. */
	mail->already_encrypted = kov_ciphertext_canonicalize(mail->message, &mail->not_ciphertext);
	return g_steal_pointer(&mail);
}

/* ---- rewrite the envelope ------------------------------------------------ */

static gboolean
write_all(int fd, const char *data, gsize len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return FALSE;
		}
		data += n;
		len -= (gsize)n;
	}
	return TRUE;
}

/* Copy bytes [@from, @to) of @in to @out. */
static gboolean
copy_range(int in, gint64 from, gint64 to, int out)
{
	char buf[65536];
	while (from < to) {
		gsize want = MIN((gint64)sizeof buf, to - from);
		ssize_t n = pread(in, buf, want, from);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;  /* the file shrank under us */
			return FALSE;
		}
		if (!write_all(out, buf, (gsize)n))
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
	Blocks blocks;
	blocks_init(&blocks, message, !keep_sender);
	int in = given >= 0 ? fcntl(given, F_DUPFD_CLOEXEC, 0) : open(path, O_RDONLY | O_CLOEXEC);
	gboolean ok = in >= 0 && (envelope == NULL || write_all(fd, envelope, strlen(envelope)));
	gint64 at = 0;
	for (guint i = 0; ok && i < blocks.all->len; i++) {
		GMimeHeader *h = g_ptr_array_index(blocks.all, i);
		const char *name = g_mime_header_get_name(h);
		if (!is_envelope_header(name))
			continue;
		if (i < blocks.n_envelope && g_ascii_strcasecmp(name, "X-Kuvert-From") == 0)
			continue;  /* the sender stays */
		/* A field runs to the next one, continuation lines and lines
		 * GMime skipped included, or to the end of the header. */
		gint64 start = g_mime_header_get_offset(h);
		gint64 end = i + 1 < blocks.all->len
			? g_mime_header_get_offset(g_ptr_array_index(blocks.all, i + 1))
			: headers_end >= 0 ? headers_end : size;
		ok = copy_range(in, at, start, fd);
		at = end;
	}
	ok = ok && copy_range(in, at, size, fd);
	int err = errno;
	g_ptr_array_unref(blocks.all);
	if (in >= 0)
		close(in);
	if (!ok)
		kov_error_set_errno(error, err, "cannot rewrite the envelope of %s", path);
	return ok;
}

/* ---- strip -------------------------------------------------------------- */

static gboolean
is_private_header(const char *name)
{
	return g_ascii_strcasecmp(name, "Bcc") == 0 ||
	       g_ascii_strcasecmp(name, "Resent-Bcc") == 0 ||
	       g_ascii_strcasecmp(name, "Delivered-To") == 0 ||
	       g_ascii_strcasecmp(name, "Return-Path") == 0 ||
	       g_ascii_strncasecmp(name, "X-Kuvert", strlen("X-Kuvert")) == 0;
}

gboolean
kov_message_field_name_valid(const char *name)
{
	if (name == NULL || *name == '\0')
		return FALSE;
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == ':')
			return FALSE;
	return TRUE;
}

static gboolean
is_invalid_field_name(const char *name)
{
	return !kov_message_field_name_valid(name);
}

static gboolean
is_directive_header(const char *name)
{
	return g_ascii_strcasecmp(name, "From") == 0 ||
	       g_ascii_strcasecmp(name, "To") == 0 ||
	       g_ascii_strcasecmp(name, "Cc") == 0;
}

/* @name without every directive text in @directives; NULL when nothing of
 * a name is left. */
static char *
name_without_directives(const char *name, GPtrArray *directives)
{
	char *result = g_strdup(name);
	for (guint i = 0; i < directives->len; i++) {
		const char *d = g_ptr_array_index(directives, i);
		char *at;
		while (*d != '\0' && (at = strstr(result, d)) != NULL) {
			g_autofree char *head = g_strndup(result, at - result);
			g_autofree char *tail = g_strdup(at + strlen(d));
			g_strchomp(head);
			g_strchug(tail);
			char *joined = g_strconcat(head, *head && *tail ? " " : "", tail, NULL);
			g_free(result);
			result = joined;
		}
	}
	g_strstrip(result);
	if (*result == '\0')
		g_clear_pointer(&result, g_free);
	return result;
}

static void
strip_names(InternetAddressList *list, GPtrArray *directives)
{
	int n = internet_address_list_length(list);
	for (int i = 0; i < n; i++) {
		InternetAddress *ia = internet_address_list_get_address(list, i);
		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			strip_names(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)), directives);
			continue;
		}
		const char *name = internet_address_get_name(ia);
		if (name == NULL || *name == '\0')
			continue;
		g_autofree char *stripped = name_without_directives(name, directives);
		internet_address_set_name(ia, stripped);
	}
}

static void
forget_charsets(InternetAddressList *list)
{
	for (int i = 0; i < internet_address_list_length(list); i++) {
		InternetAddress *ia = internet_address_list_get_address(list, i);
		internet_address_set_charset(ia, NULL);
		if (INTERNET_ADDRESS_IS_GROUP(ia))
			forget_charsets(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)));
	}
}

void
kov_message_set_addresses(GMimeHeader *header, InternetAddressList *list)
{
	g_return_if_fail(GMIME_IS_HEADER(header) && IS_INTERNET_ADDRESS_LIST(list));
	forget_charsets(list);
	/* The name and ": " first: GMime folds counting what precedes. */
	g_autoptr(GString) text = g_string_new(g_mime_header_get_name(header));
	g_string_append_c(text, ':');
	gsize value_at = text->len;
	g_string_append_c(text, ' ');
	internet_address_list_encode(list, NULL, text);
	g_mime_header_set_raw_value(header, text->str + value_at);
}

/* Rewrite one From/To/Cc header without its directives. Headers without a
 * directive are left alone, byte for byte (no needless re-folding). FALSE
 * when nothing of it is left to write. */
static gboolean
strip_directives(GMimeHeader *header, GMimeParserOptions *popts)
{
	const char *raw = g_mime_header_get_raw_value(header);
	if (raw == NULL)
		return TRUE;
	g_autoptr(GPtrArray) directives = find_directives(raw);
	if (directives->len == 0)
		return TRUE;
	g_autoptr(InternetAddressList) list = internet_address_list_parse(popts, raw);
	if (list == NULL)
		return TRUE;
	strip_names(list, directives);
	if (internet_address_list_length(list) == 0)
		return FALSE;
	kov_message_set_addresses(header, list);
	return TRUE;
}

void
kov_message_strip_private_headers(GMimeMessage *message)
{
	g_return_if_fail(GMIME_IS_MESSAGE(message));
	GMimeHeaderList *headers = g_mime_object_get_header_list(GMIME_OBJECT(message));
	remove_headers(headers, is_private_header);
	/* Written as they came, they would start a line with a space (a
	 * continuation of nothing) or no header at all. */
	remove_headers(headers, is_invalid_field_name);
	GMimeObject *part = g_mime_message_get_mime_part(message);
	if (part != NULL)
		remove_headers(g_mime_object_get_header_list(part), is_invalid_field_name);
	g_autoptr(GMimeParserOptions) popts = g_mime_parser_options_new();
	for (int i = g_mime_header_list_get_count(headers) - 1; i >= 0; i--) {
		GMimeHeader *h = g_mime_header_list_get_header_at(headers, i);
		if (is_directive_header(g_mime_header_get_name(h)) && !strip_directives(h, popts))
			g_mime_header_list_remove_at(headers, i);
	}
}

/* ---- write ------------------------------------------------------------ */

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
