/* SPDX-License-Identifier: MIT */
/* collector/console/csv.c: arbitrary cells written as CSV must read back
 * (RFC 4180) as exactly those cells, a formula cell with one leading
 * apostrophe, and never exceed the bounds. Input: byte 0 is the number of
 * columns (1..8), byte 1 the row limit (0: the default), the rest cells
 * separated by NUL bytes, filling rows in turn. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CELLS 256

/* Reads one field at *p; returns the field (malloc'd) and moves *p past it
 * and its separator; *end_of_line when the separator was CRLF. */
static char *read_field(const char **p, const char *end, bool *end_of_line) {
        const char *s = *p;
        char *out = malloc((size_t) (end - s) + 1);
        size_t o = 0;
        if (!out)
                abort();
        if (s < end && *s == '"') {
                s++;
                for (;;) {
                        if (s >= end)
                                abort(); /* an unterminated quote */
                        if (*s == '"') {
                                if (s + 1 < end && s[1] == '"') {
                                        out[o++] = '"';
                                        s += 2;
                                        continue;
                                }
                                s++;
                                break;
                        }
                        out[o++] = *s++;
                }
        } else
                while (s < end && *s != ',' && *s != '\r') {
                        if (*s == '"' || *s == '\n')
                                abort(); /* unquoted text must not hold these */
                        out[o++] = *s++;
                }
        out[o] = 0;
        if (s < end && *s == ',') {
                *end_of_line = false;
                s++;
        } else if (s + 1 < end && s[0] == '\r' && s[1] == '\n') {
                *end_of_line = true;
                s += 2;
        } else
                abort(); /* a field not followed by , or CRLF */
        *p = s;
        return out;
}

static void check_line(const char **p, const char *end, const char *const *cells, size_t n) {
        for (size_t i = 0; i < n; i++) {
                bool eol = false;
                char *f = read_field(p, end, &eol);
                const char *want = cells[i] ? cells[i] : "";
                const char *got = f;
                if (csv_cell_is_formula(want)) {
                        if (got[0] != '\'')
                                abort();
                        got++;
                }
                if (strcmp(got, want) != 0 || eol != (i + 1 == n))
                        abort();
                free(f);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 2)
                return 0;
        size_t columns = data[0] % 8 + 1;
        CsvBuf b = { .max_rows = data[1] };
        char *text = malloc(size - 1);
        if (!text)
                return 0;
        memcpy(text, data + 2, size - 2);
        text[size - 2] = 0;
        const char *cells[MAX_CELLS];
        size_t n = 0;
        for (char *c = text; n < MAX_CELLS && c <= text + size - 2; c += strlen(c) + 1)
                cells[n++] = c;

        const char *header[8] = { "id", "=kind", NULL, "a,b", "\"q\"", "+1", "@x", "-" };
        if (csv_begin(&b, header, columns) < 0)
                abort();
        size_t rows = 0;
        for (size_t i = 0; i + columns <= n; i += columns) {
                int r = csv_row(&b, cells + i, columns);
                if (r == -E2BIG && b.rows == (b.max_rows ?: 100000))
                        break;
                if (r < 0)
                        abort();
                rows++;
        }
        if (csv_row(&b, cells, columns + 1) != -EINVAL)
                abort();
        size_t len = 0;
        char *out = csv_steal(&b, &len);
        if (!out || len < 3 || memcmp(out, "\xef\xbb\xbf", 3) != 0 || out[len] != 0 || b.data)
                abort();
        const char *p = out + 3, *end = out + len;
        check_line(&p, end, header, columns);
        for (size_t i = 0; i < rows; i++)
                check_line(&p, end, cells + i * columns, columns);
        if (p != end)
                abort();
        free(out);
        free(text);
        csv_done(&b);
        return 0;
}
