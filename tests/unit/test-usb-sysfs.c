/* SPDX-License-Identifier: MIT */
/* common/usb-sysfs.c: a UsbDevice read from a mock sysfs (umockdev's
 * testbed, one per test, in this process: run under umockdev-wrapper). Every
 * attribute is what a device or the kernel could put there, hostile ones
 * included; the descriptors are written byte for byte. */
#include "unit.h"

#include <sys/stat.h>

#include "macro.h"
#include "text.h"
#include "usb-descriptors.h"
#include "usb-sysfs.h"

/* after macro.h: glib redefines MIN and MAX (the same) with an #undef first */
#include <umockdev.h>

#define STRV(...) ((char **) (const char *[]){ __VA_ARGS__, NULL })

typedef struct Bed {
        UMockdevTestbed *tb;
        char *pci, *hub; /* the xHCI controller and its USB 3 root hub, usb2 */
} Bed;

static int bed_setup(void **state) {
        Bed *b = calloc(1, sizeof *b);
        char *root, *drivers;

        assert_non_null(b);
        b->tb = umockdev_testbed_new();
        assert_non_null(b->tb);
        root = umockdev_testbed_get_root_dir(b->tb);
        /* where a driver link of an interface points */
        drivers = g_build_filename(root, "sys/bus/usb/drivers/usb-storage", NULL);
        assert_int_equal(g_mkdir_with_parents(drivers, 0755), 0);
        g_free(drivers);
        g_free(root);
        b->pci = umockdev_testbed_add_devicev(b->tb, "pci", "0000:00:14.0", NULL, STRV("vendor", "0x8086"),
                                              STRV("PCI_CLASS", "C0330"));
        b->hub = umockdev_testbed_add_devicev(b->tb, "usb", "usb2", b->pci,
                                              STRV("idVendor", "1d6b", "idProduct", "0003", "bDeviceClass", "09",
                                                   "authorized", "1", "authorized_default", "1", "busnum", "2", "devnum",
                                                   "1", "bConfigurationValue", "1", "product", "xHCI Host Controller"),
                                              STRV("DEVTYPE", "usb_device"));
        assert_non_null(b->pci);
        assert_non_null(b->hub);
        *state = b;
        return 0;
}

static int bed_teardown(void **state) {
        Bed *b = *state;
        g_free(b->pci);
        g_free(b->hub);
        g_object_unref(b->tb); /* removes the testbed's directory */
        free(b);
        return 0;
}

/* A usb_device with these attributes (NULL-terminated pairs) and properties. */
static char *add_device(Bed *b, const char *parent, const char *name, char **attrs, char **props) {
        char *p = umockdev_testbed_add_devicev(b->tb, "usb", name, parent, attrs, props);
        assert_non_null(p);
        return p;
}

static char *add_interface(Bed *b, const char *dev, const char *name, char **attrs) {
        char *p = umockdev_testbed_add_devicev(b->tb, "usb", name, dev, attrs, STRV("DEVTYPE", "usb_interface"));
        assert_non_null(p);
        return p;
}

/* An attribute byte for byte: no NUL ends it, nothing is appended. */
static void set_raw(Bed *b, const char *syspath, const char *attr, const void *value, size_t len) {
        umockdev_testbed_set_attribute_binary(b->tb, syspath, attr, (guint8 *) value, (gssize) len);
}

static void unset(Bed *b, const char *syspath, const char *attr) {
        char *root = umockdev_testbed_get_root_dir(b->tb);
        char *p = g_build_filename(root, syspath, attr, NULL);
        assert_int_equal(unlink(p), 0);
        g_free(p);
        g_free(root);
}

static int read_syspath(const char *syspath, UsbDevice **ret) {
        _cleanup_(sd_device_unrefp) sd_device *dev = NULL;
        assert_int_equal(sd_device_new_from_syspath(&dev, syspath), 0);
        *ret = NULL;
        return usb_device_new_from_sd_device(dev, ret);
}

static UsbDevice *read_ok(const char *syspath) {
        UsbDevice *d = NULL;
        assert_int_equal(read_syspath(syspath, &d), 0);
        assert_non_null(d);
        return d;
}

/* ---- raw descriptors: the device's, then configurations of interfaces ---- */

typedef struct Desc {
        uint8_t buf[1024];
        size_t len;
        size_t config_at; /* where the open configuration descriptor starts */
} Desc;

static void desc_device(Desc *d, uint16_t vendor, uint16_t product, uint8_t cls) {
        const uint8_t dev[18] = {
                18,           1,    0x00, 0x02, cls, 0, 0, 64, vendor & 0xff, vendor >> 8, product & 0xff,
                product >> 8, 0x00, 0x01, 1,    2,   3, 1
        };
        memcpy(d->buf, dev, sizeof dev);
        d->len = sizeof dev;
}

static void desc_end_config(Desc *d) {
        size_t total = d->len - d->config_at;
        if (d->config_at == 0)
                return;
        d->buf[d->config_at + 2] = total & 0xff;
        d->buf[d->config_at + 3] = total >> 8;
}

static void desc_config(Desc *d, uint8_t value, uint8_t n_interfaces) {
        const uint8_t cfg[9] = { 9, 2, 0, 0, n_interfaces, value, 0, 0x80, 50 };
        desc_end_config(d);
        d->config_at = d->len;
        memcpy(d->buf + d->len, cfg, sizeof cfg);
        d->len += sizeof cfg;
}

static void desc_interface(Desc *d, uint8_t number, uint8_t alt, uint8_t cls, uint8_t sub, uint8_t proto) {
        const uint8_t intf[9] = { 9, 4, number, alt, 0, cls, sub, proto, 0 };
        memcpy(d->buf + d->len, intf, sizeof intf);
        d->len += sizeof intf;
}

static void set_descriptors(Bed *b, const char *syspath, Desc *d) {
        desc_end_config(d);
        set_raw(b, syspath, "descriptors", d->buf, d->len);
}

/* ---- a storage stick, as the kernel shows it ---- */

static void test_storage_stick(void **state) {
        Bed *b = *state;
        char *dev = add_device(b, b->hub, "2-1",
                               STRV("idVendor", "0781", "idProduct", "5567", "bDeviceClass", "00", "authorized", "1",
                                    "busnum", "2", "devnum", "5", "bConfigurationValue", "1", "manufacturer", "SanDisk",
                                    "product", "Cruzer Blade", "serial", "4C530001230412345678"),
                               STRV("DEVTYPE", "usb_device", "PRODUCT", "781/5567/100"));
        char *intf = add_interface(b, dev, "2-1:1.0",
                                   STRV("bInterfaceClass", "08", "bInterfaceSubClass", "06", "bInterfaceProtocol", "50",
                                        "bInterfaceNumber", "00", "bAlternateSetting", " 0", "authorized", "1",
                                        "modalias", "usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00"));
        UsbDevice *d;
        const UsbInterface *i;

        /* the kernel ends every attribute with a newline */
        umockdev_testbed_set_attribute(b->tb, dev, "idVendor", "0781\n");
        umockdev_testbed_set_attribute(b->tb, dev, "serial", "4C530001230412345678\n");
        umockdev_testbed_set_attribute_link(b->tb, intf, "driver", "../../../../../bus/usb/drivers/usb-storage");

        d = read_ok(dev);
        assert_string_equal(d->syspath, dev);
        assert_string_equal(d->sysname, "2-1");
        assert_int_equal(d->busnum, 2);
        assert_int_equal(d->devnum, 5);
        assert_int_equal(d->vendor, 0x0781);
        assert_int_equal(d->product, 0x5567);
        assert_int_equal(d->device_class, 0);
        assert_int_equal(d->authorized, 1);
        assert_true(d->configured);
        assert_false(d->is_root_hub);
        assert_true(d->has_serial);
        assert_int_equal(d->serial_raw_len, 20);
        assert_string_equal(d->serial_raw, "4C530001230412345678");
        assert_string_equal(d->serial, "4C530001230412345678");
        assert_null(d->serial_hex); /* nothing to hide: the serial shows as itself */
        assert_string_equal(d->manufacturer, "SanDisk");
        assert_string_equal(d->product_name, "Cruzer Blade");
        assert_false(d->strings_truncated);
        assert_int_equal(d->udev_flags, 0);
        assert_false(d->interfaces_from_descriptors);

        assert_int_equal(d->n_interfaces, 1);
        i = &d->interfaces[0];
        assert_string_equal(i->syspath, intf);
        assert_string_equal(i->sysname, "2-1:1.0");
        assert_int_equal(i->number, 0);
        assert_int_equal(i->alternate, 0);
        assert_int_equal(i->cls, 0x08);
        assert_int_equal(i->subclass, 0x06);
        assert_int_equal(i->protocol, 0x50);
        assert_null(i->name_raw);
        assert_null(i->name);
        assert_int_equal(i->authorized, 1);
        assert_string_equal(i->driver, "usb-storage");
        assert_string_equal(i->modalias, "usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00");
        assert_int_equal(i->n_alts, 0); /* no descriptors file: the current settings are all there is */
        assert_int_equal(i->category, USB_CATEGORY_STORAGE);
        assert_int_equal(i->category_source, USB_CATEGORY_FROM_CLASS);
        assert_int_equal(d->categories, USB_CATEGORY_BIT(USB_CATEGORY_STORAGE));
        usb_device_free(d);
        g_free(intf);
        g_free(dev);
}

/* readdir's order is the file system's: the snapshot lists interfaces by
 * number, then alternate setting; and only the device's own interfaces. */
static void test_interfaces_in_order(void **state) {
        Bed *b = *state;
        char *dev = add_device(b, b->hub, "2-2",
                               STRV("idVendor", "18d1", "idProduct", "4ee3", "authorized", "1", "bConfigurationValue",
                                    "1", "serial", "P"),
                               STRV("DEVTYPE", "usb_device"));
        static const char *const names[] = { "2-2:1.2", "2-2:1.0", "2-2:1.1" };
        static const char *const numbers[] = { "02", "00", "01" };
        static const char *const classes[] = { "03", "e0", "0a" };
        char *ifs[ELEMENTSOF(names)];
        UsbDevice *d;

        for (size_t k = 0; k < ELEMENTSOF(names); k++)
                ifs[k] = add_interface(b, dev, names[k],
                                       STRV("bInterfaceClass", classes[k], "bInterfaceSubClass", k == 1 ? "01" : "00",
                                            "bInterfaceProtocol", k == 1 ? "03" : "00", "bInterfaceNumber", numbers[k],
                                            "bAlternateSetting", " 0", "authorized", "1"));
        /* names that start like an interface's: not this device's, or not an interface */
        char *other = add_interface(b, dev, "2-20:1.0", STRV("bInterfaceClass", "08", "bInterfaceNumber", "00"));
        umockdev_testbed_set_attribute(b->tb, dev, "2-2:1.9", "a file");

        d = read_ok(dev);
        assert_int_equal(d->n_interfaces, 3);
        assert_string_equal(d->interfaces[0].sysname, "2-2:1.0");
        assert_string_equal(d->interfaces[1].sysname, "2-2:1.1");
        assert_string_equal(d->interfaces[2].sysname, "2-2:1.2");
        for (size_t k = 0; k < 3; k++)
                assert_int_equal(d->interfaces[k].number, k);
        /* RNDIS, and its CDC data interface follows it */
        assert_int_equal(d->interfaces[0].category, USB_CATEGORY_TETHERING);
        assert_int_equal(d->interfaces[1].category, USB_CATEGORY_TETHERING);
        assert_int_equal(d->interfaces[2].category, USB_CATEGORY_OTHER);
        usb_device_free(d);
        for (size_t k = 0; k < ELEMENTSOF(ifs); k++)
                g_free(ifs[k]);
        g_free(other);
        g_free(dev);
}

/* ---- hostile strings: what a device sends is any bytes, of any length ---- */

static void test_hostile_strings(void **state) {
        Bed *b = *state;
        static const char serial[] = "\x1b[31mAB\x01\xff\n"; /* the kernel's newline ends it */
        static const char product[] = "Evil\xe2\x80\xaegnp.exe\xc3";
        char *dev = add_device(b, b->hub, "2-3",
                               STRV("idVendor", "1234", "idProduct", "abcd", "authorized", "1", "bConfigurationValue",
                                    "1"),
                               STRV("DEVTYPE", "usb_device"));
        char *intf = add_interface(b, dev, "2-3:1.0",
                                   STRV("bInterfaceClass", "ff", "bInterfaceSubClass", "ff", "bInterfaceProtocol", "00",
                                        "bInterfaceNumber", "00", "authorized", "1"));
        char long_name[4000];
        UsbDevice *d;

        set_raw(b, dev, "serial", serial, sizeof serial - 1);
        set_raw(b, dev, "product", product, sizeof product - 1);
        memset(long_name, 'A', sizeof long_name);
        set_raw(b, dev, "manufacturer", long_name, sizeof long_name);
        /* "MTP" with a zero-width space: shown escaped, classified as MTP */
        set_raw(b, intf, "interface", "M\xe2\x80\x8bTP\x07", 7);

        d = read_ok(dev);
        /* the exact bytes for matching an allow entry, an escaped copy for every output */
        assert_true(d->has_serial);
        assert_int_equal(d->serial_raw_len, 9);
        assert_memory_equal(d->serial_raw, "\x1b[31mAB\x01\xff", 9);
        assert_string_equal(d->serial, "\\x1b[31mAB\\x01\\xff");
        assert_string_equal(d->serial_hex, "1b5b33316d414201ff");
        assert_string_equal(d->product_name, "Evil\\u202egnp.exe\\xc3");
        assert_true(text_is_clean(d->product_name, strlen(d->product_name)));
        /* overlong: cut, and said so */
        assert_true(strlen(d->manufacturer) <= TEXT_DEVICE_MAX);
        assert_true(strlen(d->manufacturer) >= TEXT_DEVICE_MAX - 8);
        assert_true(d->strings_truncated);
        assert_int_equal(d->n_interfaces, 1);
        assert_memory_equal(d->interfaces[0].name_raw, "M\xe2\x80\x8bTP\x07", 8);
        assert_string_equal(d->interfaces[0].name, "M\\u200bTP\\x07");
        assert_int_equal(d->interfaces[0].category, USB_CATEGORY_MTP);
        usb_device_free(d);

        /* an overlong serial: kept whole for matching, its hex bounded */
        char long_serial[2000];
        memset(long_serial, 0x01, sizeof long_serial);
        set_raw(b, dev, "serial", long_serial, sizeof long_serial);
        set_raw(b, dev, "manufacturer", "Maker", 5);
        d = read_ok(dev);
        assert_int_equal(d->serial_raw_len, sizeof long_serial);
        assert_memory_equal(d->serial_raw, long_serial, sizeof long_serial);
        assert_true(strlen(d->serial) <= TEXT_DEVICE_MAX);
        assert_true(d->strings_truncated);
        assert_int_equal(strlen(d->serial_hex), 2 * 512);
        assert_string_equal(d->manufacturer, "Maker");
        usb_device_free(d);

        /* an empty serial is no serial */
        set_raw(b, dev, "serial", "\n", 1);
        d = read_ok(dev);
        assert_false(d->has_serial);
        assert_null(d->serial);
        assert_null(d->serial_raw);
        usb_device_free(d);
        g_free(intf);
        g_free(dev);
}

/* ---- an unconfigured device: its interfaces only in the raw descriptors ---- */

static void test_interfaces_from_descriptors(void **state) {
        Bed *b = *state;
        char *dev = add_device(b, b->hub, "2-4",
                               STRV("idVendor", "0781", "idProduct", "5567", "authorized", "0", "bConfigurationValue",
                                    "", "serial", "S1"),
                               STRV("DEVTYPE", "usb_device"));
        Desc desc = { 0 };
        UsbDevice *d;

        /* authorized=0: no interface directories yet, no configuration */
        desc_device(&desc, 0x0781, 0x5567, 0);
        desc_config(&desc, 1, 2);
        desc_interface(&desc, 0, 0, 0x03, 0x01, 0x01); /* a keyboard */
        desc_interface(&desc, 1, 0, 0x08, 0x06, 0x50); /* and mass storage */
        set_descriptors(b, dev, &desc);

        d = read_ok(dev);
        assert_int_equal(d->authorized, 0);
        assert_false(d->configured);
        assert_true(d->interfaces_from_descriptors);
        assert_int_equal(d->n_interfaces, 2);
        for (size_t k = 0; k < 2; k++) {
                const UsbInterface *i = &d->interfaces[k];
                assert_null(i->syspath); /* nothing to write to yet */
                assert_int_equal(i->number, k);
                assert_int_equal(i->authorized, -1);
                assert_null(i->driver);
                assert_null(i->modalias);
        }
        assert_string_equal(d->interfaces[0].sysname, "2-4:1.0");
        assert_string_equal(d->interfaces[1].sysname, "2-4:1.1");
        assert_int_equal(d->interfaces[0].category, USB_CATEGORY_OTHER);
        assert_int_equal(d->interfaces[1].category, USB_CATEGORY_STORAGE);
        assert_int_equal(d->categories, USB_CATEGORY_BIT(USB_CATEGORY_STORAGE));
        usb_device_free(d);

        /* descriptors that are not even a device descriptor: no interfaces, still a device */
        set_raw(b, dev, "descriptors", "\x12\x01\x00", 3);
        d = read_ok(dev);
        assert_int_equal(d->n_interfaces, 0);
        assert_false(d->interfaces_from_descriptors);
        assert_int_equal(d->categories, 0);
        usb_device_free(d);

        /* no descriptors file at all: the same */
        unset(b, dev, "descriptors");
        d = read_ok(dev);
        assert_int_equal(d->n_interfaces, 0);
        assert_false(d->interfaces_from_descriptors);
        usb_device_free(d);
        g_free(dev);
}

/* The other alternate settings of a configured device's interfaces, from the
 * active configuration's descriptors only. */
static void test_alternate_settings(void **state) {
        Bed *b = *state;
        char *dev = add_device(b, b->hub, "2-5",
                               STRV("idVendor", "1234", "idProduct", "0001", "authorized", "1", "bConfigurationValue",
                                    "2"),
                               STRV("DEVTYPE", "usb_device"));
        char *intf = add_interface(b, dev, "2-5:2.0",
                                   STRV("bInterfaceClass", "03", "bInterfaceSubClass", "01", "bInterfaceProtocol", "01",
                                        "bInterfaceNumber", "00", "bAlternateSetting", " 0", "authorized", "1"));
        Desc desc = { 0 };
        UsbDevice *d;

        desc_device(&desc, 0x1234, 0x0001, 0);
        desc_config(&desc, 1, 1);
        desc_interface(&desc, 0, 0, 0x03, 0x01, 0x01);
        desc_interface(&desc, 0, 1, 0xe0, 0x01, 0x03); /* configuration 1 is not the active one */
        desc_config(&desc, 2, 1);
        desc_interface(&desc, 0, 0, 0x03, 0x01, 0x01);
        desc_interface(&desc, 0, 1, 0x08, 0x06, 0x50); /* the "keyboard" can become a stick */
        set_descriptors(b, dev, &desc);

        d = read_ok(dev);
        assert_false(d->interfaces_from_descriptors);
        assert_int_equal(d->n_interfaces, 1);
        assert_int_equal(d->interfaces[0].n_alts, 1);
        assert_int_equal(d->interfaces[0].alts[0].alternate, 1);
        assert_int_equal(d->interfaces[0].alts[0].cls, 0x08);
        assert_int_equal(d->interfaces[0].alts[0].subclass, 0x06);
        assert_int_equal(d->interfaces[0].alts[0].protocol, 0x50);
        assert_int_equal(d->interfaces[0].category, USB_CATEGORY_STORAGE);
        assert_int_equal(d->interfaces[0].category_source, USB_CATEGORY_FROM_ALTERNATE);
        assert_string_equal(d->interfaces[0].category_by, "alt 1 08/06/50");
        assert_int_equal(d->categories, USB_CATEGORY_BIT(USB_CATEGORY_STORAGE));
        usb_device_free(d);

        /* the current setting is not its own alternate; an unreadable bConfigurationValue reads none */
        umockdev_testbed_set_attribute(b->tb, dev, "bConfigurationValue", "x");
        d = read_ok(dev);
        assert_true(d->configured);
        assert_int_equal(d->interfaces[0].n_alts, 0);
        assert_int_equal(d->categories, 0);
        usb_device_free(d);
        g_free(intf);
        g_free(dev);
}

/* ---- missing and malformed attributes ---- */

static void test_missing_attributes(void **state) {
        Bed *b = *state;
        char *dev = add_device(b, b->hub, "2-6", STRV("idVendor", "0781", "idProduct", "5567"),
                               STRV("DEVTYPE", "usb_device"));
        static const struct {
                const char *value;
                int r;
        } ids[] = {
                { "0781\n", 0 },      { "xyz", -EINVAL },       { "", -EINVAL },
                { "10000", -EINVAL }, { "0781 junk", -EINVAL }, { "-1", -EINVAL },
        };
        UsbDevice *d;

        /* only the identity: everything else unknown, nothing made up */
        d = read_ok(dev);
        assert_int_equal(d->vendor, 0x0781);
        assert_int_equal(d->product, 0x5567);
        assert_false(d->has_serial);
        assert_null(d->serial);
        assert_null(d->manufacturer);
        assert_null(d->product_name);
        assert_int_equal(d->busnum, 0);
        assert_int_equal(d->devnum, 0);
        assert_int_equal(d->authorized, -1);
        assert_false(d->configured);
        assert_int_equal(d->n_interfaces, 0);
        usb_device_free(d);

        for (size_t k = 0; k < ELEMENTSOF(ids); k++) {
                set_raw(b, dev, "idVendor", ids[k].value, strlen(ids[k].value));
                d = NULL;
                if (read_syspath(dev, &d) != ids[k].r)
                        fail_msg("idVendor \"%s\": expected %d", ids[k].value, ids[k].r);
                assert_true(ids[k].r < 0 ? d == NULL : d != NULL);
                usb_device_free(d);
        }
        /* without its identity there is no device to read */
        unset(b, dev, "idVendor");
        assert_int_equal(read_syspath(dev, &d), -ENOENT);
        assert_null(d);
        umockdev_testbed_set_attribute(b->tb, dev, "idVendor", "0781");
        unset(b, dev, "idProduct");
        assert_int_equal(read_syspath(dev, &d), -ENOENT);
        assert_null(d);
        umockdev_testbed_set_attribute(b->tb, dev, "idProduct", "5567");

        /* an interface without a readable class is left out; its siblings stay */
        umockdev_testbed_set_attribute(b->tb, dev, "bConfigurationValue", "1");
        char *i0 = add_interface(b, dev, "2-6:1.0", STRV("bInterfaceSubClass", "06", "bInterfaceNumber", "00"));
        char *i1 = add_interface(b, dev, "2-6:1.1", STRV("bInterfaceClass", "100", "bInterfaceNumber", "01"));
        char *i2 = add_interface(b, dev, "2-6:1.2", STRV("bInterfaceClass", "zz", "bInterfaceNumber", "02"));
        char *i3 = add_interface(b, dev, "2-6:1.3", STRV("bInterfaceClass", "08"));
        d = read_ok(dev);
        assert_false(d->interfaces_from_descriptors);
        assert_int_equal(d->n_interfaces, 1);
        assert_string_equal(d->interfaces[0].sysname, "2-6:1.3");
        /* what it lacks reads as 0 or unknown */
        assert_int_equal(d->interfaces[0].cls, 0x08);
        assert_int_equal(d->interfaces[0].subclass, 0);
        assert_int_equal(d->interfaces[0].protocol, 0);
        assert_int_equal(d->interfaces[0].number, 0);
        assert_int_equal(d->interfaces[0].authorized, -1);
        assert_null(d->interfaces[0].name);
        assert_null(d->interfaces[0].driver);
        assert_null(d->interfaces[0].modalias);
        assert_int_equal(d->interfaces[0].category, USB_CATEGORY_STORAGE); /* 08/00/00 */
        usb_device_free(d);
        g_free(i0);
        g_free(i1);
        g_free(i2);
        g_free(i3);
        g_free(dev);
}

/* A device that claims more interfaces than a configuration can have: the
 * snapshot stops at USB_DESC_MAX_INTERFACES. */
static void test_interface_bound(void **state) {
        Bed *b = *state;
        char *dev = add_device(b, b->hub, "2-7",
                               STRV("idVendor", "1234", "idProduct", "5678", "bConfigurationValue", "1"),
                               STRV("DEVTYPE", "usb_device"));
        UsbDevice *d;

        for (unsigned k = 0; k < USB_DESC_MAX_INTERFACES + 6; k++) {
                char name[32], num[8];
                snprintf(name, sizeof name, "2-7:1.%u", k);
                snprintf(num, sizeof num, "%02x", k);
                g_free(add_interface(b, dev, name, STRV("bInterfaceClass", "03", "bInterfaceNumber", num)));
        }
        d = read_ok(dev);
        assert_int_equal(d->n_interfaces, USB_DESC_MAX_INTERFACES);
        usb_device_free(d);
        g_free(dev);
}

/* ---- hubs ---- */

static void test_hub(void **state) {
        Bed *b = *state;
        char *hub = add_device(b, b->hub, "2-8",
                               STRV("idVendor", "05e3", "idProduct", "0626", "bDeviceClass", "09", "authorized", "1",
                                    "bConfigurationValue", "1", "product", "USB3.1 Hub"),
                               STRV("DEVTYPE", "usb_device"));
        char *hub_if = add_interface(b, hub, "2-8:1.0",
                                     STRV("bInterfaceClass", "09", "bInterfaceNumber", "00", "authorized", "1"));
        /* a stick behind it: its directory is inside the hub's, its name starts with the hub's */
        char *stick = add_device(b, hub, "2-8.4",
                                 STRV("idVendor", "0781", "idProduct", "5567", "authorized", "1", "bConfigurationValue",
                                      "1"),
                                 STRV("DEVTYPE", "usb_device"));
        char *stick_if = add_interface(b, stick, "2-8.4:1.0", STRV("bInterfaceClass", "08", "bInterfaceNumber", "00"));
        Desc desc = { 0 };
        UsbDevice *d;

        d = read_ok(hub);
        assert_int_equal(d->device_class, 0x09);
        assert_false(d->is_root_hub);
        assert_int_equal(d->n_interfaces, 1); /* its own interface, not the stick's */
        assert_string_equal(d->interfaces[0].sysname, "2-8:1.0");
        assert_int_equal(d->categories, 0);
        usb_device_free(d);

        d = read_ok(stick);
        assert_string_equal(d->sysname, "2-8.4");
        assert_false(d->is_root_hub);
        assert_int_equal(d->n_interfaces, 1);
        assert_int_equal(d->categories, USB_CATEGORY_BIT(USB_CATEGORY_STORAGE));
        usb_device_free(d);

        /* the root hub: never read from its descriptors, whatever they say */
        desc_device(&desc, 0x1d6b, 0x0003, 0x09);
        desc_config(&desc, 1, 1);
        desc_interface(&desc, 0, 0, 0x08, 0x06, 0x50);
        set_descriptors(b, b->hub, &desc);
        d = read_ok(b->hub);
        assert_string_equal(d->sysname, "usb2");
        assert_true(d->is_root_hub);
        assert_int_equal(d->device_class, 0x09);
        assert_int_equal(d->busnum, 2);
        assert_int_equal(d->devnum, 1);
        assert_string_equal(d->product_name, "xHCI Host Controller");
        assert_int_equal(d->n_interfaces, 0);
        assert_false(d->interfaces_from_descriptors);
        assert_int_equal(d->categories, 0);
        usb_device_free(d);
        g_free(stick_if);
        g_free(stick);
        g_free(hub_if);
        g_free(hub);
}

/* ---- authorized, of the device and of an interface ---- */

static void test_authorized_values(void **state) {
        Bed *b = *state;
        char *dev = add_device(b, b->hub, "2-9",
                               STRV("idVendor", "0781", "idProduct", "5567", "authorized", "1", "bConfigurationValue",
                                    "1"),
                               STRV("DEVTYPE", "usb_device"));
        char *intf = add_interface(b, dev, "2-9:1.0",
                                   STRV("bInterfaceClass", "08", "bInterfaceNumber", "00", "authorized", "1"));
        static const struct {
                const char *value;
                int authorized;
        } cases[] = {
                { "1\n", 1 },
                { "0\n", 0 },
                { "1", 1 },
                { "0", 0 },
                { "2\n", 1 }, /* nonzero: the kernel's "true" */
                { "", -1 },
                { "\n", -1 },
                { "yes", -1 },
                { "1 0", -1 },
                { "-1", -1 },
                { "0x1", -1 }, /* decimal only */
                { "99999999999", -1 },
        };
        UsbDevice *d;

        for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
                set_raw(b, dev, "authorized", cases[k].value, strlen(cases[k].value));
                set_raw(b, intf, "authorized", cases[k].value, strlen(cases[k].value));
                d = read_ok(dev);
                if (d->authorized != cases[k].authorized || d->interfaces[0].authorized != cases[k].authorized)
                        fail_msg("authorized \"%s\": device %d, interface %d, expected %d", cases[k].value,
                                 d->authorized, d->interfaces[0].authorized, cases[k].authorized);
                usb_device_free(d);
        }
        /* missing: unknown, not 0 or 1 */
        unset(b, dev, "authorized");
        unset(b, intf, "authorized");
        d = read_ok(dev);
        assert_int_equal(d->authorized, -1);
        assert_int_equal(d->interfaces[0].authorized, -1);
        usb_device_free(d);
        g_free(intf);
        g_free(dev);
}

/* ---- what udev's rules said of the device ---- */

static void test_udev_properties(void **state) {
        Bed *b = *state;
        char *dev = add_device(b, b->hub, "2-10",
                               STRV("idVendor", "0e8d", "idProduct", "201d", "authorized", "1", "bConfigurationValue",
                                    "1"),
                               STRV("DEVTYPE", "usb_device", "ID_MTP_DEVICE", "1", "ID_MEDIA_PLAYER", "mediatek",
                                    "ID_GPHOTO2", "1"));
        char *plain = add_device(b, b->hub, "2-11",
                                 STRV("idVendor", "0e8d", "idProduct", "201d", "bConfigurationValue", "1"),
                                 STRV("DEVTYPE", "usb_device", "ID_MTP_DEVICE", "0", "ID_MEDIA_PLAYER", "",
                                      "ID_GPHOTO2", "yes"));
        char *intf = add_interface(b, dev, "2-10:1.0",
                                   STRV("bInterfaceClass", "ff", "bInterfaceSubClass", "ff", "bInterfaceNumber", "00"));
        UsbDevice *d;

        /* a phone whose interface is not called MTP, known to libmtp's rules */
        d = read_ok(dev);
        assert_int_equal(d->udev_flags, USB_UDEV_MTP_DEVICE | USB_UDEV_MEDIA_PLAYER | USB_UDEV_GPHOTO2);
        assert_int_equal(d->interfaces[0].category, USB_CATEGORY_MTP);
        assert_int_equal(d->interfaces[0].category_source, USB_CATEGORY_FROM_UDEV);
        assert_string_equal(d->interfaces[0].category_by, "ID_MTP_DEVICE");
        usb_device_free(d);

        /* only "1" (and a non-empty player name) count */
        d = read_ok(plain);
        assert_int_equal(d->udev_flags, 0);
        usb_device_free(d);
        g_free(intf);
        g_free(plain);
        g_free(dev);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_storage_stick, bed_setup, bed_teardown),
                cmocka_unit_test_setup_teardown(test_interfaces_in_order, bed_setup, bed_teardown),
                cmocka_unit_test_setup_teardown(test_hostile_strings, bed_setup, bed_teardown),
                cmocka_unit_test_setup_teardown(test_interfaces_from_descriptors, bed_setup, bed_teardown),
                cmocka_unit_test_setup_teardown(test_alternate_settings, bed_setup, bed_teardown),
                cmocka_unit_test_setup_teardown(test_missing_attributes, bed_setup, bed_teardown),
                cmocka_unit_test_setup_teardown(test_interface_bound, bed_setup, bed_teardown),
                cmocka_unit_test_setup_teardown(test_hub, bed_setup, bed_teardown),
                cmocka_unit_test_setup_teardown(test_authorized_values, bed_setup, bed_teardown),
                cmocka_unit_test_setup_teardown(test_udev_properties, bed_setup, bed_teardown),
        };

        /* the testbed's sysfs is only what umockdev's preload shows this process */
        const char *preload = getenv("LD_PRELOAD");
        if (!preload || !strstr(preload, "umockdev-preload")) {
                fprintf(stderr, "test-usb-sysfs: run me under umockdev-wrapper; skipped\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
