/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include "macro.h"
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
        check("\xe0\x80\xaf", 3, "\\xe0\\x80\\xaf");  /* overlong 3-byte '/' */
        check("\xf0\x80\x80\xaf", 4, "\\xf0\\x80\\x80\\xaf");
        check("\xf4\x90\x80\x80", 4, "\\xf4\\x90\\x80\\x80"); /* past U+10FFFF */
        check("\xed\xbf\xbf", 3, "\\xed\\xbf\\xbf");  /* low surrogate */
        check("\x80x", 2, "\\x80x");                   /* stray continuation byte */
        check("\xe3\x81", 2, "\\xe3\\x81");           /* cut inside a character */
}

/* Valid code points that would not show as themselves: \uXXXX, \UXXXXXXXX. */
#define U(s) s, sizeof s - 1
static void test_c1_and_separators(void **state) {
        check(U("\xc2\x85"), "\\u0085");                     /* C1 NEL */
        check(U("\xc2\x9b[2J"), "\\u009b[2J");               /* C1 CSI */
        check(U("\xc2\x80\xc2\x9f\xc2\xa0"), "\\u0080\\u009f\xc2\xa0"); /* NBSP stays */
        check(U("a\xe2\x80\xa8" "b\xe2\x80\xa9" "c"), "a\\u2028b\\u2029c"); /* LS, PS */
}

static void test_bidi(void **state) {
        /* embeddings and overrides U+202A..U+202E */
        check(U("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad\xe2\x80\xae"),
              "\\u202a\\u202b\\u202c\\u202d\\u202e");
        check(U("Photos\xe2\x80\xaegpj.exe"), "Photos\\u202egpj.exe");
        /* isolates U+2066..U+2069 */
        check(U("\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9"), "\\u2066\\u2067\\u2068\\u2069");
        /* marks: LRM, RLM, ALM */
        check(U("\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c"), "\\u200e\\u200f\\u061c");
        /* right-to-left text itself is not hidden */
        check(U("\xd7\x90\xd8\xa8"), "\xd7\x90\xd8\xa8");
}

static void test_invisible(void **state) {
        check(U("a\xe2\x80\x8b" "b\xe2\x80\x8c" "c\xe2\x80\x8d" "d"), "a\\u200bb\\u200cc\\u200dd"); /* ZWSP, ZWNJ, ZWJ */
        check(U("\xe2\x81\xa0\xe2\x81\xa1\xe2\x81\xa4"), "\\u2060\\u2061\\u2064");  /* word joiner, invisible ops */
        check(U("\xef\xbb\xbf" "BOM"), "\\ufeffBOM");
        check(U("soft\xc2\xadhyphen"), "soft\\u00adhyphen");
        check(U("\xcd\x8f\xe1\xa0\x8e\xe3\x85\xa4\xef\xbe\xa0"), "\\u034f\\u180e\\u3164\\uffa0");
        check(U("\xef\xbf\xb9\xef\xbf\xbb"), "\\ufff9\\ufffb");             /* interlinear annotation */
        /* variation selectors, and the supplement's (an IVS after a kanji) */
        check(U("\xe2\x9d\xa4\xef\xb8\x8f"), "\xe2\x9d\xa4\\ufe0f");
        check(U("\xe8\x91\x9b\xf3\xa0\x84\x80"), "\xe8\x91\x9b\\U000e0100");
        /* tag characters U+E0000..U+E007F: invisible ASCII */
        check(U("\xf3\xa0\x80\x81\xf3\xa0\x81\x81\xf3\xa0\x81\xbf"), "\\U000e0001\\U000e0041\\U000e007f");
        /* visible neighbours are kept: emoji past the BMP, CJK, fullwidth */
        check(U("\xf0\x9f\x98\x80 \xef\xbc\xa1 \xe5\x90\x8d"), "\xf0\x9f\x98\x80 \xef\xbc\xa1 \xe5\x90\x8d");
}

static void test_codepoint_policy(void **state) {
        static const uint32_t hidden[] = { 0x00, 0x1f, 0x7f, 0x80, 0x9f, 0xad, 0x34f, 0x61c, 0x115f, 0x1160,
                                           0x17b4, 0x180b, 0x180e, 0x180f, 0x200b, 0x200f, 0x2028, 0x202e,
                                           0x2060, 0x2066, 0x2069, 0x206f, 0x3164, 0xfe00, 0xfe0f, 0xfeff,
                                           0xffa0, 0xfff9, 0xfffb, 0x1bca0, 0x1d173, 0xe0000, 0xe0041,
                                           0xe007f, 0xe0100, 0xe01ef };
        static const uint32_t shown[] = { 0x20, 0x7e, 0xa0, 0xe9, 0x5d0, 0x628, 0x2010, 0x2027, 0x202f,
                                          0x205f, 0x2070, 0x3000, 0x3042, 0xfe10, 0xfffc, 0xfffd, 0x1f600,
                                          0x20000 };
        for (size_t i = 0; i < ELEMENTSOF(hidden); i++)
                assert_true(text_codepoint_is_hidden(hidden[i]));
        for (size_t i = 0; i < ELEMENTSOF(shown); i++)
                assert_false(text_codepoint_is_hidden(shown[i]));
}

static void test_not_clean(void **state) {
        assert_true(text_is_clean(U("plain 日本語 \\u202e")));
        assert_false(text_is_clean(U("\xe2\x80\xae")));
        assert_false(text_is_clean(U("\xe2\x81\xa6")));
        assert_false(text_is_clean(U("\xe2\x80\x8b")));
        assert_false(text_is_clean(U("\xf3\xa0\x81\x81")));
        assert_false(text_is_clean(U("\xc2\x85")));
        assert_false(text_is_clean(U("\xff")));
}

static void test_keep_backslash(void **state) {
        char *s = text_sanitize_flags(U("dev \\u202e \xe2\x80\xae\x1b"), 64, TEXT_KEEP_BACKSLASH, NULL);
        assert_string_equal(s, "dev \\u202e \\u202e\\x1b");
        free(s);
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

        /* \u and \U escapes neither. */
        s = text_sanitize(U("ab\xe2\x80\xae\xf3\xa0\x81\x81"), 9, &cut);
        assert_true(cut);
        assert_string_equal(s, "ab\\u202e");
        free(s);
        s = text_sanitize(U("ab\xe2\x80\xae\xf3\xa0\x81\x81"), 18, &cut);
        assert_false(cut);
        assert_string_equal(s, "ab\\u202e\\U000e0041");
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
                cmocka_unit_test(test_c1_and_separators),
                cmocka_unit_test(test_bidi),
                cmocka_unit_test(test_invisible),
                cmocka_unit_test(test_codepoint_policy),
                cmocka_unit_test(test_not_clean),
                cmocka_unit_test(test_keep_backslash),
                cmocka_unit_test(test_bounded),
                cmocka_unit_test(test_hex),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
