/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdlib.h>

#include "av-detect.h"
#include "av-fullscan.h"
#include "av.h"
#include "quarantine.h"
#include "config-paths.h"
#include "lock.h"
#include "log.h"
#include "manager-posture.h"
#include "manager.h"
#include "reporting.h"
#include "uplink-link.h"
#include "usb-posture.h"
#include "firewire.h"
#include "thunderbolt.h"

/* Where the udev rule and the initramfs hook are looked for: / on a PC, a
 * directory of their own for the tests. */
static const char *manager_posture_root(void) {
        const char *e = getenv("MAMORI_POSTURE_ROOT");
        return e && e[0] == '/' ? e : "";
}

static void manager_posture_delivery(Manager *m, PostureDelivery *ret) {
        _cleanup_(uplink_link_status_done) UplinkLinkStatus us = {};
        UplinkLink *l = reporting_uplink_link(m->reporting);

        ret->url = m->policy->collector.url;
        if (!ret->url) {
                ret->state = POSTURE_DELIVERY_NOT_CONFIGURED;
                return;
        }
        if (!l) {
                ret->state = POSTURE_DELIVERY_NOT_RUNNING;
                return;
        }
        uplink_link_read(l, &us);
        if (!us.running) {
                /* Its unit is ordered after ours: at our start it is not up yet. */
                ret->state = now_usec(CLOCK_MONOTONIC) - m->started_at < MANAGER_POSTURE_UPLINK_GRACE
                                     ? POSTURE_DELIVERY_STARTING
                                     : POSTURE_DELIVERY_NOT_RUNNING;
                return;
        }
        ret->uplink = uplink_state_to_string(us.status.state); /* static */
        ret->last_success = us.status.last_success;
        ret->failures = us.status.failures;
        /* Sending or with nothing to send, and no failure since the last 2xx:
         * anything else (backing off, off, refused) keeps events on the PC. */
        ret->state = us.status.failures == 0 && (us.status.state == UPLINK_IDLE || us.status.state == UPLINK_SENDING)
                             ? POSTURE_DELIVERY_OK
                             : POSTURE_DELIVERY_FAILING;
}

/* The modules' parts, as of now. The strings are borrowed from the policy
 * and the modules: use it before the loop runs again. */
static void manager_posture_gather(Manager *m, Posture *ret, usec_t now) {
        const UsbPolicy *u = &m->policy->usb;

        *ret = (Posture){};
        usb_enforcer_posture(m->usb, m->policy, m->usb_monitor != NULL, manager_posture_root(), &ret->usb);
        thunderbolt_posture(m->thunderbolt, &ret->thunderbolt);
        firewire_posture(&ret->firewire);
        lock_enforcer_posture(m->lock, &ret->lock);
        if (!ret->lock.policy_ref) { /* no enforcer: the policy's word */
                ret->lock.policy_ref = m->policy->lock.policy_ref;
                ret->lock.idle_timeout = m->policy->lock.idle_timeout;
        }
        av_monitor_posture(m->av, &ret->av);
        av_fullscan_posture(m->av_fullscan, &ret->av);
        {
                const AvDetection *d = av_detect_last(m->av_detect);
                if (d) {
                        ret->av.detection_at = d->at;
                        ret->av.detection_engine = d->engine;
                        ret->av.detection_signature = d->signature;
                        ret->av.detection_removable = d->removable;
                }
        }
        manager_posture_delivery(m, &ret->delivery);
        if (quarantine_is_active(m->quarantine)) {
                const QuarantineState *q = quarantine_state(m->quarantine);
                ret->quarantine = (PostureQuarantine){
                        .active = true, .since = q->since, .reason = q->reason, .n_allow = q->n_allow
                };
        }
        for (size_t i = 0; i < u->n_entries; i++) {
                const AllowEntry *a = &u->entries[i];
                (void) posture_add_expiring(ret,
                                            &(PostureExpiring){ .vendor = a->vendor,
                                                                .product = a->product,
                                                                .serial = a->any_serial ? NULL : a->serial,
                                                                .serial_len = a->serial_len,
                                                                .label = a->label,
                                                                .expires = a->expires,
                                                                .file = a->file,
                                                                .line = a->line,
                                                                .expires_at = a->expires_at },
                                            now);
        }
}

static void manager_posture_emit(Manager *m, const Posture *p, usec_t now, const char *reason, const char *hash) {
        PostureCheck c[POSTURE_CHECKS_MAX];
        size_t n = posture_checks(p, now, c), ng = 0, check = 0;
        Event *e = event_new(EVENT_AGENT_POSTURE);
        JsonWriter *w;

        if (!e)
                return (void) log_oom();
        for (size_t i = 0; i < n; i++) {
                ng += c[i].verdict == POSTURE_NG;
                check += c[i].verdict == POSTURE_CHECK;
        }
        /* A clause not enforced is worth a look the same day. */
        if (ng > 0)
                e->severity = EVENT_SEVERITY_MEDIUM;
        (void) event_set_message(e, "Posture (%s): %zu check%s, %zu not enforced (NG), %zu to look at", reason, n,
                                 n == 1 ? "" : "s", ng, check);
        w = event_body(e);
        json_key(w, "posture");
        json_object_begin(w);
        json_kv_string(w, "reason", reason);
        json_kv_string(w, "hash", hash);
        posture_write(w, p, now, false);
        json_object_end(w);
        (void) manager_emit(m, e);
}

/* Records the posture when it changed (or daily); returns nothing: the
 * event, or the log line of what failed, is the outcome. */
static void manager_posture_record(Manager *m, const Posture *p, usec_t now, const char *reason, bool always) {
        char hash[65];

        if (posture_hash(p, now, hash) < 0)
                return (void) log_oom();
        if (!always && streq(hash, m->posture_hash)) {
                log_debug("Posture unchanged (%.12s).", hash);
                return;
        }
        memcpy(m->posture_hash, hash, sizeof hash);
        manager_posture_emit(m, p, now, reason, hash);
}

static void manager_posture_look(Manager *m, const char *reason, bool always) {
        usec_t now = now_usec(CLOCK_REALTIME);
        Posture p;

        if (m->stopping)
                return;
        manager_posture_gather(m, &p, now);
        manager_posture_record(m, &p, now, reason, always);
}

static int manager_posture_on_soon(sd_event_source *s, uint64_t usec, void *userdata) {
        manager_posture_look(userdata, "change", false);
        return 0;
}

static int manager_posture_on_daily(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        manager_posture_look(m, "daily", true);
        (void) sd_event_source_set_time(s, usec + MANAGER_POSTURE_DAILY);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

static int manager_posture_arm_soon(Manager *m) {
        int enabled = SD_EVENT_OFF, r;

        if (m->posture_soon && sd_event_source_get_enabled(m->posture_soon, &enabled) >= 0 && enabled != SD_EVENT_OFF)
                return 0; /* already due */
        if (m->posture_soon) {
                r = sd_event_source_set_time_relative(m->posture_soon, MANAGER_POSTURE_SETTLE);
                if (r >= 0)
                        r = sd_event_source_set_enabled(m->posture_soon, SD_EVENT_ONESHOT);
                return r;
        }
        return sd_event_add_time_relative(m->event, &m->posture_soon, CLOCK_MONOTONIC, MANAGER_POSTURE_SETTLE,
                                          100 * USEC_PER_MSEC, manager_posture_on_soon, m);
}

int manager_posture_start(Manager *m) {
        int r;

        assert(m);

        /* Recorded with the start's events, before READY=1; a look once the
         * modules had their first readings (logind, the pattern) follows and
         * records only what changed. */
        manager_posture_look(m, "start", true);
        r = manager_posture_arm_soon(m);
        if (r >= 0)
                /* CLOCK_BOOTTIME: a day of the PC's life, suspend included */
                r = sd_event_add_time_relative(m->event, &m->posture_daily, CLOCK_BOOTTIME, MANAGER_POSTURE_DAILY,
                                               60 * USEC_PER_SEC, manager_posture_on_daily, m);
        if (r < 0)
                return log_error_errno(r, "Cannot arm the posture timers: %m");
        return 0;
}

void manager_posture_stop(Manager *m) {
        assert(m);

        m->posture_soon = sd_event_source_disable_unref(m->posture_soon);
        m->posture_daily = sd_event_source_disable_unref(m->posture_daily);
}

void manager_posture_changed(Manager *m) {
        assert(m);

        /* Before the start recorded one, the start's is to come anyway. */
        if (!m->posture_soon)
                return;
        if (manager_posture_arm_soon(m) < 0)
                log_debug("Cannot arm the posture timer; the daily look will see the change.");
}

void manager_posture_inspect(Manager *m, JsonWriter *w) {
        usec_t now = now_usec(CLOCK_REALTIME);
        char ts[RFC3339_MAX];
        Posture p;

        assert(m);
        assert(w);

        /* The sheet says what the feed says: a change is recorded first. */
        manager_posture_gather(m, &p, now);
        manager_posture_record(m, &p, now, "change", false);
        json_object_begin(w);
        json_kv_string(w, "version", MAMORI_VERSION);
        json_kv_string(w, "host", m->host.name);
        json_kv_string(w, "machine_id", m->host.machine_id);
        json_kv_string(w, "time", format_rfc3339(ts, now));
        json_kv_string(w, "policy_hash", m->policy->hash);
        json_key(w, "site");
        json_object_begin(w);
        json_kv_string(w, "department", m->policy->site.department);
        json_kv_string(w, "location", m->policy->site.location);
        json_object_end(w);
        json_kv_string(w, "posture_hash", m->posture_hash[0] ? m->posture_hash : NULL);
        json_key(w, "posture");
        json_object_begin(w);
        posture_write(w, &p, now, false);
        json_object_end(w);
        json_object_end(w);
}
