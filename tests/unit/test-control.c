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

/* quarantine engage|release REASON (issue 15): the reason is the rest of
 * the line, judged by the module; an action and a reason are needed. */
static void test_quarantine(void **state) {
        ControlRequest r;
        const char *bad[] = { "quarantine",          "quarantine ",         "quarantine engage",
                              "quarantine engage ",  "quarantine release ", "quarantine open now",
                              "quarantine Engage x", "quarantine  engage x" };

        assert_int_equal(parse("quarantine engage 手動で隔離", &r), 0);
        assert_int_equal(r.verb, CONTROL_QUARANTINE);
        assert_false(r.release);
        assert_string_equal(r.arg, "手動で隔離");
        assert_int_equal(r.peer_uid, -1);
        assert_int_equal(parse("quarantine release done, INC-1\r", &r), 0);
        assert_true(r.release);
        assert_string_equal(r.arg, "done, INC-1");
        assert_int_equal(parse("quarantine release  two spaces", &r), 0);
        assert_string_equal(r.arg, " two spaces"); /* refused later: not judged here */
        /* a control byte in the reason: refused (the fuzzer's "follow  x0\r\r") */
        assert_int_equal(parse("quarantine release follow  x0\r\r", &r), -EINVAL);
        assert_int_equal(parse("quarantine engage a\tb", &r), -EINVAL);
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                if (parse(bad[i], &r) >= 0)
                        fail_msg("accepted '%s'", bad[i]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_verbs),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_quarantine),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
