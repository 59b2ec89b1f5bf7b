/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The SMTP listener's configuration: [listen] and one [client NAME] per
 * application (INI), or Kuvert's maport/mahost/ma-user/ma-pass (either
 * format). Loaded and checked with the rest by kov_config_load(); part of
 * KovConfig as config->listen. */
#pragma once
#include <glib.h>

typedef struct {
	char *name;               /* [client NAME]: letters, digits, "._-", lower case */
	char *login;              /* the AUTH user name when it is not @name (Kuvert's
	                           * ma-user, compared exactly); NULL: @name, any case */
	char *password_hash;      /* crypt(3) hash ($y$, $6$, ...); NULL: no password login */
	char *password_plain;     /* Kuvert's ma-pass only (wipe before free); NULL otherwise */
	char *certificate;        /* SHA-256 of the client certificate (DER): 64 lower-case
	                           * hex digits, colons removed; NULL: none */
	char *queue;              /* the queue its mail goes into; must exist */
	char *signing_key;        /* its own key (hex key ID or fingerprint); NULL: the queue's */
	char *senders;            /* regex over the whole address, any case: MAIL FROM and From */
	GRegex *senders_re;       /* compiled; never NULL once loaded */
	char *keydir;             /* its own keys directory; NULL: the queue's; "": none */
	gboolean keydir_only;     /* only when keydir_only_set */
	gboolean keydir_only_set;
} KovClientConfig;

typedef struct {
	char **submission;        /* "HOST:PORT" / "[V6]:PORT", STARTTLS; NULL or empty: none */
	char **submissions;       /* implicit TLS (RFC 8314); NULL or empty: none */
	char *tls_cert, *tls_key; /* PEM files; both or neither */
	char *hostname;           /* greeting and Received; default: the host's name */
	guint max_sessions;       /* 64; past it 421 */
	guint max_sessions_per_ip;/* 16 */
	guint64 max_size;         /* octets; 10 MiB */
	guint max_recipients;     /* 100 */
	guint max_mails;          /* per session; 100 */
	gint64 timeout_greeted;   /* seconds before AUTH: 30 */
	gint64 timeout;           /* seconds after AUTH, waiting for a command: 300 (RFC 5321 4.5.3.2) */
	gint64 timeout_data;      /* seconds for a DATA block: 600 */
	gint64 timeout_tls;       /* seconds for a TLS handshake: 10 */
	gint64 session_deadline;  /* seconds a whole session may last: 1800 */
	gboolean received_ip;     /* the client's IP address in Received: true */
	GPtrArray *clients;       /* of KovClientConfig* (owned); never NULL */
	/* Kuvert's listener (maport with ma-user and ma-pass): one client
	 * "kuvert" into the Kuvert queue on mahost:maport (loopback only),
	 * AUTH without TLS. */
	gboolean kuvert;
	char *kuvert_address;     /* "127.0.0.1:2587" */
} KovListenConfig;

/* TRUE when some listener is configured (submission, submissions or Kuvert's). */
gboolean kov_listen_config_enabled(const KovListenConfig *listen);
/* The client called @name, or NULL. (borrowed) */
const KovClientConfig *kov_listen_config_client(const KovListenConfig *listen, const char *name);
/* The client whose certificate fingerprint is @sha256 (64 hex digits, any
 * case), or NULL. (borrowed) */
const KovClientConfig *kov_listen_config_client_by_certificate(const KovListenConfig *listen,
                                                               const char *sha256);
