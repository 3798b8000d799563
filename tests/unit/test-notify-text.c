/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include "notify-text.h"

static void test_language(void **state) {
        /* language, LC_ALL, LC_MESSAGES, LANG */
        assert_int_equal(notify_language_detect(NULL, NULL, NULL, "ja_JP.UTF-8"), NOTIFY_LANGUAGE_JA);
        assert_int_equal(notify_language_detect(NULL, NULL, NULL, "ja"), NOTIFY_LANGUAGE_JA);
        assert_int_equal(notify_language_detect(NULL, NULL, NULL, "ja_JP.eucJP@x"), NOTIFY_LANGUAGE_JA);
        assert_int_equal(notify_language_detect(NULL, NULL, NULL, "en_US.UTF-8"), NOTIFY_LANGUAGE_EN);
        assert_int_equal(notify_language_detect(NULL, NULL, NULL, "de_DE.UTF-8"), NOTIFY_LANGUAGE_EN);
        assert_int_equal(notify_language_detect(NULL, NULL, NULL, NULL), NOTIFY_LANGUAGE_EN);
        assert_int_equal(notify_language_detect(NULL, NULL, NULL, "jam_JM"), NOTIFY_LANGUAGE_EN); /* not ja */
        /* LC_ALL over LC_MESSAGES over LANG */
        assert_int_equal(notify_language_detect(NULL, NULL, "ja_JP.UTF-8", "en_US.UTF-8"), NOTIFY_LANGUAGE_JA);
        assert_int_equal(notify_language_detect(NULL, "en_US.UTF-8", "ja_JP.UTF-8", "ja_JP.UTF-8"), NOTIFY_LANGUAGE_EN);
        assert_int_equal(notify_language_detect(NULL, "", "", "ja_JP.UTF-8"), NOTIFY_LANGUAGE_JA);
        /* C and POSIX are English, and make gettext ignore LANGUAGE */
        assert_int_equal(notify_language_detect("ja", "C", NULL, "ja_JP.UTF-8"), NOTIFY_LANGUAGE_EN);
        assert_int_equal(notify_language_detect("ja", NULL, NULL, "C.UTF-8"), NOTIFY_LANGUAGE_EN);
        assert_int_equal(notify_language_detect("ja", NULL, "POSIX", NULL), NOTIFY_LANGUAGE_EN);
        /* LANGUAGE: the first entry we have a text for */
        assert_int_equal(notify_language_detect("ja", NULL, NULL, "en_US.UTF-8"), NOTIFY_LANGUAGE_JA);
        assert_int_equal(notify_language_detect("fr:de:ja_JP:en", NULL, NULL, "fr_FR.UTF-8"), NOTIFY_LANGUAGE_JA);
        assert_int_equal(notify_language_detect("en_GB:ja", NULL, NULL, "ja_JP.UTF-8"), NOTIFY_LANGUAGE_EN);
        assert_int_equal(notify_language_detect("fr", NULL, NULL, "ja_JP.UTF-8"), NOTIFY_LANGUAGE_JA);
        assert_int_equal(notify_language_detect("", NULL, NULL, "ja_JP.UTF-8"), NOTIFY_LANGUAGE_JA);

        assert_int_equal(notify_language_from_string("both"), NOTIFY_LANGUAGE_BOTH);
        assert_int_equal(notify_language_from_string("auto"), NOTIFY_LANGUAGE_AUTO);
        assert_int_equal(notify_language_from_string("fr"), -EINVAL);
        assert_int_equal(notify_language_from_string(NULL), -EINVAL);
}

static void test_clean(void **state) {
        char *s;

        s = notify_clean("a\nb\tc\x1b" "d\x7f" "e\xc2\x85" "f\xc2\xa0g", true);
        assert_string_equal(s, "a\nb\xef\xbf\xbd" "c\xef\xbf\xbd" "d\xef\xbf\xbd" "e\xef\xbf\xbd" "f\xc2\xa0g");
        free(s);
        s = notify_clean("one\ntwo", false);
        assert_string_equal(s, "one two");
        free(s);
        s = notify_clean("bad\xff\xc3(", false);
        assert_string_equal(s, "bad\xef\xbf\xbd\xef\xbf\xbd(");
        free(s);
        /* a right-to-left override or an isolate cannot reorder what is shown */
        s = notify_clean("a\xe2\x80\xae" "b\xe2\x81\xa7" "c", false);
        assert_string_equal(s, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c");
        free(s);
        s = notify_clean(NULL, false);
        assert_string_equal(s, "");
        free(s);
        /* bounded, and never cut inside a character */
        char *big = malloc(3 * 2000 + 1);
        for (int i = 0; i < 2000; i++)
                memcpy(big + 3 * i, "長", 3);
        big[6000] = 0;
        s = notify_clean(big, false);
        assert_true(strlen(s) <= NOTIFY_TEXT_MAX);
        assert_int_equal(strlen(s) % 3, 0);
        free(s);
        free(big);
}

static void test_markup(void **state) {
        char *s = notify_markup_escape("<b>\"Tom\" & 'Jerry'</b> 日本");
        assert_string_equal(s, "&lt;b&gt;&quot;Tom&quot; &amp; &apos;Jerry&apos;&lt;/b&gt; 日本");
        free(s);
        s = notify_markup_escape("&amp;");
        assert_string_equal(s, "&amp;amp;");
        free(s);
}

static void test_compose(void **state) {
        char *s = NULL, *b = NULL;

        assert_int_equal(notify_compose(NOTIFY_LANGUAGE_JA, "要約", "Summary", "本文\n二行目", "Body\nline 2", &s, &b), 0);
        assert_string_equal(s, "要約");
        assert_string_equal(b, "本文\n二行目");
        free(s);
        free(b);
        assert_int_equal(notify_compose(NOTIFY_LANGUAGE_EN, "要約", "Summary", "本文", "Body", &s, &b), 0);
        assert_string_equal(s, "Summary");
        assert_string_equal(b, "Body");
        free(s);
        free(b);
        assert_int_equal(notify_compose(NOTIFY_LANGUAGE_BOTH, "要約", "Summary", "本文", "Body", &s, &b), 0);
        assert_string_equal(s, "要約");
        assert_string_equal(b, "本文\n\nSummary\nBody");
        free(s);
        free(b);
        /* one language missing: the other stands in */
        assert_int_equal(notify_compose(NOTIFY_LANGUAGE_JA, NULL, "Summary", "", "Body", &s, &b), 0);
        assert_string_equal(s, "Summary");
        assert_string_equal(b, "Body");
        free(s);
        free(b);
        /* a summary is one line, whatever was sent */
        assert_int_equal(notify_compose(NOTIFY_LANGUAGE_EN, NULL, "two\nlines\x1b", NULL, "x\x07", &s, &b), 0);
        assert_string_equal(s, "two lines\xef\xbf\xbd");
        assert_string_equal(b, "x\xef\xbf\xbd");
        free(s);
        free(b);
}

static void test_icon_and_terminal(void **state) {
        assert_string_equal(notify_icon_name("drive-removable-media", "x"), "drive-removable-media");
        assert_string_equal(notify_icon_name("../../etc/passwd", "x"), "x");
        assert_string_equal(notify_icon_name("/usr/share/icons/a.png", "x"), "x");
        assert_string_equal(notify_icon_name("", "x"), "x");
        assert_string_equal(notify_icon_name(NULL, "x"), "x");

        char *t = notify_terminal_text("USB機器「S」は使用できません", "一行目\n二行目\n\n四行目");
        assert_string_equal(t, "mamori: USB機器「S」は使用できません\n  一行目\n  二行目\n  \n  四行目\n");
        free(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_language),
                cmocka_unit_test(test_clean),
                cmocka_unit_test(test_markup),
                cmocka_unit_test(test_compose),
                cmocka_unit_test(test_icon_and_terminal),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
