/* SPDX-License-Identifier: MIT */
/* common/uplink-status.c: the status file mamori-uplink writes and mamorid
 * (root) reads. Round trips, every refused value, the bounds, the escapes. */
#include "unit.h"

#include "macro.h"
#include "uplink-status.h"

/* What the two full status files below share, in the canonical order;
 * they differ in the state, the last answer, the dead letters and the
 * refusal. */
/* clang-format off */
#define STATUS_HEAD                                                                     \
        "# written by mamori-uplink; read by mamorid (mamorictl status, heartbeat)\n"   \
        "PID=1234\n"                                                                    \
        "UPDATED=1764800000000000\n"
#define STATUS_TRIES                                                                    \
        "URL=https://collector.example/v1/events\n"                                     \
        "LAST_SUCCESS=1764790000000000\n"                                               \
        "LAST_ATTEMPT=1764799000000000\n"                                               \
        "NEXT_ATTEMPT=1764800030000000\n"                                               \
        "FAILURES=3\n"
#define STATUS_SENT                                                                     \
        "EVENTS_SENT=10\n"                                                              \
        "BATCHES_SENT=2\n"                                                              \
        "BATCHES_REJECTED=1\n"                                                          \
        "EVENTS_REJECTED=4\n"                                                           \
        "BYTES_SENT=4096\n"                                                             \
        "ACKED_SEQ=14\n"

static const char *const good =
        STATUS_HEAD
        "STATE=waiting\n"
        STATUS_TRIES
        "LAST_STATUS=503\n"
        "LAST_ERROR=the collector answered HTTP 503\n"
        STATUS_SENT
        "DEAD_LETTER_COUNT=2\n"
        "DEAD_LETTER_BYTES=8192\n";
/* clang-format on */

static int parse_str(const char *s, UplinkStatus *ret) {
        return uplink_status_parse(s, strlen(s), ret);
}

static void assert_status_equal(const UplinkStatus *a, const UplinkStatus *b) {
        assert_int_equal(a->pid, b->pid);
        assert_int_equal(a->updated, b->updated);
        assert_int_equal(a->state, b->state);
        assert_true(streq_ptr(a->url, b->url));
        assert_int_equal(a->last_success, b->last_success);
        assert_int_equal(a->last_attempt, b->last_attempt);
        assert_int_equal(a->next_attempt, b->next_attempt);
        assert_int_equal(a->failures, b->failures);
        assert_int_equal(a->last_status, b->last_status);
        assert_true(streq_ptr(a->last_error, b->last_error));
        assert_int_equal(a->events_sent, b->events_sent);
        assert_int_equal(a->batches_sent, b->batches_sent);
        assert_int_equal(a->batches_rejected, b->batches_rejected);
        assert_int_equal(a->events_rejected, b->events_rejected);
        assert_int_equal(a->bytes_sent, b->bytes_sent);
        assert_int_equal(a->acked_seq, b->acked_seq);
        assert_int_equal(a->dead_letter_count, b->dead_letter_count);
        assert_int_equal(a->dead_letter_bytes, b->dead_letter_bytes);
        assert_int_equal(a->refused_status, b->refused_status);
        assert_int_equal(a->refused_since, b->refused_since);
        assert_true(streq_ptr(a->refused_answer, b->refused_answer));
}

/* Every text is refused as a whole, and s (its pid 99) left untouched. */
static void assert_all_refused(const char *const *bad, size_t n, UplinkStatus *s) {
        for (size_t i = 0; i < n; i++) {
                int r = parse_str(bad[i], s);
                if (r != -EBADMSG)
                        fail_msg("case %zu: %d for \"%s\"", i, r, bad[i]);
                assert_int_equal(s->pid, 99); /* untouched on error */
        }
}

/* head ends with "KEY=", the text field at offset in UplinkStatus: max bytes
 * parse, max + 1 do not, and max escapes (esc, one byte once unescaped)
 * parse: the bound is on the unescaped text. */
static void assert_text_bound(const char *head, size_t max, const char *esc, size_t offset) {
        const size_t n = strlen(head), esc_len = strlen(esc);
        _cleanup_free_ char *buf = malloc(n + esc_len * (max + 1) + 2);
        UplinkStatus s = {};
        char **field = (char **) ((char *) &s + offset);

        assert_non_null(buf);
        memcpy(buf, head, n);
        memset(buf + n, 'a', max);
        buf[n + max] = '\n';
        assert_int_equal(uplink_status_parse(buf, n + max + 1, &s), 0);
        assert_int_equal(strlen(*field), max);
        uplink_status_done(&s);
        memset(buf + n, 'a', max + 1);
        buf[n + max + 1] = '\n';
        assert_int_equal(uplink_status_parse(buf, n + max + 2, &s), -EBADMSG);
        for (size_t i = 0; i < max; i++)
                memcpy(buf + n + esc_len * i, esc, esc_len);
        buf[n + esc_len * max] = '\n';
        assert_int_equal(uplink_status_parse(buf, n + esc_len * max + 1, &s), 0);
        assert_int_equal(strlen(*field), max);
        uplink_status_done(&s);
}

static void test_state_strings(void **state) {
        (void) state;
        for (int i = 0; i < _UPLINK_STATE_MAX; i++)
                assert_int_equal(uplink_state_from_string(uplink_state_to_string((UplinkState) i)), i);
        assert_string_equal(uplink_state_to_string(UPLINK_SENDING), "sending");
        assert_string_equal(uplink_state_to_string(_UPLINK_STATE_MAX), "unknown");
        assert_string_equal(uplink_state_to_string((UplinkState) -1), "unknown");
        assert_int_equal(uplink_state_from_string("unknown"), -EINVAL);
        assert_int_equal(uplink_state_from_string("IDLE"), -EINVAL);
        assert_int_equal(uplink_state_from_string(""), -EINVAL);
        assert_int_equal(uplink_state_from_string(NULL), -EINVAL);
}

static void test_parse_good(void **state) {
        UplinkStatus s = {};
        (void) state;

        assert_int_equal(parse_str(good, &s), 0);
        assert_int_equal(s.pid, 1234);
        assert_int_equal(s.updated, UINT64_C(1764800000000000));
        assert_int_equal(s.state, UPLINK_WAITING);
        assert_string_equal(s.url, "https://collector.example/v1/events");
        assert_int_equal(s.failures, 3);
        assert_int_equal(s.last_status, 503);
        assert_string_equal(s.last_error, "the collector answered HTTP 503");
        assert_int_equal(s.events_rejected, 4);
        assert_int_equal(s.bytes_sent, 4096);
        assert_int_equal(s.acked_seq, 14);
        assert_int_equal(s.dead_letter_count, 2);
        assert_int_equal(s.dead_letter_bytes, 8192);
        uplink_status_done(&s);
        assert_null(s.url);
        assert_null(s.last_error);
        assert_int_equal(s.pid, 0);
        uplink_status_done(&s); /* twice is harmless */
}

static void test_parse_minimal(void **state) {
        UplinkStatus s = {};
        (void) state;

        /* the three that must be there; the rest defaults to none/0 */
        assert_int_equal(parse_str("PID=1\nUPDATED=0\nSTATE=off\n", &s), 0);
        assert_int_equal(s.pid, 1);
        assert_int_equal(s.state, UPLINK_OFF);
        assert_null(s.url);
        assert_null(s.last_error);
        assert_int_equal(s.acked_seq, 0);
        assert_int_equal(s.dead_letter_count, 0); /* an older uplink says nothing of them */
        uplink_status_done(&s);

        /* unknown keys (a newer uplink), comments and empty lines are skipped;
         * a value may hold '=' */
        assert_int_equal(parse_str("\n# c\nNEW_KEY=\x01 anything\nPID=7\nUPDATED=5\nSTATE=idle\n"
                                   "URL=https://h/p?a=b\n\n",
                                   &s),
                         0);
        assert_int_equal(s.pid, 7);
        assert_string_equal(s.url, "https://h/p?a=b");
        uplink_status_done(&s);

        /* empty strings are values, not absence */
        assert_int_equal(parse_str("PID=1\nUPDATED=0\nSTATE=off\nURL=\nLAST_ERROR=\n", &s), 0);
        assert_string_equal(s.url, "");
        assert_string_equal(s.last_error, "");
        uplink_status_done(&s);
}

static void test_round_trip(void **state) {
        UplinkStatus a = {}, b = {};
        _cleanup_free_ char *text = NULL, *text2 = NULL;
        size_t len = 0, len2 = 0;
        (void) state;

        assert_int_equal(parse_str(good, &a), 0);
        assert_int_equal(uplink_status_format(&a, &text, &len), 0);
        assert_int_equal(strlen(text), len);
        assert_string_equal(text, good); /* the canonical form */
        assert_int_equal(uplink_status_parse(text, len, &b), 0);
        assert_status_equal(&a, &b);
        uplink_status_done(&a);
        uplink_status_done(&b);

        /* the extremes of every number, and strings that need escapes */
        char err[] = "line one\nline\ttwo \\ back, 日本語の説明";
        char url[] = "https://例え.jp/\\path";
        UplinkStatus x = {
                .pid = 2147483647,
                .updated = UINT64_MAX,
                .state = UPLINK_SENDING,
                .url = url,
                .last_success = UINT64_MAX,
                .last_attempt = 1,
                .next_attempt = 0,
                .failures = 4294967295U,
                .last_status = 999,
                .last_error = err,
                .events_sent = UINT64_MAX,
                .batches_sent = UINT64_MAX - 1,
                .batches_rejected = 0,
                .events_rejected = 1,
                .bytes_sent = UINT64_MAX,
                .acked_seq = UINT64_MAX,
                .dead_letter_count = UINT64_MAX,
                .dead_letter_bytes = UINT64_MAX - 2,
        };
        assert_int_equal(uplink_status_format(&x, &text2, &len2), 0);
        assert_non_null(strstr(text2, "LAST_ERROR=line one\\nline\\ttwo \\\\ back, 日本語の説明\n"));
        assert_non_null(strstr(text2, "URL=https://例え.jp/\\\\path\n"));
        assert_int_equal(uplink_status_parse(text2, len2, &b), 0);
        assert_status_equal(&x, &b);
        uplink_status_done(&b);

        /* absent strings stay absent */
        x.url = NULL;
        x.last_error = NULL;
        free(text2);
        text2 = NULL;
        assert_int_equal(uplink_status_format(&x, &text2, NULL), 0);
        assert_null(strstr(text2, "URL="));
        assert_null(strstr(text2, "LAST_ERROR="));
        assert_int_equal(uplink_status_parse(text2, strlen(text2), &b), 0);
        assert_status_equal(&x, &b);
        uplink_status_done(&b);
}

static void test_escapes(void **state) {
        UplinkStatus s = {};
        (void) state;

        assert_int_equal(parse_str("PID=1\nUPDATED=0\nSTATE=off\nLAST_ERROR=a\\x41\\x7a\\x7A\\\\\\n\\tb\n", &s), 0);
        assert_string_equal(s.last_error, "aAzz\\\n\tb");
        uplink_status_done(&s);

        /* UTF-8 written as \xHH is UTF-8 all the same */
        assert_int_equal(parse_str("PID=1\nUPDATED=0\nSTATE=off\nLAST_ERROR=\\xe6\\x97\\xa5\n", &s), 0);
        assert_string_equal(s.last_error, "日");
        uplink_status_done(&s);

        static const char *const bad[] = {
                "\\",              /* a lone backslash at the end */
                "a\\",             /* the same after text */
                "\\r",             /* not one of ours */
                "\\0",             /* not one of ours */
                "\\\"",            /* not one of ours */
                "\\x",             /* no digits */
                "\\x4",            /* one digit */
                "\\x4g",           /* not hex */
                "\\xg4",           /* not hex */
                "\\x00",           /* NUL */
                "\\x01",           /* a control character */
                "\\x0d",           /* CR */
                "\\x1b[31m",       /* ESC: a terminal escape */
                "\\x7f",           /* DEL */
                "\\xc2\\x85",      /* C1 (NEL) */
                "\\xc2\\x9b",      /* C1 (CSI) */
                "\\xff",           /* not UTF-8 */
                "\\xe6\\x97",      /* a cut sequence */
                "\\xc0\\xaf",      /* overlong */
                "\\xed\\xa0\\x80", /* a surrogate */
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char buf[256];
                snprintf(buf, sizeof buf, "PID=1\nUPDATED=0\nSTATE=off\nLAST_ERROR=%s\n", bad[i]);
                assert_int_equal(parse_str(buf, &s), -EBADMSG);
                snprintf(buf, sizeof buf, "PID=1\nUPDATED=0\nSTATE=off\nURL=%s\n", bad[i]);
                assert_int_equal(parse_str(buf, &s), -EBADMSG);
        }

        /* raw bytes are held to the same rules as escaped ones */
        static const char *const bad_raw[] = { "a\rb", "\x1b[0m", "\x7f", "\xc2\x85", "\xff", "\xe6\x97" };
        for (size_t i = 0; i < ELEMENTSOF(bad_raw); i++) {
                char buf[256];
                snprintf(buf, sizeof buf, "PID=1\nUPDATED=0\nSTATE=off\nLAST_ERROR=%s\n", bad_raw[i]);
                assert_int_equal(parse_str(buf, &s), -EBADMSG);
        }
        /* a raw tab is fine: it is what \t gives */
        assert_int_equal(parse_str("PID=1\nUPDATED=0\nSTATE=off\nLAST_ERROR=a\tb\n", &s), 0);
        assert_string_equal(s.last_error, "a\tb");
        uplink_status_done(&s);
}

static void test_bad_values(void **state) {
        UplinkStatus s = { .pid = 99 };
        (void) state;

        static const char *const bad[] = {
                /* required keys */
                "",
                "UPDATED=0\nSTATE=off\n",
                "PID=1\nSTATE=off\n",
                "PID=1\nUPDATED=0\n",
                "# only a comment\n",
                /* lines */
                "PID=1\nUPDATED=0\nSTATE=off",          /* torn last line */
                "PID=1\nUPDATED=0\nSTATE=off\nX",       /* torn unknown line */
                "PID=1\nUPDATED=0\nSTATE=off\nFOO\n",   /* no '=' */
                "PID=1\nUPDATED=0\nSTATE=off\n=1\n",    /* no key */
                "PID=1\nUPDATED=0\nSTATE=off\nPID=1\n", /* repeated */
                "PID=1\nUPDATED=0\nSTATE=off\nURL=a\nURL=a\n",
                " PID=1\nUPDATED=0\nSTATE=off\n", /* no blanks around keys */
                "PID =1\nUPDATED=0\nSTATE=off\n",
                /* the dead letters' counts */
                "PID=1\nUPDATED=0\nSTATE=off\nDEAD_LETTER_COUNT=-1\n",
                "PID=1\nUPDATED=0\nSTATE=off\nDEAD_LETTER_COUNT=01\n",
                "PID=1\nUPDATED=0\nSTATE=off\nDEAD_LETTER_BYTES=\n",
                "PID=1\nUPDATED=0\nSTATE=off\nDEAD_LETTER_BYTES=18446744073709551616\n",
                "PID=1\nUPDATED=0\nSTATE=off\nDEAD_LETTER_COUNT=1\nDEAD_LETTER_COUNT=1\n",
                /* PID */
                "PID=0\nUPDATED=0\nSTATE=off\n",
                "PID=-1\nUPDATED=0\nSTATE=off\n",
                "PID=+1\nUPDATED=0\nSTATE=off\n",
                "PID=01\nUPDATED=0\nSTATE=off\n",
                "PID=\nUPDATED=0\nSTATE=off\n",
                "PID=1 \nUPDATED=0\nSTATE=off\n",
                "PID= 1\nUPDATED=0\nSTATE=off\n",
                "PID=0x10\nUPDATED=0\nSTATE=off\n",
                "PID=2147483648\nUPDATED=0\nSTATE=off\n",
                "PID=1.0\nUPDATED=0\nSTATE=off\n",
                /* numbers */
                "PID=1\nUPDATED=18446744073709551616\nSTATE=off\n",
                "PID=1\nUPDATED=99999999999999999999\nSTATE=off\n",
                "PID=1\nUPDATED=-0\nSTATE=off\n",
                "PID=1\nUPDATED=00\nSTATE=off\n",
                "PID=1\nUPDATED=1\r\nSTATE=off\n",
                "PID=1\nUPDATED=0\nSTATE=off\nFAILURES=4294967296\n",
                "PID=1\nUPDATED=0\nSTATE=off\nFAILURES=-1\n",
                "PID=1\nUPDATED=0\nSTATE=off\nLAST_STATUS=1000\n",
                "PID=1\nUPDATED=0\nSTATE=off\nLAST_STATUS=-1\n",
                "PID=1\nUPDATED=0\nSTATE=off\nLAST_SUCCESS=x\n",
                "PID=1\nUPDATED=0\nSTATE=off\nLAST_ATTEMPT=\n",
                "PID=1\nUPDATED=0\nSTATE=off\nNEXT_ATTEMPT=1e6\n",
                "PID=1\nUPDATED=0\nSTATE=off\nEVENTS_SENT=1 \n",
                "PID=1\nUPDATED=0\nSTATE=off\nBATCHES_SENT=one\n",
                "PID=1\nUPDATED=0\nSTATE=off\nBATCHES_REJECTED=\n",
                "PID=1\nUPDATED=0\nSTATE=off\nEVENTS_REJECTED=-3\n",
                "PID=1\nUPDATED=0\nSTATE=off\nBYTES_SENT=18446744073709551616\n",
                "PID=1\nUPDATED=0\nSTATE=off\nACKED_SEQ=\n",
                /* STATE */
                "PID=1\nUPDATED=0\nSTATE=\n",
                "PID=1\nUPDATED=0\nSTATE=unknown\n",
                "PID=1\nUPDATED=0\nSTATE=not-running\n",
                "PID=1\nUPDATED=0\nSTATE=Idle\n",
                "PID=1\nUPDATED=0\nSTATE=idle \n",
                "PID=1\nUPDATED=0\nSTATE=idleidleidleidleidle\n",
        };
        assert_all_refused(bad, ELEMENTSOF(bad), &s);

        /* keys are upper case: "pid" is an unknown key, so the PID after it is the first */
        assert_int_equal(parse_str("pid=x\nPID=2\nUPDATED=0\nSTATE=off\n", &s), 0);
        assert_int_equal(s.pid, 2);
        uplink_status_done(&s);
        s.pid = 99;

        /* a NUL anywhere, even in a comment or an unknown key */
        static const char with_nul[] = "PID=1\nUPDATED=0\nSTATE=off\n# a\0b\n";
        assert_int_equal(uplink_status_parse(with_nul, sizeof with_nul - 1, &s), -EBADMSG);
        static const char nul_value[] = "PID=1\0\nUPDATED=0\nSTATE=off\n";
        assert_int_equal(uplink_status_parse(nul_value, sizeof nul_value - 1, &s), -EBADMSG);

        assert_int_equal(uplink_status_parse(NULL, 0, &s), -EINVAL);
        assert_int_equal(uplink_status_parse("", 0, NULL), -EINVAL);
}

static void test_bounds(void **state) {
        UplinkStatus s = {};
        _cleanup_free_ char *buf = NULL, *text = NULL;
        (void) state;

        buf = malloc(UPLINK_STATUS_FILE_MAX + 64);
        assert_non_null(buf);

        /* a string of exactly the maximum, one byte more, and the maximum in escapes */
        assert_text_bound("PID=1\nUPDATED=0\nSTATE=off\nLAST_ERROR=", UPLINK_STATUS_TEXT_MAX, "\\n",
                          offsetof(UplinkStatus, last_error));

        /* the file: 16 KiB parse, one more byte does not */
        size_t n = strlen("PID=1\nUPDATED=0\nSTATE=off\n");
        memcpy(buf, "PID=1\nUPDATED=0\nSTATE=off\n", n);
        memset(buf + n, '#', UPLINK_STATUS_FILE_MAX - n);
        buf[UPLINK_STATUS_FILE_MAX - 1] = '\n';
        assert_int_equal(uplink_status_parse(buf, UPLINK_STATUS_FILE_MAX, &s), 0);
        uplink_status_done(&s);
        buf[UPLINK_STATUS_FILE_MAX - 1] = '#';
        buf[UPLINK_STATUS_FILE_MAX] = '\n';
        assert_int_equal(uplink_status_parse(buf, UPLINK_STATUS_FILE_MAX + 1, &s), -EFBIG);

        /* format refuses what parse would refuse */
        _cleanup_free_ char *big = malloc(UPLINK_STATUS_TEXT_MAX + 2);
        assert_non_null(big);
        memset(big, 'u', UPLINK_STATUS_TEXT_MAX + 1);
        big[UPLINK_STATUS_TEXT_MAX + 1] = '\0';
        UplinkStatus x = { .pid = 1, .state = UPLINK_IDLE, .url = big };
        assert_int_equal(uplink_status_format(&x, &text, NULL), -EINVAL);
        big[UPLINK_STATUS_TEXT_MAX] = '\0';
        assert_int_equal(uplink_status_format(&x, &text, NULL), 0);
        free(text);
        text = NULL;

        char ctl[] = "a\rb", bad_utf8[] = "\xff", c1[] = "\xc2\x9b";
        x.url = NULL;
        x.last_error = ctl;
        assert_int_equal(uplink_status_format(&x, &text, NULL), -EINVAL);
        x.last_error = bad_utf8;
        assert_int_equal(uplink_status_format(&x, &text, NULL), -EINVAL);
        x.last_error = c1;
        assert_int_equal(uplink_status_format(&x, &text, NULL), -EINVAL);
        x.last_error = NULL;
        x.pid = 0;
        assert_int_equal(uplink_status_format(&x, &text, NULL), -EINVAL);
        x.pid = -5;
        assert_int_equal(uplink_status_format(&x, &text, NULL), -EINVAL);
        x.pid = 1;
        x.state = _UPLINK_STATE_MAX;
        assert_int_equal(uplink_status_format(&x, &text, NULL), -EINVAL);
        x.state = UPLINK_OFF;
        x.last_status = 1000;
        assert_int_equal(uplink_status_format(&x, &text, NULL), -EINVAL);
        x.last_status = -1;
        assert_int_equal(uplink_status_format(&x, &text, NULL), -EINVAL);
        assert_null(text);
        x.last_status = 0;
        assert_int_equal(uplink_status_format(&x, &text, NULL), 0);
        assert_non_null(text);
}

/* clang-format off */
static const char *const refused =
        STATUS_HEAD
        "STATE=refused\n"
        STATUS_TRIES
        "LAST_STATUS=401\n"
        "LAST_ERROR=the collector refuses us: HTTP 401\n"
        STATUS_SENT
        "DEAD_LETTER_COUNT=0\n"
        "DEAD_LETTER_BYTES=0\n"
        "REFUSED_STATUS=401\n"
        "REFUSED_SINCE=2025-12-03T21:46:40.250000Z\n"
        "REFUSED_ANSWER={\"error\": \"bad token\"} \\\\ 日本語\n";
/* clang-format on */

static void test_refused(void **state) {
        UplinkStatus a = {}, b = {};
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        (void) state;

        assert_string_equal(uplink_state_to_string(UPLINK_REFUSED), "refused");
        assert_int_equal(parse_str(refused, &a), 0);
        assert_int_equal(a.state, UPLINK_REFUSED);
        assert_int_equal(a.refused_status, 401);
        assert_int_equal(a.refused_since, UINT64_C(1764798400250000));
        assert_string_equal(a.refused_answer, "{\"error\": \"bad token\"} \\ 日本語");
        assert_int_equal(uplink_status_format(&a, &text, &len), 0);
        assert_string_equal(text, refused); /* the canonical form */
        assert_int_equal(uplink_status_parse(text, len, &b), 0);
        assert_status_equal(&a, &b);
        uplink_status_done(&b);
        uplink_status_done(&a);
        assert_null(a.refused_answer);

        /* an offset is read as the instant it names, written back in UTC */
        assert_int_equal(parse_str("PID=1\nUPDATED=0\nSTATE=refused\nREFUSED_STATUS=404\n"
                                   "REFUSED_SINCE=2025-12-04T06:46:40+09:00\nREFUSED_ANSWER=\n",
                                   &a),
                         0);
        assert_int_equal(a.refused_since, UINT64_C(1764798400000000));
        assert_string_equal(a.refused_answer, ""); /* the collector said nothing */
        free(text);
        text = NULL;
        assert_int_equal(uplink_status_format(&a, &text, &len), 0);
        assert_non_null(strstr(text, "REFUSED_SINCE=2025-12-03T21:46:40.000000Z\n"));
        uplink_status_done(&a);

        /* another state writes none of them */
        UplinkStatus x = { .pid = 1, .state = UPLINK_WAITING };
        free(text);
        text = NULL;
        assert_int_equal(uplink_status_format(&x, &text, NULL), 0);
        assert_null(strstr(text, "REFUSED"));

        /* format refuses what parse would refuse */
        char answer[UPLINK_STATUS_ANSWER_MAX + 2], nl[] = "a\nb", tab[] = "a\tb", esc[] = "\x1b[31m", c1[] = "\xc2\x9b",
                                                   bad_utf8[] = "\xe6\x97", ok[] = "no token";
        memset(answer, 'a', sizeof answer - 1);
        answer[sizeof answer - 1] = '\0';
        x = (UplinkStatus){
                .pid = 1, .state = UPLINK_REFUSED, .refused_status = 403, .refused_since = 1, .refused_answer = ok
        };
        free(text);
        text = NULL;
        assert_int_equal(uplink_status_format(&x, &text, NULL), 0);
        assert_non_null(strstr(text, "REFUSED_SINCE=1970-01-01T00:00:00.000001Z\n"));
        char *const bad_answers[] = { answer, nl, tab, esc, c1, bad_utf8, NULL };
        for (size_t i = 0; i < ELEMENTSOF(bad_answers); i++) {
                x.refused_answer = bad_answers[i];
                free(text);
                text = NULL;
                assert_int_equal(uplink_status_format(&x, &text, NULL), -EINVAL);
        }
        answer[UPLINK_STATUS_ANSWER_MAX] = '\0'; /* exactly the maximum */
        x.refused_answer = answer;
        assert_int_equal(uplink_status_format(&x, &text, &len), 0);
        assert_int_equal(uplink_status_parse(text, len, &b), 0);
        assert_int_equal(strlen(b.refused_answer), UPLINK_STATUS_ANSWER_MAX);
        uplink_status_done(&b);
        free(text);
        text = NULL;
        x.refused_answer = ok;
        static const long bad_status[] = { 0, 200, 399, 500, 999, -1 };
        for (size_t i = 0; i < ELEMENTSOF(bad_status); i++) {
                x.refused_status = bad_status[i];
                assert_int_equal(uplink_status_format(&x, &text, NULL), -EINVAL);
        }
        x.refused_status = 499;
        x.refused_since = 0;
        assert_int_equal(uplink_status_format(&x, &text, NULL), -EINVAL);
        x.refused_since = UINT64_C(253402300800) * USEC_PER_SEC; /* year 10000 */
        assert_int_equal(uplink_status_format(&x, &text, NULL), -EINVAL);
        x.refused_since = UINT64_C(253402300800) * USEC_PER_SEC - 1;
        assert_int_equal(uplink_status_format(&x, &text, NULL), 0);
        assert_non_null(strstr(text, "REFUSED_SINCE=9999-12-31T23:59:59.999999Z\n"));
        free(text);
        text = NULL;
        x.refused_since = 1;
        /* the members of refused belong to that state only */
        x.state = UPLINK_WAITING;
        assert_int_equal(uplink_status_format(&x, &text, NULL), -EINVAL);
        x.refused_status = 0;
        x.refused_since = 0;
        assert_int_equal(uplink_status_format(&x, &text, NULL), -EINVAL); /* the answer is left */
        x.state = UPLINK_REFUSED;
        x.refused_status = 401;
        x.refused_since = 5;
        x.refused_answer = NULL;
        assert_int_equal(uplink_status_format(&x, &text, NULL), -EINVAL);
        assert_null(text);
}

static void test_refused_bad(void **state) {
        UplinkStatus s = { .pid = 99 };
        (void) state;

#define HEAD "PID=1\nUPDATED=0\n"
#define GOOD_SINCE "REFUSED_SINCE=2025-12-03T21:46:40Z\n"
        static const char *const bad[] = {
                /* all three, and with the state refused only */
                HEAD "STATE=refused\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\n" GOOD_SINCE,
                HEAD "STATE=refused\nREFUSED_STATUS=401\nREFUSED_ANSWER=x\n",
                HEAD "STATE=refused\n" GOOD_SINCE "REFUSED_ANSWER=x\n",
                HEAD "STATE=waiting\nREFUSED_STATUS=401\n" GOOD_SINCE "REFUSED_ANSWER=x\n",
                HEAD "STATE=idle\nREFUSED_ANSWER=\n",
                HEAD "STATE=off\n" GOOD_SINCE,
                HEAD "STATE=sending\nREFUSED_STATUS=404\n",
                /* repeated */
                HEAD "STATE=refused\nREFUSED_STATUS=401\nREFUSED_STATUS=401\n" GOOD_SINCE "REFUSED_ANSWER=x\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\n" GOOD_SINCE GOOD_SINCE "REFUSED_ANSWER=x\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\n" GOOD_SINCE "REFUSED_ANSWER=x\nREFUSED_ANSWER=x\n",
                /* the status: a 4xx, plain decimal */
                HEAD "STATE=refused\nREFUSED_STATUS=200\n" GOOD_SINCE "REFUSED_ANSWER=\n",
                HEAD "STATE=refused\nREFUSED_STATUS=399\n" GOOD_SINCE "REFUSED_ANSWER=\n",
                HEAD "STATE=refused\nREFUSED_STATUS=500\n" GOOD_SINCE "REFUSED_ANSWER=\n",
                HEAD "STATE=refused\nREFUSED_STATUS=0\n" GOOD_SINCE "REFUSED_ANSWER=\n",
                HEAD "STATE=refused\nREFUSED_STATUS=0401\n" GOOD_SINCE "REFUSED_ANSWER=\n",
                HEAD "STATE=refused\nREFUSED_STATUS=+401\n" GOOD_SINCE "REFUSED_ANSWER=\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401 \n" GOOD_SINCE "REFUSED_ANSWER=\n",
                HEAD "STATE=refused\nREFUSED_STATUS=\n" GOOD_SINCE "REFUSED_ANSWER=\n",
                HEAD "STATE=refused\nREFUSED_STATUS=18446744073709551617\n" GOOD_SINCE "REFUSED_ANSWER=\n",
                /* since: an RFC 3339 date-time with its offset, after the epoch */
                HEAD "STATE=refused\nREFUSED_STATUS=401\nREFUSED_SINCE=\nREFUSED_ANSWER=\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\nREFUSED_SINCE=1764798400000000\nREFUSED_ANSWER=\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\nREFUSED_SINCE=2025-12-03T21:46:40\nREFUSED_ANSWER=\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\nREFUSED_SINCE=2025-12-03\nREFUSED_ANSWER=\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\nREFUSED_SINCE=2025-02-30T00:00:00Z\nREFUSED_ANSWER=\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\nREFUSED_SINCE=1970-01-01T00:00:00Z\nREFUSED_ANSWER=\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\nREFUSED_SINCE=1969-12-31T23:59:59Z\nREFUSED_ANSWER=\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\nREFUSED_SINCE=9999-12-31T23:00:00-01:00\nREFUSED_ANSWER=\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\nREFUSED_SINCE=9999-12-31T23:59:60Z\nREFUSED_ANSWER=\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\nREFUSED_SINCE= 2025-12-03T21:46:40Z\nREFUSED_ANSWER=\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\nREFUSED_SINCE=2025-12-03T21:46:40Z "
                     "and a very long tail that no date has\nREFUSED_ANSWER=\n",
                /* the answer: one line, no control character at all */
                HEAD "STATE=refused\nREFUSED_STATUS=401\n" GOOD_SINCE "REFUSED_ANSWER=a\\nb\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\n" GOOD_SINCE "REFUSED_ANSWER=a\\tb\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\n" GOOD_SINCE "REFUSED_ANSWER=a\tb\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\n" GOOD_SINCE "REFUSED_ANSWER=\\x1b[2J\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\n" GOOD_SINCE "REFUSED_ANSWER=\x1b[2J\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\n" GOOD_SINCE "REFUSED_ANSWER=\\xc2\\x85\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\n" GOOD_SINCE "REFUSED_ANSWER=\\x00\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\n" GOOD_SINCE "REFUSED_ANSWER=\xff\n",
                HEAD "STATE=refused\nREFUSED_STATUS=401\n" GOOD_SINCE "REFUSED_ANSWER=\\q\n",
        };
        assert_all_refused(bad, ELEMENTSOF(bad), &s);

        /* the answer: 512 bytes parse, 513 do not; the bound is on the unescaped text */
        assert_text_bound(HEAD "STATE=refused\nREFUSED_STATUS=401\n" GOOD_SINCE "REFUSED_ANSWER=",
                          UPLINK_STATUS_ANSWER_MAX, "\\x41", offsetof(UplinkStatus, refused_answer));
#undef HEAD
#undef GOOD_SINCE
}

static void test_refused_meaning(void **state) {
        (void) state;
        assert_non_null(strstr(uplink_refused_meaning(401), "token"));
        assert_non_null(strstr(uplink_refused_meaning(403), "client certificate"));
        assert_non_null(strstr(uplink_refused_meaning(404), "collector.url"));
        assert_ptr_equal(uplink_refused_meaning(405), uplink_refused_meaning(404));
        assert_non_null(strstr(uplink_refused_meaning(407), "proxy"));
        assert_non_null(strstr(uplink_refused_meaning(421), "host"));
        assert_ptr_equal(uplink_refused_meaning(426), uplink_refused_meaning(421));
        /* anything else still says something */
        assert_non_null(strstr(uplink_refused_meaning(418), "refuses"));
        assert_non_null(uplink_refused_meaning(0));
        assert_non_null(uplink_refused_meaning(-1));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_state_strings), cmocka_unit_test(test_parse_good),
                cmocka_unit_test(test_parse_minimal), cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_escapes),       cmocka_unit_test(test_bad_values),
                cmocka_unit_test(test_bounds),        cmocka_unit_test(test_refused),
                cmocka_unit_test(test_refused_bad),   cmocka_unit_test(test_refused_meaning),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
