/* SPDX-License-Identifier: MIT */
#pragma once

/* The decisions mamori-block-access reads (common/readonly-decision.h):
 * written before the storage interface of an allowed device is authorized,
 * removed when the device is blocked or goes away. */

#include "policy.h"
#include "usb-device.h"

/* <runtime_dir>/readonly, made root's 0700 if missing. NULL on OOM. */
char *usb_readonly_dir(const char *runtime_dir);

/* Writes dir/<sysname> atomically (root's, 0600), unless it already says
 * exactly this. Negative errno on failure. */
int usb_readonly_write(const char *dir, const UsbDevice *d, AllowAccess access);

/* Removes dir/<sysname>; 0 when it was not there. */
int usb_readonly_remove(const char *dir, const char *sysname);
