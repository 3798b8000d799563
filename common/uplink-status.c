/* SPDX-License-Identifier: MIT */
#include "uplink-status.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "string-table.h"
#include "text.h"

static const char *const uplink_state_table[_UPLINK_STATE_MAX] = {
        [UPLINK_OFF] = "off",         [UPLINK_IDLE] = "idle",       [UPLINK_SENDING] = "sending",
        [UPLINK_WAITING] = "waiting", [UPLINK_REFUSED] = "refused",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING_FALLBACK(uplink_state, UplinkState, "unknown");
DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(uplink_state);

/* UTF-8 with no control character but \n and \t (C0, DEL, C1): what the
 * JSON writer and mamorictl's table are given. The collector's answer is
 * shown on one line: not even those, and shorter. */
static bool status_text_ok_max(const char *s, size_t len, size_t max, bool one_line) {
        const unsigned char *p = (const unsigned char *) s;

        if (len > max)
                return false;
        for (size_t i = 0; i < len;) {
                size_t n = utf8_sequence_len(p + i, len - i);
                uint32_t c;

                if (n == 0)
                        return false;
                c = utf8_decode(p + i, n);
                if ((c < 0x20 && (one_line || (c != '\n' && c != '\t'))) || (c >= 0x7f && c <= 0x9f))
                        return false;
                i += n;
        }
        return true;
}

static bool status_text_ok(const char *s, size_t len) {
        return status_text_ok_max(s, len, UPLINK_STATUS_TEXT_MAX, false);
}

static bool status_answer_ok(const char *s, size_t len) {
        return status_text_ok_max(s, len, UPLINK_STATUS_ANSWER_MAX, true);
}

/* What RFC 3339 can write: after the epoch, up to 9999-12-31. */
static bool status_since_ok(usec_t t) {
        return t > 0 && t < UINT64_C(253402300800) * USEC_PER_SEC;
}

static bool status_refused_ok(const UplinkStatus *s) {
        if (s->state != UPLINK_REFUSED)
                return s->refused_status == 0 && s->refused_since == 0 && !s->refused_answer;
        return s->refused_status >= 400 && s->refused_status <= 499 && status_since_ok(s->refused_since) &&
               s->refused_answer && status_answer_ok(s->refused_answer, strlen(s->refused_answer));
}

static void status_put_text(FILE *f, const char *key, const char *s) {
        fprintf(f, "%s=", key);
        for (const char *p = s; *p; p++)
                switch (*p) {
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                default:
                        fputc(*p, f);
                }
        fputc('\n', f);
}

int uplink_status_format(const UplinkStatus *s, char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        FILE *f;

        if (!s || !ret)
                return -EINVAL;
        if (s->pid <= 0 || (unsigned) s->state >= _UPLINK_STATE_MAX || s->last_status < 0 || s->last_status > 999)
                return -EINVAL;
        if (s->url && !status_text_ok(s->url, strlen(s->url)))
                return -EINVAL;
        if (s->last_error && !status_text_ok(s->last_error, strlen(s->last_error)))
                return -EINVAL;
        if (!status_refused_ok(s))
                return -EINVAL;

        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        fputs("# written by mamori-uplink; read by mamorid (mamorictl status, heartbeat)\n", f);
        fprintf(f, "PID=%d\n", (int) s->pid);
        fprintf(f, "UPDATED=%" PRIu64 "\n", s->updated);
        fprintf(f, "STATE=%s\n", uplink_state_to_string(s->state));
        if (s->url)
                status_put_text(f, "URL", s->url);
        fprintf(f, "LAST_SUCCESS=%" PRIu64 "\n", s->last_success);
        fprintf(f, "LAST_ATTEMPT=%" PRIu64 "\n", s->last_attempt);
        fprintf(f, "NEXT_ATTEMPT=%" PRIu64 "\n", s->next_attempt);
        fprintf(f, "FAILURES=%u\n", s->failures);
        fprintf(f, "LAST_STATUS=%ld\n", s->last_status);
        if (s->last_error)
                status_put_text(f, "LAST_ERROR", s->last_error);
        fprintf(f, "EVENTS_SENT=%" PRIu64 "\n", s->events_sent);
        fprintf(f, "BATCHES_SENT=%" PRIu64 "\n", s->batches_sent);
        fprintf(f, "BATCHES_REJECTED=%" PRIu64 "\n", s->batches_rejected);
        fprintf(f, "EVENTS_REJECTED=%" PRIu64 "\n", s->events_rejected);
        fprintf(f, "BYTES_SENT=%" PRIu64 "\n", s->bytes_sent);
        fprintf(f, "ACKED_SEQ=%" PRIu64 "\n", s->acked_seq);
        fprintf(f, "DEAD_LETTER_COUNT=%" PRIu64 "\n", s->dead_letter_count);
        fprintf(f, "DEAD_LETTER_BYTES=%" PRIu64 "\n", s->dead_letter_bytes);
        if (s->state == UPLINK_REFUSED) {
                char ts[RFC3339_MAX];
                fprintf(f, "REFUSED_STATUS=%ld\n", s->refused_status);
                fprintf(f, "REFUSED_SINCE=%s\n", format_rfc3339(ts, s->refused_since));
                status_put_text(f, "REFUSED_ANSWER", s->refused_answer);
        }
        if (ferror(f) || fclose(f) != 0 || !buf)
                return -ENOMEM;

        if (ret_len)
                *ret_len = len;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* Plain decimal: digits only, no sign, no leading zero, at most max. */
static int status_parse_u64(const char *v, size_t len, uint64_t max, uint64_t *ret) {
        uint64_t x = 0;

        if (len == 0 || (len > 1 && v[0] == '0'))
                return -EBADMSG;
        for (size_t i = 0; i < len; i++) {
                unsigned d;

                if (v[i] < '0' || v[i] > '9')
                        return -EBADMSG;
                d = (unsigned) (v[i] - '0');
                if (x > (max - d) / 10)
                        return -EBADMSG;
                x = x * 10 + d;
        }
        *ret = x;
        return 0;
}

static int status_hex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static int status_parse_text_as(const char *v, size_t len, bool answer, char **ret) {
        _cleanup_free_ char *out = NULL;
        size_t n = 0;

        /* unescaping never makes a value longer */
        out = malloc(len + 1);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                int hi, lo;

                if (v[i] != '\\') {
                        out[n++] = v[i];
                        continue;
                }
                if (++i >= len)
                        return -EBADMSG;
                switch (v[i]) {
                case '\\':
                        out[n++] = '\\';
                        break;
                case 'n':
                        out[n++] = '\n';
                        break;
                case 't':
                        out[n++] = '\t';
                        break;
                case 'x':
                        if (len - i < 3)
                                return -EBADMSG;
                        hi = status_hex(v[i + 1]);
                        lo = status_hex(v[i + 2]);
                        if (hi < 0 || lo < 0)
                                return -EBADMSG;
                        out[n++] = (char) (hi << 4 | lo);
                        i += 2;
                        break;
                default:
                        return -EBADMSG;
                }
        }
        out[n] = '\0';
        /* a NUL from \x00 is a control character: refused here */
        if (answer ? !status_answer_ok(out, n) : !status_text_ok(out, n))
                return -EBADMSG;
        *ret = TAKE_PTR(out);
        return 0;
}

static int status_parse_text(const char *v, size_t len, char **ret) {
        return status_parse_text_as(v, len, false, ret);
}

typedef enum StatusKey {
        KEY_PID,
        KEY_UPDATED,
        KEY_STATE,
        KEY_URL,
        KEY_LAST_SUCCESS,
        KEY_LAST_ATTEMPT,
        KEY_NEXT_ATTEMPT,
        KEY_FAILURES,
        KEY_LAST_STATUS,
        KEY_LAST_ERROR,
        KEY_EVENTS_SENT,
        KEY_BATCHES_SENT,
        KEY_BATCHES_REJECTED,
        KEY_EVENTS_REJECTED,
        KEY_BYTES_SENT,
        KEY_ACKED_SEQ,
        KEY_DEAD_LETTER_COUNT,
        KEY_DEAD_LETTER_BYTES,
        KEY_REFUSED_STATUS,
        KEY_REFUSED_SINCE,
        KEY_REFUSED_ANSWER,
        _KEY_MAX,
} StatusKey;

static const char *const status_key_table[_KEY_MAX] = {
        [KEY_PID] = "PID",
        [KEY_UPDATED] = "UPDATED",
        [KEY_STATE] = "STATE",
        [KEY_URL] = "URL",
        [KEY_LAST_SUCCESS] = "LAST_SUCCESS",
        [KEY_LAST_ATTEMPT] = "LAST_ATTEMPT",
        [KEY_NEXT_ATTEMPT] = "NEXT_ATTEMPT",
        [KEY_FAILURES] = "FAILURES",
        [KEY_LAST_STATUS] = "LAST_STATUS",
        [KEY_LAST_ERROR] = "LAST_ERROR",
        [KEY_EVENTS_SENT] = "EVENTS_SENT",
        [KEY_BATCHES_SENT] = "BATCHES_SENT",
        [KEY_BATCHES_REJECTED] = "BATCHES_REJECTED",
        [KEY_EVENTS_REJECTED] = "EVENTS_REJECTED",
        [KEY_BYTES_SENT] = "BYTES_SENT",
        [KEY_ACKED_SEQ] = "ACKED_SEQ",
        [KEY_DEAD_LETTER_COUNT] = "DEAD_LETTER_COUNT",
        [KEY_DEAD_LETTER_BYTES] = "DEAD_LETTER_BYTES",
        [KEY_REFUSED_STATUS] = "REFUSED_STATUS",
        [KEY_REFUSED_SINCE] = "REFUSED_SINCE",
        [KEY_REFUSED_ANSWER] = "REFUSED_ANSWER",
};

/* The key of a line (key_len bytes), or -ENOENT for one not in the table. */
static int status_key_lookup(const char *key, size_t key_len) {
        for (size_t i = 0; i < _KEY_MAX; i++)
                if (strlen(status_key_table[i]) == key_len && memcmp(status_key_table[i], key, key_len) == 0)
                        return (int) i;
        return -ENOENT;
}

static int status_parse_value(UplinkStatus *s, StatusKey k, const char *v, size_t len) {
        char state[16];
        uint64_t x;
        int r;

        switch (k) {
        case KEY_URL:
                return status_parse_text(v, len, &s->url);
        case KEY_LAST_ERROR:
                return status_parse_text(v, len, &s->last_error);
        case KEY_REFUSED_ANSWER:
                return status_parse_text_as(v, len, true, &s->refused_answer);
        case KEY_REFUSED_STATUS:
                r = status_parse_u64(v, len, 499, &x);
                if (r < 0 || x < 400)
                        return -EBADMSG;
                s->refused_status = (long) x;
                return 0;
        case KEY_REFUSED_SINCE: {
                char ts[RFC3339_MAX];
                usec_t t;

                if (len >= sizeof ts)
                        return -EBADMSG;
                memcpy(ts, v, len);
                ts[len] = '\0';
                if (parse_rfc3339(ts, &t) < 0 || !status_since_ok(t))
                        return -EBADMSG;
                s->refused_since = t;
                return 0;
        }
        case KEY_STATE:
                if (len >= sizeof state)
                        return -EBADMSG;
                memcpy(state, v, len);
                state[len] = '\0';
                r = uplink_state_from_string(state);
                if (r < 0)
                        return -EBADMSG;
                s->state = (UplinkState) r;
                return 0;
        case KEY_PID:
                r = status_parse_u64(v, len, INT_MAX, &x);
                if (r < 0 || x == 0)
                        return -EBADMSG;
                s->pid = (pid_t) x;
                return 0;
        case KEY_FAILURES:
                r = status_parse_u64(v, len, UINT_MAX, &x);
                s->failures = (unsigned) x;
                return r;
        case KEY_LAST_STATUS:
                r = status_parse_u64(v, len, 999, &x);
                s->last_status = (long) x;
                return r;
        default:
                break;
        }

        r = status_parse_u64(v, len, UINT64_MAX, &x);
        if (r < 0)
                return r;
        switch (k) {
        case KEY_UPDATED:
                s->updated = x;
                break;
        case KEY_LAST_SUCCESS:
                s->last_success = x;
                break;
        case KEY_LAST_ATTEMPT:
                s->last_attempt = x;
                break;
        case KEY_NEXT_ATTEMPT:
                s->next_attempt = x;
                break;
        case KEY_EVENTS_SENT:
                s->events_sent = x;
                break;
        case KEY_BATCHES_SENT:
                s->batches_sent = x;
                break;
        case KEY_BATCHES_REJECTED:
                s->batches_rejected = x;
                break;
        case KEY_EVENTS_REJECTED:
                s->events_rejected = x;
                break;
        case KEY_BYTES_SENT:
                s->bytes_sent = x;
                break;
        case KEY_ACKED_SEQ:
                s->acked_seq = x;
                break;
        case KEY_DEAD_LETTER_COUNT:
                s->dead_letter_count = x;
                break;
        case KEY_DEAD_LETTER_BYTES:
                s->dead_letter_bytes = x;
                break;
        default:
                return -EBADMSG;
        }
        return 0;
}

static void uplink_status_donep(UplinkStatus *s) {
        uplink_status_done(s);
}

int uplink_status_parse(const char *buf, size_t len, UplinkStatus *ret) {
        _cleanup_(uplink_status_donep) UplinkStatus s = {};
        bool seen[_KEY_MAX] = {};
        size_t pos = 0;

        if (!buf || !ret)
                return -EINVAL;
        if (len > UPLINK_STATUS_FILE_MAX)
                return -EFBIG;
        if (memchr(buf, '\0', len))
                return -EBADMSG;

        while (pos < len) {
                const char *line = buf + pos, *nl, *eq;
                size_t line_len;
                int k, r;

                nl = memchr(line, '\n', len - pos);
                if (!nl)
                        return -EBADMSG; /* a torn last line */
                line_len = (size_t) (nl - line);
                pos += line_len + 1;
                if (line_len == 0 || line[0] == '#')
                        continue;
                eq = memchr(line, '=', line_len);
                if (!eq || eq == line)
                        return -EBADMSG;
                k = status_key_lookup(line, (size_t) (eq - line));
                if (k < 0)
                        continue; /* a newer uplink's key */
                if (seen[k])
                        return -EBADMSG;
                seen[k] = true;
                r = status_parse_value(&s, (StatusKey) k, eq + 1, (size_t) (nl - eq - 1));
                if (r < 0)
                        return r;
        }
        if (!seen[KEY_PID] || !seen[KEY_UPDATED] || !seen[KEY_STATE])
                return -EBADMSG;
        /* the refused members come all together, and with that state only */
        if ((s.state == UPLINK_REFUSED) != seen[KEY_REFUSED_STATUS] ||
            seen[KEY_REFUSED_STATUS] != seen[KEY_REFUSED_SINCE] || seen[KEY_REFUSED_STATUS] != seen[KEY_REFUSED_ANSWER])
                return -EBADMSG;

        *ret = TAKE_STRUCT(s);
        return 0;
}

const char *uplink_refused_meaning(long status) {
        switch (status) {
        case 401:
                return "the collector does not take the token: it was rotated on the collector, or "
                       "collector.token_file holds an old one";
        case 403:
                return "the collector does not allow this PC's client certificate: not enrolled yet, revoked, or "
                       "its name does not match the machine";
        case 404:
        case 405:
                return "nothing takes events at this address: the path of collector.url is wrong (after a "
                       "migration of the collector?)";
        case 407:
                return "a proxy between this PC and the collector wants credentials (collector.proxy)";
        case 421:
        case 426:
                return "the request reached the wrong host or TLS setup: check the host name of collector.url and "
                       "the collector's TLS front end";
        default:
                return "the collector refuses this PC's requests: check collector.url, the token and the client "
                       "certificate";
        }
}

void uplink_status_done(UplinkStatus *s) {
        if (!s)
                return;
        free(s->url);
        free(s->last_error);
        free(s->refused_answer);
        *s = (UplinkStatus){};
}
