/* SPDX-License-Identifier: MIT */
#pragma once

/* /proc/self/mountinfo (proc(5)), parsed as hostile input: which mount points
 * belong to a set of block devices. Pure: no I/O, unit-tested and fuzzed. A
 * line that does not parse is skipped, never trusted in part. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "macro.h"

/* At most this many mount points are returned; a line longer than
 * MOUNTINFO_LINE_MAX is skipped. */
#define MOUNTINFO_MOUNTS_MAX 64
#define MOUNTINFO_LINE_MAX 16384

typedef struct MountList {
        char **paths; /* unescaped, absolute, no "/../" part; in mountinfo's order */
        /* issue 14: per path, whether its file system is mounted writable (the
         * super options say "rw", or say nothing: taken as writable) */
        bool *rw;
        size_t n;
        size_t skipped; /* lines that did not parse */
        size_t dropped; /* matching mounts past MOUNTINFO_MOUNTS_MAX */
} MountList;

void mount_list_done(MountList *l);

/* Every mount whose major:minor is one of devs[] (a disk and its partitions).
 * buf need not end in NUL. -ENOMEM only. */
int mountinfo_find(const char *buf, size_t len, const dev_t *devs, size_t n_devs, MountList *ret);

/* The name of systemd's mount unit for an absolute path ("/media/a b" ->
 * "media-a\x20b.mount"), systemd's unit_name_path_escape(). -EINVAL for a
 * path that is not absolute or holds "." or ".." components, -ENAMETOOLONG
 * past the unit name limit (256). */
int mount_unit_name_from_path(const char *path, char **ret);
