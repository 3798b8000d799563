/* SPDX-License-Identifier: MIT */
#pragma once
/* The check every configuration error case makes: the text is refused, and
 * one of the errors names `file`:`line` and contains `words`. Include after
 * unit.h. */
#include <stdbool.h>

#include "config.h"
#include "macro.h"

static inline void check_config_error(const char *name, const char *main_text, const char *allow_text,
                                      const char *file, int line, const char *words) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        bool found = false;

        if (config_load_strings(main_text, allow_text, &p, &e) >= 0 || p) {
                fprintf(stderr, "case '%s' was accepted\n", name);
                fail();
        }
        for (size_t k = 0; k < e.n; k++)
                if (streq(e.items[k].file, file) && e.items[k].line == line && strstr(e.items[k].message, words))
                        found = true;
        if (!found) {
                fprintf(stderr, "case '%s': wanted %s:%d: ...%s...; got:\n", name, file, line, words);
                config_errors_print(&e, stderr);
                fail();
        }
        config_errors_done(&e);
}
