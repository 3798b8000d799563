/* SPDX-License-Identifier: MIT */
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
        if (!gmtime_r(&sec, &tm)) {
                snprintf(buf, RFC3339_MAX, "1970-01-01T00:00:00.000000Z");
                return buf;
        }
        snprintf(buf, RFC3339_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (unsigned) (t % USEC_PER_SEC));
        return buf;
}

static bool is_leap(int y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int parse_date(const char *s, int *ret_year, int *ret_month, int *ret_day) {
        static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        int y, m, d;

        if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
                return -EINVAL;
        for (int i = 0; i < 10; i++)
                if (i != 4 && i != 7 && !isdigit((unsigned char) s[i]))
                        return -EINVAL;
        y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
        m = (s[5] - '0') * 10 + (s[6] - '0');
        d = (s[8] - '0') * 10 + (s[9] - '0');
        if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1)
                return -EINVAL;
        if (d > mdays[m - 1] + (m == 2 && is_leap(y)))
                return -EINVAL;
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
