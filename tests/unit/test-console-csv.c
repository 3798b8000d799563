/* SPDX-License-Identifier: MIT */
/* collector/console/csv.c: the BOM, RFC 4180 quoting, formula injection
 * neutralised (ASCII and full-width), the bounds. */
#include "unit.h"

#include "console-api.h"
#include "macro.h"
#include "csv.h"

static const char *const header[] = { "id", "product", "note" };

static char *write_csv(const char *const *cells, size_t rows, size_t *len) {
        CsvBuf b = { 0 };
        assert_int_equal(csv_begin(&b, header, 3), 0);
        for (size_t i = 0; i < rows; i++)
                assert_int_equal(csv_row(&b, cells + 3 * i, 3), 0);
        assert_int_equal(b.rows, rows);
        char *text = csv_steal(&b, len);
        assert_null(b.data);
        return text;
}

static void test_bom_and_quoting(void **state) {
        (void) state;
        const char *cells[] = {
                "1", "SanDisk, Ultra", "say \"hi\"", /* comma, quotes */
                "2", "two\r\nlines",   NULL,         /* CRLF inside, an empty cell */
                "3", "総務課",         "plain text", /* UTF-8 as is */
        };
        size_t len = 0;
        _cleanup_free_ char *text = write_csv(cells, 3, &len);
        const char *want = "\xef\xbb\xbf"
                           "id,product,note\r\n"
                           "1,\"SanDisk, Ultra\",\"say \"\"hi\"\"\"\r\n"
                           "2,\"two\r\nlines\",\r\n"
                           "3,総務課,plain text\r\n";
        assert_string_equal(text, want);
        assert_int_equal(len, strlen(want));
}

static void test_formula_injection(void **state) {
        (void) state;
        const char *bad[] = { "=HYPERLINK(\"http://x\")",
                              "+1",
                              "-1+1",
                              "@SUM(A1)",
                              "\tx",
                              "\rx",
                              "\xef\xbc\x9d"
                              "1+1", /* ＝ */
                              "\xef\xbc\x8b"
                              "1", /* ＋ */
                              "\xef\xbc\x8d"
                              "1", /* － */
                              "\xef\xbc\xa0"
                              "a" }; /* ＠ */
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                assert_true(csv_cell_is_formula(bad[i]));
                const char *cells[] = { "1", bad[i], "x" };
                size_t len = 0;
                _cleanup_free_ char *text = write_csv(cells, 1, &len);
                /* the cell, after the header line, begins with an apostrophe
                 * (inside the quotes when it needs them) */
                const char *row = strstr(text, "\r\n1,");
                assert_non_null(row);
                const char *cell = row + 4;
                if (*cell == '"')
                        cell++;
                assert_int_equal(*cell, '\'');
                assert_memory_equal(cell + 1, bad[i], strcspn(bad[i], "\"\r"));
        }
        const char *good[] = { "", "1=1", "a-b", "ｘ", "'=x", "\xef\xbc" };
        for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
                assert_false(csv_cell_is_formula(good[i]));
        assert_false(csv_cell_is_formula(NULL));
        const char *cells[] = { "1", "a-b", "x" };
        size_t len = 0;
        _cleanup_free_ char *text = write_csv(cells, 1, &len);
        assert_non_null(strstr(text, "\r\n1,a-b,x\r\n"));
}

static void test_bounds(void **state) {
        (void) state;
        CsvBuf b = { .max_rows = 2 };
        const char *row[] = { "1", "2", "3" };
        assert_int_equal(csv_row(&b, row, 3), -EINVAL); /* no header yet */
        assert_int_equal(csv_begin(&b, header, 0), -EINVAL);
        assert_int_equal(csv_begin(&b, header, 3), 0);
        assert_int_equal(csv_begin(&b, header, 3), -EINVAL); /* twice */
        assert_int_equal(csv_row(&b, row, 2), -EINVAL);
        assert_int_equal(csv_row(&b, row, 3), 0);
        assert_int_equal(csv_row(&b, row, 3), 0);
        size_t before = b.len;
        assert_int_equal(csv_row(&b, row, 3), -E2BIG); /* max_rows */
        assert_int_equal(b.len, before);
        assert_int_equal(b.rows, 2);
        csv_done(&b);
        assert_null(b.data);
        assert_int_equal(b.max_rows, 2);

        /* a cell whose worst case passes CSV_MAX_BYTES: refused whole,
         * before any allocation for it */
        size_t big = CSV_MAX_BYTES / 2 + 1;
        char *huge = malloc(big + 1);
        assert_non_null(huge);
        memset(huge, '"', big);
        huge[big] = 0;
        CsvBuf c = { 0 };
        assert_int_equal(csv_begin(&c, header, 3), 0);
        const char *cells[] = { "1", huge, "x" };
        before = c.len;
        assert_int_equal(csv_row(&c, cells, 3), -E2BIG);
        assert_int_equal(c.len, before);
        assert_true(c.cap < 1024 * 1024);
        csv_done(&c);
        free(huge);

        /* the default limit is the API's */
        CsvBuf d = { 0 };
        assert_int_equal(csv_begin(&d, header, 3), 0);
        for (size_t i = 0; i < CONSOLE_CSV_MAX_ROWS; i++)
                assert_int_equal(csv_row(&d, row, 3), 0);
        assert_int_equal(csv_row(&d, row, 3), -E2BIG);
        csv_done(&d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bom_and_quoting),
                cmocka_unit_test(test_formula_injection),
                cmocka_unit_test(test_bounds),
        };
        return cmocka_run_group_tests_name("console-csv", tests, NULL, NULL);
}
