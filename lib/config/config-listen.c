/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The SMTP listener's configuration: [listen] (addresses, TLS files,
 * limits, timeouts), one [client NAME] per application (password hash,
 * certificate fingerprint, queue, key, senders), and Kuvert's listener
 * from maport, mahost, ma-user and ma-pass. Values are read through the
 * same option tables as the rest (config.c); the checks that look at more
 * than one value are here. A listener that could take a password in the
 * clear off the network, or one nobody can log in to, is refused. */
#include "config-listen-load.h"
#include "config-value.h"
#include "error.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#define KOV_CLIENT_NAME_MAX 64
#define KOV_LISTEN_DURATION_MAX (7 * KOV_DAY)

#define KOV_LOPT(name, type, field) { name, type, offsetof(KovListenConfig, field), 0, 0, 0 }
#define KOV_LOPT_RANGE(name, type, field, min, max) \
	{ name, type, offsetof(KovListenConfig, field), 0, min, max }

static const KovOption kov_config_listen_options[] = {
	KOV_LOPT("submission", KOV_TYPE_ADDRESSES, submission),
	KOV_LOPT("submissions", KOV_TYPE_ADDRESSES, submissions),
	KOV_LOPT("tls-cert", KOV_TYPE_FILE, tls_cert),
	KOV_LOPT("tls-key", KOV_TYPE_FILE, tls_key),
	KOV_LOPT("hostname", KOV_TYPE_HOST, hostname),
	KOV_LOPT_RANGE("max-sessions", KOV_TYPE_COUNT, max_sessions, 1, 10000),
	KOV_LOPT_RANGE("max-sessions-per-ip", KOV_TYPE_COUNT, max_sessions_per_ip, 1, 10000),
	KOV_LOPT_RANGE("max-size", KOV_TYPE_SIZE, max_size, 1024, G_GUINT64_CONSTANT(1) << 31),
	KOV_LOPT_RANGE("max-recipients", KOV_TYPE_COUNT, max_recipients, 1, 100000),
	KOV_LOPT_RANGE("max-mails", KOV_TYPE_COUNT, max_mails, 1, 100000),
	KOV_LOPT_RANGE("timeout-greeted", KOV_TYPE_DURATION, timeout_greeted, 1, KOV_LISTEN_DURATION_MAX),
	KOV_LOPT_RANGE("timeout", KOV_TYPE_DURATION, timeout, 1, KOV_LISTEN_DURATION_MAX),
	KOV_LOPT_RANGE("timeout-data", KOV_TYPE_DURATION, timeout_data, 1, KOV_LISTEN_DURATION_MAX),
	KOV_LOPT_RANGE("timeout-tls", KOV_TYPE_DURATION, timeout_tls, 1, KOV_LISTEN_DURATION_MAX),
	KOV_LOPT_RANGE("session-deadline", KOV_TYPE_DURATION, session_deadline, 1,
	               KOV_LISTEN_DURATION_MAX),
	KOV_LOPT("received-ip", KOV_TYPE_BOOL, received_ip),
};

static const KovOption kov_config_client_options[] = {
	{ "password", KOV_TYPE_CRYPT, offsetof(KovClientConfig, password_hash), 0, 0, 0 },
	{ "certificate", KOV_TYPE_SHA256, offsetof(KovClientConfig, certificate), 0, 0, 0 },
	{ "queue", KOV_TYPE_STRING, offsetof(KovClientConfig, queue), 0, 0, 0 },
	{ "key", KOV_TYPE_KEYID, offsetof(KovClientConfig, signing_key), 0, 0, 0 },
	{ "senders", KOV_TYPE_REGEX, offsetof(KovClientConfig, senders),
	  offsetof(KovClientConfig, senders_re), 0, 0 },
	{ "keydir", KOV_TYPE_KEYDIR, offsetof(KovClientConfig, keydir), 0, 0, 0 },
	{ "keydir-only", KOV_TYPE_BOOL, offsetof(KovClientConfig, keydir_only),
	  offsetof(KovClientConfig, keydir_only_set), 0, 0 },
};

/* ---- defaults, free, lookups ------------------------------------------ */

static void
kov_config_client_free(gpointer data)
{
	KovClientConfig *client = data;
	g_free(client->name);
	g_free(client->login);
	kov_config_wipe(client->password_hash);
	g_free(client->password_hash);
	kov_config_wipe(client->password_plain);
	g_free(client->password_plain);
	g_free(client->certificate);
	g_free(client->queue);
	g_free(client->signing_key);
	g_free(client->senders);
	g_clear_pointer(&client->senders_re, g_regex_unref);
	g_free(client->keydir);
	g_free(client);
}

void
kov_config_listen_init(KovListenConfig *listen)
{
	*listen = (KovListenConfig){
		.max_sessions = 64,
		.max_sessions_per_ip = 16,
		.max_size = 10 * 1024 * 1024,
		.max_recipients = 100,
		.max_mails = 100,
		.timeout_greeted = 30,
		.timeout = 300,
		.timeout_data = 600,
		.timeout_tls = 10,
		.session_deadline = 1800,
		.received_ip = TRUE,
		.clients = g_ptr_array_new_with_free_func(kov_config_client_free),
	};
}

void
kov_config_listen_clear(KovListenConfig *listen)
{
	g_clear_pointer(&listen->submission, g_strfreev);
	g_clear_pointer(&listen->submissions, g_strfreev);
	g_clear_pointer(&listen->tls_cert, g_free);
	g_clear_pointer(&listen->tls_key, g_free);
	g_clear_pointer(&listen->hostname, g_free);
	g_clear_pointer(&listen->clients, g_ptr_array_unref);
	g_clear_pointer(&listen->kuvert_address, g_free);
}

gboolean
kov_listen_config_enabled(const KovListenConfig *listen)
{
	g_return_val_if_fail(listen != NULL, FALSE);
	return (listen->submission != NULL && listen->submission[0] != NULL)
		|| (listen->submissions != NULL && listen->submissions[0] != NULL) || listen->kuvert;
}

const KovClientConfig *
kov_listen_config_client(const KovListenConfig *listen, const char *name)
{
	g_return_val_if_fail(listen != NULL && name != NULL, NULL);
	for (guint i = 0; listen->clients != NULL && i < listen->clients->len; i++) {
		const KovClientConfig *client = g_ptr_array_index(listen->clients, i);
		if (g_ascii_strcasecmp(client->name, name) == 0)
			return client;
	}
	return NULL;
}

const KovClientConfig *
kov_listen_config_client_by_certificate(const KovListenConfig *listen, const char *sha256)
{
	g_return_val_if_fail(listen != NULL && sha256 != NULL, NULL);
	for (guint i = 0; listen->clients != NULL && i < listen->clients->len; i++) {
		const KovClientConfig *client = g_ptr_array_index(listen->clients, i);
		if (client->certificate != NULL && g_ascii_strcasecmp(client->certificate, sha256) == 0)
			return client;
	}
	return NULL;
}

/* ---- sections --------------------------------------------------------- */

/* "client NAME" -> NAME, or NULL when @section is no client section. */
static const char *
kov_config_listen_client_name(const char *section)
{
	if (!g_str_has_prefix(section, "client") || !g_ascii_isspace(section[6]))
		return NULL;
	return section + 6 + strspn(section + 6, KOV_CONFIG_WORD_SEPARATORS);
}

gboolean
kov_config_listen_section(KovConfig *config, const char *section, const KovOption **options,
                          gsize *n_options, gpointer *base, char **label)
{
	if (g_str_equal(section, "listen")) {
		*options = kov_config_listen_options;
		*n_options = G_N_ELEMENTS(kov_config_listen_options);
		*base = &config->listen;
		*label = g_strdup(" in [listen]");
		return TRUE;
	}
	const char *name = kov_config_listen_client_name(section);
	if (name == NULL)
		return FALSE;
	KovClientConfig *client = (KovClientConfig *)kov_listen_config_client(&config->listen, name);
	if (client == NULL) {
		/* The name is checked with its line by kov_config_listen_check. */
		client = g_new0(KovClientConfig, 1);
		client->name = g_strdup(name);
		g_ptr_array_add(config->listen.clients, client);
	}
	*options = kov_config_client_options;
	*n_options = G_N_ELEMENTS(kov_config_client_options);
	*base = client;
	*label = g_strdup_printf(" in [client %s]", name);
	return TRUE;
}

/* ---- values ----------------------------------------------------------- */

/* A literal IP address (no brackets), parsed into @out. */
typedef struct {
	int family;
	guint8 bytes[16];
} KovListenIp;

static gboolean
kov_config_listen_ip_parse(const char *text, int family, KovListenIp *out)
{
	out->family = family;
	return inet_pton(family, text, out->bytes) == 1;
}

static gboolean
kov_config_listen_ip_is_loopback(const KovListenIp *ip)
{
	static const guint8 v6_loopback[16] = { [15] = 1 };
	static const guint8 v4_mapped[12] = { [10] = 0xff, [11] = 0xff };
	if (ip->family == AF_INET)
		return ip->bytes[0] == 127;
	return memcmp(ip->bytes, v6_loopback, 16) == 0
		|| (memcmp(ip->bytes, v4_mapped, 12) == 0 && ip->bytes[12] == 127);
}

static gboolean
kov_config_listen_ip_is_any(const KovListenIp *ip)
{
	static const guint8 zero[16];
	return memcmp(ip->bytes, zero, ip->family == AF_INET ? 4 : 16) == 0;
}

/* "IP:PORT" or "[IPV6]:PORT" into @ip and @port, and the normal form
 * (transfer full) into @normal; FALSE with @error saying what is wrong. */
static gboolean
kov_config_listen_address_parse(const char *text, KovListenIp *ip, guint *port, char **normal,
                                GError **error)
{
	g_autofree char *host = NULL;
	const char *port_text;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (close == NULL || close[1] != ':') {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "\"%s\": expected [IPV6]:PORT", text);
			return FALSE;
		}
		host = g_strndup(text + 1, (gsize)(close - text - 1));
		port_text = close + 2;
		if (!kov_config_listen_ip_parse(host, AF_INET6, ip)) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "\"%s\": not an IPv6 address in [ ]", text);
			return FALSE;
		}
	} else {
		const char *colon = strrchr(text, ':');
		if (colon == NULL) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "\"%s\": expected IP:PORT or [IPV6]:PORT", text);
			return FALSE;
		}
		host = g_strndup(text, (gsize)(colon - text));
		port_text = colon + 1;
		if (!kov_config_listen_ip_parse(host, AF_INET, ip)) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "\"%s\": not an IP address (a literal address, no host name; "
			            "IPv6 in brackets: [::1]:587)", text);
			return FALSE;
		}
	}
	guint64 n = 0;
	if (port_text[0] == '\0' || strspn(port_text, "0123456789") != strlen(port_text)
	    || !g_ascii_string_to_unsigned(port_text, 10, 1, 65535, &n, NULL)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "\"%s\": the port must be 1-65535", text);
		return FALSE;
	}
	*port = (guint)n;
	char buf[INET6_ADDRSTRLEN];
	inet_ntop(ip->family, ip->bytes, buf, sizeof buf);
	*normal = ip->family == AF_INET6 ? g_strdup_printf("[%s]:%u", buf, *port)
	                                 : g_strdup_printf("%s:%u", buf, *port);
	return TRUE;
}

static gboolean
kov_config_listen_parse_addresses(char ***field, const char *value, GError **error)
{
	g_auto(GStrv) words = g_strsplit_set(value, KOV_CONFIG_WORD_SEPARATORS ",", -1);
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
	for (gsize i = 0; words[i] != NULL; i++) {
		if (words[i][0] == '\0')
			continue;
		KovListenIp ip;
		guint port;
		char *normal = NULL;
		if (!kov_config_listen_address_parse(words[i], &ip, &port, &normal, error))
			return FALSE;
		g_ptr_array_add(out, normal);
	}
	g_strfreev(*field);
	*field = NULL;
	if (out->len > 0) {
		g_ptr_array_add(out, NULL);
		*field = (char **)g_ptr_array_steal(out, NULL);
	}
	return TRUE;
}

/* The methods accepted for a client password: libxcrypt verifies each;
 * @hash_len is the length of the last "$" field (bcrypt: salt and hash). */
static const struct {
	const char *prefix;
	const char *name;
	gsize hash_len;
} kov_config_listen_methods[] = {
	{ "$y$", "yescrypt", 43 },
	{ "$gy$", "gost-yescrypt", 43 },
	{ "$7$", "scrypt", 43 },
	{ "$2b$", "bcrypt", 53 },
	{ "$6$", "sha512crypt", 86 },
	{ "$5$", "sha256crypt", 43 },
};

#define KOV_CONFIG_HASH_HINT "make one with `koverto hash-password`"

/* A crypt(3) hash of a strong method, whole (not a bare salt). Never
 * echoes the value: it is a secret, and it may be a password in clear. */
static gboolean
kov_config_listen_parse_crypt(char **field, const char *value, GError **error)
{
	if (value[0] == '\0') {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "empty (leave the key out for a client that logs in by certificate only)");
		return FALSE;
	}
	gsize m = 0;
	while (m < G_N_ELEMENTS(kov_config_listen_methods)
	       && !g_str_has_prefix(value, kov_config_listen_methods[m].prefix))
		m++;
	if (m == G_N_ELEMENTS(kov_config_listen_methods)) {
		gsize len = strlen(value);
		if (g_str_has_prefix(value, "$1$"))
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "an MD5 crypt hash ($1$), which is too weak; " KOV_CONFIG_HASH_HINT);
		else if ((value[0] == '_' && len == 20)
		         || (len == 13 && strspn(value, "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                                        "abcdefghijklmnopqrstuvwxyz") == 13))
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "a DES crypt hash (too weak) or a password in clear: neither is "
			            "accepted; " KOV_CONFIG_HASH_HINT);
		else if (value[0] == '$')
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "not a hash of an accepted method ($y$, $gy$, $7$, $2b$, $6$, $5$); "
			            KOV_CONFIG_HASH_HINT);
		else
			g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
			            "not a crypt(3) hash (a password in clear is not accepted); "
			            KOV_CONFIG_HASH_HINT);
		return FALSE;
	}
	const char *last = strrchr(value, '$') + 1;
	int check = crypt_checksalt(value);
	if ((check != CRYPT_SALT_OK && check != CRYPT_SALT_METHOD_LEGACY)
	    || strlen(last) != kov_config_listen_methods[m].hash_len
	    || strspn(last, "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
	       != strlen(last)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "not a whole %s hash (cut short, or only a salt?); " KOV_CONFIG_HASH_HINT,
		            kov_config_listen_methods[m].name);
		return FALSE;
	}
	kov_config_wipe(*field);
	g_free(*field);
	*field = g_strdup(value);
	return TRUE;
}

/* A SHA-256 fingerprint: 64 hex digits, any case, optionally in pairs
 * separated by colons (openssl x509 -fingerprint -sha256). */
static gboolean
kov_config_listen_parse_sha256(char **field, const char *value, GError **error)
{
	GString *hex = g_string_sized_new(64);
	gboolean ok = TRUE;
	gboolean colons = strchr(value, ':') != NULL;
	for (gsize i = 0; ok && value[i] != '\0'; i++) {
		if (g_ascii_isxdigit(value[i]))
			g_string_append_c(hex, g_ascii_tolower(value[i]));
		else
			/* colons only between pairs */
			ok = colons && value[i] == ':' && i % 3 == 2 && value[i + 1] != '\0';
	}
	if (colons && strlen(value) != 95)
		ok = FALSE;
	if (!ok || hex->len != 64) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "not a SHA-256 fingerprint (64 hex digits, or 32 pairs with colons, as "
		            "`openssl x509 -noout -fingerprint -sha256` prints them): \"%s\"", value);
		g_string_free(hex, TRUE);
		return FALSE;
	}
	g_free(*field);
	*field = g_string_free(hex, FALSE);
	return TRUE;
}

gboolean
kov_config_listen_parse_value(const KovOption *opt, gpointer base, const char *value, GError **error)
{
	switch (opt->type) {
	case KOV_TYPE_ADDRESSES:
		return kov_config_listen_parse_addresses(KOV_FIELD(base, opt->offset, char **), value,
		                                         error);
	case KOV_TYPE_CRYPT:
		return kov_config_listen_parse_crypt(KOV_FIELD(base, opt->offset, char *), value, error);
	case KOV_TYPE_SHA256:
		return kov_config_listen_parse_sha256(KOV_FIELD(base, opt->offset, char *), value, error);
	default:
		g_assert_not_reached();
	}
}

/* ---- checks ----------------------------------------------------------- */

/* A client's queue: one of the configuration's queues, Kuvert's included. */
static gboolean
kov_config_listen_queue_known(const KovConfig *config, const char *name)
{
	return kov_config_queue(config, name) != NULL;
}

static gboolean
kov_config_listen_client_name_ok(const char *name)
{
	gsize len = strlen(name);
	if (len == 0 || len > KOV_CLIENT_NAME_MAX)
		return FALSE;
	for (gsize i = 0; i < len; i++)
		if (!g_ascii_isalnum(name[i]) && name[i] != '.' && name[i] != '_' && name[i] != '-')
			return FALSE;
	return TRUE;
}

static guint
kov_config_listen_line(const KovConfigLoad *load, const KovClientConfig *client, const char *key)
{
	g_autofree char *dict_key = key != NULL
		? g_strconcat("client ", client->name, ":", key, NULL)
		: g_strconcat("client ", client->name, NULL);
	guint line = kov_config_line_of(load, dict_key);
	if (line == 0 && key != NULL)
		return kov_config_listen_line(load, client, NULL);
	return line;
}

static gboolean
kov_config_listen_check_client(KovConfigLoad *load, const KovConfig *config,
                               const KovClientConfig *client, GError **error)
{
	guint line = kov_config_listen_line(load, client, NULL);
	if (!kov_config_listen_client_name_ok(client->name)) {
		kov_config_fail(error, load, line,
		                "[client %s]: a client name is 1-%d letters, digits, \".\", \"_\" "
		                "or \"-\"", client->name, KOV_CLIENT_NAME_MAX);
		return FALSE;
	}
	if (g_str_equal(client->name, "kuvert")) {
		kov_config_fail(error, load, line,
		                "[client kuvert]: the name is reserved for Kuvert's listener "
		                "(maport, ma-user, ma-pass); choose another");
		return FALSE;
	}
	if (client->password_hash == NULL && client->certificate == NULL) {
		kov_config_fail(error, load, line,
		                "[client %s]: needs password (a hash from `koverto hash-password`) "
		                "or certificate (a SHA-256 fingerprint), or both", client->name);
		return FALSE;
	}
	if (client->queue == NULL) {
		kov_config_fail(error, load, line,
		                "[client %s]: needs queue (where its mail goes: must-encrypt, "
		                "fallback, sign-only, kuvert or a [queue NAME])", client->name);
		return FALSE;
	}
	if (!kov_config_listen_queue_known(config, client->queue)) {
		g_autofree char *known = kov_config_queue_names(config);
		kov_config_fail(error, load, kov_config_listen_line(load, client, "queue"),
		                "key \"queue\" in [client %s]: no such queue: \"%s\" (known: %s)",
		                client->name, client->queue, known);
		return FALSE;
	}
	if (client->senders_re == NULL) {
		kov_config_fail(error, load, line,
		                "[client %s]: needs senders (a pattern for the addresses it may send "
		                "as, e.g. senders = app@example\\.org; .* for any)", client->name);
		return FALSE;
	}
	for (guint j = 0; j < config->listen.clients->len; j++) {
		const KovClientConfig *other = g_ptr_array_index(config->listen.clients, j);
		if (other == client)
			break;
		if (client->certificate != NULL && other->certificate != NULL
		    && g_str_equal(client->certificate, other->certificate)) {
			kov_config_fail(error, load, kov_config_listen_line(load, client, "certificate"),
			                "key \"certificate\" in [client %s]: the same as [client %s]'s; "
			                "a certificate names one client", client->name, other->name);
			return FALSE;
		}
	}
	return TRUE;
}

/* One address to listen on, with where it came from, for the clash check. */
typedef struct {
	KovListenIp ip;
	guint port;
	const char *text;
	const char *key;
} KovListenBind;

/* Two binds clash on the same port with the same address, or where one
 * of them is the wildcard of its family (0.0.0.0, ::, which on Linux
 * takes IPv4 too). */
static gboolean
kov_config_listen_clash(const KovListenBind *a, const KovListenBind *b)
{
	if (a->port != b->port)
		return FALSE;
	if ((a->ip.family == AF_INET6 && kov_config_listen_ip_is_any(&a->ip))
	    || (b->ip.family == AF_INET6 && kov_config_listen_ip_is_any(&b->ip)))
		return TRUE;
	if (a->ip.family != b->ip.family)
		return FALSE;
	return kov_config_listen_ip_is_any(&a->ip) || kov_config_listen_ip_is_any(&b->ip)
		|| memcmp(a->ip.bytes, b->ip.bytes, a->ip.family == AF_INET ? 4 : 16) == 0;
}

static gboolean
kov_config_listen_check_binds(KovConfigLoad *load, KovConfig *config, GError **error)
{
	KovListenConfig *listen = &config->listen;
	g_autoptr(GArray) binds = g_array_new(FALSE, TRUE, sizeof(KovListenBind));
	struct { char **list; const char *key; } lists[] = {
		{ listen->submission, "submission" }, { listen->submissions, "submissions" },
	};
	for (gsize l = 0; l < G_N_ELEMENTS(lists); l++) {
		g_autofree char *dict_key = g_strconcat("listen:", lists[l].key, NULL);
		guint line = kov_config_line_of(load, dict_key);
		for (gsize i = 0; lists[l].list != NULL && lists[l].list[i] != NULL; i++) {
			KovListenBind bind = { .text = lists[l].list[i], .key = lists[l].key };
			g_autofree char *normal = NULL;
			/* normalized on read: parses again */
			kov_config_listen_address_parse(bind.text, &bind.ip, &bind.port, &normal, NULL);
			if (listen->tls_cert == NULL && (l == 1 || !kov_config_listen_ip_is_loopback(&bind.ip))) {
				kov_config_fail(error, load, line,
				                l == 1 ? "key \"submissions\" in [listen]: implicit TLS needs "
				                         "tls-cert and tls-key"
				                       : "key \"submission\" in [listen]: %s is not a loopback "
				                         "address, and without tls-cert and tls-key nobody "
				                         "could log in there safely (AUTH is offered only "
				                         "after STARTTLS); set them, or listen on 127.0.0.1",
				                bind.text);
				return FALSE;
			}
			g_array_append_val(binds, bind);
		}
	}
	g_autofree char *kuvert_normal = NULL;
	if (listen->kuvert) {
		KovListenBind bind = { .text = listen->kuvert_address, .key = "maport" };
		kov_config_listen_address_parse(bind.text, &bind.ip, &bind.port, &kuvert_normal, NULL);
		g_array_append_val(binds, bind);
	}
	for (guint i = 0; i < binds->len; i++) {
		const KovListenBind *b = &g_array_index(binds, KovListenBind, i);
		for (guint j = 0; j < i; j++) {
			const KovListenBind *a = &g_array_index(binds, KovListenBind, j);
			if (kov_config_listen_clash(a, b)) {
				g_autofree char *dict_key = g_strconcat("listen:", b->key, NULL);
				guint line = g_str_equal(b->key, "maport")
					? kov_config_line_of(load, load->kuvert ? "koverto:maport" : "koverto:ma-user")
					: kov_config_line_of(load, dict_key);
				kov_config_fail(error, load, line,
				                "%s %s: the same address and port as %s %s", b->key, b->text,
				                a->key, a->text);
				return FALSE;
			}
		}
	}
	return TRUE;
}

/* Kuvert's listener: on when ma-user and ma-pass are set (maport always
 * is), as Kuvert starts kuvert-smtp. One client "kuvert" whose login is
 * ma-user, into the Kuvert queue, any sender (Kuvert checked none). */
static gboolean
kov_config_listen_kuvert(KovConfigLoad *load, KovConfig *config, GError **error)
{
	const char *host = config->ma_host != NULL ? config->ma_host : "127.0.0.1";
	KovListenIp ip;
	gboolean v6 = strchr(host, ':') != NULL;
	if (config->ma_host != NULL
	    && (!kov_config_listen_ip_parse(host, v6 ? AF_INET6 : AF_INET, &ip)
	        || !kov_config_listen_ip_is_loopback(&ip))) {
		kov_config_fail(error, load, kov_config_line_of(load, "koverto:mahost"),
		                "key \"mahost\": \"%s\" is not a loopback IP address (Kuvert's "
		                "listener takes passwords without TLS: 127.0.0.1 or ::1 only)", host);
		return FALSE;
	}
	if (config->ma_user == NULL || config->ma_pass == NULL)
		return TRUE;
	for (guint i = 0; i < config->listen.clients->len; i++) {
		const KovClientConfig *client = g_ptr_array_index(config->listen.clients, i);
		if (g_ascii_strcasecmp(client->name, config->ma_user) == 0) {
			kov_config_fail(error, load, kov_config_listen_line(load, client, NULL),
			                "[client %s]: the same login as ma-user, Kuvert's listener user",
			                client->name);
			return FALSE;
		}
	}
	config->listen.kuvert = TRUE;
	config->listen.kuvert_address = v6 ? g_strdup_printf("[%s]:%u", host, config->maport)
	                                   : g_strdup_printf("%s:%u", host, config->maport);
	KovClientConfig *client = g_new0(KovClientConfig, 1);
	client->name = g_strdup("kuvert");
	client->login = g_strdup(config->ma_user);
	client->password_plain = g_strdup(config->ma_pass);
	client->queue = g_strdup("kuvert");
	client->senders = g_strdup(".*");
	client->senders_re = kov_config_value_compile_senders(client->senders, NULL);
	g_ptr_array_add(config->listen.clients, client);
	return TRUE;
}

/* The key file may be read by the owner only, as a file with ma-pass. */
static gboolean
kov_config_listen_check_tls(KovConfigLoad *load, KovListenConfig *listen, GError **error)
{
	if ((listen->tls_cert == NULL) != (listen->tls_key == NULL)) {
		gboolean cert = listen->tls_cert != NULL;
		kov_config_fail(error, load,
		                kov_config_line_of(load, cert ? "listen:tls-cert" : "listen:tls-key"),
		                "key \"%s\" in [listen]: needs %s too", cert ? "tls-cert" : "tls-key",
		                cert ? "tls-key" : "tls-cert");
		return FALSE;
	}
	struct stat st;
	if (listen->tls_key != NULL && stat(listen->tls_key, &st) == 0
	    && (st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
		kov_config_fail(error, load, kov_config_line_of(load, "listen:tls-key"),
		                "key \"tls-key\" in [listen]: %s may be read by %s (mode %04o); "
		                "chmod 600 it", listen->tls_key,
		                (st.st_mode & S_IRGRP) != 0
		                        ? ((st.st_mode & S_IROTH) != 0 ? "its group and others" : "its group")
		                        : "others",
		                (unsigned)(st.st_mode & 07777));
		return FALSE;
	}
	return TRUE;
}

gboolean
kov_config_listen_check(KovConfigLoad *load, KovConfig *config, GError **error)
{
	KovListenConfig *listen = &config->listen;
	for (guint i = 0; i < listen->clients->len; i++)
		if (!kov_config_listen_check_client(load, config, g_ptr_array_index(listen->clients, i),
		                                    error))
			return FALSE;
	gboolean ini_listener = (listen->submission != NULL && listen->submission[0] != NULL)
		|| (listen->submissions != NULL && listen->submissions[0] != NULL);
	if (ini_listener && listen->clients->len == 0) {
		g_autofree char *key = g_strdup(listen->submission != NULL ? "listen:submission"
		                                                           : "listen:submissions");
		kov_config_fail(error, load, kov_config_line_of(load, key),
		                "[listen]: no [client NAME] section, so nobody could log in");
		return FALSE;
	}
	if (!kov_config_listen_check_tls(load, listen, error)
	    || !kov_config_listen_kuvert(load, config, error)
	    || !kov_config_listen_check_binds(load, config, error))
		return FALSE;
	if (listen->hostname == NULL)
		listen->hostname = g_strdup(g_get_host_name());
	return TRUE;
}

gboolean
kov_config_listen_holds_hash(const KovConfigLoad *load)
{
	if (load->kuvert)
		return FALSE;
	for (guint i = 0; i < load->entries->len; i++) {
		const KovConfigEntry *entry = g_ptr_array_index(load->entries, i);
		if (entry->section == NULL || entry->key == NULL || !g_str_equal(entry->key, "password")
		    || kov_config_listen_client_name(entry->section) == NULL)
			continue;
		g_autofree char *dict_key = g_strconcat(entry->section, ":", entry->key, NULL);
		const char *value = iniparser_getstring(load->dict, dict_key, NULL);
		if (value != NULL && value[0] != '\0')
			return TRUE;
	}
	return FALSE;
}

void
kov_config_listen_warnings(const KovConfig *config, GPtrArray *out)
{
	const KovListenConfig *listen = &config->listen;
	if ((config->ma_user == NULL) != (config->ma_pass == NULL))
		g_ptr_array_add(out, g_strdup_printf(
			"%s is set but %s is not: Kuvert's listener runs only with maport, ma-user and "
			"ma-pass all set, so nothing listens on %s:%u (as with Kuvert)",
			config->ma_user != NULL ? "ma-user" : "ma-pass",
			config->ma_user != NULL ? "ma-pass" : "ma-user",
			config->ma_host != NULL ? config->ma_host : "127.0.0.1", config->maport));
	gboolean ini_listener = (listen->submission != NULL && listen->submission[0] != NULL)
		|| (listen->submissions != NULL && listen->submissions[0] != NULL);
	guint ini_clients = listen->clients->len - (listen->kuvert ? 1 : 0);
	if (!ini_listener && ini_clients > 0)
		g_ptr_array_add(out, g_strdup(
			"[client] sections but no submission or submissions address in [listen]: "
			"those clients cannot log in anywhere"));
	if (kov_listen_config_enabled(listen) && listen->max_recipients < 100)
		g_ptr_array_add(out, g_strdup_printf(
			"max-recipients is %u: RFC 5321 (4.5.3.1.8) asks a server to accept at least 100 "
			"recipients per mail; clients may fail on more than %u", listen->max_recipients,
			listen->max_recipients));
}
