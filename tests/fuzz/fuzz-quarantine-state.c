/* SPDX-License-Identifier: MIT */
/* The quarantine's state file (agent/netguard/quarantine-state.c): whatever
 * is accepted is written back and parses again to the same state. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quarantine-state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static char buf[QUARANTINE_STATE_MAX_SIZE * 2];
        QuarantineState s, again;
        unsigned line;
        int r, n;

        r = quarantine_state_parse((const char *) data, size, &s, &line);
        if (r == -EBADMSG)
                return 0;
        if (r != 0 || s.n_allow > QUARANTINE_ALLOW_MAX || strlen(s.reason) > QUARANTINE_REASON_MAX)
                abort();
        n = quarantine_state_format(&s, buf, sizeof(buf));
        if (n < 0)
                abort();
        if (quarantine_state_parse(buf, (size_t) n, &again, &line) != 0 || again.active != s.active ||
            again.since != s.since || again.n_allow != s.n_allow || strcmp(again.reason, s.reason) != 0 ||
            memcmp(again.allow, s.allow, s.n_allow * sizeof(s.allow[0])) != 0)
                abort();
        return 0;
}
