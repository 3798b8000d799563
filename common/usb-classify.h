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
 * themselves there ("MTP"), whatever their class triple says. The word is
 * matched after the code points that show as nothing (text_codepoint_is_hidden())
 * are taken out: "M\u200bTP" is MTP. */
UsbCategory usb_classify_interface(uint8_t cls, uint8_t subclass, uint8_t protocol,
                                   const char *interface_name);

/* What udev's rules said of the whole device (properties of the usb_device in
 * the udev database): libmtp's 69-libmtp.rules (its vid:pid table, and
 * mtp-probe, which asks the device for Microsoft's OS descriptor),
 * media-player-info's ID_MEDIA_PLAYER, libgphoto2's ID_GPHOTO2. A phone or
 * player need not name its MTP interface "MTP"; these know it by its id. */
enum {
        USB_UDEV_MTP_DEVICE = 1u << 0,  /* ID_MTP_DEVICE=1 */
        USB_UDEV_MEDIA_PLAYER = 1u << 1, /* ID_MEDIA_PLAYER set */
        USB_UDEV_GPHOTO2 = 1u << 2,     /* ID_GPHOTO2=1 */
};

/* As usb_classify_interface(), and an interface of class ff or 06 on a device
 * that udev knows as an MTP device or media player is mtp, on a camera
 * (ID_GPHOTO2) ptp, when its class and name alone make it less. *ret_by (may
 * be NULL) gets the property that decided, or NULL when udev changed nothing. */
UsbCategory usb_classify_interface_udev(uint8_t cls, uint8_t subclass, uint8_t protocol,
                                        const char *interface_name, unsigned udev_flags, const char **ret_by);

/* A CDC Data interface (class 0x0a) carries the traffic of the communication
 * interface beside it: it is tethering when the device has a tethering
 * function, and harmless (a serial adapter's data pipe) otherwise. */
bool usb_class_is_cdc_data(uint8_t cls);

/* Classes whose category the interface's name can change (ff and 06 are MTP
 * when they say so): an interface of these must be named before it is let in. */
bool usb_class_name_decides(uint8_t cls);
