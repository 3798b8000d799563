/* SPDX-License-Identifier: MIT */
/* collector/console: cdb.h on both backends (the same statement text on
 * SQLite and on a real PostgreSQL from with-postgres.sh), schema version 2,
 * and the pure helpers of console-api.h. argv[1]: "sqlite" or "postgres". */
#define TEST_STORE_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test-store.c"

#include "cdb.h"
#include "console-api.h"

static int collect_text(const CdbRow *r, void *userdata) {
        char *out = userdata;
        size_t used = strlen(out);
        snprintf(out + used, 256 - used, "%s%s|%" PRId64, used ? ";" : "", cdb_row_text(r, 0) ?: "(null)",
                 cdb_row_int(r, 1));
        return 0;
}

static void test_cdb_exec(void **state) {
        Fixture *f = *state;
        _cleanup_cdb_ Cdb *db = NULL;
        assert_int_equal(cdb_open(&f->cfg, &db), 0);
        assert_int_equal(cdb_backend(db), use_pg ? STORE_POSTGRES : STORE_SQLITE);

        CdbValue p[] = { cdb_text("hanako"), cdb_text("reviewer"), cdb_text("$y$x"), cdb_int(T0) };
        const char *ins = "INSERT INTO users (name, role, password_hash, created_at, updated_at) "
                          "VALUES (?1, ?2, ?3, ?4, ?4)";
        assert_int_equal(cdb_exec(db, ins, p, 4, NULL, NULL), 1);
        /* the same name again: the unique key answers -EEXIST */
        assert_int_equal(cdb_exec(db, ins, p, 4, NULL, NULL), -EEXIST);
        /* a quoted '?1' is text, not a parameter */
        char out[256] = "";
        CdbValue q[] = { cdb_text("hanako") };
        assert_int_equal(cdb_exec(db, "SELECT name || '?1', created_at FROM users WHERE name = ?1", q, 1, collect_text,
                                  out),
                         1);
        char want[128];
        snprintf(want, sizeof want, "hanako?1|%" PRId64, (int64_t) T0);
        assert_string_equal(out, want);

        int64_t n = -1;
        assert_int_equal(cdb_query_int(db, "SELECT COUNT(*) FROM users", NULL, 0, &n), 0);
        assert_int_equal(n, 1);
        CdbValue none[] = { cdb_text("nobody") };
        assert_int_equal(cdb_query_int(db, "SELECT created_at FROM users WHERE name = ?1", none, 1, &n), -ENOENT);

        /* a transaction rolled back leaves nothing */
        assert_int_equal(cdb_begin(db), 0);
        CdbValue p2[] = { cdb_text("jiro"), cdb_text("viewer"), cdb_text("$y$x"), cdb_int(T0) };
        assert_int_equal(cdb_exec(db, ins, p2, 4, NULL, NULL), 1);
        assert_int_equal(cdb_end(db, -EINVAL), -EINVAL);
        assert_int_equal(cdb_query_int(db, "SELECT COUNT(*) FROM users", NULL, 0, &n), 0);
        assert_int_equal(n, 1);
        /* and one committed keeps it */
        assert_int_equal(cdb_begin(db), 0);
        assert_int_equal(cdb_exec(db, ins, p2, 4, NULL, NULL), 1);
        assert_int_equal(cdb_end(db, 0), 0);
        assert_int_equal(cdb_query_int(db, "SELECT COUNT(*) FROM users", NULL, 0, &n), 0);
        assert_int_equal(n, 2);

        /* a statement that is wrong is an error, not a crash */
        assert_true(cdb_exec(db, "SELECT nothing FROM nowhere", NULL, 0, NULL, NULL) < 0);
}

/* events.department comes from the envelope's site.department. */
static void test_department_column(void **state) {
        Fixture *f = *state;
        _cleanup_store_ Store *s = NULL;
        assert_int_equal(store_open(&f->cfg, &f->fc, &s), 0);
        TestEvent t[2];
        make_event(&t[0], HOST_A, 1, "high", ",\"site\":{\"department\":\"総務課\",\"location\":null}");
        make_event(&t[1], HOST_A, 2, "high", NULL);
        StoreEvent ev[2] = { t[0].ev, t[1].ev };
        StoreBatch b = batch_of(ev, 2, T0);
        StoreIngestResult res;
        assert_int_equal(store_ingest(s, &b, &res), 0);
        assert_int_equal(res.stored, 2);

        _cleanup_cdb_ Cdb *db = NULL;
        assert_int_equal(cdb_open(&f->cfg, &db), 0);
        char out[256] = "";
        assert_int_equal(cdb_exec(db, "SELECT department, seq FROM events WHERE machine_id = ?1 ORDER BY seq",
                                  (CdbValue[]){ cdb_text(HOST_A) }, 1, collect_text, out),
                         2);
        assert_string_equal(out, "総務課|1;(null)|2");
}

static void test_console_arg(void **state) {
        (void) state;
        ConsoleRequest rq = { .path = "/events/ab%2012/triage",
                              .query = "kind=usb.blocked&q=%E7%B7%8F+x&bad=%ZZ&"
                                       "ctl=%01&empty=&flag" };
        char buf[64];
        bool invalid = false;
        assert_string_equal(console_arg(&rq, "kind", buf, sizeof buf, &invalid), "usb.blocked");
        assert_null(console_arg(&rq, "kin", buf, sizeof buf, &invalid));
        assert_false(invalid);
        /* %E7%B7%8F alone is one code point: 総 is E7 B7 8F */
        assert_string_equal(console_arg(&rq, "q", buf, sizeof buf, &invalid), "\xe7\xb7\x8f x");
        assert_string_equal(console_arg(&rq, "empty", buf, sizeof buf, &invalid), "");
        assert_string_equal(console_arg(&rq, "flag", buf, sizeof buf, &invalid), "");
        assert_false(invalid);
        assert_null(console_arg(&rq, "bad", buf, sizeof buf, &invalid));
        assert_true(invalid);
        invalid = false;
        assert_null(console_arg(&rq, "ctl", buf, sizeof buf, &invalid));
        assert_true(invalid);
        invalid = false;
        assert_null(console_arg(&rq, "q", buf, 4, &invalid)); /* does not fit */
        assert_true(invalid);

        assert_string_equal(console_path_segment(&rq, 0, buf, sizeof buf), "events");
        assert_string_equal(console_path_segment(&rq, 1, buf, sizeof buf), "ab 12");
        assert_string_equal(console_path_segment(&rq, 2, buf, sizeof buf), "triage");
        assert_null(console_path_segment(&rq, 3, buf, sizeof buf));
        ConsoleRequest bad = { .path = "/events/%C0%80" }; /* overlong: not UTF-8 */
        assert_null(console_path_segment(&bad, 1, buf, sizeof buf));

        assert_true(console_route_match("/events/*/triage", "/events/ab12/triage"));
        assert_false(console_route_match("/events/*/triage", "/events//triage"));
        assert_false(console_route_match("/events/*", "/events/a/b"));
        assert_false(console_route_match("/events", "/events/"));
        assert_true(console_route_match("/events", "/events"));

        assert_int_equal(console_role_from_string("reviewer"), CONSOLE_ROLE_REVIEWER);
        assert_int_equal(console_role_from_string("none"), CONSOLE_ROLE_NONE);
        assert_int_equal(console_role_from_string(NULL), CONSOLE_ROLE_NONE);
}

static void test_console_time(void **state) {
        (void) state;
        int64_t t;
        assert_int_equal(console_parse_time("2025-12-01T00:00:00Z", NULL, &t), 0);
        assert_int_equal(t, T0);
        assert_int_equal(console_parse_time("2025-12-01T00:00:00.5Z", NULL, &t), 0);
        assert_int_equal(t, T0 + 500000);
        json_object *o = console_json_time(T0 + 123456);
        assert_string_equal(json_object_get_string(o), "2025-12-01T00:00:00.123456Z");
        json_object_put(o);
        assert_null(console_json_time(0));
        /* a date is midnight in the process's zone (collectord sets TZ) */
        setenv("TZ", ":Asia/Tokyo", 1);
        tzset();
        assert_int_equal(console_parse_time("2025-12-01", NULL, &t), 0);
        assert_int_equal(t, T0 - 9LL * 3600 * 1000000);
        assert_int_not_equal(console_parse_time("2025-13-01", NULL, &t), 0);
        assert_int_not_equal(console_parse_time("2025-12-01T00:00:00+09:00", NULL, &t), 0);
        assert_int_not_equal(console_parse_time("2025-12-01T00:00:00.Z", NULL, &t), 0);
        assert_int_not_equal(console_parse_time("", NULL, &t), 0);

        ConsoleReply rp = { 0 };
        assert_int_equal(console_reply_error(&rp, 400, "bad_filter", "kind: <b>"), 0);
        assert_int_equal(rp.status, 400);
        assert_string_equal(rp.body, "{\"error\":{\"code\":\"bad_filter\",\"message\":\"kind: <b>\"}}");
        console_reply_done(&rp);
        assert_int_equal(console_reply_csv(&rp, "a b/../x.csv", strdup("x"), 1), 0);
        assert_string_equal(rp.filename, "a_b_.._x.csv");
        console_reply_done(&rp);
}

int main(int argc, char **argv) {
        const char *backend = argc > 1 ? argv[1] : "sqlite";
        use_pg = strcmp(backend, "postgres") == 0;
        if (use_pg && !getenv("MAMORI_TEST_PG_CONNINFO")) {
                fprintf(stderr, "MAMORI_TEST_PG_CONNINFO is not set: run through tests/unit/with-postgres.sh\n");
                return 1;
        }
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_cdb_exec, setup, teardown),
                cmocka_unit_test_setup_teardown(test_department_column, setup, teardown),
                cmocka_unit_test(test_console_arg),
                cmocka_unit_test(test_console_time),
        };
        return cmocka_run_group_tests_name(use_pg ? "console-db-postgres" : "console-db-sqlite", tests, NULL, NULL);
}
