/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "timeutil.h"

usec_t now_usec(clockid_t clock) {
        struct timespec ts;
        if (clock_gettime(clock, &ts) < 0)
                return 0;
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / NSEC_PER_USEC;
}

char *format_rfc3339(char buf[static RFC3339_MAX], usec_t t) {
        time_t sec = (time_t) (t / USEC_PER_SEC);
        struct tm tm;

        assert(buf);

        if (!gmtime_r(&sec, &tm)) {
                snprintf(buf, RFC3339_MAX, "1970-01-01T00:00:00.000000Z");
                return buf;
        }
        snprintf(buf, RFC3339_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned) (t % USEC_PER_SEC));
        return buf;
}

static bool timeutil_is_leap(int y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int date_days_in_month(int year, int month) {
        static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        if (month < 1 || month > 12)
                return 0;
        return mdays[month - 1] + (month == 2 && timeutil_is_leap(year));
}

int parse_date(const char *s, int *ret_year, int *ret_month, int *ret_day) {
        int y, m, d;

        if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
                return -EINVAL;
        for (int i = 0; i < 10; i++)
                if (i != 4 && i != 7 && !isdigit((unsigned char) s[i]))
                        return -EINVAL;
        y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
        m = (s[5] - '0') * 10 + (s[6] - '0');
        d = (s[8] - '0') * 10 + (s[9] - '0');
        if (y < 1970)
                return -EINVAL;
        /* Well formed, but no such day: told apart, so that "2027-02-30" is
         * reported as a date that does not exist rather than as a typo. */
        if (d < 1 || d > date_days_in_month(y, m))
                return -ERANGE;
        if (ret_year)
                *ret_year = y;
        if (ret_month)
                *ret_month = m;
        if (ret_day)
                *ret_day = d;
        return 0;
}

usec_t date_start_local(int year, int month, int day) {
        struct tm tm = {
                .tm_year = year - 1900,
                .tm_mon = month - 1,
                .tm_mday = day,
                .tm_isdst = -1,
        };
        time_t t = mktime(&tm);
        if (t == (time_t) -1)
                return USEC_INFINITY;
        return (usec_t) t * USEC_PER_SEC;
}

usec_t date_end_local(int year, int month, int day) {
        /* mktime normalises day 32 into the next month. */
        return date_start_local(year, month, day + 1);
}

static int timeutil_digits(const char *s, size_t n) {
        int v = 0;
        for (size_t i = 0; i < n; i++) {
                if (!isdigit((unsigned char) s[i]))
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        return v;
}

int parse_rfc3339(const char *s, usec_t *ret) {
        int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
        usec_t frac = 0;
        struct tm tm;
        const char *p;
        time_t t;
        int64_t total;

        /* date-time = full-date "T" partial-time time-offset (RFC 3339 section 5.6) */
        if (!s || strlen(s) < 20 || (s[10] != 'T' && s[10] != 't'))
                return -EINVAL;
        {
                char date[11];
                memcpy(date, s, 10);
                date[10] = 0;
                int r = parse_date(date, &y, &mo, &d);
                if (r < 0)
                        return r;
        }
        if (s[13] != ':' || s[16] != ':')
                return -EINVAL;
        h = timeutil_digits(s + 11, 2);
        mi = timeutil_digits(s + 14, 2);
        sec = timeutil_digits(s + 17, 2);
        if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60) /* 60: a leap second */
                return -EINVAL;
        p = s + 19;
        if (*p == '.') {
                usec_t scale = USEC_PER_SEC / 10;
                size_t n = 0;
                for (p++; isdigit((unsigned char) *p); p++, n++) {
                        if (n >= 9)
                                return -EINVAL;
                        frac += (usec_t) (*p - '0') * scale;
                        scale /= 10;
                }
                if (n == 0)
                        return -EINVAL;
        }
        if ((*p == 'Z' || *p == 'z') && p[1] == 0)
                sign = 0;
        else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
                sign = *p == '+' ? 1 : -1;
                oh = timeutil_digits(p + 1, 2);
                om = timeutil_digits(p + 4, 2);
                if (oh < 0 || oh > 23 || om < 0 || om > 59)
                        return -EINVAL;
        } else
                return -EINVAL;

        tm = (struct tm){
                .tm_year = y - 1900,
                .tm_mon = mo - 1,
                .tm_mday = d,
                .tm_hour = h,
                .tm_min = mi,
                .tm_sec = sec,
        };
        t = timegm(&tm);
        if (t == (time_t) -1)
                return -EINVAL;
        total = (int64_t) t - sign * (int64_t) (oh * 3600 + om * 60);
        if (total < 0)
                return -EINVAL;
        if (ret)
                *ret = (usec_t) total * USEC_PER_SEC + frac;
        return 0;
}

int parse_expiry(const char *s, usec_t *ret) {
        int ymd[3], r = parse_date(s, &ymd[0], &ymd[1], &ymd[2]);
        if (r >= 0) {
                if (ret)
                        *ret = date_end_local(ymd[0], ymd[1], ymd[2]);
                return 0;
        }
        if (r == -ERANGE)
                return r;
        return parse_rfc3339(s, ret);
}

bool expiry_is_date(const char *s) {
        return parse_date(s, NULL, NULL, NULL) >= 0;
}

char *date_nonexistent_reason(char buf[static DATE_REASON_MAX], const char *s) {
        int y, m;

        assert(buf);

        /* Only for what parse_date() called -ERANGE: "YYYY-MM-DD" digits. */
        if (!s || strlen(s) < 10 || sscanf(s, "%4d-%2d", &y, &m) != 2)
                snprintf(buf, DATE_REASON_MAX, "no such date");
        else if (m < 1 || m > 12)
                snprintf(buf, DATE_REASON_MAX, "there is no month %02d", m);
        else
                snprintf(buf, DATE_REASON_MAX, "%04d-%02d has %d days", y, m, date_days_in_month(y, m));
        return buf;
}
