/* SPDX-License-Identifier: MIT */
#pragma once

/* A read-only approval's decision, handed from mamorid to udev (issue 14):
 * before mamorid authorizes the storage interface of an allowed USB device it
 * writes <runtime dir>/readonly/<device sysname> (root's, 0600), e.g.
 *
 *     access=read-only
 *     devnum=7
 *
 * and the block devices that come of it are handled by mamori-block-access
 * (tools/udev/), which sets them read-only before anything can mount them.
 * devnum is the device's number on its bus, new at every plug: a file left
 * from an earlier device on the same port does not apply. Pure: no I/O. */

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

#define READONLY_DECISION_SUBDIR "readonly"
#define READONLY_DECISION_MAX 256 /* bytes; a longer file is hostile */

typedef struct ReadonlyDecision {
        AllowAccess access;
        unsigned devnum; /* 1..127 on a real bus (the kernel counts up to 127) */
} ReadonlyDecision;

/* The file's text, NUL-terminated, into buf. -ENOBUFS if it does not fit. */
int readonly_decision_format(const ReadonlyDecision *d, char *buf, size_t size);

/* Strict: exactly the two lines above, in that order, each once; -EBADMSG
 * for anything else (a NUL byte, a stray line, a number with a sign or
 * leading zeros, a devnum out of 1..999). */
int readonly_decision_parse(const char *text, size_t len, ReadonlyDecision *ret);

/* From a block device's DEVPATH (/devices/.../usb1/1-2/1-2.4/1-2.4:1.0/host6/
 * .../block/sdb/sdb1): the USB device's sysname ("1-2.4") and that of its
 * interface ("1-2.4:1.0"), both of which must be well formed. -ENXIO when the
 * block device is not on USB; -EINVAL for a malformed path. */
int readonly_usb_of_devpath(const char *devpath, char **ret_device, char **ret_interface);

/* Is s a USB device's sysname ("1-2", "3-1.4.2"), usable as a file name? */
bool readonly_is_usb_device_name(const char *s);
