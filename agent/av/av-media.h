/* SPDX-License-Identifier: MIT */
#pragma once

/* Whether a reported file lies on removable media (issue 15 item 1): the
 * mount that holds the path, from /proc/self/mountinfo (the path itself is
 * never touched: the file may be gone, or on a hung network mount), and the
 * bus of its block device, from the device's sysfs path. Pure: text in, an
 * answer out. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct AvMount {
        unsigned major, minor;
        char *mount_point; /* unescaped */
        char *fstype;
} AvMount;

void av_mount_done(AvMount *m);

/* The mount of mountinfo (buf[0..len), need not end in NUL) whose mount
 * point is the longest whole-component prefix of the absolute path. 0 and
 * *ret, -ENOENT when none matches (a relative path, no "/" mount), -ENOMEM.
 * Lines that do not parse are skipped. */
int av_media_mount_of(const char *buf, size_t len, const char *path, AvMount *ret);

/* The removable bus of a block device from its sysfs path (the target of
 * /sys/dev/block/M:m): "usb", "mmc", "optical" (sr*), "firewire",
 * or NULL for a fixed or virtual disk. */
const char *av_media_bus_of(const char *syspath);
