/* SPDX-License-Identifier: MIT */
#pragma once

/* What to do with the answer to a batch, and when to try again. Pure. */

#include <stdint.h>

#include "macro.h"
#include "timeutil.h"

/* Classes by meaning, not by range (docs/events.md §1, issue 16): only an
 * answer that says "this content can never be stored" throws a batch out; a
 * collector that refuses us (a token, a certificate, a path to fix) keeps
 * every batch waiting until it is fixed. */
typedef enum RetryVerdict {
        RETRY_DELIVERED, /* 2xx: the batch leaves the spool */
        RETRY_LATER,     /* transport error, timeout, 408, 429, 5xx, 1xx, 3xx: try again */
        RETRY_SPLIT,     /* 413: send fewer events per batch (one event: dead-letter) */
        RETRY_REJECTED,  /* 400, 415, 422: the content can never be stored: dead-letter */
        RETRY_REFUSED,   /* every other 4xx (401, 403, 404, 405, 407, 421, 426, ...): a
                          * configuration to fix: keep the batch, back off, raise the alarm */
        _RETRY_VERDICT_MAX,
} RetryVerdict;

const char *retry_verdict_to_string(RetryVerdict v);

/* status 0: no HTTP answer at all (transport error). */
RetryVerdict retry_classify(long status);

/* The wait before attempt number `failures` + 1, after `failures` >= 1 failures in a
 * row: min * 2^(failures-1), capped at max, with "equal jitter" (a uniform
 * draw from the upper half) so that many agents do not come back in step.
 * `random` is any 64-bit random value. */
usec_t retry_backoff(unsigned failures, usec_t min, usec_t max, uint64_t random);

/* The shortest wait a Retry-After gets: "0" or a date in the past must not make
 * us send again at once, over and over. */
#define RETRY_AFTER_MIN (1 * USEC_PER_SEC)

/* Retry-After: delta-seconds or an HTTP-date (RFC 9110). The wait from
 * now_realtime, at least RETRY_AFTER_MIN, capped at max; -EINVAL if the value
 * is neither. */
int retry_after_parse(const char *value, usec_t now_realtime, usec_t max, usec_t *ret);
