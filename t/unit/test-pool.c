/* SPDX-License-Identifier: GPL-3.0-or-later */
/* lib/run/pool.c: the watcher's reader of what a worker writes, on a real
 * socket pair: lines whole, split over reads and several in one read come
 * out one by one; what a line has begun waits for the rest; a worker that
 * writes more than the cap without a line end is reported (the pool kills
 * it), so that the watcher's memory stays bounded whatever it sends. */
#include "pool.h"

#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
	int fd[2];      /* [0]: the watcher's end, [1]: the worker's */
	GString *input;
	GPtrArray *lines;
} Fixture;

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
	(void)data;
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->fd), ==, 0);
	f->input = g_string_new(NULL);
	f->lines = g_ptr_array_new_with_free_func(g_free);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
	(void)data;
	if (f->fd[0] >= 0)
		close(f->fd[0]);
	if (f->fd[1] >= 0)
		close(f->fd[1]);
	g_string_free(f->input, TRUE);
	g_ptr_array_unref(f->lines);
}

static void
on_line(gpointer user, char *line)
{
	g_ptr_array_add(((Fixture *)user)->lines, g_strdup(line));
}

static void
send_bytes(Fixture *f, const char *bytes, gsize len)
{
	while (len > 0) {
		ssize_t n = write(f->fd[1], bytes, len);
		if (n < 0 && errno == EINTR)
			continue;
		g_assert_cmpint(n, >, 0);
		bytes += n;
		len -= (gsize)n;
	}
}

/* Read until the worker's end has nothing more for now. */
static KovPoolLines
read_all(Fixture *f, gsize max)
{
	KovPoolLines r = KOV_POOL_LINES_MORE;
	int avail = 0;
	do {
		r = kov_pool_read_lines(f->fd[0], f->input, max, on_line, f);
		if (r != KOV_POOL_LINES_MORE)
			return r;
		g_assert_cmpint(ioctl(f->fd[0], FIONREAD, &avail), ==, 0);
	} while (avail > 0);
	return r;
}

static void
test_lines(Fixture *f, gconstpointer data)
{
	(void)data;
	const char *answers = "M koverto_x queue=a 1\nM koverto_x queue=b 2\nP 0\n";
	send_bytes(f, answers, strlen(answers));
	g_assert_cmpint(read_all(f, KOV_POOL_LINE_MAX), ==, KOV_POOL_LINES_MORE);
	g_assert_cmpuint(f->lines->len, ==, 3);
	g_assert_cmpstr(g_ptr_array_index(f->lines, 0), ==, "M koverto_x queue=a 1");
	g_assert_cmpstr(g_ptr_array_index(f->lines, 1), ==, "M koverto_x queue=b 2");
	g_assert_cmpstr(g_ptr_array_index(f->lines, 2), ==, "P 0");
	g_assert_cmpuint(f->input->len, ==, 0);

	/* A line in pieces: nothing until its LF, then it whole. */
	send_bytes(f, "D 17", 4);
	g_assert_cmpint(read_all(f, KOV_POOL_LINE_MAX), ==, KOV_POOL_LINES_MORE);
	g_assert_cmpuint(f->lines->len, ==, 3);
	send_bytes(f, "00\nF", 4);
	g_assert_cmpint(read_all(f, KOV_POOL_LINE_MAX), ==, KOV_POOL_LINES_MORE);
	g_assert_cmpuint(f->lines->len, ==, 4);
	g_assert_cmpstr(g_ptr_array_index(f->lines, 3), ==, "D 1700");
	g_assert_cmpstr(f->input->str, ==, "F");
	send_bytes(f, " 0\n\n", 4);
	g_assert_cmpint(read_all(f, KOV_POOL_LINE_MAX), ==, KOV_POOL_LINES_MORE);
	g_assert_cmpuint(f->lines->len, ==, 6);
	g_assert_cmpstr(g_ptr_array_index(f->lines, 4), ==, "F 0");
	g_assert_cmpstr(g_ptr_array_index(f->lines, 5), ==, "");

	/* The worker's end closed: EOF, once what it wrote is read. */
	close(f->fd[1]);
	f->fd[1] = -1;
	g_assert_cmpint(kov_pool_read_lines(f->fd[0], f->input, KOV_POOL_LINE_MAX, on_line, f), ==,
	                KOV_POOL_LINES_EOF);
}

/* Many lines in one go, far more than one read: every one, in order. */
static void
test_many(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GString) out = g_string_new(NULL);
	for (guint i = 0; i < 2000; i++)
		g_string_append_printf(out, "M koverto_x n=%u 1\n", i);
	/* The socket buffer holds it all: one writer, then one reader. */
	send_bytes(f, out->str, out->len);
	g_assert_cmpint(read_all(f, 64), ==, KOV_POOL_LINES_MORE);
	g_assert_cmpuint(f->lines->len, ==, 2000);
	for (guint i = 0; i < 2000; i += 499) {
		g_autofree char *want = g_strdup_printf("M koverto_x n=%u 1", i);
		g_assert_cmpstr(g_ptr_array_index(f->lines, i), ==, want);
	}
	g_assert_cmpuint(f->input->len, ==, 0);
}

/* A line of the cap is read; one byte more without a LF is too long, and
 * the reader's buffer never grows much past the cap on the way. */
static void
test_cap(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autofree char *full = g_strnfill(KOV_POOL_LINE_MAX, 'x');
	send_bytes(f, full, KOV_POOL_LINE_MAX);
	g_assert_cmpint(read_all(f, KOV_POOL_LINE_MAX), ==, KOV_POOL_LINES_MORE);
	g_assert_cmpuint(f->input->len, ==, KOV_POOL_LINE_MAX);
	send_bytes(f, "\n", 1);
	g_assert_cmpint(read_all(f, KOV_POOL_LINE_MAX), ==, KOV_POOL_LINES_MORE);
	g_assert_cmpuint(f->lines->len, ==, 1);
	g_assert_cmpuint(strlen(g_ptr_array_index(f->lines, 0)), ==, KOV_POOL_LINE_MAX);

	/* A good line, then 1 MiB without a line end, in one go. */
	send_bytes(f, "P 0\n", 4);
	g_autofree char *junk = g_strnfill(1 << 20, 'y');
	pid_t pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		close(f->fd[0]);
		send_bytes(f, junk, 1 << 20);
		_exit(0);
	}
	close(f->fd[1]);
	f->fd[1] = -1;
	KovPoolLines r;
	while ((r = kov_pool_read_lines(f->fd[0], f->input, KOV_POOL_LINE_MAX, on_line, f))
	       == KOV_POOL_LINES_MORE)
		g_assert_cmpuint(f->input->len, <=, KOV_POOL_LINE_MAX);
	g_assert_cmpint(r, ==, KOV_POOL_LINES_TOO_LONG);
	g_assert_cmpuint(f->input->len, <=, KOV_POOL_LINE_MAX + 512);
	g_assert_cmpuint(f->lines->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(f->lines, 1), ==, "P 0");
	/* The pool kills such a worker; here the writer is let go. */
	close(f->fd[0]);
	f->fd[0] = -1;
	int status;
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add("/pool/" name, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
	ADD("lines", test_lines);
	ADD("many", test_many);
	ADD("cap", test_cap);
	return g_test_run();
}
