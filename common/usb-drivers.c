/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <string.h>

#include "macro.h"
#include "usb-drivers.h"

#define S USB_CATEGORY_STORAGE
#define T USB_CATEGORY_TETHERING

/* Keep in step with docs/device-enforcement.md ("Drivers"). Driver names as in
 * /sys/bus/usb/drivers/; module names match them with '_' for '-'. */
static const struct {
        const char *name;
        UsbCategory category;
} builtin[] = {
        /* USB mass storage, and the drivers that take unusual devices by id
         * whatever class they announce (drivers/usb/storage) */
        { "usb-storage", S },
        { "uas", S },
        { "ums-alauda", S },
        { "ums-cypress", S },
        { "ums-datafab", S },
        { "ums-eneub6250", S },
        { "ums-freecom", S },
        { "ums-isd200", S },
        { "ums-jumpshot", S },
        { "ums-karma", S },
        { "ums-onetouch", S },
        { "ums-realtek", S },
        { "ums-sddr09", S },
        { "ums-sddr55", S },
        { "ums-usbat", S },
        /* card readers on vendor-specific interfaces that give an SD or
         * Memory Stick card a block device */
        { "rtsx_usb", S },
        { "ushc", S },
        { "vub300", S },
        /* tethering and mobile broadband: a network path off the LAN */
        { "rndis_host", T },
        { "cdc_ether", T },
        { "cdc_eem", T },
        { "cdc_ncm", T },
        { "cdc_mbim", T },
        { "huawei_cdc_ncm", T },
        { "cdc_subset", T },
        { "ipheth", T },
        { "qmi_wwan", T },
        { "sierra_net", T },
        { "kalmia", T },
        { "zaurus", T },
        { "cdc_phonet", T },
        /* host-to-host cables: a network link to another computer, as much a
         * path off the LAN as a phone (usbnet) */
        { "plusb", T },
        { "net1080", T },
        { "gl620a", T },
        /* MTP and PTP have no kernel driver: user space (libmtp, gphoto2,
         * usbmuxd) reaches them through usbfs. */
};

#undef S
#undef T

static char usb_driver_fold(char c) {
        return c == '-' ? '_' : c;
}

static bool usb_driver_name_equal_n(const char *a, size_t alen, const char *b) {
        size_t i;
        for (i = 0; i < alen && b[i]; i++)
                if (usb_driver_fold(a[i]) != usb_driver_fold(b[i]))
                        return false;
        return i == alen && b[i] == 0;
}

bool usb_driver_name_equal(const char *a, const char *b) {
        if (!a || !b)
                return false;
        return usb_driver_name_equal_n(a, strlen(a), b);
}

bool usb_driver_name_valid(const char *name) {
        size_t n;
        if (!name)
                return false;
        n = strlen(name);
        if (n == 0 || n > USB_DRIVER_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
                        return false;
        }
        return true;
}

static UsbCategory usb_driver_category_n(const UsbDriverEntry *extra, size_t n_extra, const char *name, size_t len) {
        if (len == 0)
                return USB_CATEGORY_OTHER;
        for (size_t i = 0; i < n_extra; i++)
                if (usb_driver_name_equal_n(name, len, extra[i].name))
                        return extra[i].category;
        for (size_t i = 0; i < ELEMENTSOF(builtin); i++)
                if (usb_driver_name_equal_n(name, len, builtin[i].name))
                        return builtin[i].category;
        return USB_CATEGORY_OTHER;
}

UsbCategory usb_driver_category(const UsbDriverEntry *extra, size_t n_extra, const char *name) {
        assert(extra || n_extra == 0);

        if (!name)
                return USB_CATEGORY_OTHER;
        return usb_driver_category_n(extra, n_extra, name, strlen(name));
}

size_t usb_driver_builtin_count(void) {
        return ELEMENTSOF(builtin);
}

const char *usb_driver_builtin(size_t i, UsbCategory *ret_category) {
        if (i >= ELEMENTSOF(builtin))
                return NULL;
        if (ret_category)
                *ret_category = builtin[i].category;
        return builtin[i].name;
}

UsbCategory usb_driver_list_category(const UsbDriverEntry *extra, size_t n_extra, const char *list,
                                     const char **ret_name, size_t *ret_len) {
        UsbCategory best = USB_CATEGORY_OTHER;
        const char *best_name = NULL;
        size_t best_len = 0;

        assert(extra || n_extra == 0);

        for (const char *p = list; p && *p;) {
                size_t len = strcspn(p, " ");
                UsbCategory c = usb_driver_category_n(extra, n_extra, p, len);
                if (c != USB_CATEGORY_OTHER &&
                    (best == USB_CATEGORY_OTHER ||
                     usb_category_primary(USB_CATEGORY_BIT(c) | USB_CATEGORY_BIT(best)) == c) &&
                    c != best) {
                        best = c;
                        best_name = p;
                        best_len = len;
                }
                p += len;
                p += strspn(p, " ");
        }
        if (ret_name)
                *ret_name = best_name;
        if (ret_len)
                *ret_len = best_len;
        return best;
}

static bool usb_driver_list_has(const char *list, const char *name) {
        size_t n = strlen(name);
        for (const char *p = list; p && *p;) {
                size_t l = strcspn(p, " ");
                if (l == n && memcmp(p, name, n) == 0)
                        return true;
                p += l;
                p += strspn(p, " ");
        }
        return false;
}

int usb_driver_list_add(char **list, const char *name) {
        char *n;

        assert(list);
        assert(name);
        if (usb_driver_list_has(*list, name))
                return 0;
        if (asprintf(&n, "%s%s%s", strempty(*list), isempty(*list) ? "" : " ", name) < 0)
                return -ENOMEM;
        free(*list);
        *list = n;
        return 0;
}
