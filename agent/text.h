/* SPDX-License-Identifier: MIT */
#pragma once

/* Device-supplied text (USB strings, serials) is hostile: any bytes, any
 * length. text_sanitize() turns it into bounded, printable, valid UTF-8 in
 * which every byte that was not printable stays visible as \xNN, so nothing
 * downstream (journal, JSON, stderr, tables) can be corrupted or forged. */

#include <stdbool.h>
#include <stddef.h>

#define TEXT_DEVICE_MAX 256 /* bytes of sanitized output kept for a device string */

/* Returns a newly allocated string, or NULL on OOM. in may be NULL (returns NULL).
 * *truncated (may be NULL) tells whether the output was cut at max bytes. */
char *text_sanitize(const char *in, size_t in_len, size_t max, bool *truncated);

/* True when s is valid UTF-8 with no control characters (the sanitizer's fixed point). */
bool text_is_clean(const char *s, size_t len);

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when s[0..len) does not start one. */
size_t utf8_sequence_len(const unsigned char *s, size_t len);

/* Lower-case hex of a byte string; newly allocated. */
char *hex_encode(const void *p, size_t len);
