/* SPDX-License-Identifier: MIT */
#pragma once

/* The console's CSV exports (issue 13 item 3): UTF-8 with a BOM (Excel in a
 * Japanese office reads a file without one as Shift_JIS), RFC 4180 quoting,
 * CRLF line ends, and every cell that a spreadsheet would read as a formula
 * (one beginning with = + - @ tab CR, or the full-width ＝ ＋ － ＠)
 * neutralised by a leading apostrophe: device strings are attacker-controlled
 * (CSV injection). The buffer is bounded: a row that would pass
 * CSV_MAX_BYTES, or the max_rows-th + 1 row, is -E2BIG and leaves the buffer
 * as it was (a line is written whole or not at all). */

#include <stdbool.h>
#include <stddef.h>

#define CSV_MAX_BYTES (64u * 1024u * 1024u) /* one export, BOM and header included */
#define CSV_MAX_COLUMNS 64

typedef struct CsvBuf {
        char *data; /* NUL-terminated after len bytes; NULL before csv_begin() */
        size_t len, cap;
        size_t columns;
        size_t rows;     /* data rows written (not the header) */
        size_t max_rows; /* 0: CONSOLE_CSV_MAX_ROWS; kept by csv_steal() and csv_done() */
} CsvBuf;

/* True when a spreadsheet would take the cell for a formula. NULL and ""
 * are not. */
bool csv_cell_is_formula(const char *cell);

/* The BOM and the header line; b must be empty ({0} or after csv_done()).
 * -EINVAL for n == 0 or n > CSV_MAX_COLUMNS. */
int csv_begin(CsvBuf *b, const char *const *header, size_t n);
/* One data line of exactly the header's n cells (a NULL cell is empty).
 * -EINVAL for another n, -E2BIG past the bounds, -ENOMEM. */
int csv_row(CsvBuf *b, const char *const *cells, size_t n);
/* The text (malloc'd, *len bytes) for console_reply_csv(); b is empty again. */
char *csv_steal(CsvBuf *b, size_t *len);
void csv_done(CsvBuf *b);
static inline void csv_donep(CsvBuf *b) {
        csv_done(b);
}
#define _cleanup_csv_ __attribute__((cleanup(csv_donep)))
