/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include "retry.h"

static void test_classify(void **state) {
        /* every status a collector, a proxy or a load balancer is likely to say */
        static const struct {
                long status;
                RetryVerdict want;
        } cases[] = {
                /* delivered */
                { 200, RETRY_DELIVERED },
                { 201, RETRY_DELIVERED },
                { 202, RETRY_DELIVERED },
                { 204, RETRY_DELIVERED },
                { 299, RETRY_DELIVERED },
                /* no answer, a passing trouble, or what a collector never says: as before */
                { 0, RETRY_LATER },
                { 100, RETRY_LATER },
                { 101, RETRY_LATER },
                { 199, RETRY_LATER },
                { 301, RETRY_LATER },
                { 302, RETRY_LATER },
                { 307, RETRY_LATER },
                { 308, RETRY_LATER },
                { 408, RETRY_LATER },
                { 429, RETRY_LATER },
                { 500, RETRY_LATER },
                { 502, RETRY_LATER },
                { 503, RETRY_LATER },
                { 504, RETRY_LATER },
                { 599, RETRY_LATER },
                { 600, RETRY_LATER },
                { 999, RETRY_LATER },
                { -1, RETRY_LATER },
                /* too large: halve */
                { 413, RETRY_SPLIT },
                /* this content can never be stored: dead-letter */
                { 400, RETRY_REJECTED },
                { 415, RETRY_REJECTED },
                { 422, RETRY_REJECTED },
                /* a configuration to fix: keep the batch and wait (issue 16) */
                { 401, RETRY_REFUSED },
                { 402, RETRY_REFUSED },
                { 403, RETRY_REFUSED },
                { 404, RETRY_REFUSED },
                { 405, RETRY_REFUSED },
                { 406, RETRY_REFUSED },
                { 407, RETRY_REFUSED },
                { 409, RETRY_REFUSED },
                { 410, RETRY_REFUSED },
                { 411, RETRY_REFUSED },
                { 412, RETRY_REFUSED },
                { 414, RETRY_REFUSED },
                { 416, RETRY_REFUSED },
                { 417, RETRY_REFUSED },
                { 418, RETRY_REFUSED },
                { 421, RETRY_REFUSED },
                { 423, RETRY_REFUSED },
                { 426, RETRY_REFUSED },
                { 428, RETRY_REFUSED },
                { 431, RETRY_REFUSED },
                { 451, RETRY_REFUSED },
                { 495, RETRY_REFUSED }, /* nginx: client certificate error */
                { 496, RETRY_REFUSED }, /* nginx: no client certificate */
                { 499, RETRY_REFUSED },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                RetryVerdict got = retry_classify(cases[i].status);
                if (got != cases[i].want)
                        fail_msg("HTTP %ld: %s, want %s", cases[i].status, retry_verdict_to_string(got),
                                 retry_verdict_to_string(cases[i].want));
        }
        /* and every 4xx not named above is one of the three 4xx classes, never "retry" or "delivered" */
        for (long s = 400; s <= 499; s++) {
                RetryVerdict got = retry_classify(s);
                assert_true(got == RETRY_REFUSED || got == RETRY_REJECTED || got == RETRY_SPLIT || s == 408 || s == 429);
                assert_int_equal(got == RETRY_REJECTED, s == 400 || s == 415 || s == 422);
        }
        assert_string_equal(retry_verdict_to_string(RETRY_REJECTED), "rejected");
        assert_string_equal(retry_verdict_to_string(RETRY_REFUSED), "refused");
}

static void test_backoff(void **state) {
        const usec_t s = USEC_PER_SEC;
        assert_int_equal(retry_backoff(0, s, 300 * s, 0), 0);
        /* the lower and upper ends of each step */
        assert_int_equal(retry_backoff(1, s, 300 * s, 0), s / 2);
        assert_int_equal(retry_backoff(1, s, 300 * s, s / 2), s);
        assert_int_equal(retry_backoff(2, s, 300 * s, 0), s);
        assert_int_equal(retry_backoff(4, s, 300 * s, 0), 4 * s);
        assert_int_equal(retry_backoff(4, s, 300 * s, 4 * s), 8 * s);
        /* capped, even after very many failures */
        assert_int_equal(retry_backoff(9, s, 300 * s, 0), 128 * s);
        assert_int_equal(retry_backoff(10, s, 300 * s, 0), 150 * s);
        assert_true(retry_backoff(1000, s, 300 * s, UINT64_MAX) >= 150 * s);
        assert_true(retry_backoff(1000, s, 300 * s, UINT64_MAX) <= 300 * s);
        for (unsigned f = 1; f < 100; f++)
                for (uint64_t r = 0; r < 5; r++) {
                        usec_t d = retry_backoff(f, s, 300 * s, r * 7919 * 1000003);
                        assert_true(d >= s / 2);
                        assert_true(d <= 300 * s);
                }
        /* jitter spreads the waits */
        assert_int_not_equal(retry_backoff(5, s, 300 * s, 1), retry_backoff(5, s, 300 * s, 999999));
}

static void test_retry_after(void **state) {
        const usec_t s = USEC_PER_SEC, now = 1700000000 * s; /* 2023-11-14T22:13:20Z */
        usec_t d;

        assert_int_equal(retry_after_parse("3", now, 3600 * s, &d), 0);
        assert_int_equal(d, 3 * s);
        assert_int_equal(retry_after_parse(" 120 ", now, 3600 * s, &d), 0);
        assert_int_equal(d, 120 * s);
        /* "now" and the past: not at once, or a collector that says so gets a tight loop */
        assert_int_equal(retry_after_parse("0", now, 3600 * s, &d), 0);
        assert_int_equal(d, RETRY_AFTER_MIN);
        assert_int_equal(RETRY_AFTER_MIN, s);
        assert_int_equal(retry_after_parse("1", now, 3600 * s, &d), 0);
        assert_int_equal(d, s);
        assert_int_equal(retry_after_parse("Tue, 14 Nov 2023 22:13:20 GMT", now, 3600 * s, &d), 0);
        assert_int_equal(d, RETRY_AFTER_MIN); /* exactly now */
        assert_int_equal(retry_after_parse("0", now, s / 2, &d), 0);
        assert_int_equal(d, s / 2); /* the cap still wins */
        assert_int_equal(retry_after_parse("99999999999999999999", now, 3600 * s, &d), 0);
        assert_int_equal(d, 3600 * s);
        assert_int_equal(retry_after_parse("Tue, 14 Nov 2023 22:14:20 GMT", now, 3600 * s, &d), 0);
        assert_int_equal(d, 60 * s);
        assert_int_equal(retry_after_parse("Tuesday, 14-Nov-23 22:13:30 GMT", now, 3600 * s, &d), 0);
        assert_int_equal(d, 10 * s);
        assert_int_equal(retry_after_parse("Mon, 13 Nov 2023 00:00:00 GMT", now, 3600 * s, &d), 0);
        assert_int_equal(d, RETRY_AFTER_MIN); /* in the past */
        assert_int_equal(retry_after_parse("soon", now, 3600 * s, &d), -EINVAL);
        assert_int_equal(retry_after_parse("5s", now, 3600 * s, &d), -EINVAL);
        assert_int_equal(retry_after_parse("-5", now, 3600 * s, &d), -EINVAL);
        assert_int_equal(retry_after_parse("", now, 3600 * s, &d), -EINVAL);
        assert_int_equal(retry_after_parse(NULL, now, 3600 * s, &d), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_classify),
                cmocka_unit_test(test_backoff),
                cmocka_unit_test(test_retry_after),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
