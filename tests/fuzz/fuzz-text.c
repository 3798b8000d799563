/* SPDX-License-Identifier: MIT */
/* Hostile device strings: the sanitizer must produce clean, bounded text that
 * reads back as exactly the bytes it stands for, and the JSON writer valid JSON
 * with no hidden code point standing raw, whatever the bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hexval(char h) {
        if (h >= '0' && h <= '9')
                return h - '0';
        if (h >= 'a' && h <= 'f')
                return h - 'a' + 10;
        abort(); /* escapes are lower-case hex */
}

static uint32_t hexnum(const char *s, size_t n) {
        uint32_t v = 0;
        for (size_t i = 0; i < n; i++)
                v = v << 4 | (uint32_t) hexval(s[i]);
        return v;
}

static size_t utf8_encode(uint32_t c, uint8_t *o) {
        if (c < 0x80) {
                o[0] = (uint8_t) c;
                return 1;
        }
        if (c < 0x800) {
                o[0] = (uint8_t) (0xc0 | c >> 6);
                o[1] = (uint8_t) (0x80 | (c & 0x3f));
                return 2;
        }
        if (c < 0x10000) {
                o[0] = (uint8_t) (0xe0 | c >> 12);
                o[1] = (uint8_t) (0x80 | ((c >> 6) & 0x3f));
                o[2] = (uint8_t) (0x80 | (c & 0x3f));
                return 3;
        }
        o[0] = (uint8_t) (0xf0 | c >> 18);
        o[1] = (uint8_t) (0x80 | ((c >> 12) & 0x3f));
        o[2] = (uint8_t) (0x80 | ((c >> 6) & 0x3f));
        o[3] = (uint8_t) (0x80 | (c & 0x3f));
        return 4;
}

/* Undoes text_sanitize(): the escapes are unambiguous, so this gives back the
 * input (its prefix, when cut). Each escape must be one the policy makes. */
static uint8_t *unescape(const char *s, size_t *ret_len) {
        size_t n = strlen(s), o = 0;
        uint8_t *out = malloc(n + 1);
        if (!out)
                return NULL;
        for (size_t i = 0; i < n;) {
                uint32_t c;
                if (s[i] != '\\') {
                        out[o++] = (uint8_t) s[i++];
                        continue;
                }
                if (i + 1 >= n)
                        abort(); /* a lone backslash at the end */
                switch (s[i + 1]) {
                case '\\':
                        out[o++] = '\\';
                        i += 2;
                        break;
                case 'x':
                        if (i + 4 > n)
                                abort();
                        out[o++] = (uint8_t) hexnum(s + i + 2, 2);
                        i += 4;
                        break;
                case 'u':
                case 'U': {
                        size_t d = s[i + 1] == 'u' ? 4 : 8;
                        if (i + 2 + d > n)
                                abort();
                        c = hexnum(s + i + 2, d);
                        /* only valid code points that the policy hides, BMP ones as \u */
                        if (!text_codepoint_is_hidden(c) || c < 0x80 || (d == 8) != (c > 0xffff))
                                abort();
                        o += utf8_encode(c, out + o);
                        i += 2 + d;
                        break;
                }
                default:
                        abort();
                }
        }
        *ret_len = o;
        return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        bool cut = false;
        char *s = text_sanitize((const char *) data, size, TEXT_DEVICE_MAX, &cut);
        size_t raw_len = 0;
        uint8_t *raw;

        if (!s)
                return 0;
        if (strlen(s) > TEXT_DEVICE_MAX || !text_is_clean(s, strlen(s)))
                abort();
        raw = unescape(s, &raw_len);
        if (raw && (raw_len > size || memcmp(raw, data, raw_len) != 0 || (!cut && raw_len != size)))
                abort();
        free(raw);

        char *k = text_sanitize_flags((const char *) data, size, 4 * size + 4, TEXT_KEEP_BACKSLASH, &cut);
        if (k && (cut || !text_is_clean(k, strlen(k))))
                abort();
        free(k);

        JsonWriter w = JSON_WRITER_INIT;
        json_object_begin(&w);
        json_key(&w, "raw");
        json_string_len(&w, (const char *) data, size);
        json_kv_string(&w, "clean", s);
        json_object_end(&w);
        size_t len;
        char *j = json_steal(&w, &len);
        /* Valid UTF-8 throughout, no raw control byte nor any hidden code point. */
        if (j && (strlen(j) != len || !text_is_clean(j, len)))
                abort();
        free(j);
        free(s);
        return 0;
}
