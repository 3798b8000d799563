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

/* Strict "YYYY-MM-DD" with a real calendar date. 0, -EINVAL when it is not
 * written so, or -ERANGE for a well-formed day that does not exist
 * ("2027-02-30", "2027-13-01"). */
int parse_date(const char *s, int *ret_year, int *ret_month, int *ret_day);
int date_days_in_month(int year, int month); /* 0 for a month that does not exist */

#define DATE_REASON_MAX 64
/* Why a date parse_date() gave -ERANGE for does not exist: "2027-02 has 28
 * days", "there is no month 13". Returns buf. */
char *date_nonexistent_reason(char buf[static DATE_REASON_MAX], const char *s);

/* An RFC 3339 date-time with its offset, e.g. "2026-11-21T18:00:00+09:00",
 * "2026-11-21T09:00:00Z", "2026-11-21t09:00:00.250z" (fraction kept to the
 * microsecond). A time without an offset is refused: it would mean a
 * different instant on every machine. 0, -EINVAL, or -ERANGE when its date
 * does not exist. */
int parse_rfc3339(const char *s, usec_t *ret);

/* An allow entry's `expires`: a date, allowing through that local day, or an
 * RFC 3339 date-time. *ret is the first instant it no longer allows. 0,
 * -ERANGE (a date that does not exist) or -EINVAL. */
int parse_expiry(const char *s, usec_t *ret);
bool expiry_is_date(const char *s); /* "YYYY-MM-DD" rather than a date-time */

/* The first microsecond after the given local calendar day ends (local midnight of
 * the next day): an allow entry with `expires = "2027-03-31"` allows through the 31st. */
usec_t date_end_local(int year, int month, int day);

/* "YYYY-MM-DD" as local midnight at its start. */
usec_t date_start_local(int year, int month, int day);
