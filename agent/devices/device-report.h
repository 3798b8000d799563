/* SPDX-License-Identifier: MIT */
#pragma once

/* Removable devices outside USB (common/device-bus.h): one snapshot shape for
 * every bus, and the events built from it (device.blocked, device.allowed,
 * device.block_failed). Pure: no I/O, testable on its own. Each bus module
 * (agent/devices/<bus>.c) reads sysfs/udev into a RemovableDevice, asks
 * policy_decide_device() and builds its event here, so the central team sees
 * one event shape for every bus (docs/events.md, "device"). */

#include "device-bus.h"
#include "event.h"
#include "notice-text.h"
#include "policy.h"

typedef struct RemovableDevice {
        DeviceBus bus;
        DeviceCategory category;
        char *syspath;
        char *sysname; /* "mmc0:aaaa", "sr0", "0-1", "fw1": where it is, never its identity */
        /* The identity values in device_bus_id_keys() order, exactly as read
         * and only when device_bus_id_valid(): NULL for a value the device
         * lacks or that is malformed (then no entry can match it). */
        char *id[DEVICE_ID_MAX];
        char *vendor, *model; /* sanitized, for people; optional */
        char *driver;         /* bound now (sanitized); NULL: none */
        int block_error;      /* the block was refused by the kernel: -errno; 0 otherwise */
} RemovableDevice;

RemovableDevice *removable_device_new(DeviceBus bus, DeviceCategory category, const char *syspath, const char *sysname);
RemovableDevice *removable_device_free(RemovableDevice *d);
DEFINE_POINTER_CLEANUP(RemovableDevice, removable_device_free);

/* Sets identity value k from what the device (sysfs, udev) says: kept only
 * when well-formed (device_bus_id_valid()); returns 0 when kept, -EINVAL when
 * refused (the value stays NULL), -ENOMEM. */
int removable_device_set_id(RemovableDevice *d, size_t k, const char *value);
/* Sets vendor/model/driver from device text: sanitized (common/text.h). */
int removable_device_set_text(char **field, const char *value);

/* The device as a notice names it (common/notice-text.h): pointers into d,
 * valid while d is. */
void device_report_notice_device(const RemovableDevice *d, NoticeDevice *ret);

/* The "device" member of its events (and of `mamorictl devices --json`). */
void device_report_write_device(JsonWriter *w, const RemovableDevice *d);
/* Builds device.blocked, device.block_failed or device.allowed. */
int device_report_build(const Policy *p, const RemovableDevice *d, const Decision *dec, Event **ret);
/* One English sentence: why the decision is what it is. */
const char *device_report_explanation(const RemovableDevice *d, const Decision *dec);
