/* SPDX-License-Identifier: MIT */
#include "text-bidi.h"

uint32_t utf8_decode(const unsigned char *s, size_t n) {
        switch (n) {
        case 1: return s[0];
        case 2: return ((uint32_t) (s[0] & 0x1f) << 6) | (s[1] & 0x3f);
        case 3: return ((uint32_t) (s[0] & 0x0f) << 12) | ((uint32_t) (s[1] & 0x3f) << 6) | (s[2] & 0x3f);
        default:
                return ((uint32_t) (s[0] & 0x07) << 18) | ((uint32_t) (s[1] & 0x3f) << 12) |
                       ((uint32_t) (s[2] & 0x3f) << 6) | (s[3] & 0x3f);
        }
}

bool codepoint_is_deceptive(uint32_t c) {
        return c < 0x20 || (c >= 0x7f && c <= 0x9f) || /* C0, DEL, C1 */
               c == 0xad ||                             /* soft hyphen */
               c == 0x061c ||                           /* Arabic letter mark */
               c == 0x180e ||                           /* Mongolian vowel separator */
               (c >= 0x200b && c <= 0x200f) ||          /* zero-width, LRM, RLM */
               (c >= 0x2028 && c <= 0x202e) ||          /* separators, embeddings, overrides */
               (c >= 0x2060 && c <= 0x2069) ||          /* word joiner, invisible operators, isolates */
               c == 0xfeff ||                           /* zero-width no-break space */
               (c >= 0xfff9 && c <= 0xfffb);            /* interlinear annotation */
}
