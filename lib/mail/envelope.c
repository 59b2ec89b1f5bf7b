/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A mail's envelope by precedence: X-Kuvert-To/-From > Delivered-To/
 * Return-Path > To/Cc/Bcc/From, with each recipient's role as the headers
 * show it, and a bounce's Resent-To. Only the fields the file's writer put
 * on top count (the blocks below); every address passes
 * kov_address_normalize(), so none can carry CR/LF into SMTP. */
#include "envelope.h"
#include "address.h"
#include "header.h"
#include "error.h"
#include "gmime-autoptr.h"

#include <string.h>

gboolean
kov_envelope_is_field(const char *name)
{
	return g_ascii_strcasecmp(name, "X-Kuvert-From") == 0 ||
	       g_ascii_strcasecmp(name, "X-Kuvert-To") == 0 ||
	       g_ascii_strcasecmp(name, "X-Koverto-Client") == 0;
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
	GPtrArray *fields = kov_header_fields(g_mime_object_get_header_list(GMIME_OBJECT(message)));
	GMimeObject *part = g_mime_message_get_mime_part(message);
	if (part != NULL) {
		GMimeHeaderList *more = g_mime_object_get_header_list(part);
		for (int i = 0; i < g_mime_header_list_get_count(more); i++)
			g_ptr_array_add(fields, g_mime_header_list_get_header_at(more, i));
	}
	g_ptr_array_sort(fields, field_offset_cmp);
	return fields;
}

void
kov_envelope_blocks_init(KovEnvelopeBlocks *b, GMimeMessage *message, gboolean mail_only)
{
	b->all = top_fields(message);
	b->n_envelope = 0;
	b->n_delivery = 0;
	guint i = 0;
	while (!mail_only && i < b->all->len
	       && kov_envelope_is_field(g_mime_header_get_name(g_ptr_array_index(b->all, i))))
		i++;
	b->n_envelope = i;
	while (i < b->all->len && is_delivery_header(g_mime_header_get_name(g_ptr_array_index(b->all, i))))
		i++;
	b->n_delivery = i - b->n_envelope;
}

/* A block as an array of its own (borrowed fields). */
static GPtrArray *
blocks_slice(const KovEnvelopeBlocks *b, guint from, guint n)
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
	g_autofree char *value = kov_header_first_value(block, name);
	if (value == NULL || *value == '\0')
		return NULL;
	if (strcmp(value, "<>") == 0)
		return g_strdup("");
	g_autoptr(GPtrArray) addrs = kov_header_addresses(block, name, TRUE, options);
	if (addrs->len == 0) {
		g_autofree char *shown = g_strescape(value, NULL);
		g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR,
		            "bad address in %s: \"%s\"", name, shown);
		return NULL;
	}
	return kov_address_normalize(g_ptr_array_index(addrs, 0), name, error);
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

/* The explicit envelope recipients (raw), NULL when there is none: every
 * X-Kuvert-To of the envelope block (Kuvert's queue format; present but
 * empty means nobody), else the topmost Delivered-To of the delivery
 * block when the queue asks for it. *@name says which header it was. */
static GPtrArray *
envelope_recipients(const KovEnvelopeBlocks *blocks, const KovMessageOptions *options,
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
	if (kov_header_contains(envelope, "X-Kuvert-To")) {
		*name = "X-Kuvert-To";
		return kov_header_addresses(envelope, *name, FALSE, popts);
	}
	if (options->use_delivered_to && kov_header_contains(delivery, "Delivered-To")) {
		*name = "Delivered-To";
		return kov_header_addresses(delivery, *name, TRUE, popts);
	}
	return NULL;
}

/* Work out mail->recipients and mail->envelope_given. */
static gboolean
load_recipients(KovMail *mail, GMimeHeaderList *headers, const KovEnvelopeBlocks *blocks,
                const KovMessageOptions *options, GMimeParserOptions *popts, GError **error)
{
	g_autoptr(GPtrArray) to = kov_header_list_addresses(headers, "To", FALSE, popts);
	g_autoptr(GPtrArray) cc = kov_header_list_addresses(headers, "Cc", FALSE, popts);
	g_autoptr(GPtrArray) bcc = kov_header_list_addresses(headers, "Bcc", FALSE, popts);
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
		char *lower = kov_address_normalize(g_ptr_array_index(source, i), what, error);
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
load_sender(KovMail *mail, GMimeHeaderList *headers, const KovEnvelopeBlocks *blocks,
            const KovMessageOptions *options, GMimeParserOptions *popts, GError **error)
{
	g_autoptr(GPtrArray) from = kov_header_list_addresses(headers, "From", TRUE, popts);
	if (from->len > 0) {
		/* Checked even when an envelope sender is given: From selects the
		 * signing key and is matched against a queue's allowed senders. */
		mail->from = kov_address_normalize(g_ptr_array_index(from, 0), "From", error);
		if (mail->from == NULL)
			return FALSE;
	}
	mail->from_single = mail->from != NULL && from_is_single(headers, popts);

	GError *local = NULL;
	g_autoptr(GPtrArray) envelope = blocks_slice(blocks, 0, blocks->n_envelope);
	g_autoptr(GPtrArray) delivery = blocks_slice(blocks, blocks->n_envelope, blocks->n_delivery);
	if (options->mail_only && options->sender != NULL)
		mail->sender = *options->sender == '\0'
			? g_strdup("") : kov_address_normalize(options->sender, "the given envelope", &local);
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

/* The addresses of the first header @name, checked like any recipient's,
 * lower case, without duplicates, added to @into (of char*). */
static gboolean
load_resent_header(GPtrArray *into, GMimeHeaderList *headers, const char *name,
                   GMimeParserOptions *popts, GError **error)
{
	g_autoptr(GPtrArray) raw = kov_header_list_addresses(headers, name, TRUE, popts);
	for (guint i = 0; i < raw->len; i++) {
		char *lower = kov_address_normalize(g_ptr_array_index(raw, i), name, error);
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
	g_autoptr(GPtrArray) from = kov_header_list_addresses(headers, "Resent-From", TRUE, popts);
	if (from->len > 0) {
		mail->resent_from = kov_address_normalize(g_ptr_array_index(from, 0), "Resent-From", error);
		if (mail->resent_from == NULL)
			return FALSE;
	}
	mail->resent_to = g_steal_pointer(&to);
	mail->resent_bcc = g_steal_pointer(&bcc);
	return TRUE;
}

gboolean
kov_envelope_load(KovMail *mail, GMimeHeaderList *headers, const KovEnvelopeBlocks *blocks,
                  const KovMessageOptions *options, GMimeParserOptions *popts, GError **error)
{
	if (blocks->n_envelope > 0) {
		/* Only the listener names a client, and only in the block it wrote. */
		g_autoptr(GPtrArray) envelope = blocks_slice(blocks, 0, blocks->n_envelope);
		mail->client = kov_header_first_value(envelope, "X-Koverto-Client");
	}
	return load_recipients(mail, headers, blocks, options, popts, error)
	       && load_sender(mail, headers, blocks, options, popts, error)
	       && load_resent_to(mail, headers, popts, error);
}
