/* SPDX-License-Identifier: MIT */
#pragma once

/* Where a module hands its events: a function and its userdata, given to the
 * module's constructor, so that no module needs the Manager to record an
 * event. The one definition of it, so that the sink's own interface can take
 * its place in one spot. */

#include <errno.h>

#include "event.h"

typedef struct EventEmit {
        /* Takes ownership of e, whatever it returns. */
        int (*emit)(void *userdata, Event *e);
        void *userdata;
} EventEmit;

/* Hands e (owned) to emit; without one, e is freed: -ENOTCONN. */
static inline int emit_event(const EventEmit *emit, Event *e) {
        if (!emit || !emit->emit) {
                event_free(e);
                return -ENOTCONN;
        }
        return emit->emit(emit->userdata, e);
}
