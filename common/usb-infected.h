/* SPDX-License-Identifier: MIT */
#pragma once

/* USB devices found infected by the scan of media from outside (issue 15
 * item 3, 第7-3ア): the decision for them, and the identities remembered
 * (pure: the enforcer owns the set, the unit tests drive it).
 *
 * A stick on which clamd found malware is blocked whatever an allow entry
 * says, and stays blocked when it is plugged in again, for as long as
 * mamorid runs. It is remembered by its identity: vendor, product and the
 * exact bytes of its serial. A device without a serial cannot be told from
 * the others of its model, so it is not remembered here: the enforcer keeps
 * it blocked only until it is unplugged. At most USB_INFECTED_MAX identities
 * are held; the oldest is dropped for a new one (the caller logs it). Nothing
 * is written to disk: restarting mamori.service or a reboot forgets them
 * (docs/lock-and-antivirus.md). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "usb-device.h"

#define USB_INFECTED_MAX 64
/* A cause is an event id (a UUID, 36 characters). */
#define USB_INFECTED_CAUSE_MAX 37

typedef struct UsbInfected {
        uint16_t vendor, product;
        char *serial; /* exact bytes (NUL-terminated copy) */
        size_t serial_len;
        char cause[USB_INFECTED_CAUSE_MAX]; /* the av.detection's event id; "" when not known */
} UsbInfected;

typedef struct UsbInfectedSet {
        UsbInfected entries[USB_INFECTED_MAX]; /* oldest first */
        size_t n;
} UsbInfectedSet;

void usb_infected_clear(UsbInfected *e);
void usb_infected_set_done(UsbInfectedSet *s);

/* Remembers d as infected, by cause (NULL or ""; longer than an event id is
 * cut). 0: remembered; 1: known already (its first cause is kept); -ENODATA:
 * d has no serial (not remembered); -ENOMEM. When the set was full, the
 * oldest entry is moved to *ret_dropped (the caller logs, then clears it);
 * otherwise ret_dropped->serial is NULL. */
int usb_infected_add(UsbInfectedSet *s, const UsbDevice *d, const char *cause, UsbInfected *ret_dropped);

/* The entry of d's identity, or NULL (always NULL for a device without a serial). */
const UsbInfected *usb_infected_find(const UsbInfectedSet *s, const UsbDevice *d);

/* The decision for a device found infected: blocked, whatever allowed it,
 * with reason DECISION_INFECTED; the interfaces that carry files (storage,
 * MTP, PTP) are blocked even when the policy does not block their category.
 * The entry that would have allowed it is kept (the event names it). */
void decision_set_infected(Decision *dec, const UsbDevice *d);

/* The same for a device of a category outside USB (an SD card: category
 * DEVICE_CATEGORY_MMC), whatever allows it or whether the category is blocked. */
void decision_set_infected_device(Decision *dec, DeviceCategory category);
