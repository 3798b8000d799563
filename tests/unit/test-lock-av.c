/* SPDX-License-Identifier: MIT */
/* The lock and antivirus checks without a Manager: what they need is given
 * to them (event loop, bus, session tracker, an emit callback), and the
 * policy in force is pushed to them, each holding its own reference. */
#include "unit.h"

#include <stdlib.h>

#include "av.h"
#include "config.h"
#include "lock.h"
#include "sessions.h"
#include "sysbus.h"

typedef struct Emitted {
        unsigned n;
        EventKind kinds[8];
} Emitted;

static int fake_emit(void *userdata, Event *e, const EventContext *ctx) {
        Emitted *x = userdata;
        if (x->n < 8)
                x->kinds[x->n] = e->kind;
        x->n++;
        event_free(e);
        return 0;
}

static Policy *load(const char *text) {
        Policy *p = NULL;
        ConfigErrors e = { 0 };
        if (config_load_strings(text, NULL, &p, &e) < 0) {
                config_errors_print(&e, stderr);
                fail();
        }
        config_errors_done(&e);
        return p;
}

static char *render(void (*write)(void *, JsonWriter *), void *module) {
        JsonWriter w = { 0 };
        char *s;
        write(module, &w);
        s = json_steal(&w, NULL);
        assert_non_null(s);
        return s;
}

static void write_lock(void *l, JsonWriter *w) {
        lock_enforcer_write_check(l, w);
}

static void write_av(void *a, JsonWriter *w) {
        av_monitor_write_check(a, w);
}

static void test_lock_takes_the_pushed_policy(void **state) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sysbus_freep) SysBus *bus = NULL;
        _cleanup_(session_tracker_freep) SessionTracker *sessions = NULL;
        Emitted emitted = { 0 };
        const EventEmitter emit = { .emit = fake_emit, .userdata = &emitted };
        Policy *a = load("lock = { idle_timeout = 300; tty = \"ignore\"; };\n"),
               *b = load("lock = { idle_timeout = 600; tty = \"report\"; };\n");
        unsigned a_refs = a->n_ref, b_refs = b->n_ref;
        LockEnforcer *l = NULL;
        char *s;

        assert_int_equal(sd_event_new(&event), 0);
        assert_int_equal(sysbus_new(event, &bus), 0);
        assert_int_equal(session_tracker_new(bus, &sessions), 0);
        assert_int_equal(lock_enforcer_new(event, sessions, &emit, &l), 0);

        /* No policy yet, no logind (the tracker is not started): nothing to lock through. */
        s = render(write_lock, l);
        assert_non_null(strstr(s, "\"state\":\"unavailable\""));
        assert_null(strstr(s, "idle_timeout_sec"));
        free(s);

        lock_enforcer_set_policy(l, a);
        assert_int_equal(a->n_ref, a_refs + 1);
        lock_enforcer_set_policy(l, a); /* the same one again: no second reference */
        assert_int_equal(a->n_ref, a_refs + 1);
        s = render(write_lock, l);
        assert_non_null(strstr(s, "\"idle_timeout_sec\":300,\"tty\":\"ignore\""));
        free(s);

        /* A reload: the new one is held, the old one let go. */
        lock_enforcer_set_policy(l, b);
        assert_int_equal(a->n_ref, a_refs);
        assert_int_equal(b->n_ref, b_refs + 1);
        s = render(write_lock, l);
        assert_non_null(strstr(s, "\"idle_timeout_sec\":600,\"tty\":\"report\""));
        free(s);

        lock_enforcer_free(l);
        assert_int_equal(b->n_ref, b_refs);
        assert_int_equal(emitted.n, 0);
        policy_unref(a);
        policy_unref(b);
}

static void test_av_reports_through_emit(void **state) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sysbus_freep) SysBus *bus = NULL;
        Emitted emitted = { 0 };
        const EventEmitter emit = { .emit = fake_emit, .userdata = &emitted };
        char dir[] = "/tmp/mamori-test-av-XXXXXX", *text = NULL, *s;
        Policy *clamav, *none = load("antivirus = { engine = \"none\"; };\n");
        unsigned none_refs = none->n_ref;
        AvMonitor *a = NULL;

        assert_non_null(mkdtemp(dir));
        assert_true(asprintf(&text, "antivirus = { engine = \"clamav\"; database_dir = \"%s\"; };\n", dir) > 0);
        clamav = load(text);
        free(text);

        assert_int_equal(sd_event_new(&event), 0);
        assert_int_equal(sysbus_new(event, &bus), 0);
        assert_int_equal(av_monitor_new(event, bus, &emit, &a), 0);
        av_monitor_set_policy(a, clamav);
        assert_int_equal(av_monitor_start(a), 0);

        /* An empty database directory: av.missing, handed to emit. */
        for (int i = 0; i < 50 && emitted.n == 0; i++)
                assert_true(sd_event_run(event, 100 * USEC_PER_MSEC) >= 0);
        assert_int_equal(emitted.n, 1);
        assert_int_equal(emitted.kinds[0], EVENT_AV_MISSING);
        assert_int_equal(av_monitor_state(a), AV_STATE_MISSING);
        s = render(write_av, a);
        assert_non_null(strstr(s, "\"state\":\"missing\""));
        free(s);

        /* A reload that turns the check off: the state is dropped, nothing more is said. */
        av_monitor_set_policy(a, none);
        assert_int_equal(none->n_ref, none_refs + 3); /* the monitor's, its source's and its units' */
        for (int i = 0; i < 3; i++)
                assert_true(sd_event_run(event, 10 * USEC_PER_MSEC) >= 0);
        s = render(write_av, a);
        assert_non_null(strstr(s, "\"state\":\"disabled\""));
        free(s);
        assert_int_equal(emitted.n, 1);

        av_monitor_free(a);
        assert_int_equal(none->n_ref, none_refs);
        policy_unref(clamav);
        policy_unref(none);
        assert_int_equal(rmdir(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lock_takes_the_pushed_policy),
                cmocka_unit_test(test_av_reports_through_emit),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
