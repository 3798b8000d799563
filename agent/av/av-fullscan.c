/* SPDX-License-Identifier: MIT */
/* av-fullscan.h: the age of the last full scan. The source is av-generic's,
 * handed a view of the policy in which full_scan.file is its pattern_file
 * (or full_scan.command its command), or av-journal's (full_scan.unit); its
 * readings come here through AvSource.report instead of to the pattern
 * monitor. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "av-fullscan.h"
#include "log.h"

struct AvFullScan {
        sd_event *event;
        EventEmitter emit;
        Policy *policy; /* the one the source runs on */
        AvPolicy view;  /* borrows policy's strings */
        AvSource source;
        bool running;
        AvReading current;
        AvState state, reported;
        usec_t next_change;
        sd_event_source *timer;
};

static usec_t av_fullscan_max_age(const AvFullScan *f) {
        return (usec_t) f->policy->av.full_scan.max_age_days * USEC_PER_DAY;
}

static void av_fullscan_stop(AvFullScan *f) {
        if (f->running && f->source.ops->stop)
                f->source.ops->stop(&f->source);
        f->running = false;
        f->source = (AvSource){ 0 };
        if (f->timer)
                (void) sd_event_source_set_enabled(f->timer, SD_EVENT_OFF);
}

AvFullScan *av_fullscan_free(AvFullScan *f) {
        if (!f)
                return NULL;
        av_fullscan_stop(f);
        sd_event_source_disable_unref(f->timer);
        av_reading_done(&f->current);
        policy_unref(f->policy);
        sd_event_unref(f->event);
        free(f);
        return NULL;
}

int av_fullscan_new(sd_event *event, const EventEmitter *emit, AvFullScan **ret) {
        AvFullScan *f;

        assert(event);
        assert(emit);
        assert(ret);

        f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        f->event = sd_event_ref(event);
        f->emit = *emit;
        f->next_change = USEC_INFINITY;
        *ret = f;
        return 0;
}

static void av_fullscan_emit(AvFullScan *f, EventKind kind, usec_t now) {
        char buf[RFC3339_MAX];
        const AvReading *r = &f->current;
        JsonWriter *w;
        Event *e;

        e = event_new(kind);
        if (!e || event_set_policy_ref(e, f->policy->av.policy_ref) < 0) {
                event_free(e);
                return (void) log_oom();
        }
        if (kind == EVENT_AV_FULL_SCAN_OK)
                (void) event_set_message(e, "A full scan completed %.1f days ago: within %u days again",
                                         (double) (now - MIN(now, r->built_at)) / (double) USEC_PER_DAY,
                                         f->policy->av.full_scan.max_age_days);
        else if (f->state == AV_STATE_MISSING)
                (void) event_set_message(e, "No completed full scan is known (%s): %s", strna(r->reason),
                                         strna(r->detail));
        else if (f->state == AV_STATE_FUTURE)
                (void) event_set_message(e,
                                         "The last full scan is dated in the future: the clock or the source is wrong");
        else
                (void) event_set_message(e, "The last full scan completed %.1f days ago, more than the %u allowed",
                                         (double) (now - MIN(now, r->built_at)) / (double) USEC_PER_DAY,
                                         f->policy->av.full_scan.max_age_days);
        w = event_body(e);
        json_key(w, "antivirus");
        json_object_begin(w);
        json_key(w, "full_scan");
        json_object_begin(w);
        json_kv_string(w, "state", f->state == AV_STATE_STALE ? "overdue" : av_state_to_string(f->state));
        if (r->found && r->built_at > 0) {
                json_kv_string(w, "last_completed", format_rfc3339(buf, r->built_at));
                json_kv_int(w, "age_seconds",
                            (int64_t) now / (int64_t) USEC_PER_SEC - (int64_t) r->built_at / (int64_t) USEC_PER_SEC);
        } else
                json_kv_string(w, "last_completed", NULL);
        json_kv_uint(w, "max_age_days", f->policy->av.full_scan.max_age_days);
        json_kv_string(w, "source", r->file);
        if (r->reason)
                json_kv_string(w, "reason", r->reason);
        if (r->detail)
                json_kv_string(w, "detail", r->detail);
        json_object_end(w);
        json_object_end(w);
        (void) event_emit(&f->emit, e, NULL);
}

static int av_fullscan_on_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void av_fullscan_arm(AvFullScan *f) {
        int r;

        if (f->next_change == USEC_INFINITY) {
                if (f->timer)
                        (void) sd_event_source_set_enabled(f->timer, SD_EVENT_OFF);
                return;
        }
        if (f->timer) {
                r = sd_event_source_set_time(f->timer, f->next_change);
                if (r >= 0)
                        r = sd_event_source_set_enabled(f->timer, SD_EVENT_ONESHOT);
        } else {
                /* Realtime: a date on the wall clock; a minute's slack is plenty for days. */
                r = sd_event_add_time(f->event, &f->timer, CLOCK_REALTIME, f->next_change, 60 * USEC_PER_SEC,
                                      av_fullscan_on_timer, f);
                if (r >= 0)
                        (void) sd_event_source_set_description(f->timer, "av-full-scan-due");
        }
        if (r < 0)
                log_error_errno(r, "Cannot set the full scan timer: %m");
}

static void av_fullscan_judge(AvFullScan *f) {
        usec_t now = now_usec(CLOCK_REALTIME);
        AvState before = f->reported;

        f->state = av_judge(&f->current, now, av_fullscan_max_age(f), &f->next_change);
        av_fullscan_arm(f);
        if (f->state == before)
                return;
        f->reported = f->state;
        if (f->state == AV_STATE_OK) {
                if (before == AV_STATE_UNKNOWN)
                        log_info("The last full scan completed within %u days.", f->policy->av.full_scan.max_age_days);
                else
                        av_fullscan_emit(f, EVENT_AV_FULL_SCAN_OK, now);
        } else if (f->state != AV_STATE_UNKNOWN)
                av_fullscan_emit(f, EVENT_AV_FULL_SCAN_OVERDUE, now);
}

static void av_fullscan_on_report(AvSource *s, const AvReading *r) {
        AvFullScan *f = s->owner;
        AvReading c = { .found = r->found, .built_at = r->built_at };

        if (!f->running)
                return;
        if ((r->file && !(c.file = strdup(r->file))) || (r->reason && !(c.reason = strdup(r->reason))) ||
            (r->detail && !(c.detail = strdup(r->detail)))) {
                av_reading_done(&c);
                return (void) log_oom();
        }
        av_reading_done(&f->current);
        f->current = c;
        av_fullscan_judge(f);
}

static AvState av_fullscan_source_state(AvSource *s) {
        return ((AvFullScan *) s->owner)->state;
}

static int av_fullscan_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        AvFullScan *f = userdata;
        /* Read again first: a scan may have completed unseen. */
        if (f->running && f->source.ops->refresh(&f->source) >= 0)
                return 0;
        av_fullscan_judge(f);
        return 0;
}

void av_fullscan_set_policy(AvFullScan *f, Policy *p) {
        const AvFullScanPolicy *fs;
        int r;

        assert(f);
        assert(p);

        av_fullscan_stop(f);
        policy_unref(f->policy);
        f->policy = policy_ref(p);
        fs = &p->av.full_scan;
        if (!fs->enabled) {
                f->state = f->reported = AV_STATE_UNKNOWN;
                av_reading_done(&f->current);
                return;
        }
        f->view = (AvPolicy){
                .engine = AV_ENGINE_GENERIC,
                .pattern_file = fs->file,
                .command = fs->command,
                .n_command = fs->n_command,
                .command_output = fs->command_output,
                .command_timeout = fs->command_timeout,
                .full_scan = *fs, /* the journal source's unit and directory */
        };
        f->source = (AvSource){
                .ops = fs->unit ? &av_journal_ops : &av_generic_ops,
                .event = f->event,
                .policy = &f->view,
                .report = av_fullscan_on_report,
                .state = av_fullscan_source_state,
                .owner = f,
        };
        f->running = true;
        /* A state that did not change is not reported again (f->reported stays). */
        r = f->source.ops->start(&f->source);
        if (r < 0) {
                log_error_errno(r, "Cannot watch the full scan's source: %m");
                av_fullscan_stop(f);
        }
}

void av_fullscan_refresh(AvFullScan *f) {
        if (f && f->running && f->source.ops->refresh)
                (void) f->source.ops->refresh(&f->source);
}

AvState av_fullscan_state(const AvFullScan *f) {
        return f ? f->state : AV_STATE_UNKNOWN;
}

void av_fullscan_status(const AvFullScan *f, JsonWriter *w) {
        char buf[RFC3339_MAX];

        assert(w);
        if (!f || !f->policy || !f->policy->av.full_scan.enabled)
                return;
        json_key(w, "full_scan");
        json_object_begin(w);
        json_kv_string(w, "state", f->state == AV_STATE_STALE ? "overdue" : av_state_to_string(f->state));
        json_kv_string(w, "last_completed",
                       f->current.found && f->current.built_at > 0 ? format_rfc3339(buf, f->current.built_at) : NULL);
        json_kv_uint(w, "max_age_days", f->policy->av.full_scan.max_age_days);
        json_kv_string(w, "source", f->current.file);
        json_object_end(w);
}

void av_fullscan_posture(const AvFullScan *f, PostureAv *ret) {
        assert(ret);
        if (!f || !f->policy || !f->policy->av.full_scan.enabled)
                return;
        ret->full_scan_max_age_days = f->policy->av.full_scan.max_age_days;
        ret->full_scan_at = f->current.found ? f->current.built_at : 0;
        ret->full_scan_state = f->state == AV_STATE_STALE ? "overdue" : av_state_to_string(f->state);
}
