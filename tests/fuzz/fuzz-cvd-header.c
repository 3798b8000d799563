/* SPDX-License-Identifier: MIT */
/* The ClamAV database header parser, on whatever bytes a file may hold. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cvd-header.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        CvdHeader h, other = { .version = 1, .stime = 1 };
        /* An exact-size heap copy, so that ASan sees any read past the end. */
        uint8_t *buf = malloc(size ? size : 1);
        int r;

        if (!buf)
                return 0;
        if (size)
                memcpy(buf, data, size);
        r = cvd_header_parse(buf, size, &h);
        if (r == 0) {
                /* What a parsed header promises its users. */
                if (h.stime == 0 || strlen(h.build_time) == 0 || strlen(h.builder) >= sizeof h.builder ||
                    strlen(h.md5) >= sizeof h.md5)
                        abort();
                (void) cvd_header_pick(&h, &other);
        } else if (r != -EBADMSG && r != -ENODATA)
                abort();
        free(buf);
        return 0;
}
