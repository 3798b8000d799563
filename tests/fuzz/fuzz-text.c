/* SPDX-License-Identifier: MIT */
/* Hostile device strings: the sanitizer must produce clean, bounded text and
 * the JSON writer valid JSON, whatever the bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        bool cut = false;
        char *s = text_sanitize((const char *) data, size, TEXT_DEVICE_MAX, &cut);
        if (!s)
                return 0;
        if (strlen(s) > TEXT_DEVICE_MAX || !text_is_clean(s, strlen(s)))
                abort();

        JsonWriter w = JSON_WRITER_INIT;
        json_object_begin(&w);
        json_key(&w, "raw");
        json_string_len(&w, (const char *) data, size);
        json_kv_string(&w, "clean", s);
        json_object_end(&w);
        size_t len;
        char *j = json_steal(&w, &len);
        if (j) {
                /* No raw control byte and valid UTF-8 throughout. */
                for (size_t i = 0; i < len; i++)
                        if ((unsigned char) j[i] < 0x20)
                                abort();
                for (size_t i = 0; i < len;) {
                        size_t n = utf8_sequence_len((const unsigned char *) j + i, len - i);
                        if (n == 0)
                                abort();
                        i += n;
                }
        }
        free(j);
        free(s);
        return 0;
}
