/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <curl/curl.h>

#include "macro.h"
#include "retry.h"
#include "string-table.h"

static const char *const retry_verdict_table[_RETRY_VERDICT_MAX] = {
        [RETRY_DELIVERED] = "delivered", [RETRY_LATER] = "retry",     [RETRY_SPLIT] = "split",
        [RETRY_REJECTED] = "rejected",   [RETRY_REFUSED] = "refused",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING_FALLBACK(retry_verdict, RetryVerdict, "unknown");

RetryVerdict retry_classify(long status) {
        if (status >= 200 && status <= 299)
                return RETRY_DELIVERED;
        if (status == 408 || status == 429)
                return RETRY_LATER;
        if (status == 413)
                return RETRY_SPLIT;
        /* The collector says the content itself can never be stored. */
        if (status == 400 || status == 415 || status == 422)
                return RETRY_REJECTED;
        /* Who we are, where we send, how we get there: fixed by an admin, and
         * then every batch must still be there. */
        if (status >= 400 && status <= 499)
                return RETRY_REFUSED;
        /* 5xx, no answer, and what a collector should never say (1xx, 3xx:
         * redirects are not followed): keep the batch and try again. */
        return RETRY_LATER;
}

usec_t retry_backoff(unsigned failures, usec_t min, usec_t max, uint64_t random) {
        usec_t d = min;

        if (failures == 0)
                return 0;
        for (unsigned i = 1; i < failures && d < max; i++)
                d = d > max / 2 ? max : d * 2;
        d = MIN(d, max);
        /* [d/2, d] */
        return d / 2 + (d / 2 > 0 ? random % (d / 2 + 1) : 0);
}

int retry_after_parse(const char *value, usec_t now_realtime, usec_t max, usec_t *ret) {
        const char *p = value;
        time_t t;

        assert(ret);

        if (!value)
                return -EINVAL;
        while (*p == ' ' || *p == '\t')
                p++;
        if (*p >= '0' && *p <= '9') {
                uint64_t secs = 0;
                for (; *p >= '0' && *p <= '9'; p++) {
                        secs = secs * 10 + (uint64_t) (*p - '0');
                        if (secs > max / USEC_PER_SEC + 1)
                                secs = max / USEC_PER_SEC + 1;
                }
                while (*p == ' ' || *p == '\t')
                        p++;
                if (*p)
                        return -EINVAL;
                *ret = MIN(MAX(secs * USEC_PER_SEC, RETRY_AFTER_MIN), max);
                return 0;
        }
        /* curl_getdate() knows the three HTTP date forms. */
        t = curl_getdate(p, NULL);
        if (t < 0)
                return -EINVAL;
        if ((usec_t) t * USEC_PER_SEC <= now_realtime + RETRY_AFTER_MIN)
                *ret = MIN(RETRY_AFTER_MIN, max);
        else
                *ret = MIN((usec_t) t * USEC_PER_SEC - now_realtime, max);
        return 0;
}
