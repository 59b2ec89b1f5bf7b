/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Kuvert's directives: in-address ones (Name "action=...,key=..." <addr>,
 * kuvert-reference 6.2) in From/To/Cc/Bcc, and the X-Kuvert header. Read
 * for the decision, then stripped from every copy. GMime hands out display
 * names unquoted, so a directive is told from a quoted name ("Doe, Bob")
 * by the raw text only. */
#include "directive.h"
#include "address.h"
#include "gmime-autoptr.h"
#include "header.h"

#include <string.h>

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

/* One address of a scanned header (a kov_address_foreach callback). */
static void
scan_address(InternetAddress *ia, gpointer data)
{
	DirectiveScan *scan = data;
	if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
		return;
	gboolean first = scan->want_first && !scan->seen_first;
	scan->seen_first = TRUE;
	Directive d = { 0 };
	if (!mailbox_directive(ia, scan->found, &d))
		return;
	if (first) {
		scan->first_key = g_steal_pointer(&d.key);
		return;
	}
	const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
	char *lower = g_ascii_strdown(addr ? addr : "", -1);
	if (!g_hash_table_contains(scan->by_address, lower) && (d.has_action || d.key != NULL)) {
		g_hash_table_insert(scan->by_address, lower, g_memdup2(&d, sizeof d));
		return;
	}
	g_free(lower);
	g_free(d.key);
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
			kov_address_foreach(list, scan_address, scan);
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

/* The first X-Kuvert header, as Kuvert reads it: trimmed, lower-cased,
 * and only if it is exactly an action name. */
static void
load_x_kuvert(KovMail *mail, GMimeHeaderList *headers)
{
	g_autofree char *value = kov_header_list_first_value(headers, "X-Kuvert");
	if (value == NULL)
		return;
	g_autofree char *lower = g_ascii_strdown(value, -1);
	mail->has_x_kuvert = kov_policy_action_parse(lower, &mail->x_kuvert);
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

/* Drop the directives (@data) from a mailbox's display name (a
 * kov_address_foreach callback). */
static void
strip_name(InternetAddress *ia, gpointer data)
{
	if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
		return;
	const char *name = internet_address_get_name(ia);
	if (name == NULL || *name == '\0')
		return;
	g_autofree char *stripped = name_without_directives(name, data);
	internet_address_set_name(ia, stripped);
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
	kov_address_foreach(list, strip_name, directives);
	if (internet_address_list_length(list) == 0)
		return FALSE;
	kov_address_set_header(header, list);
	return TRUE;
}

void
kov_directive_load(KovMail *mail, GMimeHeaderList *headers, GMimeParserOptions *popts)
{
	load_directives(mail, headers, popts);
	load_x_kuvert(mail, headers);
}

void
kov_directive_strip(GMimeHeaderList *headers)
{
	g_autoptr(GMimeParserOptions) popts = g_mime_parser_options_new();
	for (int i = g_mime_header_list_get_count(headers) - 1; i >= 0; i--) {
		GMimeHeader *h = g_mime_header_list_get_header_at(headers, i);
		if (is_directive_header(g_mime_header_get_name(h)) && !strip_directives(h, popts))
			g_mime_header_list_remove_at(headers, i);
	}
}
