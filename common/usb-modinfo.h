/* SPDX-License-Identifier: MIT */
#pragma once

/* The USB aliases of drivers built into the kernel, from
 * /lib/modules/$(uname -r)/modules.builtin.modinfo ("module.alias=pattern"
 * records, NUL-separated). libkmod consults the built-in aliases only when no
 * module's alias matches: for a printer interface it finds usblp and never
 * says that a built-in usb-storage takes the id too. Pure. */

#include <stddef.h>

typedef struct UsbBuiltinAlias {
        char *module;
        char *pattern; /* a glob over the modalias, "usb:v0BC2p3332d*..." */
} UsbBuiltinAlias;

typedef struct UsbBuiltinAliases {
        UsbBuiltinAlias *items;
        size_t n;
} UsbBuiltinAliases;

#define USB_MODINFO_MAX_ALIASES 65536u

/* Keeps every "usb:" alias of buf (len bytes, need not end in NUL); records
 * that are not "<module>.alias=usb:..." with a module name and a pattern of
 * at most 256 printable bytes are skipped. -ENOMEM only. */
int usb_modinfo_parse_usb_aliases(const char *buf, size_t len, UsbBuiltinAliases *ret);
void usb_builtin_aliases_done(UsbBuiltinAliases *a);

/* Appends to *list (space-separated module names, may be "" or NULL) every
 * module whose pattern matches modalias and that *list does not hold yet. */
int usb_builtin_aliases_match(const UsbBuiltinAliases *a, const char *modalias, char **list);
