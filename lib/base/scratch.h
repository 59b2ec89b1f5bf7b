/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Scratch files for one mail: the entity given to gpg, gpg's output, the
 * copy handed to libcurl. A small mail's stay in memory (memfd): no inode
 * to create, journal and free per mail, and its plaintext never reaches a
 * disk. A large mail's go to an unlinked file in the tempdir, so memory
 * stays flat however big the mail is. */
#pragma once
#include <glib.h>

/* Mails up to this size (bytes of the queued file) are handled in memory. */
#define KOV_SCRATCH_MEMORY_MAX (1024 * 1024)

/* A new empty scratch file for a mail of @mail_size bytes, read-write,
 * close-on-exec, with no name left anywhere: it vanishes with its last fd.
 * In memory when @mail_size <= KOV_SCRATCH_MEMORY_MAX, else in @tempdir
 * (NULL: $TMPDIR or /tmp). Returns the fd, or -1 with @error set. */
int kov_scratch_new(const char *tempdir, gint64 mail_size, GError **error);
