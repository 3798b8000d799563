/* SPDX-License-Identifier: MIT */
#include "unit.h"
#include <stdlib.h>
#include <string.h>

#include "json.h"

static char *render_string(const char *s, size_t n) {
        JsonWriter w = JSON_WRITER_INIT;
        json_string_len(&w, s, n);
        return json_steal(&w, NULL);
}

static void test_escapes(void **state) {
        char *j = render_string("a\"b\\c\nd\te\x01\x7f", 11);
        assert_string_equal(j, "\"a\\\"b\\\\c\\nd\\te\\u0001\\u007f\"");
        free(j);
        j = render_string("\xff ok \xe6\x97\xa5 \xe2\x80\xa8", 12);
        assert_string_equal(j, "\"\\ufffd ok \xe6\x97\xa5 \\u2028\"");
        free(j);
        j = render_string("nul\0x", 5);
        assert_string_equal(j, "\"nul\\u0000x\"");
        free(j);
}

/* Whatever wrote them, hidden code points (text.h) never stand raw in the JSON
 * text: \uXXXX, a surrogate pair past U+FFFF; a parser reads the same string. */
static void test_hidden_code_points(void **state) {
        char *j = render_string("a\xe2\x80\xae" "b\xe2\x81\xa6" "c\xe2\x80\x8b" "d\xc2\x85" "e\xef\xbb\xbf", 19);
        assert_string_equal(j, "\"a\\u202eb\\u2066c\\u200bd\\u0085e\\ufeff\"");
        free(j);
        j = render_string("\xf3\xa0\x81\x81\xf3\xa0\x84\x80", 8);
        assert_string_equal(j, "\"\\udb40\\udc41\\udb40\\udd00\"");
        free(j);
        /* visible text past the BMP stays UTF-8 */
        j = render_string("\xf0\x9f\x98\x80\xd7\x90", 6);
        assert_string_equal(j, "\"\xf0\x9f\x98\x80\xd7\x90\"");
        free(j);
}

static void test_structure(void **state) {
        JsonWriter w = JSON_WRITER_INIT;
        json_object_begin(&w);
        json_kv_string(&w, "a", "x");
        json_kv_int(&w, "b", -3);
        json_key(&w, "c");
        json_array_begin(&w);
        json_uint(&w, 1);
        json_bool(&w, true);
        json_null(&w);
        json_object_begin(&w);
        json_object_end(&w);
        json_array_end(&w);
        json_kv_string(&w, "d", NULL);
        json_object_end(&w);
        char *j = json_steal(&w, NULL);
        assert_string_equal(j, "{\"a\":\"x\",\"b\":-3,\"c\":[1,true,null,{}],\"d\":null}");
        free(j);
}

static void test_members_raw(void **state) {
        JsonWriter w = JSON_WRITER_INIT;
        json_object_begin(&w);
        json_kv_int(&w, "a", 1);
        json_members_raw(&w, "{\"b\":2,\"c\":3}", 13);
        json_members_raw(&w, "{}", 2);
        json_object_end(&w);
        char *j = json_steal(&w, NULL);
        assert_string_equal(j, "{\"a\":1,\"b\":2,\"c\":3}");
        free(j);
}

static void test_unbalanced_fails(void **state) {
        JsonWriter w = JSON_WRITER_INIT;
        json_object_begin(&w);
        assert_null(json_steal(&w, NULL));
        json_object_end(&w);
        assert_int_equal(json_error(&w), -ENOMEM);
        json_writer_free(&w);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_escapes),
                cmocka_unit_test(test_hidden_code_points),
                cmocka_unit_test(test_structure),
                cmocka_unit_test(test_members_raw),
                cmocka_unit_test(test_unbalanced_fails),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
