/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "policy.h"

static const char *const reason_names[_DECISION_REASON_MAX] = {
        [DECISION_ALLOWED] = "allowed",
        [DECISION_UNKNOWN] = "unknown",
        [DECISION_EXPIRED] = "expired",
        [DECISION_SERIAL_MISMATCH] = "serial_mismatch",
        [DECISION_NO_SERIAL] = "no_serial",
        [DECISION_NO_POLICY] = "no_valid_policy",
};

const char *decision_reason_to_string(DecisionReason r) {
        return (unsigned) r < _DECISION_REASON_MAX ? reason_names[r] : "unknown";
}

Policy *policy_alloc(void) {
        Policy *p = calloc(1, sizeof *p);
        if (!p)
                return NULL;
        p->n_ref = 1;
        p->usb.block_mask = USB_CATEGORIES_BLOCKABLE;
        return p;
}

Policy *policy_ref(Policy *p) {
        if (p)
                p->n_ref++;
        return p;
}

static void allow_entry_done(AllowEntry *e) {
        free(e->file);
        free(e->serial);
        free(e->label);
        free(e->approved_by);
        free(e->approved_on);
        free(e->ticket);
        free(e->expires);
}

Policy *policy_unref(Policy *p) {
        if (!p || --p->n_ref > 0)
                return NULL;
        for (size_t i = 0; i < p->usb.n_entries; i++)
                allow_entry_done(&p->usb.entries[i]);
        free(p->usb.entries);
        free(p->usb.policy_ref);
        free(p->notice.contact);
        free(p->notice.contact_en);
        for (size_t i = 0; i < p->n_files; i++)
                free(p->files[i]);
        free(p->files);
        free(p->config_path);
        free(p->allow_dir);
        free(p);
        return NULL;
}

int policy_new_failsafe(const char *config_path, Policy **ret) {
        _cleanup_(policy_unrefp) Policy *p = policy_alloc();
        if (!p)
                return -ENOMEM;
        p->failsafe = true;
        p->usb.block_mask = USB_CATEGORIES_BLOCKABLE;
        p->usb.policy_ref = strdup(POLICY_REF_USB_DEFAULT);
        p->config_path = config_path ? strdup(config_path) : NULL;
        if (!p->usb.policy_ref || (config_path && !p->config_path))
                return -ENOMEM;
        /* A recognisable hash, so the central team can tell a fail-closed agent. */
        memset(p->hash, '0', 64);
        p->hash[64] = 0;
        *ret = TAKE_PTR(p);
        return 0;
}

static bool serial_equal(const AllowEntry *e, const UsbDevice *d) {
        return d->has_serial && e->serial && e->serial_len == d->serial_raw_len &&
               memcmp(e->serial, d->serial_raw, e->serial_len) == 0;
}

Decision policy_decide(const Policy *p, const UsbDevice *d, usec_t now) {
        Decision dec = {
                .reason = DECISION_UNKNOWN,
                .changes_at = USEC_INFINITY,
        };
        const AllowEntry *expired = NULL, *mismatch = NULL, *in_force = NULL;
        int in_force_rank = -1;

        dec.blocked_categories = d->categories & p->usb.block_mask;
        dec.relevant = dec.blocked_categories != 0;
        if (!dec.relevant) {
                dec.allow = true;
                dec.reason = DECISION_ALLOWED;
                return dec;
        }
        if (p->failsafe) {
                dec.reason = DECISION_NO_POLICY;
                return dec;
        }

        for (size_t k = 0; k < p->usb.n_entries; k++) {
                const AllowEntry *e = &p->usb.entries[k];
                int rank;

                if (e->vendor != d->vendor || e->product != d->product)
                        continue;
                if (e->any_serial)
                        rank = 0;
                else if (serial_equal(e, d))
                        rank = 1; /* an exact serial beats any_serial */
                else {
                        if (!mismatch)
                                mismatch = e;
                        continue;
                }
                if (e->expires_at != USEC_INFINITY && now >= e->expires_at) {
                        if (!expired)
                                expired = e;
                        continue;
                }
                /* Among entries in force, the most specific wins, then the one
                 * that lasts longest, so a decision never flips back early. */
                if (rank > in_force_rank || (rank == in_force_rank && e->expires_at > in_force->expires_at)) {
                        in_force = e;
                        in_force_rank = rank;
                }
        }

        if (in_force) {
                dec.allow = true;
                dec.reason = DECISION_ALLOWED;
                dec.entry = in_force;
                dec.changes_at = in_force->expires_at;
                return dec;
        }
        /* With no entry at all for the model, the device is simply unknown
         * (the event still says whether it has a serial). */
        if (expired) {
                dec.reason = DECISION_EXPIRED;
                dec.entry = expired;
        } else if (mismatch) {
                dec.reason = d->has_serial ? DECISION_SERIAL_MISMATCH : DECISION_NO_SERIAL;
                dec.entry = mismatch;
        }
        return dec;
}
