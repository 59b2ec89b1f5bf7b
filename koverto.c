/* SPDX-License-Identifier: GPL-3.0-or-later */
/* koverto: the command table and the daemon's entry. `koverto NAME ...`
 * runs the command NAME of the table (submit.c, explain.c, status.c, ...); anything else
 * is the daemon: options (Kuvert's -c -d -o -r -k, plus -n),
 * configuration, logging and signals; the loop itself is lib/run/daemon.c.
 * Exit statuses: the programs' own cases here, in submit.c and explain.c,
 * kov_error_to_sysexit for an error, KovDaemonExit (daemon.h) for a run;
 * koverto(8) lists them all. */
#include "commands.h"
#include "config.h"
#include "daemon.h"
#include "error.h"
#include "keys.h"
#include "deliver.h"
#include "kuvert.h"
#include "log.h"
#include "process.h"
#include "queue.h"

#include <gmime/gmime.h>
#include <gpgme.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

/* notmuch's command_t: one entry per command, one file each. */
typedef struct {
	const char *name;
	int (*function)(int argc, char **argv);
	const char *summary;
} KovertoCommand;

static const KovertoCommand koverto_commands[] = {
	{ "submit", koverto_submit_main, "put one mail in a queue, as sendmail does (koverto-submit(1))" },
	{ "explain", koverto_explain_main, "say what koverto would do with a mail now, and why; send nothing" },
	{ "status", koverto_status_main, "show the daemon, the listener and each queue's waiting, deferred and failed mail" },
	{ "hash-password", koverto_hash_password_main, "print the hash of a password for a [client] of koverto.conf(5)" },
};

/* Names the program may be called by (a link) that mean a command, its
 * argv given whole: Kuvert's kuvert_submit looks at its own name. */
static const struct {
	const char *program;
	const char *command;
} koverto_aliases[] = {
	{ "koverto-submit", "submit" },
	{ "kuvert_submit", "submit" },
};

static volatile sig_atomic_t koverto_stop;
static volatile sig_atomic_t koverto_reload;
static const char *koverto_config_path;   /* for reloads */
static gboolean koverto_connect;          /* -n --connect */

static void
koverto_on_signal(int sig)
{
	if (sig == SIGUSR1)
		koverto_reload = 1;
	else
		koverto_stop = 1;
}

static KovConfig *koverto_reload_config(GError **error);

static void
koverto_usage(FILE *out)
{
	g_autofree char *order = kov_config_search_order();
	fprintf(out,
	        "usage: koverto [-c FILE] [-d] [-o] [-n [--connect]] [-r | -k]\n"
	        "       koverto submit [--queue NAME] [-c FILE] [-f SENDER] [-t] [RECIPIENT...] < mail\n"
	        "       koverto explain [--queue NAME] [-c FILE] [-f SENDER] [--json] [RECIPIENT...] < mail\n"
	        "       koverto explain [--queue NAME] [-c FILE] [-f SENDER] [--json] --no-mail ADDRESS...\n"
	        "       koverto status [-c FILE] [--json] [--summary | --mail ID]\n"
	        "       koverto hash-password < password\n"
	        "  -c FILE  configuration file; looked for in this order:\n"
	        "           %s\n"
	        "  -d       debug output (stderr and the configured log)\n"
	        "  -o       one-shot: process what is queued, then exit\n"
	        "  -n       check the configuration and exit\n"
	        "  -n --connect  also connect to msserver (EHLO, STARTTLS, AUTH as configured, QUIT)\n"
	        "  -r       tell the running daemon to reload (SIGUSR1)\n"
	        "  -k       tell the running daemon to stop (SIGTERM)\n", order);
	fprintf(out, "commands:\n");
	for (gsize i = 0; i < G_N_ELEMENTS(koverto_commands); i++)
		fprintf(out, "  %-13s %s\n", koverto_commands[i].name, koverto_commands[i].summary);
}

/* Block the signals we handle; they are let in only while the loop waits,
 * so a mail in hand is always finished before the daemon stops. */
static void
koverto_setup_signals(sigset_t *wait_mask, sigset_t *stop_signals)
{
	static const int stops[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT };
	struct sigaction sa = { .sa_handler = koverto_on_signal, .sa_flags = SA_RESTART };
	sigset_t block;

	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (gsize i = 0; i < G_N_ELEMENTS(stops); i++) {
		sigaction(stops[i], &sa, NULL);
		sigaddset(&block, stops[i]);
	}
	signal(SIGPIPE, SIG_IGN);
	*stop_signals = block;
	sigaction(SIGUSR1, &sa, NULL);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, wait_mask);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&block, sig) == 1)
			sigdelset(wait_mask, sig);
}

static int
koverto_signal_daemon(const KovConfig *config, int sig)
{
	int pid = kov_queue_locked_pid(config->queuedir);
	if (pid <= 0) {
		fprintf(stderr, "koverto: no daemon is running on %s\n", config->queuedir);
		return sig == SIGTERM ? EX_OK : EX_UNAVAILABLE;
	}
	if (kill(pid, sig) != 0) {
		fprintf(stderr, "koverto: cannot signal pid %d: %s\n", pid, g_strerror(errno));
		return EX_NOPERM;
	}
	return EX_OK;
}

/* Every signing key the configuration names (defaultkey, each queue's
 * and each listener client's key) has its secret key here and can sign
 * now: a key that cannot would fail every mail of its queue or client for
 * good. */
static gboolean
koverto_check_keys(const KovConfig *config, KovKeys *keys, GError **error)
{
	if (config->defaultkey != NULL
	    && !kov_keys_check_signing(keys, config->defaultkey, "defaultkey", error))
		return FALSE;
	for (guint i = 0; i < config->queues->len; i++) {
		const KovQueueConfig *q = g_ptr_array_index(config->queues, i);
		g_autofree char *role = g_strdup_printf("key in [queue %s]", q->name);
		if (q->signing_key != NULL && !kov_keys_check_signing(keys, q->signing_key, role, error))
			return FALSE;
	}
	for (guint i = 0; i < config->listen.clients->len; i++) {
		const KovClientConfig *c = g_ptr_array_index(config->listen.clients, i);
		g_autofree char *role = g_strdup_printf("key in [client %s]", c->name);
		if (c->signing_key != NULL && !kov_keys_check_signing(keys, c->signing_key, role, error))
			return FALSE;
	}
	return TRUE;
}

/* Every signing key the configuration names (defaultkey, each queue's and
 * each client's key) that expires within key-expiry-warning days: a
 * warning in the log, at most once a day per key (keymark.h). A key that
 * cannot be found here was reported by koverto_check_keys: nothing more
 * is said of it. */
static void
koverto_note_expiry(const KovConfig *config, KovKeys *keys)
{
	if (config->key_expiry_warning == 0)
		return;
	g_autoptr(GPtrArray) ids = g_ptr_array_new();
	if (config->defaultkey != NULL)
		g_ptr_array_add(ids, config->defaultkey);
	for (guint i = 0; i < config->queues->len; i++) {
		const KovQueueConfig *q = g_ptr_array_index(config->queues, i);
		if (q->signing_key != NULL)
			g_ptr_array_add(ids, q->signing_key);
	}
	for (guint i = 0; i < config->listen.clients->len; i++) {
		const KovClientConfig *c = g_ptr_array_index(config->listen.clients, i);
		if (c->signing_key != NULL)
			g_ptr_array_add(ids, c->signing_key);
	}
	for (guint i = 0; i < ids->len; i++) {
		g_autoptr(GError) error = NULL;
		gpgme_key_t key = kov_keys_find_signing(keys, g_ptr_array_index(ids, i), NULL, NULL, &error);
		if (key == NULL)
			continue;
		kov_process_note_expiry(config, key, KOV_KEYMARK_SIGNING, NULL);
		gpgme_key_unref(key);
	}
}

/* What loads but will not do what a Kuvert user expects: on @out, or to
 * the log when @out is NULL. */
static void
koverto_warn(const KovConfig *config, FILE *out)
{
	g_auto(GStrv) warnings = kov_config_warnings(config);
	for (gsize i = 0; warnings[i] != NULL; i++) {
		if (out != NULL)
			fprintf(out, "koverto: warning: %s: %s\n", config->file, warnings[i]);
		else
			kov_log_warning("%s", warnings[i]);
	}
}

/* SIGUSR1: the file again, with the same key checks and warnings as a
 * start; a key that cannot sign keeps the running configuration. */
static KovConfig *
koverto_reload_config(GError **error)
{
	g_autoptr(KovConfig) config = kov_config_load(koverto_config_path, error);
	if (config == NULL)
		return NULL;
	g_autoptr(KovKeys) keys = kov_keys_new(config->gnupghome, config->gpg, config->alwaystrust, error);
	if (keys == NULL || !koverto_check_keys(config, keys, error))
		return NULL;
	koverto_warn(config, NULL);
	koverto_note_expiry(config, keys);
	return g_steal_pointer(&config);
}

/* -n: load everything a start would, without touching the queue. */
static int
koverto_check(const KovConfig *config)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(KovKeys) keys = kov_keys_new(config->gnupghome, config->gpg, config->alwaystrust, &error);
	gboolean keys_ok = keys != NULL && koverto_check_keys(config, keys, &error);
	g_autoptr(KovDeliver) deliver = keys_ok ? kov_deliver_new(config, &error) : NULL;

	if (deliver == NULL) {
		fprintf(stderr, "koverto: %s: %s\n", config->file, error->message);
		return kov_error_to_sysexit(error);
	}
	koverto_warn(config, stderr);
	g_autofree char *connected = NULL;
	if (koverto_connect && !kov_deliver_probe(deliver, &connected, &error)) {
		fprintf(stderr, "koverto: %s: -n --connect: %s\n", config->file, error->message);
		return kov_error_to_sysexit(error);
	}
	if (connected != NULL)
		printf("koverto: %s\n", connected);
	printf("koverto: configuration %s is valid\n", config->file);
	return EX_OK;
}

/* A start's own checks, in kov_daemon_run's order, made here first so
 * that a refusal is seen on the terminal before can-detach takes it away
 * (kov_daemon_run makes them again, for what changed in between): the
 * queue and temporary directories, the keyring, every configured signing
 * key, the transport, no Kuvert and no other koverto on the queue. */
static gboolean
koverto_preflight(const KovConfig *config, GError **error)
{
	if (!kov_queue_prepare(config->queuedir, config->queues, error)
	    || !kov_config_prepare_tempdir(config->tempdir, error))
		return FALSE;
	g_autoptr(KovKeys) keys = kov_keys_new(config->gnupghome, config->gpg, config->alwaystrust, error);
	if (keys == NULL)
		return FALSE;
	g_autoptr(GError) unsure = NULL;
	if (!koverto_check_keys(config, keys, &unsure)) {
		/* Only a key that cannot sign refuses the start: when gpg or its
		 * agent fails now, the daemon starts and defers mail as before. */
		if (!g_error_matches(unsure, KOV_ERROR, KOV_ERROR_TEMPFAIL)) {
			g_propagate_error(error, g_steal_pointer(&unsure));
			return FALSE;
		}
		fprintf(stderr, "koverto: warning: cannot check the signing keys now: %s\n",
		        unsure->message);
	}
	g_autoptr(KovDeliver) deliver = kov_deliver_new(config, error);
	if (deliver == NULL || !kov_kuvert_check_running(config->queuedir, error))
		return FALSE;
	int pid = kov_queue_locked_pid(config->queuedir);
	if (pid > 0) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_LOCKED,
		            "queue directory %s is in use by another koverto (pid %d)", config->queuedir,
		            pid);
		return FALSE;
	}
	return TRUE;
}

static void
koverto_init_libraries(void)
{
	setlocale(LC_ALL, "");
	g_mime_init();
	gpgme_check_version(NULL);
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void
koverto_shutdown_libraries(void)
{
	curl_global_cleanup();
	g_mime_shutdown();
}

/* can-detach: into the background, away from the terminal. The child goes
 * on; the parent exits 0 as Kuvert's does. */
static gboolean
koverto_detach(void)
{
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "koverto: cannot detach: %s\n", g_strerror(errno));
		return FALSE;
	}
	if (pid > 0)
		_exit(EX_OK);
	setsid();
	if (chdir("/") != 0)
		return FALSE;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		close(null);
	}
	return TRUE;
}

static int
koverto_run(const char *config_path, gboolean debug, gboolean oneshot, gboolean check, int sig)
{
	g_autoptr(GError) error = NULL;
	/* Absolute: a reload after detaching (chdir /) must read the same file. */
	g_autofree char *located = kov_config_locate(config_path);
	g_autofree char *path = g_canonicalize_filename(located, NULL);
	g_autoptr(KovConfig) config = kov_config_load(path, &error);

	if (config == NULL) {
		fprintf(stderr, "koverto: %s\n", error->message);
		return EX_CONFIG;
	}
	if (check)
		return koverto_check(config);
	if (sig != 0)
		return koverto_signal_daemon(config, sig);

	gboolean detach = config->can_detach && !oneshot;
	/* Taken out of the environment before the first gpg runs, so that no
	 * program koverto starts (gpg, its agent, msp) inherits it. A detached
	 * daemon is not the process the service manager started: it says
	 * nothing. */
	g_autoptr(GError) notify_error = NULL;
	g_autoptr(KovNotify) notify = kov_notify_new_from_env(&notify_error);
	if (notify_error != NULL)
		fprintf(stderr, "koverto: warning: %s\n", notify_error->message);
	if (detach || oneshot)
		g_clear_pointer(&notify, kov_notify_free);
	if (!koverto_preflight(config, &error)) {
		fprintf(stderr, "koverto: %s\n", error->message);
		return kov_error_to_sysexit(error);
	}
	if (detach)
		koverto_warn(config, stderr);   /* the log's copy goes to no terminal */
	KovLogOptions log = { "koverto", !detach, debug, config->logfile, config->syslog };
	if (detach && !kov_log_open(&log, &error)) {   /* tried on the terminal, then for real */
		fprintf(stderr, "koverto: %s: %s\n", path, error->message);
		return EX_CONFIG;
	}
	kov_log_close();
	if (detach && !koverto_detach())
		return EX_OSERR;
	if (!kov_log_open(&log, &error)) {
		fprintf(stderr, "koverto: %s: %s\n", path, error->message);
		return EX_CONFIG;
	}
	koverto_warn(config, NULL);
	{
		g_autoptr(KovKeys) keys = kov_keys_new(config->gnupghome, config->gpg, config->alwaystrust, NULL);
		if (keys != NULL)
			koverto_note_expiry(config, keys);
	}
	sigset_t wait_mask, stop_signals;
	koverto_setup_signals(&wait_mask, &stop_signals);
	koverto_config_path = path;
	KovDaemonOptions options = { oneshot, &koverto_stop, &wait_mask, &stop_signals,
		                     &koverto_reload, koverto_reload_config, notify };
	kov_log_info("koverto %s starting (config %s)", KOVERTO_VERSION, path);
	int status = kov_daemon_run(config, &options, &error);
	if (status < 0) {
		kov_log_err("%s", error->message);
		status = kov_error_to_sysexit(error);
	} else {
		kov_log_info("koverto stopping");
	}
	kov_log_close();
	return status;
}

static const KovertoCommand *
koverto_command_find(const char *name)
{
	for (gsize i = 0; i < G_N_ELEMENTS(koverto_commands); i++)
		if (g_str_equal(name, koverto_commands[i].name))
			return &koverto_commands[i];
	return NULL;
}

static int
koverto_command_run(const KovertoCommand *command, int argc, char **argv)
{
	koverto_init_libraries();
	int status = command->function(argc, argv);
	koverto_shutdown_libraries();
	return status;
}

int
main(int argc, char **argv)
{
	const char *config_path = NULL;
	gboolean debug = FALSE, oneshot = FALSE, check = FALSE;
	int sig = 0, opt, status;
	g_autofree char *name = g_path_get_basename(argv[0]);

	for (gsize i = 0; i < G_N_ELEMENTS(koverto_aliases); i++)
		if (g_str_equal(name, koverto_aliases[i].program))
			return koverto_command_run(koverto_command_find(koverto_aliases[i].command), argc, argv);
	const KovertoCommand *command = argc > 1 ? koverto_command_find(argv[1]) : NULL;
	if (command != NULL)
		return koverto_command_run(command, argc - 1, argv + 1);
	if (argc > 1 && (g_str_equal(argv[1], "--help") || g_str_equal(argv[1], "-h"))) {
		koverto_usage(stdout);
		return EX_OK;
	}
	if (argc > 1 && g_str_equal(argv[1], "--version")) {
		printf("koverto %s\n", KOVERTO_VERSION);
		return EX_OK;
	}
	static const struct option longopts[] = {
		{ "connect", no_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	while ((opt = getopt_long(argc, argv, "c:dnork", longopts, NULL)) != -1) {
		switch (opt) {
		case 'C': koverto_connect = TRUE; break;
		case 'c': config_path = optarg; break;
		case 'd': debug = TRUE; break;
		case 'n': check = TRUE; break;
		case 'o': oneshot = TRUE; break;
		case 'r': sig = SIGUSR1; break;
		case 'k': sig = SIGTERM; break;
		default: koverto_usage(stderr); return EX_USAGE;
		}
	}
	if (koverto_connect && !check) {
		fprintf(stderr, "koverto: --connect goes with -n\n");
		koverto_usage(stderr);
		return EX_USAGE;
	}
	if (optind < argc) {
		fprintf(stderr, "koverto: unexpected argument \"%s\"\n", argv[optind]);
		koverto_usage(stderr);
		return EX_USAGE;
	}
	koverto_init_libraries();
	status = koverto_run(config_path, debug, oneshot, check, sig);
	koverto_shutdown_libraries();
	return status;
}
