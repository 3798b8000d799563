/* SPDX-License-Identifier: MIT */
/* The identity of devices outside USB: the formats (common/device-bus.c),
 * allow entries naming them (config-allow.c), the devices section
 * (config-devices.c) and policy_decide_device(). */
#include "unit.h"
#include <string.h>

#include "config.h"
#include "device-bus.h"
#include "policy.h"

static Policy *load_ok(const char *main_text, const char *allow) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        int r = config_load_strings(main_text, allow, &p, &e);
        if (r < 0)
                config_errors_print(&e, stderr);
        config_errors_done(&e);
        assert_int_equal(r, 0);
        return p;
}

/* Loads what must fail, and returns the errors printed as one string. */
static char *load_bad(const char *main_text, const char *allow) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        int r = config_load_strings(main_text, allow, &p, &e);

        assert_true(r < 0);
        assert_null(p);
        config_errors_print(&e, f);
        fclose(f);
        config_errors_done(&e);
        return buf;
}

static void test_formats(void **state) {
        assert_int_equal(device_bus_from_string("mmc"), DEVICE_BUS_MMC);
        assert_int_equal(device_bus_from_string("MMC"), -EINVAL);
        assert_int_equal(device_bus_from_string(NULL), -EINVAL);
        assert_int_equal(device_bus_n_id_keys(DEVICE_BUS_USB), 0);
        assert_int_equal(device_bus_n_id_keys(DEVICE_BUS_MMC), 5);
        assert_string_equal(device_bus_id_keys(DEVICE_BUS_THUNDERBOLT)[0], "unique_id");
        assert_null(device_bus_id_keys(DEVICE_BUS_THUNDERBOLT)[1]);

        assert_true(device_bus_id_valid(DEVICE_BUS_MMC, 0, "0x000003"));
        assert_false(device_bus_id_valid(DEVICE_BUS_MMC, 0, "0x00003"));
        assert_false(device_bus_id_valid(DEVICE_BUS_MMC, 0, "000003"));
        assert_false(device_bus_id_valid(DEVICE_BUS_MMC, 0, "0x00000g"));
        assert_true(device_bus_id_valid(DEVICE_BUS_MMC, 2, "SU08G"));
        assert_false(device_bus_id_valid(DEVICE_BUS_MMC, 2, "SU 08G"));
        assert_false(device_bus_id_valid(DEVICE_BUS_MMC, 2, "ABCDEFGHI"));
        assert_false(device_bus_id_valid(DEVICE_BUS_MMC, 2, "A\x1b[2J"));
        assert_false(device_bus_id_valid(DEVICE_BUS_MMC, 2, "\xe3\x81\x82"));
        assert_false(device_bus_id_valid(DEVICE_BUS_MMC, 2, ""));
        assert_true(device_bus_id_valid(DEVICE_BUS_MMC, 4, "06/2021"));
        assert_true(device_bus_id_valid(DEVICE_BUS_MMC, 4, "12/2021"));
        assert_false(device_bus_id_valid(DEVICE_BUS_MMC, 4, "13/2021"));
        assert_false(device_bus_id_valid(DEVICE_BUS_MMC, 4, "00/2021"));
        assert_false(device_bus_id_valid(DEVICE_BUS_MMC, 4, "6/2021"));
        assert_false(device_bus_id_valid(DEVICE_BUS_MMC, 5, "x"));
        assert_true(device_bus_id_valid(DEVICE_BUS_THUNDERBOLT, 0, "d6010000-0072-6a08-22ac-ea0d4e1a2a1b"));
        assert_false(device_bus_id_valid(DEVICE_BUS_THUNDERBOLT, 0, "d6010000-0072-6a08-22ac-ea0d4e1a2a1"));
        assert_false(device_bus_id_valid(DEVICE_BUS_THUNDERBOLT, 0, "d6010000x0072-6a08-22ac-ea0d4e1a2a1b"));
        assert_true(device_bus_id_valid(DEVICE_BUS_FIREWIRE, 0, "0x0001020304050607"));
        assert_false(device_bus_id_valid(DEVICE_BUS_FIREWIRE, 0, "0x00010203040506"));
        assert_true(device_bus_id_valid(DEVICE_BUS_OPTICAL, 0, "HL-DT-ST_DVDRAM_GUD1N_KZ8J1234"));
        assert_false(device_bus_id_valid(DEVICE_BUS_OPTICAL, 0, "with space"));
        assert_false(device_bus_id_valid(DEVICE_BUS_USB, 0, "x"));

        assert_int_equal(device_category_from_string("optical-write"), DEVICE_CATEGORY_OPTICAL_WRITE);
        assert_int_equal(device_category_bus(DEVICE_CATEGORY_OPTICAL_WRITE), DEVICE_BUS_OPTICAL);
        assert_int_equal(device_category_from_string("storage"), -EINVAL);
}

static const char *MMC_ALLOW =
        "allow = (\n"
        "  { bus = \"mmc\"; manfid = \"0x000003\"; oemid = \"0x5344\"; name = \"SU08G\"; serial = \"0x1a2b3c4d\";\n"
        "    date = \"06/2021\"; approved_by = \"x\"; label = \"card\"; },\n"
        "  { bus = \"thunderbolt\"; unique_id = \"d6010000-0072-6a08-22ac-ea0d4e1a2a1b\"; approved_by = \"x\";\n"
        "    expires = \"2020-01-31\"; },\n"
        "  { vendor = \"0781\"; product = \"5567\"; serial = \"GOOD\"; approved_by = \"x\"; }\n"
        ");\n";

static void test_decide(void **state) {
        Policy *p = load_ok("", MMC_ALLOW);
        usec_t now = now_usec(CLOCK_REALTIME);
        const char *card[DEVICE_ID_MAX] = { "0x000003", "0x5344", "SU08G", "0x1a2b3c4d", "06/2021" };
        const char *other[DEVICE_ID_MAX] = { "0x000003", "0x5344", "SU08G", "0x1a2b3c4e", "06/2021" };
        const char *partial[DEVICE_ID_MAX] = { "0x000003", "0x5344", "SU08G", NULL, "06/2021" };
        const char *tb[DEVICE_ID_MAX] = { "d6010000-0072-6a08-22ac-ea0d4e1a2a1b" };
        Decision dec;

        assert_int_equal(p->usb.n_entries, 3);
        assert_int_equal(p->devices.block_mask, DEVICE_CATEGORIES_DEFAULT);

        dec = policy_decide_device(p, DEVICE_CATEGORY_MMC, card, now);
        assert_true(dec.relevant);
        assert_true(dec.allow);
        assert_string_equal(dec.entry->label, "card");
        dec = policy_decide_device(p, DEVICE_CATEGORY_MMC, other, now);
        assert_false(dec.allow);
        assert_int_equal(dec.reason, DECISION_UNKNOWN);
        assert_null(dec.entry);
        dec = policy_decide_device(p, DEVICE_CATEGORY_MMC, partial, now);
        assert_false(dec.allow);
        /* the card's identity on another bus is not the card */
        dec = policy_decide_device(p, DEVICE_CATEGORY_THUNDERBOLT, card, now);
        assert_false(dec.allow);
        dec = policy_decide_device(p, DEVICE_CATEGORY_THUNDERBOLT, tb, now);
        assert_false(dec.allow);
        assert_int_equal(dec.reason, DECISION_EXPIRED);
        /* not blocked by default: the optical drive as a whole */
        dec = policy_decide_device(p, DEVICE_CATEGORY_OPTICAL, tb, now);
        assert_false(dec.relevant);
        assert_true(dec.allow);
        policy_unref(p);

        /* fail-closed blocks every category */
        assert_int_equal(policy_new_failsafe("/x", &p), 0);
        dec = policy_decide_device(p, DEVICE_CATEGORY_OPTICAL, tb, now);
        assert_true(dec.relevant);
        assert_false(dec.allow);
        assert_int_equal(dec.reason, DECISION_NO_POLICY);
        policy_unref(p);
}

static void test_usb_entries_ignore_other_buses(void **state) {
        /* An mmc entry has vendor 0000 and product 0000 in memory: it must
         * never allow a USB device that claims those ids. */
        Policy *p = load_ok("",
                            "allow = ( { bus = \"firewire\"; guid = \"0x0001020304050607\"; approved_by = \"x\"; } );");
        UsbDevice *d = usb_device_new("1-1", 0, 0, NULL, 0);

        assert_int_equal(usb_device_add_interface(d, "1-1:1.0", 0x08, 0x06, 0x50, NULL, 1), 0);
        usb_device_classify(d);
        assert_false(policy_decide(p, d, now_usec(CLOCK_REALTIME)).allow);
        usb_device_free(d);
        policy_unref(p);
}

static void test_devices_section(void **state) {
        Policy *p = load_ok("devices = { block = [ \"storage\", \"optical\", \"mmc\" ]; };", "");
        char *err;

        assert_int_equal(p->usb.block_mask, USB_CATEGORY_BIT(USB_CATEGORY_STORAGE));
        assert_int_equal(p->devices.block_mask,
                         DEVICE_CATEGORY_BIT(DEVICE_CATEGORY_OPTICAL) | DEVICE_CATEGORY_BIT(DEVICE_CATEGORY_MMC));
        policy_unref(p);

        p = load_ok("devices = { block = [ ]; };", "");
        assert_int_equal(p->usb.block_mask, 0);
        assert_int_equal(p->devices.block_mask, 0);
        policy_unref(p);

        /* the older form still works for USB; the others keep their default */
        p = load_ok("usb = { block = [ \"mtp\" ]; };", "");
        assert_int_equal(p->usb.block_mask, USB_CATEGORY_BIT(USB_CATEGORY_MTP));
        assert_int_equal(p->devices.block_mask, DEVICE_CATEGORIES_DEFAULT);
        policy_unref(p);

        err = load_bad("usb = { block = [ \"mtp\" ]; };\ndevices = { block = [ \"mmc\" ]; };", "");
        assert_non_null(strstr(err, "usb.block (line 1) are both set"));
        free(err);
        err = load_bad("devices = { block = [ \"floppy\" ]; };", "");
        assert_non_null(strstr(err, "unknown category 'floppy'"));
        free(err);
        err = load_bad("devices = { block = [ \"mmc\", \"mmc\" ]; };", "");
        assert_non_null(strstr(err, "listed twice"));
        free(err);
        err = load_bad("devices = { blocks = [ \"mmc\" ]; };", "");
        free(err);
}

static void test_bad_entries(void **state) {
        char *err;

        err = load_bad("", "allow = ( { bus = \"scsi\"; approved_by = \"x\"; } );");
        assert_non_null(strstr(err, "'bus' is 'scsi'"));
        free(err);
        /* a partial identity would allow more than the approver saw */
        err = load_bad("", "allow = ( { bus = \"mmc\"; manfid = \"0x000003\"; approved_by = \"x\"; } );");
        assert_non_null(strstr(err, "has no 'oemid'"));
        assert_non_null(strstr(err, "has no 'date'"));
        free(err);
        err = load_bad("", "allow = ( { bus = \"thunderbolt\"; unique_id = \"not-a-uuid\"; approved_by = \"x\"; } );");
        assert_non_null(strstr(err, "'unique_id' must be"));
        free(err);
        /* USB keys on another bus are refused, not ignored */
        err = load_bad("", "allow = ( { bus = \"firewire\"; guid = \"0x0001020304050607\"; vendor = \"0781\"; "
                           "approved_by = \"x\"; } );");
        assert_non_null(strstr(err, "vendor"));
        free(err);
        /* and another bus's keys on a USB entry */
        err = load_bad("", "allow = ( { vendor = \"0781\"; product = \"5567\"; serial = \"A\"; guid = \"0x01\"; "
                           "approved_by = \"x\"; } );");
        assert_non_null(strstr(err, "guid"));
        free(err);
        err = load_bad("", "allow = ( { bus = \"optical\"; serial = \"DRIVE1\"; } );");
        assert_non_null(strstr(err, "approved_by"));
        free(err);
}

/* The kernel prints hex identity values in lower case; an entry typed in
 * upper case ("0X1A2B3C4D", a UUID copied from a vendor's sheet) names the
 * same card. Text values (a card's name) keep their case. */
static void test_identity_case(void **state) {
        Policy *p = load_ok("", "allow = (\n"
                                "  { bus = \"mmc\"; manfid = \"0X00001B\"; oemid = \"0x534D\"; name = \"EB1QT\";\n"
                                "    serial = \"0xA1B2C3D4\"; date = \"03/2022\"; approved_by = \"x\"; label = \"up\"; },\n"
                                "  { bus = \"thunderbolt\"; unique_id = \"D6010000-0072-6A08-22AC-EA0D4E1A2A1B\";\n"
                                "    approved_by = \"x\"; },\n"
                                "  { bus = \"firewire\"; guid = \"0x0001020304050A0B\"; approved_by = \"x\"; }\n"
                                ");\n");
        usec_t now = now_usec(CLOCK_REALTIME);
        const char *card[DEVICE_ID_MAX] = { "0x00001b", "0x534d", "EB1QT", "0xa1b2c3d4", "03/2022" };
        const char *card_name_lower[DEVICE_ID_MAX] = { "0x00001b", "0x534d", "eb1qt", "0xa1b2c3d4", "03/2022" };
        const char *tb[DEVICE_ID_MAX] = { "d6010000-0072-6a08-22ac-ea0d4e1a2a1b" };
        const char *fw[DEVICE_ID_MAX] = { "0x0001020304050a0b" };
        char v[] = "0XABCDEF01", name[] = "SU08G", uuid[] = "D6010000-0072-6A08-22AC-EA0D4E1A2A1B";
        Decision dec;

        dec = policy_decide_device(p, DEVICE_CATEGORY_MMC, card, now);
        assert_true(dec.allow);
        assert_string_equal(dec.entry->label, "up");
        assert_string_equal(dec.entry->id[0], "0x00001b");
        assert_string_equal(dec.entry->id[3], "0xa1b2c3d4");
        /* the name is text: its case is the card's */
        assert_string_equal(dec.entry->id[2], "EB1QT");
        dec = policy_decide_device(p, DEVICE_CATEGORY_MMC, card_name_lower, now);
        assert_false(dec.allow);
        dec = policy_decide_device(p, DEVICE_CATEGORY_THUNDERBOLT, tb, now);
        assert_true(dec.allow);
        dec = policy_decide_device(p, DEVICE_CATEGORY_FIREWIRE, fw, now);
        assert_true(dec.allow);
        policy_unref(p);

        device_bus_id_normalize(DEVICE_BUS_MMC, 3, v);
        assert_string_equal(v, "0xabcdef01");
        device_bus_id_normalize(DEVICE_BUS_MMC, 2, name);
        assert_string_equal(name, "SU08G");
        device_bus_id_normalize(DEVICE_BUS_THUNDERBOLT, 0, uuid);
        assert_string_equal(uuid, "d6010000-0072-6a08-22ac-ea0d4e1a2a1b");
        device_bus_id_normalize(DEVICE_BUS_USB, 0, name); /* no such key: unchanged */
        assert_string_equal(name, "SU08G");
        device_bus_id_normalize(DEVICE_BUS_MMC, 0, NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_formats),
                cmocka_unit_test(test_decide),
                cmocka_unit_test(test_usb_entries_ignore_other_buses),
                cmocka_unit_test(test_devices_section),
                cmocka_unit_test(test_bad_entries),
                cmocka_unit_test(test_identity_case),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
