/* SPDX-License-Identifier: MIT */
#pragma once

/* The buses and categories of removable devices that mamori decides on, in
 * one place: each category's bus and the identity an allow entry names it by
 * (docs/device-enforcement.md has the same table for people). USB keeps its
 * own richer identity (vendor:product:serial, common/usb-device.h); the other
 * buses are identified by a few sysfs or udev strings, kept verbatim and
 * checked here, so that an allow entry and a device compare as strings. Pure. */

#include <stdbool.h>
#include <stddef.h>

typedef enum DeviceBus {
        DEVICE_BUS_USB,
        DEVICE_BUS_MMC,         /* SD/MMC cards in built-in readers (sdhci, rtsx_pci) */
        DEVICE_BUS_OPTICAL,     /* CD/DVD/BD drives (sr), on any transport */
        DEVICE_BUS_THUNDERBOLT, /* Thunderbolt and USB4 devices */
        DEVICE_BUS_FIREWIRE,    /* IEEE 1394 units (SBP-2 storage) */
        _DEVICE_BUS_MAX,
} DeviceBus;

/* The most identity fields a bus has (mmc: manfid, oemid, name, serial, date). */
#define DEVICE_ID_MAX 5
/* The longest identity value accepted (an optical drive's ID_SERIAL). */
#define DEVICE_ID_VALUE_MAX 256

const char *device_bus_to_string(DeviceBus b);
int device_bus_from_string(const char *s);

/* The identity keys of a bus, NULL-terminated, in the order of
 * AllowEntry.id[] and of a device's identity array. USB: none (it has its own). */
const char *const *device_bus_id_keys(DeviceBus b);
size_t device_bus_n_id_keys(DeviceBus b);
/* Whether v is a well-formed value of the bus's key number k, as sysfs or udev
 * prints it (mmc manfid "0x000003", thunderbolt unique_id a UUID, ...). */
bool device_bus_id_valid(DeviceBus b, size_t k, const char *v);
/* Puts a valid value of key number k in the form the kernel prints: hex and
 * UUID values in lower case ("0X1A2B3C4D" -> "0x1a2b3c4d"), so that an allow
 * entry typed in upper case still names the card; text values stay as they
 * are (a card's name is case-sensitive). In place; a no-op for other keys. */
void device_bus_id_normalize(DeviceBus b, size_t k, char *v);
/* A human description of the key's format, for config errors and docs. */
const char *device_bus_id_format(DeviceBus b, size_t k);

/* Categories outside USB (the USB ones are UsbCategory: storage, mtp, ptp,
 * tethering). A category is what `devices.block` lists. */
typedef enum DeviceCategory {
        DEVICE_CATEGORY_MMC,           /* an SD/MMC card: held back from its driver */
        DEVICE_CATEGORY_OPTICAL_WRITE, /* an optical drive: the seat user loses write access (burning) */
        DEVICE_CATEGORY_OPTICAL,       /* an optical drive: blocked as a whole */
        DEVICE_CATEGORY_THUNDERBOLT,   /* a Thunderbolt/USB4 device: not authorized */
        DEVICE_CATEGORY_FIREWIRE,      /* a FireWire SBP-2 storage unit: not bound */
        _DEVICE_CATEGORY_MAX,
} DeviceCategory;

#define DEVICE_CATEGORY_BIT(c) (1u << (c))
/* What is blocked when the configuration does not say: every category, with
 * optical drives at the write level (reading a disc from outside stays
 * possible; see docs/device-enforcement.md). */
#define DEVICE_CATEGORIES_DEFAULT \
        (DEVICE_CATEGORY_BIT(DEVICE_CATEGORY_MMC) | DEVICE_CATEGORY_BIT(DEVICE_CATEGORY_OPTICAL_WRITE) | \
         DEVICE_CATEGORY_BIT(DEVICE_CATEGORY_THUNDERBOLT) | DEVICE_CATEGORY_BIT(DEVICE_CATEGORY_FIREWIRE))
/* Fail-closed (no valid configuration): everything. */
#define DEVICE_CATEGORIES_ALL ((1u << _DEVICE_CATEGORY_MAX) - 1)

const char *device_category_to_string(DeviceCategory c);
int device_category_from_string(const char *s);
DeviceBus device_category_bus(DeviceCategory c);
