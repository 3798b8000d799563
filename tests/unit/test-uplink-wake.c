/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include "uplink-wake.h"

#define SELF 998

static bool is_flush(const char *text, uid_t sender) {
        return uplink_wake_is_flush(text, strlen(text), sender, SELF);
}

static void test_flush_from_root_or_self(void **state) {
        assert_true(is_flush("flush", 0));
        assert_true(is_flush("flush\n", 0));
        assert_true(is_flush("flush", SELF));
        assert_true(is_flush("flush\n", SELF));
}

static void test_anyone_else_is_ignored(void **state) {
        assert_false(is_flush("flush", 1000));
        assert_false(is_flush("flush", 65534));
        assert_false(is_flush("flush\n", SELF + 1));
}

static void test_only_the_word(void **state) {
        assert_false(is_flush("", 0));
        assert_false(is_flush("\n", 0));
        assert_false(is_flush("flus", 0));
        assert_false(is_flush("flush\n\n", 0));
        assert_false(is_flush("flush now", 0));
        assert_false(is_flush("FLUSH", 0));
        assert_false(is_flush(" flush", 0));
        assert_false(uplink_wake_is_flush("flush\0", 6, 0, SELF));
        assert_false(uplink_wake_is_flush("flushflush", 10, 0, SELF));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_flush_from_root_or_self),
                cmocka_unit_test(test_anyone_else_is_ignored),
                cmocka_unit_test(test_only_the_word),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
