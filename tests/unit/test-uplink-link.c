/* SPDX-License-Identifier: MIT */
/* agent/report/uplink-link.c: when a read of mamori-uplink's status makes
 * agent.delivery_refused or agent.delivery_resumed (issue 16). Once per
 * change of status or since, never per retry; nothing on what proves nothing
 * (a stopped uplink, state off, an uplink that has had no answer yet). */
#include "unit.h"

#include "uplink-link.h"

static char answer_401[] = "{\"error\": \"bad token\"}";

static UplinkLinkStatus refused(long status, usec_t since) {
        return (UplinkLinkStatus){
                .present = true,
                .running = true,
                .status = { .pid = 1,
                            .state = UPLINK_REFUSED,
                            .last_status = status,
                            .refused_status = status,
                            .refused_since = since,
                            .refused_answer = answer_401 },
        };
}

static UplinkLinkStatus other(UplinkState state, long last_status) {
        return (UplinkLinkStatus){
                .present = true,
                .running = true,
                .status = { .pid = 1, .state = state, .last_status = last_status },
        };
}

/* The kind of the event for s, or -1 for none. */
static int change(UplinkLink *l, UplinkLinkStatus s) {
        Event *e = NULL;
        int kind;

        assert_int_equal(uplink_link_refused_event(l, &s, &e), 0);
        if (!e)
                return -1;
        kind = (int) e->kind;
        event_free(e);
        return kind;
}

static void test_once_per_change(void **state) {
        _cleanup_(uplink_link_freep) UplinkLink *l = NULL;
        const usec_t t = UINT64_C(1764798400000000);
        (void) state;

        assert_int_equal(uplink_link_new("/nonexistent/state", "/nonexistent/run", &l), 0);
        /* nothing refused, nothing to say */
        assert_int_equal(change(l, other(UPLINK_IDLE, 200)), -1);
        assert_int_equal(change(l, refused(401, t)), EVENT_AGENT_DELIVERY_REFUSED);
        /* retries of the same: nothing */
        assert_int_equal(change(l, refused(401, t)), -1);
        assert_int_equal(change(l, refused(401, t)), -1);
        /* the uplink stopped, or has no url for a while, or started over and
         * has had no answer yet: nothing ended */
        UplinkLinkStatus stopped = refused(401, t);
        stopped.running = false;
        assert_int_equal(change(l, stopped), -1);
        assert_int_equal(change(l, other(UPLINK_OFF, 401)), -1);
        assert_int_equal(change(l, other(UPLINK_SENDING, 0)), -1);
        assert_int_equal(change(l, other(UPLINK_WAITING, 0)), -1);
        /* ... and refused again since its new start: a new alarm */
        assert_int_equal(change(l, refused(401, t + 5)), EVENT_AGENT_DELIVERY_REFUSED);
        /* another status: a new alarm */
        assert_int_equal(change(l, refused(403, t + 5)), EVENT_AGENT_DELIVERY_REFUSED);
        assert_int_equal(change(l, refused(403, t + 5)), -1);
        /* an answer of another class: resumed, once */
        assert_int_equal(change(l, other(UPLINK_WAITING, 503)), EVENT_AGENT_DELIVERY_RESUMED);
        assert_int_equal(change(l, other(UPLINK_IDLE, 200)), -1);
        assert_int_equal(change(l, refused(403, t + 9)), EVENT_AGENT_DELIVERY_REFUSED);
        assert_int_equal(change(l, other(UPLINK_IDLE, 200)), EVENT_AGENT_DELIVERY_RESUMED);
}

/* The members the body writer holds so far (it is left open). */
static char *body_text(Event *e) {
        char *t = strndup(e->body.buf ? e->body.buf : "", e->body.len);
        assert_non_null(t);
        return t;
}

static void test_event_body(void **state) {
        _cleanup_(uplink_link_freep) UplinkLink *l = NULL;
        UplinkLinkStatus s = refused(404, UINT64_C(1764798400250000));
        char url[] = "https://collector.example/v0/events", hostile[] = "a\xe2\x80\xae"
                                                                        "b\\x41";
        Event *e = NULL;
        char *json;
        (void) state;

        assert_int_equal(uplink_link_new("/nonexistent/state", "/nonexistent/run", &l), 0);
        s.status.url = url;
        /* a file of another user: whatever passed its parser is escaped once more, its escapes kept */
        s.status.refused_answer = hostile;
        assert_int_equal(uplink_link_refused_event(l, &s, &e), 0);
        assert_non_null(e);
        assert_int_equal(e->severity, EVENT_SEVERITY_HIGH);
        assert_non_null(strstr(e->message, "HTTP 404 since 2025-12-03T21:46:40.250000Z"));
        assert_non_null(strstr(e->message, "collector.url"));
        json = body_text(e);
        assert_non_null(strstr(json, "\"status\":404"));
        assert_non_null(strstr(json, "\"since\":\"2025-12-03T21:46:40.250000Z\""));
        assert_non_null(strstr(json, "\"url\":\"https://collector.example/v0/events\""));
        assert_non_null(strstr(json, "a\\\\u202eb\\\\x41"));
        free(json);
        event_free(e);

        e = NULL;
        s = other(UPLINK_IDLE, 200);
        assert_int_equal(uplink_link_refused_event(l, &s, &e), 0);
        assert_non_null(e);
        assert_int_equal(e->severity, EVENT_SEVERITY_INFO);
        json = body_text(e);
        assert_non_null(strstr(json, "\"status\":200"));
        assert_non_null(strstr(json, "\"refused_status\":404"));
        assert_non_null(strstr(json, "\"refused_since\":\"2025-12-03T21:46:40.250000Z\""));
        free(json);
        event_free(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_once_per_change),
                cmocka_unit_test(test_event_body),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
