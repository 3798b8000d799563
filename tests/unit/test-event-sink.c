/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include <fcntl.h>

#include "event-sink.h"
#include "log.h"
#include "macro.h"

/* What the sinks saw, in the order they saw it: "name:stage:kind". */
typedef struct Trace {
        char lines[32][64];
        size_t n;
        EventSinks *sinks; /* for a sink that emits an event of its own */
} Trace;

typedef struct Probe {
        const char *name;
        Trace *trace;
        int fail; /* returned by every call */
        const EventContext *ctx_seen;
        bool emit_nested; /* on its first event, emit one of its own (as reporting does for damage) */
} Probe;

static void trace_add(Trace *t, const char *name, const char *stage, EventKind kind) {
        assert_true(t->n < ELEMENTSOF(t->lines));
        snprintf(t->lines[t->n++], sizeof t->lines[0], "%s:%s:%s", name, stage, event_kind_info(kind)->name);
}

static int probe_consume(void *userdata, Event *e, const EventContext *ctx) {
        Probe *p = userdata;

        trace_add(p->trace, p->name, "consume", e->kind);
        p->ctx_seen = ctx;
        if (p->emit_nested) {
                _cleanup_(event_freep) Event *own = event_new(EVENT_AGENT_SPOOL_CORRUPT);
                p->emit_nested = false;
                assert_non_null(own);
                (void) event_sinks_consume(p->trace->sinks, own, NULL);
        }
        return p->fail;
}

static int probe_recorded(void *userdata, const EventRecord *rec) {
        Probe *p = userdata;
        trace_add(p->trace, p->name, "recorded", rec->kind);
        return p->fail;
}

static EventSink probe_sink(Probe *p, bool consume, bool recorded) {
        return (EventSink){
                .name = p->name,
                .consume = consume ? probe_consume : NULL,
                .recorded = recorded ? probe_recorded : NULL,
                .userdata = p,
        };
}

static void assert_trace(const Trace *t, const char *const *want, size_t n) {
        for (size_t i = 0; i < MIN(n, t->n); i++)
                assert_string_equal(t->lines[i], want[i]);
        assert_int_equal(t->n, n);
}

static void test_every_sink_in_order(void **state) {
        _cleanup_(event_sinks_freep) EventSinks *s = NULL;
        _cleanup_(event_freep) Event *e = event_new(EVENT_USB_BLOCKED);
        Trace t = { 0 };
        Probe a = { "reporting", &t }, b = { "notice", &t }, c = { "control", &t };
        UsbDevice d = { .sysname = (char *) "1-1" };
        Decision dec = { .relevant = true };
        EventContext ctx = { .device = &d, .decision = &dec, .was_usable = true };
        static const char *const want[] = {
                "reporting:consume:usb.blocked",
                "notice:consume:usb.blocked",
                "notice:recorded:usb.blocked",
                "control:recorded:usb.blocked",
        };

        assert_non_null(e);
        assert_int_equal(event_sinks_new(&s), 0);
        assert_int_equal(event_sinks_add(s, probe_sink(&a, true, false)), 0);
        assert_int_equal(event_sinks_add(s, probe_sink(&b, true, true)), 0);
        assert_int_equal(event_sinks_add(s, probe_sink(&c, false, true)), 0);

        assert_int_equal(event_sinks_consume(s, e, &ctx), 0);
        /* The context reaches every sink as given. */
        assert_ptr_equal(a.ctx_seen, &ctx);
        assert_ptr_equal(b.ctx_seen, &ctx);
        assert_int_equal(event_sinks_recorded(s, &(EventRecord){ .kind = e->kind, .id = e->id, .json = "{}", .len = 2 }),
                         0);
        assert_trace(&t, want, ELEMENTSOF(want));
        assert_int_equal(event_sinks_failures(s, "notice"), 0);
}

static void test_failing_sink_stops_nothing(void **state) {
        _cleanup_(event_sinks_freep) EventSinks *s = NULL;
        Trace t = { 0 };
        Probe a = { "reporting", &t }, b = { "notice", &t, .fail = -EIO }, c = { "control", &t, .fail = -ENOMEM };
        static const char *const want[] = {
                "reporting:consume:av.pattern_stale", "notice:consume:av.pattern_stale",
                "control:consume:av.pattern_stale",   "reporting:consume:av.pattern_stale",
                "notice:consume:av.pattern_stale",    "control:consume:av.pattern_stale",
                "notice:recorded:av.pattern_stale",   "control:recorded:av.pattern_stale",
        };

        assert_int_equal(event_sinks_new(&s), 0);
        assert_int_equal(event_sinks_add(s, probe_sink(&a, true, false)), 0);
        assert_int_equal(event_sinks_add(s, probe_sink(&b, true, true)), 0);
        assert_int_equal(event_sinks_add(s, probe_sink(&c, true, true)), 0);

        for (int i = 0; i < 2; i++) {
                _cleanup_(event_freep) Event *e = event_new(EVENT_AV_PATTERN_STALE);
                assert_non_null(e);
                /* The first error is returned; the sinks after the failing one still have the event. */
                assert_int_equal(event_sinks_consume(s, e, NULL), -EIO);
        }
        assert_int_equal(event_sinks_recorded(s, &(EventRecord){ .kind = EVENT_AV_PATTERN_STALE, .json = "{}", .len = 2 }),
                         -EIO);
        assert_trace(&t, want, ELEMENTSOF(want));
        assert_int_equal(event_sinks_failures(s, "reporting"), 0);
        assert_int_equal(event_sinks_failures(s, "notice"), 3);
        assert_int_equal(event_sinks_failures(s, "control"), 3);
        assert_int_equal(event_sinks_failures(s, "nobody"), 0);
}

/* Runs two failing events and a good one through s with stderr in a file; returns what was logged. */
static char *logged_while(EventSinks *s, Probe *failing) {
        char path[] = "/tmp/test-event-sink-XXXXXX";
        _cleanup_close_ int fd = mkstemp(path), saved = dup(STDERR_FILENO);
        char *buf = calloc(1, 8192);
        ssize_t l;

        assert_true(fd >= 0 && saved >= 0 && buf);
        (void) unlink(path);
        assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
        for (int i = 0; i < 3; i++) {
                _cleanup_(event_freep) Event *e = event_new(EVENT_LOCK_FAILED);
                assert_non_null(e);
                failing->fail = i < 2 ? -EIO : 0;
                (void) event_sinks_consume(s, e, NULL);
        }
        assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
        l = pread(fd, buf, 8191, 0);
        assert_true(l > 0);
        return buf;
}

static size_t count(const char *haystack, const char *needle) {
        size_t n = 0;
        for (const char *p = strstr(haystack, needle); p; p = strstr(p + 1, needle))
                n++;
        return n;
}

static void test_failure_logged_once(void **state) {
        _cleanup_(event_sinks_freep) EventSinks *s = NULL;
        _cleanup_free_ char *log = NULL;
        Trace t = { 0 };
        Probe a = { "reporting", &t }, b = { "notice", &t };

        log_open(LOG_TARGET_STDERR);
        log_set_max_level(LOG_INFO);
        assert_int_equal(event_sinks_new(&s), 0);
        assert_int_equal(event_sinks_add(s, probe_sink(&a, true, false)), 0);
        assert_int_equal(event_sinks_add(s, probe_sink(&b, true, false)), 0);

        log = logged_while(s, &b);
        /* Two events failed: one line for the outage, one when it is over. */
        assert_int_equal(count(log, "Event sink notice could not take event"), 1);
        assert_int_equal(count(log, "lock.failed"), 1);
        assert_int_equal(count(log, "Event sink notice takes events again (2 could not be taken)"), 1);
        assert_int_equal(count(log, "reporting"), 0);
        assert_int_equal(event_sinks_failures(s, "notice"), 2);
}

static void test_remove_and_nested(void **state) {
        _cleanup_(event_sinks_freep) EventSinks *s = NULL;
        _cleanup_(event_freep) Event *e = event_new(EVENT_AGENT_HEARTBEAT);
        Trace t = { 0 };
        Probe a = { "reporting", &t, .emit_nested = true }, b = { "notice", &t }, c = { "control", &t };
        static const char *const want[] = {
                /* a sink's own event runs through the list first, then the first one goes on */
                "reporting:consume:agent.heartbeat",
                "reporting:consume:agent.spool_corrupt",
                "control:consume:agent.spool_corrupt",
                "control:consume:agent.heartbeat",
        };

        assert_non_null(e);
        assert_int_equal(event_sinks_new(&s), 0);
        t.sinks = s;
        assert_int_equal(event_sinks_add(s, probe_sink(&a, true, false)), 0);
        assert_int_equal(event_sinks_add(s, probe_sink(&b, true, false)), 0);
        assert_int_equal(event_sinks_add(s, probe_sink(&c, true, false)), 0);
        event_sinks_remove(s, &b);
        event_sinks_remove(s, &b); /* not there: nothing */
        event_sinks_remove(NULL, &b);

        assert_int_equal(event_sinks_consume(s, e, NULL), 0);
        assert_trace(&t, want, ELEMENTSOF(want));
        /* No list (yet): nothing to do, nothing lost that a list would have had. */
        assert_int_equal(event_sinks_consume(NULL, e, NULL), 0);
}

static void test_emit_without_emitter(void **state) {
        EventEmitter none = { 0 };
        /* Takes the event all the same (ASan: no leak). */
        assert_int_equal(event_emit(&none, event_new(EVENT_AGENT_TEST), NULL), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_sink_in_order),  cmocka_unit_test(test_failing_sink_stops_nothing),
                cmocka_unit_test(test_failure_logged_once),  cmocka_unit_test(test_remove_and_nested),
                cmocka_unit_test(test_emit_without_emitter),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
