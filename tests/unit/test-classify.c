/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include "usb-classify.h"
#include "usb-device.h"

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

static void test_tethering(void **state) {
        assert_int_equal(C(0xe0, 0x01, 0x03, NULL), USB_CATEGORY_TETHERING); /* RNDIS */
        assert_int_equal(C(0xef, 0x04, 0x01, NULL), USB_CATEGORY_TETHERING); /* RNDIS misc */
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
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
