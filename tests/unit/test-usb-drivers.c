/* SPDX-License-Identifier: MIT */
/* common/usb-drivers.c: the built-in table of drivers per category and the
 * admin's entries. */
#include "unit.h"

#include "macro.h"
#include "usb-drivers.h"

static void test_driver_table(void **state) {
        static const char *const storage[] = { "usb-storage", "usb_storage", "uas",           "ums-realtek",
                                               "ums_realtek", "ums-alauda",  "ums-eneub6250", "rtsx_usb",
                                               "rtsx-usb",    "ushc",        "vub300" };
        static const char *const tethering[] = { "rndis_host", "cdc_ether", "cdc_ncm",        "cdc_mbim",
                                                 "ipheth",     "qmi_wwan",  "huawei_cdc_ncm", "cdc_subset",
                                                 "plusb",      "net1080",   "gl620a" };
        static const char *const other[] = { "usbhid", "usblp", "usbfs",      "hub",          "usb", "ftdi_sio",
                                             "btusb",  "",      "usb-storag", "usb-storagex", "uas2" };

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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_driver_table),
                cmocka_unit_test(test_driver_list),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
