/* SPDX-License-Identifier: GPL-3.0-or-later */
/* `koverto status`: whether the daemon and its listener run, and per
 * queue what waits, what is deferred (and why, and until when) and what
 * failed, read from the spool by lib/spool/inspect.c without changing a
 * byte of it, whether or not the daemon runs. --json mirrors Postfix's
 * `postqueue -j` (one object per mail and line) after one summary line;
 * --mail ID says all koverto knows of one mail, its log lines included.
 * Every name, address and reason from the spool is shown escaped. */
#include "commands.h"
#include "config.h"
#include "error.h"
#include "inspect.h"
#include "log.h"
#include "queue.h"

#include <errno.h>
#include <getopt.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

/* The status for an ID that names no mail: as grep(1) says "no match". */
#define STATUS_EXIT_UNKNOWN 1

typedef struct {
	const char *config;
	const char *mail;          /* --mail ID */
	gboolean json;
	gboolean summary;          /* --summary: the counts alone */
	gint64 now;
} StatusArgs;

static void
status_usage(FILE *out)
{
	fprintf(out,
	        "usage: koverto status [-c FILE] [--json] [--summary]\n"
	        "       koverto status [-c FILE] [--json] --mail ID\n"
	        "  whether the daemon and its listener run, and per queue the mail waiting,\n"
	        "  deferred and failed; --summary: the counts alone (fast on a long queue);\n"
	        "  --mail: all koverto knows of one mail. Reads the queue directory and\n"
	        "  changes nothing.\n");
}

static int
status_parse(int argc, char **argv, StatusArgs *args)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'J' },
		{ "mail", required_argument, NULL, 'm' },
		{ "summary", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+c:C:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': case 'C': args->config = optarg; break;
		case 'J': args->json = TRUE; break;
		case 'm': args->mail = optarg; break;
		case 'S': args->summary = TRUE; break;
		case 'h': status_usage(stdout); return -1;
		default: status_usage(stderr); return EX_USAGE;
		}
	}
	if (args->summary && args->mail != NULL) {
		fprintf(stderr, "koverto status: --summary and --mail do not go together\n");
		status_usage(stderr);
		return EX_USAGE;
	}
	if (optind < argc) {
		g_autofree char *shown = kov_log_escape(argv[optind]);
		fprintf(stderr, "koverto status: unexpected argument \"%s\"\n", shown);
		status_usage(stderr);
		return EX_USAGE;
	}
	return EX_OK;
}

/* ---- words for a person --------------------------------------------------- */

/* "45s", "12m", "3h05m", "2d04h"; "-" for none. */
static char *
status_duration(gint64 seconds)
{
	if (seconds < 0)
		seconds = 0;
	if (seconds < 60)
		return g_strdup_printf("%" G_GINT64_FORMAT "s", seconds);
	if (seconds < 3600)
		return g_strdup_printf("%" G_GINT64_FORMAT "m", seconds / 60);
	if (seconds < 86400)
		return g_strdup_printf("%" G_GINT64_FORMAT "h%02" G_GINT64_FORMAT "m", seconds / 3600,
		                       seconds % 3600 / 60);
	return g_strdup_printf("%" G_GINT64_FORMAT "d%02" G_GINT64_FORMAT "h", seconds / 86400,
	                       seconds % 86400 / 3600);
}

/* The age of something that happened at @t: "-" for never. */
static char *
status_age(const StatusArgs *args, gint64 t)
{
	return t > 0 ? status_duration(args->now - t) : g_strdup("-");
}

/* @t in local time, as the log file writes it. */
static char *
status_time(gint64 t)
{
	char buf[64];
	time_t tt = (time_t)t;
	struct tm tm;
	if (localtime_r(&tt, &tm) == NULL || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm) == 0)
		return g_strdup("?");
	return g_strdup(buf);
}

/* "2026-12-07T10:31:00+0000 (in 4m)", "due now". */
static char *
status_next(const StatusArgs *args, gint64 next)
{
	if (next <= 0 || next <= args->now)
		return g_strdup("due now");
	g_autofree char *when = status_time(next);
	g_autofree char *in = status_duration(next - args->now);
	return g_strdup_printf("%s (in %s)", when, in);
}

/* Every string from the spool goes through here before it is printed. */
#define SHOW(s) kov_log_escape((s) != NULL ? (s) : "")

static const char *
status_rcpt_word(KovRcptState state)
{
	switch (state) {
	case KOV_STATE_PENDING: return "pending";
	case KOV_STATE_DELIVERED: return "delivered";
	case KOV_STATE_FAILED: return "failed";
	}
	return "?";
}

/* ---- the daemon ------------------------------------------------------------ */

static void
status_text_daemon(FILE *out, const StatusArgs *args, const KovConfig *config,
                   const KovInspectDaemon *d)
{
	if (d->pid > 0) {
		g_autofree char *since = status_time(d->since);
		g_autofree char *up = status_age(args, d->since);
		fprintf(out, "daemon: running, pid %d, since %s (%s), %u worker processes\n", (int)d->pid,
		        since, up, d->workers);
	} else if (d->lock_pid > 0) {
		fprintf(out, "daemon: not running (pid %d is gone; its workers still finish the mail "
		             "in hand)\n", (int)d->lock_pid);
	} else {
		fprintf(out, "daemon: not running\n");
	}
	if (!kov_listen_config_enabled(&config->listen)) {
		fprintf(out, "listener: not configured\n");
	} else if (d->listeners->len == 0) {
		fprintf(out, "listener: not running\n");
	} else {
		const KovInspectProcess *p = &g_array_index(d->listeners, KovInspectProcess, 0);
		g_autofree char *since = status_time(p->since);
		g_autofree char *up = status_age(args, p->since);
		fprintf(out, "listener: running, pid %d, since %s (%s)", (int)p->pid, since, up);
		for (guint i = 1; i < d->listeners->len; i++)
			fprintf(out, "%s%d", i == 1 ? "; replaced, finishing its sessions: pid " : ", ",
			        (int)g_array_index(d->listeners, KovInspectProcess, i).pid);
		fprintf(out, "\n");
	}
}

/* ---- text ------------------------------------------------------------------ */

static const char *
status_policy(const KovConfig *config, const KovInspectQueue *q)
{
	if (kov_queue_is_kuvert(q->name))
		return "kuvert";
	const KovQueueConfig *qc = kov_config_queue(config, q->name);
	return qc != NULL ? kov_policy_queue_name(qc->kind) : "unconfigured";
}

static void
status_text_recipients(FILE *out, const KovInspectMail *m, gboolean all)
{
	if (m->envelope_problem != NULL) {
		g_autofree char *why = SHOW(m->envelope_problem);
		fprintf(out, "    recipients: unknown: %s\n", why);
		return;
	}
	for (guint i = 0; m->recipients != NULL && i < m->recipients->len; i++) {
		const KovInspectRcpt *r = g_ptr_array_index(m->recipients, i);
		if (!all && r->state != KOV_STATE_PENDING)
			continue;
		g_autofree char *address = SHOW(r->address);
		g_autofree char *reason = r->reason ? SHOW(r->reason) : NULL;
		fprintf(out, "    %s %s%s%s\n", status_rcpt_word(r->state), address, reason ? ": " : "",
		        reason ? reason : "");
	}
}

static void
status_text_mail(FILE *out, const StatusArgs *args, const KovInspectMail *m)
{
	g_autofree char *id = SHOW(m->name);
	g_autofree char *age = status_age(args, m->arrival);
	fprintf(out, "  %-8s %s  age %s", kov_inspect_where_name(m->where), id, age);
	if (m->where == KOV_INSPECT_DEFERRED) {
		g_autofree char *next = status_next(args, m->next_attempt);
		fprintf(out, "  attempts %u  next retry %s\n", m->attempts, next);
		g_autofree char *last = m->last_error ? SHOW(m->last_error) : NULL;
		if (last != NULL)
			fprintf(out, "    last error: %s\n", last);
		status_text_recipients(out, m, FALSE);
	} else if (m->where == KOV_INSPECT_FAILED) {
		g_autofree char *failed = status_age(args, m->failed_time);
		g_autofree char *reason = m->reason ? SHOW(m->reason) : g_strdup("(no reason file)");
		fprintf(out, "  failed %s ago\n    reason: %s\n", failed, reason);
	} else {
		fprintf(out, "\n");
	}
	if (m->problem != NULL) {
		g_autofree char *problem = SHOW(m->problem);
		fprintf(out, "    problem: %s\n", problem);
	}
}

static void
status_text(FILE *out, const StatusArgs *args, const KovConfig *config, const KovInspectDaemon *d,
            const KovInspect *inspect)
{
	g_autofree char *queuedir = SHOW(config->queuedir);
	fprintf(out, "queue directory: %s\n", queuedir);
	status_text_daemon(out, args, config, d);
	if (inspect->problem != NULL) {
		g_autofree char *problem = SHOW(inspect->problem);
		fprintf(out, "%s\n", problem);
		return;
	}
	fprintf(out, "\n%-24s %-13s %8s %8s %8s %8s %8s\n", "QUEUE", "POLICY", "WAITING", "ACTIVE",
	        "DEFERRED", "FAILED", "OLDEST");
	for (guint i = 0; i < inspect->queues->len; i++) {
		const KovInspectQueue *q = g_ptr_array_index(inspect->queues, i);
		g_autofree char *oldest = status_age(args, q->oldest);
		fprintf(out, "%-24s %-13s %8u %8u %8u %8u %8s\n", q->name, status_policy(config, q),
		        q->waiting, q->active, q->deferred, q->failed, oldest);
	}
	for (guint i = 0; i < inspect->queues->len; i++) {
		const KovInspectQueue *q = g_ptr_array_index(inspect->queues, i);
		if (q->mails->len == 0 && q->problem == NULL)
			continue;
		fprintf(out, "\n%s:\n", q->name);
		if (q->problem != NULL) {
			g_autofree char *problem = SHOW(q->problem);
			fprintf(out, "  problem: %s\n", problem);
		}
		for (guint k = 0; k < q->mails->len; k++)
			status_text_mail(out, args, g_ptr_array_index(q->mails, k));
	}
}

/* ---- JSON ------------------------------------------------------------------ */

static void
json_string(JsonBuilder *b, const char *name, const char *value)
{
	json_builder_set_member_name(b, name);
	if (value == NULL) {
		json_builder_add_null_value(b);
		return;
	}
	g_autofree char *shown = kov_log_escape(value);   /* valid UTF-8, no controls */
	json_builder_add_string_value(b, shown);
}

static void
json_int(JsonBuilder *b, const char *name, gint64 value)
{
	json_builder_set_member_name(b, name);
	json_builder_add_int_value(b, value);
}

/* A time: null for none. */
static void
json_time(JsonBuilder *b, const char *name, gint64 value)
{
	json_builder_set_member_name(b, name);
	if (value > 0)
		json_builder_add_int_value(b, value);
	else
		json_builder_add_null_value(b);
}

static void
json_print(FILE *out, JsonBuilder *b, gboolean pretty)
{
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	json_generator_set_pretty(gen, pretty);
	g_autofree char *text = json_generator_to_data(gen, NULL);
	fprintf(out, "%s\n", text);
}

/* Postfix's queue_name for where the mail is. */
static const char *
json_postfix_queue(KovInspectWhere where)
{
	switch (where) {
	case KOV_INSPECT_WAITING: return "incoming";
	case KOV_INSPECT_ACTIVE: return "active";
	case KOV_INSPECT_DEFERRED: return "deferred";
	case KOV_INSPECT_FAILED: return "hold";
	}
	return "?";
}

/* One mail's members, postqueue -j's first, into the object being built. */
static void
json_mail_fields(JsonBuilder *b, const KovInspectMail *m, gboolean all_recipients)
{
	json_string(b, "queue_name", json_postfix_queue(m->where));
	json_string(b, "queue_id", m->name);
	json_int(b, "arrival_time", m->arrival);
	json_int(b, "message_size", m->size);
	json_builder_set_member_name(b, "forced_expire");
	json_builder_add_boolean_value(b, FALSE);
	json_string(b, "sender", m->sender);
	json_builder_set_member_name(b, "recipients");
	json_builder_begin_array(b);
	for (guint i = 0; m->recipients != NULL && i < m->recipients->len; i++) {
		const KovInspectRcpt *r = g_ptr_array_index(m->recipients, i);
		/* Like postqueue: the recipients still to be delivered. */
		if (!all_recipients && r->state == KOV_STATE_DELIVERED)
			continue;
		json_builder_begin_object(b);
		json_string(b, "address", r->address);
		if (r->reason != NULL)
			json_string(b, "delay_reason", r->reason);
		if (all_recipients)
			json_string(b, "state", status_rcpt_word(r->state));
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	/* koverto's own */
	json_string(b, "queue", m->queue);
	json_string(b, "state", kov_inspect_where_name(m->where));
	json_string(b, "path", m->path);
	json_int(b, "attempts", m->attempts);
	json_time(b, "first_seen_time", m->first_seen);
	json_time(b, "next_attempt_time", m->where == KOV_INSPECT_DEFERRED ? m->next_attempt : 0);
	json_string(b, "last_error", m->last_error);
	json_time(b, "failed_time", m->where == KOV_INSPECT_FAILED ? m->failed_time : 0);
	json_string(b, "failed_reason", m->where == KOV_INSPECT_FAILED ? m->reason : NULL);
	json_string(b, "envelope_problem", m->envelope_problem);
	json_string(b, "problem", m->problem);
}

static void
json_process(JsonBuilder *b, const char *name, pid_t pid, gint64 since)
{
	json_builder_set_member_name(b, name);
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "running");
	json_builder_add_boolean_value(b, pid > 0);
	json_time(b, "pid", pid);
	json_time(b, "since_time", pid > 0 ? since : 0);
	json_builder_end_object(b);
}

static void
status_json_summary(FILE *out, const StatusArgs *args, const KovConfig *config,
                    const KovInspectDaemon *d, const KovInspect *inspect)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_int(b, "koverto_status", 1);
	json_int(b, "time", args->now);
	json_string(b, "queuedir", config->queuedir);
	json_string(b, "problem", inspect->problem);
	json_process(b, "daemon", d->pid, d->since);
	json_builder_set_member_name(b, "workers");
	json_builder_add_int_value(b, d->workers);
	const KovInspectProcess *l = d->listeners->len > 0
		? &g_array_index(d->listeners, KovInspectProcess, 0) : NULL;
	json_process(b, "listener", l ? l->pid : 0, l ? l->since : 0);
	json_builder_set_member_name(b, "listener_configured");
	json_builder_add_boolean_value(b, kov_listen_config_enabled(&config->listen));
	json_builder_set_member_name(b, "queues");
	json_builder_begin_array(b);
	for (guint i = 0; i < inspect->queues->len; i++) {
		const KovInspectQueue *q = g_ptr_array_index(inspect->queues, i);
		json_builder_begin_object(b);
		json_string(b, "name", q->name);
		json_string(b, "policy", status_policy(config, q));
		json_builder_set_member_name(b, "configured");
		json_builder_add_boolean_value(b, q->configured);
		json_string(b, "problem", q->problem);
		json_int(b, "waiting", q->waiting);
		json_int(b, "active", q->active);
		json_int(b, "deferred", q->deferred);
		json_int(b, "failed", q->failed);
		json_time(b, "oldest_arrival_time", q->oldest);
		json_time(b, "oldest_failed_time", q->oldest_failed);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);
	json_print(out, b, FALSE);
}

static void
status_json(FILE *out, const StatusArgs *args, const KovConfig *config, const KovInspectDaemon *d,
            const KovInspect *inspect)
{
	status_json_summary(out, args, config, d, inspect);
	for (guint i = 0; i < inspect->queues->len; i++) {
		const KovInspectQueue *q = g_ptr_array_index(inspect->queues, i);
		for (guint k = 0; k < q->mails->len; k++) {
			g_autoptr(JsonBuilder) b = json_builder_new();
			json_builder_begin_object(b);
			json_mail_fields(b, g_ptr_array_index(q->mails, k), FALSE);
			json_builder_end_object(b);
			json_print(out, b, FALSE);
		}
	}
}

/* ---- one mail ---------------------------------------------------------------- */

static void
status_text_one(FILE *out, const StatusArgs *args, const KovInspectMail *m)
{
	g_autofree char *id = SHOW(m->name);
	g_autofree char *path = SHOW(m->path);
	g_autofree char *arrived = status_time(m->arrival);
	g_autofree char *age = status_age(args, m->arrival);
	fprintf(out, "mail: %s\nqueue: %s\nstate: %s\nfile: %s\narrived: %s (%s ago)\nsize: %" G_GINT64_FORMAT " bytes\n",
	        id, m->queue, kov_inspect_where_name(m->where), path, arrived, age, m->size);
	if (m->problem != NULL) {
		g_autofree char *problem = SHOW(m->problem);
		fprintf(out, "problem: %s\n", problem);
	}
	if (m->has_state) {
		g_autofree char *first = status_time(m->first_seen);
		g_autofree char *next = status_next(args, m->next_attempt);
		fprintf(out, "attempts: %u\nfirst seen: %s\nnext retry: %s\n", m->attempts, first, next);
		if (m->crashes > 0)
			fprintf(out, "worker crashes: %u\n", m->crashes);
		g_autofree char *last = m->last_error ? SHOW(m->last_error) : NULL;
		if (last != NULL)
			fprintf(out, "last error: %s\n", last);
	}
	if (m->where == KOV_INSPECT_FAILED) {
		g_autofree char *when = status_time(m->failed_time);
		g_autofree char *reason = m->reason ? SHOW(m->reason) : g_strdup("(no reason file)");
		fprintf(out, "failed: %s\nreason: %s\n", when, reason);
	}
	if (m->sender != NULL) {
		g_autofree char *sender = SHOW(*m->sender ? m->sender : "<>");
		fprintf(out, "sender: %s\n", sender);
	}
	if (m->envelope_problem != NULL || m->recipients != NULL) {
		fprintf(out, "recipients:\n");
		status_text_recipients(out, m, TRUE);
	}
}

static int
status_mail(FILE *out, const StatusArgs *args, const KovConfig *config)
{
	g_autoptr(GPtrArray) found = kov_inspect_find(config->queuedir, config->queues, args->mail);
	if (found->len == 0) {
		g_autofree char *id = SHOW(args->mail);
		g_autofree char *queuedir = SHOW(config->queuedir);
		fprintf(stderr, "koverto status: no mail \"%s\" in %s (delivered, purged, or never there)\n",
		        id, queuedir);
		return STATUS_EXIT_UNKNOWN;
	}
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	const char *log_note = NULL;
	if (config->logfile != NULL && *config->logfile != '\0')
		lines = kov_inspect_log_lines(config->logfile, args->mail, &error);
	else
		log_note = config->syslog != NULL && *config->syslog != '\0'
			? "no logfile configured; its lines went to syslog: look for the id in the system "
			  "log (journalctl -g ID, or /var/log/mail.log)"
			: "no logfile configured; its lines went to standard error (under systemd, "
			  "the journal: journalctl -u koverto -g ID)";

	for (guint i = 0; i < found->len; i++) {
		const KovInspectMail *m = g_ptr_array_index(found, i);
		if (args->json) {
			g_autoptr(JsonBuilder) b = json_builder_new();
			json_builder_begin_object(b);
			json_mail_fields(b, m, TRUE);
			json_builder_set_member_name(b, "log");
			json_builder_begin_array(b);
			for (guint k = 0; lines != NULL && k < lines->len; k++) {
				g_autofree char *line = SHOW(g_ptr_array_index(lines, k));
				json_builder_add_string_value(b, line);
			}
			json_builder_end_array(b);
			json_string(b, "log_problem", error ? error->message : log_note);
			json_builder_end_object(b);
			json_print(out, b, FALSE);
			continue;
		}
		if (i > 0)
			fprintf(out, "\n");
		status_text_one(out, args, m);
	}
	if (!args->json) {
		g_autofree char *logfile = SHOW(config->logfile);
		if (lines != NULL) {
			fprintf(out, "log (%s):\n", logfile);
			for (guint k = 0; k < lines->len; k++) {
				g_autofree char *line = SHOW(g_ptr_array_index(lines, k));
				fprintf(out, "  %s\n", line);
			}
		} else {
			g_autofree char *why = SHOW(error ? error->message : log_note);
			fprintf(out, "log: %s\n", why);
		}
	}
	return EX_OK;
}

/* ---- the command ------------------------------------------------------------ */

static int
status_run(StatusArgs *args)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = kov_config_locate(args->config);
	g_autoptr(KovConfig) config = kov_config_load(path, &error);
	if (config == NULL) {
		fprintf(stderr, "koverto status: %s\n", error->message);
		return EX_CONFIG;
	}
	args->now = g_get_real_time() / G_USEC_PER_SEC;
	int status = EX_OK;
	if (args->mail != NULL) {
		status = status_mail(stdout, args, config);
	} else {
		KovInspectDaemon daemon;
		kov_inspect_daemon(config->queuedir, &daemon);
		/* A person gets counts of the waiting mail; a program gets each. */
		KovInspectFlags flags = args->summary ? KOV_INSPECT_COUNT_ONLY
		                        : args->json ? KOV_INSPECT_LIST_WAITING | KOV_INSPECT_ENVELOPES : 0;
		g_autoptr(KovInspect) inspect = kov_inspect_spool(config->queuedir, config->queues, flags);
		if (args->json)
			status_json(stdout, args, config, &daemon, inspect);
		else
			status_text(stdout, args, config, &daemon, inspect);
		kov_inspect_daemon_clear(&daemon);
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "koverto status: cannot write the status: %s\n", g_strerror(errno));
		return EX_IOERR;
	}
	return status;
}

int
koverto_status_main(int argc, char **argv)
{
	StatusArgs args = { 0 };
	KovLogOptions log = { "koverto-status", TRUE, FALSE, NULL, NULL };
	int status = status_parse(argc, argv, &args);

	kov_log_open(&log, NULL);
	if (status == -1)
		status = EX_OK;
	else if (status == EX_OK)
		status = status_run(&args);
	kov_log_close();
	return status;
}
