/* SPDX-License-Identifier: MIT */
#pragma once

/* A UsbDevice is a snapshot of one USB device and its interfaces (read from
 * sysfs by common/usb-sysfs.c). Every string the device supplied is kept
 * twice: raw (for matching, never printed) and sanitized (for every output).
 * Pure: nothing here reads the system. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "usb-classify.h"
#include "usb-drivers.h"

/* What decided an interface's category. */
typedef enum UsbCategorySource {
        USB_CATEGORY_FROM_CLASS,     /* class triple (and name) */
        USB_CATEGORY_FROM_MODALIAS,  /* a driver the kernel would bind (module aliases) */
        USB_CATEGORY_FROM_DRIVER,    /* a driver that did bind */
        USB_CATEGORY_FROM_UDEV,      /* a property udev's rules set on the device (ID_MTP_DEVICE, ...) */
        USB_CATEGORY_FROM_ALTERNATE, /* another alternate setting of the same interface */
} UsbCategorySource;

/* Another alternate setting of an interface, from the raw descriptors: the
 * device (or a program holding it through usbfs) can switch to it any time. */
typedef struct UsbAltSetting {
        uint8_t alternate, cls, subclass, protocol;
} UsbAltSetting;

/* The kernel's USB_MAXALTSETTING: it uses no more of an interface's settings. */
#define USB_INTERFACE_MAX_ALTS 128

/* What mamorid wrote to an interface's authorized, while the device stays. */
typedef enum UsbInterfaceDone {
        USB_INTERFACE_UNTOUCHED,
        USB_INTERFACE_AUTHORIZED,
        USB_INTERFACE_BLOCKED,
} UsbInterfaceDone;

typedef struct UsbInterface {
        char *syspath; /* NULL when known only from the raw descriptors */
        char *sysname; /* "1-1:1.0" */
        uint8_t number, alternate;
        uint8_t cls, subclass, protocol;
        char *name_raw; /* iInterface text as the device sent it; classification only */
        char *name;     /* sanitized */
        UsbCategory category;
        int authorized; /* 1, 0, or -1 when unknown */
        char *driver;   /* bound now (sanitized) */

        char *modalias;      /* the kernel's "usb:v...p...", raw; NULL when not read */
        char *alias_modules; /* modules whose aliases match it, space-separated; NULL: not resolved */
        char *driver_seen;   /* a driver of a category seen bound here while the device stayed */
        UsbCategorySource category_source;
        /* the driver, module, udev property or alternate setting that decided the category (not FROM_CLASS) */
        char *category_by;
        UsbAltSetting alts[USB_INTERFACE_MAX_ALTS]; /* the other alternate settings */
        uint8_t n_alts;
        UsbInterfaceDone done;
        int block_error; /* the policy blocks it and the write of authorized=0 failed: -errno */
} UsbInterface;

typedef struct UsbDevice {
        char *syspath;
        char *sysname; /* bus path, e.g. "1-1.2": never part of the identity */
        unsigned busnum, devnum;
        uint16_t vendor, product;
        uint8_t device_class;
        int authorized;
        bool configured; /* bConfigurationValue set: interfaces exist */
        bool is_root_hub;

        bool has_serial;
        char *serial_raw; /* exact bytes, for matching */
        size_t serial_raw_len;
        char *serial;                      /* sanitized */
        char *serial_hex;                  /* hex of the raw bytes when sanitizing changed them */
        char *manufacturer, *product_name; /* sanitized */
        bool strings_truncated;

        UsbInterface *interfaces;
        size_t n_interfaces;
        bool interfaces_from_descriptors;
        unsigned udev_flags; /* USB_UDEV_* of usb-classify.h */
        unsigned categories; /* USB_CATEGORY_BIT() mask over the interfaces */
} UsbDevice;

UsbDevice *usb_device_free(UsbDevice *d);
DEFINE_POINTER_CLEANUP(UsbDevice, usb_device_free);

/* Builders (for usb-sysfs.c, the tests and the benchmarks); strings are copied and sanitized. */
UsbDevice *usb_device_new(const char *sysname, uint16_t vendor, uint16_t product, const char *serial, size_t serial_len);
int usb_device_add_interface(UsbDevice *d, const char *sysname, uint8_t cls, uint8_t subclass, uint8_t protocol,
                             const char *name, int authorized);

/* A string the device supplied, for every output: sanitized (text.h) and cut
 * at TEXT_DEVICE_MAX bytes, setting *truncated (may be NULL) when cut. NULL
 * for NULL, and on OOM. */
char *usb_device_sanitize(const char *s, bool *truncated);

/* Classify every interface and fill d->categories. Pure. An interface's
 * category is the first, storage first, of what its class says, what the
 * drivers its modalias resolves to are (alias_modules) and what a driver
 * bound to it is (driver, driver_seen), after the table of usb-drivers.h and
 * the admin's entries (extra). */
void usb_device_classify_with(UsbDevice *d, const UsbDriverEntry *extra, size_t n_extra);
/* By class and the built-in driver table only. */
void usb_device_classify(UsbDevice *d);

/* "0781:5567" into buf. */
char *usb_device_id(const UsbDevice *d, char buf[static 10]);
