/* SPDX-License-Identifier: MIT */
/* mamorictl allow --renew: for any allow.d text that loads, renewing any of
 * its entries either refuses (the layout is ambiguous) or gives a text that
 * loads with exactly that entry changed: the same device, the new expiry,
 * approver and ticket; every other entry as it was. The input is the text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allow-renew.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const AllowEntry *a, const AllowEntry *b) {
        return allow_entry_same_device(a, b) && a->expires_at == b->expires_at && streq_ptr(a->approved_by, b->approved_by) &&
               streq_ptr(a->ticket, b->ticket) && streq_ptr(a->label, b->label) && streq_ptr(a->approved_on, b->approved_on);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const AllowRenewal ren = { .expires = "2099-06-30T17:00:00+09:00", .approved_by = "CISO \"R\" 承認",
                                          .ticket = "SEC-\\9" };
        _cleanup_free_ char *text = NULL;
        Policy *p = NULL;
        ConfigErrors errs = { 0 };

        if (size > 64 * 1024 || memchr(data, 0, size))
                return 0;
        text = strndup((const char *) data, size);
        if (!text || config_load_strings("", text, &p, &errs) < 0) {
                config_errors_done(&errs);
                return 0;
        }
        config_errors_done(&errs);
        for (size_t i = 0; i < p->usb.n_entries; i++) {
                char *out = NULL;
                Policy *np = NULL;
                int r = allow_renew_text(text, p->usb.entries[i].line, &ren, &out);
                if (r == -ENOTUNIQ)
                        continue;
                if (r < 0)
                        abort(); /* the entry is there and the text loads */
                if (config_load_strings("", out, &np, &errs) < 0) {
                        config_errors_print(&errs, stderr);
                        fprintf(stderr, "--- renewed ---\n%s\n", out);
                        abort();
                }
                config_errors_done(&errs);
                if (np->usb.n_entries != p->usb.n_entries)
                        abort();
                for (size_t k = 0; k < p->usb.n_entries; k++) {
                        const AllowEntry *o = &p->usb.entries[k], *n = &np->usb.entries[k];
                        if (o->line == p->usb.entries[i].line && k != i)
                                continue; /* another entry on its line: refused above, so not reached */
                        if (k != i ? !same(o, n)
                                   : !allow_entry_same_device(o, n) || n->line != o->line ||
                                             !streq_ptr(n->approved_by, ren.approved_by) ||
                                             !streq_ptr(n->ticket, ren.ticket) || !streq_ptr(n->expires, ren.expires) ||
                                             !streq_ptr(n->label, o->label)) {
                                fprintf(stderr, "entry %zu changed wrongly renewing %zu:\n%s\n", k, i, out);
                                abort();
                        }
                }
                policy_unref(np);
                free(out);
        }
        policy_unref(p);
        return 0;
}
