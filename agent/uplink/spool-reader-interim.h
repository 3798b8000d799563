/* SPDX-License-Identifier: MIT */
#pragma once

/* INTERIM (h-uplink): the reader API of DESIGN-11.md until helper "spool"'s
 * agent/report/spool.h has it; goes at the merge of h-spool. */

#include <stdbool.h>

#include "spool.h"

typedef struct SpoolReaderOptions {
        bool no_sync;
} SpoolReaderOptions;
int spool_open_reader(const char *dir, const char *cursor_path, const SpoolReaderOptions *opt, Spool **ret);
int spool_refresh(Spool *s);
const char *spool_dir(const Spool *s);
