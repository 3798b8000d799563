/* SPDX-License-Identifier: MIT */
/* The configuration parser: the input is split at the first line "%%" into
 * mamori.conf and one allow.d file. Each part goes in with its length, as a
 * file read from disk does, so a NUL byte inside reaches the parser. */
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
        char *paths[2] = { (char *) "mamori.conf", (char *) "allow.d/00-test.conf" };
        _cleanup_free_ char *main_text = NULL, *allow_text = NULL;
        char *texts[2];
        size_t lens[2] = { size, 0 }, n = 1;
        const uint8_t *split;

        if (size > 64 * 1024)
                return 0;
        log_set_max_level(LOG_CRIT);
        split = memmem(data, size, "\n%%\n", 4);
        if (split) {
                lens[0] = (size_t) (split - data);
                lens[1] = size - lens[0] - 4;
                n = 2;
        }
        /* Each text NUL-terminated past its length, as a file read from disk. */
        texts[0] = main_text = malloc(lens[0] + 1);
        texts[1] = allow_text = malloc(lens[1] + 1);
        if (!main_text || !allow_text)
                return 0;
        memcpy(main_text, data, lens[0]);
        main_text[lens[0]] = 0;
        if (split)
                memcpy(allow_text, split + 4, lens[1]);
        allow_text[lens[1]] = 0;
        if (config_load_texts(paths, texts, lens, n, &p, &errs) == 0) {
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
                /* the policy hash: 64 hex digits */
                if (strlen(p->hash) != 64 || strspn(p->hash, "0123456789abcdef") != 64)
                        abort();
                /* what check-config notes about it (duplicates, expiries) */
                ConfigErrors notes = { 0 };
                config_policy_notes(p, now_usec(CLOCK_REALTIME), &notes);
                config_errors_done(&notes);
        }
        char *s = config_errors_summary(&errs);
        free(s);
        config_errors_done(&errs);
        return 0;
}
