/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>

#include "ctl.h"
#include "text.h"

struct CtlTable {
        size_t n_columns;
        char **headers;
        size_t *max_width;
        char ***rows;
        size_t n_rows;
};

/* East Asian wide and fullwidth ranges: two columns on a terminal. */
static bool is_wide(uint32_t c) {
        return (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0x303e) || (c >= 0x3041 && c <= 0x33ff) ||
               (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xa000 && c <= 0xa4cf) ||
               (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) || (c >= 0xfe30 && c <= 0xfe4f) ||
               (c >= 0xff00 && c <= 0xff60) || (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x1f300 && c <= 0x1f64f) ||
               (c >= 0x20000 && c <= 0x3fffd);
}

/* Decodes one character; *len gets its byte length (1 for a bad byte). */
static uint32_t next_char(const char *s, size_t n, size_t *len) {
        const unsigned char *u = (const unsigned char *) s;
        size_t l = utf8_sequence_len(u, n);
        uint32_t c;

        if (l == 0) {
                *len = 1;
                return 0xfffd;
        }
        *len = l;
        if (l == 1)
                return u[0];
        c = u[0] & (0x7f >> l);
        for (size_t i = 1; i < l; i++)
                c = (c << 6) | (u[i] & 0x3f);
        return c;
}

char *ctl_safe_text(const char *s) {
        size_t n = strlen(s);
        /* an escape is at most 4 bytes for each byte it stands for */
        return text_sanitize_flags(s, n, 4 * n + 4, TEXT_KEEP_BACKSLASH, NULL);
}

size_t ctl_text_width(const char *s) {
        size_t w = 0, n = strlen(s), l;
        for (size_t i = 0; i < n; i += l)
                w += is_wide(next_char(s + i, n - i, &l)) ? 2 : 1;
        return w;
}

/* The longest prefix of s that fits in width columns, then "…". */
static char *truncate_to(const char *s, size_t width) {
        size_t w = 0, n = strlen(s), l, i;
        char *r;

        if (ctl_text_width(s) <= width)
                return strdup(s);
        for (i = 0; i < n; i += l) {
                size_t cw = is_wide(next_char(s + i, n - i, &l)) ? 2 : 1;
                if (w + cw > width - 1)
                        break;
                w += cw;
        }
        r = malloc(i + sizeof "…");
        if (!r)
                return NULL;
        memcpy(r, s, i);
        strcpy(r + i, "…");
        return r;
}

CtlTable *ctl_table_new(size_t n_columns, const char *const *headers) {
        CtlTable *t = calloc(1, sizeof *t);
        if (!t)
                return NULL;
        t->n_columns = n_columns;
        t->headers = calloc(n_columns, sizeof(char *));
        t->max_width = calloc(n_columns, sizeof(size_t));
        if (!t->headers || !t->max_width) {
                ctl_table_free(t);
                return NULL;
        }
        for (size_t i = 0; i < n_columns; i++)
                if (!(t->headers[i] = strdup(headers[i]))) {
                        ctl_table_free(t);
                        return NULL;
                }
        return t;
}

void ctl_table_set_max_width(CtlTable *t, size_t column, size_t width) {
        if (column < t->n_columns)
                t->max_width[column] = width;
}

int ctl_table_add_row(CtlTable *t, const char *const *cells) {
        char ***rows = reallocarray(t->rows, t->n_rows + 1, sizeof(char **));
        char **row;

        if (!rows)
                return -ENOMEM;
        t->rows = rows;
        row = calloc(t->n_columns, sizeof(char *));
        if (!row)
                return -ENOMEM;
        t->rows[t->n_rows++] = row;
        for (size_t i = 0; i < t->n_columns; i++) {
                _cleanup_free_ char *c = ctl_safe_text(cells[i] && cells[i][0] ? cells[i] : "-");
                if (!c)
                        return -ENOMEM;
                row[i] = t->max_width[i] ? truncate_to(c, t->max_width[i]) : TAKE_PTR(c);
                if (!row[i])
                        return -ENOMEM;
        }
        return 0;
}

static void print_cell(const char *s, size_t width, bool last) {
        fputs(s, stdout);
        if (last)
                return;
        for (size_t w = ctl_text_width(s); w < width + 2; w++)
                putchar(' ');
}

void ctl_table_print(CtlTable *t, bool legend) {
        _cleanup_free_ size_t *width = calloc(t->n_columns, sizeof(size_t));
        if (!width)
                return;
        for (size_t i = 0; i < t->n_columns; i++) {
                width[i] = ctl_text_width(t->headers[i]);
                for (size_t r = 0; r < t->n_rows; r++)
                        width[i] = MAX(width[i], ctl_text_width(t->rows[r][i]));
        }
        if (legend) {
                for (size_t i = 0; i < t->n_columns; i++)
                        print_cell(t->headers[i], width[i], i + 1 == t->n_columns);
                putchar('\n');
        }
        for (size_t r = 0; r < t->n_rows; r++) {
                for (size_t i = 0; i < t->n_columns; i++)
                        print_cell(t->rows[r][i], width[i], i + 1 == t->n_columns);
                putchar('\n');
        }
}

void ctl_table_free(CtlTable *t) {
        if (!t)
                return;
        for (size_t r = 0; r < t->n_rows; r++) {
                for (size_t i = 0; i < t->n_columns; i++)
                        free(t->rows[r][i]);
                free(t->rows[r]);
        }
        free(t->rows);
        if (t->headers)
                for (size_t i = 0; i < t->n_columns; i++)
                        free(t->headers[i]);
        free(t->headers);
        free(t->max_width);
        free(t);
}
