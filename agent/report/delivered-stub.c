/* SPDX-License-Identifier: MIT */
/* TEMPORARY, dropped when branch h-spool is merged (see delivered-stub.h):
 * no uplink cursor is read; the spool keeps its own. */
#include "delivered-stub.h"

int spool_set_delivered_source(Spool *s, const char *cursor_path) {
        (void) s;
        (void) cursor_path;
        return 0;
}

int spool_pull_delivered(Spool *s) {
        (void) s;
        return 0;
}
