/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Writing files that must survive a crash, in one place: every write loop
 * and every tmp -> fsync -> rename -> fsync-the-directory sequence in
 * koverto goes through these, so none of them can forget a step. Errors
 * come from errno through kov_error_set_errno: a full disk is temporary. */
#pragma once
#include <glib.h>

/* Read @fd from where it is to its end, or to @max bytes, resuming after
 * EINTR. (transfer full: NUL-terminated, *@len bytes) NULL with @error
 * "<@path>: <why>" when a read fails. */
char *kov_fileio_read_all(int fd, gsize max, gsize *len, const char *path, GError **error);

/* Write all @len bytes of @data to @fd, resuming after EINTR and after a
 * short write (a pipe, a signal). FALSE with @error "<@fmt ...>: <why>"
 * when a write fails; a write that takes no bytes counts as EIO. */
gboolean kov_fileio_write_all(int fd, const void *data, gsize len, GError **error,
                              const char *fmt, ...) G_GNUC_PRINTF(5, 6);

/* The end of a file written as @path: fsync @fd when @ok, then close it
 * either way. @ok FALSE means @error is set already and @fd is only
 * closed. TRUE only when @ok and both fsync and close succeeded; else
 * @error says "cannot write @path: <why>". */
gboolean kov_fileio_sync_close(int fd, gboolean ok, const char *path, GError **error);

/* fsync the directory that holds @path: a rename or a link into it is
 * durable only then. FALSE with @error "cannot sync the directory of
 * @path: <why>". */
gboolean kov_fileio_sync_dir(const char *path, GError **error);

/* Replace @path by @len bytes of @data, atomically and durably: write
 * them into @tmp, fsync, rename @tmp over @path, fsync the directory. A
 * reader sees the old file or the new one, never a part. @tmp must be in
 * @path's directory; NULL makes a new unique one there (@path.XXXXXX). A
 * @tmp that exists already is written over in place and cut to @len
 * afterwards, never truncated first, so room the caller reserved in it
 * (posix_fallocate) is still there for this write; a symbolic link there
 * is refused, never followed. A new file gets mode 0600. On failure @tmp
 * is removed and @error says "cannot create @tmp", "cannot write @path"
 * (@path is unchanged) or "cannot sync the directory of @path" (@path is
 * replaced, but a crash may still undo it). */
gboolean kov_fileio_replace(const char *path, const char *tmp, const void *data, gsize len,
                            GError **error);
