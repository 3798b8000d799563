/* SPDX-License-Identifier: MIT */
/* mamorictl allow: any serial and label bytes a device (or an admin) gives
 * must come back byte for byte from the daemon's config parser, from a text
 * with no hidden code point standing raw (text.h); and so must the serial
 * written as serial_hex. The input is split at the first 0xff 0x00 pair:
 * serial, then label. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allow-entry.h"
#include "config.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *sep = NULL;
        char *serial, *label = NULL, *text;
        size_t serial_len = size;
        Policy *p = NULL;
        ConfigErrors errs = { 0 };

        for (size_t i = 0; i + 1 < size; i++)
                if (data[i] == 0xff && data[i + 1] == 0) {
                        sep = data + i;
                        serial_len = i;
                        break;
                }
        /* A serial from sysfs is never empty and never holds a NUL. */
        if (serial_len == 0 || memchr(data, 0, serial_len))
                return 0;
        serial = strndup((const char *) data, serial_len);
        if (sep) {
                size_t l = size - serial_len - 2;
                if (memchr(sep + 2, 0, l)) {
                        free(serial);
                        return 0;
                }
                label = strndup((const char *) sep + 2, l);
        }
        AllowDraft d = { .vendor = 0xabcd, .product = 0x0123, .serial = serial, .serial_len = serial_len,
                         .label = label, .approved_by = "fuzz" };
        text = allow_draft_format(&d);
        if (!text)
                abort();
        if (config_load_strings("", text, &p, &errs) < 0)
                abort();
        if (p->usb.n_entries != 1 || p->usb.entries[0].serial_len != serial_len ||
            memcmp(p->usb.entries[0].serial, serial, serial_len) != 0)
                abort();
        if (label && (!p->usb.entries[0].label || strcmp(p->usb.entries[0].label, label) != 0))
                abort();
        policy_unref(p);
        p = NULL;
        config_errors_done(&errs);
        /* every line of the text is clean */
        for (char *line = text, *nl; line; line = nl ? nl + 1 : NULL) {
                nl = strchr(line, '\n');
                if (!text_is_clean(line, nl ? (size_t) (nl - line) : strlen(line)))
                        abort();
        }
        free(text);

        /* serial_hex (at most 512 bytes, as events show it) reads back as the same bytes */
        if (serial_len <= 512) {
                char *hex = hex_encode(serial, serial_len);
                if (!hex || asprintf(&text, "allow = ( { vendor = \"abcd\"; product = \"0123\"; serial_hex = \"%s\"; approved_by = \"f\"; } );",
                                     hex) < 0)
                        abort();
                if (config_load_strings("", text, &p, &errs) < 0 || p->usb.entries[0].serial_len != serial_len ||
                    memcmp(p->usb.entries[0].serial, serial, serial_len) != 0)
                        abort();
                policy_unref(p);
                config_errors_done(&errs);
                free(hex);
                free(text);
        }
        free(serial);
        free(label);
        return 0;
}
