/* SPDX-License-Identifier: MIT */
/* The decision file between mamorid and mamori-block-access: what mamorid
 * writes reads back; anything else is refused. And the USB device of a block
 * device's DEVPATH. */
#include "unit.h"

#include "readonly-decision.h"

static void test_roundtrip(void **state) {
        char buf[READONLY_DECISION_MAX];
        for (int a = 0; a < _ALLOW_ACCESS_MAX; a++)
                for (unsigned n = 1; n <= 999; n += 97) {
                        ReadonlyDecision d = { .access = (AllowAccess) a, .devnum = n }, back = { 0 };
                        assert_int_equal(readonly_decision_format(&d, buf, sizeof buf), 0);
                        assert_int_equal(readonly_decision_parse(buf, strlen(buf), &back), 0);
                        assert_int_equal(back.access, d.access);
                        assert_int_equal(back.devnum, d.devnum);
                }
        assert_int_equal(readonly_decision_format(&(ReadonlyDecision){ .devnum = 7 }, buf, 8), -ENOBUFS);
        (void) state;
}

static void test_hostile(void **state) {
        static const char *const bad[] = {
                "",
                "access=read-only\n",
                "access=read-only\ndevnum=7",
                "access=read-only\ndevnum=7\n\n",
                "access=read-only\ndevnum=07\n",
                "access=read-only\ndevnum=0\n",
                "access=read-only\ndevnum=1000\n",
                "access=read-only\ndevnum=+7\n",
                "access=read-only\ndevnum= 7\n",
                "access=Read-Only\ndevnum=7\n",
                "access=read-only \ndevnum=7\n",
                "access=read-onlyxxxxxxxxxxxxxxxxxxxx\ndevnum=7\n",
                "devnum=7\naccess=read-only\n",
                "access=read-only\naccess=read-write\ndevnum=7\n",
                "access=read-only\r\ndevnum=7\n",
                "ACCESS=read-only\ndevnum=7\n",
        };
        ReadonlyDecision d;
        char nul[] = "access=read-only\ndevnum=7\n";

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int r = readonly_decision_parse(bad[i], strlen(bad[i]), &d);
                if (r != -EBADMSG)
                        fprintf(stderr, "accepted: '%s'\n", bad[i]);
                assert_int_equal(r, -EBADMSG);
        }
        nul[3] = 0;
        assert_int_equal(readonly_decision_parse(nul, sizeof nul - 1, &d), -EBADMSG);
        assert_int_equal(readonly_decision_parse("access=read-only\ndevnum=7\n", 26, &d), 0);
        assert_int_equal(d.access, ALLOW_ACCESS_READ_ONLY);
        (void) state;
}

static void test_devpath(void **state) {
        static const struct {
                const char *devpath, *device, *interface;
                int r;
        } cases[] = {
                { "/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/host6/target6:0:0/6:0:0:0/block/sdb", "1-2",
                  "1-2:1.0", 0 },
                { "/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/host6/target6:0:0/6:0:0:0/block/sdb/sdb1", "1-2",
                  "1-2:1.0", 0 },
                { "/devices/pci0000:00/0000:00:14.0/usb3/3-1/3-1.4/3-1.4.2/3-1.4.2:1.0/host2/block/sda", "3-1.4.2",
                  "3-1.4.2:1.0", 0 },
                { "/devices/virtual/block/loop0", NULL, NULL, -ENXIO },
                { "/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda", NULL, NULL, -ENXIO },
                /* an interface name under another device's directory is no interface of it */
                { "/devices/usb1/1-2/1-3:1.0/block/sdb", NULL, NULL, -ENXIO },
                { "/devices/usb1/1-2/1-2:1.0x/block/sdb", NULL, NULL, -ENXIO },
                { "/devices/usb1/1-02/1-02:1.0/block/sdb", NULL, NULL, -ENXIO },
                { "/devices/usb1/1-2./1-2.:1.0/block/sdb", NULL, NULL, -ENXIO },
                /* past "block" nothing counts */
                { "/devices/virtual/block/1-2/1-2:1.0", NULL, NULL, -ENXIO },
                { "/devices/usb1/1-2/../1-2/1-2:1.0/block/sdb", NULL, NULL, -EINVAL },
                { "/devices/usb1/1-2//1-2:1.0/block/sdb", NULL, NULL, -EINVAL },
                { "devices/usb1/1-2/1-2:1.0/block/sdb", NULL, NULL, -EINVAL },
                { "1-2:1.0/block/sdb", NULL, NULL, -EINVAL },
                { "/1-2:1.0/block/sdb", NULL, NULL, -ENXIO },
                { NULL, NULL, NULL, -EINVAL },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *dev = NULL, *iface = NULL;
                int r = readonly_usb_of_devpath(cases[i].devpath, &dev, &iface);
                if (r != cases[i].r)
                        fprintf(stderr, "%s: %d\n", cases[i].devpath, r);
                assert_int_equal(r, cases[i].r);
                if (r == 0) {
                        assert_string_equal(dev, cases[i].device);
                        assert_string_equal(iface, cases[i].interface);
                        assert_true(readonly_is_usb_device_name(dev));
                }
                free(dev);
                free(iface);
        }
        assert_false(readonly_is_usb_device_name("../x"));
        assert_false(readonly_is_usb_device_name("usb1"));
        assert_false(readonly_is_usb_device_name("1-"));
        assert_false(readonly_is_usb_device_name(""));
        (void) state;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_roundtrip),
                cmocka_unit_test(test_hostile),
                cmocka_unit_test(test_devpath),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
