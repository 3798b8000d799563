/* SPDX-License-Identifier: MIT */
/* clamd's reply lines (agent/av/av-scan.c): whatever clamd or whoever holds
 * its socket sends, a reply is one of three forms, its text clean. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "av-scan.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        AvScanReply r = { 0 };
        int k;

        if (size > 2 * AV_SCAN_LINE_MAX)
                return 0;
        k = av_scan_parse_reply((const char *) data, size, &r);
        if (k < 0) {
                if (k != -EBADMSG && k != -ENOMEM)
                        abort();
                return 0;
        }
        switch (r.kind) {
        case AV_SCAN_REPLY_OK:
                if (!r.path || r.signature || !text_is_clean(r.path, strlen(r.path)))
                        abort();
                break;
        case AV_SCAN_REPLY_FOUND:
                if (!r.path || !r.signature || !r.raw_path || !*r.signature || strchr(r.signature, ' ') ||
                    !text_is_clean(r.path, strlen(r.path)) || !text_is_clean(r.signature, strlen(r.signature)))
                        abort();
                break;
        case AV_SCAN_REPLY_ERROR:
                if (!r.message || !text_is_clean(r.message, strlen(r.message)))
                        abort();
                break;
        default:
                abort();
        }
        av_scan_reply_done(&r);
        return 0;
}
