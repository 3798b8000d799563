/* SPDX-License-Identifier: MIT */
/* agent/uplink/dead-letter.c: the file's name and header, the parser of what
 * comes back from resend/ (every flaw refused), and the directories: the
 * bound, the counts, a damaged file set aside. */
#include <assert.h>
#include "unit.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "dead-letter.h"
#include "macro.h"

static const char body[] = "{\"id\":\"a-1\",\"seq\":3,\"kind\":\"usb.blocked\"}\n"
                           "{\"id\":\"a-2\",\"seq\":4}\n"
                           "{\"id\":\"a-3\",\"seq\":6}\n";

static void info_init(DeadLetterInfo *i) {
        *i = (DeadLetterInfo){ .first_seq = 3, .last_seq = 6, .count = 3 };
        i->url = strdup("https://collector.example/v1/events");
        assert_non_null(i->url);
        assert_int_equal(dead_letter_info_add_answer(i, 1764800000000000, 400, "{\"error\":\"bad\"}", 15), 0);
}

/* header + "\n" + body, newly allocated */
static char *file_text(const DeadLetterInfo *i, const char *b, size_t *ret_len) {
        _cleanup_free_ char *h = NULL;
        size_t hlen = 0;
        char *out;

        assert_int_equal(dead_letter_format_header(i, &h, &hlen), 0);
        assert_int_equal(asprintf(&out, "%s\n%s", h, b), (int) (hlen + 1 + strlen(b)));
        *ret_len = strlen(out);
        return out;
}

static void test_names(void **state) {
        char name[DEAD_LETTER_NAME_LEN + 1];
        uint64_t f = 0, l = 0;
        (void) state;

        dead_letter_name(3, 6, name);
        assert_string_equal(name, "00000000000000000003-00000000000000000006.ndjson");
        assert_true(dead_letter_name_parse(name, &f, &l));
        assert_int_equal(f, 3);
        assert_int_equal(l, 6);
        dead_letter_name(UINT64_MAX, UINT64_MAX, name);
        assert_true(dead_letter_name_parse(name, &f, &l));
        assert_true(f == UINT64_MAX && l == UINT64_MAX);

        static const char *const bad[] = {
                "",
                "00000000000000000006-00000000000000000003.ndjson", /* first > last */
                "0000000000000000003-00000000000000000006.ndjson",  /* 19 digits */
                "00000000000000000003-00000000000000000006.ndjso",
                "00000000000000000003-00000000000000000006.ndjson.damaged",
                "00000000000000000003_00000000000000000006.ndjson",
                "0000000000000000000x-00000000000000000006.ndjson",
                "99999999999999999999-99999999999999999999.ndjson", /* over 2^64 */
                "../0000000000000003-00000000000000000006.ndjson",
        };
        for (size_t k = 0; k < ELEMENTSOF(bad); k++)
                assert_false(dead_letter_name_parse(bad[k], NULL, NULL));
}

static void test_round_trip(void **state) {
        DeadLetterInfo i, p = {};
        _cleanup_free_ char *text = NULL;
        const char *b = NULL, *why = NULL;
        size_t len = 0, blen = 0;
        (void) state;

        info_init(&i);
        /* a hostile answer: sanitized when added */
        assert_int_equal(dead_letter_info_add_answer(&i, 1764800100000000, 400, "x\x1b[31m\xff", 7), 0);
        text = file_text(&i, body, &len);
        assert_int_equal(dead_letter_parse(text, len, &p, &b, &blen, &why), 0);
        assert_null(why);
        assert_int_equal(blen, strlen(body));
        assert_memory_equal(b, body, blen); /* the batch exactly as sent */
        assert_int_equal(p.first_seq, 3);
        assert_int_equal(p.last_seq, 6);
        assert_int_equal(p.count, 3);
        assert_string_equal(p.url, i.url);
        assert_int_equal(p.n_answers, 2);
        assert_int_equal(p.answers[0].status, 400);
        assert_string_equal(p.answers[0].response, "{\"error\":\"bad\"}");
        assert_string_equal(p.answers[0].time, "2025-12-03T22:13:20.000000Z");
        assert_null(strchr(p.answers[1].response, '\x1b'));
        dead_letter_info_done(&p);
        dead_letter_info_done(&i);
}

static void test_answers_are_bounded(void **state) {
        DeadLetterInfo i, p = {};
        _cleanup_free_ char *text = NULL;
        const char *b, *why;
        size_t len, blen;
        (void) state;

        info_init(&i);
        for (long s = 401; s < 401 + DEAD_LETTER_ANSWERS_MAX; s++)
                assert_int_equal(dead_letter_info_add_answer(&i, 1, s, "r", 1), 0);
        assert_int_equal(i.n_answers, DEAD_LETTER_ANSWERS_MAX);
        assert_int_equal(i.answers[0].status, 401); /* the oldest went */
        text = file_text(&i, body, &len);
        assert_int_equal(dead_letter_parse(text, len, &p, &b, &blen, &why), 0);
        assert_int_equal(p.n_answers, DEAD_LETTER_ANSWERS_MAX);
        assert_int_equal(p.answers[DEAD_LETTER_ANSWERS_MAX - 1].status, 400 + DEAD_LETTER_ANSWERS_MAX);
        dead_letter_info_done(&p);
        dead_letter_info_done(&i);
}

static void test_older_header(void **state) {
        static const char text[] = "{\"mamori_dead_letter\":{\"time\":\"2026-01-01T00:00:00Z\",\"url\":\"https://c/\","
                                   "\"status\":422,\"response\":\"no\",\"first_seq\":3,\"last_seq\":6,\"count\":3}}\n"
                                   "{\"id\":\"a-1\",\"seq\":3}\n{\"id\":\"a-2\",\"seq\":4}\n{\"id\":\"a-3\",\"seq\":6}\n";
        DeadLetterInfo p = {};
        const char *b, *why;
        size_t blen;
        (void) state;

        assert_int_equal(dead_letter_parse(text, strlen(text), &p, &b, &blen, &why), 0);
        assert_int_equal(p.n_answers, 1);
        assert_int_equal(p.answers[0].status, 422);
        dead_letter_info_done(&p);
}

static void test_flaws(void **state) {
        static const char *const H = "{\"mamori_dead_letter\":{\"time\":\"2026-01-01T00:00:00Z\",\"status\":400,"
                                     "\"response\":\"r\",\"first_seq\":3,\"last_seq\":4,\"count\":2}}\n";
        static const char *const bad_bodies[] = {
                "",                                                     /* no event */
                "{\"id\":\"a\",\"seq\":3}\n{\"id\":\"b\",\"seq\":4}",   /* torn last line */
                "{\"id\":\"a\",\"seq\":3}\n",                           /* count 1 of 2 */
                "{\"id\":\"a\",\"seq\":3}\n{\"id\":\"b\",\"seq\":5}\n", /* past last_seq */
                "{\"id\":\"a\",\"seq\":4}\n{\"id\":\"b\",\"seq\":3}\n", /* backwards */
                "{\"id\":\"a\",\"seq\":3}\n{\"id\":\"b\",\"seq\":3}\n", /* repeated */
                "{\"id\":\"a\",\"seq\":3}\n\n",                         /* empty line */
                "{\"id\":\"a\",\"seq\":3}\n[1]\n",                      /* not an object */
                "{\"id\":\"a\",\"seq\":3}\n{\"seq\":4}\n",              /* no id */
                "{\"id\":\"a\",\"seq\":3}\n{\"id\":\"\",\"seq\":4}\n",  /* empty id */
                "{\"id\":\"a\",\"seq\":3}\n{\"id\":7,\"seq\":4}\n",     /* id not a string */
                "{\"id\":\"a\",\"seq\":3}\n{\"id\":\"b\",\"seq\":\"4\"}\n",
                "{\"id\":\"a\",\"seq\":3}\n{\"id\":\"b\",\"seq\":4} x\n", /* trailing bytes */
                "{\"id\":\"a\",\"seq\":3}\n{\"id\":\"b\",\"seq\":4}\n{\"id\":\"c\",\"seq\":4}\n",
        };
        static const char *const bad_headers[] = {
                "\n",
                "[]\n",
                "{\"other\":{}}\n",
                "{\"mamori_dead_letter\":{\"time\":\"t\",\"status\":400,\"response\":\"r\",\"first_seq\":4,\"last_seq\":3,\"count\":2}}\n",
                "{\"mamori_dead_letter\":{\"time\":\"t\",\"status\":400,\"response\":\"r\",\"first_seq\":0,\"last_seq\":4,\"count\":2}}\n",
                "{\"mamori_dead_letter\":{\"time\":\"t\",\"status\":400,\"response\":\"r\",\"first_seq\":3,\"last_seq\":4,\"count\":3}}\n",
                "{\"mamori_dead_letter\":{\"time\":\"t\",\"status\":400,\"response\":\"r\",\"first_seq\":-3,\"last_seq\":4,\"count\":2}}\n",
                "{\"mamori_dead_letter\":{\"time\":\"t\",\"status\":99,\"response\":\"r\",\"first_seq\":3,\"last_seq\":4,\"count\":2}}\n",
                "{\"mamori_dead_letter\":{\"time\":\"t\",\"status\":1000,\"response\":\"r\",\"first_seq\":3,\"last_seq\":4,\"count\":2}}\n",
                "{\"mamori_dead_letter\":{\"time\":\"t\",\"status\":400,\"response\":\"\\u001b\",\"first_seq\":3,\"last_seq\":4,\"count\":2}}\n",
                "{\"mamori_dead_letter\":{\"time\":\"t\",\"status\":400,\"response\":\"r\",\"first_seq\":3,\"last_seq\":4,\"count\":2,\"answers\":[]}}\n",
                "{\"mamori_dead_letter\":{\"time\":\"t\",\"status\":400,\"response\":\"r\",\"first_seq\":3,\"last_seq\":4,\"count\":2,\"answers\":[1]}}\n",
                "{\"mamori_dead_letter\":{\"time\":\"t\",\"status\":400,\"response\":\"r\",\"first_seq\":3,\"last_seq\":4,\"count\":2,\"url\":5}}\n",
                "{\"mamori_dead_letter\":{\"time\":\"0123456789012345678901234567890123456789012345678901234567890123456789\",\"status\":400,\"response\":\"r\",\"first_seq\":3,\"last_seq\":4,\"count\":2}}\n",
        };
        static const char two[] = "{\"id\":\"a\",\"seq\":3}\n{\"id\":\"b\",\"seq\":4}\n";
        DeadLetterInfo p = {};
        const char *b, *why;
        size_t blen;
        char *t;
        (void) state;

        /* the good one, for contrast */
        assert_int_equal(asprintf(&t, "%s%s", H, two), (int) (strlen(H) + strlen(two)));
        assert_int_equal(dead_letter_parse(t, strlen(t), &p, &b, &blen, &why), 0);
        dead_letter_info_done(&p);
        /* a NUL anywhere */
        t[strlen(H) + 3] = '\0';
        assert_int_equal(dead_letter_parse(t, strlen(H) + strlen(two), &p, &b, &blen, &why), -EBADMSG);
        free(t);

        for (size_t k = 0; k < ELEMENTSOF(bad_bodies); k++) {
                assert_true(asprintf(&t, "%s%s", H, bad_bodies[k]) > 0);
                why = NULL;
                assert_int_equal(dead_letter_parse(t, strlen(t), &p, &b, &blen, &why), -EBADMSG);
                assert_non_null(why);
                assert_int_equal(p.n_answers, 0); /* untouched */
                free(t);
        }
        for (size_t k = 0; k < ELEMENTSOF(bad_headers); k++) {
                assert_true(asprintf(&t, "%s%s", bad_headers[k], two) > 0);
                assert_int_equal(dead_letter_parse(t, strlen(t), &p, &b, &blen, &why), -EBADMSG);
                free(t);
        }
        /* no newline within the header's bound */
        t = malloc(DEAD_LETTER_HEADER_MAX + 10);
        assert_non_null(t);
        memset(t, 'x', DEAD_LETTER_HEADER_MAX + 10);
        assert_int_equal(dead_letter_parse(t, DEAD_LETTER_HEADER_MAX + 10, &p, &b, &blen, &why), -EBADMSG);
        free(t);
        /* over the whole file's bound: not even looked at */
        assert_int_equal(dead_letter_parse("", DEAD_LETTER_HEADER_MAX + 2 + DEAD_LETTER_BODY_MAX, &p, &b, &blen, &why),
                         -EFBIG);
}

static void write_file(const char *dir, const char *name, const char *text, size_t len) {
        _cleanup_free_ char *path = NULL;
        FILE *f;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(text, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
}

static void test_directories(void **state) {
        char tmpl[] = "/tmp/test-dead-letter-XXXXXX";
        _cleanup_(dead_letter_freep) DeadLetter *d = NULL;
        _cleanup_free_ char *path = NULL, *dead = NULL, *resend = NULL, *from = NULL, *to = NULL, *got = NULL,
                            *name = NULL, *text = NULL;
        char n[DEAD_LETTER_NAME_LEN + 1];
        DeadLetterInfo i, p = {};
        uint64_t batches = 9, bytes = 9;
        const char *why = NULL;
        size_t len = 0, flen = 0;
        struct stat st;
        (void) state;

        assert_non_null(mkdtemp(tmpl));
        assert_int_equal(dead_letter_new(tmpl, &d), 0);
        assert_true(asprintf(&dead, "%s/dead-letter", tmpl) > 0 && asprintf(&resend, "%s/resend", tmpl) > 0);
        assert_int_equal(stat(dead, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        dead_letter_usage(d, &batches, &bytes);
        assert_true(batches == 0 && bytes == 0);
        assert_int_equal(dead_letter_next_resend(d, &p, &got, &len, &name, &why), -ENODATA);

        info_init(&i);
        free(file_text(&i, body, &flen));
        /* the bound: one byte short, then just enough */
        dead_letter_set_max(d, flen - 1);
        assert_int_equal(dead_letter_write(d, &i, body, strlen(body), false, &path), -EDQUOT);
        dead_letter_set_max(d, flen);
        assert_int_equal(dead_letter_write(d, &i, body, strlen(body), false, &path), 0);
        dead_letter_name(3, 6, n);
        assert_true(endswith(path, n));
        dead_letter_usage(d, &batches, &bytes);
        assert_int_equal(batches, 1);
        assert_int_equal(bytes, flen);

        /* mamorictl's move; the uplink takes it from resend/ */
        assert_true(asprintf(&from, "%s/%s", dead, n) > 0 && asprintf(&to, "%s/%s", resend, n) > 0);
        assert_int_equal(rename(from, to), 0);
        assert_int_equal(dead_letter_next_resend(d, &p, &got, &len, &name, &why), 0);
        assert_string_equal(name, n);
        assert_int_equal(len, strlen(body));
        assert_string_equal(got, body);
        /* refused again: back, replacing, the bound does not refuse it */
        assert_int_equal(dead_letter_info_add_answer(&p, 2, 400, "again", 5), 0);
        free(path);
        path = NULL;
        assert_int_equal(dead_letter_write(d, &p, got, len, true, &path), 0);
        assert_int_equal(dead_letter_resend_done(d, name), 0);
        dead_letter_usage(d, &batches, &bytes);
        assert_int_equal(batches, 1);
        assert_true(bytes > flen);
        dead_letter_info_done(&p);

        /* damaged and linked files in resend/ are set aside, one by one */
        write_file(resend, "00000000000000000001-00000000000000000001.ndjson", "junk\n", 5);
        assert(to); /* asprintf above (cmocka's assert is not noreturn to the analyzer) */
        assert_int_equal(symlinkat("/etc/passwd", AT_FDCWD, to), 0);
        free(name);
        name = NULL;
        assert_int_equal(dead_letter_next_resend(d, &p, &got, &len, &name, &why), -EBADMSG);
        assert_string_equal(name, "00000000000000000001-00000000000000000001.ndjson");
        assert_non_null(why);
        free(name);
        name = NULL;
        assert_int_equal(dead_letter_next_resend(d, &p, &got, &len, &name, &why), -EBADMSG);
        assert_string_equal(name, n);
        free(name);
        name = NULL;
        assert_int_equal(dead_letter_next_resend(d, &p, &got, &len, &name, &why), -ENODATA);
        free(path);
        assert_true(asprintf(&path, "%s/%s.damaged", dead, n) > 0);
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISLNK(st.st_mode));
        dead_letter_usage(d, &batches, &bytes);
        assert_int_equal(batches, 2); /* the batch and the junk; the link is not a file */

        dead_letter_info_done(&i);
        assert_int_equal(system(NULL) != 0, 1);
        free(from);
        assert_true(asprintf(&from, "rm -rf '%s'", tmpl) > 0);
        assert_int_equal(system(from), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_answers_are_bounded),
                cmocka_unit_test(test_older_header),
                cmocka_unit_test(test_flaws),
                cmocka_unit_test(test_directories),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
