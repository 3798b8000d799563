/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "usb-classify.h"
#include "usb-infected.h"

/* What a file can be carried on: what an infected device must lose. */
#define USB_INFECTED_CATEGORIES \
        (USB_CATEGORY_BIT(USB_CATEGORY_STORAGE) | USB_CATEGORY_BIT(USB_CATEGORY_MTP) | \
         USB_CATEGORY_BIT(USB_CATEGORY_PTP))

void usb_infected_clear(UsbInfected *e) {
        assert(e);

        free(e->serial);
        *e = (UsbInfected){ 0 };
}

void usb_infected_set_done(UsbInfectedSet *s) {
        assert(s);

        for (size_t i = 0; i < s->n; i++)
                usb_infected_clear(&s->entries[i]);
        s->n = 0;
}

static bool usb_infected_matches(const UsbInfected *e, const UsbDevice *d) {
        return e->vendor == d->vendor && e->product == d->product && e->serial_len == d->serial_raw_len &&
               memcmp(e->serial, d->serial_raw, d->serial_raw_len) == 0;
}

const UsbInfected *usb_infected_find(const UsbInfectedSet *s, const UsbDevice *d) {
        assert(s);
        assert(d);

        if (!d->has_serial || !d->serial_raw)
                return NULL;
        for (size_t i = 0; i < s->n; i++)
                if (usb_infected_matches(&s->entries[i], d))
                        return &s->entries[i];
        return NULL;
}

int usb_infected_add(UsbInfectedSet *s, const UsbDevice *d, const char *cause, UsbInfected *ret_dropped) {
        UsbInfected e = { 0 };

        assert(s);
        assert(d);
        assert(ret_dropped);

        *ret_dropped = (UsbInfected){ 0 };
        if (!d->has_serial || !d->serial_raw)
                return -ENODATA;
        if (usb_infected_find(s, d))
                return 1;
        e.vendor = d->vendor;
        e.product = d->product;
        e.serial_len = d->serial_raw_len;
        e.serial = malloc(d->serial_raw_len + 1);
        if (!e.serial)
                return -ENOMEM;
        memcpy(e.serial, d->serial_raw, d->serial_raw_len);
        e.serial[d->serial_raw_len] = 0;
        if (cause)
                (void) snprintf(e.cause, sizeof e.cause, "%s", cause);
        if (s->n == USB_INFECTED_MAX) {
                *ret_dropped = s->entries[0];
                memmove(&s->entries[0], &s->entries[1], (USB_INFECTED_MAX - 1) * sizeof s->entries[0]);
                s->n--;
        }
        s->entries[s->n++] = e;
        return 0;
}

void decision_set_infected_device(Decision *dec, DeviceCategory category) {
        assert(dec);

        dec->relevant = true;
        dec->allow = false;
        dec->reason = DECISION_INFECTED;
        dec->blocked_categories |= DEVICE_CATEGORY_BIT(category);
        dec->changes_at = USEC_INFINITY;
        dec->access = ALLOW_ACCESS_READ_WRITE;
}

void decision_set_infected(Decision *dec, const UsbDevice *d) {
        unsigned carriers;

        assert(dec);
        assert(d);

        carriers = d->categories & USB_INFECTED_CATEGORIES;
        dec->relevant = true;
        dec->allow = false;
        dec->reason = DECISION_INFECTED;
        /* a device that showed no storage had its block device from
         * somewhere: storage is what is blocked then */
        dec->blocked_categories |= carriers ? carriers : USB_CATEGORY_BIT(USB_CATEGORY_STORAGE);
        dec->changes_at = USEC_INFINITY; /* no expiry lets it in again */
        dec->access = ALLOW_ACCESS_READ_WRITE;
}
