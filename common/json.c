/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "text.h"

void json_writer_free(JsonWriter *w) {
        assert(w);

        free(w->buf);
        *w = JSON_WRITER_INIT;
}

void json_writer_reset(JsonWriter *w) {
        char *b;
        size_t cap;

        assert(w);

        b = w->buf;
        cap = w->cap;
        *w = JSON_WRITER_INIT;
        w->buf = b;
        w->cap = cap;
}

int json_error(const JsonWriter *w) {
        assert(w);
        return w->failed ? -ENOMEM : 0;
}

static bool json_reserve(JsonWriter *w, size_t extra) {
        if (w->failed)
                return false;
        if (w->len + extra + 1 <= w->cap)
                return true;
        size_t ncap = w->cap < 256 ? 256 : w->cap;
        while (ncap < w->len + extra + 1)
                ncap *= 2;
        char *n = realloc(w->buf, ncap);
        if (!n) {
                w->failed = true;
                return false;
        }
        w->buf = n;
        w->cap = ncap;
        return true;
}

static void json_put(JsonWriter *w, const char *s, size_t n) {
        if (!json_reserve(w, n))
                return;
        memcpy(w->buf + w->len, s, n);
        w->len += n;
        w->buf[w->len] = 0;
}

static void json_putc(JsonWriter *w, char c) {
        json_put(w, &c, 1);
}

char *json_steal(JsonWriter *w, size_t *ret_len) {
        assert(w);

        if (w->failed || w->depth != 0 || !json_reserve(w, 0)) {
                json_writer_free(w);
                return NULL;
        }
        char *b = w->buf;
        if (ret_len)
                *ret_len = w->len;
        *w = JSON_WRITER_INIT;
        return b;
}

/* Comma handling: every value and every key goes through here. */
static void json_before_value(JsonWriter *w) {
        if (w->after_key) {
                w->after_key = false;
                return;
        }
        if (w->depth > 0) {
                if (w->has_items[w->depth - 1])
                        json_putc(w, ',');
                w->has_items[w->depth - 1] = true;
        }
}

static void json_open_container(JsonWriter *w, char c) {
        json_before_value(w);
        if (w->depth >= JSON_MAX_DEPTH) {
                w->failed = true;
                return;
        }
        w->has_items[w->depth++] = false;
        json_putc(w, c);
}

static void json_close_container(JsonWriter *w, char c) {
        if (w->depth == 0) {
                w->failed = true;
                return;
        }
        w->depth--;
        json_putc(w, c);
}

void json_object_begin(JsonWriter *w) {
        assert(w);
        json_open_container(w, '{');
}
void json_object_end(JsonWriter *w) {
        assert(w);
        json_close_container(w, '}');
}
void json_array_begin(JsonWriter *w) {
        assert(w);
        json_open_container(w, '[');
}
void json_array_end(JsonWriter *w) {
        assert(w);
        json_close_container(w, ']');
}

/* "\\uXXXX" at p (6 bytes and a NUL). */
static void json_put_u16(char *p, uint32_t u) {
        static const char hex[] = "0123456789abcdef";
        p[0] = '\\';
        p[1] = 'u';
        for (int k = 0; k < 4; k++)
                p[2 + k] = hex[(u >> (12 - 4 * k)) & 0xf];
        p[6] = 0;
}

void json_escape_into(JsonWriter *w, const char *str, size_t n) {
        static const char hex[] = "0123456789abcdef";
        const unsigned char *s = (const unsigned char *) str;

        assert(w);
        assert(str || n == 0);

        size_t run = 0; /* start of the pending run of bytes that need no escaping */

        for (size_t i = 0; i < n;) {
                const char *esc = NULL;
                char ubuf[13];
                size_t len = utf8_sequence_len(s + i, n - i);

                if (len == 1) {
                        switch (s[i]) {
                        /* clang-format off */
                        case '"': esc = "\\\""; break;
                        case '\\': esc = "\\\\"; break;
                        case '\n': esc = "\\n"; break;
                        case '\r': esc = "\\r"; break;
                        case '\t': esc = "\\t"; break;
                        case '\b': esc = "\\b"; break;
                        case '\f': esc = "\\f"; break;
                        /* clang-format on */
                        default:
                                if (s[i] < 0x20 || s[i] == 0x7f) {
                                        memcpy(ubuf, "\\u00", 4);
                                        ubuf[4] = hex[s[i] >> 4];
                                        ubuf[5] = hex[s[i] & 0xf];
                                        ubuf[6] = 0;
                                        esc = ubuf;
                                }
                        }
                } else if (len == 0)
                        esc = "\\ufffd"; /* invalid byte */
                else {
                        /* Text that would not show as itself (C1, separators, bidi
                         * controls, invisible characters: text.h) stays visible in
                         * the JSON text; a parser reads back the same string. */
                        uint32_t c = utf8_decode(s + i, len);
                        if (text_codepoint_is_hidden(c)) {
                                if (c > 0xffff) {
                                        c -= 0x10000;
                                        json_put_u16(ubuf, 0xd800 | (c >> 10));
                                        json_put_u16(ubuf + 6, 0xdc00 | (c & 0x3ff));
                                } else
                                        json_put_u16(ubuf, c);
                                esc = ubuf;
                        }
                }

                if (!esc) {
                        i += len;
                        continue;
                }
                json_put(w, (const char *) s + run, i - run);
                json_put(w, esc, strlen(esc));
                i += len == 0 ? 1 : len;
                run = i;
        }
        json_put(w, (const char *) s + run, n - run);
}

void json_key(JsonWriter *w, const char *key) {
        assert(w);
        assert(key);

        json_before_value(w);
        json_putc(w, '"');
        json_escape_into(w, key, strlen(key));
        json_put(w, "\":", 2);
        w->after_key = true;
}

void json_string_len(JsonWriter *w, const char *s, size_t n) {
        assert(w);

        if (!s) {
                json_null(w);
                return;
        }
        json_before_value(w);
        json_putc(w, '"');
        json_escape_into(w, s, n);
        json_putc(w, '"');
}

void json_string(JsonWriter *w, const char *s) {
        assert(w);
        json_string_len(w, s, s ? strlen(s) : 0);
}

void json_int(JsonWriter *w, int64_t v) {
        char b[32];

        assert(w);

        json_before_value(w);
        json_put(w, b, (size_t) snprintf(b, sizeof b, "%" PRIi64, v));
}

void json_uint(JsonWriter *w, uint64_t v) {
        char b[32];

        assert(w);

        json_before_value(w);
        json_put(w, b, (size_t) snprintf(b, sizeof b, "%" PRIu64, v));
}

void json_double(JsonWriter *w, double v) {
        char b[64];

        assert(w);

        if (!isfinite(v)) {
                json_null(w);
                return;
        }
        json_before_value(w);
        json_put(w, b, (size_t) snprintf(b, sizeof b, "%.17g", v));
}

void json_bool(JsonWriter *w, bool v) {
        assert(w);

        json_before_value(w);
        json_put(w, v ? "true" : "false", v ? 4 : 5);
}

void json_null(JsonWriter *w) {
        assert(w);

        json_before_value(w);
        json_put(w, "null", 4);
}

void json_raw(JsonWriter *w, const char *raw, size_t n) {
        assert(w);
        assert(raw || n == 0);

        json_before_value(w);
        json_put(w, raw, n);
}

void json_members_raw(JsonWriter *w, const char *obj, size_t n) {
        assert(w);

        if (n < 2 || obj[0] != '{' || obj[n - 1] != '}') {
                w->failed = true;
                return;
        }
        if (n == 2)
                return;
        json_before_value(w);
        json_put(w, obj + 1, n - 2);
}
