/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The spool on disk, in the manner of OpenSMTPD's queue: writers hand over
 * by tmp -> fsync -> rename, the daemon claims by rename into cur/, and a
 * mail leaves cur/ only to be unlinked (delivered) or moved to failed/
 * with its reason. Never parses a mail itself: where a mail's envelope
 * lines are, when it rewrites them, is message.c's answer. */
#include "queue.h"
#include "error.h"
#include "fileio.h"
#include "config.h"
#include "inspect.h"
#include "message.h"
#include "log.h"
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

gboolean
kov_queue_is_kuvert(const char *queue)
{
	return g_str_equal(queue, KOV_QUEUE_KUVERT_NAME);
}

gboolean
kov_queue_is_kuvert_name(const char *name)
{
	/* A longer name would not fit in its state/ and failed/ names. */
	if (*name == '\0' || strlen(name) > KOV_QUEUE_SAFE_NAME_MAX)
		return FALSE;
	for (const char *p = name; *p != '\0'; p++)
		if (!g_ascii_isdigit(*p))
			return FALSE;
	return TRUE;
}

/* Create @path 0700 if missing; insist it is our own directory, closed to
 * others. Only queuedir itself (@follow) may be a symbolic link, which the
 * operator chose; one below it is refused, never followed. */
static gboolean
kov_queue_prepare_dir(const char *path, gboolean follow, GError **error)
{
	struct stat st;

	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "queue directory %s: cannot create: %s",
		            path, g_strerror(errno));
		return FALSE;
	}
	if ((follow ? stat(path, &st) : lstat(path, &st)) != 0 || !S_ISDIR(st.st_mode)) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "queue directory %s: %s", path,
		            S_ISLNK(st.st_mode) ? "a symbolic link: not followed" : "not a directory");
		return FALSE;
	}
	if (st.st_uid != geteuid()) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "queue directory %s: owned by uid %u, not by us (uid %u)", path,
		            (unsigned)st.st_uid, (unsigned)geteuid());
		return FALSE;
	}
	if ((st.st_mode & 077) != 0) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG,
		            "queue directory %s: mode %04o lets others in; it must be 0700", path,
		            (unsigned)(st.st_mode & 07777));
		return FALSE;
	}
	if (access(path, R_OK | W_OK | X_OK) != 0) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CONFIG, "queue directory %s: %s", path,
		            g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

gboolean
kov_queue_prepare(const char *queuedir, const GPtrArray *queues, GError **error)
{
	static const char *const subdirs[] = { "tmp", "new", "cur" };
	guint n = queues != NULL ? queues->len : KOV_QUEUE_N_POLICY;

	if (!kov_queue_prepare_dir(queuedir, TRUE, error))
		return FALSE;
	for (guint k = 0; k < n; k++) {
		const char *name = queues != NULL
			? ((const KovQueueConfig *)g_ptr_array_index(queues, k))->name
			: kov_policy_queue_name((KovQueueKind)k);
		g_autofree char *maildir = g_build_filename(queuedir, name, NULL);
		if (!kov_queue_prepare_dir(maildir, FALSE, error))
			return FALSE;
		for (gsize s = 0; s < G_N_ELEMENTS(subdirs); s++) {
			g_autofree char *sub = g_build_filename(maildir, subdirs[s], NULL);
			if (!kov_queue_prepare_dir(sub, FALSE, error))
				return FALSE;
		}
	}
	g_autofree char *state = g_build_filename(queuedir, "state", NULL);
	g_autofree char *failed = g_build_filename(queuedir, "failed", NULL);
	return kov_queue_prepare_dir(state, FALSE, error) && kov_queue_prepare_dir(failed, FALSE, error);
}

static int
kov_queue_read_pid(int fd)
{
	char buf[32] = { 0 };
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	return n > 0 ? atoi(buf) : 0;
}

int
kov_queue_lock(const char *queuedir, gint64 wait_orphans, GError **error)
{
	g_autofree char *path = g_build_filename(queuedir, "koverto.pid", NULL);
	/* Never through a link (the pid would be written into its target),
	 * never waiting on a FIFO. */
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
	struct stat st;

	const char *why = fd < 0 && errno == ELOOP ? "a symbolic link: not followed"
	                  : fd < 0 || fstat(fd, &st) != 0 ? g_strerror(errno)
	                  : !S_ISREG(st.st_mode) ? "not a regular file" : NULL;
	if (why != NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_CANTCREAT, "%s: %s", path, why);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int pid = kov_queue_read_pid(fd);
		/* The daemon is gone but the lock is held: by its workers, which
		 * inherited it and finish the mail in hand. Wait for them. */
		gboolean orphans = pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
		gint64 until = g_get_monotonic_time() + wait_orphans * G_USEC_PER_SEC;
		if (orphans)
			kov_log_info("queue directory %s: koverto pid %d is gone; waiting up to %" G_GINT64_FORMAT
			             " s for its workers to finish the mail in hand", queuedir, pid,
			             wait_orphans);
		while (orphans && g_get_monotonic_time() < until && flock(fd, LOCK_EX | LOCK_NB) != 0)
			g_usleep(G_USEC_PER_SEC / 20);
		if (!orphans || flock(fd, LOCK_EX | LOCK_NB) != 0) {
			close(fd);
			g_set_error(error, KOV_ERROR, KOV_ERROR_LOCKED,
			            orphans ? "queue directory %s is in use by the workers of a koverto "
			                      "that is gone (pid %d)"
			                    : "queue directory %s is in use by another koverto (pid %d)",
			            queuedir, pid);
			return -1;
		}
	}
	char pid[32];
	int len = g_snprintf(pid, sizeof pid, "%d\n", (int)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, len, 0) != len) {
		kov_error_set_errno(error, errno, "%s: cannot write pid", path);
		close(fd);
		return -1;
	}
	return fd;
}

void
kov_queue_unlock(const char *queuedir, int fd)
{
	g_autofree char *path = g_build_filename(queuedir, "koverto.pid", NULL);
	if (fd < 0)
		return;
	unlink(path);
	close(fd);
}

int
kov_queue_locked_pid(const char *queuedir)
{
	/* Never by trying the lock: a shared lock held even for a moment by
	 * koverto -r, -k or the start-up check makes a daemon starting then
	 * fail ("in use by another koverto (pid 0)"). */
	return (int)kov_inspect_daemon_pid(queuedir, NULL);
}

/* Copy @in into @w until EOF. */
static gboolean
kov_queue_copy_fd(int in, KovQueueWriter *w, GError **error)
{
	char buf[65536];

	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			g_set_error(error, KOV_ERROR, KOV_ERROR_IOERR, "cannot read the mail: %s",
			            g_strerror(errno));
			return FALSE;
		}
		if (n == 0)
			return TRUE;
		if (!kov_queue_writer_write(w, buf, (gsize)n, error))
			return FALSE;
	}
}

char *
kov_queue_enqueue_fd(const char *queuedir, const char *queue, int in, const char *envelope_header,
                     KovQueueCheck check, gpointer check_data, GError **error)
{
	g_autoptr(KovQueueWriter) w = kov_queue_writer_new(queuedir, queue, error);
	if (w == NULL)
		return NULL;
	if ((envelope_header != NULL && !kov_queue_writer_write(w, envelope_header, strlen(envelope_header), error))
	    || !kov_queue_copy_fd(in, w, error))
		return NULL;
	g_autofree char *prepend = NULL;
	if (check != NULL && !check(kov_queue_writer_name(w), kov_queue_writer_fd(w), check_data, &prepend, error))
		return NULL;
	if (prepend != NULL) {
		/* The mail again, behind @prepend, without envelope lines of its own. */
		g_autoptr(KovQueueWriter) again = kov_queue_writer_new(queuedir, queue, error);
		if (again == NULL
		    || !kov_message_rewrite_envelope_fd(kov_queue_writer_name(w), kov_queue_writer_fd(w), prepend,
		                                        FALSE, kov_queue_writer_fd(again), error))
			return NULL;
		kov_queue_writer_free(g_steal_pointer(&w));
		w = g_steal_pointer(&again);
	}
	if (!kov_queue_writer_commit(w, error))
		return NULL;
	return g_strdup(kov_queue_writer_id(w));
}

char *
kov_queue_cur_path(const char *queuedir, const char *queue, const char *id)
{
	if (kov_queue_is_kuvert(queue))
		return g_build_filename(queuedir, id, NULL);
	return g_build_filename(queuedir, queue, "cur", id, NULL);
}

int
kov_queue_lock_kuvert(const char *queuedir, const char *id)
{
	g_autofree char *path = kov_queue_cur_path(queuedir, KOV_QUEUE_KUVERT_NAME, id);
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -1;
	/* kuvert_submit holds an exclusive lock while it writes in place. */
	if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)
	    || st.st_size == 0) {
		close(fd);
		return -1;
	}
	return fd;
}

char *
kov_queue_state_path(const char *queuedir, const char *queue, const char *id)
{
	g_autofree char *name = g_strdup_printf("%s.%s", queue, id);
	return g_build_filename(queuedir, "state", name, NULL);
}

/* Maildir names never start with a dot; anything else there is not ours to take. */
static gboolean
kov_queue_is_mail_name(const char *name)
{
	return name[0] != '.' && strchr(name, '/') == NULL;
}

gboolean
kov_queue_is_safe_name(const char *name)
{
	gsize len = strlen(name);

	if (len == 0 || len > KOV_QUEUE_SAFE_NAME_MAX || !g_ascii_isalnum(name[0]))
		return FALSE;
	for (const char *p = name; *p != '\0'; p++)
		if (!g_ascii_isalnum(*p) && strchr("._,:=+-", *p) == NULL)
			return FALSE;
	/* The suffixes of koverto's own files beside a mail's: state/<q>.<id>.tmp,
	 * failed/<q>.<id>.reason. A mail named so would share a file with another. */
	return !g_str_has_suffix(name, ".tmp") && !g_str_has_suffix(name, ".reason");
}

/* rename() that fails with EEXIST instead of replacing @to. A file system
 * without RENAME_NOREPLACE gets link() and unlink(), which do the same
 * (link does not follow a symbolic link). */
static int
kov_queue_rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (link(from, to) != 0)
		return -1;
	unlink(from);
	return 0;
}

/* Rename @from to @dir/@id, never over an existing file: if @id is not a
 * safe name, or is taken, the mail gets a new unique one. */
static gboolean
kov_queue_move_in(const char *from, const char *dir, const char *id, char **claimed,
                  GError **error)
{
	g_autofree char *name = kov_queue_is_safe_name(id) ? g_strdup(id) : kov_queue_new_name(NULL);

	for (int tries = 0; tries < 10; tries++) {
		g_autofree char *to = g_build_filename(dir, name, NULL);
		if (kov_queue_rename_noreplace(from, to) == 0) {
			*claimed = g_steal_pointer(&name);
			return TRUE;
		}
		struct stat st;
		if (errno == ENOENT && lstat(from, &st) != 0)
			return FALSE; /* gone already: somebody else claimed it */
		if (errno != EEXIST) { /* ENOENT with the mail still there: no cur/ */
			kov_error_set_errno(error, errno, "queue: cannot claim %s", from);
			return FALSE;
		}
		g_free(name);
		name = kov_queue_new_name(NULL);
	}
	kov_error_set_errno(error, EEXIST, "queue: cannot claim %s", from);
	return FALSE;
}

gboolean
kov_queue_claim(const char *queuedir, const char *queue, const char *id, char **claimed,
                GError **error)
{
	g_autofree char *from = g_build_filename(queuedir, queue, "new", id, NULL);
	g_autofree char *cur = g_build_filename(queuedir, queue, "cur", NULL);

	*claimed = NULL;
	if (!kov_queue_is_mail_name(id) || !kov_queue_move_in(from, cur, id, claimed, error))
		return FALSE;
	if (strcmp(*claimed, id) != 0) {
		/* The log shows a newline or a terminal escape in it escaped. */
		kov_log_info("id=%s: claimed %s/new/\"%s\" under this name", *claimed, queue,
		             id);
	}
	return TRUE;
}

gboolean
kov_queue_rename_cur(const char *queuedir, const char *queue, const char *id, char **renamed,
                     GError **error)
{
	g_autofree char *cur = g_build_filename(queuedir, queue, "cur", NULL);
	g_autofree char *from = g_build_filename(cur, id, NULL);
	g_autofree char *state = kov_queue_state_path(queuedir, queue, id);

	*renamed = NULL;
	if (kov_queue_is_kuvert(queue) || kov_queue_is_safe_name(id)) {
		*renamed = g_strdup(id);
		return TRUE;
	}
	if (!kov_queue_move_in(from, cur, id, renamed, error))
		return FALSE;
	/* Its state, if a run before could write one under that name, follows it. */
	g_autofree char *new_state = kov_queue_state_path(queuedir, queue, *renamed);
	rename(state, new_state);
	kov_log_info("id=%s: took %s/cur/\"%s\" under this name", *renamed, queue,
	             id);
	return TRUE;
}

int
kov_queue_open_mail(const char *path, GError **error)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);

	if (fd < 0 && errno == ELOOP) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR,
		            "%s is a symbolic link, not a mail: refused, its target not read", path);
		return -1;
	}
	if (fd < 0 || fstat(fd, &st) != 0) {
		kov_error_set_errno(error, errno, "cannot open %s", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		g_set_error(error, KOV_ERROR, KOV_ERROR_DATAERR,
		            "%s is not a regular file (mode %06o), not a mail: refused unread", path,
		            (unsigned)st.st_mode);
		return -1;
	}
	return fd;
}

char **
kov_queue_list(const char *queuedir, const char *queue, const char *sub, GError **error)
{
	g_autofree char *path = kov_queue_is_kuvert(queue)
		? g_strdup(queuedir) : g_build_filename(queuedir, queue, sub, NULL);
	g_autoptr(GError) local = NULL;
	g_autoptr(GDir) dir = g_dir_open(path, 0, &local);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);

	if (dir == NULL) {
		g_set_error(error, KOV_ERROR, KOV_ERROR_IOERR, "queue: %s", local->message);
		return NULL;
	}
	for (const char *name; (name = g_dir_read_name(dir)) != NULL;)
		if (kov_queue_is_kuvert(queue) ? kov_queue_is_kuvert_name(name) : kov_queue_is_mail_name(name))
			g_ptr_array_add(names, g_strdup(name));
	g_ptr_array_add(names, NULL);
	return (char **)g_ptr_array_free(g_steal_pointer(&names), FALSE);
}

char **
kov_queue_list_maildirs(const char *queuedir)
{
	g_autoptr(GDir) dir = g_dir_open(queuedir, 0, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);

	for (const char *name; dir != NULL && (name = g_dir_read_name(dir)) != NULL;) {
		if (!kov_config_queue_name_check(name, NULL))
			continue;
		/* A link is no queue of ours: neither it nor its new/ is followed. */
		g_autofree char *maildir = g_build_filename(queuedir, name, NULL);
		g_autofree char *new = g_build_filename(maildir, "new", NULL);
		struct stat st;
		if (lstat(maildir, &st) == 0 && S_ISDIR(st.st_mode) && lstat(new, &st) == 0
		    && S_ISDIR(st.st_mode))
			g_ptr_array_add(names, g_strdup(name));
	}
	g_ptr_array_add(names, NULL);
	return (char **)g_ptr_array_free(g_steal_pointer(&names), FALSE);
}

gboolean
kov_queue_done(const char *queuedir, const char *queue, const char *id, GError **error)
{
	g_autofree char *path = kov_queue_cur_path(queuedir, queue, id);
	g_autofree char *state = kov_queue_state_path(queuedir, queue, id);

	if (unlink(path) != 0 && errno != ENOENT) {
		kov_error_set_errno(error, errno, "queue: cannot remove %s", path);
		return FALSE;
	}
	unlink(state);
	return TRUE;
}

char *
kov_queue_failed_path(const char *queuedir, const char *queue, const char *id)
{
	if (kov_queue_is_kuvert(queue)) {
		g_autofree char *name = g_strconcat(".", id, NULL);
		return g_build_filename(queuedir, name, NULL);
	}
	g_autofree char *name = g_strdup_printf("%s.%s", queue, id);
	return g_build_filename(queuedir, "failed", name, NULL);
}

/* Copy @from to @to with the envelope recipients replaced by @undelivered.
 * Which lines are X-Kuvert-To is the reader's answer (message.c), not a
 * second guess here: a line the reader takes for one ("X-Kuvert-To :",
 * folded) and the rewrite missed would mail the delivered again. */
static gboolean
kov_queue_rewrite_envelope(const char *from, const char *to, const char *undelivered,
                           GError **error)
{
	g_autofree char *envelope = g_strdup_printf("X-Kuvert-To: %s\n", undelivered);
	/* A new file: whatever has the name (an older one, a link, a FIFO)
	 * is removed, never written through. */
	unlink(to);
	int fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0) {
		kov_error_set_errno(error, errno, "queue: cannot rewrite %s", from);
		return FALSE;
	}
	gboolean ok = kov_message_rewrite_envelope(from, envelope, TRUE, fd, error);
	if (!ok)
		g_prefix_error(error, "queue: ");
	ok = kov_fileio_sync_close(fd, ok, to, error);
	if (!ok)
		unlink(to);
	return ok;
}

gboolean
kov_queue_fail(const char *queuedir, const char *queue, const char *id, const char *reason,
               const char *undelivered, GError **error)
{
	g_autofree char *from = kov_queue_cur_path(queuedir, queue, id);
	g_autofree char *to = kov_queue_failed_path(queuedir, queue, id);
	g_autofree char *reason_path = g_strconcat(to, ".reason", NULL);
	g_autofree char *text = g_strconcat(reason, "\n", NULL);

	/* The reason first: a failed mail is never found without its explanation. */
	if (!kov_fileio_replace(reason_path, NULL, text, strlen(text), error)) {
		g_prefix_error(error, "queue: ");
		return FALSE;
	}
	if (undelivered != NULL) {
		if (!kov_queue_rewrite_envelope(from, to, undelivered, error))
			return FALSE;
		unlink(from);
	} else if (rename(from, to) != 0) {
		kov_error_set_errno(error, errno, "queue: cannot move %s to %s", from, to);
		return FALSE;
	}
	g_autofree char *state = kov_queue_state_path(queuedir, queue, id);
	unlink(state);
	return TRUE;
}

void
kov_queue_clean_tmp(const char *queuedir, const char *queue, gint64 max_age)
{
	/* The Kuvert queue's half-written hand-overs are its ".tmp.N" files. */
	g_autofree char *path = kov_queue_is_kuvert(queue)
		? g_strdup(queuedir) : g_build_filename(queuedir, queue, "tmp", NULL);
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	for (const char *name; dir != NULL && (name = g_dir_read_name(dir)) != NULL;) {
		if (kov_queue_is_kuvert(queue) && !g_str_has_prefix(name, ".tmp."))
			continue;
		g_autofree char *file = g_build_filename(path, name, NULL);
		struct stat st;
		if (lstat(file, &st) == 0 && S_ISREG(st.st_mode) && now - st.st_mtime > max_age)
			unlink(file);
	}
}

/* Log once per path and process what a sweep of the spool skips, so a
 * rescan every few seconds does not repeat it. */
static void
kov_queue_skipped(const char *path, const char *what)
{
	static GHashTable *seen;
	if (seen == NULL)
		seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	if (g_hash_table_add(seen, g_strdup(path)))
		kov_log_warning("queue: %s: %s: skipped", path, what);
}

/* A failed mail's age is that of its reason file, written when it failed
 * (the mail itself keeps the time it was written by its sender). */
static gboolean
kov_queue_purge_one(const char *dir, const char *reason_name, gint64 now, gint64 max_age)
{
	g_autofree char *reason = g_build_filename(dir, reason_name, NULL);
	g_autofree char *mail = g_strndup(reason, strlen(reason) - strlen(".reason"));
	struct stat st;

	if (lstat(reason, &st) != 0)
		return FALSE;
	if (!S_ISREG(st.st_mode)) {
		/* koverto writes a reason by rename: a link or a FIFO is not one. */
		kov_queue_skipped(reason, "not a regular file, no reason of koverto's");
		return FALSE;
	}
	if (now - st.st_mtime <= max_age)
		return FALSE;
	/* A directory failed as not a mail goes too, if empty; else it keeps
	 * its reason, so it is never left unexplained. */
	if (unlink(mail) != 0 && errno == EISDIR && rmdir(mail) != 0)
		return FALSE;
	unlink(reason);
	return TRUE;
}

guint
kov_queue_purge_failed(const char *queuedir, gint64 max_age)
{
	g_autofree char *failed = g_build_filename(queuedir, "failed", NULL);
	const char *dirs[] = { failed, queuedir };
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	guint purged = 0;

	for (gsize i = 0; i < G_N_ELEMENTS(dirs); i++) {
		g_autoptr(GDir) dir = g_dir_open(dirs[i], 0, NULL);
		for (const char *name; dir != NULL && (name = g_dir_read_name(dir)) != NULL;) {
			/* In queuedir itself only Kuvert's parked ".N" files are ours. */
			if (!g_str_has_suffix(name, ".reason") || (i == 1 && name[0] != '.'))
				continue;
			purged += kov_queue_purge_one(dirs[i], name, now, max_age);
		}
	}
	return purged;
}

guint
kov_queue_clean_state(const char *queuedir)
{
	g_autofree char *dir_path = g_build_filename(queuedir, "state", NULL);
	g_autoptr(GDir) dir = g_dir_open(dir_path, 0, NULL);
	guint removed = 0;

	for (const char *name; dir != NULL && (name = g_dir_read_name(dir)) != NULL;) {
		const char *dot = strchr(name, '.');
		if (dot == NULL || g_str_has_suffix(name, ".tmp"))
			continue;
		/* <queue>.<id>: a queue name has no dot. Whether the queue is still
		 * configured does not matter: its mail, while there, keeps its state. */
		g_autofree char *queue = g_strndup(name, dot - name);
		if (!kov_queue_is_kuvert(queue) && !kov_config_queue_name_check(queue, NULL))
			continue;
		g_autofree char *mail = kov_queue_cur_path(queuedir, queue, dot + 1);
		g_autofree char *state = g_build_filename(dir_path, name, NULL);
		struct stat st;
		if (lstat(mail, &st) != 0 && errno == ENOENT && unlink(state) == 0)
			removed++;
	}
	return removed;
}
