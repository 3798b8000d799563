/* SPDX-License-Identifier: MIT */
/* common/config-notice.c: the notice group of mamori.conf, read through the
 * daemon's parser. */
#include "unit.h"

#include "config.h"
#include "notice-text.h"

static Policy *load(const char *main_text, const char *allow) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        int r = config_load_strings(main_text, allow, &p, &e);
        if (r < 0)
                config_errors_print(&e, stderr);
        assert_int_equal(r, 0);
        config_errors_done(&e);
        return p;
}

static void expect_error(const char *main_text, const char *what, int line) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        if (config_load_strings(main_text, NULL, &p, &e) != -EINVAL)
                fail_msg("accepted: %s", main_text);
        assert_null(p);
        assert_true(e.n >= 1);
        if (!strstr(e.items[0].message, what))
                fail_msg("expected \"%s\", got \"%s\"", what, e.items[0].message);
        assert_int_equal(e.items[0].line, line);
        config_errors_done(&e);
}

static void test_config(void **state) {
        Policy *p = load("notice = {\n enabled = true;\n kinds = [ \"usb.blocked\", \"av.engine_inactive\" ];\n"
                         " contact = \"情報政策課\";\n burst = 5;\n interval = 60;\n};\n",
                         NULL);
        assert_false(p->notice.disabled);
        assert_true(p->notice.kinds_set);
        assert_int_equal(p->notice.kinds, NOTICE_KIND_BIT(EVENT_USB_BLOCKED) | NOTICE_KIND_BIT(EVENT_AV_ENGINE_INACTIVE));
        assert_string_equal(p->notice.contact, "情報政策課");
        assert_null(p->notice.contact_en);
        assert_int_equal(p->notice.burst, 5);
        assert_int_equal(p->notice.interval_sec, 60);
        policy_unref(p);

        /* defaults */
        p = load("", NULL);
        assert_false(p->notice.disabled);
        assert_int_equal(notice_kinds(&p->notice),
                         NOTICE_KIND_BIT(EVENT_USB_BLOCKED) | NOTICE_KIND_BIT(EVENT_USB_EXPIRING) |
                                 NOTICE_KIND_BIT(EVENT_USB_READONLY_VIOLATED) | NOTICE_KIND_BIT(EVENT_DEVICE_BLOCKED) |
                                 NOTICE_KIND_BIT(EVENT_DEVICE_BLOCK_FAILED) | NOTICE_KIND_BIT(EVENT_AV_DETECTION));
        policy_unref(p);
        p = load("notice = { kinds = [ \"device.blocked\" ]; };", NULL);
        assert_int_equal(notice_kinds(&p->notice), NOTICE_KIND_BIT(EVENT_DEVICE_BLOCKED));
        policy_unref(p);
        p = load("notice = { enabled = false; kinds = [ ]; };", NULL);
        assert_true(p->notice.disabled);
        assert_int_equal(notice_kinds(&p->notice), 0);
        policy_unref(p);

        expect_error("notice = 1;", "'notice' must be a group", 1);
        expect_error("notice = {\n colour = \"red\";\n};", "unknown key 'colour' in notice", 2);
        expect_error("notice = {\n kinds = [ \"lock.failed\" ];\n};", "'lock.failed' in notice.kinds is not a kind", 2);
        expect_error("notice = {\n kinds = [ \"usb.blocked\", \"usb.blocked\" ];\n};", "listed twice", 2);
        /* the error names every kind a town may list, the device ones too */
        expect_error("notice = {\n kinds = [ \"device.allowed\" ];\n};", "device.blocked, device.block_failed", 2);
        expect_error("notice = {\n kinds = \"usb.blocked\";\n};", "'kinds' must be an array", 2);
        expect_error("notice = {\n contact = \"a\\nb\";\n};", "'contact' must be one line of printable text", 2);
        expect_error("notice = {\n contact_en = \"\";\n};", "'contact_en' must be one line", 2);
        expect_error("notice = {\n burst = 0;\n};", "'burst' must be between 1 and 100", 2);
        expect_error("notice = {\n interval = 100000;\n};", "'interval' must be between 1 and 86400", 2);
        expect_error("notice = {\n enabled = \"yes\";\n};", "'enabled' must be true or false", 2);
}

/* approver, approver_en and the contact group: good, bad and hostile. */
static void test_contact_approver(void **state) {
        Policy *p = load("notice = {\n approver = \"所属の情報セキュリティ管理者（課長）\";\n"
                         " approver_en = \"the information security administrator of your section (section chief)\";\n"
                         " contact = {\n  section = \"情報政策担当\";\n  phone = \"0123-45-6789\";\n"
                         "  extension = \"1234\";\n  section_en = \"IT Policy Section\";\n };\n};\n",
                         NULL);
        assert_string_equal(p->notice.approver, "所属の情報セキュリティ管理者（課長）");
        assert_string_equal(p->notice.approver_en,
                            "the information security administrator of your section (section chief)");
        assert_string_equal(p->notice.contact, "情報政策担当");
        assert_string_equal(p->notice.contact_en, "IT Policy Section");
        assert_string_equal(p->notice.contact_phone, "0123-45-6789");
        assert_string_equal(p->notice.contact_extension, "1234");
        policy_unref(p);

        /* the old one-string contact is the section */
        p = load("notice = { contact = \"情報政策課\"; contact_en = \"IT Policy\"; };", NULL);
        assert_string_equal(p->notice.contact, "情報政策課");
        assert_string_equal(p->notice.contact_en, "IT Policy");
        assert_null(p->notice.contact_phone);
        assert_null(p->notice.approver);
        policy_unref(p);
        p = load("notice = { contact = { section = \"情報政策担当\"; phone = \"+81 (0)123-45-6789\"; }; };", NULL);
        assert_string_equal(p->notice.contact_phone, "+81 (0)123-45-6789");
        assert_null(p->notice.contact_extension);
        assert_null(p->notice.contact_en);
        policy_unref(p);

        /* bad */
        expect_error("notice = {\n approver = \"\";\n};", "'approver' must be one line of printable text", 2);
        expect_error("notice = {\n approver = 3;\n};", "'approver'", 2);
        expect_error("notice = {\n contact = {\n  phone = \"1234\";\n };\n};", "'contact' needs a 'section'", 2);
        expect_error("notice = {\n contact = {\n  section = \"a\";\n  room = \"2F\";\n };\n};",
                     "unknown key 'room' in contact", 4);
        expect_error("notice = {\n contact = {\n  section = \"a\";\n  phone = \"call me\";\n };\n};",
                     "'phone' must be 1 to 24 characters of digits", 4);
        expect_error("notice = {\n contact = {\n  section = \"a\";\n  extension = \"12 34\";\n };\n};",
                     "'extension' must be 1 to 24 characters of digits", 4);
        expect_error("notice = {\n contact = {\n  section = \"a\";\n  extension = \"--\";\n };\n};",
                     "'extension' must be", 4);
        expect_error("notice = {\n contact = {\n  section = \"a\";\n  phone = \"0123456789012345678901234\";\n };\n};",
                     "'phone' must be", 4);
        expect_error("notice = {\n contact = { section = \"a\"; };\n contact_en = \"b\";\n};",
                     "'contact_en' is for the one-string contact", 3);

        /* hostile: a role or a section that could make the notice name
         * someone else, or break its lines */
        expect_error("notice = {\n approver = \"課長\xe2\x80\xae者理管\";\n};", "'approver' must be one line", 2);
        expect_error("notice = {\n approver_en = \"chief\u200bofficer\";\n};", "'approver_en' must be one line", 2);
        expect_error("notice = {\n contact = {\n  section = \"情報\\n政策\";\n };\n};", "'section' must be one line", 3);
        expect_error("notice = {\n contact = {\n  section = \"a\";\n  section_en = \"\x1b[31mred\";\n };\n};",
                     "'section_en' must be one line", 4);
        expect_error("notice = {\n contact = {\n  section = \"a\";\n  phone = \"0123\u2067-45\";\n };\n};",
                     "'phone' must be", 4);
        {
                char big[400], text[512];
                memset(big, 'x', sizeof big - 1);
                big[sizeof big - 1] = 0;
                snprintf(text, sizeof text, "notice = {\n approver = \"%s\";\n};", big);
                expect_error(text, "1 to 200 bytes", 2);
        }
}

/* usb.expiry_warning (config.c's usb section): when usb.expiring is sent;
 * notice.kinds turns the notice on or off. */
static void test_usb_expiry_warning(void **state) {
        Policy *p;

        /* default 15 minutes, 0 turns it off, bounds */
        p = load("", NULL);
        assert_int_equal(p->usb.expiry_warning, 15 * 60 * USEC_PER_SEC);
        policy_unref(p);
        p = load("usb = { expiry_warning = 0; };", NULL);
        assert_int_equal(p->usb.expiry_warning, 0);
        policy_unref(p);
        p = load("notice = { kinds = [ \"usb.expiring\" ]; };", NULL);
        assert_int_equal(notice_kinds(&p->notice), NOTICE_KIND_BIT(EVENT_USB_EXPIRING));
        policy_unref(p);
        expect_error("usb = {\n expiry_warning = \"soon\";\n};", "'expiry_warning' must be a duration", 2);
        expect_error("usb = {\n expiry_warning = \"8d\";\n};", "'expiry_warning' must be a duration", 2);
        expect_error("usb = {\n expiry_warning = 999999999;\n};", "'expiry_warning' must be between 1s and 604800s", 2);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_config),
                cmocka_unit_test(test_contact_approver),
                cmocka_unit_test(test_usb_expiry_warning),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
