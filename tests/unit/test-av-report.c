/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include "av-report.h"
#include "macro.h"

#define MAGIC AV_REPORT_MAGIC "\n"

static int parse(const char *s, size_t n, AvReport *r, const char **reason) {
        *reason = NULL;
        return av_report_parse(s, n, r, reason);
}

static void test_valid(void **state) {
        static const char m[] = MAGIC "path=/home/taro/a%25b%0Ac.exe\nsignature=Eicar-Signature\nengine=clamav\n";
        AvReport r = { 0 };
        const char *reason;

        assert_int_equal(parse(m, sizeof m - 1, &r, &reason), 0);
        assert_string_equal(r.engine, "clamav");
        assert_string_equal(r.signature, "Eicar-Signature");
        assert_string_equal(r.raw_path, "/home/taro/a%b\nc.exe");
        assert_string_equal(r.path, "/home/taro/a%b\\x0ac.exe");
        assert_false(r.path_truncated);
        av_report_done(&r);

        /* No path: the engine may not know one (a stream). */
        static const char m2[] = MAGIC "engine=generic-av.2\nsignature=W32/Test \xe2\x80\xae\n";
        assert_int_equal(parse(m2, sizeof m2 - 1, &r, &reason), 0);
        assert_null(r.path);
        assert_null(r.raw_path);
        assert_string_equal(r.signature, "W32/Test \\u202e");
        av_report_done(&r);
}

static void test_refused(void **state) {
        static const struct {
                const char *m;
                const char *reason;
        } cases[] = {
                { "", "bad_magic" },
                { "mamori-av-report 2\nengine=a\nsignature=b\n", "bad_magic" },
                { MAGIC "engine=a\nsignature=b", "bad_line" },
                { MAGIC "engine=a\nsignature\n", "bad_line" },
                { MAGIC "engine=a\nsignature=b\nuser=root\n", "unknown_key" },
                { MAGIC "Engine=a\nsignature=b\n", "unknown_key" },
                { MAGIC "engine=a\nsignature=b\nsignature=c\n", "duplicate_key" },
                { MAGIC "engine=a\nsignature=b%\n", "bad_escape" },
                { MAGIC "engine=a\nsignature=b%4\n", "bad_escape" },
                { MAGIC "engine=a\nsignature=b%zz\n", "bad_escape" },
                { MAGIC "engine=a\nsignature=b%00\n", "bad_escape" },
                { MAGIC "engine=a\nsignature=b\tc\n", "bad_escape" },
                { MAGIC "engine=a\nsignature=b\x7f\n", "bad_escape" },
                { MAGIC "engine=A\nsignature=b\n", "bad_engine" },
                { MAGIC "engine=\nsignature=b\n", "bad_engine" },
                { MAGIC "engine=a/b\nsignature=b\n", "bad_engine" },
                { MAGIC "engine=a%2Fb\nsignature=b\n", "bad_engine" },
                { MAGIC "signature=b\n", "missing_engine" },
                { MAGIC "engine=a\n", "missing_signature" },
                { MAGIC "engine=a\nsignature=\n", "bad_signature" },
                { MAGIC "engine=a\nsignature=b\npath=\n", "bad_path" },
                { MAGIC "engine=a\nsignature=b\npath=rel/x\n", "bad_path" },
                { MAGIC "engine=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nsignature=b\n", "too_long" },
        };
        AvReport r = { 0 };
        const char *reason;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int k = parse(cases[i].m, strlen(cases[i].m), &r, &reason);
                if (k >= 0 || !reason || strcmp(reason, cases[i].reason) != 0)
                        fail_msg("case %zu (%s): %d %s, want %s", i, cases[i].m, k, reason ?: "(none)", cases[i].reason);
                assert_null(r.engine);
        }
        /* A NUL inside a line. */
        static const char nul[] = MAGIC "engine=a\nsignature=b\0c\n";
        assert_int_equal(parse(nul, sizeof nul - 1, &r, &reason), -EBADMSG);
        assert_string_equal(reason, "bad_line");
}

static void test_bounds(void **state) {
        _cleanup_free_ char *m = NULL, *sig = NULL, *path = NULL;
        AvReport r = { 0 };
        const char *reason;
        size_t n;

        /* A signature of exactly the maximum, then one byte more. */
        sig = malloc(AV_REPORT_SIGNATURE_MAX + 2);
        assert_non_null(sig);
        memset(sig, 'S', AV_REPORT_SIGNATURE_MAX + 1);
        sig[AV_REPORT_SIGNATURE_MAX] = 0;
        assert_int_equal(av_report_format("clamav", sig, NULL, &m, &n), 0);
        assert_int_equal(parse(m, n, &r, &reason), 0);
        assert_int_equal(strlen(r.signature), AV_REPORT_SIGNATURE_MAX);
        av_report_done(&r);
        free(m);
        m = NULL;
        sig[AV_REPORT_SIGNATURE_MAX] = 'S';
        sig[AV_REPORT_SIGNATURE_MAX + 1] = 0;
        assert_int_equal(av_report_format("clamav", sig, NULL, &m, &n), 0);
        assert_int_equal(parse(m, n, &r, &reason), -EMSGSIZE);
        assert_string_equal(reason, "too_long");
        free(m);
        m = NULL;

        /* A message past AV_REPORT_MAX is refused before it is read. */
        assert_int_equal(parse(sig, AV_REPORT_MAX + 1, &r, &reason), -EMSGSIZE);

        /* The writer refuses what would not fit; escapes count three bytes. */
        path = malloc(AV_REPORT_PATH_MAX + 1);
        assert_non_null(path);
        memset(path, '\n', AV_REPORT_PATH_MAX);
        path[0] = '/';
        path[AV_REPORT_PATH_MAX] = 0;
        assert_int_equal(av_report_format("clamav", "x", path, &m, &n), -EMSGSIZE);
        assert_int_equal(av_report_format("Clam", "x", NULL, &m, &n), -EINVAL);
        assert_int_equal(av_report_format("clamav", "", NULL, &m, &n), -EINVAL);
}

static void test_roundtrip(void **state) {
        /* Every byte but NUL survives the writer and the parser. */
        char path[256];
        _cleanup_free_ char *m = NULL;
        AvReport r = { 0 };
        const char *reason;
        size_t n;

        path[0] = '/';
        for (int i = 1; i < 255; i++)
                path[i] = (char) i;
        path[255] = 0;
        assert_int_equal(av_report_format("clamav", "Sig%name\r\n", path, &m, &n), 0);
        assert_int_equal(parse(m, n, &r, &reason), 0);
        assert_memory_equal(r.raw_path, path, 256);
        assert_string_equal(r.signature, "Sig%name\\x0d\\x0a");
        assert_true(memchr(m, '\r', n) == NULL);
        av_report_done(&r);
}

static void test_limit(void **state) {
        AvReportLimit l;
        const usec_t s = USEC_PER_SEC, t0 = 1000 * s;
        unsigned ok = 0;

        av_report_limit_init(&l, 5, s);
        for (int i = 0; i < 100; i++)
                ok += av_report_limit_take(&l, t0);
        assert_int_equal(ok, 5);
        assert_int_equal(av_report_limit_next(&l), t0 + s);
        /* Half a second later: nothing; one second: one. */
        assert_false(av_report_limit_take(&l, t0 + s / 2));
        assert_true(av_report_limit_take(&l, t0 + s));
        assert_false(av_report_limit_take(&l, t0 + s + s / 2));
        /* 2.5 s later: two (the half second is kept for the next). */
        assert_true(av_report_limit_take(&l, t0 + 3 * s + s / 2));
        assert_true(av_report_limit_take(&l, t0 + 3 * s + s / 2));
        assert_false(av_report_limit_take(&l, t0 + 3 * s + s / 2));
        assert_true(av_report_limit_take(&l, t0 + 4 * s));
        /* A long quiet time refills to the burst, not beyond. */
        ok = 0;
        for (int i = 0; i < 100; i++)
                ok += av_report_limit_take(&l, t0 + 3600 * s);
        assert_int_equal(ok, 5);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid),     cmocka_unit_test(test_refused), cmocka_unit_test(test_bounds),
                cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_limit),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
