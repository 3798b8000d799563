/* SPDX-License-Identifier: MIT */
/* The control socket's request line: one verb, a count for events/follow,
 * nothing else. */
#include "unit.h"

#include "control.h"

static int parse(const char *s, ControlRequest *r) {
        return control_request_parse(s, strlen(s), r);
}

static void test_verbs(void **state) {
        ControlRequest r;
        assert_int_equal(parse("status", &r), 0);
        assert_int_equal(r.verb, CONTROL_STATUS);
        assert_int_equal(parse("devices", &r), 0);
        assert_int_equal(r.verb, CONTROL_DEVICES);
        assert_int_equal(parse("flush\r", &r), 0);
        assert_int_equal(r.verb, CONTROL_FLUSH);
        assert_int_equal(parse("inspect", &r), 0);
        assert_int_equal(r.verb, CONTROL_INSPECT);
        assert_int_equal(parse("events", &r), 0);
        assert_int_equal(r.verb, CONTROL_EVENTS);
        assert_int_equal(r.count, 50);
        assert_int_equal(parse("events 7", &r), 0);
        assert_int_equal(r.count, 7);
        assert_int_equal(parse("follow", &r), 0);
        assert_int_equal(r.verb, CONTROL_FOLLOW);
        assert_int_equal(r.count, 0);
        assert_int_equal(parse("follow 999999999999999", &r), 0);
        assert_int_equal(r.count, CONTROL_EVENTS_KEPT);
        for (unsigned v = 0; v < _CONTROL_VERB_MAX; v++)
                assert_non_null(control_verb_to_string((ControlVerb) v));
}

static void test_refused(void **state) {
        ControlRequest r;
        const char *bad[] = { "",           " ",          "Status",
                              "status ",    "status 1",   "events -1",
                              "events x",   "events 1 2", "events 99999999999999999999999",
                              "events  1",  "reboot",     "flush now",
                              "inspect all" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                assert_true(parse(bad[i], &r) < 0);
        assert_int_equal(control_request_parse("stat\0us", 7, &r), -EBADMSG);
        char big[CONTROL_REQUEST_MAX + 2];
        memset(big, 'a', sizeof big);
        assert_int_equal(control_request_parse(big, sizeof big, &r), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_verbs),
                cmocka_unit_test(test_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
