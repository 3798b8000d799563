/* SPDX-License-Identifier: MIT */
/* The dead-letter file read back (dead-letter.h): hostile bytes, checked one
 * by one. Pure. A file of its own because json-c's names clash with
 * common/json.h's writer, which dead-letter.c uses. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "dead-letter.h"
#include "text.h"

static void json_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}

/* One JSON value taking exactly len bytes. */
static json_object *dead_letter_parse_json(const char *s, size_t len) {
        json_tokener *tok;
        json_object *o;

        if (len > INT32_MAX)
                return NULL;
        tok = json_tokener_new();
        if (!tok)
                return NULL;
        o = json_tokener_parse_ex(tok, s, (int) len);
        if (o && (json_tokener_get_error(tok) != json_tokener_success || json_tokener_get_parse_end(tok) != len)) {
                json_object_put(o);
                o = NULL;
        }
        json_tokener_free(tok);
        return o;
}

static bool dead_letter_get_u64(json_object *o, const char *key, uint64_t max, uint64_t *ret) {
        json_object *v;
        int64_t x;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return false;
        x = json_object_get_int64(v);
        if (x < 0 || (uint64_t) x > max)
                return false;
        *ret = (uint64_t) x;
        return true;
}

/* A string of at most max bytes, valid UTF-8, no control character. */
static const char *dead_letter_get_text(json_object *o, const char *key, size_t max) {
        json_object *v;
        const char *s;
        size_t n;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        s = json_object_get_string(v);
        n = (size_t) json_object_get_string_len(v);
        if (n > max || strlen(s) != n)
                return NULL;
        for (size_t k = 0; k < n;) {
                size_t m = utf8_sequence_len((const unsigned char *) s + k, n - k);
                uint32_t c;
                if (m == 0)
                        return NULL;
                c = utf8_decode((const unsigned char *) s + k, m);
                if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
                        return NULL;
                k += m;
        }
        return s;
}

static int dead_letter_parse_answer(json_object *o, DeadLetterAnswer *a) {
        const char *t, *resp;
        uint64_t status;

        if (!json_object_is_type(o, json_type_object))
                return -EBADMSG;
        t = dead_letter_get_text(o, "time", RFC3339_MAX - 1);
        resp = dead_letter_get_text(o, "response", DEAD_LETTER_RESPONSE_MAX);
        if (!t || !resp || !dead_letter_get_u64(o, "status", 999, &status) || status < 100)
                return -EBADMSG;
        /* A loop, not strcpy(): to the analyzer a string copy into one member may
         * overwrite the whole DeadLetterInfo, pointers included (t is at most
         * RFC3339_MAX - 1 bytes: dead_letter_get_text() checked). */
        for (size_t k = 0; k < RFC3339_MAX; k++) {
                a->time[k] = t[k];
                if (!t[k])
                        break;
        }
        a->time[RFC3339_MAX - 1] = 0;
        a->status = (long) status;
        free(a->response);
        a->response = strdup(resp);
        if (!a->response)
                return -ENOMEM;
        return 0;
}

static int dead_letter_parse_header(const char *s, size_t len, DeadLetterInfo *i, const char **why) {
        _cleanup_(json_putp) json_object *root = dead_letter_parse_json(s, len);
        json_object *h, *answers, *url, *reason;
        uint64_t count;
        size_t n;
        int r;

        *why = "the header is not a JSON object";
        if (!root || !json_object_is_type(root, json_type_object) ||
            !json_object_object_get_ex(root, "mamori_dead_letter", &h) || !json_object_is_type(h, json_type_object))
                return -EBADMSG;
        *why = "the header's seqs or count are wrong";
        if (!dead_letter_get_u64(h, "first_seq", DEAD_LETTER_SEQ_MAX, &i->first_seq) ||
            !dead_letter_get_u64(h, "last_seq", DEAD_LETTER_SEQ_MAX, &i->last_seq) ||
            !dead_letter_get_u64(h, "count", DEAD_LETTER_BODY_MAX, &count) || i->first_seq == 0 ||
            i->first_seq > i->last_seq || count == 0 || count > i->last_seq - i->first_seq + 1)
                return -EBADMSG;
        i->count = (size_t) count;
        if (json_object_object_get_ex(h, "url", &url) && !json_object_is_type(url, json_type_null)) {
                const char *u = dead_letter_get_text(h, "url", 2048);
                *why = "the header's url is not text";
                if (!u)
                        return -EBADMSG;
                i->url = strdup(u);
                if (!i->url)
                        return -ENOMEM;
        }
        if (json_object_object_get_ex(h, "reason", &reason) && !json_object_is_type(reason, json_type_null)) {
                const char *t = dead_letter_get_text(h, "reason", 512);
                *why = "the header's reason is not text";
                if (!t)
                        return -EBADMSG;
                i->reason = strdup(t);
                if (!i->reason)
                        return -ENOMEM;
        }
        *why = "the header's answers are wrong";
        if (json_object_object_get_ex(h, "answers", &answers)) {
                if (!json_object_is_type(answers, json_type_array))
                        return -EBADMSG;
                n = json_object_array_length(answers);
                if (n == 0 || n > DEAD_LETTER_ANSWERS_MAX)
                        return -EBADMSG;
                for (size_t k = 0; k < n; k++) {
                        r = dead_letter_parse_answer(json_object_array_get_idx(answers, k), &i->answers[k]);
                        if (r < 0)
                                return r;
                        i->n_answers++;
                }
                return 0;
        }
        /* A file of an older uplink: its one answer is the header's own. */
        r = dead_letter_parse_answer(h, &i->answers[0]);
        if (r < 0)
                return r;
        i->n_answers = 1;
        return 0;
}

static int dead_letter_check_line(const char *s, size_t len, uint64_t *seq) {
        _cleanup_(json_putp) json_object *o = NULL;
        json_object *id;
        uint64_t v;

        if (len == 0)
                return -EBADMSG;
        o = dead_letter_parse_json(s, len);
        if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "id", &id) ||
            !json_object_is_type(id, json_type_string) || json_object_get_string_len(id) == 0 ||
            (size_t) json_object_get_string_len(id) > DEAD_LETTER_ID_MAX ||
            !dead_letter_get_u64(o, "seq", DEAD_LETTER_SEQ_MAX, &v))
                return -EBADMSG;
        *seq = v;
        return 0;
}

static int dead_letter_parse_into(const char *buf, size_t len, DeadLetterInfo *i, const char **ret_body,
                                  size_t *ret_body_len, const char **ret_why) {
        const char *nl, *body, *why = NULL;
        uint64_t prev = 0, seq = 0;
        size_t hlen, blen, lines = 0;
        int r;

        assert(buf || len == 0);
        assert(i && ret_body && ret_body_len && ret_why);

        *ret_why = "too large";
        if (len > DEAD_LETTER_HEADER_MAX + 1 + DEAD_LETTER_BODY_MAX)
                return -EFBIG;
        *ret_why = "a NUL byte";
        if (memchr(buf, '\0', len))
                return -EBADMSG;
        *ret_why = "no header line";
        nl = memchr(buf, '\n', MIN(len, (size_t) DEAD_LETTER_HEADER_MAX + 1));
        if (!nl)
                return -EBADMSG;
        hlen = (size_t) (nl - buf);
        r = dead_letter_parse_header(buf, hlen, i, &why);
        if (r < 0) {
                *ret_why = why;
                return r;
        }
        body = nl + 1;
        blen = len - hlen - 1;
        *ret_why = "the batch is empty, too large or its last line is torn";
        if (blen == 0 || blen > DEAD_LETTER_BODY_MAX || body[blen - 1] != '\n')
                return -EBADMSG;
        for (size_t pos = 0; pos < blen;) {
                const char *line = body + pos, *end = memchr(line, '\n', blen - pos);
                assert(end); /* the body ends in \n */
                r = dead_letter_check_line(line, (size_t) (end - line), &seq);
                if (r < 0 || seq <= prev || seq < i->first_seq || seq > i->last_seq) {
                        *ret_why = r < 0 ? "an event is not a JSON object with an id and a seq"
                                         : "the events' seqs do not match the header";
                        return -EBADMSG;
                }
                if (lines == 0 && seq != i->first_seq) {
                        *ret_why = "the events' seqs do not match the header";
                        return -EBADMSG;
                }
                prev = seq;
                lines++;
                pos += (size_t) (end - line) + 1;
        }
        if (lines != i->count || seq != i->last_seq) {
                *ret_why = "the events' count or seqs do not match the header";
                return -EBADMSG;
        }
        *ret_why = NULL;
        *ret_body = body;
        *ret_body_len = blen;
        return 0;
}

/* The analyzer cannot see a cleanup attribute run: the info is freed here,
 * on the one error path, by hand. */
int dead_letter_parse(const char *buf, size_t len, DeadLetterInfo *ret, const char **ret_body, size_t *ret_body_len,
                      const char **ret_why) {
        DeadLetterInfo i = {};
        int r;

        assert(ret);
        r = dead_letter_parse_into(buf, len, &i, ret_body, ret_body_len, ret_why);
        if (r < 0) {
                dead_letter_info_done(&i);
                return r;
        }
        *ret = i;
        return 0;
}
