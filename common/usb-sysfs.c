/* SPDX-License-Identifier: MIT */
/* A UsbDevice read from sysfs through sd-device: the device's attributes,
 * its interfaces' directories and, where those do not tell, its raw
 * descriptors. Every value read is hostile until parsed. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "usb-descriptors.h"
#include "usb-sysfs.h"

/* A number sysfs printed ("%02x\n", "%d\n", "%2d\n"): nothing after it but the newline. */
static int usb_sysfs_uint_attr(sd_device *dev, const char *attr, int base, unsigned max, unsigned *ret) {
        const char *v;
        char *end;
        unsigned long x;
        int r = sd_device_get_sysattr_value(dev, attr, &v);
        if (r < 0)
                return r;
        errno = 0;
        x = strtoul(v, &end, base);
        if (errno || end == v || (*end && *end != '\n') || x > max)
                return -EINVAL;
        *ret = (unsigned) x;
        return 0;
}

static int usb_sysfs_hex_attr(sd_device *dev, const char *attr, unsigned max, unsigned *ret) {
        return usb_sysfs_uint_attr(dev, attr, 16, max, ret);
}

static int usb_sysfs_dec_attr(sd_device *dev, const char *attr, unsigned *ret) {
        return usb_sysfs_uint_attr(dev, attr, 10, UINT32_MAX, ret);
}

static int usb_sysfs_bool_attr(sd_device *dev, const char *attr) {
        unsigned v;
        if (usb_sysfs_dec_attr(dev, attr, &v) < 0)
                return -1;
        return v ? 1 : 0;
}

static const char *usb_sysfs_str_attr(sd_device *dev, const char *attr) {
        const char *v;
        return sd_device_get_sysattr_value(dev, attr, &v) < 0 ? NULL : v;
}

static int usb_sysfs_read_interface(UsbDevice *d, const char *syspath) {
        _cleanup_(sd_device_unrefp) sd_device *dev = NULL;
        unsigned cls = 0, sub = 0, proto = 0, num = 0, alt = 0;
        const char *sysname, *driver, *name, *modalias;
        UsbInterface *i;
        int r;

        r = sd_device_new_from_syspath(&dev, syspath);
        if (r < 0)
                return r; /* gone meanwhile */
        if (usb_sysfs_hex_attr(dev, "bInterfaceClass", 0xff, &cls) < 0)
                return -ENODATA;
        (void) usb_sysfs_hex_attr(dev, "bInterfaceSubClass", 0xff, &sub);
        (void) usb_sysfs_hex_attr(dev, "bInterfaceProtocol", 0xff, &proto);
        (void) usb_sysfs_hex_attr(dev, "bInterfaceNumber", 0xff, &num);
        (void) usb_sysfs_dec_attr(dev, "bAlternateSetting", &alt);
        if (sd_device_get_sysname(dev, &sysname) < 0)
                return -ENODATA;
        name = usb_sysfs_str_attr(dev, "interface");
        modalias = usb_sysfs_str_attr(dev, "modalias");

        r = usb_device_add_interface(d, sysname, (uint8_t) cls, (uint8_t) sub, (uint8_t) proto, name,
                                     usb_sysfs_bool_attr(dev, "authorized"));
        if (r < 0)
                return r;
        i = &d->interfaces[d->n_interfaces - 1];
        free(i->syspath);
        i->syspath = strdup(syspath);
        if (!i->syspath)
                return -ENOMEM;
        i->number = (uint8_t) num;
        i->alternate = (uint8_t) MIN(alt, 255u);
        if (sd_device_get_driver(dev, &driver) >= 0) {
                i->driver = usb_device_sanitize(driver, NULL);
                if (!i->driver)
                        return -ENOMEM;
        }
        if (modalias) {
                i->modalias = strndup(modalias, strcspn(modalias, "\n"));
                if (!i->modalias)
                        return -ENOMEM;
        }
        return 0;
}

static int usb_sysfs_interface_order(const void *a, const void *b) {
        const UsbInterface *x = a, *y = b;
        if (x->number != y->number)
                return x->number < y->number ? -1 : 1;
        if (x->alternate != y->alternate)
                return x->alternate < y->alternate ? -1 : 1;
        return strcmp(x->sysname, y->sysname);
}

static int usb_sysfs_read_interfaces_from_sysfs(UsbDevice *d) {
        _cleanup_(closedirp_) DIR *dir = NULL;
        size_t plen = strlen(d->sysname);
        struct dirent *de;
        int r;

        dir = opendir(d->syspath);
        if (!dir)
                return negative_errno();
        while ((de = readdir(dir))) {
                _cleanup_free_ char *p = NULL;
                /* interface directories are "<device>:<config>.<number>" */
                if (strncmp(de->d_name, d->sysname, plen) != 0 || de->d_name[plen] != ':')
                        continue;
                /* The kernel allows 32 per configuration; whatever claims more
                 * does not make the snapshot (and its event) grow without bound. */
                if (d->n_interfaces >= USB_DESC_MAX_INTERFACES) {
                        log_debug("%s has more than %d interfaces; ignoring the rest.", d->sysname,
                                  USB_DESC_MAX_INTERFACES);
                        break;
                }
                if (asprintf(&p, "%s/%s", d->syspath, de->d_name) < 0)
                        return -ENOMEM;
                r = usb_sysfs_read_interface(d, p);
                if (r == -ENOMEM)
                        return r;
        }
        /* readdir order is arbitrary: events list interfaces by number. */
        if (d->n_interfaces > 1)
                qsort(d->interfaces, d->n_interfaces, sizeof *d->interfaces, usb_sysfs_interface_order);
        return 0;
}

/* The device's raw `descriptors` file, read to its end but at most max
 * bytes; larger is -EFBIG, logged with what is then not read (what). */
static int usb_sysfs_read_descriptors_file(UsbDevice *d, size_t max, const char *what, uint8_t **ret, size_t *ret_len) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int fd = -EBADF;
        int n;

        if (asprintf(&p, "%s/descriptors", d->syspath) < 0)
                return -ENOMEM;
        fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        n = usb_descriptors_read(fd, max, ret, ret_len);
        if (n == -EFBIG)
                return log_warning_errno(n, "%s holds more than %zu bytes; %s not read from it.", p, max, what);
        return n < 0 ? n : 0;
}

static int usb_sysfs_read_interfaces_from_descriptors(UsbDevice *d) {
        _cleanup_free_ uint8_t *buf = NULL;
        UsbDescInterface ifs[USB_DESC_MAX_INTERFACES];
        size_t len = 0;
        int n;

        n = usb_sysfs_read_descriptors_file(d, USB_DESC_READ_MAX, "its interfaces are", &buf, &len);
        if (n < 0)
                return n;
        n = usb_descriptors_parse(buf, len, NULL, ifs, ELEMENTSOF(ifs));
        if (n < 0)
                return n;
        for (int k = 0; k < n; k++) {
                char name[64];
                int r;
                snprintf(name, sizeof name, "%s:%u.%u", d->sysname, ifs[k].configuration, ifs[k].number);
                r = usb_device_add_interface(d, name, ifs[k].cls, ifs[k].subclass, ifs[k].protocol, NULL, -1);
                if (r < 0)
                        return r;
                /* Only the descriptors know it: there is no directory to write to yet. */
                d->interfaces[d->n_interfaces - 1].syspath = mfree(d->interfaces[d->n_interfaces - 1].syspath);
                d->interfaces[d->n_interfaces - 1].number = ifs[k].number;
                d->interfaces[d->n_interfaces - 1].alternate = ifs[k].alternate;
        }
        d->interfaces_from_descriptors = true;
        return 0;
}

/* The other alternate settings of the interfaces read from sysfs (which shows
 * only the current one), from the raw descriptors of the active configuration.
 * Without the descriptors the current settings are all there is. */
static int usb_sysfs_read_alternates(UsbDevice *d, unsigned config_value) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_free_ UsbDescInterface *ifs = NULL;
        size_t len = 0, max;
        int n;

        /* USB_DESC_KERNEL_MAX: more than a kernel's descriptors can be */
        n = usb_sysfs_read_descriptors_file(d, USB_DESC_KERNEL_MAX, "its alternate settings are", &buf, &len);
        if (n < 0)
                return n;
        /* Every interface descriptor (9 bytes) of every configuration: a first
         * configuration full of them cannot hide the active one's. */
        max = len / 9 + 1;
        ifs = calloc(max, sizeof *ifs);
        if (!ifs)
                return -ENOMEM;
        n = usb_descriptors_parse(buf, len, NULL, ifs, max);
        if (n < 0)
                return n;
        for (int k = 0; k < n; k++) {
                const UsbDescInterface *x = &ifs[k];
                if (!usb_desc_interface_in_configuration(x, config_value))
                        continue;
                for (size_t j = 0; j < d->n_interfaces; j++) {
                        UsbInterface *i = &d->interfaces[j];
                        if (i->number != x->number || i->alternate == x->alternate || i->n_alts >= USB_INTERFACE_MAX_ALTS)
                                continue;
                        i->alts[i->n_alts++] = (UsbAltSetting){
                                .alternate = x->alternate,
                                .cls = x->cls,
                                .subclass = x->subclass,
                                .protocol = x->protocol,
                        };
                }
        }
        return 0;
}

/* What udev's rules (libmtp, media-player-info, libgphoto2) said of the device. */
static unsigned usb_sysfs_read_udev_flags(sd_device *dev) {
        const char *v;
        unsigned f = 0;
        if (sd_device_get_property_value(dev, "ID_MTP_DEVICE", &v) >= 0 && streq(v, "1"))
                f |= USB_UDEV_MTP_DEVICE;
        if (sd_device_get_property_value(dev, "ID_MEDIA_PLAYER", &v) >= 0 && !isempty(v))
                f |= USB_UDEV_MEDIA_PLAYER;
        if (sd_device_get_property_value(dev, "ID_GPHOTO2", &v) >= 0 && streq(v, "1"))
                f |= USB_UDEV_GPHOTO2;
        return f;
}

int usb_device_new_from_sd_device(sd_device *dev, UsbDevice **ret) {
        _cleanup_(usb_device_freep) UsbDevice *d = NULL;
        const char *syspath, *sysname, *serial, *cfg;
        unsigned vendor = 0, product = 0, cls = 0;
        int r;

        r = sd_device_get_syspath(dev, &syspath);
        if (r < 0)
                return r;
        r = sd_device_get_sysname(dev, &sysname);
        if (r < 0)
                return r;
        assert(syspath && sysname); /* sd-device sets both when it returns >= 0 */
        r = usb_sysfs_hex_attr(dev, "idVendor", 0xffff, &vendor);
        if (r < 0)
                return r;
        r = usb_sysfs_hex_attr(dev, "idProduct", 0xffff, &product);
        if (r < 0)
                return r;

        serial = usb_sysfs_str_attr(dev, "serial");
        d = usb_device_new(sysname, (uint16_t) vendor, (uint16_t) product, serial, serial ? strlen(serial) : 0);
        if (!d)
                return -ENOMEM;
        if (free_and_strdup(&d->syspath, syspath) < 0)
                return -ENOMEM;

        (void) usb_sysfs_dec_attr(dev, "busnum", &d->busnum);
        (void) usb_sysfs_dec_attr(dev, "devnum", &d->devnum);
        if (usb_sysfs_hex_attr(dev, "bDeviceClass", 0xff, &cls) >= 0)
                d->device_class = (uint8_t) cls;
        d->authorized = usb_sysfs_bool_attr(dev, "authorized");
        d->is_root_hub = startswith(sysname, "usb");
        cfg = usb_sysfs_str_attr(dev, "bConfigurationValue");
        d->configured = !isempty(cfg);
        d->manufacturer = usb_device_sanitize(usb_sysfs_str_attr(dev, "manufacturer"), &d->strings_truncated);
        d->product_name = usb_device_sanitize(usb_sysfs_str_attr(dev, "product"), &d->strings_truncated);

        d->udev_flags = usb_sysfs_read_udev_flags(dev);

        r = usb_sysfs_read_interfaces_from_sysfs(d);
        if (r == -ENOMEM)
                return r;
        if (d->n_interfaces > 0) {
                unsigned cv;
                if (usb_sysfs_dec_attr(dev, "bConfigurationValue", &cv) >= 0) {
                        r = usb_sysfs_read_alternates(d, cv);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0 && r != -EFBIG) /* EFBIG: logged */
                                log_debug_errno(r, "Cannot read the alternate settings of %s: %m", d->sysname);
                }
        }
        /* An unconfigured device (device-level authorized=0) has no interface
         * directories: its classes are only in the raw descriptors. */
        if (d->n_interfaces == 0 && !d->is_root_hub) {
                r = usb_sysfs_read_interfaces_from_descriptors(d);
                if (r == -ENOMEM)
                        return r;
        }
        usb_device_classify(d);
        *ret = TAKE_PTR(d);
        return 0;
}
