/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The configuration file, in two formats told apart by content (INI:
 * config-ini.c, Kuvert's: config-kuvert.c), read into one list of entries
 * with their lines. Here: the option table and the load (read, scan, each
 * entry checked by its typed parser in config-value.c, then the checks of
 * config-check.c). The first problem wins: koverto refuses to start. */
#include "config-internal.h"
#include "config-check.h"
#include "config-ini.h"
#include "config-kuvert.h"
#include "config-listen-load.h"
#include "config-redact.h"
#include "config-value.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KOV_CONFIG_MSP_DEFAULT "/usr/sbin/sendmail -om -oi -oem"

#define KOV_OPT(name, type, field) { name, type, offsetof(KovConfig, field), 0, 0, 0 }
#define KOV_OPT_RANGE(name, type, field, min, max) \
	{ name, type, offsetof(KovConfig, field), 0, min, max }
#define KOV_DURATION_MAX (3650 * KOV_DAY)

/* Kuvert's 29 options (kuvert-reference.md 4.2), then koverto's own. */
static const KovOption kov_config_options[] = {
	KOV_OPT("defaultkey", KOV_TYPE_KEYID, defaultkey),
	KOV_OPT("defaultaction", KOV_TYPE_ACTION, defaultaction),
	KOV_OPT("alwaystrust", KOV_TYPE_BOOL, alwaystrust),
	KOV_OPT("use-agent", KOV_TYPE_BOOL, use_agent),
	KOV_OPT("query-secret", KOV_TYPE_COMMAND, query_secret),
	KOV_OPT("flush-secret", KOV_TYPE_COMMAND, flush_secret),
	KOV_OPT("gpg", KOV_TYPE_PROGRAM, gpg),
	KOV_OPT("queuedir", KOV_TYPE_PATH, queuedir),
	KOV_OPT("tempdir", KOV_TYPE_PATH, tempdir),
	KOV_OPT("interval", KOV_TYPE_SECONDS, interval),
	KOV_OPT("logfile", KOV_TYPE_LOGFILE, logfile),
	KOV_OPT("syslog", KOV_TYPE_FACILITY, syslog),
	KOV_OPT("mail-on-error", KOV_TYPE_STRING, mail_on_error),
	KOV_OPT("identify", KOV_TYPE_BOOL, identify),
	KOV_OPT("preamble", KOV_TYPE_BOOL, preamble),
	KOV_OPT("can-detach", KOV_TYPE_BOOL, can_detach),
	KOV_OPT("msserver", KOV_TYPE_HOST, msserver),
	KOV_OPT("msport", KOV_TYPE_PORT, msport),
	KOV_OPT("ssl", KOV_TYPE_SSL, ssl),
	KOV_OPT("ssl-cert", KOV_TYPE_FILE, ssl_cert),
	KOV_OPT("ssl-key", KOV_TYPE_FILE, ssl_key),
	KOV_OPT("ssl-ca", KOV_TYPE_CA, ssl_ca),
	KOV_OPT("msuser", KOV_TYPE_STRING, msuser),
	KOV_OPT("mspass", KOV_TYPE_SECRET, mspass),
	KOV_OPT("mspass-from-query-secret", KOV_TYPE_BOOL, mspass_from_query_secret),
	KOV_OPT("msp", KOV_TYPE_ARGV, msp),
	KOV_OPT("maport", KOV_TYPE_PORT, maport),
	KOV_OPT("mahost", KOV_TYPE_HOST, ma_host),
	KOV_OPT("ma-user", KOV_TYPE_STRING, ma_user),
	KOV_OPT("ma-pass", KOV_TYPE_SECRET, ma_pass),
	KOV_OPT("gnupghome", KOV_TYPE_DIR, gnupghome),
	KOV_OPT_RANGE("workers", KOV_TYPE_COUNT, workers, 0, 1024),
	KOV_OPT_RANGE("max-connections", KOV_TYPE_COUNT, max_connections, 0, 1024),
	KOV_OPT_RANGE("retry-first", KOV_TYPE_DURATION, retry_first, 1, KOV_DURATION_MAX),
	KOV_OPT_RANGE("retry-max", KOV_TYPE_DURATION, retry_max, 1, KOV_DURATION_MAX),
	KOV_OPT_RANGE("queue-lifetime", KOV_TYPE_DURATION, queue_lifetime, 1, KOV_DURATION_MAX),
	KOV_OPT_RANGE("failed-retention", KOV_TYPE_DURATION, failed_retention, 1, KOV_DURATION_MAX),
	KOV_OPT_RANGE("mail-timeout", KOV_TYPE_DURATION, mail_timeout, 1, KOV_DURATION_MAX),
	KOV_OPT_RANGE("worker-memory", KOV_TYPE_COUNT, worker_memory, 0, 1048576),
	KOV_OPT_RANGE("max-hops", KOV_TYPE_COUNT, max_hops, 1, 1000),
	KOV_OPT("dsn", KOV_TYPE_BOOL, dsn),
	KOV_OPT_RANGE("key-expiry-warning", KOV_TYPE_COUNT, key_expiry_warning, 0, 3650),
	KOV_OPT("metrics-file", KOV_TYPE_PATH, metrics_file),
	KOV_OPT("keydir", KOV_TYPE_KEYDIR, keydir),
	KOV_OPT("keydir-only", KOV_TYPE_BOOL, keydir_only),
	KOV_OPT_RANGE("keydir-rescan", KOV_TYPE_COUNT, keydir_rescan, 0, 86400),
};

static void kov_config_queue_free(gpointer data);

static const KovOption kov_config_queue_options[] = {
	{ "policy", KOV_TYPE_STRING, offsetof(KovQueueConfig, policy), 0, 0, 0 },
	{ "key", KOV_TYPE_KEYID, offsetof(KovQueueConfig, signing_key), 0, 0, 0 },
	{ "senders", KOV_TYPE_REGEX, offsetof(KovQueueConfig, allowed_senders),
	  offsetof(KovQueueConfig, allowed_senders_re), 0, 0 },
	{ "keydir", KOV_TYPE_KEYDIR, offsetof(KovQueueConfig, keydir), 0, 0, 0 },
	{ "keydir-only", KOV_TYPE_BOOL, offsetof(KovQueueConfig, keydir_only),
	  offsetof(KovQueueConfig, keydir_only_set), 0, 0 },
};

const KovOption *
kov_config_option_find(const char *name)
{
	for (gsize k = 0; k < G_N_ELEMENTS(kov_config_options); k++)
		if (g_str_equal(name, kov_config_options[k].name))
			return &kov_config_options[k];
	return NULL;
}

void
kov_config_wipe(char *s)
{
	if (s != NULL)
		explicit_bzero(s, strlen(s));
}

static void
kov_config_entry_free(gpointer data)
{
	KovConfigEntry *entry = data;
	g_free(entry->section);
	g_free(entry->key);
	kov_config_wipe(entry->value);
	g_free(entry->value);
	g_free(entry);
}

void
kov_config_load_clear(KovConfigLoad *load)
{
	g_clear_pointer(&load->entries, g_ptr_array_unref);
	g_clear_pointer(&load->where, g_hash_table_unref);
	if (load->text != NULL) {
		explicit_bzero(load->text->str, load->text->allocated_len);
		g_string_free(g_steal_pointer(&load->text), TRUE);
	}
	if (load->dict != NULL) {
		/* Passwords were in there too; iniparser frees without wiping. */
		for (ssize_t i = 0; i < load->dict->size; i++)
			kov_config_wipe(load->dict->val[i]);
		g_clear_pointer(&load->dict, iniparser_freedict);
	}
	g_clear_pointer(&load->home, g_free);
	g_clear_pointer(&load->user, g_free);
}

G_GNUC_PRINTF(4, 5)
void
kov_config_fail(GError **error, const KovConfigLoad *load, guint line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (line > 0)
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "%s:%u: %s", load->file, line, what);
	else
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "%s: %s", load->file, what);
}

guint
kov_config_line_of(const KovConfigLoad *load, const char *dict_key)
{
	return GPOINTER_TO_UINT(g_hash_table_lookup(load->where, dict_key));
}

/* Record @entry and whether its section:key came before. */
void
kov_config_add_entry(KovConfigLoad *load, KovConfigEntry *entry)
{
	if (entry->rule) {
		entry->first_line = entry->line;
		g_ptr_array_add(load->entries, entry);
		return;
	}
	g_autofree char *dict_key = entry->key == NULL
		? g_strdup(entry->section)
		: g_strconcat(entry->section ? entry->section : "", ":", entry->key, NULL);
	entry->first_line = kov_config_line_of(load, dict_key);
	if (entry->first_line == 0) {
		entry->first_line = entry->line;
		g_hash_table_insert(load->where, g_steal_pointer(&dict_key),
		                    GUINT_TO_POINTER(entry->line));
	}
	g_ptr_array_add(load->entries, entry);
}

/* Read the whole file; its mode is checked on the descriptor it was read
 * from. */
static gboolean
kov_config_read(KovConfigLoad *load, GError **error)
{
	int fd = open(load->file, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &load->st) != 0) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		kov_config_fail(error, load, 0, "cannot read: %s", g_strerror(err));
		return FALSE;
	}
	load->text = g_string_sized_new(4096);
	for (;;) {
		if (load->text->allocated_len - load->text->len < 4096) {
			/* Grow by hand: GString's own growth would leave a copy of
			 * a password behind, unwiped. */
			GString *bigger = g_string_sized_new(load->text->allocated_len * 2);
			g_string_append_len(bigger, load->text->str, (gssize)load->text->len);
			explicit_bzero(load->text->str, load->text->allocated_len);
			g_string_free(load->text, TRUE);
			load->text = bigger;
		}
		gsize room = load->text->allocated_len - load->text->len - 1;
		ssize_t n = read(fd, load->text->str + load->text->len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			close(fd);
			kov_config_fail(error, load, 0, "cannot read: %s", g_strerror(err));
			return FALSE;
		}
		if (n == 0)
			break;
		load->text->len += (gsize)n;
		load->text->str[load->text->len] = '\0';
	}
	close(fd);
	if (memchr(load->text->str, '\0', load->text->len) != NULL) {
		kov_config_fail(error, load, 0, "not a text file (it holds a NUL byte)");
		return FALSE;
	}
	return TRUE;
}

/* The next line of @text from *@pos, without its "\n" (transfer full,
 * NULL at the end). */
char *
kov_config_next_line(const GString *text, gsize *pos)
{
	if (*pos >= text->len)
		return NULL;
	const char *start = text->str + *pos;
	const char *nl = memchr(start, '\n', text->len - *pos);
	gsize len = nl != NULL ? (gsize)(nl - start) : text->len - *pos;
	*pos += len + (nl != NULL ? 1 : 0);
	return g_strndup(start, len);
}

void
kov_config_free_line(char *line)
{
	kov_config_wipe(line);
	g_free(line);
}

/* Tell the format by content and find every entry with its line. */
static gboolean
kov_config_scan(KovConfigLoad *load, GError **error)
{
	load->kuvert = !kov_config_ini_detect(load->text);
	if (load->kuvert)
		return kov_config_kuvert_scan(load, error);
	kov_config_ini_scan(load);
	load->dict = kov_config_ini_load(load, error);
	return load->dict != NULL;
}

gboolean
kov_config_passwd(KovConfigLoad *load, GError **error)
{
	if (load->home != NULL)
		return TRUE;
	long size = sysconf(_SC_GETPW_R_SIZE_MAX);
	if (size < 16384)
		size = 16384;
	g_autofree char *buf = g_malloc((gsize)size);
	struct passwd pw, *found = NULL;
	int rc = getpwuid_r(getuid(), &pw, buf, (size_t)size, &found);
	if (found == NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "no password database entry for user ID %u%s%s", (unsigned)getuid(),
		            rc != 0 ? ": " : "", rc != 0 ? g_strerror(rc) : "");
		return FALSE;
	}
	load->home = g_strdup(pw.pw_dir);
	load->user = g_strdup(pw.pw_name);
	return TRUE;
}

typedef struct {
	guint number;
	const KovConfigEntry *entry;
	KovRule *rule;
} KovNumberedRule;

static gint
kov_config_rule_cmp(gconstpointer a, gconstpointer b)
{
	const KovNumberedRule *x = a, *y = b;
	if (x->number != y->number)
		return x->number < y->number ? -1 : 1;
	return x->entry->line < y->entry->line ? -1 : (x->entry->line > y->entry->line);
}

/* Put the [rules] in numeric order into @config; "1" and "01" are the same
 * place, and iniparser cannot see that. Takes the rules from @numbered. */
static gboolean
kov_config_order_rules(KovConfigLoad *load, KovConfig *config, GArray *numbered, GError **error)
{
	g_array_sort(numbered, kov_config_rule_cmp);
	for (guint i = 1; i < numbered->len; i++) {
		const KovNumberedRule *a = &g_array_index(numbered, KovNumberedRule, i - 1);
		const KovNumberedRule *b = &g_array_index(numbered, KovNumberedRule, i);
		if (a->number == b->number) {
			kov_config_fail(error, load, b->entry->line,
			                "key \"%s\" in [rules]: rule %u given twice, on lines %u and %u",
			                b->entry->key, b->number, a->entry->line, b->entry->line);
			return FALSE;
		}
	}
	for (guint i = 0; i < numbered->len; i++) {
		KovNumberedRule *n = &g_array_index(numbered, KovNumberedRule, i);
		g_ptr_array_add(config->rules, g_steal_pointer(&n->rule));
	}
	return TRUE;
}

static void
kov_config_numbered_rule_clear(gpointer data)
{
	KovNumberedRule *n = data;
	g_clear_pointer(&n->rule, kov_policy_rule_free);
}

typedef struct {
	const KovOption *options;
	gsize n_options;
	gpointer base;
	gboolean rules;  /* [rules]: numbered keys, each a rule */
	char *label;     /* for messages: "", " in [rules]" or " in [queue fallback]" */
} KovConfigSection;

/* The queue called @name in @config, made (with @line) if it is not there. */
static KovQueueConfig *
kov_config_queue_get(KovConfig *config, const char *name, guint line)
{
	for (guint i = 0; i < config->queues->len; i++) {
		KovQueueConfig *q = g_ptr_array_index(config->queues, i);
		if (g_str_equal(q->name, name))
			return q;
	}
	KovQueueConfig *q = g_new0(KovQueueConfig, 1);
	q->name = g_strdup(name);
	q->kind = KOV_QUEUE_N_KINDS; /* set by its policy, checked after the read */
	q->line = line;
	g_ptr_array_add(config->queues, q);
	return q;
}

static gboolean
kov_config_section_find(KovConfigLoad *load, KovConfig *config, const KovConfigEntry *entry,
                        KovConfigSection *section, GError **error)
{
	const char *name = entry->section;
	if (g_str_equal(name, "koverto")) {
		*section = (KovConfigSection){ kov_config_options, G_N_ELEMENTS(kov_config_options),
		                               config, FALSE, g_strdup("") };
		return TRUE;
	}
	if (g_str_equal(name, "rules")) {
		*section = (KovConfigSection){ NULL, 0, NULL, TRUE, g_strdup(" in [rules]") };
		return TRUE;
	}
	if (g_str_has_prefix(name, "queue") && g_ascii_isspace(name[5])) {
		const char *queue = name + 5 + strspn(name + 5, KOV_CONFIG_WORD_SEPARATORS);
		g_autoptr(GError) why = NULL;
		if (!kov_config_queue_name_check(queue, &why)) {
			kov_config_fail(error, load, entry->line, "section [%s]: %s", name, why->message);
			return FALSE;
		}
		*section = (KovConfigSection){
			kov_config_queue_options, G_N_ELEMENTS(kov_config_queue_options),
			kov_config_queue_get(config, queue, entry->line), FALSE,
			g_strdup_printf(" in [queue %s]", queue) };
		return TRUE;
	}
	if (kov_config_listen_section(config, name, &section->options, &section->n_options,
	                              &section->base, &section->label)) {
		section->rules = FALSE;
		return TRUE;
	}
	kov_config_fail(error, load, entry->line,
	                "unknown section [%s] (known: [koverto], [rules], [queue must-encrypt], "
	                "[queue fallback], [queue sign-only], [queue NAME], [listen], [client NAME])", name);
	return FALSE;
}

/* policy = in [queue NAME]: one of the three; a built-in queue's is its name. */
static gboolean
kov_config_queue_policy(KovQueueConfig *queue, GError **error)
{
	KovQueueKind kind;
	if (!kov_policy_queue_parse(queue->policy, &kind)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "\"%s\" is not a policy (must-encrypt, fallback or sign-only)", queue->policy);
		return FALSE;
	}
	KovQueueKind builtin;
	if (kov_policy_queue_parse(queue->name, &builtin) && kind != builtin) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "the built-in queue %s has policy %s and no other; for a queue with "
		            "policy %s, name it: [queue NAME] with policy = %s", queue->name,
		            queue->name, queue->policy, queue->policy);
		return FALSE;
	}
	queue->kind = kind;
	return TRUE;
}

/* Every named queue says its policy: no guessing which one is meant. */
static gboolean
kov_config_check_queues(KovConfigLoad *load, KovConfig *config, GError **error)
{
	for (guint i = KOV_QUEUE_N_POLICY; i < config->queues->len; i++) {
		KovQueueConfig *q = g_ptr_array_index(config->queues, i);
		if (q->kind == KOV_QUEUE_N_KINDS) {
			kov_config_fail(error, load, q->line,
			                "section [queue %s]: no policy; say which: policy = must-encrypt, "
			                "fallback or sign-only", q->name);
			return FALSE;
		}
	}
	return TRUE;
}

/* The section and option of @entry; FALSE with @error if either is unknown
 * or the key came before. */
static gboolean
kov_config_entry_find(KovConfigLoad *load, KovConfig *config, const KovConfigEntry *entry,
                      KovConfigSection *section, const KovOption **option, GError **error)
{
	*option = NULL;
	if (entry->rule)
		return TRUE;
	if (entry->section == NULL) {
		kov_config_fail(error, load, entry->line,
		                "key \"%s\" outside any section (put it under [koverto])", entry->key);
		return FALSE;
	}
	if (!kov_config_section_find(load, config, entry, section, error))
		return FALSE;
	if (entry->key == NULL)
		return TRUE;
	guint number;
	if (section->rules && !kov_config_value_rule_number(entry->key, &number)) {
		kov_config_fail(error, load, entry->line,
		                "key \"%s\" in [rules]: not a rule number (rules are written "
		                "\"N = REGEX ACTION[,KEY]\" with N = 1, 2, 3...)", entry->key);
		return FALSE;
	}
	for (gsize k = 0; k < section->n_options && *option == NULL; k++)
		if (g_str_equal(entry->key, section->options[k].name))
			*option = &section->options[k];
	if (*option == NULL && !section->rules) {
		if (load->kuvert)
			kov_config_fail(error, load, entry->line, "unknown key \"%s\"", entry->key);
		else
			kov_config_fail(error, load, entry->line, "unknown key \"%s\"%s", entry->key,
			                section->label[0] != '\0' ? section->label : " in [koverto]");
		return FALSE;
	}
	if (entry->first_line != entry->line) {
		kov_config_fail(error, load, entry->line, "key \"%s\"%s: given twice, on lines %u and %u",
		                entry->key, section->label, entry->first_line, entry->line);
		return FALSE;
	}
	return TRUE;
}

/* The value of @entry: Kuvert's format keeps it in the entry, iniparser in
 * its dictionary. (borrowed) */
static const char *
kov_config_entry_value(const KovConfigLoad *load, const KovConfigEntry *entry)
{
	if (load->kuvert)
		return entry->value != NULL ? entry->value : "";
	g_autofree char *dict_key = g_strconcat(entry->section, ":", entry->key, NULL);
	const char *value = iniparser_getstring(load->dict, dict_key, NULL);
	return value != NULL ? value : "";
}

/* Check and store one entry's value: an option, or a rule (Kuvert's rules
 * go to @config in file order, [rules] into @numbered). */
static gboolean
kov_config_read_value(KovConfigLoad *load, KovConfig *config, const KovConfigEntry *entry,
                      const KovConfigSection *section, const KovOption *opt, GArray *numbered,
                      GError **error)
{
	const char *value = kov_config_entry_value(load, entry);
	if (entry->rule || section->rules) {
		KovRule *rule = kov_config_value_parse_rule(value, entry->line, error);
		if (rule == NULL) {
			if (entry->rule)
				g_prefix_error(error, "%s:%u: rule: ", load->file, entry->line);
			else
				g_prefix_error(error, "%s:%u: key \"%s\" in [rules]: ", load->file, entry->line,
				               entry->key);
			return FALSE;
		}
		if (entry->rule) {
			g_ptr_array_add(config->rules, rule);
		} else {
			KovNumberedRule n = { 0, entry, rule };
			kov_config_value_rule_number(entry->key, &n.number);
			g_array_append_val(numbered, n);
		}
		return TRUE;
	}
	gboolean ok = kov_config_value_parse(load, opt, section->base, value, error);
	if (ok && section->options == kov_config_queue_options && g_str_equal(opt->name, "policy"))
		ok = ((KovQueueConfig *)section->base)->policy == NULL
		     || kov_config_queue_policy(section->base, error);
	if (!ok) {
		g_prefix_error(error, "%s:%u: key \"%s\"%s: ", load->file, entry->line, entry->key,
		               section->label);
		return FALSE;
	}
	return TRUE;
}

/* Two walks over the entries in file order. The first finds unknown
 * sections and keys and duplicates: a duplicate's value in the dictionary
 * is the last one, so no value may be checked before duplicates are ruled
 * out. The second checks and stores each value. */
static gboolean
kov_config_read_entries(KovConfigLoad *load, KovConfig *config, GError **error)
{
	g_autoptr(GArray) numbered = g_array_new(FALSE, TRUE, sizeof(KovNumberedRule));
	g_array_set_clear_func(numbered, kov_config_numbered_rule_clear);
	for (int pass = 0; pass < 2; pass++) {
		for (guint i = 0; i < load->entries->len; i++) {
			const KovConfigEntry *entry = g_ptr_array_index(load->entries, i);
			KovConfigSection section = { 0 };
			const KovOption *opt = NULL;

			gboolean ok = kov_config_entry_find(load, config, entry, &section, &opt, error);
			if (ok && pass == 1 && (opt != NULL || entry->rule || (section.rules && entry->key)))
				ok = kov_config_read_value(load, config, entry, &section, opt, numbered, error);
			g_free(section.label);
			if (!ok)
				return FALSE;
		}
	}
	return kov_config_order_rules(load, config, numbered, error)
		&& kov_config_check_queues(load, config, error);
}

static KovConfig *
kov_config_new_defaults(const char *path)
{
	KovConfig *config = g_new0(KovConfig, 1);
	config->file = g_strdup(path);
	config->defaultaction = KOV_ACTION_NONE;
	config->alwaystrust = FALSE;
	config->msport = 587;
	config->ssl = KOV_SSL_NONE;
	config->msp = kov_config_value_split_words(KOV_CONFIG_MSP_DEFAULT);
	config->identify = FALSE;
	config->preamble = TRUE;
	config->interval = 60;
	config->use_agent = FALSE;
	config->can_detach = FALSE;
	config->mspass_from_query_secret = FALSE;
	config->maport = 2587;
	config->workers = 0;
	config->max_connections = 0;
	config->max_hops = 10;
	config->retry_first = 60;
	config->retry_max = 3600;
	config->queue_lifetime = 5 * KOV_DAY;
	config->failed_retention = 30 * KOV_DAY;
	config->key_expiry_warning = 14;
	config->keydir_rescan = 60;
	config->mail_timeout = 600;
	config->worker_memory = 1024;
	config->dsn = FALSE;
	config->rules = g_ptr_array_new_with_free_func((GDestroyNotify)kov_policy_rule_free);
	config->queues = g_ptr_array_new_with_free_func(kov_config_queue_free);
	for (KovQueueKind k = 0; k < KOV_QUEUE_N_POLICY; k++)
		kov_config_queue_get(config, kov_policy_queue_name(k), 0)->kind = k;
	kov_config_listen_init(&config->listen);
	return config;
}

gboolean
kov_config_prepare_tempdir(const char *tempdir, GError **error)
{
	g_return_val_if_fail(tempdir != NULL, FALSE);

	g_autofree char *parent = g_path_get_dirname(tempdir);
	int fd = -1;
	if (g_mkdir_with_parents(parent, 0700) == 0 && (mkdir(tempdir, 0700) == 0 || errno == EEXIST))
		fd = open(tempdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		struct stat lst;
		if (lstat(tempdir, &lst) == 0 && S_ISLNK(lst.st_mode))
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "tempdir %s: is a symbolic link; it must be a directory of ours with "
			            "mode 0700", tempdir);
		else
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "tempdir %s: %s", tempdir,
			            g_strerror(err));
		return FALSE;
	}
	struct stat st;
	gboolean ours = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid()
		&& (st.st_mode & 077) == 0;
	close(fd);
	if (!ours) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "tempdir %s: must be a directory of ours with mode 0700", tempdir);
		return FALSE;
	}
	return TRUE;
}

char **
kov_config_warnings(const KovConfig *config)
{
	g_return_val_if_fail(config != NULL, NULL);
	GPtrArray *out = g_ptr_array_new();
	kov_config_listen_warnings(config, out);
	if (config->defaultaction == KOV_ACTION_NONE)
		g_ptr_array_add(out, g_strdup(
			"defaultaction is none: mail in the Kuvert queue (koverto submit without --queue, "
			"kuvert_submit) to a recipient that no rule matches is sent as it is, neither "
			"signed nor encrypted; set defaultaction (e.g. fallback) or submit with --queue"));
	g_ptr_array_add(out, NULL);
	return (char **)g_ptr_array_free(out, FALSE);
}

KovConfig *
kov_config_load(const char *path, GError **error)
{
	g_return_val_if_fail(path != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	KovConfigLoad load = {
		.file = path,
		.entries = g_ptr_array_new_with_free_func(kov_config_entry_free),
		.where = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
	};
	g_autoptr(KovConfig) config = kov_config_new_defaults(path);
	gboolean ok = kov_config_read(&load, error)
		&& kov_config_check_writable(&load, error)
		&& kov_config_scan(&load, error)
		&& kov_config_check_mode(&load, error);
	if (ok) {
		ok = kov_config_read_entries(&load, config, error)
			&& kov_config_check_placed(&load, error)
			&& kov_config_check_all(&load, config, error)
			&& kov_config_listen_check(&load, config, error);
		if (!ok && error != NULL)
			kov_config_kuvert_explain(&load, *error);
	}
	if (!ok && error != NULL) {
		kov_config_redact(&load, *error);
		kov_config_redact_controls(*error);
	}
	kov_config_load_clear(&load);
	return ok ? g_steal_pointer(&config) : NULL;
}

void
kov_config_free(KovConfig *config)
{
	if (config == NULL)
		return;
	kov_config_wipe(config->mspass);
	kov_config_wipe(config->ma_pass);
	char **strings[] = {
		&config->file, &config->queuedir, &config->defaultkey, &config->msserver,
		&config->ssl_cert, &config->ssl_key, &config->ssl_ca, &config->msuser, &config->mspass,
		&config->logfile, &config->syslog, &config->mail_on_error, &config->gpg,
		&config->tempdir, &config->gnupghome, &config->query_secret, &config->flush_secret,
		&config->ma_host, &config->ma_user, &config->ma_pass, &config->metrics_file, &config->keydir,
	};
	for (gsize i = 0; i < G_N_ELEMENTS(strings); i++)
		g_clear_pointer(strings[i], g_free);
	g_strfreev(config->msp);
	g_clear_pointer(&config->rules, g_ptr_array_unref);
	kov_config_listen_clear(&config->listen);
	g_clear_pointer(&config->queues, g_ptr_array_unref);
	g_free(config);
}

gboolean
kov_config_sender_allowed(const KovQueueConfig *queue, const char *address)
{
	g_return_val_if_fail(queue != NULL, FALSE);
	return kov_policy_sender_allowed(queue->allowed_senders_re, address);
}

/* Kuvert's queue: the rules decide; it has neither key nor senders. */
static const KovQueueConfig kov_config_kuvert_queue = { .name = (char *)"kuvert",
	                                                .kind = KOV_QUEUE_KUVERT };

const char *
kov_config_keydir(const KovConfig *config, const KovQueueConfig *queue,
                  const KovClientConfig *client, gboolean *only)
{
	g_return_val_if_fail(config != NULL, NULL);
	const char *dir = config->keydir;
	gboolean keydir_only = config->keydir_only;
	if (queue != NULL && queue->keydir != NULL)
		dir = queue->keydir;
	if (queue != NULL && queue->keydir_only_set)
		keydir_only = queue->keydir_only;
	if (client != NULL && client->keydir != NULL)
		dir = client->keydir;
	if (client != NULL && client->keydir_only_set)
		keydir_only = client->keydir_only;
	if (dir != NULL && dir[0] == '\0')
		dir = NULL;
	if (only != NULL)
		*only = dir != NULL && keydir_only;
	return dir;
}

const KovQueueConfig *
kov_config_queue(const KovConfig *config, const char *name)
{
	g_return_val_if_fail(config != NULL && name != NULL, NULL);
	if (g_str_equal(name, kov_config_kuvert_queue.name))
		return &kov_config_kuvert_queue;
	for (guint i = 0; i < config->queues->len; i++) {
		const KovQueueConfig *q = g_ptr_array_index(config->queues, i);
		if (g_str_equal(q->name, name))
			return q;
	}
	return NULL;
}

const KovQueueConfig *
kov_config_queue_builtin(const KovConfig *config, KovQueueKind kind)
{
	g_return_val_if_fail(config != NULL && kind < KOV_QUEUE_N_KINDS, NULL);
	if (kind == KOV_QUEUE_KUVERT)
		return &kov_config_kuvert_queue;
	return g_ptr_array_index(config->queues, kind);
}

gboolean
kov_config_queue_name_check(const char *name, GError **error)
{
	/* queuedir holds, besides the queues: state/, failed/, koverto.pid,
	 * Kuvert's all-digit queue files and its dot files. A queue named like
	 * one of them, or like a Maildir's own directories, would mix with it. */
	static const char *const taken[] = { "state", "failed", "kuvert", "tmp", "new", "cur" };
	gsize len = strlen(name);
	gboolean digits = TRUE;

	if (len == 0 || len > KOV_CONFIG_QUEUE_NAME_MAX) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "a queue name has 1 to %d characters",
		            KOV_CONFIG_QUEUE_NAME_MAX);
		return FALSE;
	}
	for (const char *p = name; *p != '\0'; p++) {
		gboolean ok = g_ascii_islower(*p) || g_ascii_isdigit(*p)
		              || (p != name && (*p == '-' || *p == '_'));
		if (!ok) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "a queue name is letters a-z, digits, \"-\" and \"_\", starting with a "
			            "letter or a digit");
			return FALSE;
		}
		digits = digits && g_ascii_isdigit(*p);
	}
	if (digits) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "a queue name cannot be all digits (those are Kuvert's queue files)");
		return FALSE;
	}
	for (gsize i = 0; i < G_N_ELEMENTS(taken); i++) {
		if (g_str_equal(name, taken[i])) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "\"%s\" cannot be a queue name: queuedir has it for something else", name);
			return FALSE;
		}
	}
	return TRUE;
}

char *
kov_config_queue_names(const KovConfig *config)
{
	GString *out = g_string_new(NULL);
	for (guint i = 0; i < config->queues->len; i++) {
		const KovQueueConfig *q = g_ptr_array_index(config->queues, i);
		g_string_append_printf(out, "%s%s", i > 0 ? ", " : "", q->name);
	}
	return g_string_free(out, FALSE);
}

static void
kov_config_queue_free(gpointer data)
{
	KovQueueConfig *queue = data;
	if (queue == NULL)
		return;
	g_free(queue->name);
	g_free(queue->policy);
	g_free(queue->signing_key);
	g_free(queue->allowed_senders);
	g_free(queue->keydir);
	g_clear_pointer(&queue->allowed_senders_re, g_regex_unref);
	g_free(queue);
}
