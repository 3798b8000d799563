/* SPDX-License-Identifier: MIT */
#pragma once

/* (device, decision) -> Event. Pure: no I/O, testable on its own. */

#include "event.h"
#include "policy.h"
#include "usb-device.h"

/* The words an event uses for what happened to an interface. */
const char *usb_report_interface_action(const Decision *dec, const UsbInterface *i);
/* "its bound driver", "the udev property", ...: what decided an interface's category, for texts. */
const char *usb_category_source_phrase(UsbCategorySource s);

/* Builds usb.blocked or usb.allowed. previously_blocked marks an allowed event
 * that lifts an earlier block (reload, new entry). */
int usb_report_build(const Policy *p, const UsbDevice *d, const Decision *dec, Event **ret);

/* usb.expiring: the approval that allows d (dec) ends at dec->changes_at. */
/* usb.readonly_violated (issue 14): a device approved read-only has a
 * writable block device (what: "not_read_only", where: its name) or a file
 * system mounted read-write ("mounted_read_write", the mount point). */
int usb_report_build_readonly_violated(const Policy *p, const UsbDevice *d, const Decision *dec, const char *what,
                                       const char *where, Event **ret);
int usb_report_build_expiring(const Policy *p, const UsbDevice *d, const Decision *dec, usec_t now, Event **ret);

/* The "device" member of a USB event, and the "rule" member of its decision
 * (also what `mamorictl devices --json` shows for each device). */
void usb_report_write_device(JsonWriter *w, const UsbDevice *d, const Decision *dec);
void usb_report_write_rule(JsonWriter *w, const AllowEntry *e);
/* key: [ "storage", ... ], the names of the categories in mask. */
void usb_report_write_categories(JsonWriter *w, const char *key, unsigned mask);
/* One English sentence: why the decision is what it is. */
const char *usb_report_explanation(const UsbDevice *d, const Decision *dec);

/* A short key of what an event would say; a new event is due when it changes. */
char *usb_report_key(const UsbDevice *d, const Decision *dec);

/* A device's identity and its decision, for coalescing repeated blocks
 * (usb-repeat.h): vendor:product:serial, action, reason, categories; never
 * the port. */
char *usb_report_identity(const UsbDevice *d, const Decision *dec);
