/* SPDX-License-Identifier: MIT */
#pragma once

/* What the running kernel would bind to an interface: its modalias resolved
 * against the kernel's module aliases (depmod's text modules.alias, mapped
 * read-only; modprobe.d's alias lines; the built-in drivers' aliases of
 * modules.builtin.modinfo), as udev's kmod builtin and modprobe resolve it
 * with libkmod, but without libkmod, which links libcrypto (issue 11; the
 * parsing is common/usb-alias-index.c). Without an alias index (no
 * /lib/modules/$(uname -r), e.g. in a container) the resolver says so and
 * resolves nothing: mamori then classifies by class alone, and by the drivers
 * that do bind. depmod or modprobe.d changing under a running resolver are
 * read again at the next lookup (a stat of each path per lookup). */

#include <stdbool.h>

#include "macro.h"

typedef struct UsbAliasResolver UsbAliasResolver;

/* dir: a modules directory ("/lib/modules/6.1.0-13-amd64"); NULL for the
 * running kernel's. With dir, only dir/modprobe.d is read for alias lines
 * (tests); without, /etc, /run, /usr/local/lib, /lib and /usr/lib's
 * modprobe.d (a file name in an earlier one masks it in the later ones).
 * Every file must be a regular one (links followed; a FIFO is refused, never
 * waited on); modules.alias at most 64 MiB. Fails only on OOM. */
int usb_alias_resolver_new(const char *dir, UsbAliasResolver **ret);
/* The same with the modprobe.d directories given, in their order of
 * precedence (at most 8; NULL: as usb_alias_resolver_new()). For tests, which
 * compare the precedence with libkmod's kmod_new(). */
int usb_alias_resolver_new_full(const char *dir, const char *const *conf_dirs, UsbAliasResolver **ret);
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
