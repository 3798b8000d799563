/* SPDX-License-Identifier: MIT */
/* common/notice-text.c: the texts of a notice, in Japanese and English, and
 * what of a device they may show. */
#include "unit.h"

#include "config.h"
#include "notice-text.h"
#include "usb-infected.h"
#include "text.h"
#include "timeutil.h"

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

static UsbDevice *stick(const char *product, const char *serial) {
        UsbDevice *d = usb_device_new("2-4", 0x0781, 0x5567, serial, serial ? strlen(serial) : 0);
        assert_non_null(d);
        if (!serial) {
                d->has_serial = false;
                d->serial = mfree(d->serial);
        }
        d->product_name = product ? text_sanitize(product, strlen(product), TEXT_DEVICE_MAX, NULL) : NULL;
        d->manufacturer = strdup("SanDisk");
        assert_int_equal(usb_device_add_interface(d, "2-4:1.0", 0x08, 0x06, 0x50, NULL, 0), 0);
        usb_device_classify(d);
        return d;
}

/* The expected text in the zone the test runs in (tests/meson.build runs
 * this test once per zone, as the date tests): a date shown in UTC, or in
 * the zone of the entry's offset, fails in at least two. */
static const char *by_tz(const char *tokyo, const char *utc, const char *new_york) {
        const char *tz = getenv("TZ");
        if (streq_ptr(tz, "Asia/Tokyo"))
                return tokyo;
        if (streq_ptr(tz, "UTC"))
                return utc;
        if (streq_ptr(tz, "America/New_York"))
                return new_york;
        fail_msg("TZ=%s: the notice tests know Asia/Tokyo, UTC and America/New_York only", tz ? tz : "(unset)");
        return NULL;
}

static bool clean_notice_text(const char *s, bool newlines) {
        size_t len = strlen(s);
        for (size_t i = 0; i < len;) {
                size_t n = utf8_sequence_len((const unsigned char *) s + i, len - i);
                if (n == 0)
                        return false;
                if (n == 1 && (unsigned char) s[i] < 0x20 && !(newlines && s[i] == '\n'))
                        return false;
                if (n == 3 && memcmp(s + i, "\xe2\x80\xae", 3) == 0) /* U+202E */
                        return false;
                i += n;
        }
        return true;
}

/* ---- display text ---- */

static void test_display_text(void **state) {
        char *s;

        assert_null(notice_display_text(NULL, 10));
        assert_null(notice_display_text("   ", 10));
        s = notice_display_text("  Cruzer Blade  ", 48);
        assert_string_equal(s, "Cruzer Blade");
        free(s);
        /* exactly max characters stays whole; one more is cut with an ellipsis */
        s = notice_display_text("abcdef", 6);
        assert_string_equal(s, "abcdef");
        free(s);
        s = notice_display_text("abcdefg", 6);
        assert_string_equal(s, "abcde…");
        free(s);
        s = notice_display_text("日本語のUSBメモリ", 5);
        assert_string_equal(s, "日本語の…");
        free(s);
        /* bidi overrides, isolates, zero-width and controls become U+FFFD */
        s = notice_display_text("a\xe2\x80\xae"
                                "exe.gnp\xe2\x81\xa6x\xe2\x80\x8by\x1bz\xc2\x85",
                                48);
        assert_string_equal(s, "a\xef\xbf\xbd"
                               "exe.gnp\xef\xbf\xbdx\xef\xbf\xbdy\xef\xbf\xbdz\xef\xbf\xbd");
        free(s);
        /* invalid UTF-8 (never from the sanitizer, but still) */
        s = notice_display_text("a\xff\xfe"
                                "b",
                                48);
        assert_string_equal(s, "a\xef\xbf\xbd\xef\xbf\xbd"
                               "b");
        free(s);
}

/* ---- usb.blocked ---- */

#define TOWN_NOTICE \
        "notice = { approver = \"所属の情報セキュリティ管理者（課長）\";\n" \
        " approver_en = \"the information security administrator of your section (section chief)\";\n" \
        " contact = { section = \"情報政策担当\"; phone = \"0123-45-6789\"; extension = \"1234\";\n" \
        "  section_en = \"IT Policy Section\"; }; };\n"

static void test_usb_unknown(void **state) {
        Policy *p = load(TOWN_NOTICE, NULL);
        UsbDevice *d = stick("Cruzer Blade", "4C530001");
        Decision dec = policy_decide(p, d, 0);
        Notice *n = NULL;

        assert_int_equal(notice_build_usb(&p->notice, p->usb.policy_ref, d, &dec,
                                          "7f3a9c12-0000-4000-8000-000000000000", &n),
                         0);
        assert_int_equal(n->kind, EVENT_USB_BLOCKED);
        assert_string_equal(n->summary[NOTICE_LANG_JA], "USB機器「Cruzer Blade」は使用できません");
        assert_string_equal(n->summary[NOTICE_LANG_EN], "USB device “Cruzer Blade” is blocked");
        assert_string_equal(n->body[NOTICE_LANG_JA],
                            "この機器（USBメモリ等の外部記録媒体）は使用許可を受けていないため、使用できないようにしました。\n"
                            "業務で使う必要がある場合は、所属の情報セキュリティ管理者（課長）に使用許可を申請してください。\n"
                            "機器: Cruzer Blade（ID 0781:5567）\n"
                            "根拠: 対策基準 第3-6　参照番号: 7f3a9c12\n"
                            "連絡先: 情報政策担当（電話 0123-45-6789　内線 1234）");
        assert_string_equal(n->body[NOTICE_LANG_EN],
                            "This device (USB memory or other removable media) has not been given permission for use, "
                            "so it was blocked.\n"
                            "If you need it for work, ask the information security administrator of your section "
                            "(section chief) for permission.\n"
                            "Device: Cruzer Blade (ID 0781:5567)\n"
                            "Policy: 対策基準 第3-6 · Reference: 7f3a9c12\n"
                            "Contact: IT Policy Section (phone 0123-45-6789, ext. 1234)");
        assert_string_equal(n->icon, "drive-removable-media");
        assert_string_equal(n->category, "device.error");
        assert_int_equal(n->urgency, NOTICE_URGENCY_NORMAL);
        assert_string_equal(n->replace_key, "usb:2-4");
        assert_string_equal(notice_fact(n, "reason"), "unknown");
        assert_string_equal(notice_fact(n, "vendor_id"), "0781");
        assert_string_equal(notice_fact(n, "product_id"), "5567");
        assert_string_equal(notice_fact(n, "product"), "Cruzer Blade");
        assert_string_equal(notice_fact(n, "device_category"), "storage");
        assert_string_equal(notice_fact(n, "policy_ref"), "対策基準 第3-6");
        assert_null(notice_fact(n, "expires"));
        /* the serial stays out of everything that leaves the daemon */
        for (size_t i = 0; i < n->n_facts; i++)
                assert_null(strstr(n->facts[i].value, "4C530001"));
        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++) {
                assert_null(strstr(n->body[l], "4C530001"));
                assert_null(strstr(n->summary[l], "4C530001"));
        }
        /* ... but it tells one stick from another for the rate limit */
        assert_non_null(strstr(n->dedup_key, "4C530001"));
        notice_free(n);
        usb_device_free(d);
        policy_unref(p);
}

/* The contact and the approver are the config's: another town's words
 * appear, and the old one-string contact still works as the section. */
static void test_usb_other_town(void **state) {
        Policy *p = load("notice = { approver = \"所属長\"; approver_en = \"your head of section\";\n"
                         " contact = \"総務課 情報係\"; contact_en = \"General Affairs, IT\"; };",
                         NULL);
        UsbDevice *d = stick("Stick", "S1");
        Decision dec = policy_decide(p, d, 0);
        Notice *n = NULL;

        assert_int_equal(notice_build_usb(&p->notice, NULL, d, &dec, "id", &n), 0);
        assert_non_null(
                strstr(n->body[NOTICE_LANG_JA], "業務で使う必要がある場合は、所属長に使用許可を申請してください。\n"));
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "\n連絡先: 総務課 情報係"));
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "ask your head of section for permission.\n"));
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "\nContact: General Affairs, IT"));
        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++) {
                assert_null(strstr(n->body[l], "情報セキュリティ管理者"));
                assert_null(strstr(n->body[l], "information security"));
        }
        notice_free(n);
        policy_unref(p);

        /* nothing set: neutral words, no role named, no contact line */
        p = load("", NULL);
        dec = policy_decide(p, d, 0);
        assert_int_equal(notice_build_usb(&p->notice, NULL, d, &dec, "id", &n), 0);
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "承認者に使用許可を申請してください。"));
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "ask your approver for permission."));
        assert_null(strstr(n->body[NOTICE_LANG_JA], "連絡先"));
        assert_null(strstr(n->body[NOTICE_LANG_EN], "Contact"));
        notice_free(n);
        policy_unref(p);

        /* only an extension, only the Japanese section: English falls back to it */
        p = load("notice = { contact = { section = \"情報政策担当\"; extension = \"1234\"; }; };", NULL);
        dec = policy_decide(p, d, 0);
        assert_int_equal(notice_build_usb(&p->notice, NULL, d, &dec, "id", &n), 0);
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "\n連絡先: 情報政策担当（内線 1234）"));
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "\nContact: 情報政策担当 (ext. 1234)"));
        notice_free(n);
        usb_device_free(d);
        policy_unref(p);
}

static void test_usb_reasons(void **state) {
        Policy *p = load("usb = { policy_ref = \"対策基準 第3-6（外部記録媒体等の使用制限）\"; };\n" TOWN_NOTICE,
                         "allow = ( { vendor = \"0781\"; product = \"5567\"; serial = \"OLD\"; approved_by = \"o\"; "
                         "expires = \"2020-01-31\"; },"
                         "          { vendor = \"0781\"; product = \"5567\"; serial = \"GOOD\"; approved_by = \"o\"; } );");
        Policy *failsafe = NULL;
        struct {
                const char *serial;
                const char *ja, *en;
        } cases[] = {
                { "OLD",
                  "この機器の使用許可の有効期限（2020年1月31日）が過ぎたため、使用できなくなりました。\n"
                  "引き続き使う場合は、所属の情報セキュリティ管理者（課長）に使用許可の更新を申請してください。\n",
                  "The permission to use this device expired (31 January 2020), so it can no longer be used.\n"
                  "To keep using it, ask the information security administrator of your section (section chief) "
                  "to renew the permission.\n" },
                { "OTHER",
                  "この機器（USBメモリ等の外部記録媒体）は、使用許可を受けた機器と製造番号（シリアル番号）が一致しないため、"
                  "使用できないようにしました。\n",
                  "This device (USB memory or other removable media) is not the unit that was given permission "
                  "(its serial number does not match), so it was blocked.\n" },
                { NULL,
                  "この機器（USBメモリ等の外部記録媒体）には製造番号（シリアル番号）がなく、1台ごとに使用許可を出せないため、"
                  "使用できないようにしました。\n"
                  "業務で使う必要がある場合は、所属の情報セキュリティ管理者（課長）に相談してください。\n",
                  "This device (USB memory or other removable media) has no serial number, so permission cannot be "
                  "given to this one unit; it was blocked.\n" },
        };

        for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
                UsbDevice *d = stick("Stick", cases[k].serial);
                Decision dec = policy_decide(p, d, 1700000000ULL * USEC_PER_SEC);
                Notice *n = NULL;
                assert_true(dec.relevant && !dec.allow);
                assert_int_equal(notice_build_usb(&p->notice, p->usb.policy_ref, d, &dec, "abc", &n), 0);
                if (!strstr(n->body[NOTICE_LANG_JA], cases[k].ja))
                        fail_msg("%s:\n%s", cases[k].ja, n->body[NOTICE_LANG_JA]);
                if (!strstr(n->body[NOTICE_LANG_EN], cases[k].en))
                        fail_msg("%s:\n%s", cases[k].en, n->body[NOTICE_LANG_EN]);
                assert_non_null(strstr(n->body[NOTICE_LANG_JA],
                                       "根拠: 対策基準 第3-6（外部記録媒体等の使用制限）　参照番号: abc"));
                assert_non_null(strstr(n->body[NOTICE_LANG_EN],
                                       "Policy: 対策基準 第3-6（外部記録媒体等の使用制限） · Reference: abc"));
                /* no raw RFC 3339, no ASCII brackets around Japanese words */
                assert_null(strstr(n->body[NOTICE_LANG_JA], "2020-01-31"));
                assert_null(strstr(n->body[NOTICE_LANG_JA], " ("));
                assert_null(strstr(n->body[NOTICE_LANG_JA], "期限 ("));
                notice_free(n);
                usb_device_free(d);
        }

        /* fail-closed: the notice says it is the configuration, not the stick,
         * and sends staff to the contact, not to the approver */
        assert_int_equal(policy_new_failsafe("/etc/mamori/mamori.conf", &failsafe), 0);
        UsbDevice *d = stick(NULL, "GOOD");
        Decision dec = policy_decide(failsafe, d, 0);
        Notice *n = NULL;
        assert_int_equal(notice_build_usb(&failsafe->notice, failsafe->usb.policy_ref, d, &dec, "abc", &n), 0);
        /* no product name: the manufacturer names it */
        assert_string_equal(n->summary[NOTICE_LANG_EN], "USB device “SanDisk” is blocked");
        assert_non_null(strstr(n->body[NOTICE_LANG_JA],
                               "セキュリティ設定を読み込めないため、この機器（USBメモリ等の外部記録媒体）を一時的に"
                               "使用できないようにしています。\n"
                               "この状態が続く場合は、端末の管理を担当する部署に連絡してください。"));
        assert_non_null(strstr(n->body[NOTICE_LANG_EN],
                               "The security settings could not be loaded, so this device (USB memory or other "
                               "removable media) is blocked for now.\n"
                               "If this continues, contact the section that manages this PC."));
        assert_null(strstr(n->body[NOTICE_LANG_JA], "連絡先"));
        assert_null(strstr(n->body[NOTICE_LANG_JA], "承認者"));
        notice_free(n);
        usb_device_free(d);
        policy_unref(failsafe);
        policy_unref(p);
}

static void test_usb_categories_and_keyboard(void **state) {
        Policy *p = load("", NULL);
        UsbDevice *d = usb_device_new("1-2", 0x1234, 0x5678, "K", 1);
        Notice *n = NULL;

        /* a keyboard with a storage function: the keyboard keeps working */
        usb_device_add_interface(d, "1-2:1.0", 0x03, 0x01, 0x01, NULL, 1);
        usb_device_add_interface(d, "1-2:1.1", 0x08, 0x06, 0x50, NULL, 0);
        usb_device_classify(d);
        Decision dec = policy_decide(p, d, 0);
        assert_int_equal(notice_build_usb(&p->notice, NULL, d, &dec, "id", &n), 0);
        /* neither product nor manufacturer: the ids name it */
        assert_string_equal(n->summary[NOTICE_LANG_JA], "USB機器「1234:5678」は使用できません");
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "この機器のキーボード・マウス機能はそのまま使えます。"));
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "Its keyboard and mouse functions keep working."));
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "Policy: 対策基準 第3-6"));
        notice_free(n);
        usb_device_free(d);

        /* a phone or a camera: office words, no MTP/PTP */
        d = usb_device_new("1-4", 0x04e8, 0x6860, "M", 1);
        usb_device_add_interface(d, "1-4:1.0", 0x06, 0x01, 0x01, NULL, 0);
        usb_device_classify(d);
        dec = policy_decide(p, d, 0);
        assert_true(dec.relevant && !dec.allow);
        assert_int_equal(notice_build_usb(&p->notice, NULL, d, &dec, "id", &n), 0);
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "この機器（スマートフォン・デジタルカメラ等）は使用許可を"));
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "This device (smartphone, digital camera or similar) has not"));
        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++) {
                assert_null(strstr(n->body[l], "MTP"));
                assert_null(strstr(n->body[l], "PTP"));
        }
        notice_free(n);
        usb_device_free(d);

        /* tethering */
        d = usb_device_new("1-3", 0x18d1, 0x4ee3, "P", 1);
        usb_device_add_interface(d, "1-3:1.0", 0xe0, 0x01, 0x03, NULL, 0);
        usb_device_add_interface(d, "1-3:1.1", 0x0a, 0x00, 0x00, NULL, 0);
        usb_device_classify(d);
        dec = policy_decide(p, d, 0);
        assert_int_equal(notice_build_usb(&p->notice, NULL, d, &dec, "id", &n), 0);
        assert_non_null(strstr(n->body[NOTICE_LANG_JA],
                               "この機器（スマートフォン等によるUSBテザリング）は使用許可を受けていないため"));
        assert_non_null(
                strstr(n->body[NOTICE_LANG_EN], "This device (USB tethering from a smartphone or similar) has not"));
        assert_null(strstr(n->body[NOTICE_LANG_EN], "keyboard"));
        assert_string_equal(notice_fact(n, "device_category"), "tethering");
        notice_free(n);
        usb_device_free(d);
        policy_unref(p);
}

static void test_usb_hostile_name(void **state) {
        static const char raw[] = "Evil \"Stick\" <b>bold</b> &amp; \x1b[31m\xff\xfe \xe2\x80\xaegnp.exe\r\n";
        Policy *p = load("", NULL);
        UsbDevice *d = stick(raw, "H");
        Decision dec = policy_decide(p, d, 0);
        Notice *n = NULL;

        assert_int_equal(notice_build_usb(&p->notice, NULL, d, &dec, "id", &n), 0);
        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++) {
                assert_true(clean_notice_text(n->summary[l], false));
                assert_true(clean_notice_text(n->body[l], true));
        }
        /* plain text, unescaped: escaping is for the receiver that renders markup;
         * the device's string as every other output shows it (text.h), U+202E
         * as a visible \u202e */
        assert_non_null(
                strstr(n->body[NOTICE_LANG_EN],
                       "Device: Evil \"Stick\" <b>bold</b> &amp; \\x1b[31m\\xff\\xfe \\u202egnp.exe\\x0d\\x0a (ID"));
        assert_true(strlen(n->summary[NOTICE_LANG_EN]) < 200);
        assert_non_null(strstr(n->summary[NOTICE_LANG_EN], "…”"));
        for (size_t i = 0; i < n->n_facts; i++)
                assert_true(clean_notice_text(n->facts[i].value, false));
        notice_free(n);
        usb_device_free(d);
        policy_unref(p);
}

/* usb.expiring: the warning ahead of an expiry (its config key: test-notice-config.c). */
static void test_usb_expiring(void **state) {
        Policy *p = load("usb = { expiry_warning = \"10min\"; };",
                         "allow = ( { vendor = \"0781\"; product = \"5567\"; serial = \"S\"; approved_by = \"o\"; "
                         "expires = \"2030-01-31T17:00:00+09:00\"; } );");
        usec_t end = 1896076800ULL * USEC_PER_SEC; /* 2030-01-31T08:00:00Z */
        char ja[1024], en[1024];
        UsbDevice *d = stick("Stick", "S");
        Decision dec = policy_decide(p, d, end - 10 * 60 * USEC_PER_SEC);
        Notice *n = NULL;

        assert_int_equal(p->usb.expiry_warning, 10 * 60 * USEC_PER_SEC);
        assert_true(dec.relevant && dec.allow);
        assert_int_equal(dec.changes_at, end);
        assert_int_equal(notice_build_usb_expiring(&p->notice, NULL, d, &dec, end - 10 * 60 * USEC_PER_SEC + 1, "abc", &n),
                         0);
        assert_int_equal(n->kind, EVENT_USB_EXPIRING);
        assert_string_equal(n->summary[NOTICE_LANG_EN], "The permission to use USB device “Stick” ends soon");
        assert_string_equal(n->summary[NOTICE_LANG_JA], "USB機器「Stick」の使用許可がまもなく期限を迎えます");
        /* 08:00 UTC, in the PC's own zone */
        snprintf(ja, sizeof ja,
                 "この機器（USBメモリ等の外部記録媒体）の使用許可は、あと約10分で有効期限（%s）を迎え、使用できなくなります。\n"
                 "作業中のファイルを保存し、それまでに機器を取り外してください。"
                 "その時点で使用中の場合は、自動的に安全な取り外しを行ってから使用できなくします。\n"
                 "引き続き使う場合は、承認者に使用許可の更新を申請してください。\n"
                 "機器: Stick（ID 0781:5567）\n"
                 "根拠: 対策基準 第3-6　参照番号: abc",
                 by_tz("2030年1月31日 17:00", "2030年1月31日 8:00", "2030年1月31日 3:00"));
        snprintf(en, sizeof en,
                 "The permission to use this device (USB memory or other removable media) expires in about 10 minutes "
                 "(%s), and it can no longer be used then.\n"
                 "Save your work and remove the device before then. If it is still in use then, it is first safely "
                 "removed, then blocked.\n"
                 "To keep using it, ask your approver to renew the permission.\n"
                 "Device: Stick (ID 0781:5567)\n"
                 "Policy: 対策基準 第3-6 · Reference: abc",
                 by_tz("31 January 2030 17:00", "31 January 2030 8:00", "31 January 2030 3:00"));
        assert_string_equal(n->body[NOTICE_LANG_JA], ja);
        assert_string_equal(n->body[NOTICE_LANG_EN], en);
        assert_string_equal(n->replace_key, "usb:2-4");
        assert_string_equal(notice_fact(n, "expires"), "2030-01-31T17:00:00+09:00");
        assert_true(clean_notice_text(n->body[NOTICE_LANG_JA], true));
        notice_free(n);

        /* the last seconds: "about 1 minute" */
        assert_int_equal(notice_build_usb_expiring(&p->notice, NULL, d, &dec, end - 5 * USEC_PER_SEC, "abc", &n), 0);
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "in about 1 minute ("));
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "あと約1分で"));
        notice_free(n);
        usb_device_free(d);
        policy_unref(p);
}

/* usb.readonly_violated (issue 14): told in both languages, as the glossary words it */
static void test_usb_readonly_violated(void **state) {
        Policy *p = load("", "allow = ( { vendor = \"0781\"; product = \"5567\"; serial = \"S\"; approved_by = \"o\"; "
                             "access = \"read-only\"; } );");
        UsbDevice *d = stick("Stick", "S");
        Decision dec = policy_decide(p, d, now_usec(CLOCK_REALTIME));
        Notice *n = NULL;

        assert_true(decision_read_only(&dec));
        assert_true(notice_kinds(&p->notice) & NOTICE_KIND_BIT(EVENT_USB_READONLY_VIOLATED));
        assert_int_equal(notice_build_usb_readonly_violated(&p->notice, NULL, d, &dec, "abc", &n), 0);
        assert_int_equal(n->kind, EVENT_USB_READONLY_VIOLATED);
        assert_string_equal(n->summary[NOTICE_LANG_JA], "USB機器「Stick」を遮断しました（読み取り専用の承認）");
        assert_string_equal(n->summary[NOTICE_LANG_EN], "USB device “Stick” was blocked (approved read-only)");
        assert_non_null(strstr(n->body[NOTICE_LANG_JA],
                               "この機器（USBメモリ等の外部記録媒体）は読み取り専用での使用を許可されています"));
        /* whom to call comes from the config; without one, neutral words */
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "端末の管理を担当する部署に連絡してください"));
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "contact the section that manages this PC"));
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "remove it and plug it in again"));
        assert_null(strstr(n->body[NOTICE_LANG_JA], "記憶媒体"));
        assert_string_equal(n->replace_key, "usb:2-4");
        assert_true(clean_notice_text(n->body[NOTICE_LANG_JA], true));
        assert_true(clean_notice_text(n->body[NOTICE_LANG_EN], true));
        notice_free(n);

        /* blocked because its decision for udev could not be written */
        dec.allow = false;
        dec.reason = DECISION_READONLY_UNAVAILABLE;
        assert_int_equal(notice_build_usb(&p->notice, NULL, d, &dec, "abc", &n), 0);
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "読み取り専用にできなかったため"));
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "could not be made read-only"));
        notice_free(n);
        usb_device_free(d);
        policy_unref(p);
        (void) state;
}

/* issue 15 item 3: a stick on which the media scan found malware; an allow
 * entry matched it, and the notice says it is blocked all the same */
static void test_usb_infected(void **state) {
        Policy *p = load("notice = { contact = { section = \"情報政策担当\"; section_en = \"IT Policy Section\"; "
                         "extension = \"1234\"; }; };",
                         "allow = ( { vendor = \"0781\"; product = \"5567\"; serial = \"S\"; approved_by = \"o\"; } );");
        UsbDevice *d = stick("Stick", "S");
        Decision dec = policy_decide(p, d, now_usec(CLOCK_REALTIME));
        Notice *n = NULL;

        assert_true(dec.allow);
        decision_set_infected(&dec, d);
        assert_int_equal(notice_build_usb(&p->notice, NULL, d, &dec, "abc", &n), 0);
        assert_string_equal(n->body[NOTICE_LANG_JA],
                            "この機器（USBメモリ等の外部記録媒体）からコンピュータウイルス等の不正プログラムが見つかったため、"
                            "使用できないようにしました。\n"
                            "この機器をほかの端末に接続せず、すぐに情報政策担当に連絡してください。\n"
                            "機器: Stick（ID 0781:5567）\n"
                            "根拠: 対策基準 第3-6　参照番号: abc\n"
                            "連絡先: 情報政策担当（内線 1234）");
        assert_string_equal(n->body[NOTICE_LANG_EN],
                            "This device (USB memory or other removable media) was found to carry malware (a "
                            "computer virus or similar), so it was blocked.\n"
                            "Do not plug it into any other PC, and tell IT Policy Section at once.\n"
                            "Device: Stick (ID 0781:5567)\n"
                            "Policy: 対策基準 第3-6 · Reference: abc\n"
                            "Contact: IT Policy Section (ext. 1234)");
        assert_true(clean_notice_text(n->body[NOTICE_LANG_JA], true));
        assert_true(clean_notice_text(n->body[NOTICE_LANG_EN], true));
        notice_free(n);
        usb_device_free(d);
        policy_unref(p);
        (void) state;
}

/* ---- antivirus ---- */

static void test_av(void **state) {
        Policy *p = load(
                "notice = { kinds = [ \"usb.blocked\", \"av.pattern_stale\", \"av.missing\" ];\n"
                " contact = { section = \"情報政策担当\"; extension = \"1234\"; section_en = \"IT Policy Section\"; }; };",
                NULL);
        Notice *n = NULL;

        assert_int_equal(notice_build_event(&p->notice, EVENT_AV_PATTERN_STALE, "対策基準 第7-2イ", "abcdef0123", &n), 0);
        assert_string_equal(n->summary[NOTICE_LANG_JA], "ウイルス対策のパターンファイルが古くなっています");
        assert_string_equal(n->summary[NOTICE_LANG_EN], "The antivirus pattern file is out of date");
        assert_string_equal(n->body[NOTICE_LANG_JA],
                            "この端末のウイルス対策ソフトのパターンファイルが更新されていません。端末はこのまま使えます。\n"
                            "パターンファイルが更新されるまで、外部から届いたメールの添付ファイルや、"
                            "外部から受け取ったファイルは開かないでください。\n"
                            "この通知が出たことを、情報政策担当に連絡してください。\n"
                            "根拠: 対策基準 第7-2イ　参照番号: abcdef01\n"
                            "連絡先: 情報政策担当（内線 1234）");
        assert_string_equal(n->body[NOTICE_LANG_EN],
                            "The antivirus pattern file (virus definitions) on this PC has not been updated. "
                            "You can keep using the PC.\n"
                            "Until it is updated, do not open attachments of mail from outside or files received "
                            "from outside.\n"
                            "Please tell IT Policy Section that you saw this notice.\n"
                            "Policy: 対策基準 第7-2イ · Reference: abcdef01\n"
                            "Contact: IT Policy Section (ext. 1234)");
        assert_string_equal(n->icon, "security-low");
        assert_string_equal(n->replace_key, "antivirus");
        assert_true(n->dedup_usec >= 3600 * USEC_PER_SEC);
        notice_free(n);
        assert_int_equal(notice_build_event(&p->notice, EVENT_AV_MISSING, NULL, "x", &n), 0);
        assert_string_equal(n->summary[NOTICE_LANG_EN], "Antivirus protection is not running");
        assert_non_null(strstr(n->body[NOTICE_LANG_JA],
                               "この端末でウイルス対策ソフトが見つからないか、動作していません。端末はこのまま使えます。\n"
                               "ウイルス対策ソフトが動作するまで、外部から届いたメールの添付ファイルや、"));
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "Until it is running again, do not open"));
        assert_null(strstr(n->body[NOTICE_LANG_EN], "Policy:"));
        notice_free(n);
        assert_int_equal(notice_build_event(&p->notice, EVENT_USB_ALLOWED, NULL, "x", &n), -EOPNOTSUPP);
        assert_int_equal(notice_build_event(&p->notice, EVENT_LOCK_FAILED, NULL, "x", &n), -EOPNOTSUPP);

        assert_true(notice_kinds(&p->notice) & NOTICE_KIND_BIT(EVENT_AV_MISSING));
        assert_false(notice_kinds(&p->notice) & NOTICE_KIND_BIT(EVENT_AV_ENGINE_INACTIVE));
        assert_true(notice_kind_supported(EVENT_USB_BLOCKED));
        assert_false(notice_kind_supported(EVENT_LOCK_FAILED)); /* not for staff */
        policy_unref(p);
}

/* ---- dates for people ---- */

static void test_expiry_format(void **state) {
        char buf[NOTICE_WHEN_MAX];
        usec_t t;

        /* an instant: shown in the PC's zone, which moves the day too */
        assert_int_equal(parse_expiry("2027-03-31T08:00:00Z", &t), 0);
        assert_int_equal(notice_format_expiry("2027-03-31T08:00:00Z", t, NOTICE_LANG_JA, buf), 0);
        assert_string_equal(buf, by_tz("2027年3月31日 17:00", "2027年3月31日 8:00", "2027年3月31日 4:00"));
        assert_int_equal(notice_format_expiry("2027-03-31T08:00:00Z", t, NOTICE_LANG_EN, buf), 0);
        assert_string_equal(buf, by_tz("31 March 2027 17:00", "31 March 2027 8:00", "31 March 2027 4:00"));
        assert_int_equal(parse_expiry("2027-12-31T20:05:59+00:00", &t), 0);
        assert_int_equal(notice_format_expiry("2027-12-31T20:05:59+00:00", t, NOTICE_LANG_JA, buf), 0);
        assert_string_equal(buf, by_tz("2028年1月1日 5:05", "2027年12月31日 20:05", "2027年12月31日 15:05"));
        assert_int_equal(notice_format_expiry("2027-12-31T20:05:59+00:00", t, NOTICE_LANG_EN, buf), 0);
        assert_string_equal(buf, by_tz("1 January 2028 5:05", "31 December 2027 20:05", "31 December 2027 15:05"));

        /* a date: allowed through that day, the same in every zone */
        assert_int_equal(parse_expiry("2027-03-31", &t), 0);
        assert_int_equal(notice_format_expiry("2027-03-31", t, NOTICE_LANG_JA, buf), 0);
        assert_string_equal(buf, "2027年3月31日");
        assert_int_equal(notice_format_expiry("2027-03-31", t, NOTICE_LANG_EN, buf), 0);
        assert_string_equal(buf, "31 March 2027");

        /* nothing to show */
        assert_int_equal(notice_format_expiry(NULL, USEC_INFINITY, NOTICE_LANG_JA, buf), -EINVAL);
        assert_int_equal(notice_format_expiry("2027-02-30", 0, NOTICE_LANG_JA, buf), -EINVAL);
}

/* An expired date-time entry: the body names the local time, never the raw value. */
static void test_usb_expired_local(void **state) {
        Policy *p = load(TOWN_NOTICE, "allow = ( { vendor = \"0781\"; product = \"5567\"; serial = \"S\"; "
                                      "approved_by = \"o\"; expires = \"2027-03-31T17:00:00+09:00\"; } );");
        UsbDevice *d = stick("Stick", "S");
        Decision dec = policy_decide(p, d, 1900000000ULL * USEC_PER_SEC);
        Notice *n = NULL;
        char ja[512], en[512];

        assert_int_equal(dec.reason, DECISION_EXPIRED);
        assert_int_equal(notice_build_usb(&p->notice, NULL, d, &dec, "id", &n), 0);
        snprintf(ja, sizeof ja, "この機器の使用許可の有効期限（%s）が過ぎたため、使用できなくなりました。\n",
                 by_tz("2027年3月31日 17:00", "2027年3月31日 8:00", "2027年3月31日 4:00"));
        snprintf(en, sizeof en, "The permission to use this device expired (%s), so it can no longer be used.\n",
                 by_tz("31 March 2027 17:00", "31 March 2027 8:00", "31 March 2027 4:00"));
        assert_true(startswith(n->body[NOTICE_LANG_JA], ja));
        assert_true(startswith(n->body[NOTICE_LANG_EN], en));
        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++)
                assert_null(strstr(n->body[l], "2027-03-31T"));
        /* the fact keeps the entry's own text for programs */
        assert_string_equal(notice_fact(n, "expires"), "2027-03-31T17:00:00+09:00");
        notice_free(n);
        usb_device_free(d);
        policy_unref(p);
}

/* ---- devices outside USB (issue 14) ---- */

static const char *const CARD[DEVICE_ID_MAX] = { "0x000003", "0x5344", "SU08G", "0x1a2b3c4d", "06/2021" };
static const char *const DRIVE[DEVICE_ID_MAX] = { "HL-DT-ST_DVDRAM_GUD1N_KZ8J1234" };
static const char *const DOCK[DEVICE_ID_MAX] = { "d6010000-0072-6a08-22ac-ea0d4e1a2a1b" };
static const char *const DISK1394[DEVICE_ID_MAX] = { "0x0001020304050607" };

static NoticeDevice dev_of(DeviceCategory c, const char *const id[DEVICE_ID_MAX], const char *vendor, const char *model,
                           const char *sysname) {
        NoticeDevice d = { .category = c, .vendor = vendor, .model = model, .sysname = sysname };
        for (size_t k = 0; k < DEVICE_ID_MAX; k++)
                d.id[k] = id[k];
        return d;
}

static Notice *device_notice(const Policy *p, const NoticeDevice *d) {
        Decision dec = policy_decide_device(p, d->category, d->id, now_usec(CLOCK_REALTIME));
        Notice *n = NULL;

        assert_true(dec.relevant);
        assert_false(dec.allow);
        assert_int_equal(notice_build_device(&p->notice, p->usb.policy_ref, d, &dec,
                                             "7f3a9c12-0000-4000-8000-000000000000", &n),
                         0);
        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++) {
                assert_true(clean_notice_text(n->summary[l], false));
                assert_true(clean_notice_text(n->body[l], true));
        }
        return n;
}

#define TOWN_FOOTER_JA "根拠: 対策基準 第3-6　参照番号: 7f3a9c12\n連絡先: 情報政策担当（電話 0123-45-6789　内線 1234）"
#define TOWN_FOOTER_EN \
        "Policy: 対策基準 第3-6 · Reference: 7f3a9c12\nContact: IT Policy Section (phone 0123-45-6789, ext. 1234)"
#define TOWN_ASK_JA "業務で使う必要がある場合は、所属の情報セキュリティ管理者（課長）に使用許可を申請してください。\n"
#define TOWN_ASK_EN \
        "If you need it for work, ask the information security administrator of your section (section " \
        "chief) for permission.\n"

static void test_device_mmc(void **state) {
        Policy *p = load(TOWN_NOTICE, NULL);
        NoticeDevice d = dev_of(DEVICE_CATEGORY_MMC, CARD, "SD", NULL, "mmc0:aaaa");
        Notice *n = device_notice(p, &d);

        assert_int_equal(n->kind, EVENT_DEVICE_BLOCKED);
        assert_string_equal(n->summary[NOTICE_LANG_JA], "SDカード「SU08G」は使用できません");
        assert_string_equal(n->summary[NOTICE_LANG_EN], "SD card “SU08G” is blocked");
        assert_string_equal(
                n->body[NOTICE_LANG_JA],
                "この機器（SDカード等の外部記録媒体）は使用許可を受けていないため、使用できないようにしました。\n" TOWN_ASK_JA
                "機器: SU08G\n" TOWN_FOOTER_JA);
        assert_string_equal(n->body[NOTICE_LANG_EN],
                            "This device (SD card or other memory card) has not been given permission for use, so it "
                            "was blocked.\n" TOWN_ASK_EN "Device: SU08G\n" TOWN_FOOTER_EN);
        assert_int_equal(n->urgency, NOTICE_URGENCY_NORMAL);
        assert_string_equal(n->replace_key, "device:mmc0:aaaa");
        assert_string_equal(notice_fact(n, "device_bus"), "mmc");
        assert_string_equal(notice_fact(n, "device_category"), "mmc");
        assert_string_equal(notice_fact(n, "reason"), "unknown");
        assert_string_equal(notice_fact(n, "bus_path"), "mmc0:aaaa");
        /* the card's serial tells cards apart for the rate limit, and stays out of the texts */
        assert_non_null(strstr(n->dedup_key, "0x1a2b3c4d"));
        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++)
                assert_null(strstr(n->body[l], "0x1a2b3c4d"));
        for (size_t i = 0; i < n->n_facts; i++)
                assert_null(strstr(n->facts[i].value, "0x1a2b3c4d"));
        notice_free(n);
        policy_unref(p);
}

/* issue 15 item 3: an SD card on which the media scan found malware */
static void test_device_mmc_infected(void **state) {
        Policy *p = load(TOWN_NOTICE, NULL);
        NoticeDevice d = dev_of(DEVICE_CATEGORY_MMC, CARD, "SD", NULL, "mmc0:aaaa");
        Decision dec = policy_decide_device(p, d.category, d.id, now_usec(CLOCK_REALTIME));
        Notice *n = NULL;

        decision_set_infected_device(&dec, DEVICE_CATEGORY_MMC);
        assert_int_equal(notice_build_device(&p->notice, p->usb.policy_ref, &d, &dec,
                                             "7f3a9c12-0000-4000-8000-000000000000", &n),
                         0);
        assert_string_equal(n->body[NOTICE_LANG_JA],
                            "この機器（SDカード等の外部記録媒体）からコンピュータウイルス等の不正プログラムが見つかったため、"
                            "使用できないようにしました。\n"
                            "この機器をほかの端末に接続せず、すぐに情報政策担当に連絡してください。\n"
                            "機器: SU08G\n" TOWN_FOOTER_JA);
        assert_string_equal(n->body[NOTICE_LANG_EN],
                            "This device (SD card or other memory card) was found to carry malware (a computer virus "
                            "or similar), so it was blocked.\n"
                            "Do not plug it into any other PC, and tell IT Policy Section at once.\n"
                            "Device: SU08G\n" TOWN_FOOTER_EN);
        assert_string_equal(notice_fact(n, "reason"), "infected");
        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++)
                assert_true(clean_notice_text(n->body[l], true));
        notice_free(n);
        policy_unref(p);
        (void) state;
}

/* One notice per card in the window, whichever slot and however often:
 * the dedup key is the identity; another card is another notice. */
static void test_device_dedup_key(void **state) {
        Policy *p = load("", NULL);
        const char *other[DEVICE_ID_MAX] = { "0x000003", "0x5344", "SU08G", "0x1a2b3c4e", "06/2021" };
        const char *partial[DEVICE_ID_MAX] = { "0x000003", "0x5344", "SU08G", NULL, "06/2021" };
        NoticeDevice a = dev_of(DEVICE_CATEGORY_MMC, CARD, NULL, NULL, "mmc0:aaaa");
        NoticeDevice a2 = dev_of(DEVICE_CATEGORY_MMC, CARD, NULL, NULL, "mmc1:0001");
        NoticeDevice b = dev_of(DEVICE_CATEGORY_MMC, other, NULL, NULL, "mmc0:aaaa");
        NoticeDevice c = dev_of(DEVICE_CATEGORY_MMC, partial, NULL, NULL, "mmc0:aaaa");
        NoticeDevice c2 = dev_of(DEVICE_CATEGORY_MMC, partial, NULL, NULL, "mmc1:0001");
        Notice *na = device_notice(p, &a), *na2 = device_notice(p, &a2), *nb = device_notice(p, &b),
               *nc = device_notice(p, &c), *nc2 = device_notice(p, &c2);

        assert_string_equal(na->dedup_key, na2->dedup_key);
        assert_string_not_equal(na->dedup_key, nb->dedup_key);
        assert_string_not_equal(na->dedup_key, nc->dedup_key);
        /* without a full identity, only the slot tells one from another */
        assert_string_not_equal(nc->dedup_key, nc2->dedup_key);
        assert_int_equal(na->dedup_usec, NOTICE_USB_DEDUP_USEC);
        /* ... and the text says why no permission can be given */
        assert_true(startswith(nc->body[NOTICE_LANG_JA], "この機器（SDカード等の外部記録媒体）は機器を見分ける情報"
                                                         "（製造番号等）を読み取れず、1台ごとに使用許可を出せないため、"
                                                         "使用できないようにしました。\n"));
        assert_true(startswith(nc->body[NOTICE_LANG_EN], "This device (SD card or other memory card) does not give "
                                                         "the details that tell it apart"));
        notice_free(na);
        notice_free(na2);
        notice_free(nb);
        notice_free(nc);
        notice_free(nc2);
        policy_unref(p);
}

static void test_device_optical(void **state) {
        Policy *p = load(TOWN_NOTICE "devices = { block = [ \"optical\" ]; };", NULL);
        Policy *pw = load(TOWN_NOTICE, NULL);
        NoticeDevice d = dev_of(DEVICE_CATEGORY_OPTICAL_WRITE, DRIVE, "HL-DT-ST", "DVDRAM GUD1N", "sr0");
        Notice *n = device_notice(pw, &d);

        /* the write level: reading discs keeps working, and the notice says so */
        assert_string_equal(n->summary[NOTICE_LANG_JA], "光学ドライブ「HL-DT-ST DVDRAM GUD1N」への書き込みはできません");
        assert_string_equal(n->summary[NOTICE_LANG_EN], "Writing to CD/DVD drive “HL-DT-ST DVDRAM GUD1N” is blocked");
        assert_string_equal(n->body[NOTICE_LANG_JA],
                            "この機器（CD・DVD等の光学ドライブ）での書き込みは使用許可を受けていないため、"
                            "できないようにしました。ディスクの読み取りはそのまま使えます。\n"
                            "業務で書き込む必要がある場合は、所属の情報セキュリティ管理者（課長）に使用許可を申請してください。\n"
                            "機器: HL-DT-ST DVDRAM GUD1N\n" TOWN_FOOTER_JA);
        assert_string_equal(n->body[NOTICE_LANG_EN],
                            "This device (CD or DVD drive) has not been given permission for writing, so writing was "
                            "blocked. Reading discs keeps working.\n"
                            "If you need to write discs for work, ask the information security administrator of your "
                            "section (section chief) for permission.\n"
                            "Device: HL-DT-ST DVDRAM GUD1N\n" TOWN_FOOTER_EN);
        assert_string_equal(n->icon, "drive-optical");
        assert_string_equal(notice_fact(n, "device_category"), "optical-write");
        notice_free(n);

        /* the whole drive: no word of reading */
        d.category = DEVICE_CATEGORY_OPTICAL;
        n = device_notice(p, &d);
        assert_string_equal(n->summary[NOTICE_LANG_JA], "光学ドライブ「HL-DT-ST DVDRAM GUD1N」は使用できません");
        assert_true(startswith(
                n->body[NOTICE_LANG_JA],
                "この機器（CD・DVD等の光学ドライブ）は使用許可を受けていないため、使用できないようにしました。\n" TOWN_ASK_JA));
        assert_true(startswith(n->body[NOTICE_LANG_EN], "This device (CD or DVD drive) has not been given permission "
                                                        "for use, so it was blocked.\n" TOWN_ASK_EN));
        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++)
                assert_null(strstr(n->body[l], l == NOTICE_LANG_JA ? "読み取り" : "Reading"));
        notice_free(n);
        policy_unref(p);
        policy_unref(pw);
}

static void test_device_thunderbolt_firewire(void **state) {
        Policy *p = load(TOWN_NOTICE, NULL);
        NoticeDevice tb = dev_of(DEVICE_CATEGORY_THUNDERBOLT, DOCK, "Lenovo", "ThinkPad Thunderbolt 3 Dock", "0-1");
        NoticeDevice fw = dev_of(DEVICE_CATEGORY_FIREWIRE, DISK1394, NULL, NULL, "fw1");
        Notice *n = device_notice(p, &tb);

        assert_string_equal(n->summary[NOTICE_LANG_JA],
                            "Thunderbolt機器「Lenovo ThinkPad Thunderbolt 3 Dock」は使用できません");
        assert_string_equal(n->body[NOTICE_LANG_JA],
                            "この機器（Thunderbolt機器）は使用許可を受けていないため、使用できないようにしました。\n" TOWN_ASK_JA
                            "ドッキングステーション等の場合、そこにつないだキーボード・マウス・ネットワーク等も"
                            "使えなくなります（故障ではありません）。\n"
                            "機器: Lenovo ThinkPad Thunderbolt 3 Dock\n" TOWN_FOOTER_JA);
        assert_string_equal(n->body[NOTICE_LANG_EN],
                            "This device (Thunderbolt device) has not been given permission for use, so it was "
                            "blocked.\n" TOWN_ASK_EN
                            "If it is a docking station, the keyboard, mouse, network and anything else connected to "
                            "it stop working too (they are not broken).\n"
                            "Device: Lenovo ThinkPad Thunderbolt 3 Dock\n" TOWN_FOOTER_EN);
        assert_string_equal(notice_fact(n, "device_bus"), "thunderbolt");
        notice_free(n);

        /* no name at all: no device line, and no empty 「」 */
        n = device_notice(p, &fw);
        assert_string_equal(n->summary[NOTICE_LANG_JA], "FireWire機器は使用できません");
        assert_string_equal(n->summary[NOTICE_LANG_EN], "FireWire device is blocked");
        assert_string_equal(n->body[NOTICE_LANG_JA],
                            "この機器（FireWire機器）は使用許可を受けていないため、使用できないようにしました。\n" TOWN_ASK_JA
                                    TOWN_FOOTER_JA);
        assert_null(strstr(n->body[NOTICE_LANG_JA], "ドッキング"));
        notice_free(n);
        policy_unref(p);
}

/* The kernel refused the block: the device works, the person is asked to
 * stop using it and tell the contact. */
static void test_device_block_failed(void **state) {
        Policy *p = load(TOWN_NOTICE, NULL);
        NoticeDevice d = dev_of(DEVICE_CATEGORY_MMC, CARD, NULL, NULL, "mmc0:aaaa");
        Notice *n;

        d.block_failed = true;
        n = device_notice(p, &d);
        assert_int_equal(n->kind, EVENT_DEVICE_BLOCK_FAILED);
        assert_int_equal(n->urgency, NOTICE_URGENCY_CRITICAL);
        assert_string_equal(n->summary[NOTICE_LANG_EN], "SD card “SU08G” is not approved");
        assert_string_equal(n->body[NOTICE_LANG_JA], "この機器（SDカード等の外部記録媒体）は使用許可を受けていませんが、"
                                                     "自動で使用できないようにすることができませんでした。\n"
                                                     "この機器は使わずに取り外し、情報政策担当に連絡してください。\n"
                                                     "機器: SU08G\n" TOWN_FOOTER_JA);
        assert_string_equal(n->body[NOTICE_LANG_EN],
                            "This device (SD card or other memory card) has not been given permission for use, but it "
                            "could not be blocked automatically.\n"
                            "Do not use it: remove it and contact IT Policy Section.\n"
                            "Device: SU08G\n" TOWN_FOOTER_EN);
        assert_string_equal(notice_fact(n, "reason"), "block_failed");
        notice_free(n);
        policy_unref(p);
}

static void test_device_expired(void **state) {
        Policy *p = load(TOWN_NOTICE,
                         "allow = ( { bus = \"mmc\"; manfid = \"0x000003\"; oemid = \"0x5344\"; name = \"SU08G\";\n"
                         " serial = \"0x1a2b3c4d\"; date = \"06/2021\"; approved_by = \"o\";\n"
                         " expires = \"2027-03-31T17:00:00+09:00\"; },\n"
                         " { bus = \"optical\"; serial = \"HL-DT-ST_DVDRAM_GUD1N_KZ8J1234\"; approved_by = \"o\";\n"
                         " expires = \"2020-01-31\"; } );");
        NoticeDevice d = dev_of(DEVICE_CATEGORY_MMC, CARD, NULL, NULL, "mmc0:aaaa");
        NoticeDevice dw = dev_of(DEVICE_CATEGORY_OPTICAL_WRITE, DRIVE, NULL, NULL, "sr0");
        Decision dec = policy_decide_device(p, d.category, d.id, 1900000000ULL * USEC_PER_SEC);
        Notice *n = NULL;
        char ja[512], en[512];

        assert_int_equal(dec.reason, DECISION_EXPIRED);
        assert_int_equal(notice_build_device(&p->notice, NULL, &d, &dec, "id", &n), 0);
        snprintf(ja, sizeof ja, "この機器の使用許可の有効期限（%s）が過ぎたため、使用できなくなりました。\n",
                 by_tz("2027年3月31日 17:00", "2027年3月31日 8:00", "2027年3月31日 4:00"));
        snprintf(en, sizeof en, "The permission to use this device expired (%s), so it can no longer be used.\n",
                 by_tz("31 March 2027 17:00", "31 March 2027 8:00", "31 March 2027 4:00"));
        assert_true(startswith(n->body[NOTICE_LANG_JA], ja));
        assert_true(startswith(n->body[NOTICE_LANG_EN], en));
        assert_string_equal(notice_fact(n, "expires"), "2027-03-31T17:00:00+09:00");
        notice_free(n);

        /* a date-only entry at the write level: the date alone, and "writing" */
        dec = policy_decide_device(p, dw.category, dw.id, 1900000000ULL * USEC_PER_SEC);
        assert_int_equal(dec.reason, DECISION_EXPIRED);
        assert_int_equal(notice_build_device(&p->notice, NULL, &dw, &dec, "id", &n), 0);
        assert_true(startswith(n->body[NOTICE_LANG_JA],
                               "この機器の書き込みの使用許可の有効期限（2020年1月31日）が過ぎたため、"
                               "書き込みができなくなりました。\n"));
        assert_true(startswith(n->body[NOTICE_LANG_EN], "The permission to write with this device expired (31 January "
                                                        "2020), so it can no longer write.\n"));
        notice_free(n);
        policy_unref(p);
}

/* A name from the device may not make the notice lie: bidi controls go. */
static void test_device_hostile_name(void **state) {
        Policy *p = load("", NULL);
        NoticeDevice d = dev_of(DEVICE_CATEGORY_THUNDERBOLT, DOCK,
                                "Evil\xe2\x80\xae"
                                "kcod",
                                "Dock", "0-1");
        Notice *n = device_notice(p, &d);

        for (unsigned l = 0; l < _NOTICE_LANG_MAX; l++) {
                assert_null(strstr(n->summary[l], "\xe2\x80\xae"));
                assert_null(strstr(n->body[l], "\xe2\x80\xae"));
        }
        /* unset approver and contact: neutral words, no role named */
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "承認者に使用許可を申請してください"));
        notice_free(n);
        policy_unref(p);
}

static void test_also(void **state) {
        Policy *p = load("", NULL);
        UsbDevice *d = stick("S", "S");
        Decision dec = policy_decide(p, d, 0);
        Notice *n = NULL;

        assert_int_equal(notice_build_usb(&p->notice, NULL, d, &dec, "id", &n), 0);
        assert_int_equal(notice_set_also(n, 1), 0);
        assert_non_null(strstr(n->body[NOTICE_LANG_EN],
                               "\nNotices came in quick succession, so 1 more was not shown (it is still recorded)."));
        assert_non_null(strstr(n->body[NOTICE_LANG_JA],
                               "\n短時間に通知が続いたため、ほかに1件の表示を省略しました（記録は残っています）。"));
        assert_int_equal(notice_set_also(n, 3), 0);
        assert_non_null(strstr(n->body[NOTICE_LANG_JA],
                               "\n短時間に通知が続いたため、ほかに3件の表示を省略しました（記録は残っています）。"));
        assert_non_null(strstr(n->body[NOTICE_LANG_EN],
                               "\nNotices came in quick succession, so 3 more were not shown (they are still recorded)."));
        assert_int_equal(n->also, 3);
        notice_free(n);
        usb_device_free(d);
        policy_unref(p);
}

/* av.detection (issue 15): told by default, in the glossary's words. */
static void test_detection(void **state) {
        Policy *p = load("notice = { contact = \"情報政策担当 内線 1234\"; };", NULL);
        Notice *n = NULL;

        assert_true(notice_kind_supported(EVENT_AV_DETECTION));
        assert_true(notice_kinds(&p->notice) & NOTICE_KIND_BIT(EVENT_AV_DETECTION));
        assert_int_equal(notice_build_event(&p->notice, EVENT_AV_DETECTION, "対策基準 第7-3オ", "0123456789", &n), 0);
        assert_string_equal(n->summary[NOTICE_LANG_JA], "この端末で不正プログラムが見つかりました");
        assert_string_equal(n->summary[NOTICE_LANG_EN], "Malware was found on this PC");
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "外部記録媒体"));
        assert_null(strstr(n->body[NOTICE_LANG_JA], "パソコン"));
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "根拠: 対策基準 第7-3オ　参照番号: 01234567"));
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "連絡先: 情報政策担当 内線 1234"));
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "すぐに情報政策担当 内線 1234に連絡してください。"));
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "and tell 情報政策担当 内線 1234 at once."));
        assert_string_equal(n->replace_key, "antivirus-detection");
        assert_int_equal(n->dedup_usec, NOTICE_USB_DEDUP_USEC);
        notice_free(n);
        policy_unref(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_display_text),
                cmocka_unit_test(test_usb_unknown),
                cmocka_unit_test(test_usb_other_town),
                cmocka_unit_test(test_usb_reasons),
                cmocka_unit_test(test_usb_expired_local),
                cmocka_unit_test(test_expiry_format),
                cmocka_unit_test(test_usb_categories_and_keyboard),
                cmocka_unit_test(test_usb_hostile_name),
                cmocka_unit_test(test_usb_expiring),
                cmocka_unit_test(test_usb_readonly_violated),
                cmocka_unit_test(test_usb_infected),
                cmocka_unit_test(test_av),
                cmocka_unit_test(test_also),
                cmocka_unit_test(test_detection),
                cmocka_unit_test(test_device_mmc),
                cmocka_unit_test(test_device_mmc_infected),
                cmocka_unit_test(test_device_dedup_key),
                cmocka_unit_test(test_device_optical),
                cmocka_unit_test(test_device_thunderbolt_firewire),
                cmocka_unit_test(test_device_block_failed),
                cmocka_unit_test(test_device_expired),
                cmocka_unit_test(test_device_hostile_name),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
