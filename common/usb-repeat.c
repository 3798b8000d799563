/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "usb-repeat.h"

void usb_repeat_clear(UsbRepeatTable *t, UsbRepeat *r) {
        assert(t);
        assert(r);

        free(r->identity);
        if (r->payload && t->payload_free)
                t->payload_free(r->payload);
        *r = (UsbRepeat){ 0 };
}

void usb_repeat_table_done(UsbRepeatTable *t) {
        assert(t);

        for (size_t i = 0; i < t->n; i++)
                usb_repeat_clear(t, &t->entries[i]);
        t->n = 0;
}

static void usb_repeat_remove_at(UsbRepeatTable *t, size_t i) {
        t->entries[i] = t->entries[--t->n];
        t->entries[t->n] = (UsbRepeat){ 0 };
}

int usb_repeat_note(UsbRepeatTable *t, const char *identity, usec_t window, usec_t now, usec_t realtime,
                    UsbRepeat **ret, UsbRepeat *ret_evicted) {
        UsbRepeat *r;
        char *id;

        assert(t);
        assert(identity);
        assert(ret);
        assert(ret_evicted);

        *ret_evicted = (UsbRepeat){ 0 };
        *ret = NULL;
        for (size_t i = 0; i < t->n; i++) {
                r = &t->entries[i];
                if (!streq(r->identity, identity))
                        continue;
                if (r->due > now) {
                        if (r->repeats == 0)
                                r->first_at = realtime;
                        r->repeats++;
                        r->last_at = realtime;
                        r->seen_mono = now;
                        r->due = now + window;
                        *ret = r;
                        return 1;
                }
                if (r->repeats == 0) {
                        /* Its window has closed with nothing to say: a first again. */
                        r->seen_mono = now;
                        r->due = now + window;
                        *ret = r;
                        return 0;
                }
                /* Its window has closed but its count is not recorded yet:
                 * that stays for the timer; this block starts anew. */
        }

        id = strdup(identity);
        if (!id)
                return -ENOMEM;
        if (t->n == USB_REPEAT_MAX) {
                size_t oldest = 0;
                for (size_t i = 1; i < t->n; i++)
                        if (t->entries[i].seen_mono < t->entries[oldest].seen_mono)
                                oldest = i;
                if (t->entries[oldest].repeats > 0)
                        *ret_evicted = t->entries[oldest];
                else
                        usb_repeat_clear(t, &t->entries[oldest]);
                t->entries[oldest] = (UsbRepeat){ 0 };
                usb_repeat_remove_at(t, oldest);
        }
        r = &t->entries[t->n++];
        *r = (UsbRepeat){ .identity = id, .seen_mono = now, .due = now + window };
        *ret = r;
        return 0;
}

usec_t usb_repeat_next_due(const UsbRepeatTable *t) {
        usec_t next = USEC_INFINITY;

        assert(t);

        /* An entry without repeats has nothing to record: no wakeup for it
         * (it is reused, evicted or dropped later). */
        for (size_t i = 0; i < t->n; i++)
                if (t->entries[i].repeats > 0)
                        next = MIN(next, t->entries[i].due);
        return next;
}

bool usb_repeat_pop_due(UsbRepeatTable *t, usec_t now, UsbRepeat *ret) {
        size_t i = 0;

        assert(t);
        assert(ret);

        while (i < t->n) {
                UsbRepeat *r = &t->entries[i];
                if (r->due > now) {
                        i++;
                        continue;
                }
                if (r->repeats > 0) {
                        *ret = *r;
                        *r = (UsbRepeat){ 0 };
                        usb_repeat_remove_at(t, i);
                        return true;
                }
                usb_repeat_clear(t, r);
                usb_repeat_remove_at(t, i);
        }
        return false;
}
