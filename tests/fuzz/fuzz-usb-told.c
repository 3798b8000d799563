/* SPDX-License-Identifier: MIT */
/* /run/mamori/notified, read back at start: whatever it holds, the parser
 * keeps only well-formed entries, at most USB_TOLD_MAX, and what it keeps
 * formats back to lines it parses again to the same entries. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "usb-told.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ UsbTold *e = NULL, *again = NULL;
        _cleanup_free_ char *buf = NULL, *out = NULL;
        size_t n = 0, bad = 0, n2 = 0, bad2 = 0, len = 0;

        if (size > 64 * 1024)
                return 0;
        buf = malloc(size + 1);
        if (!buf)
                return 0;
        memcpy(buf, data, size);
        buf[size] = 0;
        if (usb_told_parse(buf, size, &e, &n, &bad) < 0)
                return 0;
        if (n > USB_TOLD_MAX)
                abort();
        if (usb_told_format(e, n, &out, &len) < 0)
                return 0;
        if (usb_told_parse(out, len, &again, &n2, &bad2) < 0)
                return 0;
        if (n2 != n || bad2 != 0 || (n && memcmp(e, again, n * sizeof *e) != 0))
                abort();
        return 0;
}
