/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "string-table.h"
#include "usb-repeat.h"

static const char *const decision_reason_table[_DECISION_REASON_MAX] = {
        [DECISION_ALLOWED] = "allowed",
        [DECISION_UNKNOWN] = "unknown",
        [DECISION_EXPIRED] = "expired",
        [DECISION_SERIAL_MISMATCH] = "serial_mismatch",
        [DECISION_NO_SERIAL] = "no_serial",
        [DECISION_NO_POLICY] = "no_valid_policy",
        [DECISION_READONLY_VIOLATED] = "readonly_violated",
        [DECISION_READONLY_UNAVAILABLE] = "readonly_unavailable",
        [DECISION_INFECTED] = "infected",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING_FALLBACK(decision_reason, DecisionReason, "unknown");

static const char *const allow_access_table[_ALLOW_ACCESS_MAX] = {
        [ALLOW_ACCESS_READ_WRITE] = "read-write",
        [ALLOW_ACCESS_READ_ONLY] = "read-only",
};

DEFINE_STRING_TABLE_LOOKUP(allow_access, AllowAccess);

Policy *policy_alloc(void) {
        Policy *p = calloc(1, sizeof *p);
        if (!p)
                return NULL;
        p->n_ref = 1;
        p->usb.block_mask = USB_CATEGORIES_BLOCKABLE;
        p->devices.block_mask = DEVICE_CATEGORIES_DEFAULT;
        p->usb.repeat_window = USB_REPEAT_WINDOW_DEFAULT;
        p->usb.expiry_warning = USB_EXPIRY_WARNING_DEFAULT;
        collector_settings_init(&p->collector);
        p->spool.max_bytes = 64ull * 1024 * 1024;
        p->lock.idle_timeout = LOCK_IDLE_TIMEOUT_DEFAULT;
        p->lock.verify_timeout = LOCK_VERIFY_TIMEOUT_DEFAULT;
        p->lock.tty = LOCK_TTY_REPORT;
        p->av.engine = AV_ENGINE_CLAMAV;
        p->av.max_age_hours = AV_MAX_AGE_HOURS_DEFAULT;
        p->av.command_output = AV_OUTPUT_DATE;
        p->av.command_timeout = AV_COMMAND_TIMEOUT_DEFAULT;
        return p;
}

static const char *const lock_tty_action_table[_LOCK_TTY_ACTION_MAX] = {
        [LOCK_TTY_IGNORE] = "ignore",
        [LOCK_TTY_REPORT] = "report",
        [LOCK_TTY_TERMINATE] = "terminate",
};
static const char *const av_engine_table[_AV_ENGINE_MAX] = {
        [AV_ENGINE_CLAMAV] = "clamav",
        [AV_ENGINE_GENERIC] = "generic",
        [AV_ENGINE_NONE] = "none",
};
static const char *const av_command_output_table[_AV_OUTPUT_MAX] = {
        [AV_OUTPUT_DATE] = "date",
        [AV_OUTPUT_EPOCH] = "epoch",
        [AV_OUTPUT_MINUTES_AGO] = "minutes_ago",
};

DEFINE_STRING_TABLE_LOOKUP_FALLBACK(lock_tty_action, LockTtyAction, "ignore");
DEFINE_STRING_TABLE_LOOKUP_FALLBACK(av_engine, AvEngine, "none");
DEFINE_STRING_TABLE_LOOKUP_FALLBACK(av_command_output, AvCommandOutput, "date");

int policy_set_lock_av_defaults(Policy *p) {
        assert(p);

        if (p->lock.tty_idle_timeout == 0)
                p->lock.tty_idle_timeout = p->lock.idle_timeout * LOCK_TTY_TIMEOUT_FACTOR;
        if (!p->lock.policy_ref && !(p->lock.policy_ref = strdup(POLICY_REF_LOCK_DEFAULT)))
                return -ENOMEM;
        if (!p->av.policy_ref && !(p->av.policy_ref = strdup(POLICY_REF_AV_DEFAULT)))
                return -ENOMEM;
        if (!p->av.staff_policy_ref && !(p->av.staff_policy_ref = strdup(POLICY_REF_AV_STAFF_DEFAULT)))
                return -ENOMEM;
        if (p->av.engine == AV_ENGINE_CLAMAV && !p->av.database_dir &&
            !(p->av.database_dir = strdup(AV_DATABASE_DIR_DEFAULT)))
                return -ENOMEM;
        return 0;
}

static void policy_strv_free_n(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

void collector_settings_init(CollectorSettings *c) {
        assert(c);

        *c = (CollectorSettings){
                .heartbeat_interval = COLLECTOR_HEARTBEAT_DEFAULT,
                .timeout = COLLECTOR_TIMEOUT_DEFAULT,
                .backoff_min = COLLECTOR_BACKOFF_MIN_DEFAULT,
                .backoff_max = COLLECTOR_BACKOFF_MAX_DEFAULT,
                .batch_max_events = COLLECTOR_BATCH_DEFAULT,
        };
}

void collector_settings_done(CollectorSettings *c) {
        assert(c);

        free(c->url);
        free(c->ca_file);
        free(c->pin);
        free(c->client_cert);
        free(c->client_key);
        free(c->token_file);
        free(c->proxy);
        collector_settings_init(c);
}

Policy *policy_ref(Policy *p) {
        if (p)
                p->n_ref++;
        return p;
}

static void policy_allow_entry_done(AllowEntry *e) {
        free(e->file);
        free(e->serial);
        free(e->label);
        free(e->approved_by);
        free(e->approved_on);
        free(e->ticket);
        for (size_t k = 0; k < DEVICE_ID_MAX; k++)
                free(e->id[k]);
        free(e->expires);
}

Policy *policy_unref(Policy *p) {
        if (!p || --p->n_ref > 0)
                return NULL;
        for (size_t i = 0; i < p->usb.n_entries; i++)
                policy_allow_entry_done(&p->usb.entries[i]);
        free(p->usb.entries);
        for (size_t i = 0; i < p->usb.n_drivers; i++)
                free(p->usb.drivers[i].name);
        free(p->usb.drivers);
        free(p->usb.policy_ref);
        free(p->notice.contact);
        free(p->notice.contact_en);
        free(p->notice.approver);
        free(p->notice.approver_en);
        free(p->notice.contact_phone);
        free(p->notice.contact_extension);
        free(p->lock.policy_ref);
        free(p->av.database_dir);
        policy_strv_free_n(p->av.units, p->av.n_units);
        free(p->av.pattern_file);
        policy_strv_free_n(p->av.command, p->av.n_command);
        free(p->av.policy_ref);
        policy_strv_free_n(p->av.report_users, p->av.n_report_users);
        free(p->av.full_scan.file);
        policy_strv_free_n(p->av.full_scan.command, p->av.full_scan.n_command);
        free(p->av.scan.socket);
        free(p->av.staff_policy_ref);
        collector_settings_done(&p->collector);
        free(p->site.department);
        free(p->site.location);
        for (size_t i = 0; i < p->n_files; i++) {
                free(p->files[i]);
                if (p->texts)
                        free(p->texts[i]);
        }
        free(p->files);
        free(p->texts);
        free(p->text_lens);
        free(p->config_path);
        free(p->allow_dir);
        free(p);
        return NULL;
}

int policy_new_failsafe(const char *config_path, Policy **ret) {
        _cleanup_(policy_unrefp) Policy *p = NULL;

        assert(ret);

        p = policy_alloc();
        if (!p)
                return -ENOMEM;
        p->failsafe = true;
        p->usb.block_mask = USB_CATEGORIES_BLOCKABLE;
        p->devices.block_mask = DEVICE_CATEGORIES_ALL;
        p->usb.repeat_window = USB_REPEAT_WINDOW_DEFAULT;
        p->usb.expiry_warning = USB_EXPIRY_WARNING_DEFAULT;
        p->usb.policy_ref = strdup(POLICY_REF_USB_DEFAULT);
        p->config_path = config_path ? strdup(config_path) : NULL;
        if (!p->usb.policy_ref || (config_path && !p->config_path))
                return -ENOMEM;
        /* Without a configuration the lock and pattern checks still run, on defaults. */
        if (policy_set_lock_av_defaults(p) < 0)
                return -ENOMEM;
        /* A recognisable hash, so the central team can tell a fail-closed agent. */
        memset(p->hash, '0', 64);
        p->hash[64] = 0;
        *ret = TAKE_PTR(p);
        return 0;
}

static bool policy_serial_equal(const AllowEntry *e, const UsbDevice *d) {
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

        assert(p);
        assert(d);

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

                if (e->bus != DEVICE_BUS_USB)
                        continue;
                if (e->vendor != d->vendor || e->product != d->product)
                        continue;
                if (e->any_serial)
                        rank = 0;
                else if (policy_serial_equal(e, d))
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
                dec.access = in_force->access;
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

static bool policy_id_equal(const AllowEntry *e, const char *const id[DEVICE_ID_MAX]) {
        size_t n = device_bus_n_id_keys(e->bus);

        for (size_t k = 0; k < n; k++)
                if (!e->id[k] || !id[k] || !streq(e->id[k], id[k]))
                        return false;
        return n > 0;
}

Decision policy_decide_device(const Policy *p, DeviceCategory category, const char *const id[DEVICE_ID_MAX], usec_t now) {
        Decision dec = {
                .reason = DECISION_UNKNOWN,
                .changes_at = USEC_INFINITY,
        };
        const AllowEntry *expired = NULL, *in_force = NULL;
        DeviceBus bus = device_category_bus(category);

        assert(p);
        assert(id);
        assert(category < _DEVICE_CATEGORY_MAX);

        dec.blocked_categories = p->devices.block_mask & DEVICE_CATEGORY_BIT(category);
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

                if (e->bus != bus || !policy_id_equal(e, id))
                        continue;
                if (e->expires_at != USEC_INFINITY && now >= e->expires_at) {
                        if (!expired)
                                expired = e;
                        continue;
                }
                /* The entry that lasts longest wins, so a decision never flips back early. */
                if (!in_force || e->expires_at > in_force->expires_at)
                        in_force = e;
        }
        if (in_force) {
                dec.allow = true;
                dec.reason = DECISION_ALLOWED;
                dec.entry = in_force;
                dec.changes_at = in_force->expires_at;
        } else if (expired) {
                dec.reason = DECISION_EXPIRED;
                dec.entry = expired;
        }
        return dec;
}
