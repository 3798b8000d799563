/* SPDX-License-Identifier: MIT */
/* The control socket's request parser, on any bytes a root client might send:
 * no crash, and whatever it accepts is a valid verb and a bounded count (or a
 * quarantine action and its reason) that parses back the same from its
 * canonical form. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ControlRequest r, again;
        char canon[CONTROL_REQUEST_MAX + 64];
        int n;

        if (control_request_parse((const char *) data, size, &r) < 0)
                return 0;
        if ((unsigned) r.verb >= _CONTROL_VERB_MAX || r.count > CONTROL_EVENTS_KEPT)
                abort();
        if (r.verb == CONTROL_QUARANTINE) {
                /* the action and the reason, as they came (the reason is judged later) */
                if (!r.arg[0] || strlen(r.arg) > CONTROL_REQUEST_MAX)
                        abort();
                n = snprintf(canon, sizeof canon, "quarantine %s %s", r.release ? "release" : "engage", r.arg);
                if (n < 0 || (size_t) n > CONTROL_REQUEST_MAX)
                        return 0; /* a longer action word than the original's: not the same bound */
                if (control_request_parse(canon, (size_t) n, &again) < 0 || again.verb != r.verb ||
                    again.release != r.release || strcmp(again.arg, r.arg) != 0)
                        abort();
                return 0;
        }
        if (r.verb == CONTROL_EVENTS || r.verb == CONTROL_FOLLOW)
                n = snprintf(canon, sizeof canon, "%s %u", control_verb_to_string(r.verb), r.count);
        else
                n = snprintf(canon, sizeof canon, "%s", control_verb_to_string(r.verb));
        if (control_request_parse(canon, (size_t) n, &again) < 0 || again.verb != r.verb || again.count != r.count)
                abort();
        return 0;
}
