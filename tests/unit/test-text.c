/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include "text.h"

static void check(const char *in, size_t len, const char *want) {
        char *s = text_sanitize(in, len, TEXT_DEVICE_MAX, NULL);
        assert_non_null(s);
        assert_string_equal(s, want);
        assert_true(text_is_clean(s, strlen(s)));
        free(s);
}

static void test_plain(void **state) {
        check("SanDisk Cruzer", 14, "SanDisk Cruzer");
        check("", 0, "");
        check("日本語 USB", strlen("日本語 USB"), "日本語 USB");
}

static void test_controls(void **state) {
        check("a\nb\rc\td", 7, "a\\x0ab\\x0dc\\x09d");
        check("x\x1b[31mred", 9, "x\\x1b[31mred");
        check("del\x7f", 4, "del\\x7f");
        check("nul\0after", 9, "nul\\x00after");
}

static void test_backslash_and_quotes(void **state) {
        check("a\\b", 3, "a\\\\b");
        check("say \"hi\"", 8, "say \"hi\"");
}

static void test_invalid_utf8(void **state) {
        check("\xff", 1, "\\xff");
        check("\xc0\xaf", 2, "\\xc0\\xaf");           /* overlong '/' */
        check("\xed\xa0\x80", 3, "\\xed\\xa0\\x80");  /* surrogate */
        check("\xe6\x97", 2, "\\xe6\\x97");           /* truncated sequence */
        check("\xc2\x85", 2, "\\xc2\\x85");           /* C1 NEL */
        check("\xe2\x80\xa8", 3, "\\xe2\\x80\\xa8");  /* LINE SEPARATOR */
}

static void test_bounded(void **state) {
        char big[4096];
        bool cut = false;
        memset(big, 'A', sizeof big);
        char *s = text_sanitize(big, sizeof big, TEXT_DEVICE_MAX, &cut);
        assert_true(cut);
        assert_int_equal(strlen(s), TEXT_DEVICE_MAX);
        free(s);

        /* An escape is never cut in half. */
        memset(big, 0x01, sizeof big);
        s = text_sanitize(big, sizeof big, 10, &cut);
        assert_true(cut);
        assert_string_equal(s, "\\x01\\x01");
        free(s);

        /* Nor a multi-byte character. */
        s = text_sanitize("ああああ", strlen("ああああ"), 7, &cut);
        assert_string_equal(s, "ああ");
        free(s);
}

static void test_hex(void **state) {
        char *h = hex_encode("\x00\xff" "A", 3);
        assert_string_equal(h, "00ff41");
        free(h);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plain),
                cmocka_unit_test(test_controls),
                cmocka_unit_test(test_backslash_and_quotes),
                cmocka_unit_test(test_invalid_utf8),
                cmocka_unit_test(test_bounded),
                cmocka_unit_test(test_hex),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
