/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <inttypes.h>

#include "event-sink.h"
#include "log.h"

typedef struct SinkSlot {
        EventSink sink;
        int failing;     /* the error of its last event; 0 when it took it */
        uint64_t failed; /* events it could not take, since the start */
        uint64_t failed_in_a_row;
} SinkSlot;

struct EventSinks {
        SinkSlot *slots;
        size_t n, cap;
};

int event_sinks_new(EventSinks **ret) {
        EventSinks *s;

        assert(ret);

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

EventSinks *event_sinks_free(EventSinks *s) {
        if (!s)
                return NULL;
        free(s->slots);
        free(s);
        return NULL;
}

int event_sinks_add(EventSinks *s, EventSink sink) {
        assert(s);
        assert(sink.name);
        if (GROW_ARRAY(s->slots, s->cap, s->n + 1, 4) < 0)
                return -ENOMEM;
        s->slots[s->n++] = (SinkSlot){ .sink = sink };
        return 0;
}

void event_sinks_remove(EventSinks *s, const void *userdata) {
        size_t k = 0;

        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++)
                if (s->slots[i].sink.userdata != userdata)
                        s->slots[k++] = s->slots[i];
        s->n = k;
}

/* An outage of a sink is one line (and one when it is over), not one per
 * event: a sink that fails every event would bury the journal. */
static void event_sinks_note_result(SinkSlot *x, int r, const char *stage, const char *id, EventKind kind) {
        const EventKindInfo *info = event_kind_info(kind);

        if (r >= 0) {
                if (x->failing < 0)
                        log_notice("Event sink %s takes events again (%" PRIu64 " could not be taken).", x->sink.name,
                                   x->failed_in_a_row);
                x->failing = 0;
                x->failed_in_a_row = 0;
                return;
        }
        x->failed++;
        x->failed_in_a_row++;
        if (x->failing == 0)
                log_error_errno(r, "Event sink %s could not take event %s (%s, %s): %m; the other sinks have it.",
                                x->sink.name, strna(id), info ? info->name : "?", stage);
        else
                log_debug_errno(r, "Event sink %s could not take event %s either: %m", x->sink.name, strna(id));
        x->failing = r;
}

int event_sinks_consume(EventSinks *s, Event *e, const EventContext *ctx) {
        int ret = 0;

        assert(e);
        if (!s)
                return 0;
        /* By index: a sink may emit an event of its own, which runs through the list first. */
        for (size_t i = 0; i < s->n; i++) {
                int r;

                if (!s->slots[i].sink.consume)
                        continue;
                r = s->slots[i].sink.consume(s->slots[i].sink.userdata, e, ctx);
                event_sinks_note_result(&s->slots[i], r, "consume", e->id, e->kind);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

int event_sinks_recorded(EventSinks *s, const EventRecord *rec) {
        int ret = 0;

        assert(rec);
        if (!s)
                return 0;
        for (size_t i = 0; i < s->n; i++) {
                int r;

                if (!s->slots[i].sink.recorded)
                        continue;
                r = s->slots[i].sink.recorded(s->slots[i].sink.userdata, rec);
                event_sinks_note_result(&s->slots[i], r, "recorded", rec->id, rec->kind);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

uint64_t event_sinks_failures(const EventSinks *s, const char *name) {
        assert(name);

        for (size_t i = 0; s && i < s->n; i++)
                if (streq(s->slots[i].sink.name, name))
                        return s->slots[i].failed;
        return 0;
}
