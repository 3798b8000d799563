/* SPDX-License-Identifier: MIT */
/* Prints "MESSAGE_ID kind" for every event kind mamorid can log, from the
 * table that is compiled into it: the catalog test checks each one. */
#include <stdio.h>

#include "event.h"

int main(void) {
        for (unsigned k = 0; k < _EVENT_KIND_MAX; k++) {
                const EventKindInfo *i = event_kind_info((EventKind) k);
                if (!i || !i->name || !i->message_id) {
                        fprintf(stderr, "event kind %u has no name or MESSAGE_ID\n", k);
                        return 1;
                }
                printf("%s %s\n", i->message_id, i->name);
        }
        return 0;
}
