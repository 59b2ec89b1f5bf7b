/* SPDX-License-Identifier: GPL-3.0-or-later */
/* `koverto explain`: what koverto would do with a mail right now, and why,
 * per recipient: the action, the key or why none is usable, the copies,
 * the signing key and where it came from, a refusal. It makes the plan
 * with the daemon's own kov_planner_make (lib/run/planner.c) from the
 * very queue file koverto submit would write, held in memory (memfd):
 * nothing is sent, queued, logged to a file or written anywhere. */
#include "commands.h"
#include "config.h"
#include "error.h"
#include "fileio.h"
#include "keys.h"
#include "log.h"
#include "message.h"
#include "keysource.h"
#include "planner.h"
#include "submission.h"

#include <errno.h>
#include <getopt.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define EXPLAIN_STDIN "(standard input)"

typedef struct {
	const char *config;
	const char *queue;
	const char *sender;        /* -f */
	gboolean headers_decide;   /* -t */
	gboolean no_mail;          /* --no-mail: the addresses alone */
	gboolean json;
	GPtrArray *addresses;      /* borrowed argv strings */
	const KovQueueConfig *q;   /* the queue (borrowed from the configuration) */
} ExplainArgs;

static void
explain_usage(FILE *out)
{
	fprintf(out,
	        "usage: koverto explain [-c FILE] [--queue NAME] [-f SENDER] [-t] [--json] [RECIPIENT...] < mail\n"
	        "       koverto explain [-c FILE] [--queue NAME] [-f SENDER] [--json] --no-mail ADDRESS...\n"
	        "  says what koverto would do with the mail now, and why; sends and writes nothing.\n"
	        "  NAME is must-encrypt, fallback, sign-only or a [queue NAME] of the configuration;\n"
	        "  without --queue, Kuvert's queue (the rules decide). --no-mail: no mail on\n"
	        "  standard input, just the addresses.\n");
}

static int
explain_parse(int argc, char **argv, ExplainArgs *args)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "queue", required_argument, NULL, 'q' },
		{ "no-mail", no_argument, NULL, 'N' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+c:C:f:th", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': case 'C': args->config = optarg; break;
		case 'q': args->queue = optarg; break;
		case 'f': args->sender = optarg; break;
		case 't': args->headers_decide = TRUE; break;
		case 'N': args->no_mail = TRUE; break;
		case 'J': args->json = TRUE; break;
		case 'h': explain_usage(stdout); return -1;
		default: explain_usage(stderr); return EX_USAGE;
		}
	}
	for (int i = optind; i < argc; i++)
		g_ptr_array_add(args->addresses, argv[i]);
	if (args->no_mail && (args->addresses->len == 0 || args->headers_decide)) {
		fprintf(stderr, "koverto explain: --no-mail needs the addresses (and no -t)\n");
		explain_usage(stderr);
		return EX_USAGE;
	}
	/* Waiting for a mail typed on a terminal helps nobody; most likely the
	 * addresses alone were meant. */
	if (!args->no_mail && isatty(STDIN_FILENO)) {
		fprintf(stderr, "koverto explain: the mail is read from standard input, which is a "
		                "terminal; give --no-mail to explain the addresses alone\n");
		explain_usage(stderr);
		return EX_USAGE;
	}
	return EX_OK;
}

/* ---- the mail, in memory ------------------------------------------------ */

static int
explain_memfd(GError **error)
{
	int fd = memfd_create("koverto-explain", MFD_CLOEXEC);
	if (fd < 0)
		kov_error_set_errno(error, errno, "cannot hold the mail in memory");
	return fd;
}

/* The mail as given: standard input, or for --no-mail one made up of
 * the addresses (To) and the sender (From, when -f names one). */
static int
explain_given(const ExplainArgs *args, GError **error)
{
	int fd = explain_memfd(error);
	if (fd < 0)
		return -1;
	gboolean ok;
	if (args->no_mail) {
		g_autoptr(GString) mail = g_string_new(NULL);
		if (args->sender != NULL && *args->sender != '\0' && !g_str_equal(args->sender, "<>"))
			g_string_append_printf(mail, "From: %s\n", args->sender);
		g_string_append(mail, "To: ");
		for (guint i = 0; i < args->addresses->len; i++)
			g_string_append_printf(mail, "%s%s", i ? ", " : "",
			                       (const char *)g_ptr_array_index(args->addresses, i));
		g_string_append(mail, "\nSubject: koverto explain\n\n");
		ok = kov_fileio_write_all(fd, mail->str, mail->len, error, "cannot hold the mail in memory");
	} else {
		char buf[65536];
		ssize_t n;
		ok = TRUE;
		while (ok && ((n = read(STDIN_FILENO, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)))
			ok = n < 0 || kov_fileio_write_all(fd, buf, (gsize)n, error, "cannot hold the mail in memory");
		if (ok && n < 0) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_IOERR, "cannot read the mail: %s",
			            g_strerror(errno));
			ok = FALSE;
		}
	}
	if (!ok) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The mail as the daemon would load it from the queue: koverto submit's
 * envelope lines on top (lib/mail/submission.c), read back as the worker
 * reads a queue file. */
static KovMail *
explain_load(const ExplainArgs *args, int given, GError **error)
{
	/* Without -f and a mail, --no-mail's sender is the null sender. */
	const char *sender = args->no_mail && args->sender == NULL ? "<>" : args->sender;
	KovSubmission submission = { args->q->kind, sender, args->addresses, args->headers_decide };
	g_autofree char *envelope = NULL;
	if (!kov_submission_check(&submission, error)
	    || !kov_submission_envelope(EXPLAIN_STDIN, given, &submission, &envelope, error))
		return NULL;
	int queued = explain_memfd(error);
	if (queued < 0)
		return NULL;
	KovMail *mail = NULL;
	if (kov_message_rewrite_envelope_fd(EXPLAIN_STDIN, given, envelope, FALSE, queued, error)) {
		KovMessageOptions options = { .use_delivered_to = args->q->kind != KOV_QUEUE_KUVERT,
			                      .from_fd = TRUE, .fd = queued };
		mail = kov_message_load(EXPLAIN_STDIN, &options, error);
	}
	close(queued);
	return mail;
}

/* ---- text ---------------------------------------------------------------- */

static char *
explain_date(gint64 t)
{
	if (t <= 0)
		return g_strdup("never");
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(t);
	return dt != NULL ? g_date_time_format(dt, "%Y-%m-%d") : g_strdup("?");
}

static void
explain_text_key(FILE *out, const char *label, const KovKeyInfo *k)
{
	g_autofree char *created = explain_date(k->created);
	g_autofree char *expires = explain_date(k->expires);
	fprintf(out, "%s: %s \"%s\" validity=%s created=%s expires=%s", label, k->fingerprint,
	        k->user_id ? k->user_id : "", k->validity, created, expires);
}

static void
explain_text_recipient(FILE *out, const KovPlanRecipient *r)
{
	fprintf(out, "recipient: %s (%s)\n", r->address, kov_plan_role_name(r->role));
	fprintf(out, "  action: %s\n", kov_policy_action_name(r->action));
	if (r->reason != NULL)
		fprintf(out, "  decision: %s\n  why: %s\n", kov_policy_decision_name(r->decision), r->reason);
	else
		fprintf(out, "  decision: none (the mail is refused)\n");
	if (r->key == NULL)
		return;
	if (r->key->source == KOV_KEY_SOURCE_KEYDIR && r->key->keydir_file != NULL) {
		fprintf(out, "  source: keydir, file \"%s\"\n", r->key->keydir_file);
	} else {
		fprintf(out, "  source: %s\n", kov_keyinfo_source_name(r->key->source));
	}
	if (r->key->keydir_refused != NULL) {
		fprintf(out, "  keydir file refused: %s\n", r->key->keydir_refused);
	}
	const KovKeyInfo *chosen = kov_plan_recipient_key(r);
	if (chosen != NULL) {
		explain_text_key(out, "  key", chosen);
		fprintf(out, "%s\n", r->key_id ? " (named)" : "");
	} else {
		fprintf(out, "  key: none usable (%s): %s\n", kov_keyinfo_problem_name(r->key->problem),
		        kov_plan_key_text(r));
	}
	/* Every candidate when there is a choice or none is usable. */
	guint n = chosen == NULL || r->key->candidates->len > 1 ? r->key->candidates->len : 0;
	for (guint i = 0; i < n; i++) {
		const KovKeyInfo *k = g_ptr_array_index(r->key->candidates, i);
		explain_text_key(out, "  candidate", k);
		if ((int)i == r->key->chosen)
			fprintf(out, ": chosen (the newest usable)\n");
		else
			fprintf(out, ": %s\n", k->detail ? k->detail : "usable, older");
	}
}

static void
explain_text(FILE *out, const KovPlanner *planner, const KovMail *mail, const KovQueueConfig *queue)
{
	const KovPlan *plan = planner->plan;
	fprintf(out, "queue: %s\n", queue->name);
	fprintf(out, "policy: %s\n", kov_policy_queue_name(queue->kind));
	fprintf(out, "sender: %s\n", *planner->sender ? planner->sender : "<>");
	fprintf(out, "from: %s\n", mail->from ? mail->from : "(none)");
	if (mail->already_encrypted)
		fprintf(out, "mail: already encrypted: passed on unchanged\n");
	else if (mail->not_ciphertext != NULL)
		fprintf(out, "mail: labelled encrypted but not ciphertext (%s): treated as plaintext\n",
		        mail->not_ciphertext);
	if (planner->keydir != NULL)
		fprintf(out, "keydir: %s%s (%s)\n", planner->keydir, planner->keydir_only ? ", keydir-only" : "",
		        planner->keydir_published ? "as the daemon published it"
		                                  : "not published by the daemon yet: read here, in memory");
	if (plan->refused != NULL)
		fprintf(out, "verdict: refused\nrefusal: %s\n", plan->refused);
	else
		fprintf(out, "verdict: send\n");
	for (guint i = 0; i < plan->recipients->len; i++)
		explain_text_recipient(out, g_ptr_array_index(plan->recipients, i));
	if (plan->needs_signer) {
		const char *source = planner->signer_from_directive && plan->signer_source == KOV_SIGNER_CONFIGURED
			? "key= in From" : kov_keyinfo_signer_name(plan->signer_source);
		if (plan->signer != NULL) {
			explain_text_key(out, "signer", plan->signer);
			fprintf(out, " (%s)\n", source);
		} else {
			fprintf(out, "signer: none (%s)\n", source);
		}
		if (plan->signer_note != NULL)
			fprintf(out, "signer note: %s\n", plan->signer_note);
	}
	for (guint i = 0; plan->refused == NULL && i < plan->copies->len; i++) {
		const KovPlanCopy *copy = g_ptr_array_index(plan->copies, i);
		fprintf(out, "copy: %s%s to", kov_policy_decision_name(copy->kind), copy->bcc ? " (bcc)" : "");
		for (guint k = 0; k < copy->recipients->len; k++)
			fprintf(out, "%s %s", k ? "," : "", kov_plan_copy_recipient(plan, copy, k)->address);
		for (guint k = 0; copy->kind == KOV_DECISION_ENCRYPT && k < copy->recipients->len; k++)
			fprintf(out, "%s%s", k ? "," : " with keys ",
			        kov_plan_recipient_key(kov_plan_copy_recipient(plan, copy, k))->fingerprint);
		if (copy->fails != NULL)
			fprintf(out, ": would fail: %s", copy->fails);
		fprintf(out, "\n");
	}
}

/* ---- JSON ------------------------------------------------------------------ */

static void
json_member_string(JsonBuilder *b, const char *name, const char *value)
{
	json_builder_set_member_name(b, name);
	/* JSON is UTF-8: a key's user ID need not be (gpg stores its bytes). */
	g_autofree char *valid = value != NULL ? g_utf8_make_valid(value, -1) : NULL;
	if (valid != NULL)
		json_builder_add_string_value(b, valid);
	else
		json_builder_add_null_value(b);
}

/* A key's members, into the object being built. */
static void
json_key_fields(JsonBuilder *b, const KovKeyInfo *k)
{
	json_member_string(b, "fingerprint", k->fingerprint);
	json_member_string(b, "user_id", k->user_id);
	json_builder_set_member_name(b, "created");
	json_builder_add_int_value(b, k->created);
	json_builder_set_member_name(b, "expires");
	if (k->expires > 0)
		json_builder_add_int_value(b, k->expires);
	else
		json_builder_add_null_value(b);
	json_member_string(b, "validity", k->validity);
	json_member_string(b, "problem", kov_keyinfo_problem_name(k->problem));
	json_member_string(b, "detail", k->detail);
}

static void
json_member_key(JsonBuilder *b, const char *name, const KovKeyInfo *k)
{
	json_builder_set_member_name(b, name);
	if (k == NULL) {
		json_builder_add_null_value(b);
		return;
	}
	json_builder_begin_object(b);
	json_key_fields(b, k);
	json_builder_end_object(b);
}

static void
json_recipient(JsonBuilder *b, const KovPlanRecipient *r)
{
	json_builder_begin_object(b);
	json_member_string(b, "address", r->address);
	json_member_string(b, "role", kov_plan_role_name(r->role));
	json_member_string(b, "action", kov_policy_action_name(r->action));
	json_member_string(b, "decision", r->reason ? kov_policy_decision_name(r->decision) : NULL);
	json_member_string(b, "why", r->reason);
	json_builder_set_member_name(b, "key");
	if (r->key == NULL) {
		json_builder_add_null_value(b);
	} else {
		json_builder_begin_object(b);
		json_member_string(b, "named", r->key_id);
		json_member_string(b, "status", kov_keyinfo_status_name(r->key->status));
		json_member_string(b, "problem", kov_keyinfo_problem_name(r->key->problem));
		json_member_string(b, "detail", r->key->detail);
		json_member_string(b, "source", kov_keyinfo_source_name(r->key->source));
		json_member_string(b, "keydir_file", r->key->keydir_file);
		json_member_string(b, "keydir_subkey", r->key->keydir_subkey);
		json_member_string(b, "keydir_refused", r->key->keydir_refused);
		json_member_key(b, "chosen", kov_plan_recipient_key(r));
		json_builder_set_member_name(b, "candidates");
		json_builder_begin_array(b);
		for (guint i = 0; i < r->key->candidates->len; i++) {
			json_builder_begin_object(b);
			json_key_fields(b, g_ptr_array_index(r->key->candidates, i));
			json_builder_set_member_name(b, "chosen");
			json_builder_add_boolean_value(b, (int)i == r->key->chosen);
			json_builder_end_object(b);
		}
		json_builder_end_array(b);
		json_builder_end_object(b);
	}
	json_builder_end_object(b);
}

static void
json_copies(JsonBuilder *b, const KovPlanner *planner)
{
	const KovPlan *plan = planner->plan;
	json_builder_set_member_name(b, "copies");
	json_builder_begin_array(b);
	for (guint i = 0; plan->refused == NULL && i < plan->copies->len; i++) {
		const KovPlanCopy *copy = g_ptr_array_index(plan->copies, i);
		json_builder_begin_object(b);
		json_member_string(b, "kind", kov_policy_decision_name(copy->kind));
		json_builder_set_member_name(b, "bcc");
		json_builder_add_boolean_value(b, copy->bcc);
		json_builder_set_member_name(b, "recipients");
		json_builder_begin_array(b);
		for (guint k = 0; k < copy->recipients->len; k++)
			json_builder_add_string_value(b, kov_plan_copy_recipient(plan, copy, k)->address);
		json_builder_end_array(b);
		json_builder_set_member_name(b, "keys");
		json_builder_begin_array(b);
		for (guint k = 0; copy->kind == KOV_DECISION_ENCRYPT && k < copy->recipients->len; k++)
			json_builder_add_string_value(
				b, kov_plan_recipient_key(kov_plan_copy_recipient(plan, copy, k))->fingerprint);
		json_builder_end_array(b);
		json_member_string(b, "signed_by", copy->kind != KOV_DECISION_UNCHANGED && plan->signer
		                                   ? plan->signer->fingerprint : NULL);
		json_member_string(b, "fails", copy->fails);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
}

static void
json_signer(JsonBuilder *b, const KovPlanner *planner)
{
	const KovPlan *plan = planner->plan;
	json_builder_set_member_name(b, "signer");
	if (!plan->needs_signer) {
		json_builder_add_null_value(b);
		return;
	}
	json_builder_begin_object(b);
	json_member_string(b, "source", kov_keyinfo_signer_name(plan->signer_source));
	json_builder_set_member_name(b, "from_directive");
	json_builder_add_boolean_value(b, planner->signer_from_directive);
	json_member_key(b, "key", plan->signer);
	json_member_string(b, "note", plan->signer_note);
	json_builder_end_object(b);
}

/* explain_text() with every line escaped as the log escapes it: user
 * IDs, key files' names and reasons, the mail's own addresses are other
 * people's bytes, and no control among them may reach a terminal. */
static void
explain_text_escaped(FILE *out, const KovPlanner *planner, const KovMail *mail,
                     const KovQueueConfig *queue)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	if (mem == NULL) {
		fprintf(out, "(cannot make the explanation: %s)\n", g_strerror(errno));
		return;
	}
	explain_text(mem, planner, mail, queue);
	if (fclose(mem) != 0 || buf == NULL) {
		free(buf);
		return;
	}
	g_auto(GStrv) lines = g_strsplit(buf, "\n", -1);
	free(buf);
	for (char **line = lines; *line != NULL; line++) {
		if (**line == '\0' && line[1] == NULL)
			break;
		g_autofree char *safe = kov_log_escape(*line);
		fprintf(out, "%s\n", safe);
	}
}

static void
explain_json(FILE *out, const KovPlanner *planner, const KovMail *mail, const KovQueueConfig *queue)
{
	const KovPlan *plan = planner->plan;
	g_autoptr(JsonBuilder) b = json_builder_new();
	json_builder_begin_object(b);
	json_member_string(b, "queue", queue->name);
	json_member_string(b, "policy", kov_policy_queue_name(queue->kind));
	json_builder_set_member_name(b, "keydir");
	if (planner->keydir == NULL) {
		json_builder_add_null_value(b);
	} else {
		json_builder_begin_object(b);
		json_member_string(b, "dir", planner->keydir);
		json_builder_set_member_name(b, "only");
		json_builder_add_boolean_value(b, planner->keydir_only);
		json_builder_set_member_name(b, "published");
		json_builder_add_boolean_value(b, planner->keydir_published);
		json_builder_end_object(b);
	}
	json_member_string(b, "sender", planner->sender);
	json_member_string(b, "from", mail->from);
	json_builder_set_member_name(b, "already_encrypted");
	json_builder_add_boolean_value(b, mail->already_encrypted);
	json_member_string(b, "verdict", plan->refused ? "refused" : "send");
	json_member_string(b, "refused", plan->refused);
	json_builder_set_member_name(b, "recipients");
	json_builder_begin_array(b);
	for (guint i = 0; i < plan->recipients->len; i++)
		json_recipient(b, g_ptr_array_index(plan->recipients, i));
	json_builder_end_array(b);
	json_signer(b, planner);
	json_copies(b, planner);
	json_builder_end_object(b);

	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	json_generator_set_pretty(gen, TRUE);
	g_autofree char *text = json_generator_to_data(gen, NULL);
	fprintf(out, "%s\n", text);
}

/* ---- the command ------------------------------------------------------------ */

static int
explain_run(ExplainArgs *args)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = kov_config_locate(args->config);
	g_autoptr(KovConfig) config = kov_config_load(path, &error);
	if (config == NULL) {
		fprintf(stderr, "koverto explain: %s\n", error->message);
		return EX_CONFIG;
	}
	/* Without --queue: Kuvert's queue, the rules decide. */
	args->q = kov_config_queue(config, args->queue != NULL ? args->queue : "kuvert");
	if (args->q == NULL) {
		g_autofree char *known = kov_config_queue_names(config);
		g_autofree char *shown = g_strescape(args->queue, NULL);
		fprintf(stderr, "koverto explain: unknown queue \"%s\" (%s has: %s)\n", shown,
		        config->file, known);
		return EX_USAGE;
	}
	int given = explain_given(args, &error);
	g_autoptr(KovMail) mail = given >= 0 ? explain_load(args, given, &error) : NULL;
	if (given >= 0)
		close(given);
	if (mail == NULL) {
		fprintf(stderr, "koverto explain: %s\n", error->message);
		return kov_error_to_sysexit(error);
	}
	/* A keys directory the daemon has not published yet is read here. */
	kov_keysource_set_explain(TRUE);
	g_autoptr(KovKeys) keys = kov_keys_new(config->gnupghome, config->gpg, config->alwaystrust, &error);
	g_autoptr(KovPlanner) planner = keys != NULL
		? kov_planner_make(config, keys, args->q, mail, NULL, &error) : NULL;
	if (error != NULL) {
		fprintf(stderr, "koverto explain: %s\n", error->message);
		return kov_error_to_sysexit(error);
	}
	if (args->json)
		explain_json(stdout, planner, mail, args->q);
	else
		explain_text_escaped(stdout, planner, mail, args->q);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "koverto explain: cannot write the explanation: %s\n", g_strerror(errno));
		return EX_IOERR;
	}
	return EX_OK;
}

int
koverto_explain_main(int argc, char **argv)
{
	ExplainArgs args = { .addresses = g_ptr_array_new() };
	KovLogOptions log = { "koverto-explain", TRUE, FALSE, NULL, NULL };
	int status = explain_parse(argc, argv, &args);

	kov_log_open(&log, NULL);
	if (status == -1)
		status = EX_OK;
	else if (status == EX_OK)
		status = explain_run(&args);
	g_ptr_array_unref(args.addresses);
	kov_log_close();
	return status;
}
