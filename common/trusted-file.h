/* SPDX-License-Identifier: MIT */
#pragma once

/* Files mamorid trusts: its policy (mamori.conf, allow.d/) and the
 * collector's files (ca_file, pin, client_cert, client_key, token_file).
 *
 * A trusted file is a regular file (not a symbolic link, FIFO, device or
 * directory), owned by root and writable by nobody else (no group or other
 * write bit), in a directory that is itself owned by root and writable by
 * nobody else. Only the file and the directory that holds it are checked,
 * not the directories above: /etc is root's anyway, and a test's temporary
 * directory under the sticky, world-writable /tmp is fine as long as the
 * directory itself is root's and 0700/0755.
 *
 * The file is opened with O_NOFOLLOW|O_NONBLOCK (a FIFO neither blocks nor is
 * read; a link is refused), checked with fstat() on that descriptor (no race
 * between the check and the read) and read to the end, bounded.
 *
 * Every "why" is one line for an admin, without the file name unless the
 * culprit is another object (the directory). */

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

typedef enum TrustFlags {
        /* Readable by root only; the group may read when it is gid 0 or the caller's own
         * effective gid (mamori-uplink's key and token: root:mamori-uplink 0640). Never others. */
        TRUST_SECRET = 1 << 0,
} TrustFlags;

/* Checks a stat of something that must be a directory (dir) or a regular
 * file, owned by root, not writable by group or others. 0 or -EPERM/-EINVAL
 * with *ret_why. */
int trust_check_stat(const struct stat *st, bool dir, TrustFlags flags, char **ret_why);

/* Opens a directory that holds trusted files (the last component must not be
 * a symbolic link) and checks it. Returns the fd, or a negative errno with
 * *ret_why (NULL on -ENOMEM). */
int trust_open_dir(const char *path, char **ret_why);

/* Reads name (a plain file name) from the already checked directory dir_fd:
 * at most max bytes, NUL-terminated. */
int trust_read_at(int dir_fd, const char *name, size_t max, TrustFlags flags, char **ret, size_t *ret_len,
                  char **ret_why);

/* Checks path's directory, then reads path as above. When the directory is
 * at fault, *ret_why says "directory DIR: ...". */
int trust_read_file(const char *path, size_t max, TrustFlags flags, char **ret, size_t *ret_len, char **ret_why);

/* A program mamorid runs as root (antivirus.command): path must be absolute;
 * it is resolved with realpath() (a link, as /etc/alternatives makes them, is
 * followed, and what it leads to is checked). The program must be a regular,
 * executable file, owned by root and writable by nobody else; its directory
 * and every directory above it up to / must be root's and writable by nobody
 * else, except that a directory above the program's own may be a sticky one
 * (/tmp): nobody but root can rename root's directory in it. -ENOENT/-ENOTDIR
 * without *ret_why: not there (the caller decides); otherwise 0, or a
 * negative errno with *ret_why (NULL on -ENOMEM). */
int trust_check_executable(const char *path, char **ret_why);
