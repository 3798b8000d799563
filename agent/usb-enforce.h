/* SPDX-License-Identifier: MIT */
#pragma once

/* USB enforcement: takes uevents from the monitor, reads the device,
 * classifies, asks the policy, writes `authorized`, and reports each new
 * decision as one event (after a short settle, since interfaces arrive one
 * uevent at a time; blocking itself never waits). */

#include <stdbool.h>

#include <systemd/sd-device.h>

#include "macro.h"
#include "usb-device.h"

typedef struct Manager Manager;
typedef struct UsbEnforcer UsbEnforcer;

int usb_enforcer_new(Manager *m, UsbEnforcer **ret);
UsbEnforcer *usb_enforcer_free(UsbEnforcer *u);
DEFINE_POINTER_CLEANUP(UsbEnforcer, usb_enforcer_free);

/* The UsbMonitorHandler. */
void usb_enforcer_handle(sd_device *dev, sd_device_action_t action, bool scan, void *userdata);

/* Re-reads and re-decides every tracked device (policy changed, time passed). */
void usb_enforcer_reevaluate(UsbEnforcer *u);

/* Sends every pending report now (shutdown). */
void usb_enforcer_flush(UsbEnforcer *u);

/* Visit tracked devices (mamorictl devices). */
typedef void (*UsbEnforcerVisit)(const UsbDevice *d, void *userdata);
void usb_enforcer_foreach(UsbEnforcer *u, UsbEnforcerVisit visit, void *userdata);
size_t usb_enforcer_count(UsbEnforcer *u);

/* Are interfaces resolved against the kernel's module aliases? ret_dir: the
 * modules directory in use or looked for. */
bool usb_enforcer_aliases_available(UsbEnforcer *u, const char **ret_dir);
