/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "usb-device.h"

static void usb_interface_done(UsbInterface *i) {
        free(i->syspath);
        free(i->sysname);
        free(i->name_raw);
        free(i->name);
        free(i->driver);
        free(i->modalias);
        free(i->alias_modules);
        free(i->driver_seen);
        free(i->category_by);
}

UsbDevice *usb_device_free(UsbDevice *d) {
        if (!d)
                return NULL;
        for (size_t i = 0; i < d->n_interfaces; i++)
                usb_interface_done(&d->interfaces[i]);
        free(d->interfaces);
        free(d->syspath);
        free(d->sysname);
        free(d->serial_raw);
        free(d->serial);
        free(d->serial_hex);
        free(d->manufacturer);
        free(d->product_name);
        free(d);
        return NULL;
}

char *usb_device_id(const UsbDevice *d, char buf[static 10]) {
        assert(d);
        assert(buf);

        snprintf(buf, 10, "%04x:%04x", d->vendor, d->product);
        return buf;
}

char *usb_device_sanitize(const char *s, bool *truncated) {
        bool t = false;
        char *r;
        if (!s)
                return NULL;
        r = text_sanitize(s, strlen(s), TEXT_DEVICE_MAX, &t);
        if (t && truncated)
                *truncated = true;
        return r;
}

static int usb_device_set_serial(UsbDevice *d, const char *serial, size_t len) {
        if (!serial || len == 0)
                return 0;
        d->serial_raw = malloc(len + 1);
        if (!d->serial_raw)
                return -ENOMEM;
        memcpy(d->serial_raw, serial, len);
        d->serial_raw[len] = 0;
        d->serial_raw_len = len;
        d->has_serial = true;
        d->serial = text_sanitize(serial, len, TEXT_DEVICE_MAX, &d->strings_truncated);
        if (!d->serial)
                return -ENOMEM;
        /* Keep the exact bytes reachable for an admin writing an allow entry. */
        if (strlen(d->serial) != len || memcmp(d->serial, serial, len) != 0) {
                d->serial_hex = hex_encode(serial, MIN(len, (size_t) 512));
                if (!d->serial_hex)
                        return -ENOMEM;
        }
        return 0;
}

UsbDevice *usb_device_new(const char *sysname, uint16_t vendor, uint16_t product, const char *serial, size_t serial_len) {
        _cleanup_(usb_device_freep) UsbDevice *d = calloc(1, sizeof *d);
        if (!d)
                return NULL;
        d->vendor = vendor;
        d->product = product;
        d->authorized = 1;
        d->configured = true;
        d->sysname = strdup(sysname ? sysname : "1-1");
        if (asprintf(&d->syspath, "/sys/bus/usb/devices/%s", d->sysname) < 0)
                d->syspath = NULL;
        if (!d->sysname || !d->syspath)
                return NULL;
        if (usb_device_set_serial(d, serial, serial_len) < 0)
                return NULL;
        return TAKE_PTR(d);
}

static UsbInterface *usb_device_append_interface(UsbDevice *d) {
        UsbInterface *n = reallocarray(d->interfaces, d->n_interfaces + 1, sizeof *n);
        if (!n)
                return NULL;
        d->interfaces = n;
        n = &d->interfaces[d->n_interfaces++];
        *n = (UsbInterface){ .authorized = -1 };
        return n;
}

int usb_device_add_interface(UsbDevice *d, const char *sysname, uint8_t cls, uint8_t subclass, uint8_t protocol,
                             const char *name, int authorized) {
        UsbInterface *i;

        assert(d);
        assert(sysname);

        i = usb_device_append_interface(d);
        if (!i)
                return -ENOMEM;
        i->cls = cls;
        i->subclass = subclass;
        i->protocol = protocol;
        i->authorized = authorized;
        i->sysname = strdup(sysname);
        if (!i->sysname)
                return -ENOMEM;
        if (asprintf(&i->syspath, "%s/%s", d->syspath, sysname) < 0) {
                i->syspath = NULL;
                return -ENOMEM;
        }
        if (name) {
                i->name_raw = strdup(name);
                i->name = usb_device_sanitize(name, &d->strings_truncated);
                if (!i->name_raw || !i->name)
                        return -ENOMEM;
        }
        return 0;
}

/* Takes category c from source/by when it ranks before the current one. */
static void usb_interface_consider(UsbInterface *i, UsbCategory c, UsbCategorySource source, const char *by,
                                   size_t by_len) {
        if (c == USB_CATEGORY_OTHER || c == i->category)
                return;
        if (i->category != USB_CATEGORY_OTHER &&
            usb_category_primary(USB_CATEGORY_BIT(c) | USB_CATEGORY_BIT(i->category)) != c)
                return;
        i->category = c;
        i->category_source = source;
        free(i->category_by);
        i->category_by = strndup(by, by_len); /* NULL on OOM: only the event's detail is lost */
}

static void usb_device_classify_interface(UsbInterface *i, unsigned udev_flags, const UsbDriverEntry *extra,
                                          size_t n_extra) {
        const char *name, *by;
        size_t len;
        UsbCategory c;

        i->category = usb_classify_interface(i->cls, i->subclass, i->protocol, i->name_raw);
        i->category_source = USB_CATEGORY_FROM_CLASS;
        i->category_by = mfree(i->category_by);
        c = usb_classify_interface_udev(i->cls, i->subclass, i->protocol, i->name_raw, udev_flags, &by);
        if (by)
                usb_interface_consider(i, c, USB_CATEGORY_FROM_UDEV, by, strlen(by));

        /* What binds (or bound) counts before what would bind, at the same rank. */
        if (i->driver)
                usb_interface_consider(i, usb_driver_category(extra, n_extra, i->driver), USB_CATEGORY_FROM_DRIVER,
                                       i->driver, strlen(i->driver));
        if (i->driver_seen)
                usb_interface_consider(i, usb_driver_category(extra, n_extra, i->driver_seen), USB_CATEGORY_FROM_DRIVER,
                                       i->driver_seen, strlen(i->driver_seen));
        c = usb_driver_list_category(extra, n_extra, i->alias_modules, &name, &len);
        if (c != USB_CATEGORY_OTHER)
                usb_interface_consider(i, c, USB_CATEGORY_FROM_MODALIAS, name, len);

        /* Whoever holds the interface can switch it to any of its alternate
         * settings (usbfs SETINTERFACE): the most restrictive one counts. Their
         * names are not read; udev's word on the device still counts. */
        for (size_t k = 0; k < i->n_alts; k++) {
                const UsbAltSetting *a = &i->alts[k];
                char b[32];
                c = usb_classify_interface_udev(a->cls, a->subclass, a->protocol, NULL, udev_flags, NULL);
                snprintf(b, sizeof b, "alt %u %02x/%02x/%02x", a->alternate, a->cls, a->subclass, a->protocol);
                usb_interface_consider(i, c, USB_CATEGORY_FROM_ALTERNATE, b, strlen(b));
        }
}

void usb_device_classify_with(UsbDevice *d, const UsbDriverEntry *extra, size_t n_extra) {
        bool tethering = false;

        assert(d);
        assert(extra || n_extra == 0);

        d->categories = 0;
        for (size_t k = 0; k < d->n_interfaces; k++) {
                UsbInterface *i = &d->interfaces[k];
                usb_device_classify_interface(i, d->udev_flags, extra, n_extra);
                if (i->category == USB_CATEGORY_TETHERING)
                        tethering = true;
        }
        for (size_t k = 0; k < d->n_interfaces; k++) {
                UsbInterface *i = &d->interfaces[k];
                if (tethering && usb_class_is_cdc_data(i->cls))
                        i->category = USB_CATEGORY_TETHERING;
                if (i->category != USB_CATEGORY_OTHER)
                        d->categories |= USB_CATEGORY_BIT(i->category);
        }
}

void usb_device_classify(UsbDevice *d) {
        assert(d);
        usb_device_classify_with(d, NULL, 0);
}
