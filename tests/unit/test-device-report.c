/* SPDX-License-Identifier: MIT */
/* device.* events for devices outside USB (agent/devices/device-report.c):
 * one shape for every bus, hostile identity strings refused or escaped. */
#include "unit.h"
#include <string.h>

#include "config.h"
#include "device-report.h"

static const EventEnvelope env = {
        .host_name = "pc-01",
        .machine_id = "0123456789abcdef0123456789abcdef",
        .agent_version = "0.1.0",
        .policy_hash = "ff",
        .user_uid = -1,
};

static char *render(const Policy *p, const RemovableDevice *d, EventKind want) {
        Decision dec;
        Event *ev = NULL;
        char *json = NULL;
        size_t len;

        dec = policy_decide_device(p, d->category, (const char *const *) d->id, now_usec(CLOCK_REALTIME));
        assert_int_equal(device_report_build(p, d, &dec, &ev), 0);
        assert_int_equal(ev->kind, want);
        assert_int_equal(event_render(ev, &env, &json, &len), 0);
        assert_int_equal(strlen(json), len);
        assert_null(strchr(json, '\n'));
        event_free(ev);
        return json;
}

static RemovableDevice *card(const char *serial) {
        RemovableDevice *d = removable_device_new(DEVICE_BUS_MMC, DEVICE_CATEGORY_MMC, "/sys/bus/mmc/devices/mmc0:aaaa",
                                                  "mmc0:aaaa");
        assert_non_null(d);
        assert_int_equal(removable_device_set_id(d, 0, "0x000003"), 0);
        assert_int_equal(removable_device_set_id(d, 1, "0x5344"), 0);
        assert_int_equal(removable_device_set_id(d, 2, "SU08G"), 0);
        (void) removable_device_set_id(d, 3, serial);
        assert_int_equal(removable_device_set_id(d, 4, "06/2021"), 0);
        return d;
}

static void test_blocked_and_allowed(void **state) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        RemovableDevice *d;
        char *json;

        assert_int_equal(config_load_strings("",
                                             "allow = ( { bus = \"mmc\"; manfid = \"0x000003\"; oemid = \"0x5344\"; "
                                             "name = \"SU08G\"; serial = \"0x1a2b3c4d\"; date = \"06/2021\"; "
                                             "approved_by = \"x\"; label = \"card\"; } );",
                                             &p, &e),
                         0);
        d = card("0x1a2b3c4d");
        json = render(p, d, EVENT_DEVICE_ALLOWED);
        assert_non_null(strstr(json, "\"kind\":\"device.allowed\""));
        assert_non_null(strstr(json, "\"device\":{\"bus\":\"mmc\",\"category\":\"mmc\",\"manfid\":\"0x000003\","
                                     "\"oemid\":\"0x5344\",\"name\":\"SU08G\",\"serial\":\"0x1a2b3c4d\","
                                     "\"date\":\"06/2021\",\"bus_path\":\"mmc0:aaaa\"}"));
        assert_non_null(strstr(json, "\"label\":\"card\""));
        /* a card has no names: none in the message, no empty quotes */
        assert_non_null(strstr(json, "\"message\":\"Allowed mmc mmc manfid \\\"0x000003\\\" at mmc0:aaaa: "));
        free(json);
        removable_device_free(d);

        /* another card of the same model and date: not the approved one */
        d = card("0x1a2b3c4e");
        json = render(p, d, EVENT_DEVICE_BLOCKED);
        assert_non_null(strstr(json, "\"action\":\"blocked\""));
        assert_non_null(strstr(json, "\"reason\":\"unknown\""));
        assert_null(strstr(json, "\"rule\""));
        free(json);

        d->block_error = -EPERM;
        json = render(p, d, EVENT_DEVICE_BLOCK_FAILED);
        assert_non_null(strstr(json, "\"action\":\"block_failed\""));
        assert_non_null(strstr(json, "\"error\":\"Operation not permitted\""));
        free(json);
        removable_device_free(d);
        policy_unref(p);
}

static void test_hostile_identity(void **state) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        RemovableDevice *d;
        char *json;

        assert_int_equal(config_load_strings("", NULL, &p, &e), 0);
        /* a serial with a quote and an escape sequence is refused: null, never matched */
        d = card("0x1a2b\"\x1b[2J");
        assert_null(d->id[3]);
        assert_int_equal(removable_device_set_id(d, 2, "SU\n08G"), -EINVAL);
        assert_null(d->id[2]);
        assert_int_equal(removable_device_set_id(d, 7, "x"), -EINVAL);
        assert_int_equal(removable_device_set_text(&d->model, "Card\x1b]0;pwned\x07\xff"), 0);
        json = render(p, d, EVENT_DEVICE_BLOCKED);
        assert_non_null(strstr(json, "\"serial\":null"));
        assert_non_null(strstr(json, "\"name\":null"));
        assert_null(strstr(json, "\x1b"));
        assert_non_null(strstr(json, "does not give its full identity"));
        /* a model alone: quoted once, no stray space */
        assert_non_null(strstr(json, "Blocked mmc mmc \\\"Card"));
        free(json);
        removable_device_free(d);

        /* a kernel name is printed sanitized too */
        d = removable_device_new(DEVICE_BUS_OPTICAL, DEVICE_CATEGORY_OPTICAL_WRITE, NULL, "sr0\x1b");
        assert_non_null(d);
        assert_null(strchr(d->sysname, '\x1b'));
        assert_int_equal(removable_device_set_id(d, 0, "QEMU_QEMU_DVD-ROM_QM00003"), 0);
        json = render(p, d, EVENT_DEVICE_BLOCKED);
        assert_non_null(
                strstr(json,
                       "\"bus\":\"optical\",\"category\":\"optical-write\",\"serial\":\"QEMU_QEMU_DVD-ROM_QM00003\""));
        free(json);
        removable_device_free(d);
        policy_unref(p);
}

/* What sysfs prints in upper case (a driver's quirk, a test bed) is kept in
 * lower case, like the entries: an upper-case card matches a lower-case
 * entry and the reverse. The notice gets the device as it is kept. */
static void test_identity_case_and_notice(void **state) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        RemovableDevice *d = card("0X1A2B3C4D");
        NoticeDevice nd;
        Decision dec;

        assert_int_equal(config_load_strings("",
                                             "allow = ( { bus = \"mmc\"; manfid = \"0x000003\"; oemid = \"0x5344\";\n"
                                             " name = \"SU08G\"; serial = \"0x1a2b3c4d\"; date = \"06/2021\";\n"
                                             " approved_by = \"x\"; } );",
                                             &p, &e),
                         0);
        assert_string_equal(d->id[3], "0x1a2b3c4d");
        dec = policy_decide_device(p, d->category, (const char *const *) d->id, now_usec(CLOCK_REALTIME));
        assert_true(dec.allow);

        d->block_error = -EPERM;
        device_report_notice_device(d, &nd);
        assert_int_equal(nd.category, DEVICE_CATEGORY_MMC);
        assert_ptr_equal(nd.sysname, d->sysname);
        assert_ptr_equal(nd.id[3], d->id[3]);
        assert_true(nd.block_failed);
        removable_device_free(d);
        policy_unref(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_blocked_and_allowed),
                cmocka_unit_test(test_hostile_identity),
                cmocka_unit_test(test_identity_case_and_notice),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
