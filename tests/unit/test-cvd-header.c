/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include "cvd-header.h"
#include "macro.h"

/* A header as freshclam leaves it: text, then spaces up to 512 bytes, then data. */
static size_t make(char *buf, size_t size, const char *text) {
        size_t n = strlen(text);
        memset(buf, ' ', size);
        memcpy(buf, text, n);
        if (size > CVD_HEADER_SIZE)
                memcpy(buf + CVD_HEADER_SIZE, "\x1f\x8b\x08", MIN(size - CVD_HEADER_SIZE, 3));
        return size;
}

#define DAILY "ClamAV-VDB:21 Nov 2026 08-12 +0000:27100:2071234:90:0123456789abcdef0123456789ABCDEF:AbC/dsig+:svc.clamav-db:1795248720"

static void test_valid(void **state) {
        char buf[600];
        CvdHeader h;
        assert_int_equal(cvd_header_parse(buf, make(buf, sizeof buf, DAILY), &h), 0);
        assert_string_equal(h.build_time, "21 Nov 2026 08-12 +0000");
        assert_int_equal(h.version, 27100);
        assert_int_equal(h.signatures, 2071234);
        assert_int_equal(h.functionality_level, 90);
        assert_string_equal(h.md5, "0123456789abcdef0123456789ABCDEF");
        assert_true(h.has_dsig);
        assert_string_equal(h.builder, "svc.clamav-db");
        assert_int_equal(h.stime, 1795248720);

        /* exactly 512 bytes, nothing after */
        assert_int_equal(cvd_header_parse(buf, make(buf, CVD_HEADER_SIZE, DAILY), &h), 0);
}

static void test_cld(void **state) {
        char buf[512];
        CvdHeader h;
        /* after an incremental update md5 and dsig are empty */
        make(buf, sizeof buf, "ClamAV-VDB:21 Nov 2026 08-12 +0000:27101:2071300:90:::svc.clamav-db:1795252320");
        assert_int_equal(cvd_header_parse(buf, sizeof buf, &h), 0);
        assert_int_equal(h.version, 27101);
        assert_string_equal(h.md5, "");
        assert_false(h.has_dsig);
        assert_int_equal(h.stime, 1795252320);
}

static void test_cld_placeholders(void **state) {
        char buf[512];
        CvdHeader h;
        make(buf, sizeof buf, "ClamAV-VDB:21 Nov 2026 08-12 +0000:27101:2071300:90:X:X:svc.clamav-db:1795252320");
        assert_int_equal(cvd_header_parse(buf, sizeof buf, &h), 0);
        assert_string_equal(h.md5, "X");
        assert_true(h.has_dsig);
}

static void test_terminators(void **state) {
        char buf[512];
        CvdHeader h;
        make(buf, sizeof buf, DAILY "\nrest of the file");
        assert_int_equal(cvd_header_parse(buf, sizeof buf, &h), 0);
        assert_int_equal(h.stime, 1795248720);
        make(buf, sizeof buf, DAILY);
        buf[strlen(DAILY)] = 0;
        buf[strlen(DAILY) + 1] = '\x01'; /* whatever follows a NUL is not the header */
        assert_int_equal(cvd_header_parse(buf, sizeof buf, &h), 0);
        /* a later format with more fields: the first nine are read */
        make(buf, sizeof buf, DAILY ":extra:fields");
        assert_int_equal(cvd_header_parse(buf, sizeof buf, &h), 0);
        assert_int_equal(h.stime, 1795248720);
}

static void test_truncated(void **state) {
        char buf[512];
        CvdHeader h;
        make(buf, sizeof buf, DAILY);
        assert_int_equal(cvd_header_parse(buf, 511, &h), -ENODATA);
        assert_int_equal(cvd_header_parse(buf, 100, &h), -ENODATA);
        assert_int_equal(cvd_header_parse(buf, 5, &h), -ENODATA);
        assert_int_equal(cvd_header_parse(buf, 0, &h), -ENODATA);
        assert_int_equal(cvd_header_parse("ClamAX", 6, &h), -EBADMSG);
}

static void test_bad(void **state) {
        static const char *const bad[] = {
                "",                                                            /* all spaces */
                "ClamAV-VDB",                                                  /* no colon */
                "ClamAV-VDB:21 Nov 2026 08-12 +0000:27100:2071234:90:::svc",   /* eight fields: no stime */
                "ClamAV-VDB:21 Nov 2026 08-12 +0000:27100:2071234:90:::svc:",  /* empty stime */
                "ClamAV-VDB:21 Nov 2026 08-12 +0000:27100:2071234:90:::svc:0", /* stime zero */
                "ClamAV-VDB:21 Nov 2026 08-12 +0000:27100:2071234:90:::svc:17952487x0",
                "ClamAV-VDB:21 Nov 2026 08-12 +0000:27100:2071234:90:::svc:-1795248720",
                "ClamAV-VDB:21 Nov 2026 08-12 +0000:27100:2071234:90:::svc:99999999999999999999999",
                "ClamAV-VDB:21 Nov 2026 08-12 +0000:27100:2071234:90:::svc:253402300800", /* after 9999 */
                "ClamAV-VDB:21 Nov 2026 08-12 +0000:v27100:2071234:90:::svc:1795248720",
                "ClamAV-VDB:21 Nov 2026 08-12 +0000:4294967296:2071234:90:::svc:1795248720",
                "ClamAV-VDB:21 Nov 2026 08-12 +0000::2071234:90:::svc:1795248720",
                "ClamAV-VDB:21 Nov 2026 08-12 +0000:27100: 2071234:90:::svc:1795248720",
                "ClamAV-VDB:21 Nov 2026 08-12 +0000:27100:2071234:9.0:::svc:1795248720",
                "ClamAV-VDB::27100:2071234:90:::svc:1795248720",               /* no build time text */
                "ClamAV-VDB:21 Nov 2026 08-12 +0000:27100:2071234:90:"
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0:x:svc:1795248720", /* md5 field too long */
                "ClamAV-VDB:21 Nov 2026 08-12 +0000:27100:2071234:90:::"
                "a-builder-name-that-is-far-longer-than-any-real-one-ever-was-xyz:1795248720",
                "clamav-vdb:21 Nov 2026 08-12 +0000:27100:2071234:90:::svc:1795248720",
        };
        char buf[512];
        CvdHeader h;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                make(buf, sizeof buf, bad[i]);
                if (cvd_header_parse(buf, sizeof buf, &h) != -EBADMSG) {
                        fprintf(stderr, "accepted: %s\n", bad[i]);
                        fail();
                }
        }
        /* control characters and bytes above 0x7e inside the header */
        make(buf, sizeof buf, DAILY);
        buf[20] = '\t';
        assert_int_equal(cvd_header_parse(buf, sizeof buf, &h), -EBADMSG);
        make(buf, sizeof buf, DAILY);
        buf[strlen(DAILY) - 20] = (char) 0xe3;
        assert_int_equal(cvd_header_parse(buf, sizeof buf, &h), -EBADMSG);
        /* garbage */
        memset(buf, 0xff, sizeof buf);
        assert_int_equal(cvd_header_parse(buf, sizeof buf, &h), -EBADMSG);
        memset(buf, 0, sizeof buf);
        assert_int_equal(cvd_header_parse(buf, sizeof buf, &h), -EBADMSG);
        assert_int_equal(cvd_header_parse(NULL, 0, &h), -EINVAL);
}

static void test_pick(void **state) {
        CvdHeader a = { .version = 27100, .stime = 100 }, b = { .version = 27101, .stime = 50 };
        assert_int_equal(cvd_header_pick(&a, &b), 1); /* higher version, whatever the time */
        assert_int_equal(cvd_header_pick(&b, &a), 0);
        b.version = 27100;
        assert_int_equal(cvd_header_pick(&a, &b), 0); /* same version: the later build */
        b.stime = 100;
        assert_int_equal(cvd_header_pick(&a, &b), 1); /* all equal: the .cld */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid),     cmocka_unit_test(test_cld), cmocka_unit_test(test_cld_placeholders),
                cmocka_unit_test(test_terminators),
                cmocka_unit_test(test_truncated), cmocka_unit_test(test_bad), cmocka_unit_test(test_pick),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
