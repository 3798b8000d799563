/* SPDX-License-Identifier: MIT */
/* collector/findings.c: what the collector concludes from a host's feed,
 * with a clock the test controls (every call gets its now). */
#include "unit.h"

#define json_bool jsonc_bool
#include <json-c/json.h>
#undef json_bool

#include "findings.h"
#include "macro.h"
#include "store.h"

#define SEC(x) ((int64_t) (x) *1000000)
#define T0 SEC(1800000000)
#define MID "3d1219c7c4c5404aaa1f6d2a48adfda4"
#define H1 "7808c0550aa676cc6d282c56cc2f0b60847105bc56619c5a56f7a812de2e13c6"
#define H2 "d5e4acb53e7093160a49c90daac969b8f1c34bbd35c17735cef9322c28349364"

static FindingsConfig cfg;
static char *current_hashes[4];

/* One event as event-check would hand it over. */
typedef struct TestEvent {
        StoreEvent e;
        char id[64], json[8192];
} TestEvent;

static const char *ev_version = "0.1.0", *ev_policy = H1;
static unsigned id_counter;

/* object: the members after the envelope, e.g. "\"heartbeat\":{...}", or NULL. */
static const StoreEvent *mk(TestEvent *t, uint64_t seq, const char *kind, int64_t time_us, const char *object) {
        snprintf(t->id, sizeof(t->id), "00000000-0000-4000-8000-%012u", ++id_counter);
        snprintf(t->json, sizeof(t->json),
                 "{\"id\":\"%s\",\"seq\":%llu,\"time\":\"x\",\"kind\":\"%s\",\"severity\":\"info\","
                 "\"host\":{\"name\":\"pc1\",\"machine_id\":\"" MID "\"},"
                 "\"agent\":{\"name\":\"mamori\",\"version\":\"%s\",\"policy_hash\":\"%s\"}%s%s}",
                 t->id, (unsigned long long) seq, kind, ev_version, ev_policy, object ? "," : "", object ? object : "");
        t->e = (StoreEvent){
                .id = t->id,
                .machine_id = MID,
                .seq = seq,
                .time_us = time_us,
                .kind = kind,
                .severity = "info",
                .host_name = "pc1",
                .agent_version = ev_version,
                .policy_hash = ev_policy,
                .json = t->json,
                .json_len = strlen(t->json),
        };
        return &t->e;
}

static HostState host;
static FindingList out;

static void event(uint64_t seq, const char *kind, int64_t time_us, const char *object, int64_t now) {
        TestEvent t;
        findings_on_event(&cfg, &host, mk(&t, seq, kind, time_us, object), false, NULL, now, &out);
}

static void timer(int64_t now) {
        findings_on_timer(&cfg, &host, now, &out);
}

static const FindingChange *find(const char *kind, FindingAction a) {
        for (size_t i = 0; i < out.n; i++)
                if (streq(out.changes[i].kind, kind) && out.changes[i].action == a)
                        return &out.changes[i];
        return NULL;
}


#define HEARTBEAT(interval, fail_closed, depth) \
        "\"heartbeat\":{\"interval_sec\":" #interval ",\"fail_closed\":" #fail_closed ",\"spool\":{\"depth\":" #depth \
        "}}"

static int setup(void **state) {
        cfg = (FindingsConfig){ .silent_margin_sec = 300,
                                .stopped_after_sec = 3600,
                                .gap_grace_sec = 600,
                                .late_heartbeat_sec = 900,
                                .current_policy_hashes = current_hashes,
                                .current_agent_version = NULL };
        memset(current_hashes, 0, sizeof(current_hashes));
        memset(&host, 0, sizeof(host));
        memset(&out, 0, sizeof(out));
        ev_version = "0.1.0";
        ev_policy = H1;
        return 0;
}

/* The detail as a json-c object, checked to be one. */
static struct json_object *detail(const FindingChange *f) {
        struct json_object *o;
        assert_non_null(f);
        o = json_tokener_parse(f->detail);
        assert_non_null(o);
        assert_true(json_object_is_type(o, json_type_object));
        return o;
}

static int64_t detail_int(const FindingChange *f, const char *key) {
        struct json_object *o = detail(f), *v;
        int64_t r;
        assert_true(json_object_object_get_ex(o, key, &v));
        r = json_object_get_int64(v);
        json_object_put(o);
        return r;
}

static void detail_expect(const FindingChange *f, const char *key, const char *json) {
        struct json_object *o = detail(f), *v;
        assert_true(json_object_object_get_ex(o, key, &v));
        assert_string_equal(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), json);
        json_object_put(o);
}

static void test_first_event(void **state) {
        event(1, "agent.started", T0, "\"config\":{\"fail_closed\":false}", T0 + 5);
        assert_string_equal(host.machine_id, MID);
        assert_string_equal(host.host_name, "pc1");
        assert_string_equal(host.agent_version, "0.1.0");
        assert_string_equal(host.policy_hash, H1);
        assert_string_equal(host.last_kind, "agent.started");
        assert_int_equal(host.first_seen_us, T0 + 5);
        assert_int_equal(host.last_seen_us, T0 + 5);
        assert_int_equal(host.last_event_time_us, T0);
        assert_int_equal(host.max_seq, 1);
        assert_int_equal(host.events, 1);
        assert_int_equal(host.n_gaps, 0);
        assert_false(host.fail_closed);
        /* No heartbeat interval known yet: no deadline. */
        assert_int_equal(host.due_us, 0);
        assert_null(find("host.gap", FINDING_OPEN));
}

static void test_silence_and_return(void **state) {
        int64_t due;

        event(1, "agent.started", T0, NULL, T0);
        event(2, "agent.heartbeat", T0, HEARTBEAT(900, false, 3), T0);
        assert_int_equal(host.heartbeat_interval_sec, 900);
        assert_int_equal(host.spool_depth, 3);
        due = T0 + SEC(2 * 900 + 300);
        assert_int_equal(host.due_us, due);

        timer(due - 1);
        assert_int_equal(out.n, 0);
        assert_false(host.silent);
        timer(due);
        assert_int_equal(out.n, 1);
        assert_non_null(find("host.silent", FINDING_OPEN));
        assert_string_equal(out.changes[0].severity, "high");
        assert_int_equal(out.changes[0].first_us, T0);
        assert_int_equal(detail_int(&out.changes[0], "silent_sec"), 2100);
        assert_true(host.silent);
        assert_int_equal(host.silent_since_us, T0);
        assert_int_equal(host.due_us, 0);
        /* Once. */
        timer(due + SEC(3600));
        assert_int_equal(out.n, 0);

        event(3, "agent.heartbeat", T0 + SEC(5000), HEARTBEAT(900, false, 0), T0 + SEC(5000));
        assert_non_null(find("host.silent", FINDING_CLOSE));
        assert_non_null(find("host.returned", FINDING_NOTICE));
        assert_string_equal(find("host.returned", FINDING_NOTICE)->severity, "info");
        assert_int_equal(detail_int(find("host.returned", FINDING_NOTICE), "silent_sec"), 5000);
        assert_int_equal(find("host.returned", FINDING_NOTICE)->first_us, T0);
        assert_false(host.silent);
        assert_int_equal(host.due_us, T0 + SEC(5000 + 2100));

        /* The interval follows the heartbeats. */
        event(4, "agent.heartbeat", T0 + SEC(5001), HEARTBEAT(60, false, 0), T0 + SEC(5001));
        assert_int_equal(host.due_us, T0 + SEC(5001 + 120 + 300));
}

static void test_stop_without_start(void **state) {
        event(1, "agent.heartbeat", T0, HEARTBEAT(900, false, 0), T0);
        event(2, "agent.stopping", T0 + SEC(10), "\"signal\":\"SIGTERM\"", T0 + SEC(10));
        assert_int_equal(host.stopping_us, T0 + SEC(10));
        assert_int_equal(host.due_us, T0 + SEC(10 + 3600));
        assert_int_equal(out.n, 0);

        timer(T0 + SEC(3609));
        assert_int_equal(out.n, 0);
        timer(T0 + SEC(3610));
        assert_int_equal(out.n, 1);
        assert_non_null(find("host.stopped", FINDING_OPEN));
        assert_string_equal(out.changes[0].severity, "high");
        assert_int_equal(out.changes[0].first_us, T0 + SEC(10));
        assert_int_equal(detail_int(&out.changes[0], "stopped_sec"), 3600);
        assert_true(host.stopped);
        /* A stopped host is not also silent, and it is said once. */
        assert_int_equal(host.due_us, 0);
        timer(T0 + SEC(100000));
        assert_int_equal(out.n, 0);

        event(3, "agent.started", T0 + SEC(200000), "\"config\":{\"fail_closed\":false}", T0 + SEC(200000));
        assert_non_null(find("host.stopped", FINDING_CLOSE));
        assert_null(find("host.returned", FINDING_NOTICE));
        assert_false(host.stopped);
        assert_int_equal(host.stopping_us, 0);
}

static void test_stop_then_start(void **state) {
        event(1, "agent.heartbeat", T0, HEARTBEAT(3600, false, 0), T0);
        event(2, "agent.stopping", T0, NULL, T0 + SEC(1));
        event(3, "agent.started", T0 + SEC(60), NULL, T0 + SEC(61));
        assert_null(find("host.stopped", FINDING_CLOSE));
        assert_int_equal(host.stopping_us, 0);
        assert_int_equal(host.due_us, T0 + SEC(61 + 7500));
        timer(T0 + SEC(3601));
        assert_null(find("host.stopped", FINDING_OPEN));
        assert_int_equal(out.n, 0);
        assert_int_equal(host.due_us, T0 + SEC(61 + 7500));

        /* stopped_after_sec = 0: at once. */
        cfg.stopped_after_sec = 0;
        event(4, "agent.stopping", T0, NULL, T0 + SEC(70));
        assert_non_null(find("host.stopped", FINDING_OPEN));
}

static void test_gap_unexplained(void **state) {
        event(1, "agent.started", T0, NULL, T0);
        event(5, "usb.blocked", T0, NULL, T0 + SEC(1));
        assert_int_equal(host.n_gaps, 1);
        assert_int_equal(host.gaps[0].first, 2);
        assert_int_equal(host.gaps[0].last, 4);
        assert_int_equal(host.max_seq, 5);
        assert_int_equal(host.due_us, T0 + SEC(601));
        assert_int_equal(out.n, 0);

        timer(T0 + SEC(600));
        assert_int_equal(out.n, 0);
        timer(T0 + SEC(601));
        assert_int_equal(out.n, 1);
        assert_non_null(find("host.gap", FINDING_OPEN));
        assert_string_equal(out.changes[0].severity, "high");
        detail_expect(&out.changes[0], "missing", "[[2,4]]");
        assert_int_equal(detail_int(&out.changes[0], "missing_seqs"), 3);
        assert_int_equal(host.due_us, 0);
        timer(T0 + SEC(5000));
        assert_int_equal(out.n, 0);

        /* A new gap on top: its own grace, then the finding shows both. */
        event(8, "usb.blocked", T0, NULL, T0 + SEC(1000));
        assert_null(find("host.gap", FINDING_OPEN));
        assert_int_equal(host.due_us, T0 + SEC(1600));
        timer(T0 + SEC(1600));
        detail_expect(find("host.gap", FINDING_OPEN), "missing", "[[2,4],[6,7]]");

        /* A late seq fills: the open finding is updated, then closed. */
        event(3, "usb.blocked", T0, NULL, T0 + SEC(2000));
        detail_expect(find("host.gap", FINDING_OPEN), "missing", "[[2,2],[4,4],[6,7]]");
        assert_null(find("host.tampered", FINDING_OPEN));
        assert_int_equal(host.max_seq, 8);
        event(2, "usb.blocked", T0, NULL, T0 + SEC(2001));
        event(4, "usb.blocked", T0, NULL, T0 + SEC(2002));
        event(6, "usb.blocked", T0, NULL, T0 + SEC(2003));
        detail_expect(find("host.gap", FINDING_OPEN), "missing", "[[7,7]]");
        event(7, "usb.blocked", T0, NULL, T0 + SEC(2004));
        assert_non_null(find("host.gap", FINDING_CLOSE));
        assert_int_equal(host.n_gaps, 0);
        assert_int_equal(host.last_kind[0] != '\0', true);
        assert_int_equal(host.events, 8);
}

/* A gap past its grace found by an event before the timer ran: reported all the same. */
static void test_gap_before_sweep(void **state) {
        event(1, "agent.started", T0, NULL, T0);
        event(4, "usb.blocked", T0, NULL, T0);
        event(5, "usb.blocked", T0, NULL, T0 + SEC(700));
        detail_expect(find("host.gap", FINDING_OPEN), "missing", "[[2,3]]");
        timer(T0 + SEC(800));
        assert_int_equal(out.n, 0);
        event(6, "usb.blocked", T0, NULL, T0 + SEC(900));
        assert_int_equal(out.n, 0);

        /* gap_grace_sec = 0: at once. */
        cfg.gap_grace_sec = 0;
        event(9, "usb.blocked", T0, NULL, T0 + SEC(901));
        detail_expect(find("host.gap", FINDING_OPEN), "missing", "[[2,3],[7,8]]");

        /* The same on a host with nothing pending. */
        setup(NULL);
        cfg.gap_grace_sec = 0;
        event(1, "agent.started", T0, NULL, T0);
        assert_int_equal(host.due_us, 0);
        event(5, "usb.blocked", T0, NULL, T0 + SEC(1));
        detail_expect(find("host.gap", FINDING_OPEN), "missing", "[[2,4]]");
        assert_int_equal(host.due_us, 0);
        timer(T0 + SEC(2));
        assert_int_equal(out.n, 0);
}

static void test_gap_explained_after(void **state) {
        event(1, "agent.started", T0, NULL, T0);
        event(10, "usb.blocked", T0, NULL, T0);
        /* Within the grace: never a finding. */
        event(11, "agent.events_dropped", T0, "\"dropped\":{\"count\":8,\"seq_ranges\":[[2,9]]}", T0 + SEC(10));
        assert_int_equal(out.n, 0);
        assert_int_equal(host.n_gaps, 1);
        assert_true(host.gaps[0].explained);
        assert_int_equal(host.due_us, 0);
        timer(T0 + SEC(10000));
        assert_int_equal(out.n, 0);

        /* After the grace: the finding opens, then is updated, then closes. */
        event(20, "usb.blocked", T0, NULL, T0 + SEC(20000));
        timer(T0 + SEC(20600));
        detail_expect(find("host.gap", FINDING_OPEN), "missing", "[[12,19]]");
        event(21, "agent.events_dropped", T0, "\"dropped\":{\"seq_ranges\":[[12,13],[15,15]]}", T0 + SEC(20700));
        detail_expect(find("host.gap", FINDING_OPEN), "missing", "[[14,14],[16,19]]");
        event(22, "agent.spool_corrupt", T0,
              "\"spool\":{\"damage\":\"corrupt\",\"possibly_lost_seq\":{\"first\":14,\"last\":19}}", T0 + SEC(20800));
        assert_non_null(find("host.gap", FINDING_CLOSE));
        assert_null(find("host.gap", FINDING_OPEN));
}

/* The explanation comes with the event that shows the gap, or covers only part of it. */
static void test_gap_explained_before(void **state) {
        event(1, "agent.started", T0, NULL, T0);
        event(23, "agent.spool_corrupt", T0, "\"spool\":{\"possibly_lost_seq\":{\"first\":2,\"last\":21}}", T0);
        assert_int_equal(host.n_gaps, 2);
        assert_true(host.gaps[0].explained);
        assert_false(host.gaps[1].explained);
        assert_int_equal(host.gaps[1].first, 22);
        timer(T0 + SEC(600));
        detail_expect(find("host.gap", FINDING_OPEN), "missing", "[[22,22]]");

        /* The drop report as the first event of a host (seq 857 for 1-98 in docs/events.md). */
        setup(NULL);
        event(99, "usb.blocked", T0, NULL, T0);
        event(857, "agent.events_dropped", T0, "\"dropped\":{\"seq_ranges\":[[1,98]]}", T0);
        assert_int_equal(host.n_gaps, 2);
        timer(T0 + SEC(600));
        detail_expect(find("host.gap", FINDING_OPEN), "missing", "[[100,856]]");

        /* A report can only explain seqs before its own: [1, 2^64-1] is cut at 9. */
        setup(NULL);
        event(1, "agent.started", T0, NULL, T0);
        event(5, "usb.blocked", T0, NULL, T0);
        event(10, "agent.events_dropped", T0, "\"dropped\":{\"seq_ranges\":[[1,18446744073709551615]]}", T0);
        event(20, "usb.blocked", T0, NULL, T0);
        timer(T0 + SEC(600));
        detail_expect(find("host.gap", FINDING_OPEN), "missing", "[[11,19]]");
}

/* A seq file that claimed more is a floor: the jump over it is explained by the report (docs/events.md §4.6). */
static void test_gap_seq_floor(void **state) {
        event(1, "agent.started", T0, NULL, T0);
        event(2, "agent.heartbeat", T0, HEARTBEAT(900, false, 0), T0);
        event(1001, "agent.spool_corrupt", T0,
              "\"spool\":{\"damage\":\"seq_out_of_range\",\"file\":\"seq\",\"last_good_seq\":2,\"claimed_seq\":1000}",
              T0);
        event(1002, "agent.started", T0, NULL, T0);
        timer(T0 + SEC(600));
        assert_null(find("host.gap", FINDING_OPEN));
        assert_int_equal(host.n_gaps, 1);
        assert_true(host.gaps[0].explained);

        /* Past 2^52 it is not believed, not a floor; nor is the uplink's cursor: a jump stays unexplained. */
        event(1100, "agent.spool_corrupt", T0,
              "\"spool\":{\"damage\":\"seq_out_of_range\",\"file\":\"cursor\",\"last_good_seq\":1002,"
              "\"claimed_seq\":18446744073709551615}",
              T0 + SEC(1000));
        event(1200, "agent.spool_corrupt", T0,
              "\"spool\":{\"damage\":\"seq_out_of_range\",\"file\":\"uplink cursor\",\"last_good_seq\":1100,"
              "\"claimed_seq\":1150}",
              T0 + SEC(1000));
        timer(T0 + SEC(1600));
        detail_expect(find("host.gap", FINDING_OPEN), "missing", "[[1003,1099],[1101,1199]]");
}

static void test_tampered(void **state) {
        TestEvent t;

        for (uint64_t s = 1; s <= 5; s++)
                event(s, "usb.blocked", T0, NULL, T0);
        event(3, "usb.allowed", T0, NULL, T0 + SEC(1));
        assert_non_null(find("host.tampered", FINDING_OPEN));
        assert_string_equal(find("host.tampered", FINDING_OPEN)->severity, "critical");
        {
                struct json_object *o = detail(find("host.tampered", FINDING_OPEN)), *v;
                assert_true(json_object_object_get_ex(o, "reason", &v));
                assert_string_equal(json_object_get_string(v), "seq_backwards");
                json_object_put(o);
        }
        /* Not believed: the state is the newest event's. */
        assert_string_equal(host.last_kind, "usb.blocked");
        assert_int_equal(host.max_seq, 5);
        assert_int_equal(host.n_gaps, 0);

        /* Equal to max_seq with a new id: the same. */
        event(5, "usb.blocked", T0, NULL, T0 + SEC(2));
        assert_non_null(find("host.tampered", FINDING_OPEN));

        /* An id reused with other content: tampered, nothing else believed. */
        ev_policy = H2;
        findings_on_event(&cfg, &host, mk(&t, 6, "agent.stopping", T0, NULL), true, NULL, T0 + SEC(3), &out);
        assert_non_null(find("host.tampered", FINDING_OPEN));
        detail_expect(find("host.tampered", FINDING_OPEN), "reason", "\"id_reused\"");
        assert_int_equal(host.max_seq, 5);
        assert_int_equal(host.stopping_us, 0);
        assert_string_equal(host.policy_hash, H1);
        assert_int_equal(host.events, 7);
}

static void test_policy_drift(void **state) {
        event(1, "agent.started", T0, NULL, T0);
        assert_null(find("host.policy_drift", FINDING_OPEN));
        assert_null(find("host.policy_drift", FINDING_CLOSE)); /* no current list: the check is off */

        current_hashes[0] = (char *) H2;
        event(2, "agent.heartbeat", T0, HEARTBEAT(900, false, 0), T0 + SEC(1));
        assert_non_null(find("host.policy_drift", FINDING_OPEN));
        assert_string_equal(find("host.policy_drift", FINDING_OPEN)->severity, "medium");
        detail_expect(find("host.policy_drift", FINDING_OPEN), "policy_hash", "\"" H1 "\"");
        /* Within the same batch (same now): not again. */
        event(3, "usb.blocked", T0, NULL, T0 + SEC(1));
        assert_null(find("host.policy_drift", FINDING_OPEN));

        ev_policy = H2;
        event(4, "agent.config_changed", T0, NULL, T0 + SEC(1));
        assert_non_null(find("host.policy_drift", FINDING_CLOSE));

        /* The team adds the old hash to the list, in any case. */
        current_hashes[1] = (char *) "7808C0550AA676CC6D282C56CC2F0B60847105BC56619C5A56F7A812DE2E13C6";
        ev_policy = H1;
        event(5, "agent.config_changed", T0, NULL, T0 + SEC(2));
        assert_non_null(find("host.policy_drift", FINDING_CLOSE));
        assert_null(find("host.policy_drift", FINDING_OPEN));
}

static void test_outdated(void **state) {
        static const struct {
                const char *v;
                bool older;
        } cases[] = {
                { "0.1.9", true },   { "0.2.0", false },    { "0.2", false },
                { "0.10.0", false }, { "0.1.99999", true }, { "0.2.0~rc1", false },
                { "0", true },       { "1", false },        { "abc", false },
                { "", false },       { "0.2.0.1", false },  { "99999999999999999999999.1", false },
        };

        cfg.current_agent_version = (char *) "0.2.0";
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ev_version = cases[i].v;
                event(i + 1, "agent.heartbeat", T0, HEARTBEAT(900, false, 0), T0 + SEC(i));
                if (cases[i].older) {
                        assert_non_null(find("host.outdated", FINDING_OPEN));
                        assert_string_equal(find("host.outdated", FINDING_OPEN)->severity, "low");
                } else {
                        assert_null(find("host.outdated", FINDING_OPEN));
                        assert_non_null(find("host.outdated", FINDING_CLOSE));
                }
        }
        cfg.current_agent_version = NULL;
        event(100, "agent.heartbeat", T0, HEARTBEAT(900, false, 0), T0 + SEC(100));
        assert_null(find("host.outdated", FINDING_CLOSE));
}

static void test_fail_closed(void **state) {
        event(1, "agent.started", T0, "\"config\":{\"fail_closed\":true}", T0);
        assert_true(host.fail_closed);
        assert_non_null(find("host.fail_closed", FINDING_OPEN));
        assert_string_equal(find("host.fail_closed", FINDING_OPEN)->severity, "critical");
        event(2, "agent.heartbeat", T0, HEARTBEAT(900, false, 0), T0 + SEC(1));
        assert_false(host.fail_closed);
        assert_non_null(find("host.fail_closed", FINDING_CLOSE));
        event(3, "agent.heartbeat", T0, HEARTBEAT(900, true, 0), T0 + SEC(2));
        assert_non_null(find("host.fail_closed", FINDING_OPEN));
        event(4, "agent.config_changed", T0, NULL, T0 + SEC(3));
        assert_non_null(find("host.fail_closed", FINDING_CLOSE));
        event(5, "agent.config_error", T0, "\"config\":{\"phase\":\"start\",\"outcome\":\"fail_closed\"}", T0 + SEC(4));
        assert_non_null(find("host.fail_closed", FINDING_OPEN));
        /* An event that does not say: nothing. */
        event(6, "usb.blocked", T0, NULL, T0 + SEC(5));
        assert_null(find("host.fail_closed", FINDING_OPEN));
        assert_null(find("host.fail_closed", FINDING_CLOSE));
        assert_true(host.fail_closed);
}

static void test_late_heartbeat(void **state) {
        event(1, "agent.heartbeat", T0, HEARTBEAT(900, false, 42), T0 + SEC(899));
        assert_null(find("host.late", FINDING_NOTICE));
        event(2, "agent.heartbeat", T0, HEARTBEAT(900, false, 42), T0 + SEC(900));
        assert_non_null(find("host.late", FINDING_NOTICE));
        assert_string_equal(find("host.late", FINDING_NOTICE)->severity, "medium");
        assert_int_equal(detail_int(find("host.late", FINDING_NOTICE), "delay_sec"), 900);
        assert_int_equal(detail_int(find("host.late", FINDING_NOTICE), "spool_depth"), 42);
        assert_int_equal(find("host.late", FINDING_NOTICE)->first_us, T0);
        /* Not a heartbeat: never late. */
        event(3, "usb.blocked", T0, NULL, T0 + SEC(100000));
        assert_null(find("host.late", FINDING_NOTICE));
        /* From the future: not late. */
        event(4, "agent.heartbeat", T0 + SEC(999999), HEARTBEAT(900, false, 0), T0 + SEC(100001));
        assert_null(find("host.late", FINDING_NOTICE));
        /* Off. */
        cfg.late_heartbeat_sec = 0;
        event(5, "agent.heartbeat", T0, HEARTBEAT(900, false, 0), T0 + SEC(100002));
        assert_null(find("host.late", FINDING_NOTICE));
}

/* All events of a batch share its now_us: host.late and host.tampered are
 * raised once a batch per host, by its first such event. */
static void test_once_a_batch(void **state) {
        event(1, "agent.heartbeat", T0, HEARTBEAT(900, false, 7), T0 + SEC(5000));
        assert_non_null(find("host.late", FINDING_NOTICE));
        assert_int_equal(detail_int(find("host.late", FINDING_NOTICE), "seq"), 1);
        event(2, "agent.heartbeat", T0 + SEC(60), HEARTBEAT(900, false, 7), T0 + SEC(5000));
        assert_null(find("host.late", FINDING_NOTICE));
        event(3, "agent.heartbeat", T0 + SEC(120), HEARTBEAT(900, false, 7), T0 + SEC(5001));
        assert_non_null(find("host.late", FINDING_NOTICE));

        event(2, "usb.blocked", T0, NULL, T0 + SEC(5002));
        assert_non_null(find("host.tampered", FINDING_OPEN));
        event(1, "usb.blocked", T0, NULL, T0 + SEC(5002));
        assert_null(find("host.tampered", FINDING_OPEN));
        assert_int_equal(host.max_seq, 3);
        event(2, "usb.blocked", T0, NULL, T0 + SEC(5003));
        assert_non_null(find("host.tampered", FINDING_OPEN));
        /* A store loads the host afresh for each batch: raised again. */
        host.tampered_batch_us = host.late_batch_us = 0;
        event(1, "usb.blocked", T0, NULL, T0 + SEC(5003));
        assert_non_null(find("host.tampered", FINDING_OPEN));
}

static void test_new_certificate(void **state) {
        TestEvent t;

        findings_on_event(&cfg, &host, mk(&t, 1, "agent.started", T0, NULL), false, "aa11", T0, &out);
        assert_string_equal(host.cert_fingerprint, "aa11");
        assert_int_equal(out.n, 0);
        findings_on_event(&cfg, &host, mk(&t, 2, "usb.blocked", T0, NULL), false, "AA11", T0 + 1, &out);
        assert_int_equal(out.n, 0);
        findings_on_event(&cfg, &host, mk(&t, 3, "usb.blocked", T0, NULL), false, NULL, T0 + 2, &out);
        assert_int_equal(out.n, 0);
        findings_on_event(&cfg, &host, mk(&t, 4, "usb.blocked", T0, NULL), false, "bb22", T0 + 3, &out);
        assert_non_null(find("host.new_certificate", FINDING_OPEN));
        assert_string_equal(find("host.new_certificate", FINDING_OPEN)->severity, "high");
        detail_expect(find("host.new_certificate", FINDING_OPEN), "fingerprint", "\"bb22\"");
        detail_expect(find("host.new_certificate", FINDING_OPEN), "first_fingerprint", "\"aa11\"");
        /* Once a batch; the first certificate stays the reference. */
        findings_on_event(&cfg, &host, mk(&t, 5, "usb.blocked", T0, NULL), false, "bb22", T0 + 3, &out);
        assert_null(find("host.new_certificate", FINDING_OPEN));
        assert_string_equal(host.cert_fingerprint, "aa11");
}

/* Whatever the JSON holds: no crash, and a wrong field changes nothing. */
static void test_hostile_json(void **state) {
        static const char *objects[] = {
                "\"heartbeat\":{\"interval_sec\":\"900\",\"fail_closed\":\"yes\",\"spool\":{\"depth\":-1}}",
                "\"heartbeat\":{\"interval_sec\":-900,\"fail_closed\":1,\"spool\":[]}",
                "\"heartbeat\":{\"interval_sec\":9.5,\"spool\":{\"depth\":1e400}}",
                "\"heartbeat\":{\"interval_sec\":99999999999999999999999,\"spool\":{\"depth\":\"9\"}}",
                "\"heartbeat\":{\"interval_sec\":18446744073709551615}",
                "\"heartbeat\":{\"interval_sec\":0}",
                "\"heartbeat\":[1,2,3]",
                "\"heartbeat\":null",
                "\"config\":{\"fail_closed\":null}",
                "\"config\":\"fail_closed\"",
                "\"dropped\":{\"seq_ranges\":\"2-9\"}",
                "\"dropped\":{\"seq_ranges\":[[9,2],[0,3],[-1,5],[1.5,3],[2],[2,3,4],\"x\",null,{}]}",
                "\"dropped\":[]",
                "\"spool\":{\"possibly_lost_seq\":{\"first\":\"2\",\"last\":9}}",
                "\"spool\":{\"possibly_lost_seq\":[2,9]}",
                "\"spool\":{\"possibly_lost_seq\":{\"first\":9,\"last\":2}}",
                "\"x\":" /* truncated: not JSON */,
                "\"deep\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        };
        static const char *kinds[] = { "agent.heartbeat", "agent.started", "agent.events_dropped",
                                       "agent.spool_corrupt", "agent.config_error" };
        uint64_t seq = 100;

        event(1, "agent.heartbeat", T0, HEARTBEAT(900, false, 7), T0);
        event(50, "usb.blocked", T0, NULL, T0); /* gap 2-49 */
        for (size_t k = 0; k < ELEMENTSOF(kinds); k++)
                for (size_t i = 0; i < ELEMENTSOF(objects); i++) {
                        event(seq, kinds[k], T0, objects[i], T0);
                        seq++;
                        assert_int_equal(host.heartbeat_interval_sec, 900);
                        assert_int_equal(host.spool_depth, 7);
                        assert_false(host.fail_closed);
                        assert_false(host.gaps[0].explained);
                        assert_int_equal(host.gaps[0].first, 2);
                }

        /* Not an object, empty, NULL, a length beyond the text's NUL, no kind, no strings. */
        {
                TestEvent t;
                const char *texts[] = { "[]", "", "null", "{\"heartbeat\":", "\"str\"", "123" };
                for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                        mk(&t, seq++, "agent.heartbeat", T0, NULL);
                        t.e.json = texts[i];
                        t.e.json_len = strlen(texts[i]);
                        findings_on_event(&cfg, &host, &t.e, false, "", T0, &out);
                }
                mk(&t, seq++, "agent.heartbeat", T0, NULL);
                t.e.json = NULL;
                t.e.json_len = 100;
                findings_on_event(&cfg, &host, &t.e, false, NULL, T0, &out);
                mk(&t, seq++, "agent.heartbeat", T0, NULL);
                t.e.kind = NULL;
                t.e.host_name = t.e.agent_version = t.e.policy_hash = t.e.id = t.e.machine_id = NULL;
                findings_on_event(&cfg, &host, &t.e, false, NULL, T0, &out);
                assert_string_equal(host.host_name, "pc1");
                assert_int_equal(host.heartbeat_interval_sec, 900);
        }

        /* Extreme times and seqs. */
        event(UINT64_MAX, "agent.heartbeat", INT64_MIN, HEARTBEAT(604800, false, 18446744073709551615), INT64_MAX);
        assert_int_equal(host.spool_depth, UINT64_MAX);
        assert_int_equal(host.heartbeat_interval_sec, 604800);
        timer(INT64_MAX);
        event(7, "usb.blocked", INT64_MAX, NULL, INT64_MIN);
        timer(INT64_MIN);
}

/* Long strings are cut at a character boundary, never inside one. */
static void test_long_strings(void **state) {
        char name[400] = "a";
        TestEvent t;

        /* 255 bytes fit: "a" and 84 × "あ" (3 bytes) = 253; the 85th would end at 256 */
        for (int i = 0; i < 100; i++)
                strcat(name, "あ");
        mk(&t, 1, "agent.started", T0, NULL);
        t.e.host_name = name;
        t.e.agent_version = "0.1.0-xほげほげほげほげほげほげほげほげほげほげほげほげほげほげほげほげほげほげほげほげ";
        findings_on_event(&cfg, &host, &t.e, false, NULL, T0, &out);
        assert_int_equal(strlen(host.host_name), 253);
        assert_memory_equal(host.host_name, name, 253);
        assert_true(strlen(host.agent_version) <= 63);
        assert_int_equal(strlen(host.agent_version), 61);
        name[3] = '\0'; /* a broken character: copied as it is, within bounds */
        mk(&t, 2, "agent.heartbeat", T0, NULL);
        t.e.host_name = name;
        findings_on_event(&cfg, &host, &t.e, false, NULL, T0, &out);
        assert_int_equal(strlen(host.host_name), 3);
}

/* 64 gaps of huge seqs: the detail is cut, never overflowing, and says so. */
static void test_gap_detail_bound(void **state) {
        uint64_t base = UINT64_MAX - 1000;

        event(1, "agent.started", T0, NULL, T0);
        event(base, "usb.blocked", T0, NULL, T0); /* 2 .. base-1 missing */
        for (uint64_t i = 1; i <= 100; i++)
                event(base + 3 * i, "usb.blocked", T0, NULL, T0);
        assert_int_equal(host.n_gaps, FINDINGS_MAX_GAPS);
        timer(T0 + SEC(600));
        {
                const FindingChange *f = find("host.gap", FINDING_OPEN);
                assert_non_null(f);
                assert_true(strlen(f->detail) < FINDING_DETAIL_MAX);
                assert_true(detail_int(f, "ranges_not_shown") > 0);
                struct json_object *o = detail(f), *v;
                assert_true(json_object_object_get_ex(o, "missing_seqs", &v));
                /* 101 gaps in 64 ranges: each of the 37 merges claims the one seq between its two */
                assert_int_equal(json_object_get_uint64(v), (base - 2) + 200 + 37);
                json_object_put(o);
        }
}

static void test_event_json(void **state) {
        char buf[4096];
        struct json_object *o, *v, *fi;
        int r;

        event(1, "agent.heartbeat", T0, HEARTBEAT(900, false, 0), T0);
        timer(T0 + SEC(2100));
        assert_int_equal(out.n, 1);
        r = findings_event_json(&out.changes[0], &host, "0b0e5e7e-1b0c-4c1e-9f55-2f3d5f0e9a01", T0 + SEC(2100), buf,
                                sizeof(buf));
        assert_true(r > 0);
        assert_int_equal((size_t) r, strlen(buf));
        o = json_tokener_parse(buf);
        assert_non_null(o);
#define STR(obj, key, want) \
        do { \
                assert_true(json_object_object_get_ex(obj, key, &v)); \
                assert_string_equal(json_object_get_string(v), want); \
        } while (0)
        STR(o, "id", "0b0e5e7e-1b0c-4c1e-9f55-2f3d5f0e9a01");
        STR(o, "kind", "collector.host.silent");
        STR(o, "severity", "high");
        STR(o, "time", "2027-01-15T08:35:00.000000Z");
        assert_true(json_object_object_get_ex(o, "seq", &v));
        assert_int_equal(json_object_get_int64(v), 0);
        assert_true(json_object_object_get_ex(o, "host", &v));
        fi = v;
        STR(fi, "machine_id", MID);
        STR(fi, "name", "pc1");
        assert_true(json_object_object_get_ex(o, "agent", &fi));
        STR(fi, "name", "mamori-collector");
        assert_true(json_object_object_get_ex(o, "message", &v));
        assert_true(json_object_object_get_ex(o, "finding", &fi));
        STR(fi, "kind", "host.silent");
        STR(fi, "action", "open");
        STR(fi, "first", "2027-01-15T08:00:00.000000Z");
        STR(fi, "last", "2027-01-15T08:35:00.000000Z");
        assert_true(json_object_object_get_ex(fi, "detail", &v));
        assert_true(json_object_is_type(v, json_type_object));
        assert_true(json_object_object_get_ex(v, "silent_sec", &v));
        assert_int_equal(json_object_get_int64(v), 2100);
        json_object_put(o);

        /* Too small a buffer. */
        assert_int_equal(findings_event_json(&out.changes[0], &host, "0b0e5e7e-1b0c-4c1e-9f55-2f3d5f0e9a01",
                                             T0 + SEC(2100), buf, (size_t) r),
                         -ENOBUFS);
        assert_int_equal(findings_event_json(&out.changes[0], &host, "x", T0, buf, 0), -ENOBUFS);

        /* A detail that is not an object is written as a string; a message with anything in it stays JSON. */
        {
                FindingChange f = out.changes[0];
                strcpy(f.detail, "{\"a\":1}, \"injected\": true");
                strcpy(f.message, "line\nbreak \"quoted\" \x01 \xff");
                f.action = FINDING_NOTICE;
                f.first_us = 0;
                r = findings_event_json(&f, &host, "x", T0, buf, sizeof(buf));
                assert_true(r > 0);
                o = json_tokener_parse(buf);
                assert_non_null(o);
                assert_true(json_object_object_get_ex(o, "finding", &fi));
                assert_true(json_object_object_get_ex(fi, "detail", &v));
                assert_true(json_object_is_type(v, json_type_string));
                assert_false(json_object_object_get_ex(o, "injected", &v));
                assert_true(json_object_object_get_ex(fi, "first", &v));
                assert_true(json_object_is_type(v, json_type_null));
                STR(fi, "action", "notice");
                json_object_put(o);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(test_first_event, setup),
                cmocka_unit_test_setup(test_silence_and_return, setup),
                cmocka_unit_test_setup(test_stop_without_start, setup),
                cmocka_unit_test_setup(test_stop_then_start, setup),
                cmocka_unit_test_setup(test_gap_unexplained, setup),
                cmocka_unit_test_setup(test_gap_before_sweep, setup),
                cmocka_unit_test_setup(test_gap_explained_after, setup),
                cmocka_unit_test_setup(test_gap_explained_before, setup),
                cmocka_unit_test_setup(test_gap_seq_floor, setup),
                cmocka_unit_test_setup(test_tampered, setup),
                cmocka_unit_test_setup(test_policy_drift, setup),
                cmocka_unit_test_setup(test_outdated, setup),
                cmocka_unit_test_setup(test_fail_closed, setup),
                cmocka_unit_test_setup(test_late_heartbeat, setup),
                cmocka_unit_test_setup(test_once_a_batch, setup),
                cmocka_unit_test_setup(test_new_certificate, setup),
                cmocka_unit_test_setup(test_hostile_json, setup),
                cmocka_unit_test_setup(test_long_strings, setup),
                cmocka_unit_test_setup(test_gap_detail_bound, setup),
                cmocka_unit_test_setup(test_event_json, setup),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
