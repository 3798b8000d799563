/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "av-date.h"
#include "macro.h"

typedef struct Cursor {
        const char *p, *end;
} Cursor;

static bool av_date_at_end(const Cursor *c) {
        return c->p >= c->end;
}

static void av_date_skip_blanks(Cursor *c) {
        while (!av_date_at_end(c) && (*c->p == ' ' || *c->p == '\t'))
                c->p++;
}

static bool av_date_eat(Cursor *c, char ch) {
        if (!av_date_at_end(c) && *c->p == ch) {
                c->p++;
                return true;
        }
        return false;
}

static bool av_date_eat_word(Cursor *c, const char *w) {
        size_t n = strlen(w);
        if ((size_t) (c->end - c->p) >= n && strncasecmp(c->p, w, n) == 0 &&
            ((size_t) (c->end - c->p) == n || !isalpha((unsigned char) c->p[n]))) {
                c->p += n;
                return true;
        }
        return false;
}

/* Between min_digits and max_digits decimal digits. */
static int av_date_number(Cursor *c, int min_digits, int max_digits, long long *ret) {
        long long v = 0;
        int n = 0;
        while (!av_date_at_end(c) && n < max_digits && isdigit((unsigned char) *c->p)) {
                v = v * 10 + (*c->p - '0');
                c->p++;
                n++;
        }
        if (n < min_digits)
                return -EBADMSG;
        *ret = v;
        return 0;
}

static bool av_date_is_leap(long long y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static bool av_date_date_ok(long long y, long long m, long long d) {
        static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        return y >= 1970 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 &&
               d <= mdays[m - 1] + (m == 2 && av_date_is_leap(y));
}

typedef struct Fields {
        long long year, month, day, hour, minute, second;
        usec_t frac;      /* microseconds */
        bool zoned;       /* an explicit zone: offset applies, not local time */
        long long offset; /* seconds east of UTC */
} Fields;

static int av_date_to_usec(const Fields *f, usec_t *ret) {
        struct tm tm = {
                .tm_year = (int) f->year - 1900,
                .tm_mon = (int) f->month - 1,
                .tm_mday = (int) f->day,
                .tm_hour = (int) f->hour,
                .tm_min = (int) f->minute,
                .tm_sec = (int) f->second,
                .tm_isdst = -1,
        };
        time_t t;

        if (!av_date_date_ok(f->year, f->month, f->day) || f->hour > 23 || f->minute > 59 || f->second > 60)
                return -EBADMSG;
        if (f->zoned) {
                t = timegm(&tm);
                if (t == (time_t) -1)
                        return -EBADMSG;
                t -= (time_t) f->offset;
        } else {
                t = mktime(&tm);
                if (t == (time_t) -1)
                        return -EBADMSG;
        }
        if (t < 0)
                return -EBADMSG;
        *ret = (usec_t) t * USEC_PER_SEC + f->frac;
        return 0;
}

static int av_date_parse_fraction(Cursor *c, usec_t *ret) {
        usec_t v = 0, scale = USEC_PER_SEC / 10;
        int n = 0;
        while (!av_date_at_end(c) && isdigit((unsigned char) *c->p)) {
                if (n < 6) {
                        v += (usec_t) (*c->p - '0') * scale;
                        scale /= 10;
                }
                c->p++;
                if (++n > 9)
                        return -EBADMSG;
        }
        if (n == 0)
                return -EBADMSG;
        *ret = v;
        return 0;
}

/* HH:MM[:SS[.frac]] */
static int av_date_parse_clock(Cursor *c, Fields *f, int min_hour_digits) {
        if (av_date_number(c, min_hour_digits, 2, &f->hour) < 0 || !av_date_eat(c, ':') ||
            av_date_number(c, 2, 2, &f->minute) < 0)
                return -EBADMSG;
        if (av_date_eat(c, ':')) {
                if (av_date_number(c, 2, 2, &f->second) < 0)
                        return -EBADMSG;
                if ((av_date_eat(c, '.') || av_date_eat(c, ',')) && av_date_parse_fraction(c, &f->frac) < 0)
                        return -EBADMSG;
        }
        return 0;
}

static int av_date_parse_iso(Cursor *c, Fields *f) {
        if (av_date_number(c, 4, 4, &f->year) < 0 || !av_date_eat(c, '-') || av_date_number(c, 2, 2, &f->month) < 0 ||
            !av_date_eat(c, '-') || av_date_number(c, 2, 2, &f->day) < 0)
                return -EBADMSG;
        if (av_date_at_end(c))
                return 0; /* a date alone: local midnight */
        if (!av_date_eat(c, 'T') && !av_date_eat(c, 't') && !av_date_eat(c, ' '))
                return -EBADMSG;
        if (av_date_parse_clock(c, f, 2) < 0)
                return -EBADMSG;
        av_date_skip_blanks(c);
        if (av_date_eat(c, 'Z') || av_date_eat(c, 'z') || av_date_eat_word(c, "UTC") || av_date_eat_word(c, "GMT")) {
                f->zoned = true;
                return 0;
        }
        if (!av_date_at_end(c) && (*c->p == '+' || *c->p == '-')) {
                long long sign = *c->p == '-' ? -1 : 1, h, m;
                c->p++;
                if (av_date_number(c, 2, 2, &h) < 0)
                        return -EBADMSG;
                (void) av_date_eat(c, ':');
                if (av_date_number(c, 2, 2, &m) < 0 || h > 23 || m > 59)
                        return -EBADMSG;
                f->zoned = true;
                f->offset = sign * (h * 3600 + m * 60);
        }
        return 0;
}

static int av_date_parse_month_name(Cursor *c, long long *ret) {
        static const char *const names[] = { "January", "February", "March",     "April",   "May",      "June",
                                             "July",    "August",   "September", "October", "November", "December" };
        for (int i = 0; i < 12; i++) {
                if (av_date_eat_word(c, names[i])) {
                        *ret = i + 1;
                        return 0;
                }
        }
        if (av_date_eat_word(c, "Sept")) {
                *ret = 9;
                return 0;
        }
        for (int i = 0; i < 12; i++) {
                char abbr[4] = { names[i][0], names[i][1], names[i][2], 0 };
                if (av_date_eat_word(c, abbr)) {
                        (void) av_date_eat(c, '.');
                        *ret = i + 1;
                        return 0;
                }
        }
        return -EBADMSG;
}

/* Mon[th] D[D], YYYY [at] H[H]:MM[:SS] [AM|PM] */
static int av_date_parse_mdatp(Cursor *c, Fields *f) {
        bool pm = false, am = false;
        if (av_date_parse_month_name(c, &f->month) < 0)
                return -EBADMSG;
        av_date_skip_blanks(c);
        if (av_date_number(c, 1, 2, &f->day) < 0)
                return -EBADMSG;
        (void) av_date_eat(c, ',');
        av_date_skip_blanks(c);
        if (av_date_number(c, 4, 4, &f->year) < 0)
                return -EBADMSG;
        av_date_skip_blanks(c);
        if (av_date_at_end(c))
                return 0;
        (void) av_date_eat(c, ',');
        av_date_skip_blanks(c);
        if (av_date_eat_word(c, "at"))
                av_date_skip_blanks(c);
        if (av_date_parse_clock(c, f, 1) < 0)
                return -EBADMSG;
        av_date_skip_blanks(c);
        if (av_date_eat_word(c, "PM") || av_date_eat_word(c, "p.m."))
                pm = true;
        else if (av_date_eat_word(c, "AM") || av_date_eat_word(c, "a.m."))
                am = true;
        if (pm || am) {
                if (f->hour < 1 || f->hour > 12)
                        return -EBADMSG;
                f->hour = f->hour % 12 + (pm ? 12 : 0);
        }
        av_date_skip_blanks(c);
        if (av_date_eat(c, 'Z') || av_date_eat_word(c, "UTC") || av_date_eat_word(c, "GMT"))
                f->zoned = true;
        return 0;
}

static int av_date_parse_seconds(Cursor *c, usec_t *ret) {
        long long s;
        usec_t frac = 0;
        if (av_date_number(c, 1, 12, &s) < 0)
                return -EBADMSG;
        if (av_date_eat(c, '.') && av_date_parse_fraction(c, &frac) < 0)
                return -EBADMSG;
        if (s <= 0 || (usec_t) s > UINT64_C(253402300799))
                return -EBADMSG;
        *ret = (usec_t) s * USEC_PER_SEC + frac;
        return 0;
}

/* The value in the first non-empty line, without quotes, "name :" or "[managed]". */
static void av_date_isolate_value(const char *text, size_t len, Cursor *ret) {
        const char *p = text, *end = text + len, *e, *colon;

        while (p < end && isspace((unsigned char) *p))
                p++;
        e = p;
        while (e < end && *e != '\n' && *e != '\r')
                e++;
        while (e > p && isspace((unsigned char) e[-1]))
                e--;
        /* "definitions_updated : Sept 08, ..." as `mdatp health` prints without --field */
        colon = memmem(p, (size_t) (e - p), " : ", 3);
        if (colon)
                p = colon + 3;
        if ((size_t) (e - p) >= 9 && strncmp(e - 9, "[managed]", 9) == 0)
                e -= 9;
        while (p < e && isspace((unsigned char) *p))
                p++;
        while (e > p && isspace((unsigned char) e[-1]))
                e--;
        if (e - p >= 2 && *p == '"' && e[-1] == '"') {
                p++;
                e--;
        }
        *ret = (Cursor){ p, e };
}

int av_date_parse(const char *text, size_t len, AvCommandOutput format, usec_t now, usec_t *ret) {
        assert(ret);
        Fields f = { 0 };
        Cursor c;
        usec_t t = 0; /* set by every parser that returns 0 */
        int r;

        if (!text || len > AV_DATE_TEXT_MAX || memchr(text, 0, len))
                return -EBADMSG;
        av_date_isolate_value(text, len, &c);
        if (av_date_at_end(&c))
                return -EBADMSG;

        switch (format) {
        case AV_OUTPUT_EPOCH:
                r = av_date_parse_seconds(&c, &t);
                break;
        case AV_OUTPUT_MINUTES_AGO: {
                long long m;
                r = av_date_number(&c, 1, 9, &m);
                if (r == 0 && (usec_t) m * 60 * USEC_PER_SEC > now)
                        r = -EBADMSG;
                if (r == 0)
                        t = now - (usec_t) m * 60 * USEC_PER_SEC;
                break;
        }
        case AV_OUTPUT_DATE:
                if (av_date_eat(&c, '@')) {
                        r = av_date_parse_seconds(&c, &t);
                        break;
                }
                r = isdigit((unsigned char) *c.p) ? av_date_parse_iso(&c, &f) : av_date_parse_mdatp(&c, &f);
                if (r == 0)
                        r = av_date_to_usec(&f, &t);
                break;
        default:
                return -EINVAL;
        }
        if (r < 0)
                return -EBADMSG;
        av_date_skip_blanks(&c);
        if (!av_date_at_end(&c))
                return -EBADMSG; /* anything left over: not what we think it is */
        *ret = t;
        return 0;
}
