/* SPDX-License-Identifier: MIT */
#pragma once

/* The USB module aliases of the text files that depmod and the admin write,
 * matched as libkmod matches them (fnmatch(pattern, modalias, 0), patterns
 * and names with '-' read as '_' outside brackets, a pattern with an
 * unbalanced bracket ignored), without libkmod (which links libcrypto):
 *
 * - modules.alias, depmod's text twin of modules.alias.bin: "alias <glob>
 *   <module>" lines in module order (libkmod's priority). The index keeps no
 *   copy of it: offsets into the caller's buffer (a read-only mapping),
 *   bucketed by the literal vendor and product after "usb:v", the rest (the
 *   class aliases "usb:v*...") apart, so that a lookup matches a handful of
 *   patterns, not thousands.
 * - modprobe.d's alias lines (libkmod's syntax: a backslash joins lines, '#'
 *   starts a comment line, tokens split on spaces and tabs).
 *
 * Only patterns that can match a "usb:" modalias are kept. Pure: bytes in, an
 * index out; no I/O, no logging (common/usb-modalias.c reads the files). */

#include <stddef.h>
#include <stdint.h>

#include "usb-modinfo.h"

/* modules.alias is refused beyond (Debian 12's is 0.7 MiB); offsets are 32 bits. */
#define USB_ALIAS_FILE_MAX (64u * 1024u * 1024u)
/* usb: aliases kept per index (Debian 12: 5,760); lines beyond are skipped and counted */
#define USB_ALIAS_INDEX_MAX 262144u
/* a pattern longer than this matches nothing of ours (modaliases are < 100 bytes) */
#define USB_ALIAS_PATTERN_MAX 256u
/* a modalias longer than this is refused */
#define USB_ALIAS_MODALIAS_MAX 256u

typedef struct UsbAliasIndex {
        const char *buf; /* not owned: outlives the index */
        size_t len;
        uint64_t *product; /* (vendor << 16 | product) << 32 | line offset: "usb:vVVVVpPPPP..." */
        size_t n_product;
        uint64_t *vendor; /* vendor << 32 | line offset: "usb:vVVVV" and no literal product */
        size_t n_vendor;
        uint32_t *other; /* line offset: any other pattern that may match "usb:..." */
        size_t n_other;
        size_t n_skipped; /* usb: lines not kept: malformed, too long, or beyond USB_ALIAS_INDEX_MAX */
} UsbAliasIndex;

/* Indexes the usb: aliases of modules.alias (len bytes, need not end in NUL;
 * any byte may be hostile). buf must stay mapped and unchanged in size until
 * usb_alias_index_done(). -EFBIG beyond USB_ALIAS_FILE_MAX, -ENOMEM. */
int usb_alias_index_parse(const char *buf, size_t len, UsbAliasIndex *ret);
void usb_alias_index_done(UsbAliasIndex *idx);

/* Appends to *list (space-separated module names, may be NULL or "") every
 * module whose alias matches modalias (already normalized), in the file's
 * order, each once. The lines are parsed again here and checked as at
 * indexing: a buffer changed underneath yields fewer matches, never a read
 * out of bounds. -ENOMEM. */
int usb_alias_index_match(const UsbAliasIndex *idx, const char *modalias, char **list);

/* Appends to *rules the alias lines of one modprobe.d file (len bytes) that
 * can match a usb: modalias, pattern and module normalized, in the file's
 * order (the same list type as the built-in aliases: a module and a pattern).
 * A rule's module is kept whatever its name. At most USB_MODINFO_MAX_ALIASES
 * rules in all. -ENOMEM. */
int usb_alias_conf_parse(const char *buf, size_t len, UsbBuiltinAliases *rules);
/* Appends to *list, in order and each once, the modules of the rules that
 * match modalias and whose name is a valid driver name. Returns how many rules
 * matched (a valid name or not: any match ends libkmod's lookup before
 * modules.alias), or -ENOMEM. */
int usb_alias_conf_match(const UsbBuiltinAliases *rules, const char *modalias, char **list);

/* libkmod's alias_normalize(): '-' becomes '_' outside brackets. -EINVAL for
 * an unbalanced bracket, a byte that is not printable ASCII or a space, or more
 * than USB_ALIAS_MODALIAS_MAX bytes. out holds USB_ALIAS_MODALIAS_MAX + 1. */
int usb_alias_normalize(const char *in, char out[static USB_ALIAS_MODALIAS_MAX + 1]);
