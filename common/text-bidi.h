/* SPDX-License-Identifier: MIT */
#pragma once

/* Characters that make text lie about itself when a person reads it:
 * bidirectional overrides and isolates (a name holding U+202E shows
 * "exe.gnp" as "png.exe"), invisible and zero-width formatting, and the
 * controls. Used where text is shown to people (notices), which replace each
 * with U+FFFD. The set is text.c's one policy, text_codepoint_is_hidden();
 * device strings reach notices already escaped by text_sanitize(). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "text.h"

bool codepoint_is_deceptive(uint32_t c);
