/* SPDX-License-Identifier: MIT */
#include "text-bidi.h"

bool codepoint_is_deceptive(uint32_t c) {
        return text_codepoint_is_hidden(c);
}
