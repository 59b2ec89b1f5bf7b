/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Reading the spool for `koverto status` (inspect.h) while the daemon may
 * be working on it, and changing nothing: directories are opened with
 * openat(O_NOFOLLOW | O_DIRECTORY) from queuedir down, files are looked at
 * with fstatat(AT_SYMLINK_NOFOLLOW) and opened only when they are regular
 * files, read-only and without updating their access time where the
 * kernel lets us. A file that goes away meanwhile is skipped: a listing
 * is a snapshot that may be a little stale, as Postfix's showq says. Only
 * a deferred mail's header block is read (its envelope), never a body. */
#include "inspect.h"
#include "config.h"
#include "error.h"
#include "envelope.h"
#include "gmime-autoptr.h"
#include "message.h"
#include "queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* A state file or a reason is small; a bigger one is not koverto's. */
#define INSPECT_STATE_MAX (1024 * 1024)
#define INSPECT_REASON_MAX (64 * 1024)
/* The header block of a mail: more than this is read as far as this. */
#define INSPECT_HEADER_MAX (1024 * 1024)

const char *
kov_inspect_where_name(KovInspectWhere where)
{
	static const char *const names[] = { "waiting", "active", "deferred", "failed" };
	return where < G_N_ELEMENTS(names) ? names[where] : "?";
}

/* ---- files, read-only ---------------------------------------------------- */

/* openat read-only, never through a link, without touching the access
 * time when we own the file (O_NOATIME is refused, EPERM, otherwise). */
static int
inspect_openat(int dir, const char *name, int flags)
{
	flags |= O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY;
	int fd = openat(dir, name, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dir, name, flags);
	return fd;
}

/* @name in @dir as a directory of its own (not a link to one): its fd, or
 * -1 with *@problem (transfer full) saying why. */
static int
inspect_open_dir(int dir, const char *name, const char *shown, char **problem)
{
	int fd = inspect_openat(dir, name, O_DIRECTORY);
	if (fd >= 0)
		return fd;
	int err = errno;
	struct stat st;
	if ((err == ELOOP || err == ENOTDIR) && fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0
	    && S_ISLNK(st.st_mode))
		*problem = g_strdup_printf("%s is a symbolic link: not followed", shown);
	else if (err == ENOENT)
		*problem = g_strdup_printf("%s is missing", shown);
	else
		*problem = g_strdup_printf("%s: %s", shown, g_strerror(err));
	return -1;
}

/* A descriptor of its own for the directory @dir: a DIR stream over a
 * dup() would share (and move) @dir's position. */
static int
inspect_reopen(int dir)
{
	return dir >= 0 ? openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
}

/* The regular file @name in @dir, opened: -1 with *@problem (transfer
 * full; NULL when it is simply gone) for anything else. */
static int
inspect_open_file(int dir, const char *name, struct stat *st, char **problem)
{
	*problem = NULL;
	if (fstatat(dir, name, st, AT_SYMLINK_NOFOLLOW) != 0)
		return -1;
	if (S_ISLNK(st->st_mode)) {
		*problem = g_strdup("a symbolic link: not followed");
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		*problem = g_strdup_printf("not a regular file (mode %06o): not read", (unsigned)st->st_mode);
		return -1;
	}
	int fd = inspect_openat(dir, name, O_NONBLOCK);
	if (fd < 0 || fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		if (fd >= 0 || errno != ENOENT)
			*problem = g_strdup_printf("cannot read it: %s", fd >= 0 ? "replaced meanwhile"
			                                                           : g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Up to @max bytes of @fd from its start; with @header_block, only as far
 * as the blank line that ends a mail's header (LF or CRLF), that line
 * included. (transfer full) */
static char *
inspect_read_fd(int fd, gsize max, gboolean header_block, gsize *len)
{
	GString *s = g_string_new(NULL);
	char buf[16384];

	while (s->len < max) {
		ssize_t n = pread(fd, buf, MIN(sizeof buf, max - s->len), (off_t)s->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		gsize before = s->len;
		g_string_append_len(s, buf, n);
		if (!header_block)
			continue;
		/* A header that is empty, or a newline followed by an empty line;
		 * the two bytes before this read may hold the start of it. */
		const char *end = s->str + s->len;
		const char *cut = NULL;
		if (before == 0 && (s->str[0] == '\n' || (s->len > 1 && s->str[0] == '\r' && s->str[1] == '\n')))
			cut = s->str + (s->str[0] == '\n' ? 1 : 2);
		for (const char *p = s->str + (before > 2 ? before - 2 : 0); cut == NULL && p + 1 < end; p++) {
			if (p[0] != '\n')
				continue;
			if (p[1] == '\n')
				cut = p + 2;
			else if (p[1] == '\r' && p + 2 < end && p[2] == '\n')
				cut = p + 3;
		}
		if (cut != NULL) {
			g_string_truncate(s, cut - s->str);
			*len = s->len;
			return g_string_free(s, FALSE);
		}
	}
	/* No end within @max: the whole lines read, then the blank line. */
	if (header_block && s->len >= max) {
		const char *last = memrchr(s->str, '\n', s->len);
		g_string_truncate(s, last != NULL ? (gsize)(last - s->str) + 1 : 0);
		g_string_append_c(s, '\n');
	}
	*len = s->len;
	return g_string_free(s, FALSE);
}

/* The regular file @name in @dir, at most @max bytes. NULL when it is
 * not one (*@problem nullable, transfer full). */
static char *
inspect_read_file(int dir, const char *name, gsize max, struct stat *st, gsize *len, char **problem)
{
	int fd = inspect_open_file(dir, name, st, problem);
	if (fd < 0)
		return NULL;
	char *data = inspect_read_fd(fd, max, FALSE, len);
	close(fd);
	return data;
}

/* ---- one mail ------------------------------------------------------------ */

static void
inspect_rcpt_free(gpointer data)
{
	KovInspectRcpt *r = data;
	g_free(r->address);
	g_free(r->reason);
	g_free(r);
}

void
kov_inspect_mail_free(gpointer data)
{
	KovInspectMail *m = data;
	if (m == NULL)
		return;
	g_free(m->queue);
	g_free(m->name);
	g_free(m->path);
	g_free(m->problem);
	g_free(m->last_error);
	g_free(m->reason);
	g_free(m->sender);
	if (m->recipients != NULL)
		g_ptr_array_unref(m->recipients);
	g_free(m->envelope_problem);
	g_free(m);
}

/* The open directories of one queuedir. */
typedef struct {
	int top;      /* queuedir */
	int state;    /* queuedir/state; -1 when missing */
	int failed;   /* queuedir/failed; -1 when missing */
} InspectDirs;

static void
inspect_dirs_close(InspectDirs *d)
{
	int *fds[] = { &d->top, &d->state, &d->failed };
	for (gsize i = 0; i < G_N_ELEMENTS(fds); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

/* The mail's state file, state/<queue>.<name>, into @m. */
static void
inspect_load_state(InspectDirs *d, KovInspectMail *m, KovState **state_out)
{
	if (d->state < 0)
		return;
	g_autofree char *file = g_strdup_printf("%s.%s", m->queue, m->name);
	struct stat st;
	gsize len = 0;
	g_autofree char *problem = NULL;
	g_autofree char *data = inspect_read_file(d->state, file, INSPECT_STATE_MAX, &st, &len, &problem);
	if (data == NULL) {
		if (problem != NULL) {
			m->has_state = TRUE; /* there is one, if unreadable */
			g_free(m->last_error);
			m->last_error = g_strdup_printf("state/%s: %s", file, problem);
		}
		return;
	}
	g_autoptr(GError) error = NULL;
	g_autoptr(KovState) state = kov_state_parse(file, data, len, &error);
	m->has_state = TRUE;
	if (state == NULL) {
		m->last_error = g_strdup(error->message);
		return;
	}
	m->attempts = kov_state_get_attempts(state);
	m->crashes = kov_state_get_crashes(state);
	m->first_seen = kov_state_get_first_seen(state);
	m->next_attempt = kov_state_get_next_attempt(state);
	m->last_error = kov_state_get_last_error(state);
	if (state_out != NULL)
		*state_out = g_steal_pointer(&state);
}

/* The recipients the daemon would address (kov_message_addressed, as
 * the worker's plan takes them: for Kuvert's bounce shortcut, the
 * Resent-* addresses), each with its recorded outcome. */
static void
inspect_add_recipients(KovInspectMail *m, const KovMail *mail, gboolean kuvert, KovState *state)
{
	const char *sender = NULL;
	gboolean resent = FALSE;
	g_autoptr(GPtrArray) addressed = kov_message_addressed(mail, kuvert, &sender, &resent);
	m->recipients = g_ptr_array_new_with_free_func(inspect_rcpt_free);
	g_free(m->sender);
	m->sender = g_strdup(sender);
	for (guint i = 0; i < addressed->len; i++) {
		KovInspectRcpt *r = g_new0(KovInspectRcpt, 1);
		r->address = g_strdup(((const KovRecipient *)g_ptr_array_index(addressed, i))->address);
		r->state = state != NULL ? kov_state_get_rcpt(state, r->address, &r->reason) : KOV_STATE_PENDING;
		g_ptr_array_add(m->recipients, r);
	}
}

/* The envelope from the header block of the mail in @fd, worked out by
 * the worker's own code (kov_envelope_load, as kov_message_load calls it)
 * from that block alone, parsed by GMime in memory: neither the body nor
 * anything else the worker reads besides (directives, ciphertext). */
static void
inspect_load_envelope(KovInspectMail *m, int fd, gboolean kuvert, KovState *state)
{
	gsize len = 0;
	char *header = inspect_read_fd(fd, INSPECT_HEADER_MAX, TRUE, &len);
	g_autoptr(GMimeStream) stream = g_mime_stream_mem_new_with_byte_array(
		g_byte_array_new_take((guint8 *)header, len));
	g_autoptr(GMimeParser) parser = g_mime_parser_new_with_stream(stream);
	g_autoptr(GMimeParserOptions) popts = g_mime_parser_options_new();
	g_autoptr(KovMail) mail = g_new0(KovMail, 1);
	mail->message = g_mime_parser_construct_message(parser, popts);
	GMimeHeaderList *headers = mail->message != NULL
		? g_mime_object_get_header_list(GMIME_OBJECT(mail->message)) : NULL;
	if (headers == NULL || g_mime_header_list_get_count(headers) == 0) {
		m->envelope_problem = g_strdup("not a mail: no RFC 5322 header found");
		return;
	}
	KovMessageOptions options = { .use_delivered_to = !kuvert };
	KovEnvelopeBlocks blocks;
	g_autoptr(GError) error = NULL;
	kov_envelope_blocks_init(&blocks, mail->message, FALSE);
	gboolean ok = kov_envelope_load(mail, headers, &blocks, &options, popts, &error);
	g_ptr_array_unref(blocks.all);
	if (!ok) {
		m->envelope_problem = g_strdup(error->message);
		return;
	}
	inspect_add_recipients(m, mail, kuvert, state);
}

/* What is known of the file @name in @dir, a mail of @queue found @where. */
static KovInspectMail *
inspect_mail(InspectDirs *d, int dir, const char *queue, const char *name, const char *path,
             KovInspectWhere where, gboolean envelope)
{
	KovInspectMail *m = g_new0(KovInspectMail, 1);
	struct stat st;
	m->queue = g_strdup(queue);
	m->name = g_strdup(name);
	m->where = where;
	m->path = g_strdup(path);
	int fd = inspect_open_file(dir, name, &st, &m->problem);
	if (fd < 0 && m->problem == NULL) {
		kov_inspect_mail_free(m);   /* gone meanwhile: delivered, claimed, failed */
		return NULL;
	}
	/* A link's or a FIFO's own times still say when it came. */
	m->arrival = st.st_mtime;
	m->size = fd >= 0 ? st.st_size : 0;

	g_autoptr(KovState) state = NULL;
	if (where != KOV_INSPECT_FAILED) {
		inspect_load_state(d, m, &state);
		if (m->has_state)
			m->where = KOV_INSPECT_DEFERRED;
	}
	if (fd >= 0 && (envelope || m->where == KOV_INSPECT_DEFERRED))
		inspect_load_envelope(m, fd, kov_queue_is_kuvert(queue), state);
	if (fd >= 0)
		close(fd);
	if (where == KOV_INSPECT_FAILED) {
		/* failed/<queue>.<id>.reason, or .<id>.reason beside a parked Kuvert file */
		g_autofree char *reason_name = g_strconcat(name, ".reason", NULL);
		struct stat rst;
		gsize len = 0;
		g_autofree char *problem = NULL;
		g_autofree char *text = inspect_read_file(dir, reason_name, INSPECT_REASON_MAX, &rst, &len,
		                                          &problem);
		if (text != NULL) {
			m->failed_time = rst.st_mtime;
			g_strchomp(text);
			m->reason = g_steal_pointer(&text);
		} else if (problem != NULL) {
			m->reason = g_strdup_printf("%s: %s", reason_name, problem);
		}
		if (m->failed_time == 0)
			m->failed_time = m->arrival;
	}
	return m;
}

/* ---- a queue ------------------------------------------------------------- */

static void
inspect_queue_free(gpointer data)
{
	KovInspectQueue *q = data;
	g_free(q->name);
	g_free(q->problem);
	g_ptr_array_unref(q->mails);
	g_free(q);
}

static int
inspect_name_cmp(gconstpointer a, gconstpointer b)
{
	const KovInspectMail *x = *(KovInspectMail *const *)a, *y = *(KovInspectMail *const *)b;
	int c = (int)x->where - (int)y->where;
	return c != 0 ? c : strcmp(x->name, y->name);
}

static void
inspect_count(KovInspectQueue *q, KovInspectMail *m)
{
	switch (m->where) {
	case KOV_INSPECT_WAITING: q->waiting++; break;
	case KOV_INSPECT_ACTIVE: q->active++; break;
	case KOV_INSPECT_DEFERRED: q->deferred++; break;
	case KOV_INSPECT_FAILED: q->failed++; break;
	}
	if (m->where == KOV_INSPECT_FAILED) {
		if (q->oldest_failed == 0 || m->failed_time < q->oldest_failed)
			q->oldest_failed = m->failed_time;
	} else if (q->oldest == 0 || m->arrival < q->oldest) {
		q->oldest = m->arrival;
	}
}

/* A mail only counted: a stat of it, and of its state file (a deferred
 * mail has one) or its reason (when it failed); nothing opened. */
static void
inspect_count_only(InspectDirs *d, KovInspectQueue *q, int dir, const char *name,
                   KovInspectWhere where)
{
	struct stat st, other;
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return;   /* claimed, delivered or failed meanwhile */
	KovInspectMail m = { .where = where, .arrival = st.st_mtime, .failed_time = st.st_mtime };
	if (where == KOV_INSPECT_FAILED) {
		g_autofree char *reason = g_strconcat(name, ".reason", NULL);
		if (fstatat(dir, reason, &other, AT_SYMLINK_NOFOLLOW) == 0)
			m.failed_time = other.st_mtime;
	} else if (d->state >= 0 && (where != KOV_INSPECT_WAITING || kov_queue_is_kuvert(q->name))) {
		g_autofree char *state = g_strdup_printf("%s.%s", q->name, name);
		if (fstatat(d->state, state, &other, AT_SYMLINK_NOFOLLOW) == 0)
			m.where = KOV_INSPECT_DEFERRED;
	}
	inspect_count(q, &m);
}

/* Each mail name in the directory @fd (closed here) of @q. */
static void
inspect_scan(InspectDirs *d, KovInspectQueue *q, int fd, const char *sub, KovInspectWhere where,
             KovInspectFlags flags)
{
	DIR *dir = fdopendir(fd);
	if (dir == NULL) {
		close(fd);
		return;
	}
	gboolean kuvert = kov_queue_is_kuvert(q->name);
	for (struct dirent *e; (e = readdir(dir)) != NULL;) {
		/* What the daemon takes: Maildir names never start with a dot;
		 * Kuvert's are all digits. */
		if (kuvert ? !kov_queue_is_kuvert_name(e->d_name) : e->d_name[0] == '.')
			continue;
		/* Waiting mail is counted unless listed; a Kuvert queue file with
		 * a state is deferred, not waiting. */
		if ((flags & KOV_INSPECT_COUNT_ONLY)
		    || (where == KOV_INSPECT_WAITING && !kuvert && !(flags & KOV_INSPECT_LIST_WAITING))) {
			inspect_count_only(d, q, dirfd(dir), e->d_name, where);
			continue;
		}
		g_autofree char *path = kuvert ? g_strdup(e->d_name)
		                               : g_strdup_printf("%s/%s/%s", q->name, sub, e->d_name);
		KovInspectMail *m = inspect_mail(d, dirfd(dir), q->name, e->d_name, path, where,
		                                 (flags & KOV_INSPECT_ENVELOPES) != 0);
		if (m == NULL)
			continue;
		if (m->where == KOV_INSPECT_WAITING && !(flags & KOV_INSPECT_LIST_WAITING)) {
			inspect_count(q, m);
			kov_inspect_mail_free(m);
			continue;
		}
		inspect_count(q, m);
		g_ptr_array_add(q->mails, m);
	}
	closedir(dir);
}

static KovInspectQueue *
inspect_queue_new(const char *name, gboolean configured)
{
	KovInspectQueue *q = g_new0(KovInspectQueue, 1);
	q->name = g_strdup(name);
	q->configured = configured;
	q->mails = g_ptr_array_new_with_free_func(kov_inspect_mail_free);
	return q;
}

/* A Maildir queue: new/ and cur/. */
static void
inspect_maildir(InspectDirs *d, KovInspectQueue *q, KovInspectFlags flags)
{
	g_autofree char *problem = NULL;
	int maildir = inspect_open_dir(d->top, q->name, q->name, &problem);
	if (maildir < 0) {
		q->problem = g_steal_pointer(&problem);
		return;
	}
	static const char *const subs[] = { "new", "cur" };
	for (gsize i = 0; i < G_N_ELEMENTS(subs); i++) {
		g_autofree char *shown = g_strdup_printf("%s/%s", q->name, subs[i]);
		int fd = inspect_open_dir(maildir, subs[i], shown, &problem);
		if (fd < 0) {
			if (q->problem == NULL)
				q->problem = g_steal_pointer(&problem);
			g_clear_pointer(&problem, g_free);
			continue;
		}
		inspect_scan(d, q, fd, subs[i], i == 0 ? KOV_INSPECT_WAITING : KOV_INSPECT_ACTIVE, flags);
	}
	close(maildir);
}

/* failed/<queue>.<id> (with its .reason), into the queue of that name;
 * parked Kuvert files (.N) at the top, into Kuvert's. */
static void
inspect_failed(InspectDirs *d, GPtrArray *queues, gboolean failed_dir, KovInspectFlags flags)
{
	int fd = inspect_reopen(failed_dir ? d->failed : d->top);
	if (fd < 0)
		return;
	DIR *dir = fdopendir(fd);
	if (dir == NULL) {
		close(fd);
		return;
	}
	for (struct dirent *e; (e = readdir(dir)) != NULL;) {
		const char *name = e->d_name;
		if (g_str_has_suffix(name, ".reason") || g_str_has_suffix(name, ".tmp"))
			continue;
		g_autofree char *queue = NULL;
		const char *id;
		if (!failed_dir) {
			if (name[0] != '.' || !kov_queue_is_kuvert_name(name + 1))
				continue;
			queue = g_strdup(KOV_QUEUE_KUVERT_NAME);
			id = name + 1;
		} else {
			const char *dot = strchr(name, '.');
			if (dot == NULL || dot == name || dot[1] == '\0')
				continue;
			queue = g_strndup(name, dot - name);
			id = dot + 1;
		}
		KovInspectQueue *q = NULL;
		for (guint i = 0; i < queues->len && q == NULL; i++)
			if (g_str_equal(((KovInspectQueue *)g_ptr_array_index(queues, i))->name, queue))
				q = g_ptr_array_index(queues, i);
		if (q == NULL) {
			/* A queue taken out of the configuration: its failed mail is
			 * still kept, and still shown. Only names a queue could have. */
			if (!kov_config_queue_name_check(queue, NULL))
				continue;
			q = inspect_queue_new(queue, FALSE);
			g_ptr_array_add(queues, q);
		}
		if (flags & KOV_INSPECT_COUNT_ONLY) {
			inspect_count_only(d, q, dirfd(dir), name, KOV_INSPECT_FAILED);
			continue;
		}
		g_autofree char *path = failed_dir ? g_strdup_printf("failed/%s", name) : g_strdup(name);
		KovInspectMail *m = inspect_mail(d, dirfd(dir), q->name, name, path, KOV_INSPECT_FAILED,
		                                 (flags & KOV_INSPECT_ENVELOPES) != 0);
		if (m == NULL)
			continue;
		/* The mail's id, without the queue prefix or the dot of a parked file. */
		g_free(m->name);
		m->name = g_strdup(id);
		inspect_count(q, m);
		g_ptr_array_add(q->mails, m);
	}
	closedir(dir);
}

static gboolean
inspect_open_top(const char *queuedir, InspectDirs *d, char **problem)
{
	d->top = open(queuedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d->state = d->failed = -1;
	if (d->top < 0) {
		*problem = g_strdup_printf("queue directory %s: %s", queuedir,
		                           errno == ENOENT ? "missing (koverto makes it at its first start)"
		                                           : g_strerror(errno));
		return FALSE;
	}
	g_autofree char *ignored = NULL;
	d->state = inspect_open_dir(d->top, "state", "state", &ignored);
	g_clear_pointer(&ignored, g_free);
	d->failed = inspect_open_dir(d->top, "failed", "failed", &ignored);
	return TRUE;
}

KovInspect *
kov_inspect_spool(const char *queuedir, const GPtrArray *queues, KovInspectFlags flags)
{
	g_return_val_if_fail(queuedir != NULL && queues != NULL, NULL);
	KovInspect *inspect = g_new0(KovInspect, 1);
	inspect->queuedir = g_strdup(queuedir);
	inspect->queues = g_ptr_array_new_with_free_func(inspect_queue_free);

	KovInspectQueue *kuvert = inspect_queue_new(KOV_QUEUE_KUVERT_NAME, TRUE);
	g_ptr_array_add(inspect->queues, kuvert);
	for (guint i = 0; i < queues->len; i++)
		g_ptr_array_add(inspect->queues,
		                inspect_queue_new(((const KovQueueConfig *)g_ptr_array_index(queues, i))->name, TRUE));

	InspectDirs d;
	if (!inspect_open_top(queuedir, &d, &inspect->problem)) {
		inspect_dirs_close(&d);
		return inspect;
	}
	/* Maildirs in queuedir that no queue of the configuration names. */
	int topfd = inspect_reopen(d.top);
	DIR *top = topfd >= 0 ? fdopendir(topfd) : NULL;
	if (top == NULL && topfd >= 0)
		close(topfd);
	for (struct dirent *e; top != NULL && (e = readdir(top)) != NULL;) {
		if (!kov_config_queue_name_check(e->d_name, NULL) || g_str_equal(e->d_name, "state")
		    || g_str_equal(e->d_name, "failed") || kov_queue_is_kuvert(e->d_name))
			continue;
		gboolean known = FALSE;
		for (guint i = 0; i < inspect->queues->len && !known; i++)
			known = g_str_equal(((KovInspectQueue *)g_ptr_array_index(inspect->queues, i))->name,
			                    e->d_name);
		struct stat st;
		g_autofree char *new = g_strdup_printf("%s/new", e->d_name);
		if (!known && fstatat(d.top, new, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			g_ptr_array_add(inspect->queues, inspect_queue_new(e->d_name, FALSE));
	}
	if (top != NULL)
		closedir(top);

	int kfd = inspect_reopen(d.top);
	if (kfd >= 0)
		inspect_scan(&d, kuvert, kfd, "", KOV_INSPECT_WAITING, flags);
	for (guint i = 1; i < inspect->queues->len; i++)
		inspect_maildir(&d, g_ptr_array_index(inspect->queues, i), flags);
	guint n = inspect->queues->len;
	inspect_failed(&d, inspect->queues, FALSE, flags);
	if (d.failed >= 0)
		inspect_failed(&d, inspect->queues, TRUE, flags);
	for (guint i = n; i < inspect->queues->len; i++) {
		KovInspectQueue *q = g_ptr_array_index(inspect->queues, i);
		q->problem = g_strdup_printf("%s is missing; its failed mail is kept in failed/", q->name);
	}
	for (guint i = 0; i < inspect->queues->len; i++) {
		KovInspectQueue *q = g_ptr_array_index(inspect->queues, i);
		g_ptr_array_sort(q->mails, inspect_name_cmp);
	}
	inspect_dirs_close(&d);
	return inspect;
}

void
kov_inspect_free(KovInspect *inspect)
{
	if (inspect == NULL)
		return;
	g_free(inspect->queuedir);
	g_free(inspect->problem);
	g_ptr_array_unref(inspect->queues);
	g_free(inspect);
}

/* ---- one mail by its id -------------------------------------------------- */

/* Look for @file in the directory @sub of @parent (NULL: @parent itself). */
static void
inspect_find_in(InspectDirs *d, GPtrArray *found, int parent, const char *sub, const char *queue,
                const char *file, const char *id, const char *path, KovInspectWhere where)
{
	int dir = parent;
	g_autofree char *problem = NULL;
	if (sub != NULL && (dir = inspect_open_dir(parent, sub, sub, &problem)) < 0)
		return;
	struct stat st;
	if (fstatat(dir, file, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		KovInspectMail *m = inspect_mail(d, dir, queue, file, path, where, TRUE);
		if (m != NULL) {
			g_free(m->name);
			m->name = g_strdup(id);
			g_ptr_array_add(found, m);
		}
	}
	if (sub != NULL)
		close(dir);
}

GPtrArray *
kov_inspect_find(const char *queuedir, const GPtrArray *queues, const char *id)
{
	g_return_val_if_fail(queuedir != NULL && queues != NULL && id != NULL, NULL);
	GPtrArray *found = g_ptr_array_new_with_free_func(kov_inspect_mail_free);
	InspectDirs d;
	g_autofree char *problem = NULL;

	if (*id == '\0' || strchr(id, '/') != NULL || g_str_equal(id, ".") || g_str_equal(id, ".."))
		return found;
	if (!inspect_open_top(queuedir, &d, &problem)) {
		inspect_dirs_close(&d);
		return found;
	}
	if (kov_queue_is_kuvert_name(id)) {
		inspect_find_in(&d, found, d.top, NULL, KOV_QUEUE_KUVERT_NAME, id, id, id, KOV_INSPECT_WAITING);
		g_autofree char *parked = g_strconcat(".", id, NULL);
		inspect_find_in(&d, found, d.top, NULL, KOV_QUEUE_KUVERT_NAME, parked, id, parked,
		                KOV_INSPECT_FAILED);
	}
	if (id[0] != '.') {
		g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
		for (guint i = 0; i < queues->len; i++)
			g_ptr_array_add(names, g_strdup(((const KovQueueConfig *)g_ptr_array_index(queues, i))->name));
		g_auto(GStrv) maildirs = kov_queue_list_maildirs(queuedir);
		for (char **m = maildirs; *m != NULL; m++) {
			gboolean known = FALSE;
			for (guint i = 0; i < names->len && !known; i++)
				known = g_str_equal(g_ptr_array_index(names, i), *m);
			if (!known)
				g_ptr_array_add(names, g_strdup(*m));
		}
		for (guint i = 0; i < names->len; i++) {
			const char *q = g_ptr_array_index(names, i);
			g_autofree char *problem2 = NULL;
			int maildir = inspect_open_dir(d.top, q, q, &problem2);
			if (maildir >= 0) {
				g_autofree char *pnew = g_strdup_printf("%s/new/%s", q, id);
				g_autofree char *pcur = g_strdup_printf("%s/cur/%s", q, id);
				inspect_find_in(&d, found, maildir, "new", q, id, id, pnew, KOV_INSPECT_WAITING);
				inspect_find_in(&d, found, maildir, "cur", q, id, id, pcur, KOV_INSPECT_ACTIVE);
				close(maildir);
			}
			/* A mail's .reason is no mail of its own. */
			if (d.failed >= 0 && !g_str_has_suffix(id, ".reason")) {
				g_autofree char *file = g_strdup_printf("%s.%s", q, id);
				g_autofree char *pfailed = g_strdup_printf("failed/%s", file);
				inspect_find_in(&d, found, d.failed, NULL, q, file, id, pfailed, KOV_INSPECT_FAILED);
			}
		}
	}
	inspect_dirs_close(&d);
	return found;
}

/* ---- the daemon ---------------------------------------------------------- */

/* Boot time, unix seconds, from /proc/stat's btime. */
static gint64
inspect_boot_time(void)
{
	g_autofree char *stat = NULL;
	if (!g_file_get_contents("/proc/stat", &stat, NULL, NULL))
		return 0;
	const char *p = strstr(stat, "\nbtime ");
	return p != NULL ? g_ascii_strtoll(p + 7, NULL, 10) : 0;
}

/* /proc/PID/stat: its name (comm), parent and start time (unix s). */
static gboolean
inspect_proc_stat(pid_t pid, gint64 boot, char *comm, gsize comm_size, pid_t *ppid, gint64 *since)
{
	char path[64];
	g_snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	g_autofree char *text = NULL;
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return FALSE;
	/* "pid (comm) state ppid ..." where comm may hold blanks and ')' */
	char *open = strchr(text, '(');
	char *close_ = strrchr(text, ')');
	if (open == NULL || close_ == NULL || close_ < open)
		return FALSE;
	g_strlcpy(comm, open + 1, MIN(comm_size, (gsize)(close_ - open)));
	g_auto(GStrv) fields = g_strsplit(close_ + 2, " ", 0);
	/* fields[0] is state (3rd), ppid is the 4th, starttime the 22nd */
	if (g_strv_length(fields) < 20)
		return FALSE;
	*ppid = (pid_t)g_ascii_strtoll(fields[1], NULL, 10);
	long ticks = sysconf(_SC_CLK_TCK);
	gint64 start = g_ascii_strtoll(fields[19], NULL, 10);
	*since = boot > 0 && ticks > 0 ? boot + start / ticks : 0;
	return TRUE;
}

/* TRUE when /proc/locks holds a FLOCK on the file @st describes: its
 * device and inode, or (overlayfs reports the upper file system's device
 * there, not the one stat(2) gives) its inode, locked by @pid. */
static gboolean
inspect_flock_held(const struct stat *st, pid_t pid)
{
	FILE *f = fopen("/proc/locks", "re");
	if (f == NULL)
		return FALSE;
	char line[512];
	gboolean held = FALSE;
	while (!held && fgets(line, sizeof line, f) != NULL) {
		/* "1: FLOCK  ADVISORY  WRITE 21874 fe:00:10962613 0 EOF"; a
		 * waiter's line has "->" after the number. */
		unsigned maj, min;
		unsigned long ino;
		int locker;
		char kind[16];
		if (strstr(line, "->") != NULL
		    || sscanf(line, "%*d: %15s %*s %*s %d %x:%x:%lu", kind, &locker, &maj, &min, &ino) != 5
		    || !g_str_equal(kind, "FLOCK") || ino != (unsigned long)st->st_ino)
			continue;
		held = (maj == major(st->st_dev) && min == minor(st->st_dev)) || locker == pid;
	}
	fclose(f);
	return held;
}

static gint
inspect_newest_first(gconstpointer a, gconstpointer b)
{
	const KovInspectProcess *x = a, *y = b;
	return x->since != y->since ? (x->since < y->since ? 1 : -1) : (x->pid < y->pid ? 1 : -1);
}

pid_t
kov_inspect_daemon_pid(const char *queuedir, pid_t *gone)
{
	g_return_val_if_fail(queuedir != NULL, 0);
	if (gone != NULL)
		*gone = 0;
	int dir = open(queuedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return 0;
	struct stat st;
	g_autofree char *problem = NULL;
	gsize len = 0;
	g_autofree char *text = inspect_read_file(dir, "koverto.pid", 32, &st, &len, &problem);
	close(dir);
	pid_t pid = text != NULL ? (pid_t)atoi(text) : 0;
	if (pid <= 0 || !inspect_flock_held(&st, pid))
		return 0;
	char path[64];
	g_snprintf(path, sizeof path, "/proc/%d", (int)pid);
	if (access(path, F_OK) != 0) {
		if (gone != NULL)
			*gone = pid; /* its workers hold the lock while they finish */
		return 0;
	}
	return pid;
}

void
kov_inspect_daemon(const char *queuedir, KovInspectDaemon *daemon)
{
	memset(daemon, 0, sizeof *daemon);
	daemon->listeners = g_array_new(FALSE, FALSE, sizeof(KovInspectProcess));
	pid_t pid = kov_inspect_daemon_pid(queuedir, &daemon->lock_pid);
	if (pid <= 0)
		return;
	gint64 boot = inspect_boot_time();
	char comm[64];
	pid_t ppid;
	gint64 since;
	if (!inspect_proc_stat(pid, boot, comm, sizeof comm, &ppid, &since)) {
		daemon->lock_pid = pid; /* gone meanwhile */
		return;
	}
	daemon->pid = pid;
	daemon->since = since;
	g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
	for (const char *name; proc != NULL && (name = g_dir_read_name(proc)) != NULL;) {
		if (!g_ascii_isdigit(name[0]))
			continue;
		pid_t child = (pid_t)g_ascii_strtoll(name, NULL, 10);
		if (!inspect_proc_stat(child, boot, comm, sizeof comm, &ppid, &since) || ppid != pid)
			continue;
		if (g_str_equal(comm, "koverto-listen")) {
			KovInspectProcess p = { child, since };
			g_array_append_val(daemon->listeners, p);
		} else {
			daemon->workers++;
		}
	}
	g_array_sort(daemon->listeners, inspect_newest_first);
}

void
kov_inspect_daemon_clear(KovInspectDaemon *daemon)
{
	g_clear_pointer(&daemon->listeners, g_array_unref);
}

/* ---- the log ------------------------------------------------------------- */

gboolean
kov_inspect_log_mentions(const char *line, const char *id)
{
	g_return_val_if_fail(line != NULL && id != NULL, FALSE);
	gsize n = strlen(id);
	if (n == 0)
		return FALSE;
	for (const char *p = strstr(line, "id="); p != NULL; p = strstr(p + 1, "id=")) {
		if (p != line && p[-1] != ' ')
			continue;
		if (strncmp(p + 3, id, n) != 0)
			continue;
		const char *after = p + 3 + n;
		if (*after == '\0' || *after == ' ' || *after == '\n'
		    || (after[0] == ':' && (after[1] == ' ' || after[1] == '\0' || after[1] == '\n')))
			return TRUE;
	}
	return FALSE;
}

GPtrArray *
kov_inspect_log_lines(const char *logfile, const char *id, GError **error)
{
	g_return_val_if_fail(logfile != NULL && id != NULL, NULL);
	struct stat st;
	int fd = open(logfile, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0) {
			close(fd);
			errno = EINVAL;
		}
		kov_error_set_errno(error, errno, "log file %s: cannot read it", logfile);
		return NULL;
	}
	FILE *f = fdopen(fd, "re");
	if (f == NULL) {
		kov_error_set_errno(error, errno, "log file %s: cannot read it", logfile);
		close(fd);
		return NULL;
	}
	GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);
	char *line = NULL;
	size_t size = 0;
	ssize_t n;
	while ((n = getline(&line, &size, f)) > 0) {
		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		if (kov_inspect_log_mentions(line, id))
			g_ptr_array_add(lines, g_strdup(line));
	}
	free(line);
	fclose(f);
	return lines;
}
