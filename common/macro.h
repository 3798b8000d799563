/* SPDX-License-Identifier: MIT */
#pragma once

/* Small helpers used everywhere: cleanup attributes instead of goto chains,
 * ownership transfer, and a few string predicates. */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _pure_ __attribute__((pure))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _public_ __attribute__((visibility("default")))
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define USEC_PER_SEC ((uint64_t) 1000000ULL)
#define USEC_PER_DAY (86400 * USEC_PER_SEC)
#define USEC_PER_MSEC ((uint64_t) 1000ULL)
#define NSEC_PER_USEC ((uint64_t) 1000ULL)
#define USEC_INFINITY ((uint64_t) UINT64_MAX)

/* Take ownership of a pointer or fd out of a cleanup variable. */
#define TAKE_PTR(p)                          \
        ({                                   \
                __typeof__(p) _tp_ = (p);    \
                (p) = NULL;                  \
                _tp_;                        \
        })
/* The same for a struct whose cleanup frees what it holds: a zeroed one is left. */
#define TAKE_STRUCT(s)                                        \
        ({                                                    \
                __typeof__(s) *_ts_p_ = &(s), _ts_ = *_ts_p_; \
                *_ts_p_ = (__typeof__(s)){ 0 };               \
                _ts_;                                         \
        })
#define TAKE_FD(fd)                          \
        ({                                   \
                int _tf_ = (fd);             \
                (fd) = -EBADF;               \
                _tf_;                        \
        })

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                (void) close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Declares fooo_freep()/foo_unrefp() for a type with a free function. */
#define DEFINE_POINTER_CLEANUP(type, func)              \
        static inline void func##p(type **p) {          \
                if (*p)                                 \
                        func(*p);                       \
        }

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}
static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}
static inline bool isempty(const char *s) {
        return !s || !s[0];
}
static inline const char *strempty(const char *s) {
        return s ? s : "";
}
static inline const char *strna(const char *s) {
        return s ? s : "n/a";
}
static inline bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}
static inline bool endswith(const char *s, const char *suffix) {
        size_t l = strlen(s), k = strlen(suffix);
        return l >= k && memcmp(s + l - k, suffix, k) == 0;
}

/* free() and set to NULL, returning NULL, for use in expressions. */
#define mfree(p)                        \
        ({                              \
                free(p);                \
                (__typeof__(p)) NULL;   \
        })

/* Replace *dst with a copy of src. -ENOMEM on failure, *dst untouched. */
static inline int free_and_strdup(char **dst, const char *src) {
        char *t = NULL;
        if (src) {
                t = strdup(src);
                if (!t)
                        return -ENOMEM;
        }
        free(*dst);
        *dst = t;
        return 0;
}

/* Makes room for need elements in *p, which holds *cap of elem_size each: the
 * capacity doubles (from initial), so that appending one at a time stays cheap.
 * On -ENOMEM *p and *cap are as they were. */
static inline int grow_array(void **p, size_t *cap, size_t need, size_t elem_size, size_t initial) {
        size_t ncap;
        void *n;

        if (need <= *cap)
                return 0;
        ncap = MAX(*cap > 0 ? *cap * 2 : initial, need);
        n = reallocarray(*p, ncap, elem_size);
        if (!n)
                return -ENOMEM;
        *p = n;
        *cap = ncap;
        return 0;
}
/* grow_array() on a typed array: GROW_ARRAY(r->items, r->cap, r->n + 1, 64). A void *
 * in between, rather than casting &array to void **, keeps the types honest. */
#define GROW_ARRAY(array, cap, need, initial)                                                  \
        ({                                                                                     \
                void *_ga_p = (array);                                                         \
                int _ga_r = grow_array(&_ga_p, &(cap), (need), sizeof *(array), (initial));    \
                (array) = _ga_p;                                                               \
                _ga_r;                                                                         \
        })

static inline int negative_errno(void) {
        int e = errno; /* read once: the analyzer takes two reads for two values */
        return e > 0 ? -e : -EIO;
}

#include <dirent.h>
static inline void closedirp_(DIR **d) {
        if (*d)
                (void) closedir(*d);
}
