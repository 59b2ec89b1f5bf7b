/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Tests of lib/intake/enqueue.c, the listener's spool writer, on real
 * queue directories: a mail appears in new/ whole or not at all (an
 * abandoned one leaves nothing in tmp/ either), the Kuvert queue gets an
 * all-digit name, the lines on top are the envelope the worker reads
 * (kov_message_load, with the client's name), and the From check reads
 * the header section only. */
#include "enqueue.h"
#include "../fuzz/fuzz-enqueue-one.h"
#include "error.h"
#include "message.h"
#include "fixture.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

typedef struct {
	char *queuedir;
	GPtrArray *rcpts;
	KovEnqueueInfo info;
} Fixture;

static void
set_up(Fixture *f, gconstpointer data)
{
	(void)data;
	f->queuedir = kov_test_tmpdir_new("kovenq");
	for (const char *const *q = (const char *const[]){ "fallback", "must-encrypt", NULL }; *q; q++)
		for (const char *const *s = (const char *const[]){ "tmp", "new", "cur", NULL }; *s; s++) {
			g_autofree char *d = g_build_filename(f->queuedir, *q, *s, NULL);
			g_assert_cmpint(g_mkdir_with_parents(d, 0700), ==, 0);
		}
	f->rcpts = g_ptr_array_new();
	g_ptr_array_add(f->rcpts, "bob@example.net");
	g_ptr_array_add(f->rcpts, "carol@example.net");
	f->info = (KovEnqueueInfo){ .queue = "fallback", .client = "monitoring",
		                    .sender = "nagios@example.org", .recipients = f->rcpts,
		                    .helo = "app.example.org", .ip = "127.0.0.1",
		                    .hostname = "koverto.test", .protocol = "ESMTPSA" };
}

static void
tear_down(Fixture *f, gconstpointer data)
{
	(void)data;
	g_assert_true(kov_test_tree_remove(f->queuedir));
	g_free(f->queuedir);
	g_ptr_array_unref(f->rcpts);
}

static guint
count(Fixture *f, const char *queue, const char *sub)
{
	g_autofree char *d = sub ? g_build_filename(f->queuedir, queue, sub, NULL)
	                         : g_build_filename(f->queuedir, queue, NULL);
	return kov_test_dir_count(d);
}

static const char mail[] = "From: Nagios <nagios@example.org>\nTo: bob@example.net\n"
                           "Subject: disk full\n\nFrom: not@header.example\nbody\n";

static void
test_commit(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	g_autoptr(KovEnqueue) e = kov_enqueue_begin(f->queuedir, &f->info, &error);
	g_assert_no_error(error);
	/* Written in pieces, as DATA comes; invisible until the commit. */
	g_assert_true(kov_enqueue_write(e, mail, 20, &error));
	g_assert_true(kov_enqueue_write(e, mail + 20, strlen(mail) - 20, &error));
	g_assert_cmpuint(count(f, "fallback", "new"), ==, 0);
	g_assert_cmpuint(count(f, "fallback", "tmp"), ==, 0);
	g_assert_cmpuint(kov_enqueue_size(e), ==, strlen(mail));
	g_assert_true(kov_enqueue_commit(e, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(count(f, "fallback", "new"), ==, 1);
	g_assert_cmpuint(count(f, "fallback", "tmp"), ==, 0);

	const char *id = kov_enqueue_id(e);
	g_autofree char *path = g_build_filename(f->queuedir, "fallback", "new", id, NULL);
	g_autofree char *text = kov_test_file_read(path, NULL);
	g_assert_true(g_str_has_prefix(text, "X-Kuvert-From: nagios@example.org\n"
	                                     "X-Kuvert-To: bob@example.net,\n carol@example.net\n"
	                                     "X-Koverto-Client: monitoring\n"
	                                     "Received: from app.example.org ([127.0.0.1])\n"
	                                     "\tby koverto.test (koverto) with ESMTPSA id "));
	g_assert_nonnull(strstr(text, id));
	g_assert_true(g_str_has_suffix(text, mail));
	struct stat st;
	g_assert_cmpint(stat(path, &st), ==, 0);
	g_assert_cmpuint(st.st_mode & 0777, ==, 0600);

	/* The worker reads this envelope, and the client, from that block. */
	KovMessageOptions options = { .use_delivered_to = TRUE };
	g_autoptr(KovMail) m = kov_message_load(path, &options, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(m->client, ==, "monitoring");
	g_assert_cmpstr(m->sender, ==, "nagios@example.org");
	g_assert_cmpuint(m->recipients->len, ==, 2);
	g_assert_true(m->envelope_given);
}

/* A client that goes away, a refused message: nothing left anywhere. */
static void
test_abandon(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	KovEnqueue *e = kov_enqueue_begin(f->queuedir, &f->info, &error);
	g_assert_no_error(error);
	g_assert_true(kov_enqueue_write(e, mail, strlen(mail) / 2, &error));
	kov_enqueue_free(e);
	for (const char *const *s = (const char *const[]){ "tmp", "new", "cur", NULL }; *s; s++)
		g_assert_cmpuint(count(f, "fallback", *s), ==, 0);
}

/* new/ cannot be written: 451, and nothing stays in tmp/. */
static void
test_commit_fails(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	g_autoptr(KovEnqueue) e = kov_enqueue_begin(f->queuedir, &f->info, &error);
	g_assert_true(kov_enqueue_write(e, mail, strlen(mail), &error));
	g_autofree char *newdir = g_build_filename(f->queuedir, "fallback", "new", NULL);
	g_assert_cmpint(g_rmdir(newdir), ==, 0);
	g_assert_false(kov_enqueue_commit(e, &error));
	g_assert_nonnull(error);
	g_assert_cmpuint(count(f, "fallback", "tmp"), ==, 0);
	g_assert_cmpint(g_mkdir(newdir, 0700), ==, 0);
}

static void
test_kuvert(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	f->info.queue = "kuvert";
	f->info.client = "kuvert";
	f->info.protocol = "ESMTPA";
	guint before = count(f, "", NULL);
	g_autoptr(KovEnqueue) e = kov_enqueue_begin(f->queuedir, &f->info, &error);
	g_assert_no_error(error);
	g_assert_true(kov_enqueue_write(e, mail, strlen(mail), &error));
	g_assert_cmpuint(count(f, "", NULL), ==, before);   /* no name yet, not even a dot one */
	g_assert_true(kov_enqueue_commit(e, &error));
	g_assert_cmpuint(count(f, "", NULL), ==, before + 1);
	const char *id = kov_enqueue_id(e);
	for (const char *p = id; *p; p++)
		g_assert_true(g_ascii_isdigit(*p));
	g_autofree char *path = g_build_filename(f->queuedir, id, NULL);
	g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
}

static void
test_names_unique(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	for (int i = 0; i < 200; i++) {
		g_autoptr(GError) error = NULL;
		f->info.queue = i % 2 ? "kuvert" : "fallback";
		g_autoptr(KovEnqueue) e = kov_enqueue_begin(f->queuedir, &f->info, &error);
		g_assert_no_error(error);
		g_assert_true(kov_enqueue_commit(e, &error));
		g_assert_true(g_hash_table_add(seen, g_strdup(kov_enqueue_id(e))));
	}
	g_assert_cmpuint(count(f, "fallback", "new"), ==, 100);
}

static void
test_bad_queue(Fixture *f, gconstpointer data)
{
	(void)data;
	for (const char *const *q = (const char *const[]){ "", "..", "../x", "a/b", ".hidden", NULL }; *q; q++) {
		g_autoptr(GError) error = NULL;
		f->info.queue = *q;
		g_assert_null(kov_enqueue_begin(f->queuedir, &f->info, &error));
		g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
	}
}

static GPtrArray *
from_of(Fixture *f, const char *text, GError **error)
{
	g_autoptr(KovEnqueue) e = kov_enqueue_begin(f->queuedir, &f->info, error);
	g_assert_nonnull(e);
	g_assert_true(kov_enqueue_write(e, text, strlen(text), error));
	return kov_enqueue_from(e, error);
}

/* From in the header section only; every mailbox; a bad one is an error. */
static void
test_from(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) one = from_of(f, mail, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(one->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(one, 0), ==, "nagios@example.org");

	g_autoptr(GPtrArray) two = from_of(f, "From: A <A@Example.org>, b@example.org\n\nbody\n", &error);
	g_assert_no_error(error);
	g_assert_cmpuint(two->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(two, 0), ==, "a@example.org");

	g_autoptr(GPtrArray) none = from_of(f, "Subject: x\n\nFrom: body@example.org\n", &error);
	g_assert_no_error(error);
	g_assert_cmpuint(none->len, ==, 0);

	g_autoptr(GPtrArray) nobody = from_of(f, "Subject: no body at all\n", &error);
	g_assert_no_error(error);
	g_assert_cmpuint(nobody->len, ==, 0);

	g_autoptr(GPtrArray) bad = from_of(f, "From: =?utf-8?q?a=0D=0Ab?=@example.org\n\nx\n", &error);
	g_assert_null(bad);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_DATAERR);
	for (int i = 0; i < 3; i++) /* nothing committed: nothing left */
		g_assert_cmpuint(count(f, "fallback", (const char *[]){ "tmp", "new", "cur" }[i]), ==, 0);
}

static void
test_received(Fixture *f, gconstpointer data)
{
	(void)data;
	f->info.ip = NULL;
	f->info.helo = "evil\r\nX-Injected: 1 (x)";
	g_autofree char *r = kov_enqueue_received(&f->info, "ID", "Mon, 07 Dec 2026 08:00:00 +0000");
	g_assert_cmpstr(r, ==, "Received: from evil__X-Injected:_1__x_\n"
	                       "\tby koverto.test (koverto) with ESMTPSA id ID\n"
	                       "\t(client monitoring);\n\tMon, 07 Dec 2026 08:00:00 +0000\n");
	f->info.helo = NULL;
	g_autofree char *unknown = kov_enqueue_received(&f->info, "ID", "D");
	g_assert_true(g_str_has_prefix(unknown, "Received: from unknown\n"));
}

/* Only the listener names a client: the line counts in the block on top,
 * never further down, and `koverto submit`'s rewrite drops the mail's
 * own while a partly delivered mail's rewrite keeps the listener's. */
static void
test_client_line(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	g_autofree char *path = g_build_filename(f->queuedir, "forged", NULL);
	kov_test_file_write(path, "Return-Path: <a@example.org>\nDelivered-To: bob@example.net\n"
	                          "X-Koverto-Client: monitoring\nFrom: a@example.org\nTo: bob@example.net\n\nx\n", -1);
	KovMessageOptions options = { .use_delivered_to = TRUE };
	g_autoptr(KovMail) m = kov_message_load(path, &options, &error);
	g_assert_no_error(error);
	g_assert_null(m->client);

	/* submit: the mail as its author gave it; the client line goes. */
	g_autofree char *out = g_build_filename(f->queuedir, "out", NULL);
	kov_test_file_write(path, "X-Koverto-Client: monitoring\nFrom: a@example.org\nTo: bob@example.net\n\nx\n", -1);
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	g_assert_true(kov_message_rewrite_envelope(path, "X-Kuvert-From: a@example.org\nX-Kuvert-To: bob@example.net\n",
	                                           FALSE, fd, &error));
	close(fd);
	g_autofree char *text = kov_test_file_read(out, NULL);
	g_assert_null(strstr(text, "X-Koverto-Client"));
	g_autoptr(KovMail) sub = kov_message_load(out, &options, &error);
	g_assert_null(sub->client);

	/* A partly delivered listener mail keeps its client. */
	g_autoptr(KovEnqueue) e = kov_enqueue_begin(f->queuedir, &f->info, &error);
	g_assert_true(kov_enqueue_write(e, mail, strlen(mail), &error));
	g_assert_true(kov_enqueue_commit(e, &error));
	g_autofree char *queued = g_build_filename(f->queuedir, "fallback", "new", kov_enqueue_id(e), NULL);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	g_assert_true(kov_message_rewrite_envelope(queued, "X-Kuvert-To: carol@example.net\n", TRUE, fd, &error));
	close(fd);
	g_autoptr(KovMail) kept = kov_message_load(out, &options, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(kept->client, ==, "monitoring");
	g_assert_cmpuint(kept->recipients->len, ==, 1);
	g_unlink(out);
	g_unlink(path);
}

/* The fuzz target's seeds and finds (t/fuzz/seed-enqueue/, regressions
 * named enqueue-*) through its checks (t/fuzz/fuzz-enqueue-one.h). */
static void
test_fuzz_replay(Fixture *f, gconstpointer data)
{
	(void)data;
	kov_fuzz_enqueue_queuedir = f->queuedir;
	guint replayed = kov_test_fuzz_replay("seed-enqueue", "enqueue-", kov_fuzz_enqueue_one);
	kov_fuzz_enqueue_queuedir = NULL;
	g_assert_cmpuint(replayed, >=, 10);
	for (int i = 0; i < 3; i++) /* nothing committed: nothing left */
		g_assert_cmpuint(count(f, "fallback", (const char *[]){ "tmp", "new", "cur" }[i]), ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_mime_init();
#define ADD(name, fn) g_test_add("/enqueue/" name, Fixture, NULL, set_up, fn, tear_down)
	ADD("commit", test_commit);
	ADD("abandon", test_abandon);
	ADD("commit-fails", test_commit_fails);
	ADD("kuvert", test_kuvert);
	ADD("names-unique", test_names_unique);
	ADD("bad-queue", test_bad_queue);
	ADD("from", test_from);
	ADD("received", test_received);
	ADD("client-line", test_client_line);
	ADD("fuzz-replay", test_fuzz_replay);
	int status = g_test_run();
	g_mime_shutdown();
	return status;
}
