/* SPDX-License-Identifier: MIT */
/* A dead-letter file read back by mamori-uplink from resend/ (a directory
 * whose owner may be hostile): whatever parses has its invariants, and its
 * header formatted again parses to the same batch. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dead-letter.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        DeadLetterInfo a = {}, b = {};
        _cleanup_free_ char *header = NULL, *again = NULL;
        const char *body = NULL, *body2 = NULL, *why = NULL;
        size_t blen = 0, blen2 = 0, hlen = 0, lines = 0;
        int r;

        r = dead_letter_parse((const char *) data, size, &a, &body, &blen, &why);
        if (r == -EBADMSG || r == -EFBIG) {
                if (!why)
                        abort();
                return 0;
        }
        if (r < 0)
                abort();
        if (a.n_answers == 0 || a.n_answers > DEAD_LETTER_ANSWERS_MAX || a.first_seq == 0 || a.first_seq > a.last_seq ||
            blen == 0 || blen > DEAD_LETTER_BODY_MAX || body[blen - 1] != '\n' || body < (const char *) data ||
            body + blen != (const char *) data + size)
                abort();
        for (size_t k = 0; k < blen; k++)
                lines += body[k] == '\n';
        if (lines != a.count)
                abort();
        for (size_t k = 0; k < a.n_answers; k++)
                if (a.answers[k].status < 100 || a.answers[k].status > 999 ||
                    strlen(a.answers[k].response) > DEAD_LETTER_RESPONSE_MAX)
                        abort();

        if (dead_letter_format_header(&a, &header, &hlen) < 0)
                abort();
        again = malloc(hlen + 1 + blen);
        if (!again)
                abort();
        memcpy(again, header, hlen);
        again[hlen] = '\n';
        memcpy(again + hlen + 1, body, blen);
        if (dead_letter_parse(again, hlen + 1 + blen, &b, &body2, &blen2, &why) < 0)
                abort();
        if (b.first_seq != a.first_seq || b.last_seq != a.last_seq || b.count != a.count ||
            b.n_answers != a.n_answers || !streq_ptr(a.url, b.url) || blen2 != blen || memcmp(body, body2, blen) != 0)
                abort();
        for (size_t k = 0; k < a.n_answers; k++)
                if (a.answers[k].status != b.answers[k].status ||
                    !streq(a.answers[k].response, b.answers[k].response) || !streq(a.answers[k].time, b.answers[k].time))
                        abort();
        dead_letter_info_done(&a);
        dead_letter_info_done(&b);
        return 0;
}
