/* SPDX-License-Identifier: MIT */
/* mamorictl's allow entries: whatever bytes a serial holds, the daemon's own
 * parser must read back exactly those bytes. */
#include "unit.h"

#include "allow-entry.h"
#include "allow-renew.h"
#include "config.h"

static Policy *parse(const char *text) {
        Policy *p = NULL;
        ConfigErrors errs = { 0 };
        int r = config_load_strings("", text, &p, &errs);
        if (r < 0) {
                config_errors_print(&errs, stderr);
                fprintf(stderr, "--- text ---\n%s\n", text);
        }
        config_errors_done(&errs);
        return p;
}

static void roundtrip(const char *serial, size_t len, const char *label) {
        AllowDraft d = { .vendor = 0x0781,
                         .product = 0x5567,
                         .serial = serial,
                         .serial_len = len,
                         .label = label,
                         .approved_by = "CISO",
                         .expires = "2099-01-31" };
        char *text = allow_draft_format(&d);
        Policy *p;

        assert_non_null(text);
        p = parse(text);
        assert_non_null(p);
        assert_int_equal(p->usb.n_entries, 1);
        assert_int_equal(p->usb.entries[0].vendor, 0x0781);
        assert_int_equal(p->usb.entries[0].product, 0x5567);
        assert_false(p->usb.entries[0].any_serial);
        assert_int_equal(p->usb.entries[0].serial_len, len);
        assert_memory_equal(p->usb.entries[0].serial, serial, len);
        if (label)
                assert_string_equal(p->usb.entries[0].label, label);
        assert_string_equal(p->usb.entries[0].expires, "2099-01-31");
        policy_unref(p);
        free(text);
}

static void test_plain(void **state) {
        roundtrip("4C530001230101", 14, "総務課 貸出用USBメモリ 1");
}

static void test_hostile_serials(void **state) {
        roundtrip("A\"B", 3, NULL);
        roundtrip("back\\slash\\", 11, NULL);
        roundtrip("\\x41", 4, NULL); /* the text of an escape is not an escape */
        roundtrip("tab\there\nnl\r", 12, NULL);
        roundtrip("\x01\x1f\x7f", 3, NULL);
        roundtrip("\xff\xfe\x80", 3, NULL); /* not UTF-8 */
        roundtrip("\xe3\x81\x82", 3, NULL); /* UTF-8 "あ" */
        roundtrip(" leading and trailing ", 22, NULL);
        roundtrip("#;{}()=,", 8, NULL);
        char all[255];
        for (int i = 0; i < 255; i++)
                all[i] = (char) (i + 1);
        roundtrip(all, sizeof all, NULL);
}

static void test_hostile_labels(void **state) {
        roundtrip("S", 1, "quote \" backslash \\ newline \n end");
        roundtrip("S", 1, "\xff invalid \xe3\x81");
        roundtrip("S", 1, "bidi \xe2\x80\xae \xe2\x81\xa6 zw\xe2\x80\x8b tag\xf3\xa0\x81\x81 総務課");
}

static void test_hidden_code_points_are_escaped(void **state) {
        /* In a label the admin reads the file and sees every byte that would hide. */
        char *q = config_quote("a\xe2\x80\xae"
                               "b\xe2\x81\xa6"
                               "c\xe2\x80\x8b"
                               "d\xf3\xa0\x81\x81"
                               "e\xc2\x85"
                               "f総",
                               24, false);
        assert_string_equal(q, "\"a\\xe2\\x80\\xae"
                               "b\\xe2\\x81\\xa6"
                               "c\\xe2\\x80\\x8b"
                               "d\\xf3\\xa0\\x81\\x81"
                               "e\\xc2\\x85"
                               "f総\"");
        free(q);
        /* and a serial of them reads back as its bytes */
        roundtrip("\xe2\x80\xae"
                  "ABC\xe2\x81\xa6\xe2\x80\x8b\xef\xbb\xbf",
                  15, NULL);
}

static void test_serial_is_ascii_only(void **state) {
        char *q = config_quote("\xe3\x81\x82\"\\", 5, true);
        assert_string_equal(q, "\"\\xe3\\x81\\x82\\\"\\\\\"");
        free(q);
        q = config_quote("\xe3\x81\x82\x01", 4, false);
        assert_string_equal(q, "\"\xe3\x81\x82\\x01\"");
        free(q);
}

static void test_no_serial_means_any_serial(void **state) {
        AllowDraft d = { .vendor = 0x1234, .product = 0x0001, .approved_by = "CISO" };
        char *text = allow_draft_format(&d);
        Policy *p;

        d.any_serial = true;
        free(text);
        text = allow_draft_format(&d);
        assert_non_null(strstr(text, "any_serial  = true;"));
        assert_non_null(strstr(text, "no serial"));
        p = parse(text);
        assert_non_null(p);
        assert_true(p->usb.entries[0].any_serial);
        policy_unref(p);
        free(text);
}

/* --read-only writes access = "read-only", which reads back as such; without
 * it the entry says nothing and is read-write. */
static void test_read_only(void **state) {
        AllowDraft d = { .vendor = 0x0781, .product = 0x5567, .serial = "RO1", .serial_len = 3, .approved_by = "CISO" };
        for (int ro = 0; ro <= 1; ro++) {
                char *text;
                Policy *p;

                d.read_only = ro;
                text = allow_draft_format(&d);
                assert_non_null(text);
                assert_int_equal(strstr(text, "access") != NULL, ro);
                p = parse(text);
                assert_non_null(p);
                assert_int_equal(p->usb.entries[0].access, ro ? ALLOW_ACCESS_READ_ONLY : ALLOW_ACCESS_READ_WRITE);
                policy_unref(p);
                free(text);
        }
        (void) state;
}

static void test_missing_approver_is_refused(void **state) {
        AllowDraft d = { .vendor = 0x0781, .product = 0x5567, .serial = "S", .serial_len = 1 };
        const char *comments[] = { "a comment", NULL };
        char *text;
        Policy *p = NULL;
        ConfigErrors errs = { 0 };

        d.comments = comments;
        text = allow_draft_format(&d);
        assert_non_null(strstr(text, "# a comment\nallow = (\n"));
        assert_non_null(strstr(text, "approved_by = \"\";  # REQUIRED"));
        /* A template without an approver must not pass as an entry. */
        assert_true(config_load_strings("", text, &p, &errs) < 0);
        assert_null(p);
        config_errors_done(&errs);
        free(text);
}

static void test_date_time_note(void **state) {
        AllowDraft d = { .vendor = 0x0781,
                         .product = 0x5567,
                         .serial = "S",
                         .serial_len = 1,
                         .approved_by = "Y",
                         .expires = "2027-03-31T17:00:00+09:00" };
        char *text = allow_draft_format(&d);
        assert_non_null(strstr(text, "expires     = \"2027-03-31T17:00:00+09:00\";  # allows until this instant"));
        assert_null(strstr(text, "through this day"));
        free(text);
}

static char *renew(const char *text, unsigned line, const AllowRenewal *r, int want) {
        char *out = NULL;
        int q = allow_renew_text(text, line, r, &out);
        if (q != want)
                fail_msg("allow_renew_text() = %d, wanted %d, for:\n%s", q, want, text);
        return out;
}

/* In place: only the values change; comments, layout and the other entries
 * stay byte for byte, and the daemon's parser reads the change back. */
static void test_renew_in_place(void **state) {
        static const char text[] =
                "# 0781:5567 Loan stick, serial ABC123\n"
                "allow = (\n"
                "  { vendor = \"0781\"; product = \"5567\"; serial = \"OTHER\"; approved_by = \"A\"; expires = \"2025-01-01\"; },\n"
                "  {\n"
                "    vendor      = \"0781\";\n"
                "    product     = \"5567\";\n"
                "    serial      = \"ABC123\";  # expires = \"1999-01-01\" in a comment\n"
                "    label       = \"Loan stick 1\";\n"
                "    approved_by = \"Old Officer\";\n"
                "    expires     = \"2025-01-01\";  # allows through this day / この日まで有効\n"
                "  }\n"
                ");\n";
        AllowRenewal r = { .expires = "2027-06-30", .approved_by = "CISO \"Y\"", .ticket = "SEC-9" };
        char *out = renew(text, 4, &r, 0);
        const char *want =
                "# 0781:5567 Loan stick, serial ABC123\n"
                "allow = (\n"
                "  { vendor = \"0781\"; product = \"5567\"; serial = \"OTHER\"; approved_by = \"A\"; expires = \"2025-01-01\"; },\n"
                "  {\n"
                "    vendor      = \"0781\";\n"
                "    product     = \"5567\";\n"
                "    serial      = \"ABC123\";  # expires = \"1999-01-01\" in a comment\n"
                "    label       = \"Loan stick 1\";\n"
                "    approved_by = \"CISO \\\"Y\\\"\";\n"
                "    ticket      = \"SEC-9\";\n"
                "    expires     = \"2027-06-30\";  # allows through this day / この日まで有効\n"
                "  }\n"
                ");\n";
        assert_string_equal(out, want);
        Policy *p = parse(out);
        assert_non_null(p);
        assert_int_equal(p->usb.n_entries, 2);
        assert_string_equal(p->usb.entries[0].expires, "2025-01-01");
        assert_string_equal(p->usb.entries[1].expires, "2027-06-30");
        assert_string_equal(p->usb.entries[1].approved_by, "CISO \"Y\"");
        assert_string_equal(p->usb.entries[1].ticket, "SEC-9");
        assert_int_equal(p->usb.entries[1].line, 4);
        policy_unref(p);
        free(out);

        /* To a date-time: the note says so. */
        AllowRenewal t = { .expires = "2027-06-30T17:00:00+09:00", .approved_by = "Y" };
        out = renew(text, 4, &t, 0);
        assert_non_null(strstr(
                out, "expires     = \"2027-06-30T17:00:00+09:00\";  # allows until this instant / この時刻まで有効\n"));
        free(out);

        /* One line: the entry that starts on line 3; keys added on the same line. */
        AllowRenewal o = { .expires = "2028-01-01", .approved_by = "B", .approved_on = "2026-12-01" };
        out = renew(text, 3, &o, 0);
        assert_non_null(strstr(
                out,
                "serial = \"OTHER\"; approved_by = \"B\"; approved_on = \"2026-12-01\"; expires = \"2028-01-01\"; },\n"));
        assert_non_null(strstr(out, "    expires     = \"2025-01-01\";  # allows"));
        p = parse(out);
        assert_non_null(p);
        assert_string_equal(p->usb.entries[0].approved_on, "2026-12-01");
        policy_unref(p);
        free(out);

        assert_null(renew(text, 5, &r, -ENOENT));
        assert_null(renew("allow = ( { vendor", 1, &r, -EINVAL));
}

/* What cannot be edited safely is left to the admin's hands. */
static void test_renew_refuses_ambiguity(void **state) {
        AllowRenewal r = { .expires = "2027-06-30", .approved_by = "Y" };
        /* two entries on one line */
        assert_null(renew("allow = ( { vendor = \"0781\"; product = \"5567\"; serial = \"A\"; approved_by = \"X\"; },"
                          " { vendor = \"0781\"; product = \"5567\"; serial = \"B\"; approved_by = \"X\"; } );\n",
                          1, &r, -ENOTUNIQ));
        /* a value made of two strings */
        assert_null(renew("allow = (\n  { vendor = \"0781\"; product = \"5567\"; serial = \"A\";\n"
                          "    approved_by = \"X\" \"Y\"; }\n);\n",
                          2, &r, -ENOTUNIQ));
        /* a value on the line after its key */
        assert_null(renew("allow = (\n  { vendor = \"0781\"; product = \"5567\"; serial = \"A\"; approved_by = \"X\";\n"
                          "    expires =\n \"2025-01-01\"; }\n);\n",
                          2, &r, -ENOTUNIQ));
        /* a string that holds a newline: the rest of its line is still
         * inside it, not a key to edit */
        AllowRenewal s2 = { .expires = "2027-06-30", .approved_by = "Y" };
        char *out = renew("allow = (\n  { vendor = \"0781\"; product = \"5567\"; serial = \"A\n"
                          "approved_by = \\\"Z\\\" \"; approved_by = \"X\"; }\n);\n",
                          2, &s2, 0);
        assert_string_equal(out, "allow = (\n  { vendor = \"0781\"; product = \"5567\"; serial = \"A\n"
                                 "approved_by = \\\"Z\\\" \"; approved_by = \"Y\"; expires = \"2027-06-30\"; }\n);\n");
        free(out);
        /* no newline smuggled into the file */
        AllowRenewal nl = { .expires = "2027-06-30", .approved_by = "Y\n}" };
        assert_null(
                renew("allow = (\n  { vendor = \"0781\"; product = \"5567\"; serial = \"A\"; approved_by = \"X\"; }\n);\n",
                      2, &nl, -EINVAL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plain),
                cmocka_unit_test(test_hostile_serials),
                cmocka_unit_test(test_hostile_labels),
                cmocka_unit_test(test_serial_is_ascii_only),
                cmocka_unit_test(test_hidden_code_points_are_escaped),
                cmocka_unit_test(test_no_serial_means_any_serial),
                cmocka_unit_test(test_read_only),
                cmocka_unit_test(test_missing_approver_is_refused),
                cmocka_unit_test(test_date_time_note),
                cmocka_unit_test(test_renew_in_place),
                cmocka_unit_test(test_renew_refuses_ambiguity),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
