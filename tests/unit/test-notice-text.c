/* SPDX-License-Identifier: MIT */
/* common/notice-text.c: the texts of a notice, in Japanese and English, and
 * what of a device they may show. */
#include "unit.h"

#include "config.h"
#include "notice-text.h"
#include "text.h"

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

static void test_usb_unknown(void **state) {
        Policy *p = load("notice = { contact = \"情報政策課 (内線 1234)\"; contact_en = \"IT Policy (ext. 1234)\"; };",
                         NULL);
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
                            "このUSBメモリ等の記録媒体は使用の許可を受けていないため、使用できないようにしました。\n"
                            "業務で使う必要がある場合は、情報セキュリティ管理者に許可を申請してください。\n"
                            "機器: Cruzer Blade (ID 0781:5567)\n"
                            "根拠: 対策基準 第3-6　参照番号: 7f3a9c12\n"
                            "連絡先: 情報政策課 (内線 1234)");
        assert_string_equal(n->body[NOTICE_LANG_EN],
                            "This USB storage device has not been approved for use, so it was blocked.\n"
                            "If you need it for work, ask the information security officer for approval.\n"
                            "Device: Cruzer Blade (ID 0781:5567)\n"
                            "Policy: 対策基準 第3-6 · Reference: 7f3a9c12\n"
                            "Contact: IT Policy (ext. 1234)");
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

static void test_usb_reasons(void **state) {
        Policy *p = load("usb = { policy_ref = \"対策基準 第3-6 (USB)\"; };",
                         "allow = ( { vendor = \"0781\"; product = \"5567\"; serial = \"OLD\"; approved_by = \"o\"; "
                         "expires = \"2020-01-31\"; },"
                         "          { vendor = \"0781\"; product = \"5567\"; serial = \"GOOD\"; approved_by = \"o\"; } );");
        Policy *failsafe = NULL;
        struct {
                const char *serial;
                const char *ja, *en;
        } cases[] = {
                { "OLD", "使用許可は期限 (2020-01-31) を過ぎて期限が切れたため",
                  "The approval for this USB storage device expired on 2020-01-31, so it was blocked.\n"
                  "To keep using it, ask the information security officer to renew the approval." },
                { "OTHER", "許可を受けた機器と製造番号 (シリアル番号) が一致しないため",
                  "This USB storage device is not the approved unit (its serial number does not match)" },
                { NULL, "製造番号 (シリアル番号) がなく、個別に許可できないため",
                  "This USB storage device has no serial number and cannot be approved individually" },
        };

        for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
                UsbDevice *d = stick("Stick", cases[k].serial);
                Decision dec = policy_decide(p, d, 1700000000ULL * USEC_PER_SEC);
                Notice *n = NULL;
                assert_true(dec.relevant && !dec.allow);
                assert_int_equal(notice_build_usb(&p->notice, p->usb.policy_ref, d, &dec, "abc", &n), 0);
                assert_non_null(strstr(n->body[NOTICE_LANG_JA], cases[k].ja));
                assert_non_null(strstr(n->body[NOTICE_LANG_EN], cases[k].en));
                assert_non_null(strstr(n->body[NOTICE_LANG_EN], "Policy: 対策基準 第3-6 (USB) · Reference: abc"));
                notice_free(n);
                usb_device_free(d);
        }

        /* fail-closed: the notice says it is the configuration, not the stick */
        assert_int_equal(policy_new_failsafe("/etc/mamori/mamori.conf", &failsafe), 0);
        UsbDevice *d = stick(NULL, "GOOD");
        Decision dec = policy_decide(failsafe, d, 0);
        Notice *n = NULL;
        assert_int_equal(notice_build_usb(&failsafe->notice, failsafe->usb.policy_ref, d, &dec, "abc", &n), 0);
        /* no product name: the manufacturer names it */
        assert_string_equal(n->summary[NOTICE_LANG_EN], "USB device “SanDisk” is blocked");
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "The security policy could not be loaded"));
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "セキュリティ設定を読み込めないため"));
        assert_null(strstr(n->body[NOTICE_LANG_JA], "連絡先"));
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

        /* tethering */
        d = usb_device_new("1-3", 0x18d1, 0x4ee3, "P", 1);
        usb_device_add_interface(d, "1-3:1.0", 0xe0, 0x01, 0x03, NULL, 0);
        usb_device_add_interface(d, "1-3:1.1", 0x0a, 0x00, 0x00, NULL, 0);
        usb_device_classify(d);
        dec = policy_decide(p, d, 0);
        assert_int_equal(notice_build_usb(&p->notice, NULL, d, &dec, "id", &n), 0);
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "このUSBテザリング (ネットワーク接続)は"));
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "This USB tethering (network connection) has not"));
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
        UsbDevice *d = stick("Stick", "S");
        Decision dec = policy_decide(p, d, end - 10 * 60 * USEC_PER_SEC);
        Notice *n = NULL;

        assert_int_equal(p->usb.expiry_warning, 10 * 60 * USEC_PER_SEC);
        assert_true(dec.relevant && dec.allow);
        assert_int_equal(dec.changes_at, end);
        assert_int_equal(notice_build_usb_expiring(&p->notice, NULL, d, &dec, end - 10 * 60 * USEC_PER_SEC + 1, "abc", &n),
                         0);
        assert_int_equal(n->kind, EVENT_USB_EXPIRING);
        assert_string_equal(n->summary[NOTICE_LANG_EN], "The approval for USB device “Stick” ends soon");
        assert_string_equal(n->summary[NOTICE_LANG_JA], "USB機器「Stick」の使用許可がまもなく切れます");
        assert_non_null(strstr(n->body[NOTICE_LANG_EN],
                               "ends in about 10 minutes (2030-01-31T17:00:00+09:00); it will be blocked then."));
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "期限 (2030-01-31T17:00:00+09:00) まで、あと約10分で切れ"));
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "unmounted first"));
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "マウントを解除"));
        assert_string_equal(n->replace_key, "usb:2-4");
        assert_string_equal(notice_fact(n, "expires"), "2030-01-31T17:00:00+09:00");
        assert_true(clean_notice_text(n->body[NOTICE_LANG_JA], true));
        notice_free(n);

        /* the last seconds: "about 1 minute" */
        assert_int_equal(notice_build_usb_expiring(&p->notice, NULL, d, &dec, end - 5 * USEC_PER_SEC, "abc", &n), 0);
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "in about 1 minute ("));
        notice_free(n);
        usb_device_free(d);
        policy_unref(p);
}

/* ---- antivirus ---- */

static void test_av(void **state) {
        Policy *p = load("notice = { kinds = [ \"usb.blocked\", \"av.pattern_stale\", \"av.missing\" ]; };", NULL);
        Notice *n = NULL;

        assert_int_equal(notice_build_event(&p->notice, EVENT_AV_PATTERN_STALE, "対策基準 第7-2イ", "abcdef0123", &n), 0);
        assert_string_equal(n->summary[NOTICE_LANG_JA], "ウイルス対策のパターンファイルが古くなっています");
        assert_string_equal(n->summary[NOTICE_LANG_EN], "Antivirus signatures are out of date");
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "根拠: 対策基準 第7-2イ　参照番号: abcdef01"));
        assert_string_equal(n->icon, "security-low");
        assert_string_equal(n->replace_key, "antivirus");
        assert_true(n->dedup_usec >= 3600 * USEC_PER_SEC);
        notice_free(n);
        assert_int_equal(notice_build_event(&p->notice, EVENT_AV_MISSING, NULL, "x", &n), 0);
        assert_string_equal(n->summary[NOTICE_LANG_EN], "Antivirus protection is not running");
        assert_null(strstr(n->body[NOTICE_LANG_EN], "Policy:"));
        notice_free(n);
        assert_int_equal(notice_build_event(&p->notice, EVENT_USB_ALLOWED, NULL, "x", &n), -EOPNOTSUPP);
        assert_int_equal(notice_build_event(&p->notice, EVENT_LOCK_FAILED, NULL, "x", &n), -EOPNOTSUPP);

        assert_true(notice_kinds(&p->notice) & (1u << EVENT_AV_MISSING));
        assert_false(notice_kinds(&p->notice) & (1u << EVENT_AV_ENGINE_INACTIVE));
        assert_true(notice_kind_supported(EVENT_USB_BLOCKED));
        assert_false(notice_kind_supported(EVENT_LOCK_FAILED)); /* not for staff */
        policy_unref(p);
}

/* av.detection (issue 15): told by default, in the glossary's words. */
static void test_detection(void **state) {
        Policy *p = load("notice = { contact = \"情報政策担当 内線 1234\"; };", NULL);
        Notice *n = NULL;

        assert_true(notice_kind_supported(EVENT_AV_DETECTION));
        assert_true(notice_kinds(&p->notice) & (1u << EVENT_AV_DETECTION));
        assert_int_equal(notice_build_event(&p->notice, EVENT_AV_DETECTION, "対策基準 第7-3オ", "0123456789", &n), 0);
        assert_string_equal(n->summary[NOTICE_LANG_JA], "この端末で不正プログラムが見つかりました");
        assert_string_equal(n->summary[NOTICE_LANG_EN], "Malware was found on this PC");
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "外部記録媒体"));
        assert_null(strstr(n->body[NOTICE_LANG_JA], "パソコン"));
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "根拠: 対策基準 第7-3オ　参照番号: 01234567"));
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "連絡先: 情報政策担当 内線 1234"));
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "contact the information security officer at once"));
        assert_string_equal(n->replace_key, "antivirus-detection");
        assert_int_equal(n->dedup_usec, NOTICE_USB_DEDUP_USEC);
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
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "\n1 more notice was held back (too many at once)."));
        assert_int_equal(notice_set_also(n, 3), 0);
        assert_non_null(strstr(n->body[NOTICE_LANG_JA], "\nほかに3件の通知を省略しました"));
        assert_non_null(strstr(n->body[NOTICE_LANG_EN], "\n3 more notices were held back"));
        assert_int_equal(n->also, 3);
        notice_free(n);
        usb_device_free(d);
        policy_unref(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_display_text),
                cmocka_unit_test(test_usb_unknown),
                cmocka_unit_test(test_usb_reasons),
                cmocka_unit_test(test_usb_categories_and_keyboard),
                cmocka_unit_test(test_usb_hostile_name),
                cmocka_unit_test(test_usb_expiring),
                cmocka_unit_test(test_av),
                cmocka_unit_test(test_also),
                cmocka_unit_test(test_detection),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
