/* SPDX-License-Identifier: MIT */
/* What mamorid answers on its control socket: the state it already holds,
 * read without side effects (flush aside), as one JSON object per reply.
 * Each module writes its own section (lock_enforcer_write_check(), ...):
 * nothing here looks inside a module or reads a file. Sections whose modules
 * are not built in say "available": false, so that mamorictl can tell "not
 * there" from "zero". */
#include <assert.h>
#include <stdio.h>
#include <unistd.h>

#include "config-paths.h"
#include "av-detect.h"
#include "av-fullscan.h"
#include "av-scan.h"
#include "av.h"
#include "control-reply.h"
#include "mmc.h"
#include "quarantine.h"
#include "quarantine-report.h"
#include "control.h"
#include "lock.h"
#include "manager.h"
#include "manager-posture.h"
#include "notice.h"
#include "reporting-status.h"
#include "reporting.h"
#include "usb-report.h"
#include "usb-status.h"
#include "firewire.h"
#include "thunderbolt.h"
#include "optical.h"

static void control_reply_write_time(JsonWriter *w, const char *key, usec_t t) {
        char buf[RFC3339_MAX];
        json_key(w, key);
        if (t == 0 || t == USEC_INFINITY)
                json_null(w);
        else
                json_string(w, format_rfc3339(buf, t));
}

/* The configuration on disk as the last reload found it: "refused" with its
 * errors while they stand (the policy in force is the older one). */
static void control_reply_write_refused(Manager *m, JsonWriter *w) {
        /* At start, with the last good policy in force: the start's errors. */
        const ConfigErrors *e = m->refused_errors.n == 0 && m->last_good ? &m->start_errors : &m->refused_errors;
        usec_t since = m->refused_errors.n == 0 && m->last_good ? m->started_at_realtime : m->refused_at;

        json_key(w, "refused");
        if (e->n == 0) {
                json_null(w);
                return;
        }
        json_object_begin(w);
        control_reply_write_time(w, "since", since);
        manager_write_config_errors(w, e);
        json_object_end(w);
}

/* ---- status ---- */

void control_reply_status(Manager *m, JsonWriter *w) {
        const Policy *p;
        usec_t now = now_usec(CLOCK_MONOTONIC);

        assert(m);
        assert(w);

        p = m->policy;
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
        control_reply_write_refused(m, w);
        json_kv_bool(w, "last_good", m->last_good);
        if (m->last_good)
                control_reply_write_time(w, "last_good_saved", m->last_good_saved);
        json_object_end(w);

        json_key(w, "events");
        json_object_begin(w);
        json_kv_uint(w, "recorded", m->n_events);
        json_kv_string(w, "state_dir", m->state_dir);
        json_object_end(w);

        /* "spool" and "uplink", as the heartbeat has them (docs/events.md). */
        reporting_status_json(m->reporting, w);
        av_detect_status(m->av_detect, w);
        av_fullscan_status(m->av_fullscan, w);
        av_scan_status(m->av_scan, w);

        json_key(w, "checks");
        json_array_begin(w);
        usb_enforcer_write_check(m->usb, p, m->usb_monitor != NULL, w);
        notice_write_check(m->notice, w);
        lock_enforcer_write_check(m->lock, w);
        av_monitor_write_check(m->av, w);
        json_array_end(w);
        quarantine_write_status(m->quarantine, w);
        json_object_end(w);
}

/* ---- quarantine (issue 15) ---- */

void control_reply_quarantine(Manager *m, const ControlRequest *req, JsonWriter *w) {
        const char *done = NULL, *error = NULL;
        int r = 0;

        assert(m);
        assert(req);
        assert(w);

        if (!m->quarantine) {
                r = -EOPNOTSUPP;
                error = "the quarantine could not be set up in mamorid: see its journal";
        } else if (!quarantine_reason_ok(req->arg)) {
                r = -EINVAL;
                error = "a reason is needed: one line of text, 1 to 200 bytes";
        } else if (req->release) {
                r = quarantine_release(m->quarantine, req->arg, req->peer_uid, req->peer_login_uid);
                if (r == -EALREADY)
                        error = "this PC is not quarantined";
                else if (r < 0)
                        error = "the quarantine state could not be written: see mamorid's journal";
                else
                        done = "released";
        } else {
                r = quarantine_engage(m->quarantine, "manual", NULL, req->arg, req->peer_uid, req->peer_login_uid);
                if (r < 0)
                        error = "the quarantine state could not be written: see mamorid's journal";
                else
                        done = r > 0 ? "engaged" : "already";
        }
        json_object_begin(w);
        if (error) {
                json_kv_string(w, "error", error);
                json_kv_int(w, "errno", -r);
        } else
                json_kv_string(w, "quarantine", done);
        json_object_end(w);
}

/* ---- devices ---- */

void control_reply_devices(Manager *m, JsonWriter *w) {
        assert(m);
        assert(w);

        json_object_begin(w);
        json_kv_string(w, "policy_hash", m->policy->hash);
        json_key(w, "devices");
        json_array_begin(w);
        usb_enforcer_write_devices(m->usb, m->policy, w);
        thunderbolt_enforcer_write_devices(m->thunderbolt, w);
        firewire_enforcer_write_devices(m->firewire, w);
        mmc_enforcer_write_devices(m->mmc, w);         /* SD/MMC cards (agent/devices/mmc.h) */
        optical_enforcer_write_devices(m->optical, w); /* issue 14: optical drives */
        json_array_end(w);
        json_object_end(w);
}

/* ---- flush ---- */

void control_reply_flush(Manager *m, JsonWriter *w) {
        assert(m);
        assert(w);

        /* USB reports waiting for their settle time go out now. */
        if (m->usb)
                usb_enforcer_flush(m->usb);
        json_object_begin(w);
        json_kv_bool(w, "reports_flushed", true);
        reporting_write_flush(m->reporting, w);
        json_object_end(w);
}

/* ---- reload ---- */

void control_reply_reload(Manager *m, JsonWriter *w) {
        int r;

        assert(m);
        assert(w);

        r = manager_reload(m);
        json_object_begin(w);
        json_kv_bool(w, "reloaded", r >= 0);
        json_kv_string(w, "policy", m->policy->hash);
        json_kv_bool(w, "fail_closed", m->policy->failsafe);
        control_reply_write_refused(m, w);
        json_object_end(w);
}

/* ---- inspect ---- */

void control_reply_inspect(Manager *m, JsonWriter *w) {
        assert(m);
        assert(w);

        manager_posture_inspect(m, w);
}
