/* SPDX-License-Identifier: MIT */
/* console-api.h: what every handler shares (arguments, replies, times). */

#include "console-api.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "macro.h"
#include "text.h"

static const char *const role_names[] = {
        [CONSOLE_ROLE_NONE] = "none",
        [CONSOLE_ROLE_VIEWER] = "viewer",
        [CONSOLE_ROLE_REVIEWER] = "reviewer",
        [CONSOLE_ROLE_ADMIN] = "admin",
};

const char *console_role_to_string(ConsoleRole r) {
        return (size_t) r < ELEMENTSOF(role_names) ? role_names[r] : "none";
}

ConsoleRole console_role_from_string(const char *s) {
        for (size_t i = CONSOLE_ROLE_VIEWER; s && i < ELEMENTSOF(role_names); i++)
                if (strcmp(s, role_names[i]) == 0)
                        return (ConsoleRole) i;
        return CONSOLE_ROLE_NONE;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* URL-decodes [s, s+len) into buf ('+' is a space in a query). false when
 * it does not fit, has a bad escape, is not UTF-8 or holds a control. */
static bool url_decode(const char *s, size_t len, bool plus_space, char *buf, size_t size) {
        size_t o = 0;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (c == '%') {
                        if (i + 2 >= len)
                                return false;
                        int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
                        if (h < 0 || l < 0)
                                return false;
                        c = (char) (h * 16 + l);
                        i += 2;
                } else if (c == '+' && plus_space)
                        c = ' ';
                if (o + 1 >= size)
                        return false;
                buf[o++] = c;
        }
        buf[o] = 0;
        for (size_t i = 0; i < o;) {
                const unsigned char *u = (const unsigned char *) buf + i;
                if (*u < 0x20 || *u == 0x7f)
                        return false;
                size_t n = utf8_sequence_len(u, o - i);
                if (n == 0)
                        return false;
                i += n;
        }
        return true;
}

const char *console_arg(const ConsoleRequest *rq, const char *name, char *buf, size_t size, bool *invalid) {
        const char *q = rq->query;
        size_t nlen = strlen(name);
        while (q && *q) {
                const char *end = strchr(q, '&');
                size_t len = end ? (size_t) (end - q) : strlen(q);
                const char *eq = memchr(q, '=', len);
                size_t klen = eq ? (size_t) (eq - q) : len;
                if (klen == nlen && memcmp(q, name, nlen) == 0) {
                        const char *v = eq ? eq + 1 : q + len;
                        size_t vlen = (size_t) (q + len - v);
                        if (!url_decode(v, vlen, true, buf, size)) {
                                if (invalid)
                                        *invalid = true;
                                return NULL;
                        }
                        return buf;
                }
                q = end ? end + 1 : NULL;
        }
        return NULL;
}

const char *console_path_segment(const ConsoleRequest *rq, size_t n, char *buf, size_t size) {
        const char *p = rq->path;
        if (!p || *p != '/')
                return NULL;
        for (size_t i = 0;; i++) {
                p++; /* the '/' */
                const char *end = strchr(p, '/');
                size_t len = end ? (size_t) (end - p) : strlen(p);
                if (i == n) {
                        if (len == 0 || !url_decode(p, len, false, buf, size))
                                return NULL;
                        return buf;
                }
                if (!end)
                        return NULL;
                p = end;
        }
}

void console_reply_done(ConsoleReply *rp) {
        free(rp->body);
        rp->body = NULL;
        rp->len = 0;
}

static void reply_set(ConsoleReply *rp, unsigned status, const char *type, char *body, size_t len) {
        console_reply_done(rp);
        rp->status = status;
        snprintf(rp->content_type, sizeof rp->content_type, "%s", type);
        rp->body = body;
        rp->len = len;
}

int console_reply_json(ConsoleReply *rp, unsigned status, json_object *o) {
        if (!o)
                return -ENOMEM;
        size_t len = 0;
        const char *text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
        char *copy = text ? strndup(text, len) : NULL;
        json_object_put(o);
        if (!copy)
                return -ENOMEM;
        reply_set(rp, status, "application/json; charset=utf-8", copy, len);
        return 0;
}

int console_reply_error(ConsoleReply *rp, unsigned status, const char *code, const char *message) {
        json_object *o = json_object_new_object(), *e = json_object_new_object();
        if (!o || !e) {
                json_object_put(o);
                json_object_put(e);
                return -ENOMEM;
        }
        json_object_object_add(e, "code", json_object_new_string(code ?: "error"));
        json_object_object_add(e, "message", json_object_new_string(message ?: ""));
        json_object_object_add(o, "error", e);
        return console_reply_json(rp, status, o);
}

int console_reply_csv(ConsoleReply *rp, const char *filename, char *body, size_t len) {
        reply_set(rp, 200, "text/csv; charset=utf-8", body, len);
        snprintf(rp->filename, sizeof rp->filename, "%s", filename);
        for (char *p = rp->filename; *p; p++)
                if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' ||
                      *p == '_' || *p == '-'))
                        *p = '_';
        return 0;
}

json_object *console_json_time(int64_t us) {
        if (us == 0)
                return NULL;
        time_t t = (time_t) (us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
        long frac = (long) (us - (int64_t) t * 1000000);
        struct tm tm;
        if (!gmtime_r(&t, &tm))
                return NULL;
        char buf[96];
        snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
        return json_object_new_string(buf);
}

/* The process's TZ is the console's zone (collectord sets it at start,
 * before any thread): mktime() gives local midnight. */
int console_parse_time(const char *s, const char *zone, int64_t *ret) {
        (void) zone;
        if (!s)
                return -EINVAL;
        int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
        long frac = 0;
        size_t len = strlen(s);
        if (len == 10 && sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 && n == 10) {
                struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_isdst = -1 };
                if (mo < 1 || mo > 12 || d < 1 || d > 31)
                        return -EINVAL;
                time_t t = mktime(&tm);
                if (t == (time_t) -1)
                        return -EINVAL;
                *ret = (int64_t) t * 1000000;
                return 0;
        }
        if (len < 20 || len > 27 || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
                return -EINVAL;
        const char *p = s + 19;
        if (*p == '.') {
                p++;
                int digits = 0;
                while (*p >= '0' && *p <= '9' && digits < 6) {
                        frac = frac * 10 + (*p++ - '0');
                        digits++;
                }
                if (digits == 0)
                        return -EINVAL;
                for (; digits < 6; digits++)
                        frac *= 10;
        }
        if (strcmp(p, "Z") != 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
                return -EINVAL;
        struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec };
        time_t t = timegm(&tm);
        if (t == (time_t) -1)
                return -EINVAL;
        *ret = (int64_t) t * 1000000 + frac;
        return 0;
}

bool console_route_match(const char *pattern, const char *path) {
        while (*pattern && *path) {
                if (*pattern == '*') {
                        size_t seg = strcspn(path, "/");
                        if (seg == 0)
                                return false;
                        path += seg;
                        pattern++;
                } else if (*pattern++ != *path++)
                        return false;
        }
        return *pattern == 0 && *path == 0;
}
