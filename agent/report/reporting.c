/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "config-paths.h"

#include "dirwatch.h"
#include "log.h"
#include "reporting.h"

/* The group commit runs after the sources of events (USB is IMPORTANT,
 * the rest NORMAL). */
#define COMMIT_PRIORITY (SD_EVENT_PRIORITY_NORMAL + 5)
/* The uplink rewrites its status file after every change (several a second
 * while it delivers): read it once things settle. */
#define UPLINK_STATUS_SETTLE (200 * USEC_PER_MSEC)

/* An event waiting for its commit before it is journaled: the journal
 * only ever shows a seq that is durable, so no seq shown can come back. */
typedef struct Pending {
        uint64_t seq;
        EventKind kind;
        char id[37];
        char *policy_ref, *message, *json;
} Pending;

struct Reporting {
        sd_event *event;
        EventEmitter emitter;   /* its own events: spool damage, heartbeat */
        EventRenderer renderer; /* the envelope */
        EventSinks *sinks;      /* told of every recorded event */
        Policy *policy;         /* the one in force (reporting_set_policy()) */
        usec_t started_at;
        uint64_t n_consumed; /* events taken since the start (the heartbeat says) */
        Spool *spool;
        UplinkLink *uplink;     /* mamori-uplink's status file and control socket */
        DirWatch *uplink_watch; /* its runtime directory: a new status file is read at once */
        Pending *pending;
        size_t n_pending, cap_pending;
        sd_event_source *heartbeat;
        usec_t heartbeat_interval;
        bool commit_failing;
};

static void reporting_pending_done(Pending *p) {
        free(p->policy_ref);
        free(p->message);
        free(p->json);
}

/* The event is recorded (or will never be): the journal, then the sinks'
 * `recorded` (mamorictl's followers). */
static void reporting_publish(Reporting *r, const Pending *p, const char *note) {
        const EventKindInfo *info = event_kind_info(p->kind);
        char seq[32];

        snprintf(seq, sizeof seq, "%" PRIu64, p->seq);
        LogField fields[] = {
                { "MAMORI_EVENT_KIND", info->name },
                { "MAMORI_EVENT_ID", p->id },
                { "MAMORI_EVENT_SEQ", p->seq ? seq : NULL },
                { "MAMORI_POLICY_REF", p->policy_ref },
                { "MAMORI_EVENT", p->json },
                { "MAMORI_EVENT_NOT_SPOOLED", note },
        };
        log_struct(info->log_level, info->message_id, fields, ELEMENTSOF(fields), "%s",
                   p->message ? p->message : info->name);
        if (p->json)
                (void) event_sinks_recorded(r->sinks, &(EventRecord){ .kind = p->kind,
                                                                      .id = p->id,
                                                                      .seq = p->seq,
                                                                      .json = p->json,
                                                                      .len = strlen(p->json),
                                                                      .not_spooled = note });
}

static int reporting_pending_push(Reporting *r, const Event *e, char *json) {
        Pending *p;
        if (GROW_ARRAY(r->pending, r->cap_pending, r->n_pending + 1, 64) < 0)
                return -ENOMEM;
        p = &r->pending[r->n_pending];
        *p = (Pending){ .seq = e->seq, .kind = e->kind, .json = json };
        memcpy(p->id, e->id, sizeof p->id);
        if (free_and_strdup(&p->policy_ref, e->policy_ref) < 0 || free_and_strdup(&p->message, e->message) < 0) {
                reporting_pending_done(p);
                return -ENOMEM;
        }
        r->n_pending++;
        return 0;
}

/* ---- spool callbacks ---- */

static void reporting_on_committed(uint64_t last_seq, int error, void *userdata) {
        Reporting *r = userdata;
        size_t k = 0;

        if (error < 0) {
                /* The events stay queued and the commit is retried; the
                 * journal has them now, marked, rather than never. */
                if (!r->commit_failing)
                        log_error_errno(
                                error,
                                "Cannot write events to the spool; they wait in memory and go to the journal now: %m");
                r->commit_failing = true;
                for (size_t i = 0; i < r->n_pending; i++) {
                        reporting_publish(r, &r->pending[i], "not yet durable");
                        reporting_pending_done(&r->pending[i]);
                }
                r->n_pending = 0;
                return;
        }
        if (r->commit_failing)
                log_notice("Events are written to the spool again.");
        r->commit_failing = false;
        for (; k < r->n_pending && r->pending[k].seq <= last_seq; k++) {
                reporting_publish(r, &r->pending[k], NULL);
                reporting_pending_done(&r->pending[k]);
        }
        if (k > 0)
                memmove(r->pending, r->pending + k, (r->n_pending - k) * sizeof *r->pending);
        r->n_pending -= k;
        /* No kick: mamori-uplink watches the spool directory (inotify). */
}

static const char *const severity_keys[] = { "info", "low", "medium", "high", "critical" };

static int reporting_render_drop(const SpoolDrop *d, uint64_t seq, uint8_t *ret_sev, usec_t *ret_time, char **ret_json,
                                 size_t *ret_len, void *userdata) {
        Reporting *r = userdata;
        _cleanup_(event_freep) Event *e = event_new(EVENT_AGENT_EVENTS_DROPPED);
        _cleanup_free_ char *json = NULL;
        char ts[RFC3339_MAX], sev[160] = "";
        JsonWriter *w;
        size_t len = 0;
        int q;

        if (!e)
                return -ENOMEM;
        for (unsigned i = 0; i < ELEMENTSOF(severity_keys); i++)
                if (d->by_severity[i]) {
                        size_t l = strlen(sev);
                        snprintf(sev + l, sizeof sev - l, "%s%s %" PRIu64, l ? ", " : "", severity_keys[i],
                                 d->by_severity[i]);
                }
        (void) event_set_message(e,
                                 "The spool is full (%" PRIu64 " MiB): %" PRIu64
                                 " undelivered event%s of the lowest severity dropped, oldest first (%s; seq %" PRIu64
                                 "-%" PRIu64 ")",
                                 d->max_bytes / (1024 * 1024), d->count, d->count == 1 ? "" : "s", sev, d->first_seq,
                                 d->last_seq);
        w = event_body(e);
        json_key(w, "dropped");
        json_object_begin(w);
        json_kv_uint(w, "count", d->count);
        json_kv_string(w, "reason", d->reason);
        json_key(w, "by_severity");
        json_object_begin(w);
        for (unsigned i = 0; i < ELEMENTSOF(severity_keys); i++)
                json_kv_uint(w, severity_keys[i], d->by_severity[i]);
        json_object_end(w);
        json_kv_uint(w, "first_seq", d->first_seq);
        json_kv_uint(w, "last_seq", d->last_seq);
        json_key(w, "seq_ranges");
        json_array_begin(w);
        for (size_t i = 0; i < d->n_ranges; i++) {
                json_array_begin(w);
                json_uint(w, d->ranges[i][0]);
                json_uint(w, d->ranges[i][1]);
                json_array_end(w);
        }
        json_array_end(w);
        json_kv_string(w, "oldest_time", format_rfc3339(ts, d->oldest_time));
        json_kv_string(w, "newest_time", format_rfc3339(ts, d->newest_time));
        json_kv_uint(w, "spool_max_bytes", d->max_bytes);
        json_kv_uint(w, "dropped_since_start", d->total_dropped);
        json_object_end(w);

        e->seq = seq;
        q = r->renderer.render(r->renderer.userdata, e, &json, &len);
        if (q < 0)
                return q;
        *ret_json = strdup(json);
        if (!*ret_json)
                return -ENOMEM;
        q = reporting_pending_push(r, e, TAKE_PTR(json));
        if (q < 0) {
                *ret_json = mfree(*ret_json);
                return q;
        }
        *ret_len = len;
        *ret_sev = (uint8_t) e->severity;
        *ret_time = e->time;
        log_error("Spool full: dropping %" PRIu64 " event(s) (%s).", d->count, sev);
        return 0;
}

static void reporting_on_damaged(const SpoolFinding *f, void *userdata) {
        Reporting *r = userdata;
        Event *e = event_new(EVENT_AGENT_SPOOL_CORRUPT);
        bool lost = f->lost_first <= f->lost_last;
        JsonWriter *w;

        if (!e)
                return (void) log_oom();
        if (f->kind == SPOOL_DAMAGE_TORN)
                (void) event_set_message(e,
                                         "The spool ended in an interrupted write (%s, %" PRIu64 " bytes at offset %" PRIu64
                                         "): it was never committed, so nothing recorded is lost; cut off",
                                         f->file, f->bytes, f->offset);
        else if (f->kind == SPOOL_DAMAGE_CURSOR && streq_ptr(f->file, "uplink cursor"))
                (void) event_set_message(e, "The delivery cursor of mamori-uplink is unreadable: not believed; nothing "
                                            "is retired from the spool until it is readable again");
        else if (f->kind == SPOOL_DAMAGE_SEQ_RANGE && streq_ptr(f->file, "uplink cursor"))
                (void) event_set_message(e,
                                         "The delivery cursor of mamori-uplink claims seq %" PRIu64
                                         ", past the newest durable record %" PRIu64
                                         " or any sane seq: not believed; nothing is retired from the spool",
                                         f->bad_seq, f->last_good_seq);
        else if (f->kind == SPOOL_DAMAGE_CURSOR)
                (void) event_set_message(
                        e,
                        "The spool's delivery cursor was unreadable: events already delivered may be sent again (same ids)");
        else if (f->kind == SPOOL_DAMAGE_SEQ_RANGE)
                (void) event_set_message(e,
                                         "The spool's %s claims seq %" PRIu64 ", past its newest record %" PRIu64
                                         " or any sane seq: not believed; %s",
                                         streq(f->file, "seq") ? "old seq file" : "delivery cursor", f->bad_seq,
                                         f->last_good_seq,
                                         streq(f->file, "seq") ? "ignored"
                                                               : "events in the spool are delivered again (same ids)");
        else if (f->kind == SPOOL_DAMAGE_OVERSIZED)
                (void) event_set_message(e,
                                         "A spool segment is larger than any the spool writes (%s, %" PRIu64
                                         " bytes past offset %" PRIu64 "): the records before are kept, the rest cut off",
                                         f->file, f->bytes, f->offset);
        else if (f->kind == SPOOL_DAMAGE_NOT_A_FILE)
                (void) event_set_message(
                        e, "Something the spool did not make held one of its names (%s): moved out of the way", f->file);
        else if (lost)
                (void) event_set_message(e,
                                         "The spool is damaged (%s, %" PRIu64 " bytes at offset %" PRIu64
                                         "): events with seq %" PRIu64 "-%" PRIu64 " may be lost; %s",
                                         f->file, f->bytes, f->offset, f->lost_first, f->lost_last,
                                         f->cut ? "cut off" : "skipped");
        else
                (void) event_set_message(e, "The spool is damaged (%s, %" PRIu64 " bytes at offset %" PRIu64 "); %s",
                                         f->file, f->bytes, f->offset, f->cut ? "cut off" : "skipped");
        /* What a crash leaves; the rest was done to the disk, or by hand. */
        if (f->kind == SPOOL_DAMAGE_TORN || f->kind == SPOOL_DAMAGE_CURSOR)
                e->severity = EVENT_SEVERITY_MEDIUM;
        w = event_body(e);
        json_key(w, "spool");
        json_object_begin(w);
        json_kv_string(w, "damage", spool_damage_to_string(f->kind));
        json_kv_string(w, "file", f->file);
        json_kv_uint(w, "offset", f->offset);
        json_kv_uint(w, "bytes", f->bytes);
        json_kv_string(w, "action", f->cut ? "cut" : "skipped");
        if (f->last_good_seq)
                json_kv_uint(w, "last_good_seq", f->last_good_seq);
        if (f->kind == SPOOL_DAMAGE_SEQ_RANGE)
                json_kv_uint(w, "claimed_seq", f->bad_seq);
        if (lost) {
                json_key(w, "possibly_lost_seq");
                json_object_begin(w);
                json_kv_uint(w, "first", f->lost_first);
                json_kv_uint(w, "last", f->lost_last);
                json_object_end(w);
        }
        json_object_end(w);
        (void) event_emit(&r->emitter, e, NULL);
}

/* ---- heartbeat ---- */

static void reporting_spool_json(Reporting *r, JsonWriter *w) {
        SpoolStats st;
        char ts[RFC3339_MAX];
        usec_t now = now_usec(CLOCK_REALTIME);

        spool_get_stats(r->spool, &st);
        json_kv_uint(w, "depth", st.depth);
        json_kv_uint(w, "bytes", st.bytes);
        json_kv_uint(w, "max_bytes", st.max_bytes);
        json_key(w, "oldest_unsent");
        if (st.oldest_unsent)
                json_string(w, format_rfc3339(ts, st.oldest_unsent));
        else
                json_null(w);
        json_key(w, "oldest_unsent_age_sec");
        if (st.oldest_unsent)
                json_uint(w, now > st.oldest_unsent ? (now - st.oldest_unsent) / USEC_PER_SEC : 0);
        else
                json_null(w);
        json_kv_uint(w, "next_seq", st.next_seq);
        json_kv_uint(w, "delivered_seq", st.acked_seq);
        json_kv_uint(w, "dropped_since_start", st.dropped);
}

static void reporting_status_json_with(Reporting *r, const UplinkLinkStatus *us, JsonWriter *w);

/* Every read of the uplink's status may show that the collector began or
 * stopped refusing us (issue 16): the event, once per change. */
static void reporting_check_refused(Reporting *r, const UplinkLinkStatus *us) {
        Event *e = NULL;
        int q;

        q = uplink_link_refused_event(r->uplink, us, &e);
        if (q < 0)
                return (void) log_error_errno(q, "Cannot record a change of the collector's refusal: %m");
        if (e)
                (void) event_emit(&r->emitter, e, NULL);
}

static void reporting_on_uplink_dir(DirWatch *dw, void *userdata) {
        Reporting *r = userdata;
        _cleanup_(uplink_link_status_done) UplinkLinkStatus us = {};

        uplink_link_read(r->uplink, &us);
        reporting_check_refused(r, &us);
}

static void reporting_emit_heartbeat(Reporting *r) {
        Event *e = event_new(EVENT_AGENT_HEARTBEAT);
        _cleanup_(uplink_link_status_done) UplinkLinkStatus us = {};
        SpoolStats st = { 0 };
        JsonWriter *w;
        char ts[RFC3339_MAX];

        if (!e)
                return (void) log_oom();
        if (r->spool)
                /* What the uplink delivered since, so that the depth is today's.
                 * An error is reported by the spool (a finding). */
                (void) spool_pull_delivered(r->spool);
        if (r->spool)
                spool_get_stats(r->spool, &st);
        uplink_link_read(r->uplink, &us);
        reporting_check_refused(r, &us);
        (void) event_set_message(e, "mamorid %s alive, policy %.12s; %" PRIu64 " event%s waiting; last delivery %s%s",
                                 MAMORI_VERSION, r->policy->hash, st.depth, st.depth == 1 ? "" : "s",
                                 us.status.last_success ? format_rfc3339(ts, us.status.last_success) : "none since start",
                                 us.running ? "" : " (mamori-uplink is not running)");
        w = event_body(e);
        json_key(w, "heartbeat");
        json_object_begin(w);
        json_kv_uint(w, "interval_sec", r->heartbeat_interval / USEC_PER_SEC);
        json_kv_uint(w, "uptime_sec", (now_usec(CLOCK_MONOTONIC) - r->started_at) / USEC_PER_SEC);
        json_kv_uint(w, "events_since_start", r->n_consumed);
        json_kv_bool(w, "fail_closed", r->policy->failsafe);
        reporting_status_json_with(r, &us, w);
        json_object_end(w);
        (void) event_emit(&r->emitter, e, NULL);
}

static int reporting_on_heartbeat(sd_event_source *s, uint64_t usec, void *userdata) {
        Reporting *r = userdata;
        reporting_emit_heartbeat(r);
        (void) sd_event_source_set_time(s, usec + r->heartbeat_interval);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

static int reporting_arm_heartbeat(Reporting *r, usec_t interval) {
        sd_event *e = r->event;
        usec_t accuracy;
        int q;

        if (interval == r->heartbeat_interval && (interval == 0 || r->heartbeat))
                return 0;
        r->heartbeat_interval = interval;
        if (interval == 0) {
                r->heartbeat = sd_event_source_disable_unref(r->heartbeat);
                return 0;
        }
        /* Let the kernel coalesce it with other wakeups: 1% slack, at most 10s. */
        accuracy = MIN(interval / 100, 10 * USEC_PER_SEC);
        if (r->heartbeat) {
                q = sd_event_source_set_time_relative(r->heartbeat, interval);
                if (q >= 0)
                        q = sd_event_source_set_time_accuracy(r->heartbeat, accuracy);
                if (q >= 0)
                        q = sd_event_source_set_enabled(r->heartbeat, SD_EVENT_ON);
        } else {
                q = sd_event_add_time_relative(e, &r->heartbeat, CLOCK_BOOTTIME, interval, accuracy,
                                               reporting_on_heartbeat, r);
                if (q >= 0)
                        (void) sd_event_source_set_description(r->heartbeat, "heartbeat");
        }
        if (q < 0)
                return log_error_errno(q, "Cannot arm the heartbeat timer: %m");
        return 0;
}

/* ---- lifetime ---- */

/* The event log of earlier versions reserved seqs in <state>/seq: never hand those out again. */
static uint64_t reporting_legacy_seq(const char *state_dir) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int fd = -EBADF;
        char buf[32] = { 0 };

        if (asprintf(&p, "%s/seq", state_dir) < 0)
                return 0;
        fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || read(fd, buf, sizeof buf - 1) <= 0)
                return 0;
        return strtoull(buf, NULL, 10);
}

int reporting_new(const ReportingOptions *o, Reporting **ret) {
        _cleanup_(reporting_freep) Reporting *r = calloc(1, sizeof *r);
        _cleanup_free_ char *spool_dir = NULL;
        static const SpoolCallbacks cb = {
                .render_drop = reporting_render_drop,
                .committed = reporting_on_committed,
                .damaged = reporting_on_damaged,
        };
        int q;

        assert(o);
        assert(ret);

        if (!r)
                return -ENOMEM;
        assert(o->renderer.render);
        r->event = sd_event_ref(o->event);
        r->emitter = o->emitter;
        r->renderer = o->renderer;
        r->sinks = o->sinks;
        r->started_at = o->started_at;
        assert(o->uplink_state_dir && o->uplink_runtime_dir);
        if (asprintf(&spool_dir, "%s/spool", o->state_dir) < 0)
                return -ENOMEM;
        q = uplink_link_new(o->uplink_state_dir, o->uplink_runtime_dir, &r->uplink);
        if (q < 0)
                return q;
        /* Without the watch the heartbeat and `mamorictl status` still read the file. */
        q = dirwatch_new(r->event, o->uplink_runtime_dir, (const char *const[]){ "status", NULL }, UPLINK_STATUS_SETTLE,
                         reporting_on_uplink_dir, r, &r->uplink_watch);
        if (q == -ENOMEM)
                return q;
        if (q < 0)
                log_warning_errno(q, "Cannot watch %s; a change of delivery is seen at the next heartbeat: %m",
                                  o->uplink_runtime_dir);

        /* Search only for others: mamori-uplink reads spool/ (its own group). */
        (void) mkdir(o->state_dir, 0711);
        q = spool_open(spool_dir,
                       &(SpoolOptions){ .max_bytes = o->spool_max_bytes,
                                        .min_next_seq = reporting_legacy_seq(o->state_dir) },
                       &r->spool);
        if (q == -ENOMEM)
                return q;
        if (q < 0)
                /* Enforcement does not depend on the disk: go on, journal only. */
                log_error_errno(q, "Cannot open the spool in %s, events go to the journal only%s: %m", spool_dir,
                                q == -EBUSY ? " (another mamorid uses it)" : "");
        else {
                spool_set_callbacks(r->spool, &cb, r);
                /* What mamori-uplink delivered retires segments (DESIGN-11 "Acks").
                 * Before attaching: what this first read finds is reported at once. */
                q = spool_set_delivered_source(r->spool, uplink_link_cursor_path(r->uplink));
                if (q == -ENOMEM)
                        return q;
                if (q < 0)
                        log_warning_errno(q, "Cannot read the delivery cursor of mamori-uplink %s: %m",
                                          uplink_link_cursor_path(r->uplink));
                q = spool_attach_event(r->spool, r->event, COMMIT_PRIORITY);
                if (q < 0)
                        return log_error_errno(q, "Cannot attach the spool to the event loop: %m");
        }

        *ret = TAKE_PTR(r);
        return 0;
}

Reporting *reporting_free(Reporting *r) {
        if (!r)
                return NULL;
        /* spool_free commits what is queued, and the journal lines follow. */
        spool_free(r->spool);
        for (size_t i = 0; i < r->n_pending; i++) {
                reporting_publish(r, &r->pending[i], "not durable: the spool could not be written at exit");
                reporting_pending_done(&r->pending[i]);
        }
        free(r->pending);
        dirwatch_free(r->uplink_watch);
        uplink_link_free(r->uplink);
        sd_event_source_disable_unref(r->heartbeat);
        policy_unref(r->policy);
        sd_event_unref(r->event);
        free(r);
        return NULL;
}

int reporting_set_policy(Reporting *r, Policy *p) {
        Policy *old = r->policy;

        assert(r && p);
        /* The collector settings are mamori-uplink's: it reads the same files
         * (and reloads with mamorid: PropagatesReloadTo=). */
        r->policy = policy_ref(p);
        policy_unref(old);
        if (r->spool)
                spool_set_max_bytes(r->spool, p->spool.max_bytes);
        return reporting_arm_heartbeat(r, p->collector.heartbeat_interval);
}

/* Numbers, renders and spools e; the journal line and the sinks' `recorded`
 * follow once the group commit made it durable. */
static int reporting_consume(void *userdata, Event *e, const EventContext *ctx) {
        Reporting *r = userdata;
        _cleanup_free_ char *json = NULL;
        size_t len = 0;
        int q;

        r->n_consumed++;
        e->seq = r->spool ? spool_next_seq(r->spool) : 0;
        q = r->renderer.render(r->renderer.userdata, e, &json, &len);
        if (q < 0)
                return q;
        if (!r->spool) {
                Pending p = { .seq = 0, .kind = e->kind, .policy_ref = e->policy_ref, .message = e->message, .json = json };
                memcpy(p.id, e->id, sizeof p.id);
                reporting_publish(r, &p, "the spool is unavailable");
                return 0;
        }

        /* Queued for the journal first: the commit may happen inside the append. */
        _cleanup_free_ char *copy = strdup(json);
        q = copy ? reporting_pending_push(r, e, TAKE_PTR(copy)) : -ENOMEM;
        if (q < 0) {
                /* Not spooled, but in the journal rather than nowhere. */
                e->seq = 0;
                Pending p = { .seq = 0, .kind = e->kind, .policy_ref = e->policy_ref, .message = e->message, .json = json };
                memcpy(p.id, e->id, sizeof p.id);
                reporting_publish(r, &p, "out of memory");
                return q;
        }
        q = spool_append(r->spool, json, len, (uint8_t) e->severity, e->time);
        if (q < 0) {
                Pending *p = &r->pending[r->n_pending - 1];
                reporting_publish(r, p, "the spool refused it");
                reporting_pending_done(p);
                r->n_pending--;
                return q;
        }
        return 0;
}

EventSink reporting_sink(Reporting *r) {
        assert(r);

        return (EventSink){ .name = "reporting", .consume = reporting_consume, .userdata = r };
}

void reporting_commit(Reporting *r) {
        int q;
        if (!r || !r->spool)
                return;
        q = spool_commit(r->spool);
        if (q < 0)
                log_error_errno(q, "Cannot commit the last events to the spool: %m");
}

int reporting_flush(Reporting *r) {
        if (!r)
                return -ENOTCONN;
        /* Durable first, with or without a collector: mamorictl reads the
         * spool next, and the uplink reads only up to the committed mark. */
        if (r->spool)
                (void) spool_commit(r->spool);
        if (!r->policy || !r->policy->collector.url)
                return -ENOTCONN;
        return uplink_link_flush(r->uplink);
}

static void reporting_status_json_with(Reporting *r, const UplinkLinkStatus *us, JsonWriter *w) {
        json_key(w, "spool");
        json_object_begin(w);
        if (r && r->spool)
                reporting_spool_json(r, w);
        else
                json_kv_string(w, "error", "unavailable: journal only");
        json_object_end(w);
        json_key(w, "uplink");
        json_object_begin(w);
        if (r)
                uplink_link_status_json(us, r->policy ? r->policy->collector.url : NULL, w);
        json_object_end(w);
}

void reporting_status_json(Reporting *r, JsonWriter *w) {
        _cleanup_(uplink_link_status_done) UplinkLinkStatus us = {};

        assert(w);

        if (r) {
                if (r->spool)
                        (void) spool_pull_delivered(r->spool);
                uplink_link_read(r->uplink, &us);
                reporting_check_refused(r, &us);
        }
        reporting_status_json_with(r, &us, w);
}

Spool *reporting_spool(Reporting *r) {
        return r ? r->spool : NULL;
}

UplinkLink *reporting_uplink_link(Reporting *r) {
        return r ? r->uplink : NULL;
}

const char *reporting_collector_url(const Reporting *r) {
        return r && r->policy ? r->policy->collector.url : NULL;
}
