/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

size_t utf8_sequence_len(const unsigned char *s, size_t len) {
        uint32_t cp;
        size_t n;

        assert(s || len == 0);

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
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

uint32_t utf8_decode(const unsigned char *s, size_t n) {
        assert(s);

        switch (n) {
        case 1:
                return s[0];
        case 2:
                return ((uint32_t) (s[0] & 0x1f) << 6) | (s[1] & 0x3f);
        case 3:
                return ((uint32_t) (s[0] & 0x0f) << 12) | ((uint32_t) (s[1] & 0x3f) << 6) | (s[2] & 0x3f);
        default:
                return ((uint32_t) (s[0] & 0x07) << 18) | ((uint32_t) (s[1] & 0x3f) << 12) |
                       ((uint32_t) (s[2] & 0x3f) << 6) | (s[3] & 0x3f);
        }
}

/* Controls, separators, Bidi_Control, and Unicode's Default_Ignorable_Code_Point
 * (DerivedCoreProperties.txt), unassigned ones included: a code point that
 * shows as nothing, or changes how its neighbours show, is never shown raw. */
bool text_codepoint_is_hidden(uint32_t c) {
        if (c < 0xa0)
                return c < 0x20 || c >= 0x7f;    /* C0, DEL, C1 */
        return c == 0x00ad ||                    /* soft hyphen */
               c == 0x034f ||                    /* combining grapheme joiner */
               c == 0x061c ||                    /* Arabic letter mark */
               c == 0x115f || c == 0x1160 ||     /* Hangul choseong/jungseong fillers */
               c == 0x17b4 || c == 0x17b5 ||     /* Khmer inherent vowels */
               (c >= 0x180b && c <= 0x180f) ||   /* Mongolian variation selectors, vowel separator */
               (c >= 0x200b && c <= 0x200f) ||   /* zero-width space/non-joiner/joiner, LRM, RLM */
               (c >= 0x2028 && c <= 0x202e) ||   /* line/paragraph separators, embeddings, overrides */
               (c >= 0x2060 && c <= 0x206f) ||   /* word joiner, invisible operators, isolates, deprecated */
               c == 0x3164 ||                    /* Hangul filler */
               (c >= 0xfe00 && c <= 0xfe0f) ||   /* variation selectors */
               c == 0xfeff ||                    /* zero-width no-break space (BOM) */
               c == 0xffa0 ||                    /* halfwidth Hangul filler */
               (c >= 0xfff0 && c <= 0xfffb) ||   /* unassigned, interlinear annotation */
               (c >= 0x1bca0 && c <= 0x1bca3) || /* shorthand format controls */
               (c >= 0x1d173 && c <= 0x1d17a) || /* musical symbol format controls */
               (c >= 0xe0000 && c <= 0xe0fff);   /* tags, variation selectors supplement */
}

bool text_is_clean(const char *str, size_t len) {
        const unsigned char *s = (const unsigned char *) str;

        assert(str || len == 0);

        for (size_t i = 0; i < len;) {
                size_t n = utf8_sequence_len(s + i, len - i);
                if (n == 0 || text_codepoint_is_hidden(utf8_decode(s + i, n)))
                        return false;
                i += n;
        }
        return true;
}

/* The escape for what starts at s (n bytes, or 0 when not valid UTF-8) into
 * esc; returns its length, or 0 when the sequence is kept as it is. */
static size_t text_escape_one(const unsigned char *s, size_t n, unsigned flags, char esc[static 11]) {
        static const char hex[] = "0123456789abcdef";
        uint32_t c;
        size_t digits;

        if (n == 0 || (n == 1 && text_codepoint_is_hidden(s[0]))) {
                esc[0] = '\\';
                esc[1] = 'x';
                esc[2] = hex[s[0] >> 4];
                esc[3] = hex[s[0] & 0xf];
                return 4;
        }
        if (n == 1) {
                if (s[0] != '\\' || (flags & TEXT_KEEP_BACKSLASH))
                        return 0;
                esc[0] = esc[1] = '\\';
                return 2;
        }
        c = utf8_decode(s, n);
        if (!text_codepoint_is_hidden(c))
                return 0;
        digits = c > 0xffff ? 8 : 4;
        esc[0] = '\\';
        esc[1] = c > 0xffff ? 'U' : 'u';
        for (size_t k = 0; k < digits; k++)
                esc[2 + k] = hex[(c >> (4 * (digits - 1 - k))) & 0xf];
        return 2 + digits;
}

char *text_sanitize_flags(const char *in, size_t in_len, size_t max, unsigned flags, bool *truncated) {
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
                char esc[11];
                size_t e = text_escape_one(s + i, n, flags, esc);
                const char *piece = e ? esc : (const char *) s + i;
                size_t piece_len = e ? e : n;

                if (o + piece_len > max) {
                        cut = true;
                        break;
                }
                memcpy(out + o, piece, piece_len);
                o += piece_len;
                /* One offending byte at a time: invalid UTF-8 resynchronises. */
                i += n ? n : 1;
        }
        out[o] = 0;
        if (truncated)
                *truncated = cut;
        return out;
}

char *text_sanitize(const char *in, size_t in_len, size_t max, bool *truncated) {
        return text_sanitize_flags(in, in_len, max, 0, truncated);
}

char *hex_encode(const void *p, size_t len) {
        static const char hex[] = "0123456789abcdef";
        const unsigned char *s = p;
        char *out;

        assert(p || len == 0);

        out = malloc(len * 2 + 1);
        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i++) {
                out[2 * i] = hex[s[i] >> 4];
                out[2 * i + 1] = hex[s[i] & 0xf];
        }
        out[len * 2] = 0;
        return out;
}
