/* SPDX-License-Identifier: MIT */
#pragma once

/* Characters that make text lie about itself when a person reads it:
 * bidirectional overrides and isolates (a name holding U+202E shows
 * "exe.gnp" as "png.exe"), invisible and zero-width formatting, and the
 * controls. Used where device text is shown to people (notices). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The code point of a valid UTF-8 sequence of n bytes (see utf8_sequence_len). */
uint32_t utf8_decode(const unsigned char *s, size_t n);

bool codepoint_is_deceptive(uint32_t c);
