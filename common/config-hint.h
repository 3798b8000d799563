/* SPDX-License-Identifier: MIT */
#pragma once

/* What to tell an admin beyond libconfig's words (pure, unit-tested).
 *
 * libconfig 1.5 says only "syntax error" and a line number, and at the end
 * of the file that number is one past the last line. config_hint_syntax()
 * turns that into the line that exists, its text (escaped, bounded) and a
 * guess at the cause; config_hint_key() is the "did you mean" for an unknown
 * key. */

#include <stddef.h>

typedef struct ConfigSyntaxHint {
        int line;          /* a line of the file (1-based); 0 for an empty file */
        char *line_text;   /* that line, escaped and bounded; NULL when it is blank */
        const char *hint;  /* a static sentence: the likely cause, or what libconfig expected */
} ConfigSyntaxHint;

/* text: the whole file (len bytes, NUL-terminated); line: libconfig's. */
int config_hint_syntax(const char *text, size_t len, int line, ConfigSyntaxHint *ret);
void config_syntax_hint_done(ConfigSyntaxHint *h);

/* Edit distance (insertions, deletions, substitutions and swaps of two
 * neighbours), stopping early above max: returns max + 1 then. */
unsigned config_hint_distance(const char *a, const char *b, unsigned max);

/* The allowed key nearest to name, when near enough to be a typo; NULL
 * otherwise. */
const char *config_hint_key(const char *name, const char *const *allowed);
