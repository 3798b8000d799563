/* SPDX-License-Identifier: MIT */
#pragma once

/* A streaming JSON writer: the only place in mamori that escapes JSON.
 * Whatever bytes a string holds, the output is valid JSON: invalid UTF-8
 * becomes U+FFFD and control characters are \u-escaped. Allocation
 * failure is sticky and reported once by json_error(). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 32

typedef struct JsonWriter {
        char *buf;
        size_t len, cap;
        bool failed;
        unsigned depth;
        bool has_items[JSON_MAX_DEPTH]; /* does the container at this depth hold an item yet */
        bool after_key;
} JsonWriter;

#define JSON_WRITER_INIT ((JsonWriter){ 0 })

void json_writer_free(JsonWriter *w);
void json_writer_reset(JsonWriter *w);
int json_error(const JsonWriter *w);
/* Hands out the NUL-terminated buffer; NULL (and -ENOMEM) when anything failed. */
char *json_steal(JsonWriter *w, size_t *ret_len);

void json_object_begin(JsonWriter *w);
void json_object_end(JsonWriter *w);
void json_array_begin(JsonWriter *w);
void json_array_end(JsonWriter *w);
void json_key(JsonWriter *w, const char *key);

void json_string(JsonWriter *w, const char *s); /* NULL writes null */
void json_string_len(JsonWriter *w, const char *s, size_t n);
void json_int(JsonWriter *w, int64_t v);
void json_uint(JsonWriter *w, uint64_t v);
void json_double(JsonWriter *w, double v);
void json_bool(JsonWriter *w, bool v);
void json_null(JsonWriter *w);
/* A value that is already valid JSON (e.g. rendered by another JsonWriter). */
void json_raw(JsonWriter *w, const char *raw, size_t n);

static inline void json_kv_string(JsonWriter *w, const char *k, const char *v) {
        json_key(w, k);
        json_string(w, v);
}
static inline void json_kv_int(JsonWriter *w, const char *k, int64_t v) {
        json_key(w, k);
        json_int(w, v);
}
static inline void json_kv_uint(JsonWriter *w, const char *k, uint64_t v) {
        json_key(w, k);
        json_uint(w, v);
}
static inline void json_kv_bool(JsonWriter *w, const char *k, bool v) {
        json_key(w, k);
        json_bool(w, v);
}

/* Appends the escaped body of a JSON string (without the quotes) to w. */
void json_escape_into(JsonWriter *w, const char *s, size_t n);

/* Splices the members of a rendered object ("{...}") into the object being written. */
void json_members_raw(JsonWriter *w, const char *obj, size_t n);
