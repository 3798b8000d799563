/* SPDX-License-Identifier: MIT */
/* The store with the real findings rules (collector/findings.c) on both
 * backends: what the findings conclude reaches the findings table and the
 * feed (collector.* events) through store_ingest() and store_sweep(), with
 * a clock the test controls. test-store.c's fixture; its own cases (which
 * rely on findings-stub.c) are not run here. argv[1]: sqlite or postgres. */
#define TEST_STORE_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test-store.c"

#define SEC(s) ((int64_t) (s) *1000000)

static TestEvent *feed_event(TestEvent *t, uint64_t seq, const char *kind, const char *object) {
        snprintf(t->id, sizeof t->id, "00000000-0000-4000-9000-%012" PRIu64, seq);
        snprintf(t->json, sizeof t->json,
                 "{\"id\":\"%s\",\"seq\":%" PRIu64 ",\"time\":\"x\",\"kind\":\"%s\",\"severity\":\"info\","
                 "\"host\":{\"name\":\"pc1\",\"machine_id\":\"" HOST_A "\"},"
                 "\"agent\":{\"name\":\"mamori\",\"version\":\"0.1.0\"}%s%s}",
                 t->id, seq, kind, object ? "," : "", object ?: "");
        t->ev = (StoreEvent){
                .id = t->id,
                .machine_id = HOST_A,
                .seq = seq,
                .time_us = T0,
                .kind = kind,
                .severity = "info",
                .host_name = "pc1",
                .agent_version = "0.1.0",
                .json = t->json,
                .json_len = strlen(t->json),
        };
        sha256(t->json, t->ev.json_len, t->ev.content_hash);
        return t;
}

static void ingest_at(Store *s, TestEvent *t, int64_t now) {
        StoreBatch b = batch_of(&t->ev, 1, now);
        StoreIngestResult res = {};
        assert_int_equal(store_ingest(s, &b, &res), 0);
        assert_int_equal(res.stored, 1);
}

static bool has_finding(Store *s, bool open_only, const char *kind, const char *state) {
        Findings fl = {};
        assert_int_equal(store_findings(s, open_only, collect_finding, &fl), 0);
        for (size_t i = 0; i < fl.n; i++)
                if (strcmp(fl.kind[i], kind) == 0 && (!state || strcmp(fl.state[i], state) == 0))
                        return true;
        return false;
}

/* agent.stopping and no start within stopped_after_sec: host.stopped, found
 * by the sweep through hosts.due_at; agent.started closes it. */
static void test_stopped(void **state) {
        Fixture *f = *state;
        Store *s = open_store(f);
        TestEvent t[3];
        ingest_at(s,
                  feed_event(&t[0], 1, "agent.heartbeat",
                             "\"heartbeat\":{\"interval_sec\":900,\"fail_closed\":false,\"spool\":{\"depth\":0}}"),
                  T0);
        ingest_at(s, feed_event(&t[1], 2, "agent.stopping", "\"signal\":\"SIGTERM\""), T0 + SEC(10));

        size_t changed = 99;
        assert_int_equal(store_sweep(s, T0 + SEC(10 + 3600) - 1, &changed), 0);
        assert_int_equal(changed, 0);
        assert_int_equal(store_sweep(s, T0 + SEC(10 + 3600), &changed), 0);
        assert_int_equal(changed, 1);
        assert_true(has_finding(s, true, "host.stopped", "open"));
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE kind = 'collector.host.stopped' AND seq = 0"),
                         1);
        /* Said once. */
        assert_int_equal(store_sweep(s, T0 + SEC(100000), &changed), 0);
        assert_int_equal(changed, 0);

        ingest_at(s, feed_event(&t[2], 3, "agent.started", "\"config\":{\"fail_closed\":false}"), T0 + SEC(200000));
        assert_false(has_finding(s, true, "host.stopped", NULL));
        assert_true(has_finding(s, false, "host.stopped", "closed"));
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE kind = 'collector.host.stopped'"), 2);
        store_free(s);
}

/* Silent past 2 × its heartbeat interval + the margin: host.silent; it
 * speaks again: closed, with a host.returned notice. */
static void test_silent(void **state) {
        Fixture *f = *state;
        Store *s = open_store(f);
        TestEvent t[2];
        ingest_at(s,
                  feed_event(&t[0], 1, "agent.heartbeat",
                             "\"heartbeat\":{\"interval_sec\":60,\"fail_closed\":false,\"spool\":{\"depth\":0}}"),
                  T0);
        Hosts hl = {};
        assert_int_equal(store_hosts(s, collect_host, &hl), 0);
        assert_int_equal(hl.n, 1);
        assert_int_equal(hl.h[0].heartbeat_interval_sec, 60);
        assert_int_equal(hl.h[0].due_us, T0 + SEC(120 + 300));

        size_t changed = 0;
        assert_int_equal(store_sweep(s, T0 + SEC(120 + 300), &changed), 0);
        assert_true(changed >= 1);
        assert_true(has_finding(s, true, "host.silent", "open"));

        ingest_at(s,
                  feed_event(&t[1], 2, "agent.heartbeat",
                             "\"heartbeat\":{\"interval_sec\":60,\"fail_closed\":false,\"spool\":{\"depth\":0}}"),
                  T0 + SEC(5000));
        assert_false(has_finding(s, true, "host.silent", NULL));
        assert_true(has_finding(s, false, "host.returned", "closed"));
        Lines l = {};
        assert_int_equal(store_export(s, NULL, 0, 64, collect_line, &l), 0);
        bool returned = false;
        for (size_t i = 0; i < l.n; i++)
                returned |= strstr(l.json[i], "collector.host.returned") != NULL;
        assert_true(returned);
        store_free(s);
}

/* Per batch, not per event: a spool of late heartbeats in one batch is one
 * host.late, ids reused three times in one batch one host.tampered update;
 * and a CLOSE of a finding that is not open (every heartbeat that says
 * "not fail-closed") writes nothing. */
static size_t ingest_many(Store *s, TestEvent *t, size_t n, int64_t now) {
        StoreEvent ev[8];
        assert_true(n <= 8);
        for (size_t i = 0; i < n; i++)
                ev[i] = t[i].ev;
        StoreBatch b = batch_of(ev, n, now);
        StoreIngestResult res = {};
        assert_int_equal(store_ingest(s, &b, &res), 0);
        return res.findings;
}

#define HB(fail_closed) "\"heartbeat\":{\"interval_sec\":900,\"fail_closed\":" #fail_closed ",\"spool\":{\"depth\":3}}"

static void test_once_a_batch(void **state) {
        Fixture *f = *state;
        Store *s = open_store(f);
        TestEvent t[8];

        feed_event(&t[0], 1, "agent.heartbeat", HB(false));
        assert_int_equal(ingest_many(s, t, 1, T0), 0);
        feed_event(&t[0], 2, "agent.heartbeat", HB(false));
        assert_int_equal(ingest_many(s, t, 1, T0 + SEC(10)), 0);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM findings"), 0);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE kind LIKE 'collector.%'"), 0);

        /* Three heartbeats of T0 arriving 5000 s late, in one batch. */
        for (unsigned i = 0; i < 3; i++)
                feed_event(&t[i], 3 + i, "agent.heartbeat", HB(false));
        assert_int_equal(ingest_many(s, t, 3, T0 + SEC(5000)), 1);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM findings WHERE kind = 'host.late'"), 1);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE kind = 'collector.host.late'"), 1);

        /* Ids 1-3 again with other content: three conflicts, one update. */
        for (unsigned i = 0; i < 3; i++)
                feed_event(&t[i], 1 + i, "usb.allowed", NULL);
        assert_int_equal(ingest_many(s, t, 3, T0 + SEC(5001)), 1);
        Findings fl = {};
        assert_int_equal(store_findings(s, true, collect_finding, &fl), 0);
        assert_int_equal(fl.n, 1);
        assert_string_equal(fl.kind[0], "host.tampered");
        assert_int_equal(fl.count[0], 1);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE kind = 'collector.host.tampered'"), 1);

        /* Fail-closed, then not: an open finding is closed (and told).
         * Heartbeats on time now (no host.late). */
        feed_event(&t[0], 6, "agent.heartbeat", HB(true))->ev.time_us = T0 + SEC(5002);
        assert_int_equal(ingest_many(s, t, 1, T0 + SEC(5002)), 1);
        feed_event(&t[0], 7, "agent.heartbeat", HB(false))->ev.time_us = T0 + SEC(5003);
        assert_int_equal(ingest_many(s, t, 1, T0 + SEC(5003)), 1);
        feed_event(&t[0], 8, "agent.heartbeat", HB(false))->ev.time_us = T0 + SEC(5004);
        assert_int_equal(ingest_many(s, t, 1, T0 + SEC(5004)), 0);
        assert_true(has_finding(s, false, "host.fail_closed", "closed"));
        assert_false(has_finding(s, true, "host.fail_closed", NULL));
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE kind = 'collector.host.fail_closed'"), 2);
        store_free(s);
}

/* The gaps of a host are saved with it: opened, split, filled (the rows
 * deleted again), across batches. */
static void test_gaps_saved(void **state) {
        Fixture *f = *state;
        Store *s = open_store(f);
        TestEvent t[8];
        feed_event(&t[0], 1, "usb.blocked", NULL);
        feed_event(&t[1], 6, "usb.blocked", NULL);
        ingest_many(s, t, 2, T0);
        Hosts hl = {};
        assert_int_equal(store_hosts(s, collect_host, &hl), 0);
        assert_int_equal(hl.n, 1);
        assert_int_equal(hl.h[0].n_gaps, 1);
        assert_int_equal(hl.h[0].gaps[0].first, 2);
        assert_int_equal(hl.h[0].gaps[0].last, 5);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM gaps"), 1);

        feed_event(&t[0], 3, "usb.blocked", NULL);
        ingest_many(s, t, 1, T0 + SEC(1));
        hl = (Hosts){};
        assert_int_equal(store_hosts(s, collect_host, &hl), 0);
        assert_int_equal(hl.h[0].n_gaps, 2);
        assert_int_equal(hl.h[0].gaps[0].first, 2);
        assert_int_equal(hl.h[0].gaps[0].last, 2);
        assert_int_equal(hl.h[0].gaps[1].first, 4);
        assert_int_equal(hl.h[0].gaps[1].last, 5);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM gaps"), 2);

        feed_event(&t[0], 2, "usb.blocked", NULL);
        feed_event(&t[1], 4, "usb.blocked", NULL);
        feed_event(&t[2], 5, "usb.blocked", NULL);
        ingest_many(s, t, 3, T0 + SEC(2));
        hl = (Hosts){};
        assert_int_equal(store_hosts(s, collect_host, &hl), 0);
        assert_int_equal(hl.h[0].n_gaps, 0);
        assert_int_equal(hl.h[0].max_seq, 6);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM gaps"), 0);
        store_free(s);
}

int main(int argc, char **argv) {
        use_pg = argc > 1 && strcmp(argv[1], "postgres") == 0;
        if (use_pg && !getenv("MAMORI_TEST_PG_CONNINFO")) {
                fprintf(stderr, "MAMORI_TEST_PG_CONNINFO is not set: run through tests/unit/with-postgres.sh\n");
                return 1;
        }
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_stopped, setup, teardown),
                cmocka_unit_test_setup_teardown(test_silent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_once_a_batch, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gaps_saved, setup, teardown),
        };
        return cmocka_run_group_tests_name(use_pg ? "store-findings-postgres" : "store-findings-sqlite", tests, NULL,
                                           NULL);
}
