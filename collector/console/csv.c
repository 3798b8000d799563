/* SPDX-License-Identifier: MIT */
/* csv.h: the console's CSV writer. */

#include "csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "console-api.h"

static const char csv_bom[] = "\xef\xbb\xbf";

/* The full-width forms of = + - @ (U+FF1D, U+FF0B, U+FF0D, U+FF20). */
static const char *const csv_wide_formula[] = { "\xef\xbc\x9d", "\xef\xbc\x8b", "\xef\xbc\x8d", "\xef\xbc\xa0" };

bool csv_cell_is_formula(const char *cell) {
        if (!cell || !*cell)
                return false;
        if (strchr("=+-@\t\r", cell[0]))
                return true;
        for (size_t i = 0; i < sizeof csv_wide_formula / sizeof csv_wide_formula[0]; i++)
                if (strncmp(cell, csv_wide_formula[i], 3) == 0)
                        return true;
        return false;
}

static int csv_reserve(CsvBuf *b, size_t more) {
        if (more > CSV_MAX_BYTES || b->len + more + 1 > CSV_MAX_BYTES)
                return -E2BIG;
        if (b->len + more + 1 <= b->cap)
                return 0;
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + more + 1)
                cap *= 2;
        if (cap > CSV_MAX_BYTES)
                cap = CSV_MAX_BYTES;
        char *p = realloc(b->data, cap);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->cap = cap;
        return 0;
}

static void csv_put(CsvBuf *b, const char *s, size_t n) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = 0;
}

/* The worst case of one cell: an apostrophe, two quotes, every byte doubled. */
static size_t csv_cell_max(const char *cell) {
        return 3 + 2 * (cell ? strlen(cell) : 0);
}

static void csv_put_cell(CsvBuf *b, const char *cell) {
        if (!cell)
                return;
        bool quote = strpbrk(cell, ",\"\r\n") != NULL;
        if (quote)
                csv_put(b, "\"", 1);
        if (csv_cell_is_formula(cell))
                csv_put(b, "'", 1);
        for (const char *p = cell; *p;) {
                size_t run = strcspn(p, "\"");
                csv_put(b, p, run);
                p += run;
                if (*p == '"') {
                        csv_put(b, "\"\"", 2);
                        p++;
                }
        }
        if (quote)
                csv_put(b, "\"", 1);
}

/* One line; all or nothing. */
static int csv_line(CsvBuf *b, const char *const *cells, size_t n) {
        size_t need = 2;
        for (size_t i = 0; i < n; i++) {
                size_t c = csv_cell_max(cells[i]) + 1;
                if (c > CSV_MAX_BYTES || need > CSV_MAX_BYTES - c)
                        return -E2BIG;
                need += c;
        }
        int r = csv_reserve(b, need);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        csv_put(b, ",", 1);
                csv_put_cell(b, cells[i]);
        }
        csv_put(b, "\r\n", 2);
        return 0;
}

int csv_begin(CsvBuf *b, const char *const *header, size_t n) {
        if (b->data || n == 0 || n > CSV_MAX_COLUMNS)
                return -EINVAL;
        int r = csv_reserve(b, sizeof csv_bom);
        if (r < 0)
                return r;
        csv_put(b, csv_bom, sizeof csv_bom - 1);
        b->columns = n;
        b->rows = 0;
        return csv_line(b, header, n);
}

int csv_row(CsvBuf *b, const char *const *cells, size_t n) {
        if (!b->data || n != b->columns)
                return -EINVAL;
        size_t max = b->max_rows ? b->max_rows : CONSOLE_CSV_MAX_ROWS;
        if (b->rows >= max)
                return -E2BIG;
        int r = csv_line(b, cells, n);
        if (r < 0)
                return r;
        b->rows++;
        return 0;
}

char *csv_steal(CsvBuf *b, size_t *len) {
        char *d = b->data;
        if (len)
                *len = d ? b->len : 0;
        *b = (CsvBuf){ .max_rows = b->max_rows };
        return d;
}

void csv_done(CsvBuf *b) {
        free(b->data);
        *b = (CsvBuf){ .max_rows = b->max_rows };
}
