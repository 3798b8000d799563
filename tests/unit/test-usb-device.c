/* SPDX-License-Identifier: MIT */
/* common/usb-device.c, the pure part: the builders, the strings kept raw and
 * sanitized, and a device's classification over its interfaces. Reading one
 * from sysfs: test-usb-sysfs.c. */
#include "unit.h"

#include "text.h"
#include "usb-device.h"
#include "usb-drivers.h"

static void test_new(void **state) {
        char id[10];
        UsbDevice *d = usb_device_new(NULL, 0x0781, 0x5567, NULL, 0);

        assert_non_null(d);
        /* a builder's device: bus path 1-1 unless named, configured and authorized */
        assert_string_equal(d->sysname, "1-1");
        assert_string_equal(d->syspath, "/sys/bus/usb/devices/1-1");
        assert_int_equal(d->vendor, 0x0781);
        assert_int_equal(d->product, 0x5567);
        assert_int_equal(d->authorized, 1);
        assert_true(d->configured);
        assert_false(d->has_serial);
        assert_null(d->serial_raw);
        assert_null(d->serial);
        assert_null(d->serial_hex);
        assert_int_equal(d->n_interfaces, 0);
        assert_string_equal(usb_device_id(d, id), "0781:5567");
        assert_ptr_equal(usb_device_id(d, id), id);
        assert_null(usb_device_free(d));
        assert_null(usb_device_free(NULL));

        /* an empty serial is none */
        d = usb_device_new("2-4.1", 0x000a, 0xbeef, "", 0);
        assert_string_equal(d->syspath, "/sys/bus/usb/devices/2-4.1");
        assert_false(d->has_serial);
        assert_string_equal(usb_device_id(d, id), "000a:beef");
        usb_device_free(d);
}

static void test_serial_raw_and_shown(void **state) {
        UsbDevice *d = usb_device_new("1-1", 1, 2, "4C530001", 8);

        /* a serial that shows as itself: no hex */
        assert_true(d->has_serial);
        assert_int_equal(d->serial_raw_len, 8);
        assert_string_equal(d->serial_raw, "4C530001");
        assert_string_equal(d->serial, "4C530001");
        assert_null(d->serial_hex);
        assert_false(d->strings_truncated);
        usb_device_free(d);

        /* the exact bytes (a NUL, a control, invalid UTF-8, U+202E) for matching;
         * escaped for output, and the hex for an admin's allow entry */
        d = usb_device_new("1-1", 1, 2, "A\0B\x1b\xff\xe2\x80\xae", 8);
        assert_int_equal(d->serial_raw_len, 8);
        assert_memory_equal(d->serial_raw, "A\0B\x1b\xff\xe2\x80\xae", 8);
        assert_int_equal(d->serial_raw[8], 0);
        assert_string_equal(d->serial, "A\\x00B\\x1b\\xff\\u202e");
        assert_string_equal(d->serial_hex, "410042"
                                           "1bffe280ae");
        usb_device_free(d);

        /* overlong: the shown copy is cut, and says so; the hex stops at 512 bytes */
        char big[3000];
        memset(big, 'x', sizeof big);
        d = usb_device_new("1-1", 1, 2, big, sizeof big);
        assert_int_equal(d->serial_raw_len, sizeof big);
        assert_true(strlen(d->serial) <= TEXT_DEVICE_MAX);
        assert_true(d->strings_truncated);
        assert_int_equal(strlen(d->serial_hex), 1024);
        usb_device_free(d);
}

static void test_add_interface(void **state) {
        UsbDevice *d = usb_device_new("3-2", 1, 2, "S", 1);
        char long_name[600];

        assert_int_equal(usb_device_add_interface(d, "3-2:1.0", 0x08, 0x06, 0x50, NULL, 0), 0);
        assert_int_equal(usb_device_add_interface(d, "3-2:1.1", 0xff, 0xff, 0x00, "M\xe2\x80\x8bTP\n", -1), 0);
        assert_int_equal(d->n_interfaces, 2);
        assert_string_equal(d->interfaces[0].sysname, "3-2:1.0");
        assert_string_equal(d->interfaces[0].syspath, "/sys/bus/usb/devices/3-2/3-2:1.0");
        assert_int_equal(d->interfaces[0].cls, 0x08);
        assert_int_equal(d->interfaces[0].subclass, 0x06);
        assert_int_equal(d->interfaces[0].protocol, 0x50);
        assert_int_equal(d->interfaces[0].authorized, 0);
        assert_null(d->interfaces[0].name_raw);
        assert_null(d->interfaces[0].name);
        assert_int_equal(d->interfaces[1].authorized, -1);
        /* the name as sent decides (classification), the escaped one is shown */
        assert_string_equal(d->interfaces[1].name_raw, "M\xe2\x80\x8bTP\n");
        assert_string_equal(d->interfaces[1].name, "M\\u200bTP\\x0a");
        assert_false(d->strings_truncated);
        usb_device_classify(d);
        assert_int_equal(d->interfaces[0].category, USB_CATEGORY_STORAGE);
        assert_int_equal(d->interfaces[1].category, USB_CATEGORY_MTP);
        assert_int_equal(d->categories, USB_CATEGORY_BIT(USB_CATEGORY_STORAGE) | USB_CATEGORY_BIT(USB_CATEGORY_MTP));

        memset(long_name, 'n', sizeof long_name - 1);
        long_name[sizeof long_name - 1] = 0;
        assert_int_equal(usb_device_add_interface(d, "3-2:1.2", 0x03, 0, 0, long_name, 1), 0);
        assert_true(strlen(d->interfaces[2].name) <= TEXT_DEVICE_MAX);
        assert_string_equal(d->interfaces[2].name_raw, long_name);
        assert_true(d->strings_truncated);
        usb_device_free(d);
}

static void test_sanitize(void **state) {
        bool truncated = false;
        char *s;

        assert_null(usb_device_sanitize(NULL, &truncated));
        s = usb_device_sanitize("Cruzer\tBlade \xc3", &truncated);
        assert_string_equal(s, "Cruzer\\x09Blade \\xc3");
        assert_false(truncated);
        free(s);
        s = usb_device_sanitize("plain", NULL);
        assert_string_equal(s, "plain");
        free(s);
}

static void test_classify_udev_flags(void **state) {
        /* on the device: the source and the property are kept for the event */
        UsbDevice *d = usb_device_new("1-1", 0x0e8d, 0x201d, "X", 1);
        assert_int_equal(usb_device_add_interface(d, "1-1:1.0", 0xff, 0xff, 0x00, NULL, 0), 0);
        assert_int_equal(usb_device_add_interface(d, "1-1:1.1", 0x03, 0x01, 0x01, NULL, 0), 0);
        usb_device_classify(d);
        assert_int_equal(d->categories, 0);
        d->udev_flags = USB_UDEV_MTP_DEVICE;
        usb_device_classify(d);
        assert_int_equal(d->interfaces[0].category, USB_CATEGORY_MTP);
        assert_int_equal(d->interfaces[0].category_source, USB_CATEGORY_FROM_UDEV);
        assert_string_equal(d->interfaces[0].category_by, "ID_MTP_DEVICE");
        assert_int_equal(d->interfaces[1].category, USB_CATEGORY_OTHER);
        assert_int_equal(d->categories, USB_CATEGORY_BIT(USB_CATEGORY_MTP));
        usb_device_free(d);
}

static void test_alternate_settings(void **state) {
        UsbDevice *d = usb_device_new("1-1", 0x1234, 0x0001, "X", 1);
        /* a "keyboard" whose alternate setting 1 is mass storage */
        assert_int_equal(usb_device_add_interface(d, "1-1:1.0", 0x03, 0x01, 0x01, NULL, 1), 0);
        /* and a real keyboard interface beside it, with a harmless alternate */
        assert_int_equal(usb_device_add_interface(d, "1-1:1.1", 0x03, 0x00, 0x00, NULL, 1), 0);
        d->interfaces[0].alts[d->interfaces[0].n_alts++] = (UsbAltSetting){ 1, 0x08, 0x06, 0x50 };
        d->interfaces[1].alts[d->interfaces[1].n_alts++] = (UsbAltSetting){ 1, 0x03, 0x00, 0x00 };
        usb_device_classify(d);
        assert_int_equal(d->interfaces[0].category, USB_CATEGORY_STORAGE);
        assert_int_equal(d->interfaces[0].category_source, USB_CATEGORY_FROM_ALTERNATE);
        assert_string_equal(d->interfaces[0].category_by, "alt 1 08/06/50");
        assert_int_equal(d->interfaces[1].category, USB_CATEGORY_OTHER);
        assert_int_equal(d->categories, USB_CATEGORY_BIT(USB_CATEGORY_STORAGE));

        /* the most restrictive alternate counts, whatever the order */
        d->interfaces[1].alts[d->interfaces[1].n_alts++] = (UsbAltSetting){ 2, 0xe0, 0x01, 0x03 };
        d->interfaces[1].alts[d->interfaces[1].n_alts++] = (UsbAltSetting){ 3, 0x06, 0x01, 0x01 };
        usb_device_classify(d);
        assert_int_equal(d->interfaces[1].category, USB_CATEGORY_PTP);
        assert_string_equal(d->interfaces[1].category_by, "alt 3 06/01/01");
        /* an alternate of a vendor class is what udev says of the device */
        d->interfaces[1].n_alts = 0;
        d->interfaces[1].alts[d->interfaces[1].n_alts++] = (UsbAltSetting){ 1, 0xff, 0xff, 0x00 };
        usb_device_classify(d);
        assert_int_equal(d->interfaces[1].category, USB_CATEGORY_OTHER);
        d->udev_flags = USB_UDEV_MTP_DEVICE;
        usb_device_classify(d);
        assert_int_equal(d->interfaces[1].category, USB_CATEGORY_MTP);
        assert_int_equal(d->interfaces[1].category_source, USB_CATEGORY_FROM_ALTERNATE);
        /* the current setting decides first when it ranks as high */
        d->interfaces[0].cls = 0x08;
        d->interfaces[0].subclass = 0x06;
        d->interfaces[0].protocol = 0x50;
        usb_device_classify(d);
        assert_int_equal(d->interfaces[0].category_source, USB_CATEGORY_FROM_CLASS);
        usb_device_free(d);
}

static void test_classify_by_driver(void **state) {
        UsbDevice *d = usb_device_new("1-1", 0x04b8, 0x0602, "X", 1);
        /* a printer that usb-storage's table claims */
        assert_int_equal(usb_device_add_interface(d, "1-1:1.0", 0x07, 0x01, 0x02, NULL, 0), 0);
        /* a keyboard beside it, and a vendor interface that a card reader driver takes */
        assert_int_equal(usb_device_add_interface(d, "1-1:1.1", 0x03, 0x01, 0x01, NULL, 0), 0);
        assert_int_equal(usb_device_add_interface(d, "1-1:1.2", 0xff, 0x06, 0x50, NULL, 0), 0);
        usb_device_classify(d);
        assert_int_equal(d->categories, 0); /* by class alone: harmless */

        d->interfaces[0].alias_modules = strdup("usblp usb_storage");
        d->interfaces[1].alias_modules = strdup("usbhid");
        d->interfaces[2].alias_modules = strdup("rtsx_usb");
        usb_device_classify(d);
        assert_int_equal(d->interfaces[0].category, USB_CATEGORY_STORAGE);
        assert_int_equal(d->interfaces[0].category_source, USB_CATEGORY_FROM_MODALIAS);
        assert_string_equal(d->interfaces[0].category_by, "usb_storage");
        assert_int_equal(d->interfaces[1].category, USB_CATEGORY_OTHER);
        assert_int_equal(d->interfaces[1].category_source, USB_CATEGORY_FROM_CLASS);
        assert_null(d->interfaces[1].category_by);
        assert_int_equal(d->interfaces[2].category, USB_CATEGORY_STORAGE);
        assert_string_equal(d->interfaces[2].category_by, "rtsx_usb");
        assert_int_equal(d->categories, USB_CATEGORY_BIT(USB_CATEGORY_STORAGE));

        /* a driver that bound (or was seen bound) decides too, before an alias of the same rank */
        d->interfaces[0].driver = strdup("usb-storage");
        d->interfaces[1].driver_seen = strdup("cdc_ether");
        usb_device_classify(d);
        assert_int_equal(d->interfaces[0].category_source, USB_CATEGORY_FROM_DRIVER);
        assert_string_equal(d->interfaces[0].category_by, "usb-storage");
        assert_int_equal(d->interfaces[1].category, USB_CATEGORY_TETHERING);
        assert_int_equal(d->interfaces[1].category_source, USB_CATEGORY_FROM_DRIVER);
        assert_int_equal(d->categories,
                         USB_CATEGORY_BIT(USB_CATEGORY_STORAGE) | USB_CATEGORY_BIT(USB_CATEGORY_TETHERING));

        /* the class stays what decides when it ranks first */
        usb_device_free(d);
        d = usb_device_new("1-2", 0x0781, 0x5567, "Y", 1);
        assert_int_equal(usb_device_add_interface(d, "1-2:1.0", 0x08, 0x06, 0x50, NULL, 0), 0);
        d->interfaces[0].alias_modules = strdup("usb_storage uas");
        d->interfaces[0].driver = strdup("cdc_ether");
        usb_device_classify(d);
        assert_int_equal(d->interfaces[0].category, USB_CATEGORY_STORAGE);
        assert_int_equal(d->interfaces[0].category_source, USB_CATEGORY_FROM_CLASS);

        /* the admin's table */
        free(d->interfaces[0].alias_modules);
        d->interfaces[0].cls = 0xff;
        d->interfaces[0].alias_modules = strdup("acme_sd");
        free(d->interfaces[0].driver);
        d->interfaces[0].driver = NULL;
        usb_device_classify(d);
        assert_int_equal(d->interfaces[0].category, USB_CATEGORY_OTHER);
        UsbDriverEntry extra[] = { { (char *) "acme-sd", USB_CATEGORY_STORAGE } };
        usb_device_classify_with(d, extra, 1);
        assert_int_equal(d->interfaces[0].category, USB_CATEGORY_STORAGE);
        assert_string_equal(d->interfaces[0].category_by, "acme_sd");
        usb_device_free(d);
}

static void test_cdc_data_follows_device(void **state) {
        UsbDevice *d = usb_device_new("1-1", 0x18d1, 0x4ee3, "X", 1);
        assert_int_equal(usb_device_add_interface(d, "1-1:1.0", 0xe0, 0x01, 0x03, NULL, 1), 0);
        assert_int_equal(usb_device_add_interface(d, "1-1:1.1", 0x0a, 0x00, 0x00, NULL, 1), 0);
        usb_device_classify(d);
        assert_int_equal(d->interfaces[1].category, USB_CATEGORY_TETHERING);
        assert_int_equal(d->categories, USB_CATEGORY_BIT(USB_CATEGORY_TETHERING));
        usb_device_free(d);

        d = usb_device_new("1-2", 0x2341, 0x0043, "S", 1); /* an Arduino: ACM + data */
        assert_int_equal(usb_device_add_interface(d, "1-2:1.0", 0x02, 0x02, 0x01, NULL, 1), 0);
        assert_int_equal(usb_device_add_interface(d, "1-2:1.1", 0x0a, 0x00, 0x00, NULL, 1), 0);
        usb_device_classify(d);
        assert_int_equal(d->categories, 0);
        usb_device_free(d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_new),
                cmocka_unit_test(test_serial_raw_and_shown),
                cmocka_unit_test(test_add_interface),
                cmocka_unit_test(test_sanitize),
                cmocka_unit_test(test_classify_udev_flags),
                cmocka_unit_test(test_alternate_settings),
                cmocka_unit_test(test_classify_by_driver),
                cmocka_unit_test(test_cdc_data_follows_device),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
