/* SPDX-License-Identifier: MIT */
#include "unit.h"
#include <time.h>

#include "macro.h"
#include "local-midnight.h"
#include "timeutil.h"

#define SEC(x) ((usec_t) (x) * USEC_PER_SEC)

static void test_rfc3339_instants(void **state) {
        static const struct {
                const char *s;
                usec_t want;
        } ok[] = {
                /* 2026-11-21T09:00:00Z is 1795251600 */
                { "2026-11-21T09:00:00Z", SEC(1795251600) },
                { "2026-11-21T18:00:00+09:00", SEC(1795251600) },
                { "2026-11-21t09:00:00z", SEC(1795251600) },
                { "2026-11-21T04:30:00-04:30", SEC(1795251600) },
                { "2026-11-21T09:00:00.25Z", SEC(1795251600) + 250000 },
                { "2026-11-21T09:00:00.123456789Z", SEC(1795251600) + 123456 },
                { "2026-11-21T00:00:00+23:59", SEC(1795251600) - SEC(9 * 3600) - SEC(23 * 3600 + 59 * 60) },
                { "2028-02-29T00:00:00Z", SEC(1835395200) },
                { "1970-01-01T00:00:00Z", 0 },
                /* a leap second is the first second of the next minute here */
                { "2016-12-31T23:59:60Z", SEC(1483228800) },
        };
        for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
                usec_t t = 1;
                if (parse_rfc3339(ok[i].s, &t) < 0)
                        fail_msg("refused %s", ok[i].s);
                if (t != ok[i].want)
                        fail_msg("%s: got %llu, want %llu", ok[i].s, (unsigned long long) t,
                                 (unsigned long long) ok[i].want);
        }
}

static void test_rfc3339_refused(void **state) {
        static const char *const bad[] = {
                "", "2026-11-21", "2026-11-21T18:00:00", /* no offset: a different instant per machine */
                "2026-11-21 18:00:00+09:00", "2026-11-21T18:00+09:00", "2026-11-21T18:00:00+0900",
                "2026-11-21T18:00:00+09", "2026-11-21T24:00:00Z", "2026-11-21T18:60:00Z", "2026-11-21T18:00:61Z",
                "2026-02-30T18:00:00Z", "2026-13-01T18:00:00Z", "2026-11-21T18:00:00+24:00",
                "2026-11-21T18:00:00+09:60", "2026-11-21T18:00:00.Z", "2026-11-21T18:00:00.1234567890Z",
                "2026-11-21T18:00:00Zjunk", "2026-11-21T18:00:00+09:00 ", " 2026-11-21T18:00:00Z",
                "2026-11-21T1a:00:00Z", "1970-01-01T00:00:00+00:01", "2026-11-21T18:00:00\n+09:00",
                "+2026-11-21T18:00:00Z",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                usec_t t = 42;
                if (parse_rfc3339(bad[i], &t) >= 0)
                        fail_msg("accepted '%s'", bad[i]);
                assert_int_equal(t, 42);
        }
        assert_int_equal(parse_rfc3339(NULL, NULL), -EINVAL);
}

static void test_dates(void **state) {
        int y, m, d;
        assert_int_equal(parse_date("2028-02-29", &y, &m, &d), 0);
        assert_int_equal(y * 10000 + m * 100 + d, 20280229);
        /* well formed but no such day: -ERANGE, so that it is reported by name */
        assert_int_equal(parse_date("2027-02-29", NULL, NULL, NULL), -ERANGE);
        assert_int_equal(parse_date("2027-02-30", NULL, NULL, NULL), -ERANGE);
        assert_int_equal(parse_date("2027-13-01", NULL, NULL, NULL), -ERANGE);
        assert_int_equal(parse_date("2027-04-00", NULL, NULL, NULL), -ERANGE);
        assert_int_equal(parse_date("2027-2-28", NULL, NULL, NULL), -EINVAL);
        assert_int_equal(parse_date("2027/02/28", NULL, NULL, NULL), -EINVAL);
        assert_int_equal(parse_rfc3339("2027-02-30T10:00:00Z", NULL), -ERANGE);
        char why[DATE_REASON_MAX];
        assert_string_equal(date_nonexistent_reason(why, "2027-02-30"), "2027-02 has 28 days");
        assert_string_equal(date_nonexistent_reason(why, "2028-02-30"), "2028-02 has 29 days");
        assert_string_equal(date_nonexistent_reason(why, "2027-13-01"), "there is no month 13");
        assert_int_equal(date_days_in_month(2100, 2), 28);
        assert_int_equal(date_days_in_month(2000, 2), 29);

        /* A date starts at its local midnight and allows through its last
         * local second: it ends at the next local midnight. */
        assert_int_equal(date_start_local(2027, 3, 31), local_midnight(1806418800, 1806451200, 1806465600));
        assert_int_equal(date_end_local(2027, 3, 31), local_midnight(1806505200, 1806537600, 1806552000));
        assert_int_equal(date_end_local(2027, 12, 31), local_midnight(1830265200, 1830297600, 1830315600));
        assert_int_equal(date_start_local(2028, 2, 29), local_midnight(1835362800, 1835395200, 1835413200));
        assert_int_equal(date_end_local(2028, 2, 29), local_midnight(1835449200, 1835481600, 1835499600));
        assert_int_equal(date_end_local(2099, 12, 31), local_midnight(4102412400, 4102444800, 4102462800));
        /* New York's days of the clock change: 23 and 25 hours long. */
        assert_int_equal(date_start_local(2027, 3, 14), local_midnight(1804950000, 1804982400, 1805000400));
        assert_int_equal(date_end_local(2027, 3, 14), local_midnight(1805036400, 1805068800, 1805083200));
        assert_int_equal(date_start_local(2027, 11, 7), local_midnight(1825513200, 1825545600, 1825560000));
        assert_int_equal(date_end_local(2027, 11, 7), local_midnight(1825599600, 1825632000, 1825650000));
}

static void test_expiry(void **state) {
        usec_t t = 0;
        assert_int_equal(parse_expiry("2027-03-31", &t), 0);
        assert_int_equal(t, local_midnight(1806505200, 1806537600, 1806552000));
        assert_true(expiry_is_date("2027-03-31"));
        assert_int_equal(parse_expiry("2027-03-31T17:00:00+09:00", &t), 0);
        assert_int_equal(t, 1806480000 * USEC_PER_SEC); /* the same instant in every TZ */
        assert_false(expiry_is_date("2027-03-31T17:00:00+09:00"));
        assert_int_equal(parse_expiry("2027-02-30", &t), -ERANGE);
        assert_int_equal(parse_expiry("2027-02-30T00:00:00Z", &t), -ERANGE);
        assert_int_equal(parse_expiry("2027-03-31T17:00:00", &t), -EINVAL);
        assert_int_equal(parse_expiry("next year", &t), -EINVAL);
}

int main(void) {
        /* date_*_local follow TZ: meson runs this once per zone (local-midnight.h). */
        tzset();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rfc3339_instants),
                cmocka_unit_test(test_rfc3339_refused),
                cmocka_unit_test(test_dates),
                cmocka_unit_test(test_expiry),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
