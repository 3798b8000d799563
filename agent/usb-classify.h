/* SPDX-License-Identifier: MIT */
#pragma once

/* Interface triple (+ interface string) -> category. Pure: no I/O. */

#include <stdbool.h>
#include <stdint.h>

typedef enum UsbCategory {
        USB_CATEGORY_OTHER = 0, /* HID, audio, hubs, ...: never touched */
        USB_CATEGORY_STORAGE,
        USB_CATEGORY_MTP,
        USB_CATEGORY_PTP,
        USB_CATEGORY_TETHERING,
        _USB_CATEGORY_MAX,
} UsbCategory;

#define USB_CATEGORY_BIT(c) (1u << (c))
#define USB_CATEGORIES_BLOCKABLE                                                   \
        (USB_CATEGORY_BIT(USB_CATEGORY_STORAGE) | USB_CATEGORY_BIT(USB_CATEGORY_MTP) | \
         USB_CATEGORY_BIT(USB_CATEGORY_PTP) | USB_CATEGORY_BIT(USB_CATEGORY_TETHERING))

const char *usb_category_to_string(UsbCategory c);
int usb_category_from_string(const char *s); /* -EINVAL if unknown */

/* The most telling category of a mask, for one-word summaries (storage first). */
UsbCategory usb_category_primary(unsigned mask);

/* interface_name is the iInterface string (may be NULL): MTP responders announce
 * themselves there ("MTP"), whatever their class triple says. */
UsbCategory usb_classify_interface(uint8_t cls, uint8_t subclass, uint8_t protocol,
                                   const char *interface_name);

/* A CDC Data interface (class 0x0a) carries the traffic of the communication
 * interface beside it: it is tethering when the device has a tethering
 * function, and harmless (a serial adapter's data pipe) otherwise. */
bool usb_class_is_cdc_data(uint8_t cls);

/* Classes whose category the interface's name can change (ff and 06 are MTP
 * when they say so): an interface of these must be named before it is let in. */
bool usb_class_name_decides(uint8_t cls);
