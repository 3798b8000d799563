/* SPDX-License-Identifier: MIT */
#include "export.h"

#include <stdlib.h>
#include <string.h>

#include "macro.h"

int export_parse_limit(const char *s, size_t *ret) {
        char *end;
        unsigned long v;
        if (!s) {
                *ret = EXPORT_LIMIT_DEFAULT;
                return 0;
        }
        if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 6)
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || v < 1 || v > EXPORT_LIMIT_MAX)
                return -EINVAL;
        *ret = v;
        return 0;
}

bool export_cursor_ok(const char *s) {
        size_t n = s ? strlen(s) : 0;
        if (n >= EXPORT_CURSOR_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] <= 0x20 || s[i] >= 0x7f)
                        return false;
        return true;
}

#define EXPORT_FULL 1 /* not an error: the page is full */

static int export_row(const char *json, size_t len, const char *cursor, void *userdata) {
        ExportPage *p = userdata;

        if (p->lines > 0 && p->len + len + 1 > EXPORT_BYTES_MAX)
                return -ENOBUFS;
        if (!export_cursor_ok(cursor))
                return -EBADMSG;
        if (p->len + len + 1 > p->cap) {
                size_t cap = MAX(p->cap * 2, p->len + len + 1);
                char *b = realloc(p->buf, cap);
                if (!b)
                        return -ENOMEM;
                p->buf = b;
                p->cap = cap;
        }
        memcpy(p->buf + p->len, json, len);
        p->len += len;
        p->buf[p->len++] = '\n';
        p->lines++;
        snprintf(p->cursor, sizeof p->cursor, "%s", cursor);
        return 0;
}

int export_page(Store *s, const char *after, size_t limit, ExportPage *page) {
        int r;
        *page = (ExportPage){ 0 };
        snprintf(page->cursor, sizeof page->cursor, "%s", strempty(after));
        r = store_export(s, after, 0, limit, export_row, page);
        if (r == -ENOBUFS) /* full: the cursor names the last line it holds */
                r = 0;
        if (r < 0)
                export_page_done(page);
        return r;
}

void export_page_done(ExportPage *page) {
        free(page->buf);
        *page = (ExportPage){ 0 };
}
