/* SPDX-License-Identifier: MIT */
#include "unit.h"
#include <string.h>

#include "config.h"
#include "local-midnight.h"
#include "policy.h"

static Policy *load(const char *main_text, const char *allow) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        int r = config_load_strings(main_text, allow, &p, &e);
        if (r < 0)
                config_errors_print(&e, stderr);
        config_errors_done(&e);
        assert_int_equal(r, 0);
        return p;
}

static UsbDevice *stick(const char *serial) {
        UsbDevice *d = usb_device_new("1-1", 0x0781, 0x5567, serial, serial ? strlen(serial) : 0);
        assert_int_equal(usb_device_add_interface(d, "1-1:1.0", 0x08, 0x06, 0x50, NULL, 1), 0);
        usb_device_classify(d);
        return d;
}

static const char *ALLOW =
        "allow = (\n"
        "  { vendor = \"0781\"; product = \"5567\"; serial = \"GOOD\"; approved_by = \"x\"; label = \"ok\"; },\n"
        "  { vendor = \"0781\"; product = \"5567\"; serial = \"OLD\"; approved_by = \"x\"; expires = \"2020-01-31\"; },\n"
        "  { vendor = \"0781\"; product = \"5567\"; serial = \"SOON\"; approved_by = \"x\"; expires = \"2099-12-31\"; },\n"
        "  { vendor = \"046d\"; product = \"c52b\"; any_serial = true; approved_by = \"x\"; }\n"
        ");\n";

static void test_reasons(void **state) {
        Policy *p = load("", ALLOW);
        usec_t now = now_usec(CLOCK_REALTIME);
        UsbDevice *d;
        Decision dec;

        d = stick("GOOD");
        dec = policy_decide(p, d, now);
        assert_true(dec.relevant);
        assert_true(dec.allow);
        assert_int_equal(dec.reason, DECISION_ALLOWED);
        assert_string_equal(dec.entry->label, "ok");
        assert_int_equal(dec.changes_at, USEC_INFINITY);
        usb_device_free(d);

        d = stick("OLD");
        dec = policy_decide(p, d, now);
        assert_false(dec.allow);
        assert_int_equal(dec.reason, DECISION_EXPIRED);
        assert_int_equal(dec.entry->line, 3);
        usb_device_free(d);

        d = stick("SOON");
        dec = policy_decide(p, d, now);
        assert_true(dec.allow);
        /* through 2099-12-31: until the local midnight that starts 2100 */
        usec_t end = local_midnight(4102412400, 4102444800, 4102462800);
        assert_int_equal(dec.changes_at, end);
        /* ... and after the last day it no longer allows */
        dec = policy_decide(p, d, end);
        assert_false(dec.allow);
        assert_int_equal(dec.reason, DECISION_EXPIRED);
        dec = policy_decide(p, d, end - 1);
        assert_true(dec.allow);
        usb_device_free(d);

        d = stick("OTHER");
        dec = policy_decide(p, d, now);
        assert_false(dec.allow);
        assert_int_equal(dec.reason, DECISION_SERIAL_MISMATCH);
        usb_device_free(d);

        d = stick(NULL);
        dec = policy_decide(p, d, now);
        assert_false(dec.allow);
        assert_int_equal(dec.reason, DECISION_NO_SERIAL);
        usb_device_free(d);

        d = usb_device_new("1-2", 0x1234, 0x5678, "Z", 1);
        usb_device_add_interface(d, "1-2:1.0", 0x08, 0x06, 0x50, NULL, 1);
        usb_device_classify(d);
        dec = policy_decide(p, d, now);
        assert_int_equal(dec.reason, DECISION_UNKNOWN);
        assert_null(dec.entry);
        usb_device_free(d);

        /* a model nobody listed is unknown, with or without a serial */
        d = usb_device_new("1-2", 0x1234, 0x5678, NULL, 0);
        usb_device_add_interface(d, "1-2:1.0", 0x08, 0x06, 0x50, NULL, 1);
        usb_device_classify(d);
        dec = policy_decide(p, d, now);
        assert_int_equal(dec.reason, DECISION_UNKNOWN);
        assert_null(dec.entry);
        usb_device_free(d);

        /* any_serial matches a device without a serial */
        d = usb_device_new("1-3", 0x046d, 0xc52b, NULL, 0);
        usb_device_add_interface(d, "1-3:1.0", 0x08, 0x06, 0x50, NULL, 1);
        usb_device_classify(d);
        dec = policy_decide(p, d, now);
        assert_true(dec.allow);
        assert_true(dec.entry->any_serial);
        usb_device_free(d);
        policy_unref(p);
}

static void test_serial_is_exact(void **state) {
        Policy *p = load("",
                         "allow = ( { vendor = \"0781\"; product = \"5567\"; serial = \"ab\"; approved_by = \"x\"; } );");
        UsbDevice *d = stick("AB");
        assert_false(policy_decide(p, d, 0).allow);
        usb_device_free(d);
        d = stick("ab ");
        assert_false(policy_decide(p, d, 0).allow);
        usb_device_free(d);
        /* an embedded NUL cannot smuggle a match */
        d = usb_device_new("1-1", 0x0781, 0x5567, "ab\0x", 4);
        usb_device_add_interface(d, "1-1:1.0", 0x08, 0x06, 0x50, NULL, 1);
        usb_device_classify(d);
        assert_false(policy_decide(p, d, 0).allow);
        usb_device_free(d);
        policy_unref(p);
}

/* An RFC 3339 expiry ends the approval at that microsecond, and the decision
 * says when it will change so that plugged devices are re-decided then. */
static void test_expiry_instant(void **state) {
        Policy *p = load("", "allow = (\n"
                             "  { vendor = \"0781\"; product = \"5567\"; serial = \"T\"; approved_by = \"x\";\n"
                             "    expires = \"2026-11-21T18:00:00+09:00\"; },\n"
                             "  { vendor = \"0781\"; product = \"5567\"; any_serial = true; approved_by = \"x\";\n"
                             "    expires = \"2026-11-21T17:00:00+09:00\"; }\n"
                             ");\n");
        usec_t at = 1795251600ULL * USEC_PER_SEC;
        UsbDevice *d = stick("T");
        Decision dec = policy_decide(p, d, at - 1);
        assert_true(dec.allow);
        assert_true(dec.entry->serial != NULL); /* the exact serial beats any_serial */
        assert_int_equal(dec.changes_at, at);
        dec = policy_decide(p, d, at);
        assert_false(dec.allow);
        assert_int_equal(dec.reason, DECISION_EXPIRED);
        assert_int_equal(dec.changes_at, USEC_INFINITY);
        /* an hour earlier only the any_serial entry had expired */
        dec = policy_decide(p, d, at - 3600 * USEC_PER_SEC);
        assert_true(dec.allow);
        usb_device_free(d);
        policy_unref(p);
}

static void test_categories(void **state) {
        Policy *p = load("usb = { block = [ \"storage\" ]; };", NULL);
        UsbDevice *d = usb_device_new("1-1", 0x18d1, 0x4ee1, "PHONE", 5);
        usb_device_add_interface(d, "1-1:1.0", 0xff, 0xff, 0x00, "MTP", 1);
        usb_device_classify(d);
        Decision dec = policy_decide(p, d, 0);
        assert_false(dec.relevant); /* MTP is not blocked by this policy */
        assert_true(dec.allow);
        usb_device_free(d);

        /* composite keyboard + storage: only storage is blocked */
        d = stick("K");
        usb_device_add_interface(d, "1-1:1.1", 0x03, 0x01, 0x01, NULL, 1);
        usb_device_classify(d);
        dec = policy_decide(p, d, 0);
        assert_true(decision_blocks_interface(&dec, &d->interfaces[0]));
        assert_false(decision_blocks_interface(&dec, &d->interfaces[1]));
        usb_device_free(d);
        policy_unref(p);
}

/* access: read-write unless the allowing entry says read-only; the entry
 * that allows decides, not one that merely matches the model. */
static void test_access(void **state) {
        Policy *p = load("", "allow = (\n"
                             "  { vendor = \"0781\"; product = \"5567\"; serial = \"RO\"; approved_by = \"x\";\n"
                             "    access = \"read-only\"; },\n"
                             "  { vendor = \"0781\"; product = \"5567\"; serial = \"RW\"; approved_by = \"x\";\n"
                             "    access = \"read-write\"; },\n"
                             "  { vendor = \"0781\"; product = \"5567\"; serial = \"DEF\"; approved_by = \"x\"; },\n"
                             "  { vendor = \"0781\"; product = \"5567\"; serial = \"OLDRO\"; approved_by = \"x\";\n"
                             "    access = \"read-only\"; expires = \"2020-01-31\"; }\n"
                             ");\n");
        usec_t now = now_usec(CLOCK_REALTIME);
        static const struct {
                const char *serial;
                bool allow, read_only;
        } cases[] = {
                { "RO", true, true },      { "RW", true, false },     { "DEF", true, false },
                { "OLDRO", false, false }, { "OTHER", false, false },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                UsbDevice *d = stick(cases[i].serial);
                Decision dec = policy_decide(p, d, now);
                assert_int_equal(dec.allow, cases[i].allow);
                assert_int_equal(decision_read_only(&dec), cases[i].read_only);
                assert_int_equal(dec.access, cases[i].read_only ? ALLOW_ACCESS_READ_ONLY : ALLOW_ACCESS_READ_WRITE);
                usb_device_free(d);
        }
        assert_string_equal(allow_access_to_string(ALLOW_ACCESS_READ_ONLY), "read-only");
        assert_int_equal(allow_access_from_string("read-write"), ALLOW_ACCESS_READ_WRITE);
        assert_true(allow_access_from_string("ro") < 0);
        policy_unref(p);
        (void) state;
}

static void test_failsafe(void **state) {
        Policy *p = NULL;
        assert_int_equal(policy_new_failsafe("/x", &p), 0);
        UsbDevice *d = stick("GOOD");
        Decision dec = policy_decide(p, d, 0);
        assert_false(dec.allow);
        assert_int_equal(dec.reason, DECISION_NO_POLICY);
        usb_device_free(d);
        /* keyboards are never of a blocked category */
        d = usb_device_new("1-2", 1, 2, NULL, 0);
        usb_device_add_interface(d, "1-2:1.0", 0x03, 1, 1, NULL, 1);
        usb_device_classify(d);
        assert_false(policy_decide(p, d, 0).relevant);
        usb_device_free(d);
        policy_unref(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reasons),        cmocka_unit_test(test_serial_is_exact),
                cmocka_unit_test(test_expiry_instant), cmocka_unit_test(test_categories),
                cmocka_unit_test(test_access),         cmocka_unit_test(test_failsafe),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
