/* SPDX-License-Identifier: MIT */
/* collector/store.h on both backends (issue 12 items 4, 8, 9): the same
 * cases against SQLite and against a real PostgreSQL that
 * tests/unit/with-postgres.sh started. argv[1]: "sqlite" or "postgres". */
#include "unit.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "macro.h"
#include "sha256.h"
#include "store-schema.h"
#include "store.h"

#define DAY_US (86400LL * 1000000LL)
#define T0 (1764547200LL * 1000000LL) /* 2025-12-01 00:00:00 UTC */
#define HOST_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HOST_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static bool use_pg;
static unsigned db_counter;

typedef struct Fixture {
        StoreConfig cfg;
        FindingsConfig fc;
        char dir[64];
        char path[128];
        char conninfo[1024];
        char dbname[64];
} Fixture;

/* Test events: their JSON lines and ids live here. */
typedef struct TestEvent {
        char id[37];
        char json[512];
        StoreEvent ev;
} TestEvent;

static void make_event(TestEvent *t, const char *machine_id, uint64_t seq, const char *severity, const char *extra) {
        snprintf(t->id, sizeof t->id, "%08x-0000-4000-8000-%012" PRIx64,
                 (unsigned) (machine_id[0] == 'a' ? 0xaaaa : 0xbbbb), seq);
        snprintf(t->json, sizeof t->json,
                 "{\"id\":\"%s\",\"seq\":%" PRIu64 ",\"kind\":\"usb.blocked\",\"severity\":\"%s\","
                 "\"host\":{\"machine_id\":\"%s\"}%s}",
                 t->id, seq, severity, machine_id, extra ?: "");
        t->ev = (StoreEvent){
                .id = t->id,
                .machine_id = machine_id,
                .seq = seq,
                .time_us = T0 + (int64_t) seq,
                .kind = "usb.blocked",
                .severity = severity,
                .host_name = machine_id[0] == 'a' ? "pc-a" : "pc-b",
                .agent_version = "0.1.0",
                .user_name = "taro",
                .device_vendor = "0781",
                .json = t->json,
                .json_len = strlen(t->json),
        };
        sha256(t->json, t->ev.json_len, t->ev.content_hash);
}

static StoreBatch batch_of(const StoreEvent *ev, size_t n, int64_t received_us) {
        return (StoreBatch){ .received_us = received_us, .peer = "192.0.2.1:4000", .events = ev, .n_events = n };
}

/* ---- direct access to the database, for what store.h does not show ---- */

static int64_t count_rows(Fixture *f, const char *sql) {
        int64_t n = -1;
        if (use_pg) {
                PGconn *c = PQconnectdb(f->conninfo);
                assert_int_equal(PQstatus(c), CONNECTION_OK);
                PGresult *r = PQexec(c, sql);
                assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
                n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
                PQclear(r);
                PQfinish(c);
        } else {
                sqlite3 *db;
                assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
                sqlite3_stmt *st;
                assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
                assert_int_equal(sqlite3_step(st), SQLITE_ROW);
                n = sqlite3_column_int64(st, 0);
                sqlite3_finalize(st);
                sqlite3_close(db);
        }
        return n;
}

static void exec_sql(Fixture *f, const char *sql) {
        if (use_pg) {
                PGconn *c = PQconnectdb(f->conninfo);
                assert_int_equal(PQstatus(c), CONNECTION_OK);
                PGresult *r = PQexec(c, sql);
                assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
                PQclear(r);
                PQfinish(c);
        } else {
                sqlite3 *db;
                assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
                assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
                sqlite3_close(db);
        }
}

static void pg_admin(const char *sql) {
        PGconn *c = PQconnectdb(getenv("MAMORI_TEST_PG_CONNINFO"));
        assert_int_equal(PQstatus(c), CONNECTION_OK);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
                fail_msg("%s: %s", sql, PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);
        assert_non_null(f);
        f->fc = (FindingsConfig){
                .silent_margin_sec = 300, .stopped_after_sec = 3600, .gap_grace_sec = 600, .late_heartbeat_sec = 900
        };
        if (use_pg) {
                snprintf(f->dbname, sizeof f->dbname, "store_test_%u_%u", (unsigned) getpid(), ++db_counter);
                char sql[128];
                snprintf(sql, sizeof sql, "CREATE DATABASE %s", f->dbname);
                pg_admin(sql);
                snprintf(f->conninfo, sizeof f->conninfo, "%s dbname=%s", getenv("MAMORI_TEST_PG_CONNINFO"), f->dbname);
                f->cfg = (StoreConfig){ .backend = STORE_POSTGRES, .pg_conninfo = f->conninfo, .busy_timeout_ms = 300 };
        } else {
                snprintf(f->dir, sizeof f->dir, "/tmp/test-store.XXXXXX");
                assert_non_null(mkdtemp(f->dir));
                snprintf(f->path, sizeof f->path, "%s/collector.db", f->dir);
                f->cfg = (StoreConfig){ .backend = STORE_SQLITE, .sqlite_path = f->path, .busy_timeout_ms = 300 };
        }
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        if (use_pg) {
                char sql[128];
                snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->dbname);
                pg_admin(sql);
        } else {
                char cmd[160];
                snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
                assert_int_equal(system(cmd), 0);
        }
        free(f);
        return 0;
}

static Store *open_store(Fixture *f) {
        Store *s = NULL;
        assert_int_equal(store_open(&f->cfg, &f->fc, &s), 0);
        assert_non_null(s);
        return s;
}

/* ---- collecting what the store gives back ---- */

typedef struct Lines {
        char json[64][8192];
        char cursor[64][24];
        size_t n;
} Lines;

static int collect_line(const char *json, size_t len, const char *cursor, void *userdata) {
        Lines *l = userdata;
        assert_true(l->n < 64);
        assert_true(len < sizeof l->json[0]);
        memcpy(l->json[l->n], json, len);
        l->json[l->n][len] = 0;
        snprintf(l->cursor[l->n], sizeof l->cursor[0], "%s", cursor);
        l->n++;
        return 0;
}

typedef struct Hosts {
        HostState h[8];
        size_t n;
} Hosts;

static int collect_host(const HostState *h, void *userdata) {
        Hosts *l = userdata;
        assert_true(l->n < 8);
        l->h[l->n++] = *h;
        return 0;
}

typedef struct Findings {
        char machine_id[16][33], kind[16][64], state[16][16];
        uint64_t count[16];
        int64_t closed[16];
        size_t n;
} Findings;

static int collect_finding(const FindingRow *r, void *userdata) {
        Findings *l = userdata;
        assert_true(l->n < 16);
        snprintf(l->machine_id[l->n], 33, "%s", r->machine_id);
        snprintf(l->kind[l->n], 64, "%s", r->kind);
        snprintf(l->state[l->n], 16, "%s", r->state);
        l->count[l->n] = r->count;
        l->closed[l->n] = r->closed_us;
        l->n++;
        return 0;
}

static const HostState *find_host(const Hosts *l, const char *machine_id) {
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->h[i].machine_id, machine_id) == 0)
                        return &l->h[i];
        return NULL;
}

/* ---- the cases ---- */

static void test_ingest(void **state) {
        Fixture *f = *state;
        Store *s = open_store(f);
        TestEvent t[3];
        make_event(&t[0], HOST_B, 1, "info", NULL);
        make_event(&t[1], HOST_A, 2, "high", NULL);
        make_event(&t[2], HOST_A, 1, "info", NULL);
        StoreEvent ev[3] = { t[0].ev, t[1].ev, t[2].ev };
        StoreRejected rej = { .line_no = 4, .reason = "not JSON", .raw = "{oops", .raw_len = 5, .line_len = 5 };
        StoreBatch b = batch_of(ev, 3, T0);
        b.rejected = &rej;
        b.n_rejected = 1;
        StoreIngestResult res = {};
        assert_int_equal(store_ingest(s, &b, &res), 0);
        assert_int_equal(res.stored, 3);
        assert_int_equal(res.duplicates, 0);
        assert_int_equal(res.conflicts, 0);

        assert_int_equal(count_rows(f, "SELECT count(*) FROM events"), 3);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM rejected WHERE reason = 'not JSON' AND line_no = 4 "
                                       "AND line_len = 5"),
                         1);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE machine_id = '" HOST_A "' AND seq = 2 "
                                       "AND severity = 'high' AND user_name = 'taro' AND device_vendor = '0781'"),
                         1);

        /* Stored as received, per host in seq order. */
        Lines l = {};
        assert_int_equal(store_export(s, NULL, 0, 100, collect_line, &l), 0);
        assert_int_equal(l.n, 3);
        assert_string_equal(l.json[0], t[2].json);
        assert_string_equal(l.json[1], t[1].json);
        assert_string_equal(l.json[2], t[0].json);

        Hosts hl = {};
        assert_int_equal(store_hosts(s, collect_host, &hl), 0);
        assert_int_equal(hl.n, 2);
        assert_int_equal(find_host(&hl, HOST_A)->events, 2);
        assert_int_equal(find_host(&hl, HOST_A)->max_seq, 2);
        assert_int_equal(find_host(&hl, HOST_B)->events, 1);
        assert_int_equal(find_host(&hl, HOST_B)->first_seen_us, T0);
        store_free(s);

        /* Reopening finds the schema in place (no second migration). */
        s = open_store(f);
        char want[96];
        snprintf(want, sizeof want, "SELECT count(*) FROM meta WHERE key = 'schema_version' AND value = '%d'",
                 STORE_SCHEMA_VERSION);
        assert_int_equal(count_rows(f, want), 1);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events"), 3);
        store_free(s);

        /* A schema newer than this collector's: refused, not written to. */
        exec_sql(f, "UPDATE meta SET value = '99' WHERE key = 'schema_version'");
        Store *newer = NULL;
        assert_int_equal(store_open(&f->cfg, &f->fc, &newer), -EPROTONOSUPPORT);
        assert_null(newer);
}

static void test_duplicates(void **state) {
        Fixture *f = *state;
        Store *s = open_store(f);
        TestEvent t[2];
        make_event(&t[0], HOST_A, 1, "info", NULL);
        make_event(&t[1], HOST_A, 2, "info", NULL);
        /* The same event twice in one batch, then the whole batch again. */
        StoreEvent ev[3] = { t[0].ev, t[1].ev, t[1].ev };
        StoreBatch b = batch_of(ev, 3, T0);
        StoreIngestResult res = {};
        assert_int_equal(store_ingest(s, &b, &res), 0);
        assert_int_equal(res.stored, 2);
        assert_int_equal(res.duplicates, 1);
        b.received_us = T0 + 1000;
        assert_int_equal(store_ingest(s, &b, &res), 0);
        assert_int_equal(res.stored, 0);
        assert_int_equal(res.duplicates, 3);
        assert_int_equal(res.conflicts, 0);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events"), 2);
        Findings fl = {};
        assert_int_equal(store_findings(s, false, collect_finding, &fl), 0);
        assert_int_equal(fl.n, 0);
        store_free(s);
}

static void test_conflict(void **state) {
        Fixture *f = *state;
        Store *s = open_store(f);
        TestEvent t, forged, forged2;
        make_event(&t, HOST_A, 1, "info", NULL);
        make_event(&forged, HOST_A, 1, "info", ",\"x\":1");
        make_event(&forged2, HOST_A, 1, "info", ",\"x\":2");
        StoreIngestResult res = {};
        StoreBatch b = batch_of(&t.ev, 1, T0);
        assert_int_equal(store_ingest(s, &b, &res), 0);
        assert_int_equal(res.stored, 1);

        b = batch_of(&forged.ev, 1, T0 + 10);
        assert_int_equal(store_ingest(s, &b, &res), 0);
        assert_int_equal(res.stored, 0);
        assert_int_equal(res.conflicts, 1);
        assert_true(res.findings >= 1);
        b = batch_of(&forged2.ev, 1, T0 + 20);
        assert_int_equal(store_ingest(s, &b, &res), 0);
        assert_int_equal(res.conflicts, 1);

        /* The first content stays; one open host.tampered (updated, not doubled). */
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE seq = 1 AND json NOT LIKE '%\"x\"%'"), 1);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE seq = 1"), 1);
        Findings fl = {};
        assert_int_equal(store_findings(s, true, collect_finding, &fl), 0);
        assert_int_equal(fl.n, 1);
        assert_string_equal(fl.kind[0], "host.tampered");
        assert_string_equal(fl.machine_id[0], HOST_A);
        assert_int_equal(fl.count[0], 2);
        assert_string_equal(fl.state[0], "open");

        /* Each change is also a collector.* event of the feed. */
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE kind = 'collector.host.tampered' AND seq = 0 "
                                       "AND machine_id = '" HOST_A "'"),
                         2);
        Lines l = {};
        assert_int_equal(store_export(s, NULL, 0, 100, collect_line, &l), 0);
        assert_int_equal(l.n, 3);
        assert_non_null(strstr(l.json[1], "collector.host.tampered"));
        store_free(s);
}

/* A batch of rejected lines only is stored too (the lines are kept). */
static void test_rejected_only(void **state) {
        Fixture *f = *state;
        Store *s = open_store(f);
        char raw[4096];
        memset(raw, 'x', sizeof raw);
        StoreRejected rej[2] = {
                { .line_no = 1, .reason = "line longer than 65536 bytes", .raw = raw, .raw_len = sizeof raw, .line_len = 70000 },
                { .line_no = 2, .reason = "seq missing", .machine_id = HOST_A, .raw = "{}", .raw_len = 2, .line_len = 2 },
        };
        StoreBatch b = { .received_us = T0, .peer = "[2001:db8::1]:443", .rejected = rej, .n_rejected = 2 };
        StoreIngestResult res = {};
        assert_int_equal(store_ingest(s, &b, &res), 0);
        assert_int_equal(res.stored, 0);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM rejected"), 2);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM rejected WHERE line_len = 70000 AND length(raw) = 4096"), 1);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM rejected WHERE machine_id = '" HOST_A "'"), 1);
        store_free(s);
}

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Another writer holds the lock: -EBUSY once busy_timeout_ms has passed
 * (the HTTP layer answers 503), nothing half-stored, and it works again
 * once the lock is gone. */
static void test_busy(void **state) {
        Fixture *f = *state;
        Store *s = open_store(f);
        TestEvent t;
        make_event(&t, HOST_A, 1, "info", NULL);
        StoreBatch b = batch_of(&t.ev, 1, T0);
        StoreIngestResult res = {};

        sqlite3 *db = NULL;
        PGconn *c = NULL;
        if (use_pg) {
                c = PQconnectdb(f->conninfo);
                assert_int_equal(PQstatus(c), CONNECTION_OK);
                PGresult *r = PQexec(c, "BEGIN; LOCK TABLE hosts IN EXCLUSIVE MODE");
                assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
                PQclear(r);
        } else {
                assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
                assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
        }
        int64_t start = now_ms();
        assert_int_equal(store_ingest(s, &b, &res), -EBUSY);
        int64_t took = now_ms() - start;
        assert_true(took >= 250);  /* it did wait for busy_timeout_ms (300) */
        assert_true(took < 10000); /* and not without bound */

        if (use_pg) {
                PQclear(PQexec(c, "ROLLBACK"));
                PQfinish(c);
        } else {
                assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
                sqlite3_close(db);
        }
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events"), 0);
        assert_int_equal(store_ingest(s, &b, &res), 0);
        assert_int_equal(res.stored, 1);
        store_free(s);
}

static void pg_ctl(const char *verb) {
        const char *ctl = getenv("MAMORI_TEST_PG_CTL");
        assert_non_null(ctl);
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "%s %s >/dev/null", ctl, verb);
        assert_int_equal(system(cmd), 0);
}

/* PostgreSQL: the server stopped → -ENOTCONN/-ECONNREFUSED (503), and the
 * same Store reconnects once it is back. */
static void test_server_down(void **state) {
        Fixture *f = *state;
        if (!use_pg)
                return; /* SQLite has no server: test_busy is its 503 case */
        Store *s = open_store(f);
        TestEvent t[2];
        make_event(&t[0], HOST_A, 1, "info", NULL);
        make_event(&t[1], HOST_A, 2, "info", NULL);
        StoreIngestResult res = {};
        StoreBatch b = batch_of(&t[0].ev, 1, T0);
        assert_int_equal(store_ingest(s, &b, &res), 0);

        pg_ctl("stop");
        b = batch_of(&t[1].ev, 1, T0 + 1);
        int r = store_ingest(s, &b, &res);
        assert_true(r == -ENOTCONN || r == -ECONNREFUSED);
        r = store_ingest(s, &b, &res);
        assert_true(r == -ENOTCONN || r == -ECONNREFUSED);
        Lines l = {};
        r = store_export(s, NULL, 0, 10, collect_line, &l);
        assert_true(r == -ENOTCONN || r == -ECONNREFUSED);

        pg_ctl("start");
        assert_int_equal(store_ingest(s, &b, &res), 0);
        assert_int_equal(res.stored, 1);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events"), 2);
        store_free(s);
}

static void test_export_cursor(void **state) {
        Fixture *f = *state;
        Store *s = open_store(f);
        TestEvent t[5];
        StoreIngestResult res = {};
        for (unsigned i = 0; i < 5; i++) {
                make_event(&t[i], HOST_A, i + 1, "info", NULL);
                StoreBatch b = batch_of(&t[i].ev, 1, T0 + (int64_t) i * 1000000);
                assert_int_equal(store_ingest(s, &b, &res), 0);
        }
        Lines l = {};
        assert_int_equal(store_export(s, "", 0, 2, collect_line, &l), 0);
        assert_int_equal(l.n, 2);
        assert_string_equal(l.json[0], t[0].json);
        assert_string_equal(l.json[1], t[1].json);
        char cursor[24];
        snprintf(cursor, sizeof cursor, "%s", l.cursor[1]);

        /* Resuming after the cursor gives the rest, in arrival order. */
        Lines rest = {};
        assert_int_equal(store_export(s, cursor, 0, 100, collect_line, &rest), 0);
        assert_int_equal(rest.n, 3);
        assert_string_equal(rest.json[0], t[2].json);
        assert_string_equal(rest.json[2], t[4].json);
        Lines none = {};
        assert_int_equal(store_export(s, rest.cursor[2], 0, 100, collect_line, &none), 0);
        assert_int_equal(none.n, 0);

        /* since_us: only what arrived from then on. */
        Lines since = {};
        assert_int_equal(store_export(s, NULL, T0 + 3000000, 100, collect_line, &since), 0);
        assert_int_equal(since.n, 2);
        assert_string_equal(since.json[0], t[3].json);

        Lines bad = {};
        assert_int_equal(store_export(s, "12x", 0, 100, collect_line, &bad), -EINVAL);
        assert_int_equal(store_export(s, "-1", 0, 100, collect_line, &bad), -EINVAL);
        store_free(s);
}

static void test_retention(void **state) {
        Fixture *f = *state;
        Store *s = open_store(f);
        const int64_t now = T0 + 800 * DAY_US;
        struct {
                const char *sev;
                int64_t age_days;
        } rows[] = {
                { "info", 400 }, { "info", 10 }, { "critical", 400 }, { "critical", 10 }, { "medium", 700 },
        };
        TestEvent t[ELEMENTSOF(rows)];
        StoreIngestResult res = {};
        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                make_event(&t[i], HOST_A, i + 1, rows[i].sev, NULL);
                StoreBatch b = batch_of(&t[i].ev, 1, now - rows[i].age_days * DAY_US);
                assert_int_equal(store_ingest(s, &b, &res), 0);
        }
        StoreRejected rej = { .line_no = 1, .reason = "not JSON", .raw = "x", .raw_len = 1, .line_len = 1 };
        StoreBatch rb = { .received_us = now - 400 * DAY_US, .peer = "192.0.2.1:4000", .rejected = &rej, .n_rejected = 1 };
        assert_int_equal(store_ingest(s, &rb, &res), 0);
        RetentionConfig rc = { .info_days = 365,
                               .low_days = 365,
                               .medium_days = 1095,
                               .high_days = 1825,
                               .critical_days = 1825,
                               .findings_days = 3650 };
        uint64_t removed = 99;
        assert_int_equal(store_retention(s, now, &rc, &removed), 0);
        assert_int_equal(removed, 1);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE severity = 'info'"), 1);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events"), 4);
        /* Nothing more to do: nothing removed. */
        assert_int_equal(store_retention(s, now, &rc, &removed), 0);
        assert_int_equal(removed, 0);

        /* Every class at 30 days: the old months go whole (PostgreSQL drops
         * their partitions), the young rows stay. */
        rc = (RetentionConfig){
                .info_days = 30, .low_days = 30, .medium_days = 30, .high_days = 30, .critical_days = 30, .findings_days = 3650
        };
        assert_int_equal(store_retention(s, now, &rc, &removed), 0);
        assert_int_equal(removed, 3); /* 2 events, and the rejected line: kept as long as the longest class */
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events"), 2);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM rejected"), 0);
        if (use_pg) {
                assert_int_equal(count_rows(f, "SELECT count(*) FROM event_ids"), 2);
                assert_int_equal(count_rows(f, "SELECT count(*) FROM pg_class WHERE relname LIKE 'events_20%' "
                                               "AND relkind = 'r' AND relname < 'events_2028'"),
                                 0);
        }
        /* A deleted old event's id sent again is stored again (its old row is gone). */
        StoreBatch b = batch_of(&t[0].ev, 1, now);
        assert_int_equal(store_ingest(s, &b, &res), 0);
        assert_int_equal(res.stored, 1);

        /* Days 0 keep forever. */
        rc = (RetentionConfig){};
        assert_int_equal(store_retention(s, now + 5000 * DAY_US, &rc, &removed), 0);
        assert_int_equal(removed, 0);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events"), 3);
        store_free(s);
}

static void test_findings_retention(void **state) {
        Fixture *f = *state;
        Store *s = open_store(f);
        TestEvent t;
        make_event(&t, HOST_A, 1, "info", NULL);
        StoreIngestResult res = {};
        StoreBatch b = batch_of(&t.ev, 1, T0);
        assert_int_equal(store_ingest(s, &b, &res), 0);
        /* The stub's rules: silent by the timer, returned when it speaks. */
        size_t changed = 0;
        assert_int_equal(store_sweep(s, T0 + 400LL * 1000000, &changed), 0);
        assert_int_equal(changed, 1);
        TestEvent t2;
        make_event(&t2, HOST_A, 2, "info", NULL);
        b = batch_of(&t2.ev, 1, T0 + 500LL * 1000000);
        assert_int_equal(store_ingest(s, &b, &res), 0);
        assert_int_equal(res.findings, 2);
        Findings fl = {};
        assert_int_equal(store_findings(s, false, collect_finding, &fl), 0);
        assert_int_equal(fl.n, 2);
        assert_string_equal(fl.kind[0], "host.silent");
        assert_string_equal(fl.state[0], "closed");
        assert_true(fl.closed[0] == T0 + 500LL * 1000000);
        assert_string_equal(fl.kind[1], "host.returned");
        assert_string_equal(fl.state[1], "closed");
        Findings open = {};
        assert_int_equal(store_findings(s, true, collect_finding, &open), 0);
        assert_int_equal(open.n, 0);

        RetentionConfig rc = { .findings_days = 10 };
        uint64_t removed = 0;
        assert_int_equal(store_retention(s, T0 + 5 * DAY_US, &rc, &removed), 0);
        assert_int_equal(removed, 0);
        assert_int_equal(store_retention(s, T0 + 11 * DAY_US, &rc, &removed), 0);
        assert_int_equal(removed, 2);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM findings"), 0);
        store_free(s);
}

static void test_sweep_due_only(void **state) {
        Fixture *f = *state;
        Store *s = open_store(f);
        TestEvent a, bb;
        make_event(&a, HOST_A, 1, "info", NULL);
        make_event(&bb, HOST_B, 1, "info", NULL);
        StoreIngestResult res = {};
        StoreBatch b = batch_of(&a.ev, 1, T0);
        assert_int_equal(store_ingest(s, &b, &res), 0);
        b = batch_of(&bb.ev, 1, T0 + 100LL * 1000000);
        assert_int_equal(store_ingest(s, &b, &res), 0);

        Hosts before = {};
        assert_int_equal(store_hosts(s, collect_host, &before), 0);
        int64_t due_a = find_host(&before, HOST_A)->due_us, due_b = find_host(&before, HOST_B)->due_us;
        assert_true(due_a > 0);
        assert_true(due_b > due_a);

        size_t changed = 99;
        assert_int_equal(store_sweep(s, due_a - 1, &changed), 0);
        assert_int_equal(changed, 0);
        assert_int_equal(store_sweep(s, due_a, &changed), 0);
        assert_true(changed >= 1);

        Hosts after = {};
        assert_int_equal(store_hosts(s, collect_host, &after), 0);
        assert_int_not_equal(find_host(&after, HOST_A)->due_us, due_a);
        assert_int_equal(find_host(&after, HOST_B)->due_us, due_b);
        Findings fl = {};
        assert_int_equal(store_findings(s, true, collect_finding, &fl), 0);
        assert_true(fl.n >= 1);
        for (size_t i = 0; i < fl.n; i++)
                assert_string_equal(fl.machine_id[i], HOST_A);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE kind LIKE 'collector.%' AND machine_id = '" HOST_B
                                       "'"),
                         0);
        store_free(s);
}

/* Two collector instances (two Store handles) given the same batches at
 * the same time: each event stored once. */
typedef struct Racer {
        Fixture *f;
        const StoreEvent *ev;
        size_t n;
        size_t stored, duplicates;
        int r;
} Racer;

static void *race(void *userdata) {
        Racer *x = userdata;
        Store *s = NULL;
        x->r = store_open(&x->f->cfg, &x->f->fc, &s);
        for (size_t round = 0; x->r == 0 && round < 20; round++) {
                StoreBatch b = batch_of(x->ev + round * (x->n / 20), x->n / 20, T0 + (int64_t) round);
                StoreIngestResult res = {};
                int r;
                /* 503-class answers are retried, as the agent does. */
                while ((r = store_ingest(s, &b, &res)) == -EBUSY || r == -EAGAIN)
                        ;
                x->r = r;
                x->stored += res.stored;
                x->duplicates += res.duplicates;
        }
        store_free(s);
        return NULL;
}

static void test_two_instances(void **state) {
        Fixture *f = *state;
        f->cfg.busy_timeout_ms = 5000;
        Store *s = open_store(f); /* the schema, once */
        store_free(s);
        enum { N = 400 };
        TestEvent *t = calloc(N, sizeof *t);
        StoreEvent *ev = calloc(N, sizeof *ev);
        assert_non_null(t);
        assert_non_null(ev);
        for (size_t i = 0; i < N; i++) {
                make_event(&t[i], i % 2 ? HOST_A : HOST_B, i + 1, "info", NULL);
                ev[i] = t[i].ev;
        }
        Racer x[2] = { { .f = f, .ev = ev, .n = N }, { .f = f, .ev = ev, .n = N } };
        pthread_t th[2];
        for (size_t i = 0; i < 2; i++)
                assert_int_equal(pthread_create(&th[i], NULL, race, &x[i]), 0);
        for (size_t i = 0; i < 2; i++)
                assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(x[0].r, 0);
        assert_int_equal(x[1].r, 0);
        assert_int_equal(x[0].stored + x[1].stored, N);
        assert_int_equal(x[0].duplicates + x[1].duplicates, N);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events"), N);
        assert_int_equal(count_rows(f, "SELECT count(DISTINCT id) FROM events"), N);

        s = open_store(f);
        Hosts hl = {};
        assert_int_equal(store_hosts(s, collect_host, &hl), 0);
        assert_int_equal(find_host(&hl, HOST_A)->events, N / 2);
        assert_int_equal(find_host(&hl, HOST_B)->events, N / 2);
        /* Export: every row once, in order. */
        Lines *l = calloc(1, sizeof *l);
        size_t seen = 0;
        char cursor[24] = "";
        for (;;) {
                l->n = 0;
                assert_int_equal(store_export(s, cursor, 0, 64, collect_line, l), 0);
                if (l->n == 0)
                        break;
                seen += l->n;
                snprintf(cursor, sizeof cursor, "%s", l->cursor[l->n - 1]);
        }
        assert_int_equal(seen, N);
        free(l);
        store_free(s);
        free(t);
        free(ev);
}

/* PostgreSQL: a row_id is taken at INSERT, not at COMMIT. A writer that took
 * its row_id first and commits last must not be skipped by an export whose
 * cursor already passed it: store-postgres.c serializes the event inserts
 * and COMMITs of all writers under one advisory lock. Here "another
 * instance" holds a row_id uncommitted (with that lock, as the store does)
 * while a Store ingests: the export must see both rows in the end. */
typedef struct Ingester {
        Fixture *f;
        TestEvent t;
        int r;
        bool done;
} Ingester;

static void *ingest_one(void *userdata) {
        Ingester *x = userdata;
        Store *s = NULL;
        x->r = store_open(&x->f->cfg, &x->f->fc, &s);
        if (x->r == 0) {
                StoreBatch b = batch_of(&x->t.ev, 1, T0 + 5);
                StoreIngestResult res = {};
                x->r = store_ingest(s, &b, &res);
        }
        store_free(s);
        __atomic_store_n(&x->done, true, __ATOMIC_SEQ_CST);
        return NULL;
}

static void test_export_commit_order(void **state) {
        Fixture *f = *state;
        if (!use_pg)
                return; /* SQLite has one writer at a time: row order is commit order */
        f->cfg.busy_timeout_ms = 10000;
        Store *s = open_store(f);
        TestEvent first;
        make_event(&first, HOST_B, 1, "info", NULL);
        StoreBatch b = batch_of(&first.ev, 1, T0);
        StoreIngestResult res = {};
        assert_int_equal(store_ingest(s, &b, &res), 0); /* the schema and this month's partition */
        Lines l0 = {};
        assert_int_equal(store_export(s, NULL, 0, 100, collect_line, &l0), 0);
        assert_int_equal(l0.n, 1);

        PGconn *x = PQconnectdb(f->conninfo);
        assert_int_equal(PQstatus(x), CONNECTION_OK);
        /* 7881701148303360001 = STORE_PG_EXPORT_LOCK of store-postgres.c; with another key this fails. */
        PGresult *r = PQexec(x, "BEGIN; SELECT pg_advisory_xact_lock(7881701148303360001); "
                                "INSERT INTO events (id, machine_id, seq, time, received_at, kind, severity, "
                                "content_hash, json) VALUES ('00000000-0000-4000-8000-000000000001', '" HOST_B
                                "', 2, 0, 1764547200000001, 'usb.blocked', 'info', '\\x00', '{\"slow\":1}')");
        assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
        PQclear(r);

        Ingester in = { .f = f };
        make_event(&in.t, HOST_A, 1, "info", NULL);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, ingest_one, &in), 0);
        /* Until the ingest is done or waits for the lock (a positive sign either way). */
        for (int64_t deadline = now_ms() + 10000;;) {
                if (__atomic_load_n(&in.done, __ATOMIC_SEQ_CST))
                        break;
                if (count_rows(f, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") > 0)
                        break;
                assert_true(now_ms() < deadline);
                usleep(10000);
        }
        Lines l1 = {};
        assert_int_equal(store_export(s, l0.cursor[0], 0, 100, collect_line, &l1), 0);
        char cursor[24];
        snprintf(cursor, sizeof cursor, "%s", l1.n > 0 ? l1.cursor[l1.n - 1] : l0.cursor[0]);

        r = PQexec(x, "COMMIT");
        assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
        PQclear(r);
        PQfinish(x);
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_int_equal(in.r, 0);

        Lines l2 = {};
        assert_int_equal(store_export(s, cursor, 0, 100, collect_line, &l2), 0);
        /* Both rows, each once, across the two exports. */
        assert_int_equal(l1.n + l2.n, 2);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events"), 3);
        store_free(s);
}

/* PostgreSQL: a database that is not UTF-8 would refuse some valid lines
 * (and the agents would retry them for ever): refused at open. */
static void test_pg_encoding(void **state) {
        Fixture *f = *state;
        if (!use_pg)
                return;
        char sql[256], conninfo[1200];
        snprintf(sql, sizeof sql,
                 "CREATE DATABASE %s_ascii ENCODING 'SQL_ASCII' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'",
                 f->dbname);
        pg_admin(sql);
        snprintf(conninfo, sizeof conninfo, "%s dbname=%s_ascii", getenv("MAMORI_TEST_PG_CONNINFO"), f->dbname);
        StoreConfig cfg = { .backend = STORE_POSTGRES, .pg_conninfo = conninfo, .busy_timeout_ms = 300 };
        Store *s = NULL;
        assert_int_equal(store_open(&cfg, &f->fc, &s), -EINVAL);
        assert_null(s);
        snprintf(sql, sizeof sql, "DROP DATABASE %s_ascii", f->dbname);
        pg_admin(sql);
}

/* A collector killed with SIGKILL in the middle of its batches (issue 12
 * item 9, at the store's level): every batch acknowledged is there, none
 * twice, and each host row agrees with the events stored (a batch is all
 * or nothing). The writer re-sends from the first batch not acknowledged,
 * as an agent does after a connection reset. */
enum { KILL_ROUNDS = 8, KILL_BATCH = 40, KILL_MAX_BATCHES = 400 };

static void kill_writer(Fixture *f, int fd, unsigned from, TestEvent *t) {
        Store *s = NULL;
        if (store_open(&f->cfg, &f->fc, &s) < 0)
                _exit(2);
        for (unsigned k = from; k < KILL_MAX_BATCHES; k++) {
                StoreEvent ev[KILL_BATCH];
                for (unsigned i = 0; i < KILL_BATCH; i++)
                        ev[i] = t[k * KILL_BATCH + i].ev;
                StoreBatch b = batch_of(ev, KILL_BATCH, T0 + k);
                StoreIngestResult res = {};
                int r;
                while ((r = store_ingest(s, &b, &res)) == -EBUSY || r == -EAGAIN)
                        ;
                if (r < 0)
                        _exit(3);
                if (write(fd, &k, sizeof k) != sizeof k) /* the 2xx */
                        _exit(4);
        }
        _exit(0);
}

static void test_kill9(void **state) {
        Fixture *f = *state;
        store_free(open_store(f));
        TestEvent *t = calloc((size_t) KILL_MAX_BATCHES * KILL_BATCH, sizeof *t);
        assert_non_null(t);
        for (unsigned i = 0; i < KILL_MAX_BATCHES * KILL_BATCH; i++)
                make_event(&t[i], i % 3 ? HOST_A : HOST_B, i + 1, "info", NULL);

        unsigned next = 0; /* the first batch not acknowledged */
        for (unsigned round = 0; round < KILL_ROUNDS && next < KILL_MAX_BATCHES; round++) {
                int fds[2];
                assert_int_equal(pipe(fds), 0);
                pid_t pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                        close(fds[0]);
                        kill_writer(f, fds[1], next, t);
                }
                close(fds[1]);
                /* Kill it after 1 to 4 acknowledged batches, in the middle of the next. */
                unsigned want = 1 + round % 4, got = 0, k;
                while (got < want && read(fds[0], &k, sizeof k) == sizeof k) {
                        assert_int_equal(k, next);
                        next = k + 1;
                        got++;
                }
                assert_int_equal(got, want);
                assert_int_equal(kill(pid, SIGKILL), 0);
                /* What it acknowledged before it died counts too. */
                while (read(fds[0], &k, sizeof k) == sizeof k)
                        next = k + 1;
                close(fds[0]);
                int status;
                assert_int_equal(waitpid(pid, &status, 0), pid);
                assert_true(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0));
        }
        /* Every acknowledged batch is there, nothing twice. */
        int64_t stored = count_rows(f, "SELECT count(*) FROM events");
        assert_true(stored >= (int64_t) next * KILL_BATCH);
        assert_int_equal(count_rows(f, "SELECT count(DISTINCT id) FROM events"), stored);
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE seq <= %u", next * KILL_BATCH);
        assert_int_equal(count_rows(f, sql), (int64_t) next * KILL_BATCH);
        /* Each host row counts exactly the events stored for it. */
        assert_int_equal(count_rows(f, "SELECT count(*) FROM hosts h WHERE events <> (SELECT count(*) FROM events e "
                                       "WHERE e.machine_id = h.machine_id)"),
                         0);
        free(t);
}

/* A batch as store-postgres.c sends it (arrays): ids twice inside the
 * batch, with the same and with other content, and ids stored by an
 * earlier batch of the month before (another partition of events). */
static size_t agent_lines(const Lines *l, const char **out, size_t max) {
        size_t n = 0;
        for (size_t i = 0; i < l->n && n < max; i++)
                if (!strstr(l->json[i], "\"collector."))
                        out[n++] = l->json[i];
        return n;
}

static void test_batch_duplicates_months(void **state) {
        Fixture *f = *state;
        Store *s = open_store(f);
        TestEvent a1, a2, a2_forged, a3, b1;
        make_event(&a1, HOST_A, 1, "info", NULL);
        make_event(&a2, HOST_A, 2, "high", NULL);
        make_event(&a2_forged, HOST_A, 2, "high", ",\"x\":1");
        make_event(&a3, HOST_A, 3, "info", NULL);
        make_event(&b1, HOST_B, 1, "info", NULL);
        assert_string_equal(a2.id, a2_forged.id);

        /* December: a2 twice (one duplicate), then with other content (a
         * conflict against the a2 of this very batch). */
        StoreEvent dec[4] = { a2.ev, a1.ev, a2.ev, a2_forged.ev };
        StoreBatch b = batch_of(dec, 4, T0 + 30 * DAY_US - 1000000);
        StoreIngestResult res = {};
        assert_int_equal(store_ingest(s, &b, &res), 0);
        assert_int_equal(res.stored, 2);
        assert_int_equal(res.duplicates, 1);
        assert_int_equal(res.conflicts, 1);

        /* January: a2 and its forgery again (stored in December), b1 twice, a3 new. */
        StoreEvent jan[5] = { b1.ev, a2_forged.ev, a3.ev, a2.ev, b1.ev };
        b = batch_of(jan, 5, T0 + 32 * DAY_US);
        res = (StoreIngestResult){};
        assert_int_equal(store_ingest(s, &b, &res), 0);
        assert_int_equal(res.stored, 2);
        assert_int_equal(res.duplicates, 2);
        assert_int_equal(res.conflicts, 1);

        assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE kind = 'usb.blocked'"), 4);
        assert_int_equal(count_rows(f, "SELECT count(DISTINCT id) FROM events WHERE kind = 'usb.blocked'"), 4);
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE json LIKE '%\"x\":1%'"), 0);
        if (use_pg) {
                assert_int_equal(count_rows(f, "SELECT count(*) FROM events_202512 WHERE kind = 'usb.blocked'"), 2);
                assert_int_equal(count_rows(f, "SELECT count(*) FROM events_202601 WHERE kind = 'usb.blocked'"), 2);
                assert_int_equal(count_rows(f, "SELECT count(*) FROM event_ids"),
                                 count_rows(f, "SELECT count(*) FROM events"));
        }

        /* Arrival order, each batch's events per host in seq order. */
        Lines *l = calloc(1, sizeof *l);
        assert_non_null(l);
        assert_int_equal(store_export(s, NULL, 0, 64, collect_line, l), 0);
        const char *got[8] = { 0 };
        assert_int_equal(agent_lines(l, got, 8), 4);
        assert_string_equal(got[0], a1.json);
        assert_string_equal(got[1], a2.json);
        assert_string_equal(got[2], a3.json);
        assert_string_equal(got[3], b1.json);
        free(l);

        Hosts hl = {};
        assert_int_equal(store_hosts(s, collect_host, &hl), 0);
        assert_int_equal(find_host(&hl, HOST_A)->events, 3);
        assert_int_equal(find_host(&hl, HOST_A)->max_seq, 3);
        assert_int_equal(find_host(&hl, HOST_B)->events, 1);
        store_free(s);
}

/* Group commit: worker Stores of one StoreGroup, batches at once from
 * several threads; every batch is answered with its own counts and stored
 * once. PostgreSQL ignores the group (the same answers). */
#define GROUP_WRITERS 4
#define GROUP_BATCHES 15
#define GROUP_BATCH 6

typedef struct GroupWriter {
        Fixture *f;
        StoreGroup *g;
        unsigned n;
        TestEvent t[GROUP_BATCHES * GROUP_BATCH];
        char machine_id[33];
        int r;
        size_t bad_answers;
        bool busy_only;  /* one batch, expected to fail */
        bool keep_going; /* past a failed batch */
        unsigned failures;
} GroupWriter;

static void group_event(GroupWriter *w, TestEvent *t, uint64_t seq) {
        make_event(t, w->machine_id, seq, "info", NULL);
        snprintf(t->id, sizeof t->id, "%08x-0000-4000-8000-%012" PRIx64, 0xc0de0000u + w->n, seq);
        snprintf(t->json, sizeof t->json, "{\"id\":\"%s\",\"seq\":%" PRIu64 ",\"host\":{\"machine_id\":\"%s\"}}", t->id,
                 seq, w->machine_id);
        t->ev.json_len = strlen(t->json);
        sha256(t->json, t->ev.json_len, t->ev.content_hash);
}

static void *group_write(void *userdata) {
        GroupWriter *w = userdata;
        Store *s = NULL;
        w->r = store_open(&w->f->cfg, &w->f->fc, &s);
        if (w->r == 0)
                w->r = store_join_group(s, w->g);
        for (unsigned k = 0; w->r == 0 && k < (w->busy_only ? 1 : GROUP_BATCHES); k++) {
                StoreEvent ev[GROUP_BATCH + 1];
                size_t n = 0;
                for (unsigned i = 0; i < GROUP_BATCH; i++)
                        ev[n++] = w->t[k * GROUP_BATCH + i].ev;
                if (k > 0)
                        ev[n++] = w->t[(k - 1) * GROUP_BATCH].ev; /* one of the batch before: a duplicate */
                StoreBatch b = batch_of(ev, n, T0 + (int64_t) k * 1000 + w->n);
                StoreIngestResult res = {};
                int r = store_ingest(s, &b, &res);
                if (r < 0) {
                        w->failures++;
                        w->r = r;
                        if (w->keep_going)
                                w->r = 0;
                        continue;
                }
                if (res.stored != GROUP_BATCH || res.duplicates != (k > 0) || res.conflicts != 0)
                        w->bad_answers++;
        }
        if (w->keep_going && w->failures > 0)
                w->r = -EINVAL;
        store_free(s);
        return NULL;
}

static void test_group_commit(void **state) {
        Fixture *f = *state;
        f->cfg.busy_timeout_ms = 10000;
        store_free(open_store(f)); /* the schema, once */
        StoreGroup *g = NULL;
        assert_int_equal(store_group_new(&g), 0);
        GroupWriter *w = calloc(GROUP_WRITERS, sizeof *w);
        assert_non_null(w);
        pthread_t th[GROUP_WRITERS];
        for (unsigned i = 0; i < GROUP_WRITERS; i++) {
                w[i].f = f;
                w[i].g = g;
                w[i].n = i;
                snprintf(w[i].machine_id, sizeof w[i].machine_id, "%032x", 0xc0 + i);
                for (unsigned k = 0; k < GROUP_BATCHES * GROUP_BATCH; k++)
                        group_event(&w[i], &w[i].t[k], k + 1);
        }
        for (unsigned i = 0; i < GROUP_WRITERS; i++)
                assert_int_equal(pthread_create(&th[i], NULL, group_write, &w[i]), 0);
        for (unsigned i = 0; i < GROUP_WRITERS; i++)
                assert_int_equal(pthread_join(th[i], NULL), 0);
        for (unsigned i = 0; i < GROUP_WRITERS; i++) {
                assert_int_equal(w[i].r, 0);
                assert_int_equal(w[i].bad_answers, 0);
        }
        assert_int_equal(count_rows(f, "SELECT count(*) FROM events"), GROUP_WRITERS * GROUP_BATCHES * GROUP_BATCH);
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM hosts WHERE events = %d AND max_seq = events",
                 GROUP_BATCHES * GROUP_BATCH);
        assert_int_equal(count_rows(f, sql), GROUP_WRITERS);

        if (!use_pg) {
                /* The write lock held elsewhere: the group's COMMIT cannot be
                 * had, and every batch of it fails (none answered as stored). */
                f->cfg.busy_timeout_ms = 300;
                sqlite3 *db;
                assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
                assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
                for (unsigned i = 0; i < GROUP_WRITERS; i++) {
                        w[i].busy_only = true;
                        w[i].n = 100 + i;
                        for (unsigned k = 0; k < GROUP_BATCH; k++)
                                group_event(&w[i], &w[i].t[k], 1000 + k);
                        assert_int_equal(pthread_create(&th[i], NULL, group_write, &w[i]), 0);
                }
                for (unsigned i = 0; i < GROUP_WRITERS; i++) {
                        assert_int_equal(pthread_join(th[i], NULL), 0);
                        assert_int_equal(w[i].r, -EBUSY);
                }
                assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
                sqlite3_close(db);
                assert_int_equal(count_rows(f, "SELECT count(*) FROM events"),
                                 GROUP_WRITERS * GROUP_BATCHES * GROUP_BATCH);

                /* One writer's batches fail inside the group's transaction
                 * (a trigger refuses its host's rows): each is rolled back
                 * alone (its savepoint), the others' are committed. */
                f->cfg.busy_timeout_ms = 10000;
                char trigger[256];
                snprintf(trigger, sizeof trigger,
                         "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.machine_id = '%s' "
                         "BEGIN SELECT RAISE(ABORT, 'refused'); END",
                         w[0].machine_id);
                exec_sql(f, trigger);
                for (unsigned i = 0; i < GROUP_WRITERS; i++) {
                        w[i].busy_only = false;
                        w[i].keep_going = true;
                        w[i].failures = 0;
                        w[i].bad_answers = 0;
                        w[i].n = 200 + i;
                        for (unsigned k = 0; k < GROUP_BATCHES * GROUP_BATCH; k++)
                                group_event(&w[i], &w[i].t[k], 2000 + k);
                }
                for (unsigned i = 0; i < GROUP_WRITERS; i++)
                        assert_int_equal(pthread_create(&th[i], NULL, group_write, &w[i]), 0);
                for (unsigned i = 0; i < GROUP_WRITERS; i++)
                        assert_int_equal(pthread_join(th[i], NULL), 0);
                assert_int_equal(w[0].failures, GROUP_BATCHES);
                assert_int_equal(w[0].r, -EINVAL);
                for (unsigned i = 1; i < GROUP_WRITERS; i++) {
                        assert_int_equal(w[i].failures, 0);
                        assert_int_equal(w[i].bad_answers, 0);
                }
                assert_int_equal(count_rows(f, "SELECT count(*) FROM events"),
                                 (2 * GROUP_WRITERS - 1) * GROUP_BATCHES * GROUP_BATCH);
                snprintf(sql, sizeof sql, "SELECT count(*) FROM hosts WHERE events = %d AND max_seq = %d",
                         2 * GROUP_BATCHES * GROUP_BATCH, 2000 + GROUP_BATCHES * GROUP_BATCH - 1);
                assert_int_equal(count_rows(f, sql), GROUP_WRITERS - 1);
        }
        store_group_unref(g);
        free(w);
}

#ifndef TEST_STORE_NO_MAIN
int main(int argc, char **argv) {
        const char *backend = argc > 1 ? argv[1] : "sqlite";
        use_pg = strcmp(backend, "postgres") == 0;
        if (use_pg && !getenv("MAMORI_TEST_PG_CONNINFO")) {
                /* Never a silent pass on a machine without PostgreSQL. */
                fprintf(stderr, "MAMORI_TEST_PG_CONNINFO is not set: run through tests/unit/with-postgres.sh\n");
                return 1;
        }
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_ingest, setup, teardown),
                cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
                cmocka_unit_test_setup_teardown(test_conflict, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rejected_only, setup, teardown),
                cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
                cmocka_unit_test_setup_teardown(test_server_down, setup, teardown),
                cmocka_unit_test_setup_teardown(test_export_cursor, setup, teardown),
                cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
                cmocka_unit_test_setup_teardown(test_findings_retention, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sweep_due_only, setup, teardown),
                cmocka_unit_test_setup_teardown(test_two_instances, setup, teardown),
                cmocka_unit_test_setup_teardown(test_export_commit_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kill9, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pg_encoding, setup, teardown),
                cmocka_unit_test_setup_teardown(test_batch_duplicates_months, setup, teardown),
                cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        };
        return cmocka_run_group_tests_name(use_pg ? "store-postgres" : "store-sqlite", tests, NULL, NULL);
}
#endif
