/* SPDX-License-Identifier: MIT */
#pragma once

/* GET /v1/export?after=<cursor>&limit=N (issue 12 item 7): stored events
 * and findings as NDJSON in arrival order, through store_export(); the
 * response's X-Mamori-Cursor is the cursor after its last line (the request's
 * own when nothing followed), so a shipper resumes where it stopped. */

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

#define EXPORT_LIMIT_DEFAULT 1000
#define EXPORT_LIMIT_MAX 10000
#define EXPORT_BYTES_MAX (8u * 1024u * 1024u) /* one answer; the cursor says where the next starts */
#define EXPORT_CURSOR_MAX 128

typedef struct ExportPage {
        char *buf; /* NDJSON: each line ends in '\n' */
        size_t len, cap;
        size_t lines;
        char cursor[EXPORT_CURSOR_MAX];
} ExportPage;

/* Parses "limit": a decimal in 1..EXPORT_LIMIT_MAX, default when NULL.
 * -EINVAL for anything else. */
int export_parse_limit(const char *s, size_t *ret);
/* A cursor as the store wrote it: printable ASCII, bounded. */
bool export_cursor_ok(const char *s);

/* Fills page with the rows after `after`. 0, or the store's negative errno. */
int export_page(Store *s, const char *after, size_t limit, ExportPage *page);
void export_page_done(ExportPage *page);
