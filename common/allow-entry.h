/* SPDX-License-Identifier: MIT */
#pragma once

/* An allow.d entry for one device, written so that libconfig reads back the
 * exact bytes: the serial is the device's identity, so every byte of it that
 * is not printable ASCII is written as a \xHH escape. Pure: no I/O. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct AllowDraft {
        uint16_t vendor, product;
        const char *serial; /* exact bytes; NULL when the device has none */
        size_t serial_len;
        bool any_serial;
        bool read_only;                                                   /* access = "read-only" */
        const char *label, *approved_by, *approved_on, *expires, *ticket; /* NULL: left out */
        const char *const *comments; /* NULL-terminated lines for "# ..." above the entry; may be NULL */
} AllowDraft;

/* A libconfig string literal, quotes included. With ascii_only every byte
 * outside printable ASCII is \xHH; otherwise valid UTF-8 text stays as it is
 * (labels in Japanese stay readable) and only control bytes, invalid sequences
 * and the code points text.h hides (bidi controls, invisible characters) are
 * escaped, byte by byte. NULL on OOM. */
char *config_quote(const char *s, size_t len, bool ascii_only);

/* The exact bytes of a serial as an event shows it (docs/events.md §3.1:
 * \\, \xNN, \uXXXX, \UXXXXXXXX): the reverse of the sanitizer, for the
 * console's approvals. -EINVAL for an escape it never writes, a NUL byte or
 * more than max bytes; -ENOMEM. *ret is NUL-terminated, *ret_len bytes. */
int allow_serial_unescape(const char *escaped, size_t max, char **ret, size_t *ret_len);

/* The whole file text: comments, then `allow = ( { ... } );`. NULL on OOM. */
char *allow_draft_format(const AllowDraft *d);
