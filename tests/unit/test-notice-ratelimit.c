/* SPDX-License-Identifier: MIT */
/* agent/notice/notice-ratelimit.c: the token bucket and the ring of recent
 * notices that keep a flapping device from flooding the session. */
#include "unit.h"

#include "macro.h"
#include "notice-ratelimit.h"

static void test_ratelimit_bucket(void **state) {
        NoticeRateLimit rl = { 0 };
        const usec_t s = USEC_PER_SEC, t0 = 1000 * s;

        /* burst of 3, then one per 10 s */
        assert_true(notice_ratelimit_take(&rl, 3, 10 * s, t0));
        assert_true(notice_ratelimit_take(&rl, 3, 10 * s, t0));
        assert_true(notice_ratelimit_take(&rl, 3, 10 * s, t0 + s));
        assert_false(notice_ratelimit_take(&rl, 3, 10 * s, t0 + 2 * s));
        assert_int_equal(notice_ratelimit_next(&rl, 3, 10 * s, t0 + 2 * s), t0 + 10 * s);
        assert_false(notice_ratelimit_take(&rl, 3, 10 * s, t0 + 9 * s));
        assert_true(notice_ratelimit_take(&rl, 3, 10 * s, t0 + 10 * s));
        assert_false(notice_ratelimit_take(&rl, 3, 10 * s, t0 + 11 * s));
        assert_int_equal(notice_ratelimit_next(&rl, 3, 10 * s, t0 + 11 * s), t0 + 20 * s);
        /* a long quiet time refills up to the burst, not beyond */
        for (int k = 0; k < 3; k++)
                assert_true(notice_ratelimit_take(&rl, 3, 10 * s, t0 + 1000 * s));
        assert_false(notice_ratelimit_take(&rl, 3, 10 * s, t0 + 1000 * s));
        /* a reload that lowers the burst applies at once */
        assert_true(notice_ratelimit_take(&rl, 1, 10 * s, t0 + 2000 * s));
        assert_false(notice_ratelimit_take(&rl, 1, 10 * s, t0 + 2000 * s));
        assert_int_equal(notice_ratelimit_next(&rl, 1, 10 * s, t0 + 2005 * s), t0 + 2010 * s);
        notice_ratelimit_done(&rl);
}

static void test_ratelimit_dedup(void **state) {
        NoticeRateLimit rl = { 0 };
        const usec_t s = USEC_PER_SEC;
        char key[32];

        assert_false(notice_ratelimit_seen(&rl, "phone", 60 * s, 0));
        /* a phone that flips modes every 30 s for ten minutes: told once */
        for (int k = 1; k <= 20; k++)
                assert_true(notice_ratelimit_seen(&rl, "phone", 60 * s, (usec_t) k * 30 * s));
        /* quiet for longer than the window: told again */
        assert_false(notice_ratelimit_seen(&rl, "phone", 60 * s, 700 * s));
        assert_false(notice_ratelimit_seen(&rl, "stick", 60 * s, 700 * s));
        /* more keys than the ring holds: the oldest is forgotten, nothing breaks */
        for (int k = 0; k < NOTICE_RECENT_MAX; k++) {
                snprintf(key, sizeof key, "k%d", k);
                assert_false(notice_ratelimit_seen(&rl, key, 60 * s, 701 * s));
        }
        assert_false(notice_ratelimit_seen(&rl, "phone", 60 * s, 702 * s));
        assert_true(notice_ratelimit_seen(&rl, "k31", 60 * s, 702 * s));
        notice_ratelimit_done(&rl);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ratelimit_bucket),
                cmocka_unit_test(test_ratelimit_dedup),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
