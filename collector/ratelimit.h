/* SPDX-License-Identifier: MIT */
#pragma once

/* The per-host rate of batches (issue 12 item 2): a token bucket per sender
 * (the client certificate's fingerprint, else the peer's address). PURE: the
 * caller passes the clock and holds whatever lock it needs. The table is
 * bounded: when it is full, a sender whose bucket has filled up again is
 * forgotten (a full bucket is what a new sender gets anyway); when none has,
 * the least recently seen one is. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_KEY_MAX 96

typedef struct RateBucket {
        char key[RATELIMIT_KEY_MAX];
        double tokens;
        int64_t last_us;
        bool used;
} RateBucket;

typedef struct RateLimit {
        double rate;  /* tokens per second */
        double burst; /* bucket size */
        RateBucket *buckets;
        size_t size; /* slots (open addressing) */
        size_t n;
} RateLimit;

/* size: how many senders are remembered at most. rate <= 0: no limit. */
int ratelimit_init(RateLimit *rl, double rate, unsigned burst, size_t size);
void ratelimit_done(RateLimit *rl);
/* Changes rate and burst, keeping what the senders have used (a reload). */
void ratelimit_set(RateLimit *rl, double rate, unsigned burst);

/* Takes one token for key at now_us. Returns 0 when allowed, else the
 * seconds (>= 1) to wait before the next one is (Retry-After). */
unsigned ratelimit_take(RateLimit *rl, const char *key, int64_t now_us);
