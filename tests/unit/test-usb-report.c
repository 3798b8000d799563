/* SPDX-License-Identifier: MIT */
#include "unit.h"
#include <string.h>

#include "config.h"
#include "usb-report.h"

static const EventEnvelope env = {
        .host_name = "pc-01",
        .machine_id = "0123456789abcdef0123456789abcdef",
        .agent_version = "0.1.0",
        .policy_hash = "ff",
        .user_uid = -1,
};

static void test_blocked_event(void **state) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        assert_int_equal(config_load_strings("", NULL, &p, &e), 0);
        /* hostile strings: quotes, newline, invalid UTF-8, control bytes */
        UsbDevice *d = usb_device_new("1-4", 0x0781, 0x5567, "S\"1\n\xff", 5);
        free(d->manufacturer);
        d->manufacturer = strdup("Evil\\Corp");
        usb_device_add_interface(d, "1-4:1.0", 0x08, 0x06, 0x50, "Mass\x01Storage", 0);
        usb_device_add_interface(d, "1-4:1.1", 0x03, 0x01, 0x01, NULL, 1);
        usb_device_classify(d);
        Decision dec = policy_decide(p, d, 0);
        Event *ev = NULL;
        assert_int_equal(usb_report_build(p, d, &dec, &ev), 0);
        assert_int_equal(ev->kind, EVENT_USB_BLOCKED);
        char *json = NULL;
        size_t len;
        assert_int_equal(event_render(ev, &env, &json, &len), 0);
        assert_int_equal(strlen(json), len);
        assert_null(strchr(json, '\n'));
        assert_non_null(strstr(json, "\"kind\":\"usb.blocked\""));
        /* the one device shape of every bus: "bus" first (docs/events.md 4.10) */
        assert_non_null(strstr(json, "\"device\":{\"bus\":\"usb\",\"vendor_id\":"));
        assert_non_null(strstr(json, "\"policy_ref\":\"対策基準 第3-6\""));
        assert_non_null(strstr(json, "\"serial\":\"S\\\"1\\\\x0a\\\\xff\""));
        assert_non_null(strstr(json, "\"serial_hex\":\"5322310aff\""));
        assert_non_null(strstr(json, "\"reason\":\"unknown\""));
        assert_non_null(strstr(json, "\"name\":\"Mass\\\\x01Storage\""));
        assert_non_null(strstr(
                json,
                "{\"id\":\"1-4:1.1\",\"number\":0,\"class\":\"03\",\"subclass\":\"01\",\"protocol\":\"01\",\"category\":\"other\",\"action\":\"untouched\""));
        assert_non_null(strstr(json, "\"action\":\"blocked\""));
        /* message is one clean line */
        assert_null(strchr(ev->message, '\n'));
        free(json);
        event_free(ev);
        usb_device_free(d);
        policy_unref(p);
}

/* issue 14: usb.readonly_violated, high, with the access and what was
 * found; a hostile mount point stays one escaped string. usb.allowed of a
 * read-only approval says its access. */
static void test_readonly_events(void **state) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        assert_int_equal(config_load_strings("",
                                             "allow = ( { vendor = \"0781\"; product = \"5567\"; serial = \"RO\"; "
                                             "approved_by = \"o\"; access = \"read-only\"; label = \"読取用\"; } );",
                                             &p, &e),
                         0);
        UsbDevice *d = usb_device_new("1-4", 0x0781, 0x5567, "RO", 2);
        usb_device_add_interface(d, "1-4:1.0", 0x08, 0x06, 0x50, NULL, 0);
        usb_device_classify(d);
        Decision dec = policy_decide(p, d, 0);
        Event *ev = NULL;
        char *json = NULL;
        size_t len;

        assert_true(decision_read_only(&dec));
        assert_int_equal(usb_report_build(p, d, &dec, &ev), 0);
        assert_int_equal(ev->kind, EVENT_USB_ALLOWED);
        assert_int_equal(event_render(ev, &env, &json, &len), 0);
        assert_non_null(strstr(json, "\"access\":\"read-only\""));
        free(json);
        event_free(ev);

        dec.allow = false;
        dec.reason = DECISION_READONLY_VIOLATED;
        assert_int_equal(usb_report_build_readonly_violated(p, d, &dec, "mounted_read_write", "/media/x\n\\y", &ev), 0);
        assert_int_equal(ev->kind, EVENT_USB_READONLY_VIOLATED);
        assert_int_equal(event_render(ev, &env, &json, &len), 0);
        assert_null(strchr(json, '\n'));
        assert_null(strchr(ev->message, '\n'));
        assert_non_null(strstr(json, "\"severity\":\"high\""));
        assert_non_null(strstr(json, "\"reason\":\"readonly_violated\",\"access\":\"read-only\""));
        assert_non_null(strstr(json, "\"violation\":{\"what\":\"mounted_read_write\",\"mount_point\":"));
        assert_non_null(strstr(json, "\"action\":\"blocked\""));
        assert_non_null(strstr(json, "\"label\":\"読取用\""));
        free(json);
        event_free(ev);
        usb_device_free(d);
        policy_unref(p);
        (void) state;
}

/* An event says what mamorid did: "authorized" for an interface it let in
 * (not of a blocked category), "untouched" only for one it never wrote; and
 * names the driver that made an interface storage. */
static void test_interface_actions_and_drivers(void **state) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        assert_int_equal(config_load_strings("", NULL, &p, &e), 0);
        UsbDevice *d = usb_device_new("1-5", 0x05ac, 0x12a8, "IPHONE", 6);
        usb_device_add_interface(d, "1-5:1.0", 0x06, 0x01, 0x01, "PTP", 0);
        usb_device_add_interface(d, "1-5:1.1", 0xff, 0xfe, 0x02, "Apple Mobile Device", 0);
        usb_device_add_interface(d, "1-5:1.2", 0xff, 0x42, 0x01, "ADB Interface", 1);
        usb_device_add_interface(d, "1-5:1.3", 0x07, 0x01, 0x02, NULL, 1);
        usb_device_add_interface(d, "1-5:1.4", 0x03, 0x01, 0x01, NULL, 1);
        d->interfaces[2].done = USB_INTERFACE_AUTHORIZED;
        d->interfaces[3].driver = strdup("usb-storage");
        d->interfaces[3].done = USB_INTERFACE_AUTHORIZED;
        usb_device_classify(d);
        Decision dec = policy_decide(p, d, 0);
        assert_string_equal(usb_report_interface_action(&dec, &d->interfaces[0]), "blocked");
        assert_string_equal(usb_report_interface_action(&dec, &d->interfaces[1]), "blocked"); /* usbmux */
        assert_string_equal(usb_report_interface_action(&dec, &d->interfaces[2]), "authorized");
        assert_string_equal(usb_report_interface_action(&dec, &d->interfaces[3]), "blocked");
        assert_string_equal(usb_report_interface_action(&dec, &d->interfaces[4]), "untouched");

        Event *ev = NULL;
        char *json = NULL;
        size_t len;
        assert_int_equal(usb_report_build(p, d, &dec, &ev), 0);
        assert_int_equal(event_render(ev, &env, &json, &len), 0);
        assert_non_null(
                strstr(json, "\"id\":\"1-5:1.1\",\"number\":0,\"class\":\"ff\",\"subclass\":\"fe\",\"protocol\":\"02\","
                             "\"name\":\"Apple Mobile Device\",\"category\":\"mtp\",\"action\":\"blocked\""));
        assert_non_null(strstr(json, "\"category\":\"storage\",\"category_from\":\"driver\",\"category_by\":\"usb-storage\","
                                     "\"driver\":\"usb-storage\",\"action\":\"blocked\""));
        assert_non_null(strstr(ev->message, "1-5:1.3 (class 07) is storage by its bound driver usb-storage"));
        assert_non_null(strstr(json, "\"blocked_categories\":[\"storage\",\"mtp\",\"ptp\"]"));
        free(json);
        event_free(ev);
        usb_device_free(d);
        policy_unref(p);
}

/* The report key changes when what an event would say changes: the decision,
 * or the set of interfaces it covers; not for an interface it leaves alone. */
static void test_report_key(void **state) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        assert_int_equal(config_load_strings("", NULL, &p, &e), 0);
        UsbDevice *d = usb_device_new("1-4", 0x0781, 0x5567, "S", 1);
        usb_device_add_interface(d, "1-4:1.0", 0x08, 0x06, 0x50, NULL, 1);
        usb_device_classify(d);
        Decision dec = policy_decide(p, d, 0);
        char *k1 = usb_report_key(d, &dec);

        usb_device_add_interface(d, "1-4:1.1", 0x03, 0x01, 0x01, NULL, 1); /* a keyboard: untouched */
        usb_device_classify(d);
        dec = policy_decide(p, d, 0);
        char *k2 = usb_report_key(d, &dec);
        assert_string_equal(k1, k2);

        usb_device_add_interface(d, "1-4:1.2", 0x08, 0x06, 0x50, NULL, 1); /* a late storage interface */
        usb_device_classify(d);
        dec = policy_decide(p, d, 0);
        char *k3 = usb_report_key(d, &dec);
        assert_string_not_equal(k2, k3);
        assert_non_null(strstr(k3, "1-4:1.0,1-4:1.2,"));
        assert_null(strstr(k3, "1-4:1.1"));

        free(k1);
        free(k2);
        free(k3);
        usb_device_free(d);
        policy_unref(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_interface_actions_and_drivers),
                cmocka_unit_test(test_blocked_event),
                cmocka_unit_test(test_report_key),
                cmocka_unit_test(test_readonly_events),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
