/* SPDX-License-Identifier: MIT */
#pragma once

/* How often the person at the seat may be told something. Pure: the caller
 * passes the time (CLOCK_MONOTONIC), so the unit tests drive the clock.
 *
 * Two rules: the same thing (a dedup key: device and reason) within a
 * window says nothing new, and the window slides while it keeps happening
 * (a phone that flips modes); and a token bucket caps everything else at
 * `burst` notices, then one per `interval`. */

#include <stdbool.h>

#include "timeutil.h"

#define NOTICE_RECENT_MAX 32

typedef struct NoticeRecent {
        char *key;
        usec_t at;
} NoticeRecent;

typedef struct NoticeRateLimit {
        bool started;
        unsigned tokens;
        usec_t refilled_at;
        NoticeRecent recent[NOTICE_RECENT_MAX];
        size_t next; /* ring position of the oldest entry */
} NoticeRateLimit;

void notice_ratelimit_done(NoticeRateLimit *rl);

/* True when key was seen less than window ago (the entry is refreshed);
 * otherwise remembers it and returns false. -ENOMEM is returned as false. */
bool notice_ratelimit_seen(NoticeRateLimit *rl, const char *key, usec_t window, usec_t now);

/* Takes a token if there is one. */
bool notice_ratelimit_take(NoticeRateLimit *rl, unsigned burst, usec_t interval, usec_t now);

/* When the next token will be there (now or later). */
usec_t notice_ratelimit_next(NoticeRateLimit *rl, unsigned burst, usec_t interval, usec_t now);
