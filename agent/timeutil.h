/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

typedef uint64_t usec_t;

#define RFC3339_MAX 64

usec_t now_usec(clockid_t clock);

/* "2026-11-21T23:27:23.123456Z" (UTC). Returns buf. */
char *format_rfc3339(char buf[static RFC3339_MAX], usec_t realtime);

/* Strict "YYYY-MM-DD" with a real calendar date. 0 or -EINVAL. */
int parse_date(const char *s, int *ret_year, int *ret_month, int *ret_day);

/* An RFC 3339 date-time with its offset, e.g. "2026-11-21T18:00:00+09:00",
 * "2026-11-21T09:00:00Z", "2026-11-21t09:00:00.250z" (fraction kept to the
 * microsecond). A time without an offset is refused: it would mean a
 * different instant on every machine. 0 or -EINVAL. */
int parse_rfc3339(const char *s, usec_t *ret);

/* The first microsecond after the given local calendar day ends (local midnight of
 * the next day): an allow entry with `expires = "2027-03-31"` allows through the 31st. */
usec_t date_end_local(int year, int month, int day);

/* "YYYY-MM-DD" as local midnight at its start. */
usec_t date_start_local(int year, int month, int day);
