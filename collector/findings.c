/* SPDX-License-Identifier: MIT */
/* What the collector concludes from a host's feed (issue 12 item 5): pure.
 *
 * Deadlines: h->due_us is the earliest deadline not yet acted on (the
 * silence, a stop without start, a gap's grace), 0 when none. Every
 * evaluation (an event or the timer) at time t acts on every deadline <= t
 * and sets due_us to the earliest one > t, so a gap whose deadline lies
 * before the old due_us has been reported already: that is how an event
 * knows whether a host.gap is open without a flag of its own. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* json-c reads the event, common/json.h writes: both name something
 * json_bool (json-c a typedef of int), so json-c's is renamed here. */
#define json_bool jsonc_bool
#include <json-c/json.h>
#undef json_bool

#include "config-paths.h"
#include "findings.h"
#include "json.h"
#include "macro.h"
#include "seq-gaps.h"
#include "store.h"
#include "timeutil.h"

/* A heartbeat interval above this is not believed (it would push the silence deadline out of reach). */
#define FINDINGS_MAX_INTERVAL_SEC (7U * 24 * 3600)
/* The ranges of one agent.events_dropped that are looked at: its whole list is bounded by the agent too. */
#define FINDINGS_MAX_EXPLAIN_RANGES 1024
/* The JSON of one event that is parsed at all (the collector's own line limit is lower). */
#define FINDINGS_MAX_JSON (1024 * 1024)
#define FINDINGS_JSON_DEPTH 16

DEFINE_POINTER_CLEANUP(struct json_object, json_object_put);

static int64_t sec_us(uint64_t sec) {
        return (int64_t) MIN(sec, (uint64_t) INT64_MAX / USEC_PER_SEC) * (int64_t) USEC_PER_SEC;
}

static int64_t add_sat(int64_t a, int64_t b) {
        if (b > 0 && a > INT64_MAX - b)
                return INT64_MAX;
        return a + b;
}

/* Whole seconds from a to b, 0 when b is not after a; never overflowing (times come from hostile events too). */
static uint64_t span_sec(int64_t a, int64_t b) {
        if (b <= a)
                return 0;
        return ((uint64_t) b - (uint64_t) a) / USEC_PER_SEC;
}

/* Bounded copy into a HostState field, cut at a character boundary: the
 * store keeps these in text columns (PostgreSQL refuses invalid UTF-8). */
static void copy_str(char *dst, size_t size, const char *src) {
        size_t n;

        if (!src)
                return;
        n = strnlen(src, size);
        if (n == size) {
                n = size - 1;
                while (n > 0 && ((unsigned char) src[n] & 0xC0) == 0x80)
                        n--;
        }
        memcpy(dst, src, n);
        dst[n] = '\0';
}

static const char *time_str(char buf[static RFC3339_MAX], int64_t us) {
        return format_rfc3339(buf, (usec_t) MAX(us, (int64_t) 0));
}

static FindingChange *change_add(FindingList *out, FindingAction action, const char *kind, const char *severity,
                                 int64_t first_us, int64_t last_us) {
        FindingChange *f;

        if (out->n >= FINDINGS_MAX_CHANGES) /* cannot happen: one event makes at most 10 */
                return NULL;
        f = &out->changes[out->n++];
        *f = (FindingChange){
                .action = action, .kind = kind, .severity = severity, .first_us = first_us, .last_us = last_us
        };
        strcpy(f->detail, "{}");
        return f;
}

/* The writer's object into f->detail; "{}" when it failed or does not fit (it is kept short by its callers). */
static void change_detail(FindingChange *f, JsonWriter *w) {
        if (!f || json_error(w) < 0 || w->len >= sizeof(f->detail))
                return;
        memcpy(f->detail, w->buf, w->len);
        f->detail[w->len] = '\0';
}

_printf_(2, 3) static void change_message(FindingChange *f, const char *fmt, ...) {
        va_list ap;

        if (!f)
                return;
        va_start(ap, fmt);
        vsnprintf(f->message, sizeof(f->message), fmt, ap);
        va_end(ap);
}

/* ---- reading the event's JSON: every field optional, every type checked ---- */

static struct json_object *event_parse(const StoreEvent *e) {
        struct json_tokener *tok;
        struct json_object *o;

        if (!e->json || e->json_len == 0 || e->json_len > FINDINGS_MAX_JSON)
                return NULL;
        tok = json_tokener_new_ex(FINDINGS_JSON_DEPTH);
        if (!tok)
                return NULL;
        o = json_tokener_parse_ex(tok, e->json, (int) e->json_len);
        json_tokener_free(tok);
        if (o && !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static struct json_object *obj_get(struct json_object *o, const char *key, enum json_type type) {
        struct json_object *v;

        if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
            !json_object_is_type(v, type))
                return NULL;
        return v;
}

static bool json_u64(struct json_object *v, uint64_t *ret) {
        if (!v || !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
                return false;
        *ret = json_object_get_uint64(v);
        return true;
}

static bool get_u64(struct json_object *o, const char *key, uint64_t *ret) {
        return json_u64(obj_get(o, key, json_type_int), ret);
}

static bool get_bool(struct json_object *o, const char *key, bool *ret) {
        struct json_object *v = obj_get(o, key, json_type_boolean);

        if (!v)
                return false;
        *ret = json_object_get_boolean(v);
        return true;
}

/* ---- the checks ---- */

/* Dotted numeric versions ("0.10.2" > "0.9"); missing parts are 0, the
 * first character that is neither a digit nor a dot ends the version.
 * false when either has no leading digit: not comparable. */
static bool version_older(const char *v, const char *current) {
        const char *a = v, *b = current;

        if (isempty(v) || isempty(current) || !(*a >= '0' && *a <= '9') || !(*b >= '0' && *b <= '9'))
                return false;
        for (;;) {
                uint64_t x = 0, y = 0;
                bool more_a = *a >= '0' && *a <= '9', more_b = *b >= '0' && *b <= '9';

                if (!more_a && !more_b)
                        return false;
                for (; *a >= '0' && *a <= '9'; a++)
                        x = x > (UINT64_MAX - 9) / 10 ? UINT64_MAX : x * 10 + (uint64_t) (*a - '0');
                for (; *b >= '0' && *b <= '9'; b++)
                        y = y > (UINT64_MAX - 9) / 10 ? UINT64_MAX : y * 10 + (uint64_t) (*b - '0');
                if (x != y)
                        return x < y;
                a += *a == '.' && a[1] >= '0' && a[1] <= '9';
                b += *b == '.' && b[1] >= '0' && b[1] <= '9';
        }
}

static bool policy_current(const FindingsConfig *c, const char *hash) {
        if (!c->current_policy_hashes || !c->current_policy_hashes[0] || isempty(hash))
                return true;
        for (char **p = c->current_policy_hashes; *p; p++)
                if (strcasecmp(*p, hash) == 0)
                        return true;
        return false;
}

static void check_policy(const FindingsConfig *c, const HostState *h, int64_t now_us, FindingList *out) {
        JsonWriter w _cleanup_(json_writer_free) = JSON_WRITER_INIT;
        FindingChange *f;

        if (!c->current_policy_hashes || !c->current_policy_hashes[0])
                return; /* no current policy named: the check is off */
        if (policy_current(c, h->policy_hash)) {
                change_add(out, FINDING_CLOSE, "host.policy_drift", "medium", now_us, now_us);
                return;
        }
        f = change_add(out, FINDING_OPEN, "host.policy_drift", "medium", now_us, now_us);
        json_object_begin(&w);
        json_kv_string(&w, "policy_hash", h->policy_hash);
        json_key(&w, "current");
        json_array_begin(&w);
        for (size_t i = 0; c->current_policy_hashes[i] && i < 16; i++)
                json_string(&w, c->current_policy_hashes[i]);
        json_array_end(&w);
        json_object_end(&w);
        change_detail(f, &w);
        change_message(f, "Host runs policy %.12s, not a current one", h->policy_hash);
}

static void check_version(const FindingsConfig *c, const HostState *h, int64_t now_us, FindingList *out) {
        JsonWriter w _cleanup_(json_writer_free) = JSON_WRITER_INIT;
        FindingChange *f;

        if (isempty(c->current_agent_version))
                return;
        if (!version_older(h->agent_version, c->current_agent_version)) {
                change_add(out, FINDING_CLOSE, "host.outdated", "low", now_us, now_us);
                return;
        }
        f = change_add(out, FINDING_OPEN, "host.outdated", "low", now_us, now_us);
        json_object_begin(&w);
        json_kv_string(&w, "agent_version", h->agent_version);
        json_kv_string(&w, "current_agent_version", c->current_agent_version);
        json_object_end(&w);
        change_detail(f, &w);
        change_message(f, "Host runs mamori %.63s, older than the current %.63s", h->agent_version,
                       c->current_agent_version);
}

static void check_fail_closed(const HostState *h, const char *source, int64_t now_us, FindingList *out) {
        JsonWriter w _cleanup_(json_writer_free) = JSON_WRITER_INIT;
        FindingChange *f;

        if (!h->fail_closed) {
                change_add(out, FINDING_CLOSE, "host.fail_closed", "critical", now_us, now_us);
                return;
        }
        f = change_add(out, FINDING_OPEN, "host.fail_closed", "critical", now_us, now_us);
        json_object_begin(&w);
        json_kv_bool(&w, "fail_closed", true);
        json_kv_string(&w, "reported_by", source);
        json_object_end(&w);
        change_detail(f, &w);
        change_message(f, "Host is fail-closed: no valid configuration in force, every device of a blocked "
                          "category is blocked");
}

/* Once a batch per host: the first such event of a batch tells it (the open
 * finding), the others of that batch would only repeat it (one row update
 * and one collector.* event each). */
static void tampered(const StoreEvent *e, HostState *h, const char *reason, int64_t now_us, FindingList *out) {
        JsonWriter w _cleanup_(json_writer_free) = JSON_WRITER_INIT;
        FindingChange *f;

        if (h->tampered_batch_us == now_us)
                return;
        h->tampered_batch_us = now_us;
        f = change_add(out, FINDING_OPEN, "host.tampered", "critical", now_us, now_us);

        json_object_begin(&w);
        json_kv_string(&w, "reason", reason);
        json_kv_string(&w, "id", e->id);
        json_kv_uint(&w, "seq", e->seq);
        json_kv_uint(&w, "max_seq", h->max_seq);
        json_kv_string(&w, "kind", e->kind);
        json_object_end(&w);
        change_detail(f, &w);
        if (streq(reason, "id_reused"))
                change_message(f, "Event id %.40s came again with other content (seq %" PRIu64 "): a forged feed",
                               strempty(e->id), e->seq);
        else
                change_message(f,
                               "Seq went backwards: %" PRIu64 " after %" PRIu64
                               " and it fills no known gap: a replayed or forged feed",
                               e->seq, h->max_seq);
}

/* The explanations an event carries, applied to the gaps; only seqs before
 * the event's own can be explained (the agent reports a loss after it). */
static void explain(HostState *h, const StoreEvent *e, struct json_object *root) {
        struct json_object *o, *ranges;
        uint64_t first, last;

        if (e->seq <= 1)
                return;
        if (streq(e->kind, "agent.events_dropped")) {
                o = obj_get(root, "dropped", json_type_object);
                ranges = obj_get(o, "seq_ranges", json_type_array);
                if (!ranges)
                        return;
                for (size_t i = 0; i < json_object_array_length(ranges) && i < FINDINGS_MAX_EXPLAIN_RANGES; i++) {
                        struct json_object *r = json_object_array_get_idx(ranges, i);

                        if (!json_object_is_type(r, json_type_array) || json_object_array_length(r) != 2 ||
                            !json_u64(json_object_array_get_idx(r, 0), &first) ||
                            !json_u64(json_object_array_get_idx(r, 1), &last) || first == 0 || first > last ||
                            first >= e->seq)
                                continue;
                        seq_gaps_explain(h->gaps, &h->n_gaps, first, MIN(last, e->seq - 1));
                }
        } else if (streq(e->kind, "agent.spool_corrupt")) {
                struct json_object *spool = obj_get(root, "spool", json_type_object), *v;

                o = obj_get(spool, "possibly_lost_seq", json_type_object);
                if (get_u64(o, "first", &first) && get_u64(o, "last", &last) && first > 0 && first <= last &&
                    first < e->seq)
                        seq_gaps_explain(h->gaps, &h->n_gaps, first, MIN(last, e->seq - 1));

                /* A seq or cursor file that claimed more (up to 2^52) stays a floor: the
                 * feed jumps from the last good record over it (docs/events.md §4.6). */
                v = obj_get(spool, "damage", json_type_string);
                o = obj_get(spool, "file", json_type_string);
                if (v && streq(json_object_get_string(v), "seq_out_of_range") && o &&
                    (streq(json_object_get_string(o), "seq") || streq(json_object_get_string(o), "cursor")) &&
                    get_u64(spool, "last_good_seq", &first) && get_u64(spool, "claimed_seq", &last) &&
                    last <= (UINT64_C(1) << 52) && first < UINT64_MAX && first + 1 < e->seq && first + 1 <= last)
                        seq_gaps_explain(h->gaps, &h->n_gaps, first + 1, MIN(last, e->seq - 1));
        }
}

/* What the newest event says about the host: name, version, policy,
 * heartbeat interval, fail-closed, spool depth. *fail_closed_source is set
 * when the event said whether the host is fail-closed. */
static void take_state(HostState *h, const StoreEvent *e, struct json_object *root, const char **fail_closed_source) {
        struct json_object *o;
        uint64_t u;
        bool b;

        copy_str(h->host_name, sizeof(h->host_name), e->host_name);
        copy_str(h->agent_version, sizeof(h->agent_version), e->agent_version);
        copy_str(h->policy_hash, sizeof(h->policy_hash), e->policy_hash);
        copy_str(h->last_kind, sizeof(h->last_kind), e->kind);
        h->last_event_time_us = e->time_us;

        if (streq(e->kind, "agent.heartbeat")) {
                o = obj_get(root, "heartbeat", json_type_object);
                if (get_u64(o, "interval_sec", &u) && u > 0 && u <= FINDINGS_MAX_INTERVAL_SEC)
                        h->heartbeat_interval_sec = (unsigned) u;
                if (get_bool(o, "fail_closed", &b)) {
                        h->fail_closed = b;
                        *fail_closed_source = e->kind;
                }
                if (get_u64(obj_get(o, "spool", json_type_object), "depth", &u))
                        h->spool_depth = u;
        } else if (streq(e->kind, "agent.started")) {
                if (get_bool(obj_get(root, "config", json_type_object), "fail_closed", &b)) {
                        h->fail_closed = b;
                        *fail_closed_source = e->kind;
                }
        } else if (streq(e->kind, "agent.config_changed")) {
                /* A reload put a valid policy in force. */
                h->fail_closed = false;
                *fail_closed_source = e->kind;
        } else if (streq(e->kind, "agent.config_error")) {
                o = obj_get(obj_get(root, "config", json_type_object), "outcome", json_type_string);
                if (o && streq(json_object_get_string(o), "fail_closed")) {
                        h->fail_closed = true;
                        *fail_closed_source = e->kind;
                }
        }
}

/* Once a batch per host: an agent back from a long time offline sends a
 * spool full of late heartbeats in one batch; the first of them (in seq
 * order: the longest delay) tells it. */
static void late_heartbeat(const FindingsConfig *c, HostState *h, const StoreEvent *e, struct json_object *root,
                           int64_t now_us, FindingList *out) {
        JsonWriter w _cleanup_(json_writer_free) = JSON_WRITER_INIT;
        char t[RFC3339_MAX];
        FindingChange *f;
        uint64_t depth = 0;
        bool has_depth;
        uint64_t delay;

        if (c->late_heartbeat_sec == 0 || !streq(e->kind, "agent.heartbeat") || e->time_us > now_us)
                return;
        delay = (uint64_t) now_us - (uint64_t) e->time_us; /* fits: time_us <= now_us */
        if (delay < (uint64_t) sec_us(c->late_heartbeat_sec) || h->late_batch_us == now_us)
                return;
        h->late_batch_us = now_us;
        has_depth = get_u64(obj_get(obj_get(root, "heartbeat", json_type_object), "spool", json_type_object), "depth",
                            &depth);
        f = change_add(out, FINDING_NOTICE, "host.late", "medium", e->time_us, now_us);
        json_object_begin(&w);
        json_kv_string(&w, "heartbeat_time", time_str(t, e->time_us));
        json_kv_uint(&w, "delay_sec", delay / USEC_PER_SEC);
        json_key(&w, "spool_depth");
        if (has_depth)
                json_uint(&w, depth);
        else
                json_null(&w);
        json_kv_uint(&w, "seq", e->seq);
        json_object_end(&w);
        change_detail(f, &w);
        if (has_depth)
                change_message(f,
                               "A heartbeat arrived %" PRIu64 " s after its time (delivery was stuck); %" PRIu64
                               " events were waiting",
                               delay / USEC_PER_SEC, depth);
        else
                change_message(f, "A heartbeat arrived %" PRIu64 " s after its time (delivery was stuck)",
                               delay / USEC_PER_SEC);
}

/* ---- deadlines ---- */

static int64_t silence_deadline(const FindingsConfig *c, const HostState *h) {
        /* A stop that is pending or reported explains the silence: host.stopped says it. */
        if (h->heartbeat_interval_sec == 0 || h->silent || h->stopping_us != 0 || h->stopped)
                return 0;
        return add_sat(h->last_seen_us, sec_us(2 * (uint64_t) h->heartbeat_interval_sec + c->silent_margin_sec));
}

static int64_t stop_deadline(const FindingsConfig *c, const HostState *h) {
        if (h->stopping_us == 0 || h->stopped)
                return 0;
        return add_sat(h->stopping_us, sec_us(c->stopped_after_sec));
}

/* Is a host.gap open: an unexplained range overdue before the last evaluation (see the top). */
static bool gap_open(const FindingsConfig *c, const HostState *h, int64_t now_us) {
        int64_t bound = h->due_us != 0 ? h->due_us : INT64_MAX;

        for (size_t i = 0; i < h->n_gaps; i++) {
                int64_t d = seq_gaps_deadline(&h->gaps[i], sec_us(c->gap_grace_sec));

                if (!h->gaps[i].explained && d <= now_us && d < bound)
                        return true;
        }
        return false;
}

static bool gap_unreported(const FindingsConfig *c, const HostState *h, int64_t now_us) {
        int64_t bound = h->due_us != 0 ? h->due_us : INT64_MAX;

        for (size_t i = 0; i < h->n_gaps; i++) {
                int64_t d = seq_gaps_deadline(&h->gaps[i], sec_us(c->gap_grace_sec));

                /* seen now: added by this very event (a grace of 0), never reported yet */
                if (!h->gaps[i].explained && d <= now_us && (d >= bound || h->gaps[i].seen_us == now_us))
                        return true;
        }
        return false;
}

static void report_gaps(const FindingsConfig *c, const HostState *h, int64_t now_us, FindingList *out) {
        JsonWriter w _cleanup_(json_writer_free) = JSON_WRITER_INIT;
        SeqRange over[FINDINGS_MAX_GAPS];
        size_t n = seq_gaps_overdue(h->gaps, h->n_gaps, sec_us(c->gap_grace_sec), now_us, over, ELEMENTSOF(over));
        size_t shown = 0;
        uint64_t seqs = 0;
        int64_t first = now_us;
        FindingChange *f;

        if (n == 0) {
                change_add(out, FINDING_CLOSE, "host.gap", "high", now_us, now_us);
                return;
        }
        json_object_begin(&w);
        json_key(&w, "missing");
        json_array_begin(&w);
        for (size_t i = 0; i < n; i++) {
                uint64_t len = over[i].last - over[i].first;

                seqs = len >= UINT64_MAX - seqs ? UINT64_MAX : seqs + len + 1;
                first = MIN(first, over[i].seen_us);
                /* 64 ranges of 20-digit seqs would not fit the detail: the oldest are shown, the rest counted. */
                if (w.len > FINDING_DETAIL_MAX - 200)
                        continue;
                json_array_begin(&w);
                json_uint(&w, over[i].first);
                json_uint(&w, over[i].last);
                json_array_end(&w);
                shown++;
        }
        json_array_end(&w);
        if (shown < n)
                json_kv_uint(&w, "ranges_not_shown", n - shown);
        json_kv_uint(&w, "missing_seqs", seqs);
        json_kv_uint(&w, "grace_sec", c->gap_grace_sec);
        json_object_end(&w);
        f = change_add(out, FINDING_OPEN, "host.gap", "high", first, now_us);
        change_detail(f, &w);
        change_message(f,
                       "%" PRIu64 " events missing in %zu range%s (first %" PRIu64 "-%" PRIu64
                       ") that no agent.events_dropped or agent.spool_corrupt explains",
                       seqs, n, n == 1 ? "" : "s", over[0].first, over[0].last);
}

static void open_silent(const FindingsConfig *c, HostState *h, int64_t now_us, FindingList *out) {
        JsonWriter w _cleanup_(json_writer_free) = JSON_WRITER_INIT;
        char t[RFC3339_MAX];
        FindingChange *f;

        h->silent = true;
        h->silent_since_us = h->last_seen_us;
        f = change_add(out, FINDING_OPEN, "host.silent", "high", h->last_seen_us, now_us);
        json_object_begin(&w);
        json_kv_string(&w, "last_seen", time_str(t, h->last_seen_us));
        json_kv_uint(&w, "silent_sec", span_sec(h->last_seen_us, now_us));
        json_kv_uint(&w, "heartbeat_interval_sec", h->heartbeat_interval_sec);
        json_kv_uint(&w, "threshold_sec", 2 * (uint64_t) h->heartbeat_interval_sec + c->silent_margin_sec);
        json_kv_string(&w, "last_kind", h->last_kind);
        json_object_end(&w);
        change_detail(f, &w);
        change_message(f, "Host silent since %s (heartbeat every %u s)", t, h->heartbeat_interval_sec);
}

static void open_stopped(const FindingsConfig *c, HostState *h, int64_t now_us, FindingList *out) {
        JsonWriter w _cleanup_(json_writer_free) = JSON_WRITER_INIT;
        char t[RFC3339_MAX];
        FindingChange *f;

        h->stopped = true;
        f = change_add(out, FINDING_OPEN, "host.stopped", "high", h->stopping_us, now_us);
        json_object_begin(&w);
        json_kv_string(&w, "stopping", time_str(t, h->stopping_us));
        json_kv_uint(&w, "stopped_sec", span_sec(h->stopping_us, now_us));
        json_kv_uint(&w, "stopped_after_sec", c->stopped_after_sec);
        json_object_end(&w);
        change_detail(f, &w);
        change_message(f, "mamorid stopped at %s and has not started again", t);
}

typedef struct Overdue {
        SeqRange r[FINDINGS_MAX_GAPS];
        size_t n;
} Overdue;

static void overdue_get(const FindingsConfig *c, const HostState *h, int64_t now_us, Overdue *ret) {
        ret->n = seq_gaps_overdue(h->gaps, h->n_gaps, sec_us(c->gap_grace_sec), now_us, ret->r, ELEMENTSOF(ret->r));
}

static bool overdue_changed(const FindingsConfig *c, const HostState *h, int64_t now_us, const Overdue *before) {
        Overdue after;

        overdue_get(c, h, now_us, &after);
        if (after.n != before->n)
                return true;
        for (size_t i = 0; i < after.n; i++)
                if (after.r[i].first != before->r[i].first || after.r[i].last != before->r[i].last)
                        return true;
        return false;
}

/* Acts on every deadline <= now_us, then sets due_us to the earliest later
 * one. before: the overdue gaps before the event (NULL for the timer): an
 * open host.gap is updated (or closed) when they changed. */
static void deadlines(const FindingsConfig *c, HostState *h, int64_t now_us, const Overdue *before, bool gap_was_open,
                      FindingList *out) {
        int64_t d, due = INT64_MAX;
        bool gaps_changed = before && overdue_changed(c, h, now_us, before);

        d = silence_deadline(c, h);
        if (d != 0 && d <= now_us)
                open_silent(c, h, now_us, out);
        d = stop_deadline(c, h);
        if (d != 0 && d <= now_us)
                open_stopped(c, h, now_us, out);
        if ((gaps_changed && gap_was_open) || gap_unreported(c, h, now_us))
                report_gaps(c, h, now_us, out);

        d = silence_deadline(c, h);
        if (d != 0 && d > now_us)
                due = MIN(due, d);
        d = stop_deadline(c, h);
        if (d != 0 && d > now_us)
                due = MIN(due, d);
        for (size_t i = 0; i < h->n_gaps; i++) {
                if (h->gaps[i].explained)
                        continue;
                d = seq_gaps_deadline(&h->gaps[i], sec_us(c->gap_grace_sec));
                if (d > now_us)
                        due = MIN(due, d);
        }
        h->due_us = due == INT64_MAX ? 0 : due;
}

/* ---- the interface ---- */

static void host_returned(HostState *h, int64_t now_us, FindingList *out) {
        JsonWriter w _cleanup_(json_writer_free) = JSON_WRITER_INIT;
        char t[RFC3339_MAX], t2[RFC3339_MAX];
        uint64_t span = span_sec(h->silent_since_us, now_us);
        FindingChange *f;

        json_object_begin(&w);
        json_kv_string(&w, "silent_since", time_str(t, h->silent_since_us));
        json_kv_string(&w, "returned", time_str(t2, now_us));
        json_kv_uint(&w, "silent_sec", span);
        json_object_end(&w);
        f = change_add(out, FINDING_NOTICE, "host.returned", "info", h->silent_since_us, now_us);
        change_detail(f, &w);
        change_message(f, "Host spoke again after %" PRIu64 " s of silence (since %s)", span, t);
        f = change_add(out, FINDING_CLOSE, "host.silent", "high", h->silent_since_us, now_us);
        change_detail(f, &w);
        change_message(f, "Host spoke again after %" PRIu64 " s of silence", span);
        h->silent = false;
        h->silent_since_us = 0;
}

static void new_certificate(HostState *h, const char *fingerprint, int64_t now_us, FindingList *out) {
        JsonWriter w _cleanup_(json_writer_free) = JSON_WRITER_INIT;
        FindingChange *f;

        json_object_begin(&w);
        json_kv_string(&w, "first_fingerprint", h->cert_fingerprint);
        json_kv_string(&w, "fingerprint", fingerprint);
        json_object_end(&w);
        f = change_add(out, FINDING_OPEN, "host.new_certificate", "high", now_us, now_us);
        change_detail(f, &w);
        change_message(f, "Another client certificate (%.16s…) speaks for this machine_id, first seen with %.16s…",
                       fingerprint, h->cert_fingerprint);
}

void findings_on_event(const FindingsConfig *c, HostState *h, const StoreEvent *e, bool dup_conflict,
                       const char *cert_fingerprint, int64_t now_us, FindingList *out) {
        _cleanup_(json_object_putp) struct json_object *root = NULL;
        const char *kind = strempty(e->kind), *fail_closed_source = NULL;
        /* All events of a batch arrive at one now_us: the checks of a whole batch are made once. */
        bool batch_start = h->last_seen_us != now_us, newest, gap_was_open;
        Overdue before;
        bool old_fail_closed = h->fail_closed;
        char old_policy[sizeof(h->policy_hash)], old_version[sizeof(h->agent_version)];
        StoreEvent ev = *e;

        out->n = 0;
        ev.kind = kind;
        gap_was_open = gap_open(c, h, now_us);
        overdue_get(c, h, now_us, &before);

        if (isempty(h->machine_id))
                copy_str(h->machine_id, sizeof(h->machine_id), e->machine_id);
        if (h->first_seen_us == 0)
                h->first_seen_us = now_us;

        if (dup_conflict) {
                /* Not stored, not believed: only the fact of it. */
                tampered(&ev, h, "id_reused", now_us, out);
                deadlines(c, h, now_us, &before, gap_was_open, out);
                return;
        }

        if (!isempty(cert_fingerprint)) {
                if (isempty(h->cert_fingerprint))
                        copy_str(h->cert_fingerprint, sizeof(h->cert_fingerprint), cert_fingerprint);
                else if (batch_start && strcasecmp(h->cert_fingerprint, cert_fingerprint) != 0)
                        new_certificate(h, cert_fingerprint, now_us, out);
        }

        h->last_seen_us = now_us;
        h->events++;
        if (h->silent)
                host_returned(h, now_us, out);

        newest = ev.seq > h->max_seq;
        if (!newest) {
                if (!seq_gaps_fill(h->gaps, &h->n_gaps, ev.seq)) {
                        /* A seq at or below the highest one, filling no gap: its content is not believed. */
                        tampered(&ev, h, "seq_backwards", now_us, out);
                        deadlines(c, h, now_us, &before, gap_was_open, out);
                        return;
                }
        } else {
                if (ev.seq > h->max_seq + 1) {
                        seq_gaps_add(h->gaps, &h->n_gaps, h->max_seq + 1, ev.seq - 1, now_us);
                }
                h->max_seq = ev.seq;
        }

        /* Only these kinds carry what the collector reads in the JSON. */
        if (startswith(kind, "agent."))
                root = event_parse(&ev);
        if (root && (streq(kind, "agent.events_dropped") || streq(kind, "agent.spool_corrupt")))
                explain(h, &ev, root);
        late_heartbeat(c, h, &ev, root, now_us, out);

        if (newest) {
                memcpy(old_policy, h->policy_hash, sizeof(old_policy));
                memcpy(old_version, h->agent_version, sizeof(old_version));
                take_state(h, &ev, root, &fail_closed_source);

                if (streq(kind, "agent.stopping"))
                        h->stopping_us = now_us;
                else {
                        /* Any later event means the agent runs again (its agent.started may be in a gap). */
                        h->stopping_us = 0;
                        if (h->stopped) {
                                FindingChange *f = change_add(out, FINDING_CLOSE, "host.stopped", "high", now_us, now_us);
                                change_message(f, "mamorid runs again (%.63s)", kind);
                                h->stopped = false;
                        }
                }

                /* On a change, and once a batch (the team's current list may have changed since). */
                if (batch_start || !streq(old_policy, h->policy_hash))
                        check_policy(c, h, now_us, out);
                if (batch_start || !streq(old_version, h->agent_version))
                        check_version(c, h, now_us, out);
                if (fail_closed_source && (batch_start || old_fail_closed != h->fail_closed))
                        check_fail_closed(h, fail_closed_source, now_us, out);
        }

        deadlines(c, h, now_us, &before, gap_was_open, out);
}

void findings_on_timer(const FindingsConfig *c, HostState *h, int64_t now_us, FindingList *out) {
        out->n = 0;
        deadlines(c, h, now_us, NULL, false, out);
}

/* ---- the collector.* event ---- */

static const char *action_name(FindingAction a) {
        switch (a) {
        case FINDING_OPEN:
                return "open";
        case FINDING_CLOSE:
                return "close";
        case FINDING_NOTICE:
                return "notice";
        }
        return "unknown";
}

static void kv_time(JsonWriter *w, const char *key, int64_t us) {
        char t[RFC3339_MAX];

        json_key(w, key);
        if (us <= 0)
                json_null(w);
        else
                json_string(w, time_str(t, us));
}

static bool detail_is_object(const char *detail, size_t n) {
        struct json_tokener *tok = json_tokener_new_ex(FINDINGS_JSON_DEPTH);
        struct json_object *o;
        bool ok;

        if (!tok)
                return false;
        o = json_tokener_parse_ex(tok, detail, (int) n);
        /* The whole text, one object, nothing after it. */
        ok = o && json_object_is_type(o, json_type_object) && json_tokener_get_error(tok) == json_tokener_success &&
             json_tokener_get_parse_end(tok) == n;
        json_object_put(o);
        json_tokener_free(tok);
        return ok;
}

int findings_event_json(const FindingChange *f, const HostState *h, const char *event_id, int64_t now_us, char *buf,
                        size_t size) {
        JsonWriter w _cleanup_(json_writer_free) = JSON_WRITER_INIT;
        char kind[96], t[RFC3339_MAX];
        size_t detail_len = strnlen(f->detail, sizeof(f->detail));
        int r;

        snprintf(kind, sizeof(kind), "collector.%s", strempty(f->kind));
        json_object_begin(&w);
        json_kv_string(&w, "id", event_id);
        json_kv_uint(&w, "seq", 0);
        json_kv_string(&w, "time", time_str(t, now_us));
        json_kv_string(&w, "kind", kind);
        json_kv_string(&w, "severity", f->severity ? f->severity : "info");
        json_key(&w, "host");
        json_object_begin(&w);
        json_kv_string(&w, "name", h->host_name);
        json_kv_string(&w, "machine_id", h->machine_id);
        json_object_end(&w);
        json_key(&w, "agent");
        json_object_begin(&w);
        json_kv_string(&w, "name", "mamori-collector");
        json_kv_string(&w, "version", MAMORI_VERSION);
        json_object_end(&w);
        json_key(&w, "message");
        json_string_len(&w, f->message, strnlen(f->message, sizeof(f->message)));
        json_key(&w, "finding");
        json_object_begin(&w);
        json_kv_string(&w, "kind", f->kind);
        json_kv_string(&w, "action", action_name(f->action));
        kv_time(&w, "first", f->first_us);
        kv_time(&w, "last", f->last_us);
        json_key(&w, "detail");
        /* Written by this module; checked all the same before it is spliced in raw. */
        if (detail_len > 0 && detail_is_object(f->detail, detail_len))
                json_raw(&w, f->detail, detail_len);
        else
                json_string_len(&w, f->detail, detail_len);
        json_object_end(&w);
        json_object_end(&w);

        r = json_error(&w);
        if (r < 0)
                return r;
        if (w.len >= size)
                return -ENOBUFS;
        memcpy(buf, w.buf, w.len);
        buf[w.len] = '\0';
        return (int) w.len;
}
