/* SPDX-License-Identifier: MIT */
/* What mamorid answers on its control socket: the state it already holds,
 * read without side effects (flush aside), as one JSON object per reply.
 * Sections whose modules are not built in say "available": false, so that
 * mamorictl can tell "not there" from "zero". */
#include <stdio.h>
#include <unistd.h>

#include "config-paths.h"
#include "av.h"
#include "control.h"
#include "lock.h"
#include "manager.h"
#include "notice.h"
#include "reporting.h"
#include "usb-authorize.h"
#include "usb-enforce.h"
#include "usb-report.h"

static void write_time(JsonWriter *w, const char *key, usec_t t) {
        char buf[RFC3339_MAX];
        json_key(w, key);
        if (t == 0 || t == USEC_INFINITY)
                json_null(w);
        else
                json_string(w, format_rfc3339(buf, t));
}

/* The configuration on disk as the last reload found it: "refused" with its
 * errors while they stand (the policy in force is the older one). */
static void write_refused(Manager *m, JsonWriter *w) {
        /* At start, with the last good policy in force: the start's errors. */
        const ConfigErrors *e = m->refused_errors.n == 0 && m->last_good ? &m->start_errors : &m->refused_errors;
        usec_t since = m->refused_errors.n == 0 && m->last_good ? m->started_at_realtime : m->refused_at;

        json_key(w, "refused");
        if (e->n == 0) {
                json_null(w);
                return;
        }
        json_object_begin(w);
        write_time(w, "since", since);
        manager_write_config_errors(w, e);
        json_object_end(w);
}

/* ---- status ---- */

static void count_open_root_hub(const UsbDevice *d, void *userdata) {
        size_t *open = userdata;
        /* A root hub whose new interfaces start authorized leaves a window in
         * which a driver can bind to a stick before mamorid acts. */
        if (d->is_root_hub && d->syspath && usb_authorize_get_interface_default(d->syspath) != 0)
                (*open)++;
}

static void write_usb_check(Manager *m, JsonWriter *w) {
        UsbCounts s = { 0 };
        size_t open_root_hubs = 0;
        char detail[512];
        const char *state, *modules_dir = NULL;
        bool aliases = false;

        if (m->usb) {
                s = usb_enforcer_counts(m->usb);
                usb_enforcer_foreach(m->usb, count_open_root_hub, &open_root_hubs);
                aliases = usb_enforcer_aliases_available(m->usb, &modules_dir);
        }
        if (m->policy->failsafe)
                state = "fail_closed";
        else if (!m->usb_monitor)
                state = "failed";
        else if (open_root_hubs > 0)
                state = "degraded";
        else
                state = "ok";
        /* the words of systemd's status line (manager_update_status()) */
        snprintf(detail, sizeof detail, "%zu USB device%s, %zu blocked; %zu root hub%s%s; %s", s.devices,
                 s.devices == 1 ? "" : "s", s.blocked, s.root_hubs, s.root_hubs == 1 ? "" : "s",
                 open_root_hubs ? ", some start new interfaces authorized (udev rule missing?)" : "",
                 aliases ? "module aliases in use" : "no module aliases: by class and bound drivers only");

        json_object_begin(w);
        json_kv_string(w, "name", "usb");
        json_kv_string(w, "state", state);
        json_kv_string(w, "detail", detail);
        json_kv_uint(w, "devices", s.devices);
        json_kv_uint(w, "blocked_devices", s.blocked);
        json_kv_uint(w, "root_hubs", s.root_hubs);
        json_kv_uint(w, "root_hubs_open", open_root_hubs);
        json_kv_bool(w, "module_aliases", aliases);
        if (modules_dir)
                json_kv_string(w, "modules_dir", modules_dir);
        json_kv_uint(w, "admin_drivers", m->policy->usb.n_drivers);
        json_object_end(w);
}

void control_reply_status(Manager *m, JsonWriter *w) {
        const Policy *p = m->policy;
        usec_t now = now_usec(CLOCK_MONOTONIC);

        json_object_begin(w);
        json_kv_string(w, "version", MAMORI_VERSION);
        json_kv_int(w, "pid", getpid());
        json_kv_uint(w, "uptime_sec", m->started_at && now > m->started_at ? (now - m->started_at) / USEC_PER_SEC : 0);
        json_kv_string(w, "host", m->host.name);

        json_key(w, "policy");
        json_object_begin(w);
        json_kv_string(w, "hash", p->hash);
        json_kv_bool(w, "fail_closed", p->failsafe);
        json_kv_string(w, "config_path", m->config_path);
        json_kv_string(w, "allow_dir", m->allow_dir);
        json_kv_uint(w, "files", p->n_files);
        json_kv_uint(w, "allow_entries", p->usb.n_entries);
        usb_report_write_categories(w, "blocked_categories", p->usb.block_mask);
        write_refused(m, w);
        json_kv_bool(w, "last_good", m->last_good);
        if (m->last_good)
                write_time(w, "last_good_saved", m->last_good_saved);
        json_object_end(w);

        json_key(w, "events");
        json_object_begin(w);
        json_kv_uint(w, "recorded", m->n_events);
        json_kv_string(w, "state_dir", m->state_dir);
        json_object_end(w);

        /* "spool" and "uplink", as the heartbeat has them (docs/events.md). */
        reporting_status_json(m->reporting, w);

        json_key(w, "checks");
        json_array_begin(w);
        write_usb_check(m, w);
        notice_write_check(m->notice, w);
        lock_enforcer_write_check(m->lock, w);
        av_monitor_write_check(m->av, w);
        json_array_end(w);
        json_object_end(w);
}

/* ---- devices ---- */

typedef struct DevicesCtx {
        Manager *manager;
        JsonWriter *w;
        usec_t now;
} DevicesCtx;

static void write_one_device(const UsbDevice *d, void *userdata) {
        DevicesCtx *ctx = userdata;
        JsonWriter *w = ctx->w;
        const Policy *p = ctx->manager->policy;
        Decision dec = policy_decide(p, d, ctx->now);
        bool blocked = dec.relevant && !dec.allow;

        json_object_begin(w);
        json_kv_string(w, "syspath", d->syspath);
        json_kv_bool(w, "root_hub", d->is_root_hub);
        usb_report_write_device(w, d, &dec);
        json_key(w, "decision");
        json_object_begin(w);
        /* "none": no interface of a blocked category, so nothing to decide. */
        json_kv_string(w, "action", blocked ? "blocked" : dec.relevant ? "allowed" : "none");
        json_kv_string(w, "reason", dec.relevant ? decision_reason_to_string(dec.reason) : "category_not_blocked");
        json_kv_string(w, "explanation", usb_report_explanation(d, &dec));
        usb_report_write_categories(w, "blocked_categories", blocked ? dec.blocked_categories : 0);
        if (dec.entry)
                usb_report_write_rule(w, dec.entry);
        if (dec.changes_at != USEC_INFINITY)
                write_time(w, "changes_at", dec.changes_at);
        json_kv_bool(w, "fail_closed", p->failsafe);
        json_object_end(w);
        json_object_end(w);
}

void control_reply_devices(Manager *m, JsonWriter *w) {
        DevicesCtx ctx = { .manager = m, .w = w, .now = now_usec(CLOCK_REALTIME) };

        json_object_begin(w);
        json_kv_string(w, "policy_hash", m->policy->hash);
        json_key(w, "devices");
        json_array_begin(w);
        if (m->usb)
                usb_enforcer_foreach(m->usb, write_one_device, &ctx);
        json_array_end(w);
        json_object_end(w);
}

/* ---- flush ---- */

void control_reply_flush(Manager *m, JsonWriter *w) {
        _cleanup_free_ char *detail = NULL;
        int r;

        /* USB reports waiting for their settle time go out now. */
        if (m->usb)
                usb_enforcer_flush(m->usb);
        r = reporting_flush(m->reporting);
        json_object_begin(w);
        json_kv_bool(w, "reports_flushed", true);
        json_kv_bool(w, "uplink", r >= 0);
        if (r >= 0) {
                UplinkStatus us;
                uplink_get_status(reporting_uplink(m->reporting), &us);
                if (asprintf(&detail, "delivery to %s started now (%s)", us.url, uplink_state_to_string(us.state)) < 0)
                        detail = NULL;
        }
        json_kv_string(w, "detail", detail ? detail : r >= 0 ? "delivery started now"
                                                : "events stay in the spool and the journal: no collector.url is configured");
        json_object_end(w);
}

/* ---- reload ---- */

void control_reply_reload(Manager *m, JsonWriter *w) {
        int r = manager_reload(m);

        json_object_begin(w);
        json_kv_bool(w, "reloaded", r >= 0);
        json_kv_string(w, "policy", m->policy->hash);
        json_kv_bool(w, "fail_closed", m->policy->failsafe);
        write_refused(m, w);
        json_object_end(w);
}
