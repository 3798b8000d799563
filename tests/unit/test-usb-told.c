/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include "macro.h"
#include "usb-told.h"

static void parse(const char *s, size_t want_n, size_t want_bad, UsbTold **ret) {
        size_t n = 99, bad = 99;
        assert_int_equal(usb_told_parse(s, strlen(s), ret, &n, &bad), 0);
        assert_int_equal(n, want_n);
        assert_int_equal(bad, want_bad);
}

static void test_round_trip(void **state) {
        const UsbTold in[] = { { 2, 104, 0x0781, 0x5567 }, { 65535, 1, 0xffff, 0 } };
        _cleanup_free_ char *s = NULL;
        _cleanup_free_ UsbTold *out = NULL;
        size_t len;

        assert_int_equal(usb_told_format(in, 2, &s, &len), 0);
        assert_string_equal(s, "2 104 0781 5567\n65535 1 ffff 0000\n");
        parse(s, 2, 0, &out);
        assert_memory_equal(out, in, sizeof in);
}

static void test_hostile_lines_skipped(void **state) {
        _cleanup_free_ UsbTold *out = NULL;
        /* the good line survives; every other line is counted, none is half taken */
        parse("junk\n"
              "2 104 0781 5567\n"
              "2 104 0781\n"          /* short */
              "2 104 0781 5567 9\n"   /* trailing field */
              "2  104 0781 5567\n"    /* two spaces */
              "65536 1 0781 5567\n"   /* out of range */
              "2 104 0781 5567x\n"    /* trailing junk */
              "-2 104 0781 5567\n"    /* sign */
              "2 104 0781 ABCD\n"     /* upper case is not what we write */
              "2 104 07811 5567\n"    /* five hex digits */
              "\n\n"                  /* blank lines are nothing */
              "3 5 0781 5567",        /* no final newline: still a line */
              2, 9, &out);
        assert_int_equal(out[0].busnum, 2);
        assert_int_equal(out[1].devnum, 5);
}

static void test_embedded_nul_and_bound(void **state) {
        _cleanup_free_ UsbTold *out = NULL;
        _cleanup_free_ char *big = NULL;
        size_t n, bad, len = 0;
        const char nul[] = "2 1\0 0781 5567\n3 1 0781 5567\n";

        assert_int_equal(usb_told_parse(nul, sizeof nul - 1, &out, &n, &bad), 0);
        assert_int_equal(n, 1);
        assert_int_equal(bad, 1);
        free(TAKE_PTR(out));

        /* more than USB_TOLD_MAX lines: the rest is counted, not kept */
        big = malloc((USB_TOLD_MAX + 5) * 16 + 1);
        assert_non_null(big);
        for (unsigned i = 0; i < USB_TOLD_MAX + 5; i++)
                len += (size_t) sprintf(big + len, "1 %u 0781 5567\n", i % 128);
        assert_int_equal(usb_told_parse(big, len, &out, &n, &bad), 0);
        assert_int_equal(n, USB_TOLD_MAX);
        assert_int_equal(bad, 5);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_hostile_lines_skipped),
                cmocka_unit_test(test_embedded_nul_and_bound),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
