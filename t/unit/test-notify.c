/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The readiness protocol (lib/run/notify.c, issue 16): a real Unix
 * datagram socket stands for the service manager, bound at a path and
 * under an abstract name, and the test reads what koverto sent there. */
#include "fixture.h"
#include "notify.h"
#include "error.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A bound datagram socket; @name a path or '@'name (abstract). */
static int
manager_bind(const char *name)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	g_assert_cmpint(fd, >=, 0);
	if (name[0] == '@') {
		/* Abstract: a leading NUL, the name, no terminator. */
		memcpy(sun.sun_path + 1, name + 1, strlen(name) - 1);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
	} else {
		g_strlcpy(sun.sun_path, name, sizeof sun.sun_path);
		len = sizeof sun;
	}
	g_assert_cmpint(bind(fd, (struct sockaddr *)&sun, len), ==, 0);
	return fd;
}

/* The next datagram, or NULL when none is waiting. (transfer full) */
static char *
manager_read(int fd)
{
	char buf[4096];
	ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
	if (n < 0) {
		g_assert_cmpint(errno, ==, EAGAIN);
		return NULL;
	}
	return g_strndup(buf, n);
}

static void
check_exchange(const char *name, int fd)
{
	g_autoptr(GError) error = NULL;
	g_setenv("NOTIFY_SOCKET", name, TRUE);
	g_autoptr(KovNotify) n = kov_notify_new_from_env(&error);
	g_assert_no_error(error);
	g_assert_nonnull(n);
	/* gpg and msp, started later, must not find it. */
	g_assert_null(g_getenv("NOTIFY_SOCKET"));

	g_assert_true(kov_notify_send(n, "READY=1", &error));
	g_assert_no_error(error);
	g_autofree char *ready = manager_read(fd);
	g_assert_cmpstr(ready, ==, "READY=1");

	kov_notify_status(n, "RELOADING=1", "reading %s\nREADY=1", "koverto.conf");
	g_autofree char *reloading = manager_read(fd);
	/* The newline in the status text cannot forge an assignment. */
	g_assert_cmpstr(reloading, ==, "RELOADING=1\nSTATUS=reading koverto.conf READY=1");

	kov_notify_status(n, NULL, "%u queues", 3u);
	g_autofree char *status = manager_read(fd);
	g_assert_cmpstr(status, ==, "STATUS=3 queues");
	g_autofree char *none = manager_read(fd);
	g_assert_null(none);
}

static void
test_path(void)
{
	g_autofree char *dir = kov_test_tmpdir_new("kovn");
	g_autofree char *path = g_build_filename(dir, "notify", NULL);
	int fd = manager_bind(path);
	check_exchange(path, fd);
	close(fd);
	kov_test_tree_remove(dir);
}

static void
test_abstract(void)
{
	g_autofree char *name = g_strdup_printf("@koverto-test-notify/%d", (int)getpid());
	int fd = manager_bind(name);
	check_exchange(name, fd);
	close(fd);
}

/* No manager: nothing to do, every call a no-op. */
static void
test_unset(void)
{
	g_autoptr(GError) error = NULL;
	g_unsetenv("NOTIFY_SOCKET");
	g_autoptr(KovNotify) n = kov_notify_new_from_env(&error);
	g_assert_no_error(error);
	g_assert_null(n);
	g_assert_true(kov_notify_send(n, "READY=1", &error));
	kov_notify_status(n, "STOPPING=1", "stopping");
}

static void
test_bad_names(void)
{
	const char *bad[] = { "relative/path", "@", "/", "x", NULL };
	for (const char **b = bad; *b != NULL; b++) {
		g_autoptr(GError) error = NULL;
		g_setenv("NOTIFY_SOCKET", *b, TRUE);
		g_autoptr(KovNotify) n = kov_notify_new_from_env(&error);
		g_assert_null(n);
		g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
		g_assert_null(g_getenv("NOTIFY_SOCKET"));
	}
	g_autoptr(GError) error = NULL;
	g_autofree char *long_name = g_strnfill(200, 'a');
	long_name[0] = '/';
	g_assert_null(kov_notify_new(long_name, &error));
	g_assert_error(error, KOV_ERROR, KOV_ERROR_CONFIG);
}

/* A manager that went away: an error to log, not a hang or a crash. */
static void
test_gone(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = kov_test_tmpdir_new("kovn");
	g_autofree char *path = g_build_filename(dir, "gone", NULL);
	g_autoptr(KovNotify) n = kov_notify_new(path, &error);
	g_assert_nonnull(n);
	g_assert_false(kov_notify_send(n, "READY=1", &error));
	g_assert_nonnull(error);
	kov_test_tree_remove(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/notify/path", test_path);
	g_test_add_func("/notify/abstract", test_abstract);
	g_test_add_func("/notify/unset", test_unset);
	g_test_add_func("/notify/bad-names", test_bad_names);
	g_test_add_func("/notify/gone", test_gone);
	return g_test_run();
}
