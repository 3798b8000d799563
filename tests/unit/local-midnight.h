/* SPDX-License-Identifier: MIT */
#pragma once
/* Local midnights for the date tests, written out as epoch seconds (computed
 * once with Python's zoneinfo, never with the code under test). Meson runs
 * each date test once per time zone below (tests/meson.build), so a date
 * taken as UTC, or a day end off by the offset, fails in at least two. */
#include "unit.h"

#include "macro.h"
#include "timeutil.h"

/* The local midnight that starts a day, given for each zone the tests run in. */
static inline usec_t local_midnight(long long tokyo, long long utc, long long new_york) {
        const char *tz = getenv("TZ");
        long long s = 0;

        if (streq_ptr(tz, "Asia/Tokyo"))
                s = tokyo;
        else if (streq_ptr(tz, "UTC"))
                s = utc;
        else if (streq_ptr(tz, "America/New_York"))
                s = new_york;
        else
                fail_msg("TZ=%s: the date tests know Asia/Tokyo, UTC and America/New_York only", tz ? tz : "(unset)");
        return (usec_t) s * USEC_PER_SEC;
}
