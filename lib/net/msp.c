/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The msp transport: the configured program (a sendmail) run without a
 * shell or PATH search, with "-f SENDER -- RCPT..." after its own
 * arguments and the caller's fd as its stdin (no copy, no pipe). Its exit
 * status is read the sendmail way (sysexits: 75 and 71 later, as Postfix's
 * pipe(8) reads them, 78 the operator's mistake, kept; 0 sent; anything
 * else failed), its stderr's first line
 * becomes the reason. */
#include "msp.h"
#include "error.h"
#include "log.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

typedef struct {
	KovDeliver deliver;  /* first: the interface (deliver.h) */
	char **argv;         /* msp, split as configured */
} KovMsp;

/* The first line of what msp wrote on stderr, for the reason. */
static char *
kov_msp_first_line(int fd)
{
	char buffer[512];
	ssize_t got;

	do
		got = pread(fd, buffer, sizeof buffer - 1, 0);
	while (got < 0 && errno == EINTR);
	if (got <= 0)
		return g_strdup("");
	buffer[got] = '\0';
	buffer[strcspn(buffer, "\r\n")] = '\0';
	g_autofree char *valid = g_utf8_make_valid(buffer, -1);
	return g_strdup(g_strstrip(valid));
}

static void
kov_msp_conclude(int status, int errfd, KovRcptResult *results, gsize n)
{
	g_autofree char *line = kov_msp_first_line(errfd);
	const char *sep = *line != '\0' ? ": " : "";

	if (WIFSIGNALED(status)) {
		g_autofree char *reply = g_strdup_printf("msp killed by signal %d%s%s", WTERMSIG(status), sep, line);
		kov_deliver_result_set_all(results, n, KOV_RCPT_DEFERRED, 0, reply);
		return;
	}
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : EX_SOFTWARE;
	g_autofree char *reply = g_strdup_printf("msp exited with status %d%s%s", code, sep, line);
	/* EX_CONFIG: msp's own configuration is wrong, the operator's mistake:
	 * keep the mail, as for the SMTP transport's configuration errors.
	 * EX_OSERR (cannot fork, no memory) passes, as EX_TEMPFAIL does. */
	KovRcptStatus what = code == 0 ? KOV_RCPT_DELIVERED
	                   : code == EX_TEMPFAIL || code == EX_OSERR || code == EX_CONFIG
	                   ? KOV_RCPT_DEFERRED : KOV_RCPT_FAILED;
	if (code == EX_CONFIG) {
		g_autofree char *why = g_strdup_printf("configuration error: %s", reply);
		kov_log_err("deliver: %s; the mail is kept and retried", why);
		kov_deliver_result_set_all(results, n, what, code, why);
		return;
	}
	kov_deliver_result_set_all(results, n, what, code, reply);
}

/* msp argv..., -f SENDER, --, RCPT...: the "--" keeps an address that
 * starts with "-" from being read as an option. Postfix's and Exim's
 * sendmail, OpenSMTPD's sendmail (smtpctl) and msmtp all take "--" as the
 * end of options. The child reads @fd itself as stdin: no copy, no pipe. */
static void
kov_msp_send(KovDeliver *deliver, const char *sender, const char *const *rcpts, gsize n, int fd,
             KovRcptResult *results)
{
	KovMsp *msp = (KovMsp *)deliver;
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	GError *spawn_error = NULL;
	GPid pid;
	int status = 0;

	for (char **arg = msp->argv; *arg != NULL; arg++)
		g_ptr_array_add(argv, *arg);
	g_ptr_array_add(argv, (gpointer) "-f");
	g_ptr_array_add(argv, (gpointer)(*sender != '\0' ? sender : "<>"));
	g_ptr_array_add(argv, (gpointer) "--");
	for (gsize i = 0; i < n; i++)
		g_ptr_array_add(argv, (gpointer)rcpts[i]);
	g_ptr_array_add(argv, NULL);

	if (kov_log_debug_enabled()) {
		g_autofree char *line = g_strjoinv(" ", (char **)argv->pdata);
		kov_log_debug("deliver: running %s", line);
	}
	int errfd = memfd_create("koverto-msp-stderr", MFD_CLOEXEC);
	if (errfd < 0) {
		g_autofree char *reply = g_strdup_printf("msp: cannot make a file for its stderr: %s", g_strerror(errno));
		kov_deliver_result_set_all(results, n, KOV_RCPT_DEFERRED, 0, reply);
		return;
	}
	/* The child shares the file offset: start it at the beginning. */
	if (lseek(fd, 0, SEEK_SET) < 0 && errno != ESPIPE) {
		g_autofree char *reply = g_strdup_printf("msp: cannot rewind the mail: %s", g_strerror(errno));
		kov_deliver_result_set_all(results, n, KOV_RCPT_DEFERRED, 0, reply);
		close(errfd);
		return;
	}
	if (!g_spawn_async_with_pipes_and_fds(NULL, (const char *const *)argv->pdata, NULL,
	                                      G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
	                                      NULL, NULL, fd, -1, errfd, NULL, NULL, 0, &pid, NULL,
	                                      NULL, NULL, &spawn_error)) {
		/* A program that is not there or cannot be run is the configuration's
		 * mistake (it may be mended by installing it): kept, said at error level. */
		gboolean config = g_error_matches(spawn_error, G_SPAWN_ERROR, G_SPAWN_ERROR_NOENT)
		                  || g_error_matches(spawn_error, G_SPAWN_ERROR, G_SPAWN_ERROR_ACCES)
		                  || g_error_matches(spawn_error, G_SPAWN_ERROR, G_SPAWN_ERROR_NOEXEC)
		                  || g_error_matches(spawn_error, G_SPAWN_ERROR, G_SPAWN_ERROR_ISDIR);
		g_autofree char *reply = g_strdup_printf("%scannot run msp %s: %s",
		                                         config ? "configuration error: " : "",
		                                         msp->argv[0], spawn_error->message);
		g_error_free(spawn_error);
		if (config)
			kov_log_err("deliver: %s; the mail is kept and retried", reply);
		kov_deliver_result_set_all(results, n, KOV_RCPT_DEFERRED, 0, reply);
		close(errfd);
		return;
	}
	pid_t waited;
	do
		waited = waitpid(pid, &status, 0);
	while (waited < 0 && errno == EINTR);
	g_spawn_close_pid(pid);
	if (waited < 0) {
		g_autofree char *reply = g_strdup_printf("msp: lost its exit status: %s", g_strerror(errno));
		kov_deliver_result_set_all(results, n, KOV_RCPT_DEFERRED, 0, reply);
	} else {
		kov_msp_conclude(status, errfd, results, n);
	}
	close(errfd);
}

/* -n: there is no connection to test, only the program. */
static gboolean
kov_msp_probe(KovDeliver *deliver, char **summary, GError **error)
{
	KovMsp *msp = (KovMsp *)deliver;

	if (!g_file_test(msp->argv[0], G_FILE_TEST_IS_REGULAR)
	    || !g_file_test(msp->argv[0], G_FILE_TEST_IS_EXECUTABLE)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "msp %s is not an executable file",
		            msp->argv[0]);
		return FALSE;
	}
	if (summary != NULL)
		*summary = g_strdup_printf("msp %s is executable (there is no connection to test); "
		                           "no mail sent", msp->argv[0]);
	return TRUE;
}

static void
kov_msp_free(KovDeliver *deliver)
{
	KovMsp *msp = (KovMsp *)deliver;

	g_strfreev(msp->argv);
	g_free(msp);
}

static const KovDeliverOps kov_msp_ops = {
	.crlf = FALSE,
	.send = kov_msp_send,
	.probe = kov_msp_probe,
	.free = kov_msp_free,
};

KovDeliver *
kov_msp_new(const KovConfig *config, GError **error)
{
	g_return_val_if_fail(config != NULL && config->msp != NULL && config->msp[0] != NULL, NULL);

	/* execv semantics: no shell, no PATH search, so the program is a path. */
	if (!g_path_is_absolute(config->msp[0])) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "msp %s is not an absolute path (it is run without a shell or PATH)",
		            config->msp[0]);
		return NULL;
	}
	KovMsp *msp = g_new0(KovMsp, 1);
	msp->deliver.ops = &kov_msp_ops;
	msp->argv = g_strdupv(config->msp);
	return &msp->deliver;
}
