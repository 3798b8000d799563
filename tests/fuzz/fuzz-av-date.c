/* SPDX-License-Identifier: MIT */
/* The date an antivirus command prints (generic source). The first byte picks
 * the expected format; the rest is the command's output. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "av-date.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static bool tz_set = false;
        usec_t t = 0;
        char *buf;
        int r;

        if (size < 1)
                return 0;
        if (!tz_set) {
                setenv("TZ", "JST-9", 1);
                tz_set = true;
        }
        buf = malloc(size - 1 ? size - 1 : 1);
        if (!buf)
                return 0;
        memcpy(buf, data + 1, size - 1);
        r = av_date_parse(buf, size - 1, (AvCommandOutput) (data[0] % _AV_OUTPUT_MAX), UINT64_C(2000000000) * USEC_PER_SEC, &t);
        if (r != 0 && r != -EBADMSG)
                abort();
        free(buf);
        return 0;
}
