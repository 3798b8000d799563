/* SPDX-License-Identifier: MIT */
#pragma once

/* Which kernel drivers make an interface storage, phone file transfer or
 * tethering, whatever class the interface announces. Several drivers bind by
 * vendor:product (usb-storage's and uas's unusual devices, the ums-* family,
 * card readers such as rtsx_usb): an interface that calls itself a printer
 * gets a block device all the same. The one table of them lives here
 * (docs/device-enforcement.md); mamori.conf's usb.drivers adds to it. Pure. */

#include <stdbool.h>
#include <stddef.h>

#include "usb-classify.h"

/* MODULE_NAME_LEN - 1 in the kernel */
#define USB_DRIVER_NAME_MAX 55

typedef struct UsbDriverEntry {
        char *name;
        UsbCategory category;
} UsbDriverEntry;

/* Module names use '_' where driver names may use '-' ("usb_storage" is the
 * module of the driver "usb-storage"): they are compared as the kernel does. */
bool usb_driver_name_equal(const char *a, const char *b);

/* A name an admin may write in usb.drivers: [A-Za-z0-9_-], 1..55 bytes. */
bool usb_driver_name_valid(const char *name);

/* Appends name to *list (space-separated module names, NULL or "" when
 * empty) unless it is there already: what a modalias lookup answers. */
int usb_driver_list_add(char **list, const char *name);

/* The category of a driver or module name: the admin's entries first, then
 * the built-in table; USB_CATEGORY_OTHER when neither knows it. */
UsbCategory usb_driver_category(const UsbDriverEntry *extra, size_t n_extra, const char *name);

/* The built-in table, for documentation and tests. */
size_t usb_driver_builtin_count(void);
const char *usb_driver_builtin(size_t i, UsbCategory *ret_category);

/* In a space-separated list of module names (what the alias lookup found),
 * the first of a category other than OTHER, ranked storage first (as
 * usb_category_primary()). Returns the category; *ret_name points into list
 * at the name, *ret_len its length. */
UsbCategory usb_driver_list_category(const UsbDriverEntry *extra, size_t n_extra, const char *list,
                                     const char **ret_name, size_t *ret_len);
