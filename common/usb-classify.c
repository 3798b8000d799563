/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "string-table.h"
#include "text.h"
#include "usb-classify.h"

static const char *const usb_category_table[_USB_CATEGORY_MAX] = {
        [USB_CATEGORY_OTHER] = "other", [USB_CATEGORY_STORAGE] = "storage",     [USB_CATEGORY_MTP] = "mtp",
        [USB_CATEGORY_PTP] = "ptp",     [USB_CATEGORY_TETHERING] = "tethering",
};

DEFINE_STRING_TABLE_LOOKUP_FALLBACK(usb_category, UsbCategory, "other");

UsbCategory usb_category_primary(unsigned mask) {
        static const UsbCategory order[] = { USB_CATEGORY_STORAGE, USB_CATEGORY_MTP, USB_CATEGORY_PTP,
                                             USB_CATEGORY_TETHERING };
        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                if (mask & USB_CATEGORY_BIT(order[i]))
                        return order[i];
        return USB_CATEGORY_OTHER;
}

static bool usb_classify_word_mtp(const char *name) {
        for (const char *p = name; (p = strcasestr(p, "mtp")); p += 3) {
                bool left = p == name || !((p[-1] >= 'a' && p[-1] <= 'z') || (p[-1] >= 'A' && p[-1] <= 'Z'));
                bool right = !((p[3] >= 'a' && p[3] <= 'z') || (p[3] >= 'A' && p[3] <= 'Z'));
                if (left && right)
                        return true;
        }
        return false;
}

/* The name without its hidden code points (zero-width, joiners, controls, ...):
 * the device chooses its bytes, and "M\u200bTP" reads as MTP to a person. */
static bool usb_classify_announces_mtp(const char *name) {
        /* "MTP", "mtp", "Android MTP", "MTP Device": a word match is enough; a
         * false positive only means an interface waits for approval. */
        const unsigned char *s = (const unsigned char *) name;
        char buf[1024];
        size_t len, o = 0;

        if (!name)
                return false;
        len = strlen(name);
        for (size_t i = 0; i < len && o < sizeof buf - 1;) {
                size_t n = utf8_sequence_len(s + i, len - i);
                if (n == 0) { /* not UTF-8: kept, as a byte that is no letter */
                        buf[o++] = (char) s[i++];
                        continue;
                }
                if (!text_codepoint_is_hidden(utf8_decode(s + i, n))) {
                        if (o + n > sizeof buf - 1)
                                break;
                        memcpy(buf + o, s + i, n);
                        o += n;
                }
                i += n;
        }
        buf[o] = 0;
        return usb_classify_word_mtp(buf);
}

bool usb_class_name_decides(uint8_t cls) {
        return cls == 0xff || cls == 0x06;
}

bool usb_class_is_cdc_data(uint8_t cls) {
        return cls == 0x0a;
}

UsbCategory usb_classify_interface(uint8_t cls, uint8_t sub, uint8_t proto, const char *name) {
        switch (cls) {
        case 0x08: /* Mass Storage, every subclass: SCSI, UFI, UAS, ... */
                return USB_CATEGORY_STORAGE;

        case 0x06: /* Still Image: PTP cameras and phones in PTP mode; MTP rides on it too */
                return usb_classify_announces_mtp(name) ? USB_CATEGORY_MTP : USB_CATEGORY_PTP;

        case 0x02: /* CDC communication */
                switch (sub) {
                case 0x06: /* ECM */
                case 0x0a: /* MDLM (phone "BLAN" networking) */
                case 0x0c: /* EEM */
                case 0x0d: /* NCM (Android 11+ tethering) */
                case 0x0e: /* MBIM: a mobile broadband modem is a network path off the LAN */
                        return USB_CATEGORY_TETHERING;
                case 0x02: /* ACM: a serial modem, unless the protocol says RNDIS */
                        return proto == 0xff ? USB_CATEGORY_TETHERING : USB_CATEGORY_OTHER;
                default:
                        return USB_CATEGORY_OTHER;
                }

        case 0xe0: /* Wireless controller */
                /* 01/03 is RNDIS (Android USB tethering). 01/01 is a Bluetooth
                 * adapter: blocking it would take away wireless keyboards and
                 * mice, so it stays "other". */
                return sub == 0x01 && proto == 0x03 ? USB_CATEGORY_TETHERING : USB_CATEGORY_OTHER;

        case 0xef: /* Miscellaneous: 04/01 is RNDIS over Ethernet, 01/01 RNDIS
                    * of ActiveSync devices (both in rndis_host's table) */
                return (sub == 0x04 || sub == 0x01) && proto == 0x01 ? USB_CATEGORY_TETHERING : USB_CATEGORY_OTHER;

        case 0xff: /* Vendor specific */
                if (usb_classify_announces_mtp(name))
                        return USB_CATEGORY_MTP;
                if (sub == 0xfd && proto == 0x01) /* Apple iPhone USB Ethernet (ipheth) */
                        return USB_CATEGORY_TETHERING;
                if (sub == 0xfe && proto == 0x02) /* Apple usbmux: file access (AFC) through usbmuxd, gvfs */
                        return USB_CATEGORY_MTP;
                return USB_CATEGORY_OTHER;

        default:
                return USB_CATEGORY_OTHER;
        }
}

UsbCategory usb_classify_interface_udev(uint8_t cls, uint8_t sub, uint8_t proto, const char *name, unsigned udev_flags,
                                        const char **ret_by) {
        UsbCategory c = usb_classify_interface(cls, sub, proto, name);
        const char *by = NULL;

        /* Only what the class and name leave as "other" or "ptp" is raised:
         * mass storage stays storage, an iPhone's ipheth stays tethering. */
        if ((cls == 0xff || cls == 0x06) && (c == USB_CATEGORY_OTHER || c == USB_CATEGORY_PTP)) {
                if (udev_flags & USB_UDEV_MTP_DEVICE) {
                        c = USB_CATEGORY_MTP;
                        by = "ID_MTP_DEVICE";
                } else if (udev_flags & USB_UDEV_MEDIA_PLAYER) {
                        c = USB_CATEGORY_MTP;
                        by = "ID_MEDIA_PLAYER";
                } else if ((udev_flags & USB_UDEV_GPHOTO2) && c == USB_CATEGORY_OTHER) {
                        c = USB_CATEGORY_PTP;
                        by = "ID_GPHOTO2";
                }
        }
        if (ret_by)
                *ret_by = by;
        return c;
}
