/* SPDX-License-Identifier: MIT */
#pragma once

/* Coalescing of repeated USB blocks (pure: the caller passes the time, so
 * the unit tests drive the clock).
 *
 * A device that is blocked again and again (a gadget that re-enumerates a
 * few times a second) would otherwise write one HIGH usb.blocked per plug
 * and, with the spool full, push the INFO usb.allowed records out of it
 * (docs/device-enforcement.md relies on those to spot cloned sticks). Blocking
 * is never delayed: only the record is coalesced. The first block of an
 * identity (vendor:product:serial and the decision) is recorded as always;
 * blocks of the same identity within `window` of the last one are counted;
 * when the window closes, the caller records one usb.blocked that carries
 * the count. The window slides while it keeps happening. At most
 * USB_REPEAT_MAX identities are held; a new one evicts the one seen least
 * recently (whose count the caller then records at once). */

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"
#include "timeutil.h"

#define USB_REPEAT_MAX 64
#define USB_REPEAT_WINDOW_DEFAULT (60 * USEC_PER_SEC)

typedef struct UsbRepeat {
        char *identity;
        unsigned repeats;         /* blocks after the recorded first one */
        usec_t first_at, last_at; /* CLOCK_REALTIME of the first and the last repeat */
        usec_t seen_mono;         /* CLOCK_MONOTONIC of the last block */
        usec_t due;               /* CLOCK_MONOTONIC: seen_mono + window */
        void *payload;            /* the caller's latest record of it (freed with payload_free) */
} UsbRepeat;

typedef void (*UsbRepeatFree)(void *payload);

typedef struct UsbRepeatTable {
        UsbRepeat entries[USB_REPEAT_MAX];
        size_t n;
        UsbRepeatFree payload_free;
} UsbRepeatTable;

void usb_repeat_table_done(UsbRepeatTable *t);

/* A block of identity at now (CLOCK_MONOTONIC) / realtime. Returns 0 when it
 * is the first of its window (record it; it is remembered), 1 when it is a
 * repeat (counted; *ret is the entry, whose payload the caller may replace),
 * -ENOMEM. When a new identity evicts another that has repeats, the evicted
 * entry is moved to *ret_evicted (the caller records it, then
 * usb_repeat_clear()s it); otherwise ret_evicted->identity is NULL. */
int usb_repeat_note(UsbRepeatTable *t, const char *identity, usec_t window, usec_t now, usec_t realtime,
                    UsbRepeat **ret, UsbRepeat *ret_evicted);

/* When the earliest count is due, USEC_INFINITY when no count is held
 * (entries without repeats need no wakeup). */
usec_t usb_repeat_next_due(const UsbRepeatTable *t);

/* Moves one entry due at now that has repeats into *ret and returns true;
 * drops due entries without repeats on the way. False: nothing more is due. */
bool usb_repeat_pop_due(UsbRepeatTable *t, usec_t now, UsbRepeat *ret);

/* Frees what an entry holds. */
void usb_repeat_clear(UsbRepeatTable *t, UsbRepeat *r);
