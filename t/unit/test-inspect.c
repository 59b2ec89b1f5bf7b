/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The spool read for koverto status (lib/spool/inspect.c): counts and
 * records per queue, the envelope from the header block alone (LF, CRLF,
 * a header without end), a state read from bytes never saved, an id that
 * is a path matching nothing, which log lines name a mail, and a tree
 * left as it was. Real files in a directory under /tmp; GMime for the
 * envelope, as the worker reads it. */
#include "inspect.h"
#include "config.h"
#include "error.h"
#include "fixture.h"
#include "queue.h"
#include "state.h"

#include <glib.h>
#include <gmime/gmime.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static GPtrArray *
builtin_queues(void)
{
	GPtrArray *queues = g_ptr_array_new_with_free_func(g_free);
	static const char *const names[] = { "must-encrypt", "fallback", "sign-only" };
	for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
		KovQueueConfig *q = g_new0(KovQueueConfig, 1);
		q->name = (char *)names[i];
		q->kind = (KovQueueKind)i;
		g_ptr_array_add(queues, q);
	}
	return queues;
}

static char *
spool_new(void)
{
	char *dir = kov_test_tmpdir_new("kovins");
	g_assert_true(kov_queue_prepare(dir, NULL, NULL));
	return dir;
}

static void
put(const char *dir, const char *rel, const char *data)
{
	g_autofree char *path = g_build_filename(dir, rel, NULL);
	kov_test_file_write(path, data, -1);
}

static const KovInspectQueue *
queue_of(const KovInspect *in, const char *name)
{
	for (guint i = 0; i < in->queues->len; i++) {
		const KovInspectQueue *q = g_ptr_array_index(in->queues, i);
		if (g_str_equal(q->name, name))
			return q;
	}
	g_assert_not_reached();
	return NULL;
}

/* A listing of @dir with every name, size, mode and mtime to the ns. */
static char *
tree_snapshot(const char *dir)
{
	const char *argv[] = { "sh", "-c", "cd \"$0\" && find . -printf '%p %y %s %m %T@ %l\\n' | sort", dir, NULL };
	return kov_test_run(argv);
}

static void
test_counts_and_records(void)
{
	g_autofree char *dir = spool_new();
	g_autoptr(GPtrArray) queues = builtin_queues();
	put(dir, "fallback/new/w1", "From: a@example.org\nTo: b@example.net\n\nx\n");
	put(dir, "fallback/new/w2", "From: a@example.org\nTo: b@example.net\n\nx\n");
	put(dir, "fallback/new/.hidden", "not a mail name\n");
	put(dir, "sign-only/cur/d1",
	    "X-Kuvert-From: s@example.org\r\nX-Kuvert-To: c@example.net, d@example.net\r\n"
	    "From: a@example.org\r\nTo: c@example.net\r\n\r\nbody\r\n");
	put(dir, "state/sign-only.d1",
	    "[mail]\nattempts=3\nnext-attempt=2000000000\nlast-error=451 later\nfirst-seen=1\n"
	    "[addr:c@example.net]\nstate=delivered\n[addr:d@example.net]\nstate=pending\nreason=451 later\n");
	put(dir, "sign-only/cur/a1", "From: a@example.org\nTo: b@example.net\n\nx\n");
	put(dir, "failed/fallback.f1", "From: a@example.org\nTo: b@example.net\n\nx\n");
	put(dir, "failed/fallback.f1.reason", "b@example.net: 550 no\n");
	put(dir, "123", "From: a@example.org\nTo: k@example.net\n\nx\n");
	g_autofree char *before = tree_snapshot(dir);

	g_autoptr(KovInspect) in = kov_inspect_spool(dir, queues, 0);
	g_assert_null(in->problem);
	const KovInspectQueue *fb = queue_of(in, "fallback");
	g_assert_cmpuint(fb->waiting, ==, 2);
	g_assert_cmpuint(fb->failed, ==, 1);
	g_assert_cmpuint(fb->mails->len, ==, 1);   /* waiting ones only counted */
	const KovInspectMail *f = g_ptr_array_index(fb->mails, 0);
	g_assert_cmpstr(f->name, ==, "f1");
	g_assert_cmpstr(f->reason, ==, "b@example.net: 550 no");
	g_assert_cmpstr(f->path, ==, "failed/fallback.f1");
	g_assert_null(f->recipients);              /* not read without ENVELOPES */

	const KovInspectQueue *so = queue_of(in, "sign-only");
	g_assert_cmpuint(so->active, ==, 1);
	g_assert_cmpuint(so->deferred, ==, 1);
	const KovInspectMail *a = g_ptr_array_index(so->mails, 0);
	const KovInspectMail *d = g_ptr_array_index(so->mails, 1);
	g_assert_cmpint(a->where, ==, KOV_INSPECT_ACTIVE);
	g_assert_cmpint(d->where, ==, KOV_INSPECT_DEFERRED);
	g_assert_cmpuint(d->attempts, ==, 3);
	g_assert_cmpint(d->next_attempt, ==, 2000000000);
	g_assert_cmpstr(d->last_error, ==, "451 later");
	/* The envelope block (CRLF) decides, not To: */
	g_assert_cmpstr(d->sender, ==, "s@example.org");
	g_assert_cmpuint(d->recipients->len, ==, 2);
	const KovInspectRcpt *r0 = g_ptr_array_index(d->recipients, 0);
	const KovInspectRcpt *r1 = g_ptr_array_index(d->recipients, 1);
	g_assert_cmpstr(r0->address, ==, "c@example.net");
	g_assert_cmpint(r0->state, ==, KOV_STATE_DELIVERED);
	g_assert_cmpstr(r1->address, ==, "d@example.net");
	g_assert_cmpint(r1->state, ==, KOV_STATE_PENDING);
	g_assert_cmpstr(r1->reason, ==, "451 later");

	const KovInspectQueue *kv = queue_of(in, "kuvert");
	g_assert_cmpuint(kv->waiting, ==, 1);

	g_autoptr(KovInspect) all = kov_inspect_spool(dir, queues, KOV_INSPECT_LIST_WAITING | KOV_INSPECT_ENVELOPES);
	fb = queue_of(all, "fallback");
	g_assert_cmpuint(fb->mails->len, ==, 3);
	const KovInspectMail *w1 = g_ptr_array_index(fb->mails, 0);
	g_assert_cmpstr(w1->name, ==, "w1");
	g_assert_cmpstr(w1->sender, ==, "a@example.org");
	g_assert_cmpuint(w1->recipients->len, ==, 1);
	f = g_ptr_array_index(fb->mails, 2);
	g_assert_nonnull(f->recipients);

	/* Counted only: the same numbers, nothing listed. */
	g_autoptr(KovInspect) counted = kov_inspect_spool(dir, queues, KOV_INSPECT_COUNT_ONLY);
	for (guint i = 0; i < all->queues->len; i++) {
		const KovInspectQueue *x = g_ptr_array_index(all->queues, i);
		const KovInspectQueue *y = queue_of(counted, x->name);
		g_assert_cmpuint(x->waiting, ==, y->waiting);
		g_assert_cmpuint(x->active, ==, y->active);
		g_assert_cmpuint(x->deferred, ==, y->deferred);
		g_assert_cmpuint(x->failed, ==, y->failed);
		g_assert_cmpint(x->oldest, ==, y->oldest);
		g_assert_cmpint(x->oldest_failed, ==, y->oldest_failed);
		g_assert_cmpuint(y->mails->len, ==, 0);
	}

	g_autofree char *after = tree_snapshot(dir);
	g_assert_cmpstr(before, ==, after);
	g_assert_true(kov_test_tree_remove(dir));
}

/* The header is read up to its blank line only; a header without one is
 * cut at the limit and still read. */
static void
test_header_block(void)
{
	g_autofree char *dir = spool_new();
	g_autoptr(GPtrArray) queues = builtin_queues();
	g_autoptr(GString) big = g_string_new("From: a@example.org\nTo: e@example.net\n");
	while (big->len < 1100 * 1024)
		g_string_append(big, "X-Pad: 0123456789012345678901234567890123456789\n");
	put(dir, "fallback/cur/big", big->str);
	put(dir, "state/fallback.big", "[mail]\nattempts=1\n");
	/* A body whose lines look like envelope fields must not count. */
	put(dir, "fallback/cur/body", "From: a@example.org\nTo: f@example.net\n\nX-Kuvert-To: evil@example.org\n");
	put(dir, "state/fallback.body", "[mail]\nattempts=1\n");
	put(dir, "fallback/cur/empty", "\n\nno header\n");
	put(dir, "state/fallback.empty", "[mail]\nattempts=1\n");

	g_autoptr(KovInspect) in = kov_inspect_spool(dir, queues, 0);
	const KovInspectQueue *fb = queue_of(in, "fallback");
	g_assert_cmpuint(fb->deferred, ==, 3);
	const KovInspectMail *big_m = g_ptr_array_index(fb->mails, 0);
	const KovInspectMail *body_m = g_ptr_array_index(fb->mails, 1);
	const KovInspectMail *empty_m = g_ptr_array_index(fb->mails, 2);
	g_assert_cmpstr(big_m->name, ==, "big");
	g_assert_null(big_m->envelope_problem);
	g_assert_cmpstr(((KovInspectRcpt *)g_ptr_array_index(big_m->recipients, 0))->address, ==, "e@example.net");
	g_assert_cmpuint(body_m->recipients->len, ==, 1);
	g_assert_cmpstr(((KovInspectRcpt *)g_ptr_array_index(body_m->recipients, 0))->address, ==, "f@example.net");
	g_assert_nonnull(empty_m->envelope_problem);
	g_assert_null(empty_m->recipients);
	g_assert_true(kov_test_tree_remove(dir));
}

static void
test_find(void)
{
	g_autofree char *dir = spool_new();
	g_autoptr(GPtrArray) queues = builtin_queues();
	put(dir, "fallback/new/m1", "From: a@example.org\nTo: b@example.net\n\nx\n");
	put(dir, "failed/sign-only.m1", "From: a@example.org\nTo: b@example.net\n\nx\n");
	put(dir, "failed/sign-only.m1.reason", "why\n");
	put(dir, ".77", "From: a@example.org\nTo: b@example.net\n\nx\n");
	put(dir, ".77.reason", "parked\n");

	g_autoptr(GPtrArray) m1 = kov_inspect_find(dir, queues, "m1");
	g_assert_cmpuint(m1->len, ==, 2);   /* the same name in two places: both */
	const KovInspectMail *a = g_ptr_array_index(m1, 0), *b = g_ptr_array_index(m1, 1);
	g_assert_cmpstr(a->path, ==, "fallback/new/m1");
	g_assert_cmpint(a->where, ==, KOV_INSPECT_WAITING);
	g_assert_cmpstr(b->path, ==, "failed/sign-only.m1");
	g_assert_cmpstr(b->reason, ==, "why");
	g_assert_nonnull(b->recipients);

	g_autoptr(GPtrArray) parked = kov_inspect_find(dir, queues, "77");
	g_assert_cmpuint(parked->len, ==, 1);
	a = g_ptr_array_index(parked, 0);
	g_assert_cmpstr(a->queue, ==, "kuvert");
	g_assert_cmpint(a->where, ==, KOV_INSPECT_FAILED);
	g_assert_cmpstr(a->reason, ==, "parked");

	static const char *const nothing[] = { "", ".", "..", "../fallback/new/m1", "new/m1", ".77",
		                               "m1.reason", "m2" };
	for (gsize i = 0; i < G_N_ELEMENTS(nothing); i++) {
		g_autoptr(GPtrArray) none = kov_inspect_find(dir, queues, nothing[i]);
		g_assert_cmpuint(none->len, ==, 0);
	}
	g_autoptr(GPtrArray) missing = kov_inspect_find("/nonexistent/koverto", queues, "m1");
	g_assert_cmpuint(missing->len, ==, 0);
	g_assert_true(kov_test_tree_remove(dir));
}

/* A queue taken out of the configuration: its Maildir and failed mail are
 * still shown, as not configured; a failed mail of a queue whose Maildir
 * is gone too. Names no queue can have are not taken for one. */
static void
test_unconfigured(void)
{
	g_autofree char *dir = spool_new();
	g_autoptr(GPtrArray) queues = builtin_queues();
	g_autofree char *old = g_build_filename(dir, "old-queue", NULL);
	for (const char *sub = "new"; sub != NULL; sub = g_str_equal(sub, "new") ? "cur" : NULL) {
		g_autofree char *p = g_build_filename(old, sub, NULL);
		g_assert_cmpint(g_mkdir_with_parents(p, 0700), ==, 0);
	}
	put(dir, "old-queue/new/x", "From: a@example.org\nTo: b@example.net\n\nx\n");
	put(dir, "failed/old-queue.y", "From: a@example.org\nTo: b@example.net\n\nx\n");
	put(dir, "failed/gone.z", "From: a@example.org\nTo: b@example.net\n\nx\n");
	put(dir, "failed/Bad..z", "not a queue's\n");
	g_autoptr(KovInspect) in = kov_inspect_spool(dir, queues, 0);
	const KovInspectQueue *o = queue_of(in, "old-queue");
	g_assert_false(o->configured);
	g_assert_cmpuint(o->waiting, ==, 1);
	g_assert_cmpuint(o->failed, ==, 1);
	g_assert_null(o->problem);
	const KovInspectQueue *g = queue_of(in, "gone");
	g_assert_false(g->configured);
	g_assert_cmpuint(g->failed, ==, 1);
	g_assert_nonnull(g->problem);
	g_assert_cmpuint(in->queues->len, ==, 6);   /* kuvert, 3 built-in, old-queue, gone */
	g_assert_true(kov_test_tree_remove(dir));
}

static void
test_missing_queuedir(void)
{
	g_autofree char *dir = kov_test_tmpdir_new("kovins");
	g_autofree char *q = g_build_filename(dir, "q", NULL);
	g_autoptr(GPtrArray) queues = builtin_queues();
	g_autoptr(KovInspect) in = kov_inspect_spool(q, queues, KOV_INSPECT_LIST_WAITING);
	g_assert_nonnull(in->problem);
	g_assert_false(g_file_test(q, G_FILE_TEST_EXISTS));
	KovInspectDaemon d;
	kov_inspect_daemon(q, &d);
	g_assert_cmpint(d.pid, ==, 0);
	kov_inspect_daemon_clear(&d);
	g_assert_true(kov_test_tree_remove(dir));
}

static void
test_log_mentions(void)
{
	g_assert_true(kov_inspect_log_mentions("info: id=abc: sent", "abc"));
	g_assert_true(kov_inspect_log_mentions("info: id=abc queue=x result=sent", "abc"));
	g_assert_true(kov_inspect_log_mentions("id=abc", "abc"));
	g_assert_true(kov_inspect_log_mentions("listener: s1: 250 as id=abc into queue=q", "abc"));
	g_assert_true(kov_inspect_log_mentions("x: id=ab: no, id=abc: yes", "abc"));
	g_assert_false(kov_inspect_log_mentions("info: id=abcd: sent", "abc"));
	g_assert_false(kov_inspect_log_mentions("info: id=abc:d: sent", "abc"));
	g_assert_true(kov_inspect_log_mentions("info: id=abc:d: sent", "abc:d"));
	g_assert_false(kov_inspect_log_mentions("info: xid=abc: sent", "abc"));
	g_assert_false(kov_inspect_log_mentions("info: id=xabc: sent", "abc"));
	g_assert_false(kov_inspect_log_mentions("info: sent", ""));
}

static void
test_log_lines(void)
{
	g_autofree char *dir = kov_test_tmpdir_new("kovins");
	g_autofree char *log = g_build_filename(dir, "log", NULL);
	kov_test_file_write(log, "a id=m1: one\nb id=m10: other\nc id=m1 queue=q\nno newline id=m1", -1);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) lines = kov_inspect_log_lines(log, "m1", &error);
	g_assert_no_error(error);
	g_assert_cmpuint(lines->len, ==, 3);
	g_assert_cmpstr(g_ptr_array_index(lines, 2), ==, "no newline id=m1");
	g_autoptr(GPtrArray) none = kov_inspect_log_lines(dir, "m1", &error);   /* a directory */
	g_assert_null(none);
	g_assert_nonnull(error);
	g_assert_true(kov_test_tree_remove(dir));
}

static void
test_state_parse(void)
{
	const char data[] = "[mail]\nattempts=2\n[addr:b@example.net]\nstate=failed\nreason=550\n";
	g_autoptr(GError) error = NULL;
	g_autoptr(KovState) state = kov_state_parse("x", data, sizeof data - 1, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(kov_state_get_attempts(state), ==, 2);
	g_autofree char *reason = NULL;
	g_assert_cmpint(kov_state_get_rcpt(state, "b@example.net", &reason), ==, KOV_STATE_FAILED);
	g_assert_cmpstr(reason, ==, "550");
	g_assert_false(kov_state_is_new(state));
	if (g_test_subprocess()) {
		/* never saved: its name is not a path to write */
		kov_state_save(state, NULL);
		return;
	}
	g_autoptr(KovState) bad = kov_state_parse("y", "[mail\n", 6, &error);
	g_assert_null(bad);
	g_assert_error(error, KOV_ERROR, KOV_ERROR_DATAERR);
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_failed();
	g_assert_false(g_file_test("x", G_FILE_TEST_EXISTS));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	g_test_add_func("/inspect/counts-and-records", test_counts_and_records);
	g_test_add_func("/inspect/header-block", test_header_block);
	g_test_add_func("/inspect/find", test_find);
	g_test_add_func("/inspect/unconfigured", test_unconfigured);
	g_test_add_func("/inspect/missing-queuedir", test_missing_queuedir);
	g_test_add_func("/inspect/log-mentions", test_log_mentions);
	g_test_add_func("/inspect/log-lines", test_log_lines);
	g_test_add_func("/inspect/state-parse", test_state_parse);
	int status = g_test_run();
	g_mime_shutdown();
	return status;
}
