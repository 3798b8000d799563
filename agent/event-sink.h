/* SPDX-License-Identifier: MIT */
#pragma once

/* Where an event goes once it is made (docs/hacking.md, "Events through sinks").
 *
 * A module that makes an event hands it, with what it is about, to the
 * EventEmitter it was given (the Manager's: manager_emit_with()). The event
 * then goes to every sink registered at start, in their order:
 *
 *   consume:  at once, with the Event and its EventContext
 *             (reporting: seq, spool; notice: the notice for the kinds that have one)
 *   recorded: when the event is recorded (durable in the spool, or in the
 *             journal with the reason it is not), as its line of JSON
 *             (control: mamorictl events, events --follow)
 *
 * A sink returns a negative errno when it could not take an event; the list
 * logs it (once, until that sink works again) and hands the event to the
 * next sink all the same: no sink keeps an event from another. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "macro.h"
#include "notice-text.h"
#include "policy.h"
#include "usb-device.h"

/* What an event is about, beyond what its JSON says: a sink that needs the
 * device itself (a notice names it, in the person's language) finds it
 * here. Valid only during the call; every member may be unset. */
typedef struct EventContext {
        const UsbDevice *device;  /* the USB device the event is about */
        const Decision *decision; /* the policy's decision on it */
        /* a device outside USB (device.blocked, device.block_failed), as a
         * notice names it; NULL: no notice (a drive found at start, not news) */
        const NoticeDevice *removable;
        usec_t now;      /* CLOCK_REALTIME the decision was made at (usb.expiring) */
        bool told;       /* usb.blocked: the person was already told this plug is blocked */
        bool was_usable; /* usb.blocked: the device was usable until now */
} EventContext;

/* An event as it was recorded. */
typedef struct EventRecord {
        EventKind kind;
        const char *id;
        uint64_t seq;     /* 0: not in the spool */
        const char *json; /* one line, with the envelope (NUL-terminated) */
        size_t len;
        const char *not_spooled; /* NULL, or why the event is in the journal only */
} EventRecord;

typedef struct EventSink {
        const char *name; /* in log lines: "reporting", "notice", "control" */
        /* e stays the emitter's: a sink may set what it owns (reporting sets
         * e->seq, being first), never frees it. May be NULL. */
        int (*consume)(void *userdata, Event *e, const EventContext *ctx);
        /* May be NULL. */
        int (*recorded)(void *userdata, const EventRecord *rec);
        void *userdata;
} EventSink;

/* How a module hands over an event: takes ownership of e, whatever happens.
 * ctx may be NULL. */
typedef struct EventEmitter {
        int (*emit)(void *userdata, Event *e, const EventContext *ctx);
        void *userdata;
} EventEmitter;

static inline int event_emit(const EventEmitter *em, Event *e, const EventContext *ctx) {
        if (!em->emit) {
                event_free(e);
                return 0;
        }
        return em->emit(em->userdata, e, ctx);
}

/* The envelope (host, user at the seat, policy hash) around an event. */
typedef struct EventRenderer {
        int (*render)(void *userdata, Event *e, char **ret, size_t *ret_len);
        void *userdata;
} EventRenderer;

typedef struct EventSinks EventSinks;

int event_sinks_new(EventSinks **ret);
EventSinks *event_sinks_free(EventSinks *s);
DEFINE_POINTER_CLEANUP(EventSinks, event_sinks_free);

/* Appends a sink; sink.name must live as long as the list. Not while the
 * list is handing out an event. */
int event_sinks_add(EventSinks *s, EventSink sink);
/* Removes the sinks of userdata (before it is freed). */
void event_sinks_remove(EventSinks *s, const void *userdata);

/* Hands e to every sink's consume, in order. e stays the caller's. Returns
 * the first error of a sink (each is logged here), or 0. */
int event_sinks_consume(EventSinks *s, Event *e, const EventContext *ctx);
/* Hands a recorded event to every sink's recorded, in order. */
int event_sinks_recorded(EventSinks *s, const EventRecord *rec);

/* Events a sink could not take since the start (mamorictl status, tests);
 * 0 for a sink not in the list. */
uint64_t event_sinks_failures(const EventSinks *s, const char *name);
