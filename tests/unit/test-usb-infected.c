/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include "config.h"
#include "usb-infected.h"

static Policy *load(const char *main_text, const char *allow) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        int r = config_load_strings(main_text, allow, &p, &e);
        if (r < 0)
                config_errors_print(&e, stderr);
        assert_int_equal(r, 0);
        return p;
}

static UsbDevice *dev(uint16_t vendor, uint16_t product, const char *serial, size_t len, uint8_t cls) {
        UsbDevice *d = usb_device_new("2-4", vendor, product, serial, len);
        assert_non_null(d);
        assert_int_equal(usb_device_add_interface(d, "2-4:1.0", cls, 0x06, 0x50, NULL, 1), 0);
        usb_device_classify(d);
        return d;
}

/* An allow entry matches, the device was found infected: blocked all the
 * same, its storage interface too, and no expiry lets it back in. */
static void test_decision_overrides_allow(void **state) {
        Policy *p = load("usb = { block = [ \"storage\" ]; };",
                         "allow = ( { vendor = \"0781\"; product = \"5567\"; serial = \"S1\"; approved_by = \"o\"; "
                         "expires = \"2099-01-01\"; } );");
        UsbDevice *d = dev(0x0781, 0x5567, "S1", 2, 0x08);
        Decision dec = policy_decide(p, d, now_usec(CLOCK_REALTIME));

        assert_true(dec.relevant && dec.allow);
        assert_true(dec.changes_at != USEC_INFINITY);
        assert_false(decision_blocks_interface(&dec, &d->interfaces[0]));
        decision_set_infected(&dec, d);
        assert_false(dec.allow);
        assert_int_equal(dec.reason, DECISION_INFECTED);
        assert_string_equal(decision_reason_to_string(dec.reason), "infected");
        assert_true(decision_blocks_interface(&dec, &d->interfaces[0]));
        assert_int_equal(dec.changes_at, USEC_INFINITY);
        assert_non_null(dec.entry); /* the approval it overrides is still named */
        usb_device_free(d);
        policy_unref(p);
        (void) state;
}

/* Storage not blocked by the policy at all: an infected stick loses it anyway. */
static void test_decision_category_not_blocked(void **state) {
        Policy *p = load("usb = { block = [ \"tethering\" ]; };", NULL);
        UsbDevice *d = dev(0x0781, 0x5567, "S1", 2, 0x08);
        Decision dec = policy_decide(p, d, now_usec(CLOCK_REALTIME));

        assert_false(dec.relevant);
        assert_false(decision_blocks_interface(&dec, &d->interfaces[0]));
        decision_set_infected(&dec, d);
        assert_true(dec.relevant);
        assert_true(decision_blocks_interface(&dec, &d->interfaces[0]));
        usb_device_free(d);
        policy_unref(p);
        (void) state;
}

/* A keyboard on the same device is not what carried the files: kept. */
static void test_decision_keeps_hid(void **state) {
        Policy *p = load("usb = { block = [ \"storage\" ]; };", NULL);
        UsbDevice *d = usb_device_new("2-4", 0x1234, 0x5678, "K", 1);
        Decision dec;

        assert_non_null(d);
        assert_int_equal(usb_device_add_interface(d, "2-4:1.0", 0x08, 0x06, 0x50, NULL, 1), 0);
        assert_int_equal(usb_device_add_interface(d, "2-4:1.1", 0x03, 0x01, 0x01, NULL, 1), 0);
        usb_device_classify(d);
        dec = policy_decide(p, d, now_usec(CLOCK_REALTIME));
        decision_set_infected(&dec, d);
        assert_true(decision_blocks_interface(&dec, &d->interfaces[0]));
        assert_false(decision_blocks_interface(&dec, &d->interfaces[1]));
        usb_device_free(d);
        policy_unref(p);
        (void) state;
}

/* An SD card (category outside USB) allowed by its CID: blocked all the same,
 * even where the policy does not block SD cards at all. */
static void test_decision_device(void **state) {
        Policy *p = load("devices = { block = [ \"mmc\" ]; };",
                         "allow = ( { bus = \"mmc\"; manfid = \"0x0000aa\"; oemid = \"0x5859\"; name = \"QEMU!\"; "
                         "serial = \"0xdeadbeef\"; date = \"02/2006\"; approved_by = \"o\"; } );");
        Policy *off = load("devices = { block = [ ]; };", NULL);
        const char *id[DEVICE_ID_MAX] = { "0x0000aa", "0x5859", "QEMU!", "0xdeadbeef", "02/2006" };
        Decision dec = policy_decide_device(p, DEVICE_CATEGORY_MMC, id, now_usec(CLOCK_REALTIME));

        assert_true(dec.relevant && dec.allow);
        decision_set_infected_device(&dec, DEVICE_CATEGORY_MMC);
        assert_true(dec.relevant && !dec.allow);
        assert_int_equal(dec.reason, DECISION_INFECTED);
        assert_true(dec.blocked_categories & DEVICE_CATEGORY_BIT(DEVICE_CATEGORY_MMC));
        assert_non_null(dec.entry);
        dec = policy_decide_device(off, DEVICE_CATEGORY_MMC, id, now_usec(CLOCK_REALTIME));
        assert_false(dec.relevant && !dec.allow);
        decision_set_infected_device(&dec, DEVICE_CATEGORY_MMC);
        assert_true(dec.relevant && !dec.allow);
        assert_int_equal(dec.changes_at, USEC_INFINITY);
        policy_unref(p);
        policy_unref(off);
        (void) state;
}

/* Identity: vendor, product and the serial's exact bytes. */
static void test_set_identity(void **state) {
        UsbInfectedSet s = { 0 };
        UsbInfected dropped;
        UsbDevice *a = dev(0x0781, 0x5567, "S1", 2, 0x08);
        UsbDevice *same = dev(0x0781, 0x5567, "S1", 2, 0x08);
        UsbDevice *other_serial = dev(0x0781, 0x5567, "S2", 2, 0x08);
        UsbDevice *prefix = dev(0x0781, 0x5567, "S1\0x", 4, 0x08);
        UsbDevice *other_product = dev(0x0781, 0x5568, "S1", 2, 0x08);
        UsbDevice *no_serial = dev(0x0781, 0x5567, NULL, 0, 0x08);
        const UsbInfected *e;

        assert_null(usb_infected_find(&s, a));
        assert_int_equal(usb_infected_add(&s, a, "0b7a1f9e-0000-4000-8000-000000000001", &dropped), 0);
        assert_null(dropped.serial);
        e = usb_infected_find(&s, same);
        assert_non_null(e);
        assert_string_equal(e->cause, "0b7a1f9e-0000-4000-8000-000000000001");
        assert_null(usb_infected_find(&s, other_serial));
        assert_null(usb_infected_find(&s, prefix));
        assert_null(usb_infected_find(&s, other_product));
        assert_null(usb_infected_find(&s, no_serial));
        /* known already: the first cause stays */
        assert_int_equal(usb_infected_add(&s, same, "later", &dropped), 1);
        assert_string_equal(usb_infected_find(&s, a)->cause, "0b7a1f9e-0000-4000-8000-000000000001");
        /* no serial: not remembered (the enforcer holds it until unplugged) */
        assert_int_equal(usb_infected_add(&s, no_serial, "x", &dropped), -ENODATA);
        assert_int_equal(s.n, 1);
        /* a cause longer than an event id is cut, never overflows */
        assert_int_equal(usb_infected_add(&s, other_serial, "0123456789012345678901234567890123456789xx", &dropped), 0);
        assert_int_equal(strlen(usb_infected_find(&s, other_serial)->cause), USB_INFECTED_CAUSE_MAX - 1);
        usb_infected_set_done(&s);
        assert_int_equal(s.n, 0);
        usb_device_free(a);
        usb_device_free(same);
        usb_device_free(other_serial);
        usb_device_free(prefix);
        usb_device_free(other_product);
        usb_device_free(no_serial);
        (void) state;
}

/* Bounded: the 65th identity drops the oldest, which is handed back. */
static void test_set_bounded(void **state) {
        UsbInfectedSet s = { 0 };
        UsbInfected dropped;
        char serial[16];
        UsbDevice *first = NULL, *last = NULL;

        for (unsigned i = 0; i <= USB_INFECTED_MAX; i++) {
                int n = snprintf(serial, sizeof serial, "SN%04u", i);
                UsbDevice *d = dev(0x0781, 0x5567, serial, (size_t) n, 0x08);
                assert_int_equal(usb_infected_add(&s, d, NULL, &dropped), 0);
                if (i < USB_INFECTED_MAX)
                        assert_null(dropped.serial);
                else {
                        assert_non_null(dropped.serial);
                        assert_string_equal(dropped.serial, "SN0000");
                        assert_int_equal(dropped.vendor, 0x0781);
                        usb_infected_clear(&dropped);
                }
                if (i == 0)
                        first = d;
                else if (i == USB_INFECTED_MAX)
                        last = d;
                else {
                        assert_non_null(usb_infected_find(&s, d));
                        usb_device_free(d);
                }
        }
        assert_int_equal(s.n, USB_INFECTED_MAX);
        assert_null(usb_infected_find(&s, first));
        assert_non_null(usb_infected_find(&s, last));
        assert_string_equal(s.entries[0].serial, "SN0001");
        assert_string_equal(s.entries[0].cause, "");
        usb_infected_set_done(&s);
        usb_device_free(first);
        usb_device_free(last);
        (void) state;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_decision_overrides_allow),
                cmocka_unit_test(test_decision_category_not_blocked),
                cmocka_unit_test(test_decision_keeps_hid),
                cmocka_unit_test(test_decision_device),
                cmocka_unit_test(test_set_identity),
                cmocka_unit_test(test_set_bounded),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
