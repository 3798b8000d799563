/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

size_t utf8_sequence_len(const unsigned char *s, size_t len) {
        uint32_t cp;
        size_t n;

        if (len == 0)
                return 0;
        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                n = 2;
                cp = s[0] & 0x1f;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                n = 3;
                cp = s[0] & 0x0f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                n = 4;
                cp = s[0] & 0x07;
        } else
                return 0;
        if (len < n)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        /* Reject overlong forms, surrogates and code points past U+10FFFF. */
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

/* C1 controls (U+0080..U+009F) and the line/paragraph separators are as
 * dangerous as ASCII controls in a log line. */
static bool is_unsafe_codepoint(const unsigned char *s, size_t n) {
        if (n == 1)
                return s[0] < 0x20 || s[0] == 0x7f;
        if (n == 2 && s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f)
                return true;
        if (n == 3 && s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9))
                return true;
        return false;
}

bool text_is_clean(const char *str, size_t len) {
        const unsigned char *s = (const unsigned char *) str;
        for (size_t i = 0; i < len;) {
                size_t n = utf8_sequence_len(s + i, len - i);
                if (n == 0 || is_unsafe_codepoint(s + i, n))
                        return false;
                i += n;
        }
        return true;
}

char *text_sanitize(const char *in, size_t in_len, size_t max, bool *truncated) {
        static const char hex[] = "0123456789abcdef";
        const unsigned char *s = (const unsigned char *) in;
        bool cut = false;
        size_t o = 0;
        char *out;

        if (!in)
                return NULL;
        if (max < 4)
                max = 4;
        out = malloc(max + 1);
        if (!out)
                return NULL;

        for (size_t i = 0; i < in_len;) {
                size_t n = utf8_sequence_len(s + i, in_len - i);
                char esc[5];
                const char *piece;
                size_t piece_len;

                if (n > 0 && !is_unsafe_codepoint(s + i, n) && s[i] != '\\') {
                        piece = (const char *) s + i;
                        piece_len = n;
                } else if (s[i] == '\\') {
                        piece = "\\\\";
                        piece_len = 2;
                        n = 1;
                } else {
                        /* One offending byte at a time: invalid UTF-8 resynchronises. */
                        n = n == 0 ? 1 : n;
                        if (n > 1) {
                                /* an unsafe multi-byte code point: escape each byte */
                                for (size_t k = 0; k < n; k++) {
                                        if (o + 4 > max) {
                                                cut = true;
                                                goto done;
                                        }
                                        out[o++] = '\\';
                                        out[o++] = 'x';
                                        out[o++] = hex[s[i + k] >> 4];
                                        out[o++] = hex[s[i + k] & 0xf];
                                }
                                i += n;
                                continue;
                        }
                        esc[0] = '\\';
                        esc[1] = 'x';
                        esc[2] = hex[s[i] >> 4];
                        esc[3] = hex[s[i] & 0xf];
                        esc[4] = 0;
                        piece = esc;
                        piece_len = 4;
                }
                if (o + piece_len > max) {
                        cut = true;
                        break;
                }
                memcpy(out + o, piece, piece_len);
                o += piece_len;
                i += n;
        }
done:
        out[o] = 0;
        if (truncated)
                *truncated = cut;
        return out;
}

char *hex_encode(const void *p, size_t len) {
        static const char hex[] = "0123456789abcdef";
        const unsigned char *s = p;
        char *out = malloc(len * 2 + 1);
        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i++) {
                out[2 * i] = hex[s[i] >> 4];
                out[2 * i + 1] = hex[s[i] & 0xf];
        }
        out[len * 2] = 0;
        return out;
}
