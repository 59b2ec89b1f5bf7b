/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The keys directories of the daemon's main process: keywatch.h. One
 * inotify descriptor for all of them; per directory a KovKeydir, the names
 * being written (IN_MODIFY seen, IN_CLOSE_WRITE not yet) and when its next
 * load, rescan and tidy are due (monotonic microseconds). A name is
 * "being written" from IN_CREATE or IN_MODIFY until IN_CLOSE_WRITE (or it
 * is moved or deleted): a `>` redirect that creates the file and writes
 * it later is never read empty. */
#include "keywatch.h"

#include "error.h"
#include "keydir.h"
#include "keys.h"
#include "log.h"

#include <errno.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

/* After the last event, this long without another before the load. */
#define KOV_KEYWATCH_DEBOUNCE (200 * 1000)
/* At a rescan, a file changed this recently may still be being written. */
#define KOV_KEYWATCH_YOUNG 2
/* A name seen modified and never closed is let go after this long (a
 * truncate(1) by name modifies without an open). */
#define KOV_KEYWATCH_WRITING_MAX (600 * G_USEC_PER_SEC)
/* Retired keys are looked at this often. */
#define KOV_KEYWATCH_TIDY (60 * G_USEC_PER_SEC)

#define KOV_KEYWATCH_EVENTS                                                                   \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_MODIFY |      \
	 IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

typedef struct {
	char *dir;
	KovKeydir *kd;
	int wd;                /* -1: not watched (yet) */
	GHashTable *writing;   /* name -> gint64* when its last IN_MODIFY came */
	gint64 load_due;       /* 0: none */
	gint64 rescan_due;     /* 0: no periodic rescan */
	gint64 young_due;      /* a load with the rescan's rule (after lost events); 0: none */
	gboolean loaded;       /* a load succeeded once */
} KovKeywatchDir;

struct _KovKeywatch {
	int fd;                /* inotify; -1 without keydirs */
	KovKeys *keys;
	GPtrArray *dirs;       /* of KovKeywatchDir* */
	char *queuedir;
	char *gnupghome, *gpg;  /* what @keys was made with */
	guint rescan;          /* seconds; 0: none */
	gint64 grace;          /* seconds */
	gint64 tidy_due;
	gboolean no_inotify;   /* KOVERTO_KEYDIR_NO_INOTIFY=1 (tests): rescans only */
};

static void
kov_keywatch_dir_free(gpointer data)
{
	KovKeywatchDir *k = data;
	kov_keydir_free(k->kd);
	g_hash_table_unref(k->writing);
	g_free(k->dir);
	g_free(k);
}

static void
kov_keywatch_add_dir(GPtrArray *all, const char *dir)
{
	if (dir != NULL && *dir != '\0' && !g_ptr_array_find_with_equal_func(all, dir, g_str_equal, NULL))
		g_ptr_array_add(all, g_strdup(dir));
}

static gint
kov_keywatch_cmp(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char **
kov_keywatch_dirs(const KovConfig *config)
{
	g_return_val_if_fail(config != NULL, NULL);
	GPtrArray *all = g_ptr_array_new();
	kov_keywatch_add_dir(all, config->keydir);
	for (guint i = 0; i < config->queues->len; i++)
		kov_keywatch_add_dir(all, ((const KovQueueConfig *)config->queues->pdata[i])->keydir);
	for (guint i = 0; config->listen.clients != NULL && i < config->listen.clients->len; i++)
		kov_keywatch_add_dir(all, ((const KovClientConfig *)config->listen.clients->pdata[i])->keydir);
	g_ptr_array_sort(all, kov_keywatch_cmp);
	g_ptr_array_add(all, NULL);
	return (char **)g_ptr_array_free(all, FALSE);
}

static void
kov_keywatch_watch(KovKeywatch *kw, KovKeywatchDir *k)
{
	if (kw->fd < 0 || k->wd >= 0)
		return;
	k->wd = inotify_add_watch(kw->fd, k->dir, KOV_KEYWATCH_EVENTS);
	if (k->wd < 0)
		kov_log_err("keydir: cannot watch %s: %s; it is read at the rescans only", k->dir,
		            g_strerror(errno));
}

/* Load @k now; @young: the rescan's rule. */
static void
kov_keywatch_load(KovKeywatch *kw, KovKeywatchDir *k, gboolean young)
{
	gint64 now = g_get_monotonic_time();
	/* Writers that never closed (see KOV_KEYWATCH_WRITING_MAX). */
	GHashTableIter iter;
	gpointer v;
	g_hash_table_iter_init(&iter, k->writing);
	gpointer name;
	while (g_hash_table_iter_next(&iter, &name, &v)) {
		/* Made but never to be closed: a directory, a link, a FIFO. */
		g_autofree char *path = g_build_filename(k->dir, (const char *)name, NULL);
		struct stat st;
		if (now - *(gint64 *)v > KOV_KEYWATCH_WRITING_MAX ||
		    (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)))
			g_hash_table_iter_remove(&iter);
	}
	kov_keywatch_watch(kw, k);
	g_autoptr(GError) error = NULL;
	/* A rescan holds what changed just now; the load an event asked for
	 * still comes, and takes what was closed. */
	if (!young)
		k->load_due = 0;
	if (!kov_keydir_update(k->kd, k->writing, young ? KOV_KEYWATCH_YOUNG : 0, NULL, &error))
		kov_log_err("keydir: %s; the keys published before stay in use", error->message);
	else
		k->loaded = TRUE;
}

/* @other_ring: the keyring is not the one the published manifest's
 * imports went into. */
static KovKeywatchDir *
kov_keywatch_dir_new(KovKeywatch *kw, const char *dir, gboolean other_ring)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *snapdir = kov_keydir_snapdir_for(kw->queuedir, dir);
	KovKeydir *kd = kov_keydir_new(kw->keys, dir, snapdir, &error);
	if (kd != NULL && !kov_keydir_resume(kd, &error)) {
		/* A manifest we cannot read: start afresh, but say so (keys it
		 * recorded as koverto's are the operator's from now on). */
		kov_log_err("keydir: %s; starting a new one", error->message);
		g_clear_error(&error);
	}
	if (kd != NULL && other_ring)
		kov_keydir_disown(kd);
	if (kd == NULL) {
		kov_log_err("keydir: %s", error->message);
		return NULL;
	}
	KovKeywatchDir *k = g_new0(KovKeywatchDir, 1);
	k->dir = g_strdup(dir);
	k->kd = kd;
	k->wd = -1;
	k->writing = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	return k;
}

static void
kov_keywatch_set_config(KovKeywatch *kw, const KovConfig *config)
{
	kw->rescan = config->keydir_rescan;
	kw->grace = MAX(2 * config->mail_timeout, 3600);
	g_free(kw->queuedir);
	kw->queuedir = g_strdup(config->queuedir);
}

KovKeywatch *
kov_keywatch_new(const KovConfig *config, GError **error)
{
	g_return_val_if_fail(config != NULL, NULL);
	g_autoptr(KovKeywatch) kw = g_new0(KovKeywatch, 1);
	kw->fd = -1;
	kw->dirs = g_ptr_array_new_with_free_func(kov_keywatch_dir_free);
	kw->no_inotify = g_strcmp0(g_getenv("KOVERTO_KEYDIR_NO_INOTIFY"), "1") == 0;
	kov_keywatch_set_config(kw, config);
	g_auto(GStrv) dirs = kov_keywatch_dirs(config);
	if (dirs[0] == NULL)
		return g_steal_pointer(&kw);
	kw->keys = kov_keys_new(config->gnupghome, config->gpg, config->alwaystrust, error);
	if (kw->keys == NULL)
		return NULL;
	kw->gnupghome = g_strdup(config->gnupghome);
	kw->gpg = g_strdup(config->gpg);
	if (!kw->no_inotify && (kw->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		kov_error_set_errno(error, errno, "keydir: inotify");
		return NULL;
	}
	kov_keywatch_configure(kw, config);
	return g_steal_pointer(&kw);
}

static void kov_keywatch_configure_dirs(KovKeywatch *kw, char **dirs, gboolean other_ring);

void
kov_keywatch_configure(KovKeywatch *kw, const KovConfig *config)
{
	g_return_if_fail(kw != NULL && config != NULL);
	kov_keywatch_set_config(kw, config);
	g_auto(GStrv) dirs = kov_keywatch_dirs(config);
	gboolean other_ring = FALSE;
	if (kw->keys != NULL &&
	    (g_strcmp0(kw->gnupghome, config->gnupghome) != 0 || g_strcmp0(kw->gpg, config->gpg) != 0)) {
		/* Another keyring: every directory is imported into it afresh,
		 * and what was imported into the old one is not koverto's there. */
		for (guint i = 0; i < kw->dirs->len; i++) {
			KovKeywatchDir *k = kw->dirs->pdata[i];
			if (k->wd >= 0 && kw->fd >= 0)
				inotify_rm_watch(kw->fd, k->wd);
		}
		g_ptr_array_set_size(kw->dirs, 0);
		g_clear_pointer(&kw->keys, kov_keys_free);
		other_ring = TRUE;
	}
	if (dirs[0] != NULL && kw->keys == NULL) {
		g_autoptr(GError) error = NULL;
		kw->keys = kov_keys_new(config->gnupghome, config->gpg, config->alwaystrust, &error);
		if (kw->keys == NULL) {
			kov_log_err("keydir: %s", error->message);
			return;
		}
		g_free(kw->gnupghome);
		g_free(kw->gpg);
		kw->gnupghome = g_strdup(config->gnupghome);
		kw->gpg = g_strdup(config->gpg);
	}
	if (dirs[0] != NULL && kw->fd < 0 && !kw->no_inotify &&
	    (kw->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0)
		kov_log_err("keydir: inotify: %s; read at the rescans only", g_strerror(errno));
	kov_keywatch_configure_dirs(kw, dirs, other_ring);
}

/* Exactly @dirs from now on, each loaded now. */
static void
kov_keywatch_configure_dirs(KovKeywatch *kw, char **dirs, gboolean other_ring)
{
	/* Keep those still configured (their state), drop the others. */
	g_autoptr(GPtrArray) next = g_ptr_array_new_with_free_func(kov_keywatch_dir_free);
	for (char **d = dirs; *d != NULL; d++) {
		KovKeywatchDir *k = NULL;
		for (guint i = 0; i < kw->dirs->len && k == NULL; i++)
			if (strcmp(((KovKeywatchDir *)kw->dirs->pdata[i])->dir, *d) == 0)
				k = g_ptr_array_steal_index(kw->dirs, i);
		if (k == NULL)
			k = kov_keywatch_dir_new(kw, *d, other_ring);
		if (k != NULL)
			g_ptr_array_add(next, k);
	}
	for (guint i = 0; i < kw->dirs->len; i++) {
		KovKeywatchDir *k = kw->dirs->pdata[i];
		if (k->wd >= 0 && kw->fd >= 0)
			inotify_rm_watch(kw->fd, k->wd);
	}
	g_ptr_array_unref(kw->dirs);
	kw->dirs = g_steal_pointer(&next);
	gint64 now = g_get_monotonic_time();
	for (guint i = 0; i < kw->dirs->len; i++) {
		KovKeywatchDir *k = kw->dirs->pdata[i];
		kov_keywatch_load(kw, k, FALSE);
		k->rescan_due = kw->rescan > 0 ? now + (gint64)kw->rescan * G_USEC_PER_SEC : 0;
	}
	kw->tidy_due = now + KOV_KEYWATCH_TIDY;
}

void
kov_keywatch_free(KovKeywatch *kw)
{
	if (kw == NULL)
		return;
	g_ptr_array_unref(kw->dirs);
	if (kw->fd >= 0)
		close(kw->fd);
	kov_keys_free(kw->keys);
	g_free(kw->gnupghome);
	g_free(kw->gpg);
	g_free(kw->queuedir);
	g_free(kw);
}

int
kov_keywatch_fd(KovKeywatch *kw)
{
	return kw != NULL ? kw->fd : -1;
}

static KovKeywatchDir *
kov_keywatch_by_wd(KovKeywatch *kw, int wd)
{
	for (guint i = 0; i < kw->dirs->len; i++)
		if (((KovKeywatchDir *)kw->dirs->pdata[i])->wd == wd)
			return kw->dirs->pdata[i];
	return NULL;
}

static void
kov_keywatch_event(KovKeywatch *kw, const struct inotify_event *ev, gint64 now)
{
	if (ev->mask & IN_Q_OVERFLOW) {
		/* Closes may be among the lost: what was being written is judged
		 * by its mtime instead, as at a rescan. */
		for (guint i = 0; i < kw->dirs->len; i++) {
			KovKeywatchDir *k = kw->dirs->pdata[i];
			g_hash_table_remove_all(k->writing);
			k->young_due = now + KOV_KEYWATCH_DEBOUNCE;
		}
		return;
	}
	KovKeywatchDir *k = kov_keywatch_by_wd(kw, ev->wd);
	if (k == NULL)
		return;
	if (ev->mask & IN_IGNORED) {
		k->wd = -1;   /* the directory went: watched again at a load */
		return;
	}
	if (ev->mask & IN_MOVE_SELF) {
		/* The watch follows the directory away; the name is what counts. */
		inotify_rm_watch(kw->fd, k->wd);
		k->wd = -1;
	}
	if (ev->len > 0 && ev->name[0] != '\0') {
		/* A file made by open(O_CREAT) is being written until it is closed. */
		if (ev->mask & (IN_MODIFY | IN_CREATE)) {
			gint64 *when = g_new(gint64, 1);
			*when = now;
			g_hash_table_replace(k->writing, g_strdup(ev->name), when);
		} else if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE)) {
			g_hash_table_remove(k->writing, ev->name);
		}
	}
	k->load_due = now + KOV_KEYWATCH_DEBOUNCE;
}

void
kov_keywatch_read(KovKeywatch *kw)
{
	if (kw == NULL || kw->fd < 0)
		return;
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	gint64 now = g_get_monotonic_time();
	for (;;) {
		ssize_t n = read(kw->fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN)
				kov_log_err("keydir: inotify: %s", g_strerror(errno));
			return;
		}
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			kov_keywatch_event(kw, ev, now);
			p += sizeof(struct inotify_event) + ev->len;
		}
	}
}

static gint64
kov_keywatch_min(gint64 a, gint64 due)
{
	return due > 0 && (a == 0 || due < a) ? due : a;
}

gint64
kov_keywatch_timeout_ms(KovKeywatch *kw, gint64 timeout)
{
	if (kw == NULL || kw->dirs->len == 0)
		return timeout;
	gint64 next = kw->tidy_due;
	for (guint i = 0; i < kw->dirs->len; i++) {
		const KovKeywatchDir *k = kw->dirs->pdata[i];
		next = kov_keywatch_min(next, k->load_due);
		next = kov_keywatch_min(next, k->rescan_due);
		next = kov_keywatch_min(next, k->young_due);
	}
	gint64 ms = (next - g_get_monotonic_time() + 999) / 1000;
	return MIN(timeout, MAX(ms, 0));
}

void
kov_keywatch_tick(KovKeywatch *kw)
{
	if (kw == NULL || kw->dirs->len == 0)
		return;
	gint64 now = g_get_monotonic_time();
	for (guint i = 0; i < kw->dirs->len; i++) {
		KovKeywatchDir *k = kw->dirs->pdata[i];
		if (k->load_due > 0 && now >= k->load_due) {
			kov_keywatch_load(kw, k, FALSE);
			if (k->rescan_due > 0 && now >= k->rescan_due)
				k->rescan_due = now + (gint64)kw->rescan * G_USEC_PER_SEC;
		} else if ((k->rescan_due > 0 && now >= k->rescan_due) ||
		           (k->young_due > 0 && now >= k->young_due)) {
			if (k->rescan_due > 0 && now >= k->rescan_due)
				k->rescan_due = now + (gint64)kw->rescan * G_USEC_PER_SEC;
			k->young_due = 0;
			kov_keywatch_load(kw, k, TRUE);
		}
	}
	if (now >= kw->tidy_due) {
		kw->tidy_due = now + KOV_KEYWATCH_TIDY;
		gint64 wall = g_get_real_time() / G_USEC_PER_SEC;
		for (guint i = 0; i < kw->dirs->len; i++) {
			KovKeywatchDir *k = kw->dirs->pdata[i];
			g_autoptr(GError) error = NULL;
			if (!kov_keydir_tidy(k->kd, wall, kw->grace, &error))
				kov_log_err("keydir: %s", error->message);
		}
	}
}
