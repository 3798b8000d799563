/* SPDX-License-Identifier: MIT */
#pragma once

/* Source: udev events of the usb subsystem, plus one scan of the devices
 * that were already there. The monitor starts before the scan, so a uevent
 * that arrives during the scan waits in the socket and is handled after it:
 * nothing is lost, and handling a device twice is harmless because every
 * decision is recomputed from sysfs. */

#include <stdbool.h>

#include <systemd/sd-device.h>
#include <systemd/sd-event.h>

#include "macro.h"

typedef struct UsbMonitor UsbMonitor;

/* scan is true for devices found by the initial enumeration. */
typedef void (*UsbMonitorHandler)(sd_device *dev, sd_device_action_t action, bool scan, void *userdata);

int usb_monitor_new(sd_event *event, UsbMonitorHandler handler, void *userdata, UsbMonitor **ret);
UsbMonitor *usb_monitor_free(UsbMonitor *m);
DEFINE_POINTER_CLEANUP(UsbMonitor, usb_monitor_free);

/* Starts listening, then enumerates present devices (parents first). */
int usb_monitor_start(UsbMonitor *m);
/* Enumerates again (reload, expiry): the handler sees every present device. */
int usb_monitor_scan(UsbMonitor *m);
