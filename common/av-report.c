/* SPDX-License-Identifier: MIT */
/* The detection report's protocol (av-report.h): the parser mamorid runs on
 * every message of its report socket, the writer of mamori-av-report, and
 * the rate limit of the socket. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "av-report.h"
#include "text.h"

void av_report_done(AvReport *r) {
        if (!r)
                return;
        free(r->engine);
        free(r->signature);
        free(r->path);
        free(r->raw_path);
        *r = (AvReport){ 0 };
}

bool av_report_engine_ok(const char *s) {
        size_t l;

        if (!s)
                return false;
        l = strlen(s);
        return l > 0 && l <= AV_REPORT_ENGINE_MAX && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == l;
}

static int av_report_unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* v[0..n) with %XX decoded, into a new NUL-terminated string of at most max
 * bytes; a decoded NUL is refused (no C string could carry it). */
static int av_report_decode(const char *v, size_t n, size_t max, char **ret, size_t *ret_len) {
        _cleanup_free_ char *out = NULL;
        size_t o = 0;

        out = malloc(n + 1);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                char c = v[i];
                if (c == '%') {
                        int hi, lo;
                        if (n - i < 3)
                                return -EBADMSG;
                        hi = av_report_unhex(v[i + 1]);
                        lo = av_report_unhex(v[i + 2]);
                        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                                return -EBADMSG;
                        c = (char) (hi << 4 | lo);
                        i += 2;
                } else if ((unsigned char) c < 0x20 || c == 0x7f)
                        return -EBADMSG; /* raw controls must be escaped */
                if (o >= max)
                        return -EMSGSIZE;
                out[o++] = c;
        }
        out[o] = 0;
        *ret_len = o;
        *ret = TAKE_PTR(out);
        return 0;
}

enum { AV_KEY_ENGINE, AV_KEY_SIGNATURE, AV_KEY_PATH, _AV_KEY_MAX };
static const char *const av_report_keys[_AV_KEY_MAX] = {
        [AV_KEY_ENGINE] = "engine",
        [AV_KEY_SIGNATURE] = "signature",
        [AV_KEY_PATH] = "path",
};
static const size_t av_report_key_max[_AV_KEY_MAX] = {
        [AV_KEY_ENGINE] = AV_REPORT_ENGINE_MAX,
        [AV_KEY_SIGNATURE] = AV_REPORT_SIGNATURE_MAX,
        [AV_KEY_PATH] = AV_REPORT_PATH_MAX,
};

static int av_report_fail(const char **ret_reason, const char *reason, int r) {
        if (ret_reason)
                *ret_reason = reason;
        return r;
}

int av_report_parse(const void *buf, size_t len, AvReport *ret, const char **ret_reason) {
        const char *p = buf, *end;
        char *val[_AV_KEY_MAX] = { 0 };
        size_t val_len[_AV_KEY_MAX] = { 0 };
        const size_t magic_len = strlen(AV_REPORT_MAGIC);
        AvReport rep = { 0 };
        const char *reason = NULL;
        int r = 0;

        assert(ret);
        assert(buf || len == 0);

        if (len > AV_REPORT_MAX)
                return av_report_fail(ret_reason, "too_long", -EMSGSIZE);
        if (len < magic_len + 1 || memcmp(p, AV_REPORT_MAGIC "\n", magic_len + 1) != 0)
                return av_report_fail(ret_reason, "bad_magic", -EBADMSG);
        end = p + len;
        p += magic_len + 1;

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p)), *eq;
                size_t k;

                if (!nl) {
                        reason = "bad_line"; /* no final newline: cut short */
                        r = -EBADMSG;
                        break;
                }
                eq = memchr(p, '=', (size_t) (nl - p));
                if (!eq || memchr(p, 0, (size_t) (nl - p))) {
                        reason = "bad_line";
                        r = -EBADMSG;
                        break;
                }
                for (k = 0; k < _AV_KEY_MAX; k++)
                        if ((size_t) (eq - p) == strlen(av_report_keys[k]) &&
                            memcmp(p, av_report_keys[k], (size_t) (eq - p)) == 0)
                                break;
                if (k == _AV_KEY_MAX) {
                        reason = "unknown_key";
                        r = -EBADMSG;
                        break;
                }
                if (val[k]) {
                        reason = "duplicate_key";
                        r = -EBADMSG;
                        break;
                }
                r = av_report_decode(eq + 1, (size_t) (nl - eq - 1), av_report_key_max[k], &val[k], &val_len[k]);
                if (r < 0) {
                        reason = r == -ENOMEM ? "oom" : r == -EMSGSIZE ? "too_long" : "bad_escape";
                        break;
                }
                p = nl + 1;
        }

        if (r >= 0 && !val[AV_KEY_ENGINE])
                reason = "missing_engine", r = -EBADMSG;
        else if (r >= 0 && !av_report_engine_ok(val[AV_KEY_ENGINE]))
                reason = "bad_engine", r = -EBADMSG;
        else if (r >= 0 && !val[AV_KEY_SIGNATURE])
                reason = "missing_signature", r = -EBADMSG;
        else if (r >= 0 && val_len[AV_KEY_SIGNATURE] == 0)
                reason = "bad_signature", r = -EBADMSG;
        else if (r >= 0 && val[AV_KEY_PATH] && val[AV_KEY_PATH][0] != '/')
                reason = "bad_path", r = -EBADMSG;

        if (r >= 0) {
                rep.engine = TAKE_PTR(val[AV_KEY_ENGINE]);
                rep.signature = text_sanitize(val[AV_KEY_SIGNATURE], val_len[AV_KEY_SIGNATURE], TEXT_DEVICE_MAX, NULL);
                if (!rep.signature)
                        r = -ENOMEM, reason = "oom";
                else if (val[AV_KEY_PATH]) {
                        rep.path = text_sanitize(val[AV_KEY_PATH], val_len[AV_KEY_PATH], AV_REPORT_PATH_MAX,
                                                 &rep.path_truncated);
                        rep.raw_path = TAKE_PTR(val[AV_KEY_PATH]);
                        if (!rep.path)
                                r = -ENOMEM, reason = "oom";
                }
        }
        for (size_t k = 0; k < _AV_KEY_MAX; k++)
                free(val[k]);
        if (r < 0) {
                av_report_done(&rep);
                return av_report_fail(ret_reason, reason, r);
        }
        *ret = rep;
        return 0;
}

/* Appends v to b at *n with the protocol's escapes; false when it would pass max. */
static bool av_report_append(char *b, size_t *n, size_t max, const char *v) {
        static const char hex[] = "0123456789ABCDEF";

        for (const unsigned char *c = (const unsigned char *) v; *c; c++) {
                bool esc = *c < 0x20 || *c == 0x7f || *c == '%';
                if (*n + (esc ? 3 : 1) > max)
                        return false;
                if (esc) {
                        b[(*n)++] = '%';
                        b[(*n)++] = hex[*c >> 4];
                        b[(*n)++] = hex[*c & 15];
                } else
                        b[(*n)++] = (char) *c;
        }
        return true;
}

/* Appends the literal s (no escapes). */
static bool av_report_append_raw(char *b, size_t *n, size_t max, const char *s) {
        size_t l = strlen(s);

        if (*n + l > max)
                return false;
        memcpy(b + *n, s, l);
        *n += l;
        return true;
}

int av_report_format(const char *engine, const char *signature, const char *path, char **ret, size_t *ret_len) {
        _cleanup_free_ char *b = NULL;
        size_t n = 0;
        bool ok;

        assert(ret);
        assert(ret_len);

        if (!av_report_engine_ok(engine) || !signature || !*signature)
                return -EINVAL;
        b = malloc(AV_REPORT_MAX + 1);
        if (!b)
                return -ENOMEM;
        ok = av_report_append_raw(b, &n, AV_REPORT_MAX, AV_REPORT_MAGIC "\nengine=") &&
             av_report_append(b, &n, AV_REPORT_MAX, engine) &&
             av_report_append_raw(b, &n, AV_REPORT_MAX, "\nsignature=") &&
             av_report_append(b, &n, AV_REPORT_MAX, signature) && av_report_append_raw(b, &n, AV_REPORT_MAX, "\n");
        if (ok && path)
                ok = av_report_append_raw(b, &n, AV_REPORT_MAX, "path=") &&
                     av_report_append(b, &n, AV_REPORT_MAX, path) && av_report_append_raw(b, &n, AV_REPORT_MAX, "\n");
        if (!ok)
                return -EMSGSIZE;
        b[n] = 0;
        *ret_len = n;
        *ret = TAKE_PTR(b);
        return 0;
}

void av_report_limit_init(AvReportLimit *l, unsigned burst, usec_t interval) {
        assert(l);
        assert(burst > 0);
        assert(interval > 0);
        *l = (AvReportLimit){ .burst = burst, .interval = interval, .tokens = burst };
}

static void av_report_limit_refill(AvReportLimit *l, usec_t now) {
        usec_t n;

        if (l->last == 0 || now < l->last) {
                l->last = now;
                return;
        }
        n = (now - l->last) / l->interval;
        if (n == 0)
                return;
        if (n >= l->burst || l->tokens + n >= l->burst) {
                l->tokens = l->burst;
                l->last = now;
        } else {
                l->tokens += (unsigned) n;
                l->last += n * l->interval; /* keep the remainder */
        }
}

bool av_report_limit_take(AvReportLimit *l, usec_t now) {
        assert(l);

        av_report_limit_refill(l, now);
        if (l->tokens == 0)
                return false;
        l->tokens--;
        return true;
}

usec_t av_report_limit_next(const AvReportLimit *l) {
        assert(l);
        return l->tokens > 0 ? l->last : l->last + l->interval;
}
