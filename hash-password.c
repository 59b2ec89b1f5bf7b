/* SPDX-License-Identifier: GPL-3.0-or-later */
/* `koverto hash-password`: a crypt(3) hash for a [client NAME] password
 * line of koverto.conf(5). On a terminal it asks twice without echo;
 * otherwise it reads one line from standard input (without its line end),
 * so scripts can pipe a password in without it showing in ps. Prints the
 * hash; the password is wiped. Exit statuses are sysexits(3). */
#include "auth.h"
#include "commands.h"

#include <crypt.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <termios.h>
#include <unistd.h>

/* libxcrypt hashes at most this many octets (CRYPT_MAX_PASSPHRASE_SIZE
 * counts the NUL). */
#define KOV_HASH_PASSWORD_MAX (CRYPT_MAX_PASSPHRASE_SIZE - 1)

static struct termios kov_hash_saved;
static volatile sig_atomic_t kov_hash_echo_off;

/* Echo back on, then die of the signal as if nothing had caught it. */
static void
kov_hash_on_signal(int sig)
{
	if (kov_hash_echo_off)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &kov_hash_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
kov_hash_usage(void)
{
	fprintf(stderr, "usage: koverto hash-password\n"
	                "  asks for a password twice (on a terminal) or reads one line from\n"
	                "  standard input, and prints its crypt(3) hash for a [client NAME]\n"
	                "  password line of koverto.conf\n");
}

/* One line of at most KOV_HASH_PASSWORD_MAX octets from standard input
 * into @buf (size KOV_HASH_PASSWORD_MAX + 2), without "\n" or "\r\n".
 * 0, or EX_DATAERR with a message on stderr. */
static int
kov_hash_read_line(char *buf, gsize *len)
{
	*len = 0;
	for (;;) {
		char c;
		ssize_t n = read(STDIN_FILENO, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "koverto hash-password: cannot read the password: %s\n",
			        g_strerror(errno));
			return EX_IOERR;
		}
		if (n == 0 || c == '\n')
			break;
		if (*len > KOV_HASH_PASSWORD_MAX) {
			fprintf(stderr, "koverto hash-password: the password is longer than %d octets\n",
			        KOV_HASH_PASSWORD_MAX);
			return EX_DATAERR;
		}
		buf[(*len)++] = c;
	}
	if (*len > 0 && buf[*len - 1] == '\r')
		(*len)--;
	buf[*len] = '\0';
	if (*len > KOV_HASH_PASSWORD_MAX) {
		fprintf(stderr, "koverto hash-password: the password is longer than %d octets\n",
		        KOV_HASH_PASSWORD_MAX);
		return EX_DATAERR;
	}
	if (memchr(buf, '\0', *len) != NULL) {
		fprintf(stderr, "koverto hash-password: the password holds a NUL byte\n");
		return EX_DATAERR;
	}
	if (*len == 0) {
		fprintf(stderr, "koverto hash-password: empty password\n");
		return EX_DATAERR;
	}
	return 0;
}

/* Ask on the terminal with @prompt, echo off; the signals that end us
 * turn echo back on first. */
static int
kov_hash_ask(const char *prompt, char *buf, gsize *len)
{
	struct termios quiet = kov_hash_saved;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	kov_hash_echo_off = 1;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0) {
		kov_hash_echo_off = 0;
		fprintf(stderr, "koverto hash-password: cannot turn off echo: %s\n", g_strerror(errno));
		return EX_IOERR;
	}
	/* The prompt only once echo is off: what is typed after it is kept. */
	fputs(prompt, stderr);
	fflush(stderr);
	int status = kov_hash_read_line(buf, len);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &kov_hash_saved);
	kov_hash_echo_off = 0;
	return status;
}

int
koverto_hash_password_main(int argc, char **argv)
{
	if (argc > 1) {
		if (g_str_equal(argv[1], "-h") || g_str_equal(argv[1], "--help")) {
			kov_hash_usage();
			return EX_OK;
		}
		/* not echoed: it may be the password */
		fprintf(stderr, "koverto hash-password: takes no argument (the password is read, "
		                "never given on the command line)\n");
		kov_hash_usage();
		return EX_USAGE;
	}
	char first[KOV_HASH_PASSWORD_MAX + 2], again[KOV_HASH_PASSWORD_MAX + 2];
	gsize first_len = 0, again_len = 0;
	int status;
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &kov_hash_saved) == 0) {
		const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
		for (gsize i = 0; i < G_N_ELEMENTS(sigs); i++)
			signal(sigs[i], kov_hash_on_signal);
		status = kov_hash_ask("Password: ", first, &first_len);
		if (status == 0)
			status = kov_hash_ask("Again: ", again, &again_len);
		if (status == 0 && (first_len != again_len || memcmp(first, again, first_len) != 0)) {
			fprintf(stderr, "koverto hash-password: the two passwords differ\n");
			status = EX_DATAERR;
		}
	} else {
		status = kov_hash_read_line(first, &first_len);
	}
	g_autofree char *hash = NULL;
	if (status == 0) {
		g_autoptr(GError) error = NULL;
		hash = kov_auth_hash_password(first, &error);
		if (hash == NULL) {
			fprintf(stderr, "koverto hash-password: %s\n", error->message);
			status = EX_SOFTWARE;
		}
	}
	explicit_bzero(first, sizeof first);
	explicit_bzero(again, sizeof again);
	if (status != 0)
		return status;
	printf("%s\n", hash);
	return fflush(stdout) == 0 && !ferror(stdout) ? EX_OK : EX_IOERR;
}
