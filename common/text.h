/* SPDX-License-Identifier: MIT */
#pragma once

/* Device-supplied text (USB strings, serials) is hostile: any bytes, any
 * length. text_sanitize() turns it into bounded, printable, valid UTF-8 in
 * which everything that would not show as itself stays visible as an escape,
 * so nothing downstream (journal, JSON, stderr, tables, notices) can be
 * corrupted, forged or made to read differently from its bytes.
 *
 * The one policy (docs/events.md, "Device strings"):
 *   \\          a backslash (so that every escape is unambiguous)
 *   \xNN        a byte that is not valid UTF-8 (stray, truncated, overlong,
 *               surrogate, past U+10FFFF), and the ASCII controls and DEL
 *   \uXXXX      a valid code point that text_codepoint_is_hidden() names
 *   \UXXXXXXXX  the same, past U+FFFF (tag characters)
 * Everything else is kept as it is. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TEXT_DEVICE_MAX 256 /* bytes of sanitized output kept for a device string */

/* The code points that are never shown raw: the controls (C0, DEL, C1), the
 * line and paragraph separators, the bidirectional marks, embeddings,
 * overrides and isolates, and every default-ignorable (invisible) code point:
 * zero-width characters, joiners, soft hyphen, fillers, variation selectors,
 * tag characters, interlinear annotation. */
bool text_codepoint_is_hidden(uint32_t c);

enum {
        /* Leave backslashes as they are: for text whose device strings are
         * already escaped (event messages, mamorictl's tables), so that an
         * escape is not escaped twice. */
        TEXT_KEEP_BACKSLASH = 1 << 0,
};

/* Returns a newly allocated string, or NULL on OOM. in may be NULL (returns NULL).
 * *truncated (may be NULL) tells whether the output was cut at max bytes; an
 * escape or a character is never cut in half. */
char *text_sanitize(const char *in, size_t in_len, size_t max, bool *truncated);
char *text_sanitize_flags(const char *in, size_t in_len, size_t max, unsigned flags, bool *truncated);

/* True when s is valid UTF-8 with no hidden code point (the sanitizer's fixed point). */
bool text_is_clean(const char *s, size_t len);

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when s[0..len) does not start one. */
size_t utf8_sequence_len(const unsigned char *s, size_t len);

/* The code point of a valid UTF-8 sequence of n bytes (see utf8_sequence_len). */
uint32_t utf8_decode(const unsigned char *s, size_t n);

/* Lower-case hex of a byte string; newly allocated. */
char *hex_encode(const void *p, size_t len);
