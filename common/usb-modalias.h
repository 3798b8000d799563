/* SPDX-License-Identifier: MIT */
#pragma once

/* What the running kernel would bind to an interface: its modalias resolved
 * against the kernel's module aliases (libkmod: modules.alias.bin, the
 * built-in aliases and modprobe.d's alias lines), as udev's kmod builtin and
 * modprobe resolve it. Without an alias index (no /lib/modules/$(uname -r),
 * e.g. in a container) the resolver says so and resolves nothing: mamori then
 * classifies by class alone, and by the drivers that do bind. */

#include <stdbool.h>

#include "macro.h"

typedef struct UsbAliasResolver UsbAliasResolver;

/* dir: a modules directory ("/lib/modules/6.1.0-13-amd64"); NULL for the
 * running kernel's. With dir, only dir/modprobe.d is read for alias lines
 * (tests); without, the system's modprobe.d directories. Fails only on OOM. */
int usb_alias_resolver_new(const char *dir, UsbAliasResolver **ret);
UsbAliasResolver *usb_alias_resolver_free(UsbAliasResolver *r);
DEFINE_POINTER_CLEANUP(UsbAliasResolver, usb_alias_resolver_free);

/* Is there an alias index to resolve against? */
bool usb_alias_resolver_available(const UsbAliasResolver *r);
/* The modules directory in use (or that was looked for). */
const char *usb_alias_resolver_dir(const UsbAliasResolver *r);

/* The modules whose aliases match modalias, space-separated ("" when none),
 * newly allocated. -ENODATA when no index is available, -EINVAL for a
 * modalias that is not "usb:...", -ENOMEM. */
int usb_alias_resolver_lookup(UsbAliasResolver *r, const char *modalias, char **ret);
