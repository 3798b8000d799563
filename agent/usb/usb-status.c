/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdio.h>

#include "timeutil.h"
#include "usb-report.h"
#include "usb-infected.h"
#include "usb-status.h"

void usb_enforcer_write_check(UsbEnforcer *u, const Policy *p, bool monitoring, JsonWriter *w) {
        UsbCounts s = { 0 };
        char detail[512];
        const char *state, *modules_dir = NULL;
        bool aliases = false;

        assert(p);
        assert(w);

        if (u) {
                s = usb_enforcer_counts(u);
                aliases = usb_enforcer_aliases_available(u, &modules_dir);
        }
        if (p->failsafe)
                state = "fail_closed";
        else if (!monitoring)
                state = "failed";
        else if (s.root_hubs_open > 0)
                state = "degraded";
        else
                state = "ok";
        /* the words of systemd's status line (manager_update_status()) */
        snprintf(detail, sizeof detail, "%zu USB device%s, %zu blocked; %zu root hub%s%s; %s", s.devices,
                 s.devices == 1 ? "" : "s", s.blocked, s.root_hubs, s.root_hubs == 1 ? "" : "s",
                 s.root_hubs_open ? ", some start new interfaces authorized (udev rule missing?)" : "",
                 aliases ? "module aliases in use" : "no module aliases: by class and bound drivers only");

        json_object_begin(w);
        json_kv_string(w, "name", "usb");
        json_kv_string(w, "state", state);
        json_kv_string(w, "detail", detail);
        json_kv_uint(w, "devices", s.devices);
        json_kv_uint(w, "blocked_devices", s.blocked);
        json_kv_uint(w, "root_hubs", s.root_hubs);
        json_kv_uint(w, "root_hubs_open", s.root_hubs_open);
        json_kv_bool(w, "module_aliases", aliases);
        if (modules_dir)
                json_kv_string(w, "modules_dir", modules_dir);
        json_kv_uint(w, "admin_drivers", p->usb.n_drivers);
        json_object_end(w);
}

typedef struct DevicesCtx {
        UsbEnforcer *usb;
        const Policy *policy;
        JsonWriter *w;
        usec_t now;
} DevicesCtx;

static void usb_enforcer_write_one_device(const UsbDevice *d, void *userdata) {
        DevicesCtx *ctx = userdata;
        JsonWriter *w = ctx->w;
        const Policy *p = ctx->policy;
        Decision dec = policy_decide(p, d, ctx->now);
        bool blocked;

        if (usb_enforcer_is_infected(ctx->usb, d))
                decision_set_infected(&dec, d); /* as acted on (issue 15 item 3) */
        blocked = dec.relevant && !dec.allow;

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
        if (dec.relevant && dec.allow)
                json_kv_string(w, "access", allow_access_to_string(dec.access));
        if (dec.entry)
                usb_report_write_rule(w, dec.entry);
        if (dec.changes_at != USEC_INFINITY) {
                char buf[RFC3339_MAX];
                json_key(w, "changes_at");
                if (dec.changes_at == 0)
                        json_null(w);
                else
                        json_string(w, format_rfc3339(buf, dec.changes_at));
        }
        json_kv_bool(w, "fail_closed", p->failsafe);
        json_object_end(w);
        json_object_end(w);
}

void usb_enforcer_write_devices(UsbEnforcer *u, const Policy *p, JsonWriter *w) {
        DevicesCtx ctx = { .usb = u, .policy = p, .w = w, .now = now_usec(CLOCK_REALTIME) };

        assert(p);
        assert(w);

        if (u)
                usb_enforcer_foreach(u, usb_enforcer_write_one_device, &ctx);
}
