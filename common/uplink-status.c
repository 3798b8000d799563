/* SPDX-License-Identifier: MIT */
/* INTERIM (h-uplink): replaced by helper "mamorid"'s module at the merge. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "macro.h"
#include "string-table.h"
#include "uplink-status.h"

static const char *const uplink_state_table[_UPLINK_STATE_MAX] = {
        [UPLINK_OFF] = "off",
        [UPLINK_IDLE] = "idle",
        [UPLINK_SENDING] = "sending",
        [UPLINK_WAITING] = "waiting",
};

DEFINE_STRING_TABLE_LOOKUP_FALLBACK(uplink_state, UplinkState, "unknown");

/* \\ \n \t and \xHH for the other control bytes; UTF-8 stays as it is. */
static void uplink_status_escape(FILE *f, const char *s) {
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;
                if (c == '\\')
                        fputs("\\\\", f);
                else if (c == '\n')
                        fputs("\\n", f);
                else if (c == '\t')
                        fputs("\\t", f);
                else if (c < 0x20 || c == 0x7f)
                        fprintf(f, "\\x%02x", c);
                else
                        fputc(c, f);
        }
}

int uplink_status_format(const UplinkStatus *s, char **ret, size_t *ret_len) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f;

        if (!s || !ret || !ret_len)
                return -EINVAL;
        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        fprintf(f, "# written by mamori-uplink; read by mamorid (mamorictl status, heartbeat)\n");
        fprintf(f, "PID=%ld\nUPDATED=%" PRIu64 "\nSTATE=%s\n", (long) s->pid, s->updated,
                uplink_state_to_string(s->state));
        if (s->url) {
                fputs("URL=", f);
                uplink_status_escape(f, s->url);
                fputc('\n', f);
        }
        fprintf(f, "LAST_SUCCESS=%" PRIu64 "\nLAST_ATTEMPT=%" PRIu64 "\nNEXT_ATTEMPT=%" PRIu64 "\n", s->last_success,
                s->last_attempt, s->next_attempt);
        fprintf(f, "FAILURES=%u\nLAST_STATUS=%ld\n", s->failures, s->last_status);
        if (s->last_error) {
                fputs("LAST_ERROR=", f);
                uplink_status_escape(f, s->last_error);
                fputc('\n', f);
        }
        fprintf(f,
                "EVENTS_SENT=%" PRIu64 "\nBATCHES_SENT=%" PRIu64 "\nBATCHES_REJECTED=%" PRIu64
                "\nEVENTS_REJECTED=%" PRIu64 "\nBYTES_SENT=%" PRIu64 "\nACKED_SEQ=%" PRIu64 "\n",
                s->events_sent, s->batches_sent, s->batches_rejected, s->events_rejected, s->bytes_sent, s->acked_seq);
        if (fclose(f) != 0 || !buf) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}

void uplink_status_done(UplinkStatus *s) {
        if (!s)
                return;
        s->url = mfree(s->url);
        s->last_error = mfree(s->last_error);
}
