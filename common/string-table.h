/* SPDX-License-Identifier: MIT */
#pragma once

/* Names of enum values, from one table per enum:
 *
 *     static const char *const lock_tty_action_table[_LOCK_TTY_ACTION_MAX] = {
 *             [LOCK_TTY_IGNORE] = "ignore",
 *             ...
 *     };
 *     DEFINE_STRING_TABLE_LOOKUP(lock_tty_action, LockTtyAction);
 *
 * gives lock_tty_action_to_string() and lock_tty_action_from_string().
 * _from_string() returns int, not the enum: our enums have no negative member, so the
 * compiler may make them unsigned and a caller's "r < 0" would never be true. It returns
 * -EINVAL for NULL and for every name not in the table (names compare case-sensitively).
 * _to_string() returns NULL for a value out of the table, or with the _FALLBACK variants
 * a fixed name, for callers that print whatever they are given. */

#include <errno.h>
#include <stddef.h>
#include <strings.h>

#include "macro.h"

/* The index of key in table, or -EINVAL. Holes (NULL entries) never match. */
static inline int string_table_lookup(const char *const *table, size_t n, const char *key) {
        if (!key)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (table[i] && streq(table[i], key))
                        return (int) i;
        return -EINVAL;
}

/* The same, ignoring ASCII case (for names typed on a command line or in the environment). */
static inline int string_table_lookup_case(const char *const *table, size_t n, const char *key) {
        if (!key)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (table[i] && strcasecmp(table[i], key) == 0)
                        return (int) i;
        return -EINVAL;
}

/* A negative value converts to a huge size_t, so one comparison rejects both ends. */
#define _DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type, scope, fallback) \
        scope const char *name##_to_string(type i) { \
                if ((size_t) i >= ELEMENTSOF(name##_table) || !name##_table[i]) \
                        return fallback; \
                return name##_table[i]; \
        }

#define _DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name, scope) \
        scope int name##_from_string(const char *s) { \
                return string_table_lookup(name##_table, ELEMENTSOF(name##_table), s); \
        }

/* Ends in a declaration so that the use takes a semicolon like any other. */
#define _STRING_TABLE_END(name) _Static_assert(ELEMENTSOF(name##_table) > 0, #name "_table is empty")

#define DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type) \
        _DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type, , NULL) \
        _STRING_TABLE_END(name)
#define DEFINE_STRING_TABLE_LOOKUP_TO_STRING_FALLBACK(name, type, fallback) \
        _DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type, , fallback) \
        _STRING_TABLE_END(name)
#define DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name) \
        _DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name, ) \
        _STRING_TABLE_END(name)
#define DEFINE_STRING_TABLE_LOOKUP(name, type) \
        _DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type, , NULL) \
        _DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name, ) \
        _STRING_TABLE_END(name)
#define DEFINE_STRING_TABLE_LOOKUP_FALLBACK(name, type, fallback) \
        _DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type, , fallback) \
        _DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name, ) \
        _STRING_TABLE_END(name)

/* The same for a table used only inside one file. */
#define DEFINE_PRIVATE_STRING_TABLE_LOOKUP_TO_STRING(name, type) \
        _DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type, static, NULL) \
        _STRING_TABLE_END(name)
#define DEFINE_PRIVATE_STRING_TABLE_LOOKUP_TO_STRING_FALLBACK(name, type, fallback) \
        _DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type, static, fallback) \
        _STRING_TABLE_END(name)
#define DEFINE_PRIVATE_STRING_TABLE_LOOKUP_FROM_STRING(name) \
        _DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name, static) \
        _STRING_TABLE_END(name)
