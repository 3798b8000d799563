/* SPDX-License-Identifier: MIT */
#pragma once

/* Which plugged devices the person at the seat was already told are blocked.
 *
 * A notice is due on a plug and on a change the person can notice (usable →
 * blocked), never because a reload or restart changed the reason. The flag
 * lives on each tracked device (usb-enforce.c); this is its record in
 * /run/mamori/notified, so that a restart of mamorid does not tell again.
 * /run is empty after a boot, and a device is named by its bus and device
 * number, which the kernel gives anew on every plug: a stick plugged again
 * is a new plug and gets its notice.
 *
 * The file is mamorid's own, but read as hostile: one "BUS DEV VVVV PPPP"
 * line per device (decimal numbers, hexadecimal ids), at most
 * USB_TOLD_MAX entries; any other line is skipped and counted. */

#include <stddef.h>
#include <stdint.h>

#define USB_TOLD_FILE "notified"
#define USB_TOLD_MAX 1024

typedef struct UsbTold {
        unsigned busnum, devnum;
        uint16_t vendor, product;
} UsbTold;

/* Parses buf (len bytes, NUL-terminated). *ret_bad: lines that were not an
 * entry (or were beyond USB_TOLD_MAX). */
int usb_told_parse(const char *buf, size_t len, UsbTold **ret, size_t *ret_n, size_t *ret_bad);

/* Formats entries as the file holds them (malloc'd, NUL-terminated). */
int usb_told_format(const UsbTold *e, size_t n, char **ret, size_t *ret_len);

/* Reads the record; -ENOENT when there is none. Logs what it skips. */
int usb_told_load(const char *path, UsbTold **ret, size_t *ret_n);

/* Replaces the record (a temporary file renamed over it). */
int usb_told_save(const char *path, const UsbTold *e, size_t n);
