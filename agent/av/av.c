/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "av.h"
#include "log.h"
#include "string-table.h"

/* A stale-moment timer may be this late: nobody needs the second. */
#define AV_TIMER_ACCURACY (1 * USEC_PER_SEC)

struct AvMonitor {
        sd_event *event;
        EventEmitter emit;
        Policy *policy; /* the one in force, as pushed by av_monitor_set_policy() */
        bool started;
        Policy *source_policy; /* the policy the source runs under; NULL until it first starts */
        AvSource source;
        bool running;
        AvReading current;
        AvState state;      /* judgement of current, now */
        AvState reported;   /* the state the last event (or log at start) told */
        usec_t checked_at;  /* CLOCK_REALTIME of the last reading */
        usec_t next_change; /* CLOCK_REALTIME; USEC_INFINITY if none */
        sd_event_source *timer;
        sd_event_source *first; /* the first reading, once the loop runs */
        uint64_t n_readings;
        AvUnits *units;
};

static const char *const av_state_table[_AV_STATE_MAX] = {
        [AV_STATE_UNKNOWN] = "unknown", [AV_STATE_OK] = "ok",           [AV_STATE_STALE] = "stale",
        [AV_STATE_FUTURE] = "future",   [AV_STATE_MISSING] = "missing",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING_FALLBACK(av_state, AvState, "unknown");

void av_reading_done(AvReading *r) {
        assert(r);
        free(r->version);
        free(r->file);
        free(r->reason);
        free(r->detail);
        free(r->extra);
        *r = (AvReading){ 0 };
}

static int av_monitor_reading_copy(AvReading *dst, const AvReading *src) {
        AvReading c = { .found = src->found, .built_at = src->built_at };
        if ((src->version && !(c.version = strdup(src->version))) || (src->file && !(c.file = strdup(src->file))) ||
            (src->reason && !(c.reason = strdup(src->reason))) || (src->detail && !(c.detail = strdup(src->detail))) ||
            (src->extra && !(c.extra = strdup(src->extra)))) {
                av_reading_done(&c);
                return -ENOMEM;
        }
        av_reading_done(dst);
        *dst = c;
        return 0;
}

AvState av_judge(const AvReading *r, usec_t now, usec_t max_age, usec_t *ret_next_change) {
        usec_t next = USEC_INFINITY;
        AvState s;

        if (!r || !r->found || r->built_at == 0)
                s = AV_STATE_MISSING;
        else if (r->built_at > now && r->built_at - now > AV_FUTURE_TOLERANCE) {
                s = AV_STATE_FUTURE;
                next = r->built_at - AV_FUTURE_TOLERANCE;
        } else if (r->built_at < now && now - r->built_at > max_age)
                s = AV_STATE_STALE;
        else {
                s = AV_STATE_OK;
                next = r->built_at + max_age + 1; /* stale once older than max_age */
        }
        if (ret_next_change)
                *ret_next_change = next;
        return s;
}

/* ---- events ---- */

static usec_t av_monitor_max_age(const AvMonitor *a) {
        return (usec_t) a->source_policy->av.max_age_hours * 3600 * USEC_PER_SEC;
}

static void av_monitor_write_av(AvMonitor *a, JsonWriter *w, usec_t now) {
        const AvReading *r = &a->current;
        char ts[RFC3339_MAX];

        json_key(w, "antivirus");
        json_object_begin(w);
        json_kv_string(w, "engine", av_engine_to_string(a->source_policy->av.engine));
        json_kv_string(w, "state", av_state_to_string(a->state));
        if (r->file)
                json_kv_string(w, "file", r->file);
        if (r->version)
                json_kv_string(w, "version", r->version);
        if (r->found) {
                json_kv_string(w, "built_at", format_rfc3339(ts, r->built_at));
                json_key(w, "age_seconds");
                json_int(w, now >= r->built_at ? (int64_t) ((now - r->built_at) / USEC_PER_SEC)
                                               : -(int64_t) ((r->built_at - now) / USEC_PER_SEC));
                json_key(w, "age_hours");
                json_double(w, ((double) now - (double) r->built_at) / (3600.0 * USEC_PER_SEC));
        }
        json_kv_uint(w, "max_age_hours", a->source_policy->av.max_age_hours);
        if (r->reason)
                json_kv_string(w, "reason", r->reason);
        if (r->detail)
                json_kv_string(w, "detail", r->detail);
        if (r->extra)
                json_members_raw(w, r->extra, strlen(r->extra));
        json_object_end(w);
}

static void av_monitor_emit(AvMonitor *a, EventKind kind, usec_t now) {
        const AvReading *r = &a->current;
        Event *e = event_new(kind);
        double hours = r->found ? ((double) now - (double) r->built_at) / (3600.0 * USEC_PER_SEC) : 0;

        if (!e || event_set_policy_ref(e, a->source_policy->av.policy_ref) < 0) {
                event_free(e);
                return (void) log_oom();
        }
        av_monitor_write_av(a, event_body(e), now);
        switch (kind) {
        case EVENT_AV_PATTERN_STALE:
                if (a->state == AV_STATE_FUTURE)
                        (void) event_set_message(
                                e, "Antivirus pattern %s (version %s) is dated %.1f h in the future: check the clock",
                                strna(r->file), strna(r->version), -hours);
                else
                        (void) event_set_message(
                                e, "Antivirus pattern %s (version %s) is %.1f h old, more than the %u h allowed",
                                strna(r->file), strna(r->version), hours, a->source_policy->av.max_age_hours);
                break;
        case EVENT_AV_PATTERN_OK:
                (void) event_set_message(e, "Antivirus pattern %s (version %s) is current again (%.1f h old)",
                                         strna(r->file), strna(r->version), hours);
                break;
        case EVENT_AV_MISSING:
                (void) event_set_message(e, "No antivirus pattern found (%s): %s", strna(r->reason), strna(r->detail));
                break;
        default:
                break;
        }
        (void) event_emit(&a->emit, e, NULL);
}

/* ---- judging ---- */

static int av_monitor_on_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void av_monitor_arm(AvMonitor *a) {
        int r = 0;

        if (a->next_change == USEC_INFINITY) {
                if (a->timer)
                        (void) sd_event_source_set_enabled(a->timer, SD_EVENT_OFF);
                return;
        }
        /* CLOCK_REALTIME: the pattern's date is a wall-clock date, and the kernel
         * moves an absolute realtime timer along when the clock is set. */
        if (a->timer) {
                r = sd_event_source_set_time(a->timer, a->next_change);
                if (r >= 0)
                        r = sd_event_source_set_enabled(a->timer, SD_EVENT_ONESHOT);
        } else {
                r = sd_event_add_time(a->event, &a->timer, CLOCK_REALTIME, a->next_change, AV_TIMER_ACCURACY,
                                      av_monitor_on_timer, a);
                if (r >= 0)
                        (void) sd_event_source_set_description(a->timer, "av-stale-moment");
        }
        if (r < 0)
                log_error_errno(r, "Cannot set the pattern age timer: %m");
}

static void av_monitor_judge(AvMonitor *a, const char *previous_detail) {
        usec_t now = now_usec(CLOCK_REALTIME);
        AvState before = a->reported;

        a->state = av_judge(&a->current, now, av_monitor_max_age(a), &a->next_change);
        av_monitor_arm(a);
        if (a->state == before) {
                /* Still missing, for another reason: worth a line, not an event. */
                if (a->state == AV_STATE_MISSING && !streq_ptr(previous_detail, a->current.detail))
                        log_warning("Still no antivirus pattern (%s): %s", strna(a->current.reason),
                                    strna(a->current.detail));
                return;
        }
        a->reported = a->state;
        switch (a->state) {
        case AV_STATE_STALE:
        case AV_STATE_FUTURE:
                av_monitor_emit(a, EVENT_AV_PATTERN_STALE, now);
                break;
        case AV_STATE_MISSING:
                av_monitor_emit(a, EVENT_AV_MISSING, now);
                break;
        case AV_STATE_OK:
                if (before == AV_STATE_UNKNOWN)
                        log_info("Antivirus pattern %s (version %s) is current: %.1f h old, at most %u h allowed.",
                                 strna(a->current.file), strna(a->current.version),
                                 ((double) now - (double) a->current.built_at) / (3600.0 * USEC_PER_SEC),
                                 a->source_policy->av.max_age_hours);
                else
                        av_monitor_emit(a, EVENT_AV_PATTERN_OK, now);
                break;
        default:
                break;
        }
}

void av_source_report(AvSource *s, const AvReading *r) {
        assert(s);
        assert(r);
        AvMonitor *a = s->monitor;
        _cleanup_free_ char *previous = NULL;

        if (s->report)
                return s->report(s, r);

        if (!a->running)
                return;
        previous = TAKE_PTR(a->current.detail);
        if (av_monitor_reading_copy(&a->current, r) < 0)
                return (void) log_oom();
        a->checked_at = now_usec(CLOCK_REALTIME);
        a->n_readings++;
        av_monitor_judge(a, previous);
}

AvState av_source_state(AvSource *s) {
        assert(s);
        if (s->state)
                return s->state(s);
        return s->monitor->state;
}

static int av_monitor_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        AvMonitor *a = userdata;
        /* Read again first: an update may have been missed (the directory replaced, ...). */
        if (a->running && a->source.ops->refresh && a->source.ops->refresh(&a->source) >= 0)
                return 0; /* its report judges */
        av_monitor_judge(a, a->current.detail);
        return 0;
}

/* ---- start, stop ---- */

static void av_monitor_stop_source(AvMonitor *a) {
        if (a->running && a->source.ops && a->source.ops->stop)
                a->source.ops->stop(&a->source);
        a->running = false;
        a->source = (AvSource){ 0 };
        if (a->timer)
                (void) sd_event_source_set_enabled(a->timer, SD_EVENT_OFF);
}

static int av_monitor_start_source(AvMonitor *a) {
        const AvSourceOps *ops;
        int r;

        a->source_policy = policy_unref(a->source_policy);
        a->source_policy = policy_ref(a->policy);
        switch (a->source_policy->av.engine) {
        case AV_ENGINE_CLAMAV:
                ops = &av_clamav_ops;
                break;
        case AV_ENGINE_GENERIC:
                ops = &av_generic_ops;
                break;
        default:
                log_info("Antivirus pattern check is off (antivirus.engine = \"none\").");
                a->state = AV_STATE_UNKNOWN;
                return 0;
        }
        a->source = (AvSource){
                .ops = ops,
                .monitor = a,
                .event = a->event,
                .policy = &a->source_policy->av,
        };
        a->running = true;
        r = ops->start(&a->source);
        if (r < 0) {
                AvReading fail = { .reason = (char *) "source_failed",
                                   .detail = (char *) "the pattern source could not start" };
                log_error_errno(r, "Cannot start the %s pattern source: %m", ops->engine);
                av_source_report(&a->source, &fail);
        }
        return 0;
}

int av_monitor_new(sd_event *event, SysBus *bus, const EventEmitter *emit, AvMonitor **ret) {
        assert(ret);
        _cleanup_(av_monitor_freep) AvMonitor *a = NULL;
        int r;

        assert(event && bus && emit);
        a = calloc(1, sizeof *a);
        if (!a)
                return -ENOMEM;
        a->event = sd_event_ref(event);
        a->emit = *emit;
        a->next_change = USEC_INFINITY;
        r = av_units_new(event, bus, emit, &a->units);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(a);
        return 0;
}

AvMonitor *av_monitor_free(AvMonitor *a) {
        if (!a)
                return NULL;
        av_monitor_stop_source(a);
        av_units_free(a->units);
        av_reading_done(&a->current);
        sd_event_source_disable_unref(a->timer);
        sd_event_source_disable_unref(a->first);
        policy_unref(a->source_policy);
        policy_unref(a->policy);
        sd_event_unref(a->event);
        free(a);
        return NULL;
}

static int av_monitor_on_first(sd_event_source *s, void *userdata) {
        AvMonitor *a = userdata;
        a->first = sd_event_source_disable_unref(a->first);
        (void) av_monitor_start_source(a);
        return 0;
}

int av_monitor_start(AvMonitor *a) {
        assert(a);
        int r;

        assert(a->policy); /* av_monitor_set_policy() first */
        /* Read once the loop runs, so that agent.started is recorded first. */
        r = sd_event_add_defer(a->event, &a->first, av_monitor_on_first, a);
        if (r < 0)
                return r;
        a->started = true;
        return av_units_start(a->units, a->policy);
}

void av_monitor_set_policy(AvMonitor *a, Policy *p) {
        if (!a || !p || p == a->policy)
                return;
        policy_unref(a->policy);
        a->policy = policy_ref(p);
        if (!a->started)
                return; /* av_monitor_start() reads it */
        a->first = sd_event_source_disable_unref(a->first);
        av_monitor_stop_source(a);
        if (a->policy->av.engine == AV_ENGINE_NONE) {
                av_reading_done(&a->current);
                a->state = a->reported = AV_STATE_UNKNOWN;
        }
        (void) av_monitor_start_source(a);
        (void) av_units_start(a->units, a->policy);
}

AvState av_monitor_state(AvMonitor *a) {
        return a ? a->state : AV_STATE_UNKNOWN;
}

void av_monitor_status(AvMonitor *a, JsonWriter *w) {
        assert(w);
        char ts[RFC3339_MAX];
        if (!a || !a->source_policy)
                return; /* not read yet */
        av_monitor_write_av(a, w, now_usec(CLOCK_REALTIME));
        if (a->checked_at)
                json_kv_string(w, "antivirus_checked_at", format_rfc3339(ts, a->checked_at));
        if (a->next_change != USEC_INFINITY)
                json_kv_string(w, "antivirus_next_check_at", format_rfc3339(ts, a->next_change));
        json_kv_uint(w, "antivirus_readings", a->n_readings);
        av_units_status(a->units, w);
}

void av_monitor_posture(AvMonitor *a, PostureAv *ret) {
        const Policy *p = a ? a->policy : NULL;

        assert(ret);
        if (!p)
                return;
        ret->policy_ref = p->av.policy_ref;
        ret->engine = av_engine_to_string(p->av.engine);
        ret->max_age_hours = p->av.max_age_hours;
        if (p->av.engine != AV_ENGINE_NONE) {
                ret->state = av_state_to_string(a->state);
                ret->built_at = a->current.found ? a->current.built_at : 0;
                ret->version = a->current.found ? a->current.version : NULL;
        }
        av_units_posture(a->units, ret);
}

void av_monitor_write_check(AvMonitor *a, JsonWriter *w) {
        assert(w);
        const Policy *p = a ? a->policy : NULL;
        size_t inactive = a ? av_units_n_inactive(a->units) : 0;
        const char *state;
        char detail[512];

        if (!a || !p)
                state = "unavailable";
        else if (p->av.engine == AV_ENGINE_NONE && p->av.n_units == 0)
                state = "disabled";
        else if (p->av.engine != AV_ENGINE_NONE && a->state != AV_STATE_OK)
                state = a->state == AV_STATE_UNKNOWN ? "unknown" : av_state_to_string(a->state);
        else if (inactive > 0)
                state = "engine_inactive";
        else
                state = "ok";

        if (!a || !p || !a->source_policy || p->av.engine == AV_ENGINE_NONE)
                snprintf(detail, sizeof detail, "no pattern check; %zu of %zu unit%s inactive", inactive,
                         p ? p->av.n_units : 0, p && p->av.n_units == 1 ? "" : "s");
        else if (a->current.found)
                snprintf(detail, sizeof detail, "%s %s: %.1f h old (at most %u h); %zu of %zu unit%s inactive",
                         strna(a->current.file), strna(a->current.version),
                         ((double) now_usec(CLOCK_REALTIME) - (double) a->current.built_at) / (3600.0 * USEC_PER_SEC),
                         p->av.max_age_hours, inactive, p->av.n_units, p->av.n_units == 1 ? "" : "s");
        else
                snprintf(detail, sizeof detail, "%s: %s; %zu of %zu unit%s inactive", strna(a->current.reason),
                         strna(a->current.detail), inactive, p->av.n_units, p->av.n_units == 1 ? "" : "s");

        json_object_begin(w);
        json_kv_string(w, "name", "antivirus");
        json_kv_string(w, "state", state);
        json_kv_string(w, "detail", detail);
        if (a)
                av_monitor_status(a, w);
        json_object_end(w);
}
