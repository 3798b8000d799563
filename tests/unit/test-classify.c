/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include "usb-classify.h"
#include "usb-device.h"
#include "usb-drivers.h"

#define C(cls, sub, proto, name) usb_classify_interface(cls, sub, proto, name)

static void test_storage(void **state) {
        assert_int_equal(C(0x08, 0x06, 0x50, NULL), USB_CATEGORY_STORAGE); /* BOT */
        assert_int_equal(C(0x08, 0x06, 0x62, NULL), USB_CATEGORY_STORAGE); /* UAS */
        assert_int_equal(C(0x08, 0x04, 0x00, NULL), USB_CATEGORY_STORAGE); /* UFI floppy */
}

static void test_ptp_mtp(void **state) {
        assert_int_equal(C(0x06, 0x01, 0x01, NULL), USB_CATEGORY_PTP);
        assert_int_equal(C(0x06, 0x01, 0x01, "PTP"), USB_CATEGORY_PTP);
        assert_int_equal(C(0x06, 0x01, 0x01, "MTP"), USB_CATEGORY_MTP);
        assert_int_equal(C(0xff, 0xff, 0x00, "MTP"), USB_CATEGORY_MTP); /* Android */
        assert_int_equal(C(0xff, 0xff, 0x00, "Android MTP Device"), USB_CATEGORY_MTP);
        assert_int_equal(C(0xff, 0xff, 0x00, "mtp"), USB_CATEGORY_MTP);
        assert_int_equal(C(0xff, 0xff, 0x00, "SMTP gateway"), USB_CATEGORY_OTHER);
        assert_int_equal(C(0xff, 0x42, 0x01, "ADB Interface"), USB_CATEGORY_OTHER);
        assert_int_equal(C(0xff, 0xff, 0x00, NULL), USB_CATEGORY_OTHER);
}

static void test_mtp_hidden_characters(void **state) {
        /* what shows as "MTP" is MTP: zero-width space, joiner, soft hyphen, tag, BOM, control */
        assert_int_equal(C(0xff, 0xff, 0x00, "M\u200bTP"), USB_CATEGORY_MTP);
        assert_int_equal(C(0xff, 0xff, 0x00, "M\u200dT\u00adP"), USB_CATEGORY_MTP);
        assert_int_equal(C(0xff, 0xff, 0x00, "Android \U000E0041MTP"), USB_CATEGORY_MTP);
        assert_int_equal(C(0xff, 0xff, 0x00, "\ufeffmtp"), USB_CATEGORY_MTP);
        assert_int_equal(C(0x06, 0x01, 0x01, "M\x01TP"), USB_CATEGORY_MTP);
        /* taking them out makes no word of what was none */
        assert_int_equal(C(0xff, 0xff, 0x00, "S\u200bMTP"), USB_CATEGORY_OTHER);
        assert_int_equal(C(0xff, 0xff, 0x00, "\xffMTP"), USB_CATEGORY_MTP);
        assert_int_equal(C(0xff, 0xff, 0x00, "M\u00e9TP"), USB_CATEGORY_OTHER);
}

static void test_mtp_by_udev(void **state) {
        const char *by;
        /* a phone that does not call its interface MTP, known to libmtp's rules */
        assert_int_equal(usb_classify_interface_udev(0xff, 0xff, 0x00, NULL, USB_UDEV_MTP_DEVICE, &by), USB_CATEGORY_MTP);
        assert_string_equal(by, "ID_MTP_DEVICE");
        assert_int_equal(usb_classify_interface_udev(0xff, 0xff, 0x00, "Media", USB_UDEV_MEDIA_PLAYER, &by),
                         USB_CATEGORY_MTP);
        assert_string_equal(by, "ID_MEDIA_PLAYER");
        assert_int_equal(usb_classify_interface_udev(0x06, 0x01, 0x01, NULL, USB_UDEV_MTP_DEVICE, &by), USB_CATEGORY_MTP);
        assert_string_equal(by, "ID_MTP_DEVICE");
        /* a camera known to libgphoto2 */
        assert_int_equal(usb_classify_interface_udev(0xff, 0x00, 0x00, NULL, USB_UDEV_GPHOTO2, &by), USB_CATEGORY_PTP);
        assert_string_equal(by, "ID_GPHOTO2");
        /* mtp before ptp */
        assert_int_equal(usb_classify_interface_udev(0xff, 0x00, 0x00, NULL, USB_UDEV_GPHOTO2 | USB_UDEV_MTP_DEVICE, &by),
                         USB_CATEGORY_MTP);
        /* the class already says it: nothing from udev */
        assert_int_equal(usb_classify_interface_udev(0x06, 0x01, 0x01, NULL, USB_UDEV_GPHOTO2, &by), USB_CATEGORY_PTP);
        assert_null(by);
        assert_int_equal(usb_classify_interface_udev(0xff, 0xff, 0x00, "MTP", USB_UDEV_MTP_DEVICE, &by), USB_CATEGORY_MTP);
        assert_null(by);
        /* other classes of such a device keep theirs */
        assert_int_equal(usb_classify_interface_udev(0x08, 0x06, 0x50, NULL, USB_UDEV_MTP_DEVICE, &by), USB_CATEGORY_STORAGE);
        assert_int_equal(usb_classify_interface_udev(0x03, 0x01, 0x01, NULL, USB_UDEV_MTP_DEVICE, &by), USB_CATEGORY_OTHER);
        assert_int_equal(usb_classify_interface_udev(0xff, 0xfd, 0x01, NULL, USB_UDEV_MEDIA_PLAYER, &by),
                         USB_CATEGORY_TETHERING); /* ipheth */
        /* without the properties, unchanged */
        assert_int_equal(usb_classify_interface_udev(0xff, 0xff, 0x00, NULL, 0, &by), USB_CATEGORY_OTHER);
        assert_null(by);

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

static void test_iphone(void **state) {
        /* usbmux: file access to the phone (usbmuxd, gvfs AFC) */
        assert_int_equal(C(0xff, 0xfe, 0x02, NULL), USB_CATEGORY_MTP);
        assert_int_equal(C(0xff, 0xfe, 0x02, "Apple Mobile Device"), USB_CATEGORY_MTP);
        assert_int_equal(C(0xff, 0xfd, 0x01, NULL), USB_CATEGORY_TETHERING); /* ipheth */
        assert_int_equal(C(0x06, 0x01, 0x01, "PTP"), USB_CATEGORY_PTP);
        /* neighbours of usbmux are not */
        assert_int_equal(C(0xff, 0xfe, 0x01, NULL), USB_CATEGORY_OTHER);
        assert_int_equal(C(0xff, 0xfe, 0x03, NULL), USB_CATEGORY_OTHER);
        assert_int_equal(C(0xfe, 0xfe, 0x02, NULL), USB_CATEGORY_OTHER);
}

static void test_driver_table(void **state) {
        static const char *const storage[] = { "usb-storage", "usb_storage", "uas", "ums-realtek", "ums_realtek",
                                               "ums-alauda", "ums-eneub6250", "rtsx_usb", "rtsx-usb", "ushc", "vub300" };
        static const char *const tethering[] = { "rndis_host", "cdc_ether", "cdc_ncm", "cdc_mbim", "ipheth", "qmi_wwan",
                                                 "huawei_cdc_ncm", "cdc_subset", "plusb", "net1080", "gl620a" };
        static const char *const other[] = { "usbhid", "usblp", "usbfs", "hub", "usb", "ftdi_sio", "btusb", "",
                                             "usb-storag", "usb-storagex", "uas2" };

        for (size_t i = 0; i < ELEMENTSOF(storage); i++)
                assert_int_equal(usb_driver_category(NULL, 0, storage[i]), USB_CATEGORY_STORAGE);
        for (size_t i = 0; i < ELEMENTSOF(tethering); i++)
                assert_int_equal(usb_driver_category(NULL, 0, tethering[i]), USB_CATEGORY_TETHERING);
        for (size_t i = 0; i < ELEMENTSOF(other); i++)
                assert_int_equal(usb_driver_category(NULL, 0, other[i]), USB_CATEGORY_OTHER);
        assert_int_equal(usb_driver_category(NULL, 0, NULL), USB_CATEGORY_OTHER);

        /* every built-in name is one an admin could write, and unique */
        for (size_t i = 0; i < usb_driver_builtin_count(); i++) {
                UsbCategory c;
                const char *n = usb_driver_builtin(i, &c);
                assert_true(usb_driver_name_valid(n));
                assert_true(c == USB_CATEGORY_STORAGE || c == USB_CATEGORY_TETHERING);
                for (size_t k = 0; k < i; k++)
                        assert_false(usb_driver_name_equal(n, usb_driver_builtin(k, NULL)));
        }
        assert_null(usb_driver_builtin(usb_driver_builtin_count(), NULL));

        /* the admin's entries add to it */
        UsbDriverEntry extra[] = { { (char *) "acme_sd", USB_CATEGORY_STORAGE },
                                   { (char *) "my-phone", USB_CATEGORY_MTP } };
        assert_int_equal(usb_driver_category(extra, 2, "acme-sd"), USB_CATEGORY_STORAGE);
        assert_int_equal(usb_driver_category(extra, 2, "my_phone"), USB_CATEGORY_MTP);
        assert_int_equal(usb_driver_category(extra, 2, "uas"), USB_CATEGORY_STORAGE);
        assert_int_equal(usb_driver_category(NULL, 0, "acme_sd"), USB_CATEGORY_OTHER);

        assert_true(usb_driver_name_valid("ums-sddr09"));
        assert_false(usb_driver_name_valid(""));
        assert_false(usb_driver_name_valid("a b"));
        assert_false(usb_driver_name_valid("../x"));
        assert_false(usb_driver_name_valid("x\n"));
        assert_false(usb_driver_name_valid("0123456789012345678901234567890123456789012345678901234567"));
}

static void test_driver_list(void **state) {
        const char *name;
        size_t len;
        assert_int_equal(usb_driver_list_category(NULL, 0, "usblp usb_storage", &name, &len), USB_CATEGORY_STORAGE);
        assert_int_equal(len, strlen("usb_storage"));
        assert_memory_equal(name, "usb_storage", len);
        /* storage ranks first, whatever the order */
        assert_int_equal(usb_driver_list_category(NULL, 0, "cdc_ether rtsx_usb", &name, &len), USB_CATEGORY_STORAGE);
        assert_memory_equal(name, "rtsx_usb", len);
        assert_int_equal(usb_driver_list_category(NULL, 0, "usbhid", &name, &len), USB_CATEGORY_OTHER);
        assert_null(name);
        assert_int_equal(usb_driver_list_category(NULL, 0, "", NULL, NULL), USB_CATEGORY_OTHER);
        assert_int_equal(usb_driver_list_category(NULL, 0, NULL, NULL, NULL), USB_CATEGORY_OTHER);
        /* a prefix of a name is not the name */
        assert_int_equal(usb_driver_list_category(NULL, 0, "ua usb", NULL, NULL), USB_CATEGORY_OTHER);
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

static void test_tethering(void **state) {
        assert_int_equal(C(0xe0, 0x01, 0x03, NULL), USB_CATEGORY_TETHERING); /* RNDIS */
        assert_int_equal(C(0xef, 0x04, 0x01, NULL), USB_CATEGORY_TETHERING); /* RNDIS misc */
        assert_int_equal(C(0xef, 0x01, 0x01, NULL), USB_CATEGORY_TETHERING); /* RNDIS ActiveSync (rndis_host) */
        assert_int_equal(C(0xef, 0x02, 0x01, NULL), USB_CATEGORY_OTHER);     /* IAD: a webcam's, a headset's */
        assert_int_equal(C(0xef, 0x01, 0x02, NULL), USB_CATEGORY_OTHER);
        assert_int_equal(C(0x02, 0x02, 0xff, NULL), USB_CATEGORY_TETHERING); /* RNDIS over ACM */
        assert_int_equal(C(0x02, 0x06, 0x00, NULL), USB_CATEGORY_TETHERING); /* ECM */
        assert_int_equal(C(0x02, 0x0d, 0x00, NULL), USB_CATEGORY_TETHERING); /* NCM */
        assert_int_equal(C(0x02, 0x0e, 0x00, NULL), USB_CATEGORY_TETHERING); /* MBIM */
        assert_int_equal(C(0xff, 0xfd, 0x01, NULL), USB_CATEGORY_TETHERING); /* iPhone */
        /* Not tethering: Bluetooth adapters, serial modems */
        assert_int_equal(C(0xe0, 0x01, 0x01, NULL), USB_CATEGORY_OTHER);
        assert_int_equal(C(0x02, 0x02, 0x01, NULL), USB_CATEGORY_OTHER);
        assert_int_equal(C(0x0a, 0x00, 0x00, NULL), USB_CATEGORY_OTHER);
}

static void test_never_touched(void **state) {
        assert_int_equal(C(0x03, 0x01, 0x01, "Keyboard"), USB_CATEGORY_OTHER);
        assert_int_equal(C(0x03, 0x01, 0x02, NULL), USB_CATEGORY_OTHER);
        assert_int_equal(C(0x09, 0x00, 0x00, NULL), USB_CATEGORY_OTHER);
        assert_int_equal(C(0x01, 0x01, 0x00, NULL), USB_CATEGORY_OTHER);
        assert_int_equal(C(0x0e, 0x01, 0x00, NULL), USB_CATEGORY_OTHER);
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

static void test_names(void **state) {
        assert_string_equal(usb_category_to_string(USB_CATEGORY_MTP), "mtp");
        assert_int_equal(usb_category_from_string("tethering"), USB_CATEGORY_TETHERING);
        assert_true(usb_category_from_string("bogus") < 0);
        assert_int_equal(usb_category_primary(USB_CATEGORY_BIT(USB_CATEGORY_PTP) | USB_CATEGORY_BIT(USB_CATEGORY_STORAGE)),
                         USB_CATEGORY_STORAGE);
}

static void test_name_decides(void **state) {
        /* the classes an MTP responder may use are named before they are let in */
        assert_true(usb_class_name_decides(0xff));
        assert_true(usb_class_name_decides(0x06));
        for (unsigned c = 0; c < 0xff; c++)
                if (c != 0x06)
                        assert_false(usb_class_name_decides((uint8_t) c));
        /* and for them the name is what decides */
        assert_int_equal(usb_classify_interface(0xff, 0xff, 0x00, NULL), USB_CATEGORY_OTHER);
        assert_int_equal(usb_classify_interface(0xff, 0xff, 0x00, "MTP"), USB_CATEGORY_MTP);
        assert_int_equal(usb_classify_interface(0x06, 0x01, 0x01, NULL), USB_CATEGORY_PTP);
        assert_int_equal(usb_classify_interface(0x06, 0x01, 0x01, "MTP"), USB_CATEGORY_MTP);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_name_decides),
                cmocka_unit_test(test_storage),
                cmocka_unit_test(test_ptp_mtp),
                cmocka_unit_test(test_tethering),
                cmocka_unit_test(test_never_touched),
                cmocka_unit_test(test_cdc_data_follows_device),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_iphone),
                cmocka_unit_test(test_mtp_hidden_characters),
                cmocka_unit_test(test_mtp_by_udev),
                cmocka_unit_test(test_alternate_settings),
                cmocka_unit_test(test_driver_table),
                cmocka_unit_test(test_driver_list),
                cmocka_unit_test(test_classify_by_driver),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
