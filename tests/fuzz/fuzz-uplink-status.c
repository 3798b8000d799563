/* SPDX-License-Identifier: MIT */
/* The status file of mamori-uplink, as mamorid (root) parses it: whatever
 * parses formats again, and the text formatted parses to the same status. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "uplink-status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_equal(const UplinkStatus *a, const UplinkStatus *b) {
        if (a->pid != b->pid || a->updated != b->updated || a->state != b->state || !streq_ptr(a->url, b->url) ||
            a->last_success != b->last_success || a->last_attempt != b->last_attempt ||
            a->next_attempt != b->next_attempt || a->failures != b->failures || a->last_status != b->last_status ||
            !streq_ptr(a->last_error, b->last_error) || a->events_sent != b->events_sent ||
            a->batches_sent != b->batches_sent || a->batches_rejected != b->batches_rejected ||
            a->events_rejected != b->events_rejected || a->bytes_sent != b->bytes_sent ||
            a->acked_seq != b->acked_seq || a->refused_status != b->refused_status ||
            a->refused_since != b->refused_since || !streq_ptr(a->refused_answer, b->refused_answer) ||
            a->dead_letter_count != b->dead_letter_count || a->dead_letter_bytes != b->dead_letter_bytes)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        UplinkStatus a = {}, b = {};
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r;

        r = uplink_status_parse((const char *) data, size, &a);
        if (r == -EBADMSG || r == -EFBIG)
                return 0;
        if (r < 0)
                abort();
        if (a.pid <= 0 || (unsigned) a.state >= _UPLINK_STATE_MAX || a.last_status < 0 || a.last_status > 999 ||
            (a.url && strlen(a.url) > UPLINK_STATUS_TEXT_MAX) ||
            (a.last_error && strlen(a.last_error) > UPLINK_STATUS_TEXT_MAX))
                abort();
        /* refused: all three members, a 4xx, an answer on one line; otherwise none */
        if ((a.state == UPLINK_REFUSED) != (a.refused_answer != NULL) ||
            (a.state == UPLINK_REFUSED &&
             (a.refused_status < 400 || a.refused_status > 499 || !a.refused_since ||
              strlen(a.refused_answer) > UPLINK_STATUS_ANSWER_MAX || strpbrk(a.refused_answer, "\n\t"))) ||
            (a.state != UPLINK_REFUSED && (a.refused_status || a.refused_since)))
                abort();

        if (uplink_status_format(&a, &text, &len) < 0 || strlen(text) != len)
                abort();
        if (uplink_status_parse(text, len, &b) < 0)
                abort();
        check_equal(&a, &b);
        uplink_status_done(&a);
        uplink_status_done(&b);
        return 0;
}
