/* SPDX-License-Identifier: MIT */
/* clamd's reply lines as agent/av/av-scan.c reads them (issue 15 item 3). */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "av-scan.h"
#include "macro.h"

static int parse(const char *line, size_t len, AvScanReply *r) {
        *r = (AvScanReply){ 0 };
        return av_scan_parse_reply(line, len, r);
}

static void test_ok(void **state) {
        AvScanReply r;

        assert_int_equal(parse("/media/taro/USB: OK", 19, &r), 0);
        assert_int_equal(r.kind, AV_SCAN_REPLY_OK);
        assert_string_equal(r.path, "/media/taro/USB");
        assert_null(r.signature);
        av_scan_reply_done(&r);
        assert_int_equal(parse(": OK", 4, &r), -EBADMSG); /* no path */
}

static void test_found(void **state) {
        static const char l[] = "/media/taro/USB/eicar.com: Eicar-Signature FOUND";
        static const char colon[] = "/media/a: b/x.exe: Win.Test.EICAR_HDB-1 FOUND";
        AvScanReply r;

        assert_int_equal(parse(l, strlen(l), &r), 0);
        assert_int_equal(r.kind, AV_SCAN_REPLY_FOUND);
        assert_string_equal(r.path, "/media/taro/USB/eicar.com");
        assert_string_equal(r.raw_path, "/media/taro/USB/eicar.com");
        assert_string_equal(r.signature, "Eicar-Signature");
        av_scan_reply_done(&r);
        /* ": " inside the path: the signature is the last part */
        assert_int_equal(parse(colon, strlen(colon), &r), 0);
        assert_string_equal(r.path, "/media/a: b/x.exe");
        assert_string_equal(r.signature, "Win.Test.EICAR_HDB-1");
        av_scan_reply_done(&r);
        /* no signature, no path, no separator */
        assert_int_equal(parse("/x:  FOUND", 10, &r), -EBADMSG);
        assert_int_equal(parse(": Sig FOUND", 11, &r), -EBADMSG);
        assert_int_equal(parse("Sig FOUND", 9, &r), -EBADMSG);
        assert_int_equal(parse(" FOUND", 6, &r), -EBADMSG);
}

static void test_hostile_path(void **state) {
        /* The z-form keeps a newline and escapes in the path; shown escaped, raw for the lookup. */
        static const char l[] = "/media/taro/a\nb\x1b[31m.exe: Eicar-Signature FOUND";
        AvScanReply r;

        assert_int_equal(parse(l, strlen(l), &r), 0);
        assert_int_equal(r.kind, AV_SCAN_REPLY_FOUND);
        assert_null(strchr(r.path, '\n'));
        assert_null(strchr(r.path, '\x1b'));
        assert_memory_equal(r.raw_path, "/media/taro/a\nb\x1b[31m.exe", strlen("/media/taro/a\nb\x1b[31m.exe"));
        av_scan_reply_done(&r);
        /* a NUL inside a line is refused */
        assert_int_equal(parse("/a\0b: OK", 8, &r), -EBADMSG);
}

static void test_error_and_garbage(void **state) {
        static const char e[] = "/media/taro/USB/x: lstat() failed: Permission denied. ERROR";
        char *big;
        AvScanReply r;

        assert_int_equal(parse(e, strlen(e), &r), 0);
        assert_int_equal(r.kind, AV_SCAN_REPLY_ERROR);
        assert_string_equal(r.message, e);
        av_scan_reply_done(&r);
        assert_int_equal(parse("UNKNOWN COMMAND", 15, &r), -EBADMSG);
        assert_int_equal(parse("ERROR", 5, &r), 0);
        assert_int_equal(r.kind, AV_SCAN_REPLY_ERROR);
        av_scan_reply_done(&r);
        assert_int_equal(parse("", 0, &r), -EBADMSG);
        /* truncated: a line cut in the middle is none of the forms */
        assert_int_equal(parse("/media/taro/USB/eicar.com: Eicar-Sig", 36, &r), -EBADMSG);
        assert_int_equal(parse("/media/taro/USB: O", 18, &r), -EBADMSG);
        /* too long */
        big = malloc(AV_SCAN_LINE_MAX + 10);
        assert_non_null(big);
        memset(big, 'a', AV_SCAN_LINE_MAX + 10);
        big[0] = '/';
        memcpy(big + AV_SCAN_LINE_MAX + 10 - 4, ": OK", 4);
        assert_int_equal(parse(big, AV_SCAN_LINE_MAX + 10, &r), -EBADMSG);
        assert_int_equal(parse(big + 10, AV_SCAN_LINE_MAX, &r), 0);
        av_scan_reply_done(&r);
        free(big);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ok),
                cmocka_unit_test(test_found),
                cmocka_unit_test(test_hostile_path),
                cmocka_unit_test(test_error_and_garbage),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
