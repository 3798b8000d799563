/* SPDX-License-Identifier: MIT */
/* common/usb-classify.c: an interface's category from its class triple, its name
 * and what udev's rules said of the device. */
#include "unit.h"

#include "usb-classify.h"

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
        assert_int_equal(usb_classify_interface_udev(0xff, 0xff, 0x00, "MTP", USB_UDEV_MTP_DEVICE, &by),
                         USB_CATEGORY_MTP);
        assert_null(by);
        /* other classes of such a device keep theirs */
        assert_int_equal(usb_classify_interface_udev(0x08, 0x06, 0x50, NULL, USB_UDEV_MTP_DEVICE, &by),
                         USB_CATEGORY_STORAGE);
        assert_int_equal(usb_classify_interface_udev(0x03, 0x01, 0x01, NULL, USB_UDEV_MTP_DEVICE, &by),
                         USB_CATEGORY_OTHER);
        assert_int_equal(usb_classify_interface_udev(0xff, 0xfd, 0x01, NULL, USB_UDEV_MEDIA_PLAYER, &by),
                         USB_CATEGORY_TETHERING); /* ipheth */
        /* without the properties, unchanged */
        assert_int_equal(usb_classify_interface_udev(0xff, 0xff, 0x00, NULL, 0, &by), USB_CATEGORY_OTHER);
        assert_null(by);
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
                cmocka_unit_test(test_name_decides),  cmocka_unit_test(test_storage),
                cmocka_unit_test(test_ptp_mtp),       cmocka_unit_test(test_tethering),
                cmocka_unit_test(test_never_touched), cmocka_unit_test(test_names),
                cmocka_unit_test(test_iphone),        cmocka_unit_test(test_mtp_hidden_characters),
                cmocka_unit_test(test_mtp_by_udev),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
