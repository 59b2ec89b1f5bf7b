/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The SMTP sink of koverto's benchmark: a small single-process SMTP server
 * on 127.0.0.1 that keeps what it receives in the files t/sink.py writes,
 * at a small fraction of aiosmtpd's CPU. On a benchmark machine the sink
 * shares the CPUs with the tools measured, and in a real installation the
 * smarthost is another machine: its cost should stay out of the figures.
 *
 *   bench-sink --dir DIR --port-file FILE
 *
 * It binds port 0, writes the port to FILE (tmp + rename) once it listens,
 * and runs until SIGTERM or SIGINT, then exits 0. In DIR, as t/sink.py:
 *   NNNNNN.eml   the DATA bytes as received (dot-unstuffed, CRLF kept)
 *   NNNNNN.json  {"mail_from", "rcpt_tos", "tls": false, "auth": null,
 *                "time"}, by rename after the .eml and before the 250
 *   log          "conn=N CONNECT 127.0.0.1:PORT" and "conn=N DISCONNECT"
 * It advertises SIZE, 8BITMIME and HELP like aiosmtpd and accepts every
 * sender and recipient; no TLS, no AUTH, no reply injection (the tests
 * keep t/sink.py for those). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SINK_MAX_CONN   256
#define SINK_MAX_RCPT   1024
#define SINK_LINE_MAX   (64 * 1024)   /* a command line; DATA lines may be longer */
#define SINK_OUT_MAX    (64 * 1024)

typedef struct {
	int fd;
	unsigned id;
	char in[SINK_LINE_MAX];
	size_t in_len;
	int in_data;            /* between DATA's 354 and the final dot */
	int mid_line;           /* in DATA: the buffer ends inside a line */
	char *mail_from;
	char *rcpt[SINK_MAX_RCPT];
	size_t nrcpt;
	int eml;                /* the .eml being written, or -1 */
	char out[SINK_OUT_MAX]; /* DATA bytes waiting for write() */
	size_t out_len;
} SinkConn;

static const char *sink_dir;
static int sink_log = -1;
static unsigned sink_seq, sink_conns;
static volatile sig_atomic_t sink_stop;

static void
sink_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("bench-sink: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void
sink_on_signal(int sig)
{
	(void)sig;
	sink_stop = 1;
}

static int
sink_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
sink_logf(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	if (sink_write_all(sink_log, line, (size_t)n) < 0)
		sink_die("log: %s", strerror(errno));
}

/* A reply to the client. The replies are small and the client waits for
 * each: a short or failed send drops the connection. */
static int
sink_reply(SinkConn *c, const char *text)
{
	size_t len = strlen(text);
	return send(c->fd, text, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static void
sink_reset(SinkConn *c)
{
	free(c->mail_from);
	c->mail_from = NULL;
	for (size_t i = 0; i < c->nrcpt; i++)
		free(c->rcpt[i]);
	c->nrcpt = 0;
}

/* The address of "MAIL FROM:<a@b> SIZE=1" or "RCPT TO:<c@d>", without the
 * brackets; NULL when there is none. */
static char *
sink_address(const char *arg)
{
	const char *open = strchr(arg, '<');
	const char *close = open ? strchr(open, '>') : NULL;
	if (open == NULL || close == NULL)
		return NULL;
	return strndup(open + 1, (size_t)(close - open - 1));
}

static void
sink_path(char *buf, size_t size, unsigned seq, const char *ext)
{
	snprintf(buf, size, "%s/%06u.%s", sink_dir, seq, ext);
}

static void
sink_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)  /* the file stays ASCII, so valid UTF-8 */
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* The .json of message @seq, beside its .eml, by rename, before the 250. */
static void
sink_write_meta(const SinkConn *c, unsigned seq)
{
	char tmp[4096], path[4096];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	sink_path(path, sizeof path, seq, "json");
	snprintf(tmp, sizeof tmp, "%s/.%06u.json.tmp", sink_dir, seq);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		sink_die("%s: %s", tmp, strerror(errno));
	fputs("{\"mail_from\": ", f);
	sink_json_string(f, c->mail_from ? c->mail_from : "");
	fputs(", \"rcpt_tos\": [", f);
	for (size_t i = 0; i < c->nrcpt; i++) {
		if (i > 0)
			fputs(", ", f);
		sink_json_string(f, c->rcpt[i]);
	}
	fprintf(f, "], \"tls\": false, \"auth\": null, \"time\": %lld.%06ld}\n",
	        (long long)ts.tv_sec, ts.tv_nsec / 1000);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		sink_die("%s: %s", path, strerror(errno));
}

static void
sink_data_flush(SinkConn *c)
{
	if (c->out_len > 0 && sink_write_all(c->eml, c->out, c->out_len) < 0)
		sink_die("writing a message on conn=%u: %s", c->id, strerror(errno));
	c->out_len = 0;
}

static void
sink_data_append(SinkConn *c, const char *buf, size_t len)
{
	if (c->out_len + len > sizeof c->out)
		sink_data_flush(c);
	if (len > sizeof c->out) {
		if (sink_write_all(c->eml, buf, len) < 0)
			sink_die("writing a message on conn=%u: %s", c->id, strerror(errno));
		return;
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
}

/* Where a message is written until its final dot: numbers are taken only
 * for stored messages, as t/sink.py does, so the .json files have no gaps
 * (bench/run counts them in sequence). */
static void
sink_partial_path(char *buf, size_t size, const SinkConn *c)
{
	snprintf(buf, size, "%s/.conn-%u.eml.tmp", sink_dir, c->id);
}

static int
sink_data_begin(SinkConn *c)
{
	char path[4096];
	if (c->mail_from == NULL || c->nrcpt == 0)
		return sink_reply(c, "503 Error: need RCPT command\r\n");
	sink_partial_path(path, sizeof path, c);
	c->eml = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (c->eml < 0)
		sink_die("%s: %s", path, strerror(errno));
	c->in_data = 1;
	c->mid_line = 0;
	return sink_reply(c, "354 End data with <CR><LF>.<CR><LF>\r\n");
}

static int
sink_data_end(SinkConn *c)
{
	char partial[4096], path[4096];
	sink_data_flush(c);
	if (close(c->eml) != 0)
		sink_die("closing a message on conn=%u: %s", c->id, strerror(errno));
	c->eml = -1;
	unsigned seq = ++sink_seq;
	sink_partial_path(partial, sizeof partial, c);
	sink_path(path, sizeof path, seq, "eml");
	if (rename(partial, path) != 0)
		sink_die("%s: %s", path, strerror(errno));
	c->in_data = 0;
	sink_write_meta(c, seq);
	sink_reset(c);
	return sink_reply(c, "250 OK\r\n");
}

/* One DATA line (with its LF, when it has one). */
static int
sink_data_line(SinkConn *c, const char *line, size_t len, int complete)
{
	int at_start = !c->mid_line;
	c->mid_line = !complete;
	if (at_start && complete && (len == 3 && memcmp(line, ".\r\n", 3) == 0))
		return sink_data_end(c);
	if (at_start && len > 0 && line[0] == '.') {
		line++;
		len--;
	}
	sink_data_append(c, line, len);
	return 0;
}

static int
sink_command(SinkConn *c, char *line)
{
	size_t len = strlen(line);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';

	if (strncasecmp(line, "EHLO", 4) == 0)
		return sink_reply(c, "250-bench-sink\r\n250-SIZE 1073741824\r\n250-8BITMIME\r\n250 HELP\r\n");
	if (strncasecmp(line, "HELO", 4) == 0)
		return sink_reply(c, "250 bench-sink\r\n");
	if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
		sink_reset(c);
		c->mail_from = sink_address(line + 10);
		if (c->mail_from == NULL)
			return sink_reply(c, "501 Syntax: MAIL FROM: <address>\r\n");
		return sink_reply(c, "250 OK\r\n");
	}
	if (strncasecmp(line, "RCPT TO:", 8) == 0) {
		if (c->mail_from == NULL)
			return sink_reply(c, "503 Error: need MAIL command\r\n");
		char *rcpt = sink_address(line + 8);
		if (rcpt == NULL || c->nrcpt == SINK_MAX_RCPT) {
			free(rcpt);
			return sink_reply(c, "501 Syntax: RCPT TO: <address>\r\n");
		}
		c->rcpt[c->nrcpt++] = rcpt;
		return sink_reply(c, "250 OK\r\n");
	}
	if (strcasecmp(line, "DATA") == 0)
		return sink_data_begin(c);
	if (strcasecmp(line, "RSET") == 0) {
		sink_reset(c);
		return sink_reply(c, "250 OK\r\n");
	}
	if (strncasecmp(line, "NOOP", 4) == 0)
		return sink_reply(c, "250 OK\r\n");
	if (strcasecmp(line, "QUIT") == 0) {
		sink_reply(c, "221 Bye\r\n");
		return -1;
	}
	return sink_reply(c, "500 Error: command not recognized\r\n");
}

/* Everything complete in c->in; a partial line stays for the next read,
 * except in DATA, where a full buffer is passed on as part of a line. */
static int
sink_consume(SinkConn *c)
{
	size_t pos = 0;
	while (pos < c->in_len) {
		char *start = c->in + pos;
		char *nl = memchr(start, '\n', c->in_len - pos);
		if (nl == NULL) {
			if (c->in_data && pos == 0 && c->in_len == sizeof c->in) {
				if (sink_data_line(c, start, c->in_len, 0) < 0)
					return -1;
				pos = c->in_len;
			}
			break;
		}
		size_t len = (size_t)(nl - start) + 1;
		int rc;
		if (c->in_data) {
			rc = sink_data_line(c, start, len, 1);
		} else {
			*nl = '\0';
			rc = sink_command(c, start);
		}
		if (rc < 0)
			return -1;
		pos += len;
	}
	memmove(c->in, c->in + pos, c->in_len - pos);
	c->in_len -= pos;
	if (!c->in_data && c->in_len == sizeof c->in) {
		sink_reply(c, "500 Error: line too long\r\n");
		return -1;
	}
	return 0;
}

static void
sink_close(SinkConn *c)
{
	sink_logf("conn=%u DISCONNECT", c->id);
	if (c->eml >= 0) {
		char path[4096];
		close(c->eml);
		sink_partial_path(path, sizeof path, c);
		unlink(path);  /* an aborted DATA is no message */
	}
	sink_reset(c);
	close(c->fd);
	free(c);
}

static SinkConn *
sink_accept(int listener)
{
	struct sockaddr_in peer;
	socklen_t plen = sizeof peer;
	int fd = accept4(listener, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	if (fd < 0)
		return NULL;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	SinkConn *c = calloc(1, sizeof *c);
	if (c == NULL)
		sink_die("out of memory");
	c->fd = fd;
	c->id = ++sink_conns;
	c->eml = -1;
	sink_logf("conn=%u CONNECT %s:%u", c->id, inet_ntoa(peer.sin_addr), ntohs(peer.sin_port));
	if (sink_reply(c, "220 bench-sink ESMTP\r\n") < 0) {
		sink_close(c);
		return NULL;
	}
	return c;
}

static int
sink_listen(const char *port_file)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0 };
	socklen_t len = sizeof addr;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 64) != 0
	    || getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
		sink_die("listening on 127.0.0.1: %s", strerror(errno));

	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
	FILE *f = fopen(tmp, "w");
	if (f == NULL || fprintf(f, "%u\n", ntohs(addr.sin_port)) < 0 || fclose(f) != 0
	    || rename(tmp, port_file) != 0)
		sink_die("%s: %s", port_file, strerror(errno));
	return fd;
}

static void
sink_serve(int listener, sigset_t unblocked)
{
	SinkConn *conns[SINK_MAX_CONN];
	struct pollfd pfd[SINK_MAX_CONN + 1];
	size_t n = 0;

	while (!sink_stop) {
		pfd[0] = (struct pollfd){ .fd = listener, .events = n < SINK_MAX_CONN ? POLLIN : 0 };
		for (size_t i = 0; i < n; i++)
			pfd[i + 1] = (struct pollfd){ .fd = conns[i]->fd, .events = POLLIN };
		/* SIGTERM and SIGINT are blocked but inside ppoll: one that comes
		 * between the check of sink_stop and the wait is not lost. */
		if (ppoll(pfd, n + 1, NULL, &unblocked) < 0) {
			if (errno == EINTR)
				continue;
			sink_die("poll: %s", strerror(errno));
		}
		for (size_t i = n; i-- > 0;) {
			if (pfd[i + 1].revents == 0)
				continue;
			SinkConn *c = conns[i];
			ssize_t got = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0 || (c->in_len += (size_t)got, sink_consume(c) < 0)) {
				sink_close(c);
				conns[i] = conns[--n];
			}
		}
		if (pfd[0].revents & POLLIN) {
			SinkConn *c = sink_accept(listener);
			if (c != NULL)
				conns[n++] = c;
		}
	}
	while (n > 0)
		sink_close(conns[--n]);
}

int
main(int argc, char **argv)
{
	const char *port_file = NULL;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--dir") == 0)
			sink_dir = argv[i + 1];
		else if (strcmp(argv[i], "--port-file") == 0)
			port_file = argv[i + 1];
		else
			sink_die("unknown option %s", argv[i]);
	}
	if (sink_dir == NULL || port_file == NULL || argc % 2 == 0) {
		fprintf(stderr, "usage: bench-sink --dir DIR --port-file FILE\n");
		return 64;
	}

	char log_path[4096];
	snprintf(log_path, sizeof log_path, "%s/log", sink_dir);
	sink_log = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (sink_log < 0)
		sink_die("%s: %s", log_path, strerror(errno));

	struct sigaction sa = { .sa_handler = sink_on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigset_t stop, unblocked;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, &unblocked);

	sink_serve(sink_listen(port_file), unblocked);
	return 0;
}
