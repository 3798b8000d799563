/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include <time.h>

#include "av-date.h"

#define S(x) ((usec_t) (x) * USEC_PER_SEC)
/* 2022-09-08T13:57:03Z */
#define T0 UINT64_C(1662645423)

static int parse(const char *text, AvCommandOutput f, usec_t *ret) {
        return av_date_parse(text, strlen(text), f, S(2000000000), ret);
}

static void expect(const char *text, AvCommandOutput f, usec_t want) {
        usec_t t = 0;
        int r = parse(text, f, &t);
        if (r < 0 || t != want) {
                fprintf(stderr, "'%s': r=%d got %llu want %llu\n", text, r, (unsigned long long) t,
                        (unsigned long long) want);
                fail();
        }
}

static void expect_bad(const char *text, AvCommandOutput f) {
        usec_t t = 0;
        if (parse(text, f, &t) != -EBADMSG) {
                fprintf(stderr, "'%s' was accepted as %llu\n", text, (unsigned long long) t);
                fail();
        }
}

static void test_iso(void **state) {
        setenv("TZ", "JST-9", 1); /* local time is UTC+9, without tzdata */
        tzset();
        expect("2022-09-08T13:57:03Z", AV_OUTPUT_DATE, S(T0));
        expect("2022-09-08 13:57:03 UTC\n", AV_OUTPUT_DATE, S(T0));
        expect("2022-09-08T22:57:03+09:00", AV_OUTPUT_DATE, S(T0));
        expect("2022-09-08T22:57:03+0900", AV_OUTPUT_DATE, S(T0));
        expect("2022-09-08T08:57:03-05:00", AV_OUTPUT_DATE, S(T0));
        expect("2022-09-08T13:57:03.250Z", AV_OUTPUT_DATE, S(T0) + 250000);
        expect("2022-09-08T13:57Z", AV_OUTPUT_DATE, S(T0 - 3));
        expect("2022-09-08T22:57:03", AV_OUTPUT_DATE, S(T0));      /* no zone: local (UTC+9) */
        expect("2022-09-09", AV_OUTPUT_DATE, S(1662649200)); /* local midnight = 15:00Z the day before */
        expect("  \"2022-09-08T13:57:03Z\"  \n\nsecond line ignored\n", AV_OUTPUT_DATE, S(T0));
        expect("2024-02-29T00:00:00Z", AV_OUTPUT_DATE, S(1709164800));
        expect_bad("2023-02-29T00:00:00Z", AV_OUTPUT_DATE);
        expect_bad("2022-13-08T13:57:03Z", AV_OUTPUT_DATE);
        expect_bad("2022-09-08T24:00:00Z", AV_OUTPUT_DATE);
        expect_bad("2022-09-08T13:60:00Z", AV_OUTPUT_DATE);
        expect_bad("2022-09-08T13:57:03+25:00", AV_OUTPUT_DATE);
        expect_bad("1969-12-31T23:59:59Z", AV_OUTPUT_DATE);
        expect_bad("2022-9-8", AV_OUTPUT_DATE);
        expect_bad("2022-09-08X13:57:03Z", AV_OUTPUT_DATE);
        expect_bad("2022-09-08T13:57:03Z trailing", AV_OUTPUT_DATE);
        expect_bad("20220908", AV_OUTPUT_DATE);
}

static void test_mdatp(void **state) {
        setenv("TZ", "JST-9", 1);
        tzset();
        /* `mdatp health --field definitions_updated`, local time */
        expect("Sept 08, 2022 at 10:57:03 PM", AV_OUTPUT_DATE, S(T0));
        expect("Sep 08, 2022 at 10:57:03 PM\n", AV_OUTPUT_DATE, S(T0));
        expect("September 8, 2022 at 10:57:03 pm", AV_OUTPUT_DATE, S(T0));
        expect("Sept 08, 2022 22:57:03", AV_OUTPUT_DATE, S(T0));
        expect("Sept 08, 2022 at 01:57:03 PM UTC", AV_OUTPUT_DATE, S(T0));
        expect("definitions_updated : Sept 08, 2022 at 10:57:03 PM [managed]", AV_OUTPUT_DATE, S(T0));
        expect("\"Sept 08, 2022 at 10:57:03 PM\"", AV_OUTPUT_DATE, S(T0));
        expect("Sept 09, 2022 at 12:00:00 AM", AV_OUTPUT_DATE, S(1662649200)); /* 12 AM is midnight */
        expect("Sept 08, 2022 at 12:30:00 PM", AV_OUTPUT_DATE, S(T0 - 10 * 3600 - 27 * 60 - 3)); /* half past noon */
        expect_bad("Sept 31, 2022 at 10:57:03 PM", AV_OUTPUT_DATE);
        expect_bad("Sept 08, 2022 at 13:57:03 PM", AV_OUTPUT_DATE);
        expect_bad("Sept 08, 2022 at 00:57:03 AM", AV_OUTPUT_DATE);
        expect_bad("Septem 08, 2022", AV_OUTPUT_DATE);
        expect_bad("Foo 08, 2022 at 10:57:03 PM", AV_OUTPUT_DATE);
        expect_bad("unavailable", AV_OUTPUT_DATE);
        expect_bad("", AV_OUTPUT_DATE);
        expect_bad(" \n \n", AV_OUTPUT_DATE);
}

static void test_epoch(void **state) {
        expect("@1662645423", AV_OUTPUT_DATE, S(T0));
        expect("1662645423\n", AV_OUTPUT_EPOCH, S(T0));
        expect("1662645423.5", AV_OUTPUT_EPOCH, S(T0) + 500000);
        expect_bad("-1662645423", AV_OUTPUT_EPOCH);
        expect_bad("0", AV_OUTPUT_EPOCH);
        expect_bad("16626454230000000", AV_OUTPUT_EPOCH);
        expect_bad("1662645423x", AV_OUTPUT_EPOCH);
        expect_bad("@", AV_OUTPUT_DATE);
}

static void test_minutes_ago(void **state) {
        expect("0", AV_OUTPUT_MINUTES_AGO, S(2000000000));
        expect("90\n", AV_OUTPUT_MINUTES_AGO, S(2000000000 - 5400));
        expect("definitions_updated_minutes_ago : 27712166", AV_OUTPUT_MINUTES_AGO, S(2000000000) - S(27712166ULL * 60));
        expect_bad("-5", AV_OUTPUT_MINUTES_AGO);
        expect_bad("5 minutes", AV_OUTPUT_MINUTES_AGO);
        expect_bad("999999999", AV_OUTPUT_MINUTES_AGO); /* before 1970 */
}

static void test_nul_and_size(void **state) {
        usec_t t;
        assert_int_equal(av_date_parse("@1662645423\0x", 13, AV_OUTPUT_DATE, 0, &t), -EBADMSG);
        assert_int_equal(av_date_parse(NULL, 0, AV_OUTPUT_DATE, 0, &t), -EBADMSG);
        char *big = malloc(AV_DATE_TEXT_MAX + 2);
        memset(big, ' ', AV_DATE_TEXT_MAX + 1);
        memcpy(big, "@1662645423", 11);
        assert_int_equal(av_date_parse(big, AV_DATE_TEXT_MAX + 1, AV_OUTPUT_DATE, 0, &t), -EBADMSG);
        assert_int_equal(av_date_parse(big, AV_DATE_TEXT_MAX, AV_OUTPUT_DATE, 0, &t), 0);
        free(big);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_iso),         cmocka_unit_test(test_mdatp),        cmocka_unit_test(test_epoch),
                cmocka_unit_test(test_minutes_ago), cmocka_unit_test(test_nul_and_size),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
