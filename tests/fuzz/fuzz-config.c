/* SPDX-License-Identifier: MIT */
/* The configuration parser: the input is split at the first NUL byte (or a
 * line "%%") into mamori.conf and one allow.d file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "usb-drivers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        ConfigErrors errs = { 0 };
        char *buf, *split;

        if (size > 64 * 1024)
                return 0;
        log_set_max_level(LOG_CRIT);
        buf = malloc(size + 1);
        if (!buf)
                return 0;
        memcpy(buf, data, size);
        buf[size] = 0;
        split = strstr(buf, "\n%%\n");
        if (split) {
                *split = 0;
                split += 4;
        }
        if (config_load_strings(buf, split, &p, &errs) == 0) {
                /* A policy that loaded must be usable. */
                for (size_t i = 0; i < p->usb.n_entries; i++) {
                        if (!p->usb.entries[i].any_serial && !p->usb.entries[i].serial)
                                abort();
                        /* an expiry that was written is an instant, never "forever" */
                        if (p->usb.entries[i].expires && p->usb.entries[i].expires_at == USEC_INFINITY)
                                abort();
                }
                /* usb.drivers: only names a module can have, only blockable categories */
                for (size_t i = 0; i < p->usb.n_drivers; i++)
                        if (!usb_driver_name_valid(p->usb.drivers[i].name) ||
                            !(USB_CATEGORIES_BLOCKABLE & USB_CATEGORY_BIT(p->usb.drivers[i].category)))
                                abort();
        }
        char *s = config_errors_summary(&errs);
        free(s);
        config_errors_done(&errs);
        free(buf);
        return 0;
}
