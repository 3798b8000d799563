/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "macro.h"
#include "notice-ratelimit.h"

void notice_ratelimit_done(NoticeRateLimit *rl) {
        assert(rl);

        for (size_t i = 0; i < NOTICE_RECENT_MAX; i++)
                free(rl->recent[i].key);
        *rl = (NoticeRateLimit){ 0 };
}

bool notice_ratelimit_seen(NoticeRateLimit *rl, const char *key, usec_t window, usec_t now) {
        NoticeRecent *slot;
        char *copy;

        assert(rl);
        assert(key);

        for (size_t i = 0; i < NOTICE_RECENT_MAX; i++) {
                NoticeRecent *e = &rl->recent[i];
                if (!e->key || !streq(e->key, key))
                        continue;
                if (now - e->at < window) {
                        e->at = now; /* still happening: the window slides */
                        return true;
                }
                e->at = now;
                return false;
        }
        copy = strdup(key);
        if (!copy)
                return false;
        slot = &rl->recent[rl->next];
        free(slot->key);
        *slot = (NoticeRecent){ .key = copy, .at = now };
        rl->next = (rl->next + 1) % NOTICE_RECENT_MAX;
        return false;
}

static void notice_ratelimit_refill(NoticeRateLimit *rl, unsigned burst, usec_t interval, usec_t now) {
        uint64_t steps;

        if (!rl->started || interval == 0) {
                rl->started = true;
                rl->tokens = burst;
                rl->refilled_at = now;
                return;
        }
        if (rl->tokens > burst) /* burst lowered by a reload */
                rl->tokens = burst;
        if (now < rl->refilled_at)
                return;
        steps = (now - rl->refilled_at) / interval;
        if (steps >= burst - rl->tokens) {
                rl->tokens = burst;
                rl->refilled_at = now;
        } else {
                rl->tokens += (unsigned) steps;
                rl->refilled_at += steps * interval;
        }
}

bool notice_ratelimit_take(NoticeRateLimit *rl, unsigned burst, usec_t interval, usec_t now) {
        assert(rl);

        notice_ratelimit_refill(rl, burst, interval, now);
        if (rl->tokens == 0)
                return false;
        rl->tokens--;
        return true;
}

usec_t notice_ratelimit_next(NoticeRateLimit *rl, unsigned burst, usec_t interval, usec_t now) {
        assert(rl);

        notice_ratelimit_refill(rl, burst, interval, now);
        if (rl->tokens > 0)
                return now;
        return rl->refilled_at + interval;
}
