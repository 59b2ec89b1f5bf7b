/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The configuration, in either of two formats told apart by content: an
 * INI file (any "[section]" line) whose [koverto] section takes Kuvert's 29
 * option names and defaults, with [rules] and per-queue sections; or a
 * Kuvert ~/.kuvert file ("name value" option lines and indented rule
 * lines). Every value is copied out and checked here, so the rest of
 * koverto never sees an unchecked string. */
#pragma once
#include <glib.h>
#include "config-listen.h"
#include "policy.h"

#define KOV_CONFIG_DEFAULT_PATH "/etc/koverto/koverto.conf"

typedef enum {
	KOV_SSL_NONE,       /* plain SMTP */
	KOV_SSL_STARTTLS,   /* "starttls": STARTTLS required, never plaintext fallback */
	KOV_SSL_IMPLICIT,   /* "ssl": TLS from connect (smtps) */
} KovSsl;

/* One queue: a Maildir under queuedir/<name>/ whose mail gets its policy.
 * The three built-in queues are named after their policy; a named queue
 * ([queue NAME] with policy = ...) has one of theirs. Kuvert's own queue
 * (the all-digit files at the top of queuedir, decided by the rules) is
 * the one entry with kind KOV_QUEUE_KUVERT: kov_config_queue(c, "kuvert"). */
typedef struct {
	char *name;               /* [a-z0-9][a-z0-9_-]*, at most KOV_CONFIG_QUEUE_NAME_MAX */
	KovQueueKind kind;        /* its policy */
	char *policy;             /* policy = ... as written; NULL when not given */
	char *signing_key;        /* [queue NAME] key = ...; NULL: From's own key, then defaultkey */
	char *allowed_senders;    /* [queue NAME] senders = REGEX; NULL: anybody */
	GRegex *allowed_senders_re; /* compiled from allowed_senders: case-insensitive, whole address */
	char *keydir;             /* [queue NAME] keydir = DIR; NULL: the global one; "": none here */
	gboolean keydir_only;     /* [queue NAME] keydir-only = ...; only when keydir_only_set */
	gboolean keydir_only_set;
	guint line;               /* where its section first appears; 0: none */
} KovQueueConfig;

/* The longest queue name: the name is a directory in queuedir and the
 * prefix of state/ and failed/ file names (with an id of up to 160). */
#define KOV_CONFIG_QUEUE_NAME_MAX 64

typedef struct {
	char *file;               /* the file this was read from */

	/* implemented by the core */
	char *queuedir;           /* default <pw_dir>/.kuvert_queue */
	char *defaultkey;         /* hex key id or fingerprint; NULL */
	KovAction defaultaction;  /* default none */
	gboolean alwaystrust;     /* default false */
	char *msserver;           /* NULL: deliver through msp */
	guint msport;             /* default 587 */
	KovSsl ssl;
	char *ssl_cert, *ssl_key, *ssl_ca;
	char *msuser, *mspass;    /* mspass: wipe before free, never log */
	char **msp;               /* argv, split on whitespace; default /usr/sbin/sendmail -om -oi -oem */
	gboolean identify;        /* add X-Mailer; default false */
	gboolean preamble;        /* default true */
	char *logfile;            /* NULL */
	char *metrics_file;       /* NULL: no metrics file */
	char *syslog;             /* facility name or NULL */
	char *mail_on_error;      /* NULL */
	char *gpg;                /* engine path; NULL: GPGME's default */
	char *tempdir;            /* default $TMPDIR/koverto.<user> */
	char *gnupghome;          /* NULL: $GNUPGHOME or ~/.gnupg, as gpg does */

	guint interval;           /* 60: the safety rescan */
	gboolean can_detach;
	/* "program args", the program an absolute path, %s the key ID; NULL:
	 * gpg-agent alone (use-agent is accepted: the agent is always used) */
	char *query_secret, *flush_secret;
	gboolean mspass_from_query_secret;  /* msuser's password from query-secret */

	/* accepted and checked; implemented by later issues */
	gboolean use_agent;
	/* Kuvert's listener: runs when ma-user and ma-pass are set (listen.kuvert) */
	guint maport;             /* 2587 */
	char *ma_host;            /* NULL: 127.0.0.1; a loopback address */
	char *ma_user, *ma_pass;  /* ma_pass: wipe before free, never log */

	/* koverto's own: reliability and performance */
	guint workers;            /* 0: one per CPU */
	guint max_connections;    /* SMTP connections at once; 0: as many as workers */
	guint max_hops;           /* 10: more Received headers than this is a loop */
	gint64 retry_first;       /* seconds; 60: first retry after a temporary failure */
	gint64 retry_max;         /* seconds; 3600: longest wait between retries */
	gint64 queue_lifetime;    /* seconds; 5 days: temporary failures become permanent */
	gint64 failed_retention;  /* seconds; 30 days: failed mail is kept this long */
	gint64 mail_timeout;      /* seconds; 600: time limit for processing one mail */
	guint worker_memory;      /* MB of data a worker and its gpg may use; 0: no limit */
	guint key_expiry_warning; /* days; 14: warn of a key that expires this soon; 0: never */
	gboolean dsn;             /* false: RFC 3464 report to the envelope sender on permanent failure */

	/* Keys from a directory (issue 14; keydir.h): one verified key file per
	 * address. [queue NAME] and [client NAME] may set their own. */
	char *keydir;             /* absolute; NULL or "": none */
	gboolean keydir_only;     /* false: an address without a file asks the keyring */
	guint keydir_rescan;      /* seconds; 60: the watcher's rescan; 0: none */

	GPtrArray *rules;         /* of KovRule* (owned), first match wins; never NULL */
	/* Of KovQueueConfig* (owned): must-encrypt, fallback, sign-only (always,
	 * at these indexes), then the named queues in file order. Kuvert's
	 * queue is not among them. Never NULL. */
	GPtrArray *queues;
	KovListenConfig listen;   /* [listen], [client NAME], Kuvert's listener */
} KovConfig;

/* Where the configuration is: @explicit_path (-c), else $KOVERTO_CONF, else
 * .kuvert in the home directory of the real user's passwd entry if it
 * exists (a Kuvert per-user set-up), else KOV_CONFIG_DEFAULT_PATH.
 * (transfer full) */
char *kov_config_locate(const char *explicit_path);
/* The same with @home standing in for the passwd entry's home directory
 * (NULL: look it up). (transfer full) */
char *kov_config_locate_in(const char *explicit_path, const char *home);
/* The order kov_config_locate() looks in, as one line of text for -h:
 * "-c FILE, else $KOVERTO_CONF, else ...". (transfer full) */
char *kov_config_search_order(void);

/* Read and check @path, INI or Kuvert format. On any problem: NULL and
 * KOV_ERROR_CONFIG with a one-line message naming the file, the line or
 * key, and what is wrong. A file that group or others may write is refused
 * (it could make koverto run any program as msp). */
KovConfig *kov_config_load(const char *path, GError **error);
void kov_config_free(KovConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KovConfig, kov_config_free)

/* Make @tempdir if it is not there (mode 0700) and check that it is a
 * directory, not a symbolic link to one, owned by the effective user with
 * no permission for group or others: the check is made on what the name
 * itself is (O_NOFOLLOW), not on what a link points to. */
gboolean kov_config_prepare_tempdir(const char *tempdir, GError **error);

/* What in @config loads fine but will not do what a Kuvert user expects,
 * one line each, for -n and the daemon's start to print: half of Kuvert's
 * listener options (ma-user without ma-pass: no listener, as in Kuvert),
 * listener settings that do nothing or break RFC 5321, and a Kuvert queue
 * whose default sends mail neither signed nor encrypted. (transfer full,
 * NULL-terminated, possibly empty) */
char **kov_config_warnings(const KovConfig *config);

/* @command ("program args", as query-secret holds it) split on white
 * space into an argument vector, every %s in the arguments replaced by
 * @arg. (transfer full) */
char **kov_config_command_argv(const char *command, const char *arg);

/* Parse a Kuvert boolean: 1/on/t/true/yes, 0/off/f/false/no, any case. */
gboolean kov_config_parse_bool(const char *value, gboolean *out);
/* kov_policy_sender_allowed() with @queue's senders pattern. */
gboolean kov_config_sender_allowed(const KovQueueConfig *queue, const char *address);

/* The keys directory mail of @queue (submitted by @client, nullable)
 * takes its keys from, or NULL for none: the client's keydir if it sets
 * one, else the queue's, else the global one; "keydir =" (empty) turns it
 * off at that level. *@only (nullable out) is keydir-only found the same
 * way (FALSE when there is no directory). (borrowed from @config) */
const char *kov_config_keydir(const KovConfig *config, const KovQueueConfig *queue,
                              const KovClientConfig *client, gboolean *only);

/* The queue called @name: a built-in, a [queue NAME] section, or for
 * "kuvert" the entry of Kuvert's queue (kind KOV_QUEUE_KUVERT, no key, no
 * senders: the rules decide). NULL for any other name. (borrowed, valid
 * while @config lives) */
const KovQueueConfig *kov_config_queue(const KovConfig *config, const char *name);
/* The built-in queue of policy @kind (KOV_QUEUE_KUVERT: Kuvert's).
 * (borrowed, valid while @config lives) */
const KovQueueConfig *kov_config_queue_builtin(const KovConfig *config, KovQueueKind kind);
/* Can @name be a queue's name: 1 to KOV_CONFIG_QUEUE_NAME_MAX of [a-z0-9_-],
 * starting with a letter or digit, not all digits (a Kuvert queue file's
 * name), not a name queuedir has for something else (state, failed,
 * kuvert) nor a Maildir's tmp, new, cur? FALSE with KOV_ERROR_CONFIG
 * saying why. The built-in names pass. */
gboolean kov_config_queue_name_check(const char *name, GError **error);
/* The queue names of @config, comma separated, for messages: "must-encrypt,
 * fallback, sign-only, NAME...". (transfer full) */
char *kov_config_queue_names(const KovConfig *config);
