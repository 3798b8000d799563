/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include <libconfig.h>

#include "config-hint.h"
#include "macro.h"

/* What libconfig says of text, and what the hint makes of it. */
static void hint_of(const char *text, ConfigSyntaxHint *h) {
        config_t cfg;
        config_init(&cfg);
        assert_int_equal(config_read_string(&cfg, text), CONFIG_FALSE);
        assert_int_equal(config_hint_syntax(text, strlen(text), config_error_line(&cfg), h), 0);
        config_destroy(&cfg);
}

#define MISSING_COMMA "a missing ',' between entries or ';' after a setting?"

static void test_missing_comma_between_entries(void **state) {
        ConfigSyntaxHint h;

        hint_of("allow = (\n  { vendor = \"0781\"; }\n  { vendor = \"0782\"; }\n);\n", &h);
        assert_int_equal(h.line, 3);
        assert_string_equal(h.hint, MISSING_COMMA);
        assert_string_equal(h.line_text, "{ vendor = \"0782\"; }");
        config_syntax_hint_done(&h);

        hint_of("allow = ( { a = 1; } { b = 2; } );", &h);
        assert_int_equal(h.line, 1);
        assert_string_equal(h.hint, MISSING_COMMA);
        config_syntax_hint_done(&h);

        hint_of("x = [ 1,\n 2\n 3 ];\n", &h);
        assert_int_equal(h.line, 3);
        assert_string_equal(h.hint, MISSING_COMMA);
        config_syntax_hint_done(&h);
}

static void test_end_of_file_is_the_last_line(void **state) {
        ConfigSyntaxHint h;

        /* one line and its newline: libconfig says line 2 */
        hint_of("allow = ( { vendor = \"0781\"; product = \"5567\";\n", &h);
        assert_int_equal(h.line, 1);
        assert_non_null(strstr(h.hint, "the file ends before"));
        config_syntax_hint_done(&h);

        /* blank lines and a comment after the text: still its last line */
        hint_of("usb = {\n  block = [ \"storage\" ];\n\n\n", &h);
        assert_int_equal(h.line, 2);
        assert_string_equal(h.line_text, "block = [ \"storage\" ];");
        config_syntax_hint_done(&h);

        hint_of("a = \"x", &h);
        assert_int_equal(h.line, 1);
        assert_non_null(strstr(h.hint, "missing '\"'"));
        config_syntax_hint_done(&h);
}

static void test_other_causes(void **state) {
        ConfigSyntaxHint h;

        hint_of("usb = { repeat_window = ; };\n", &h);
        assert_string_equal(h.hint, "a setting without a value?");
        config_syntax_hint_done(&h);

        hint_of("usb = { block = [ \"storage\" ]; }};\n", &h);
        assert_string_equal(h.hint, "a '}', ')' or ']' too many?");
        config_syntax_hint_done(&h);

        /* a comment holding what would look like a cause is not one */
        hint_of("# } {\nusb = { x = 1; } = 3;\n", &h);
        assert_int_equal(h.line, 2);
        assert_non_null(strstr(h.hint, "libconfig expected"));
        config_syntax_hint_done(&h);
}

static void test_line_text_escaped_and_bounded(void **state) {
        char text[600];
        ConfigSyntaxHint h;

        /* a control character and an overlong line */
        snprintf(text, sizeof text, "x = \"\x1b[31m\" \"%0400d\" {\n", 0);
        hint_of(text, &h);
        assert_null(strchr(h.line_text, '\x1b'));
        assert_true(strlen(h.line_text) <= 170);
        assert_non_null(strstr(h.line_text, "…"));
        config_syntax_hint_done(&h);
}

static void test_distance_and_did_you_mean(void **state) {
        static const char *const allow_keys[] = { "vendor", "product", "serial", "serial_hex", "any_serial",
                                                   "label", "approved_by", "expires", "renewed", NULL };
        static const char *const usb_keys[] = { "block", "policy_ref", "drivers", "repeat_window", NULL };

        assert_int_equal(config_hint_distance("expiry", "expires", 5), 2);
        assert_int_equal(config_hint_distance("venodr", "vendor", 5), 1); /* a swap is one */
        assert_int_equal(config_hint_distance("abc", "abc", 5), 0);
        assert_int_equal(config_hint_distance("a", "abcdefgh", 2), 3); /* stops above max */

        assert_string_equal(config_hint_key("expiry", allow_keys), "expires");
        assert_string_equal(config_hint_key("expire", allow_keys), "expires");
        assert_string_equal(config_hint_key("approved", allow_keys), "approved_by");
        assert_string_equal(config_hint_key("Serial", allow_keys), "serial");
        assert_string_equal(config_hint_key("blok", usb_keys), "block");
        assert_string_equal(config_hint_key("repeat-window", usb_keys), "repeat_window");
        assert_null(config_hint_key("colour", allow_keys));
        assert_null(config_hint_key("x", usb_keys));
        assert_null(config_hint_key("", usb_keys));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_missing_comma_between_entries),
                cmocka_unit_test(test_end_of_file_is_the_last_line),
                cmocka_unit_test(test_other_causes),
                cmocka_unit_test(test_line_text_escaped_and_bounded),
                cmocka_unit_test(test_distance_and_did_you_mean),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
