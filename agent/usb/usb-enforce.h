/* SPDX-License-Identifier: MIT */
#pragma once

/* USB enforcement: takes uevents from the monitor, reads the device,
 * classifies, asks the policy, writes `authorized`, and reports each new
 * decision as one event (after a short settle, since interfaces arrive one
 * uevent at a time; blocking itself never waits). */

#include <stdbool.h>
#include <sys/types.h>

#include <systemd/sd-device.h>

#include "event-sink.h"
#include "macro.h"
#include "policy.h"
#include "usb-device.h"
#include "usb-unmount.h"

typedef struct UsbEnforcer UsbEnforcer;

/* What the enforcer asks of the rest of mamorid; each may be NULL. */
typedef struct UsbEnforcerHooks {
        /* After a batch of reports or a removal: the counts changed
         * (systemd's status line). */
        void (*changed)(void *userdata);
        /* usb_unmount_start() on the system bus: the mounts of a device in
         * use are unmounted before it is blocked. Without it, such a device
         * is blocked at once. */
        int (*unmount_start)(void *userdata, MountList *mounts, dev_t *devs, size_t n_devs, UsbUnmountDone done,
                             void *done_userdata, UsbUnmount **ret);
} UsbEnforcerHooks;

/* runtime_dir: where the record of told devices is kept (usb-told.h).
 * emitter takes usb.blocked, usb.allowed and usb.expiring with the device
 * and its decision as their context (a notice names the device). Nothing is
 * decided before usb_enforcer_set_policy(). */
int usb_enforcer_new(sd_event *event, const char *runtime_dir, EventEmitter emitter, const UsbEnforcerHooks *hooks,
                     void *userdata, UsbEnforcer **ret);
UsbEnforcer *usb_enforcer_free(UsbEnforcer *u);
DEFINE_POINTER_CLEANUP(UsbEnforcer, usb_enforcer_free);

/* The policy in force: at start and after every reload that took (takes a
 * reference). It applies from the next decision on; the rescan that follows
 * a reload decides the plugged devices again. */
void usb_enforcer_set_policy(UsbEnforcer *u, Policy *p);

/* The UsbMonitorHandler. */
void usb_enforcer_handle(sd_device *dev, sd_device_action_t action, bool scan, void *userdata);

/* Re-reads and re-decides every tracked device (policy changed, time passed). */
void usb_enforcer_reevaluate(UsbEnforcer *u);

/* Malware was found on a file system of block device devnum (the media
 * scan, issue 15 item 3; told by the manager, av -> manager -> here). The
 * USB device below it (or below the disks of a device-mapper or md device)
 * is blocked with reason "infected": its file systems unmounted first, its
 * storage interfaces de-authorized whatever allows it, usb.blocked with
 * cause (the finding's event id; may be NULL). It stays blocked until
 * unplugged, and when plugged in again if it has a serial (remembered by
 * identity until mamorid exits). 0, -ENODEV when devnum is on no USB
 * device, or another negative errno. */
int usb_enforcer_block_infected(UsbEnforcer *u, dev_t devnum, const char *cause);

/* Was d (a device the enforcer visits) found infected, this plug or by its
 * identity? Its decision is then decision_set_infected()'s (mamorictl
 * devices shows what was acted on). */
bool usb_enforcer_is_infected(UsbEnforcer *u, const UsbDevice *d);

/* Sends every pending report now (shutdown). */
void usb_enforcer_flush(UsbEnforcer *u);

/* Visit tracked devices (mamorictl devices). */
typedef void (*UsbEnforcerVisit)(const UsbDevice *d, void *userdata);
void usb_enforcer_foreach(UsbEnforcer *u, UsbEnforcerVisit visit, void *userdata);
/* What status says of USB, counted the same for mamorictl status and
 * systemd's status line: devices (root hubs not counted), and those of them
 * with an interface of a blocked category that is not authorized; root hubs,
 * and those of them whose new interfaces start authorized (as last seen: at
 * their uevent, the start's scan or a reload). */
typedef struct UsbCounts {
        size_t devices, blocked, root_hubs, root_hubs_open;
} UsbCounts;
UsbCounts usb_enforcer_counts(UsbEnforcer *u);

/* Are interfaces resolved against the kernel's module aliases? ret_dir: the
 * modules directory in use or looked for. */
bool usb_enforcer_aliases_available(UsbEnforcer *u, const char **ret_dir);
