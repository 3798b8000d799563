/* SPDX-License-Identifier: MIT */
#include "ratelimit.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

int ratelimit_init(RateLimit *rl, double rate, unsigned burst, size_t size) {
        *rl = (RateLimit){ .rate = rate, .burst = MAX(burst, 1u) };
        rl->size = MAX(size, (size_t) 16);
        rl->buckets = calloc(rl->size, sizeof *rl->buckets);
        return rl->buckets ? 0 : -ENOMEM;
}

void ratelimit_done(RateLimit *rl) {
        free(rl->buckets);
        *rl = (RateLimit){ 0 };
}

void ratelimit_set(RateLimit *rl, double rate, unsigned burst) {
        rl->rate = rate;
        rl->burst = MAX(burst, 1u);
}

static uint64_t hash_key(const char *s) {
        uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * UINT64_C(1099511628211);
        return h;
}

static void refill(RateLimit *rl, RateBucket *b, int64_t now_us) {
        if (now_us > b->last_us) {
                b->tokens = MIN(rl->burst, b->tokens + rl->rate * (double) (now_us - b->last_us) / 1e6);
                b->last_us = now_us;
        }
}

/* A slot for key: its own, else a free one; with the table full, one whose
 * bucket is full again, else the least recently seen. Probes are bounded. */
static RateBucket *find_slot(RateLimit *rl, const char *key, int64_t now_us) {
        size_t start = (size_t) (hash_key(key) % rl->size), probes = MIN(rl->size, (size_t) 64);
        RateBucket *victim = NULL;

        for (size_t i = 0; i < probes; i++) {
                RateBucket *b = &rl->buckets[(start + i) % rl->size];
                if (!b->used)
                        return b;
                if (streq(b->key, key))
                        return b;
                refill(rl, b, now_us);
                if (b->tokens >= rl->burst)
                        return b; /* forgotten: it would start full anyway */
                if (!victim || b->last_us < victim->last_us)
                        victim = b;
        }
        return victim;
}

unsigned ratelimit_take(RateLimit *rl, const char *key, int64_t now_us) {
        RateBucket *b;
        double wait;

        if (rl->rate <= 0 || !rl->buckets)
                return 0;
        b = find_slot(rl, key, now_us);
        if (!b->used || !streq(b->key, key)) {
                if (!b->used)
                        rl->n++;
                *b = (RateBucket){ .tokens = rl->burst, .last_us = now_us, .used = true };
                snprintf(b->key, sizeof b->key, "%s", key);
        }
        refill(rl, b, now_us);
        if (b->tokens >= 1.0) {
                b->tokens -= 1.0;
                return 0;
        }
        wait = ceil((1.0 - b->tokens) / rl->rate);
        return wait < 1 ? 1 : wait > 3600 ? 3600 : (unsigned) wait;
}
