/* SPDX-License-Identifier: GPL-3.0-or-later */
/* `koverto submit`: the sendmail-style entry. Reads one mail on stdin,
 * records the envelope as Kuvert does (X-Kuvert-From/X-Kuvert-To at the
 * top, the mail's own such lines dropped), checks in tmp/ that it is a
 * mail koverto can route, then renames it into the queue's new/. Exit
 * statuses are sysexits(3), as sendmail's; under --mta only 0, 65 (the
 * mail can never be taken) and 75 (try again later), as an MTA's delivery
 * agent needs them. */
#include "commands.h"
#include "config.h"
#include "error.h"
#include "log.h"
#include "message.h"
#include "queue.h"
#include "submission.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

typedef struct {
	const char *config;
	const char *queue;
	const char *sender;
	gboolean headers_decide;   /* -t */
	gboolean mta;              /* --mta: exit 0, 65 or 75 only */
	gboolean mail_at_fault;    /* the failure is the mail's own (its envelope) */
	GPtrArray *recipients;     /* borrowed argv strings */
} KovSubmitArgs;

static void
kov_submit_usage(void)
{
	fprintf(stderr, "usage: koverto submit [--queue NAME] [--mta] [-c|-C FILE] [-f SENDER] [-t] "
	                "[-i] [RECIPIENT...] < mail\n"
	                "  NAME is must-encrypt, fallback, sign-only or a [queue NAME] of the\n"
	                "  configuration; without --queue the mail goes to the Kuvert queue,\n"
	                "  where the rules decide\n");
}

/* Sendmail options that take an argument we have no use for: consumed, so
 * the argument never turns into a recipient. */
static gboolean
kov_submit_ignored_with_arg(char opt)
{
	return strchr("BFLNOpRVX", opt) != NULL;
}

static gboolean
kov_submit_take_value(int argc, char **argv, int *i, const char *arg, const char **value)
{
	if (arg[2] != '\0') {
		*value = arg + 2;
		return TRUE;
	}
	if (*i + 1 >= argc)
		return FALSE;
	*value = argv[++*i];
	return TRUE;
}

static int
kov_submit_parse(int argc, char **argv, KovSubmitArgs *args)
{
	int i;
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		const char *arg = argv[i];
		if (g_str_equal(arg, "--")) {
			i++;
			break;
		} else if (g_str_equal(arg, "--queue") && i + 1 < argc) {
			args->queue = argv[++i];
		} else if (g_str_has_prefix(arg, "--queue=")) {
			args->queue = arg + 8;
		} else if (g_str_equal(arg, "--mta")) {
			args->mta = TRUE;
		} else if (g_str_equal(arg, "--config") && i + 1 < argc) {
			args->config = argv[++i];
		} else if (arg[1] == 'C' || arg[1] == 'c' || arg[1] == 'f' || arg[1] == 'r') {
			/* -c as for the daemon, -C as for sendmail */
			const char **slot = arg[1] == 'C' || arg[1] == 'c' ? &args->config : &args->sender;
			if (!kov_submit_take_value(argc, argv, &i, arg, slot))
				return EX_USAGE;
		} else if (g_str_equal(arg, "-t")) {
			args->headers_decide = TRUE;
		} else if (arg[1] == 'o' || g_str_equal(arg, "-i") || g_str_equal(arg, "-m")
		           || g_str_equal(arg, "-v") || g_str_equal(arg, "-U")) {
			continue; /* -oi, -oem, -om, -i ...: sendmail's, nothing to do here */
		} else if (kov_submit_ignored_with_arg(arg[1])) {
			const char *unused;
			if (!kov_submit_take_value(argc, argv, &i, arg, &unused))
				return EX_USAGE;
		} else {
			fprintf(stderr, "koverto submit: unknown option %s\n", arg);
			return EX_USAGE;
		}
	}
	for (; i < argc; i++)
		g_ptr_array_add(args->recipients, argv[i]);
	return EX_OK;
}

static int
kov_submit_enqueue(KovSubmitArgs *args)
{
	g_autoptr(GError) error = NULL;
	KovSubmission submission = { KOV_QUEUE_KUVERT, args->sender, args->recipients,
		                     args->headers_decide, FALSE, -1 };
	/* Which queues there are is the configuration's answer: it is read
	 * before --queue can be checked. */
	gboolean given = kov_submission_check(&submission, &error);
	g_autofree char *path = given ? kov_config_locate(args->config) : NULL;
	g_autoptr(KovConfig) config = path ? kov_config_load(path, &error) : NULL;
	/* without --queue: Kuvert's queue, rules decide */
	const KovQueueConfig *queue = config == NULL ? NULL
		: kov_config_queue(config, args->queue != NULL ? args->queue : KOV_QUEUE_KUVERT_NAME);
	if (config != NULL && queue == NULL) {
		g_autofree char *known = kov_config_queue_names(config);
		g_autofree char *shown = g_strescape(args->queue, NULL);
		fprintf(stderr, "koverto submit: unknown queue \"%s\" (%s has: %s)\n", shown,
		        config->file, known);
		return EX_USAGE;
	}
	g_autofree char *id = NULL;

	if (queue != NULL) {
		submission.kind = queue->kind;
		if (kov_queue_prepare(config->queuedir, config->queues, &error))
			id = kov_queue_enqueue_fd(config->queuedir, queue->name, STDIN_FILENO, NULL,
			                          kov_submission_envelope, &submission, &error);
	}
	if (id == NULL) {
		fprintf(stderr, "koverto submit: %s\n", error->message);
		/* The command line's sender and recipients are the mail's
		 * envelope: a bad one is the mail's fault, as a bad header is. */
		args->mail_at_fault = !given || g_error_matches(error, KOV_ERROR, KOV_ERROR_DATAERR);
		return kov_error_to_sysexit(error);
	}
	return EX_OK;
}

/* --mta anywhere among the options, also after one that is not understood:
 * the MTA that runs us must get its 75 for a mistake in its own command. */
static gboolean
kov_submit_wants_mta(int argc, char **argv)
{
	for (int i = 1; i < argc && !g_str_equal(argv[i], "--"); i++)
		if (g_str_equal(argv[i], "--mta"))
			return TRUE;
	return FALSE;
}

/* The status for an MTA's delivery agent (Postfix's pipe(8), sendmail's
 * prog mailer, exim's pipe transport): they retry on 75 (and 71) and bounce
 * the mail to its sender on anything else. A failure that is not the mail's
 * own (configuration, queue directory, disk, usage in the MTA's command,
 * an unknown queue) is the operator's to fix: 75, the MTA keeps the mail
 * and tries again. A mail that can never be taken: 65, bounced. */
static int
kov_submit_status_for_mta(int status, gboolean mail_at_fault)
{
	if (status == EX_OK)
		return EX_OK;
	if (mail_at_fault)
		return EX_DATAERR;
	return EX_TEMPFAIL;
}

/* As kuvert_submit does: address verification (-bv), and users without a
 * configuration, are sendmail's business. */
static gboolean
kov_submit_wants_sendmail(int argc, char **argv, gboolean as_kuvert_submit)
{
	for (int i = 1; i < argc; i++)
		if (g_str_has_prefix(argv[i], "-bv"))
			return TRUE;
	if (!as_kuvert_submit)
		return FALSE;
	g_autofree char *path = kov_config_locate(NULL);
	return access(path, R_OK) != 0;
}

static int
kov_submit_exec_sendmail(char **argv)
{
	static char sendmail[] = "/usr/sbin/sendmail";
	argv[0] = sendmail;
	execv(sendmail, argv);
	fprintf(stderr, "koverto submit: cannot run %s: %s\n", sendmail, g_strerror(errno));
	return EX_UNAVAILABLE;
}

int
koverto_submit_main(int argc, char **argv)
{
	g_autofree char *name = g_path_get_basename(argv[0]);
	gboolean mta = kov_submit_wants_mta(argc, argv);
	if (kov_submit_wants_sendmail(argc, argv, g_str_equal(name, "kuvert_submit"))) {
		int status = kov_submit_exec_sendmail(argv);
		return mta ? kov_submit_status_for_mta(status, FALSE) : status;
	}

	KovSubmitArgs args = { .mta = mta, .recipients = g_ptr_array_new() };
	KovLogOptions log = { "koverto-submit", TRUE, FALSE, NULL, NULL };
	int status = kov_submit_parse(argc, argv, &args);

	kov_log_open(&log, NULL);
	if (status != EX_OK)
		kov_submit_usage();
	else
		status = kov_submit_enqueue(&args);
	if (args.mta)
		status = kov_submit_status_for_mta(status, args.mail_at_fault);
	g_ptr_array_unref(args.recipients);
	kov_log_close();
	return status;
}
