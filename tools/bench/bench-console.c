/* SPDX-License-Identifier: MIT */
/* The console's overview (issue 13 item 7): the server time of GET
 * /api/v1/overview (the handler, without TLS and HTTP) with N events and H
 * hosts in the database, per backend. Prints figures; not a test.
 *
 *   bench-console [--events N] [--hosts H] [--days D] [--runs R] [sqlite|postgres]...
 *
 * The events are written by SQL in bulk (a recursive CTE, generate_series),
 * shaped like docs/events.md's columns, host after host round by round:
 * 40 % of the rounds usb.blocked with a clause,
 * a user and one of 1,000 devices, 50 % heartbeats, 5 % agent.posture (one
 * host in 50 with a stale antivirus pattern), 5 % lock.*; spread over D days
 * up to now, one of 20 departments per host. Their JSON is short (the
 * envelope's id, kind, site and, for postures, the posture), which is all
 * the rollups read. Then, timed:
 *  - the rollups built from nothing by console_fleet_refresh (rows/s);
 *  - the first /overview on a new connection, then R warm calls (p50, p95);
 *  - R calls each after 1,000 new events (the overview rolls them up first).
 * SQLite writes in a temporary directory under $TMPDIR, removed at the end;
 * PostgreSQL needs MAMORI_TEST_PG_CONNINFO (tests/unit/with-postgres.sh) and
 * drops its database at the end. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "api-fleet.h"
#include "cdb.h"
#include "console-api.h"
#include "macro.h"
#include "store-schema.h"
#include "store.h"

static double now_sec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int64_t wall_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p) {
        qsort(v, n, sizeof *v, cmp_double);
        size_t i = (size_t) (p * (double) (n - 1) + 0.5);
        return v[i < n ? i : n - 1];
}

static void die(const char *what, int r) {
        fprintf(stderr, "bench-console: %s: %s\n", what, strerror(r < 0 ? -r : r));
        exit(1);
}

static void exec_or_die(Cdb *db, const char *sql) {
        int64_t r = cdb_exec(db, sql, NULL, 0, NULL, NULL);
        if (r < 0) {
                fprintf(stderr, "%s\n", sql);
                die("SQL", (int) r);
        }
}

/* Rows [from, to) of the generated fleet, one statement. */
static void insert_events(Cdb *db, bool pg, int64_t from, int64_t to, int64_t hosts, int64_t t0, int64_t step_us,
                          unsigned run) {
        char sql[4096];
        /* the dialects differ in the series, the hex ids and the blob */
        char ser[512], idx[256];
        if (pg) {
                snprintf(ser, sizeof ser,
                         "SELECT i FROM generate_series(%" PRId64 "::bigint, %" PRId64 "::bigint - 1) AS g(i)", from, to);
                snprintf(idx, sizeof idx, "lpad(to_hex(%u), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(i), 12, '0')",
                         run);
        } else {
                snprintf(ser, sizeof ser,
                         "WITH RECURSIVE c(i) AS (SELECT %" PRId64
                         " UNION ALL SELECT i + 1 FROM c WHERE i + 1 < %" PRId64 ") SELECT i FROM c",
                         from, to);
                snprintf(idx, sizeof idx, "printf('%%08x-0000-4000-8000-%%012x', %u, i)", run);
        }
        const char *mid = pg ? "lpad(to_hex(h), 32, '0')" : "printf('%032x', h)";
        snprintf(sql, sizeof sql,
                 "INSERT INTO events (id, machine_id, seq, time, received_at, kind, severity, policy_ref, user_name, "
                 "device_vendor, device_product, device_serial, content_hash, json) "
                 "SELECT eid, %s, seq, t, t, k, CASE WHEN k = 'usb.blocked' THEN 'high' WHEN k = 'agent.posture' "
                 "AND h %% 50 = 0 THEN 'medium' ELSE 'info' END, "
                 "CASE WHEN k = 'usb.blocked' THEN '対策基準 第3-6' WHEN k LIKE 'lock.%%' THEN '対策基準 第3-2エ' END, "
                 "CASE WHEN k IN ('usb.blocked', 'lock.confirmed') THEN 'user' || (i %% 500) END, "
                 "CASE WHEN k = 'usb.blocked' THEN '0781' END, CASE WHEN k = 'usb.blocked' THEN '5581' END, "
                 "CASE WHEN k = 'usb.blocked' THEN 'SERIAL' || (i %% 1000) END, %s, "
                 "'{\"id\":\"' || eid || '\",\"kind\":\"' || k || '\",\"site\":{\"department\":\"dept-' || (h %% 20) "
                 "|| '\"}' || CASE WHEN k = 'agent.posture' THEN ',\"posture\":{\"verdict\":\"' || CASE WHEN h %% 50 = "
                 "0 THEN 'ng' ELSE 'ok' END || '\",\"antivirus\":{\"state\":\"' || CASE WHEN h %% 50 = 0 THEN "
                 "'stale' ELSE 'ok' END || '\",\"pattern_age_hours\":' || CASE WHEN h %% 50 = 0 THEN '100.5' ELSE "
                 "'3.0' END || '}}' ELSE '' END || '}' "
                 "FROM (SELECT i, %s AS eid, i %% %" PRId64 " + 1 AS h, i / %" PRId64 " + 1 AS seq, "
                 "%" PRId64 " + i * %" PRId64 " AS t, "
                 "CASE WHEN i / %" PRId64 " %% 20 < 8 THEN 'usb.blocked' WHEN i / %" PRId64 " %% 20 < 18 THEN "
                 "'agent.heartbeat' WHEN i / %" PRId64
                 " %% 20 = 18 THEN 'agent.posture' ELSE 'lock.confirmed' END AS k FROM (%s) AS s) AS x",
                 mid, pg ? "'\\x00'::bytea" : "zeroblob(32)", idx, hosts, hosts, t0, step_us, hosts, hosts, hosts, ser);
        exec_or_die(db, sql);
}

static void pg_admin(const char *conninfo, const char *sql) {
        PGconn *c = PQconnectdb(conninfo);
        if (PQstatus(c) != CONNECTION_OK) {
                fprintf(stderr, "bench-console: %s", PQerrorMessage(c));
                exit(1);
        }
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                fprintf(stderr, "bench-console: %s: %s", sql, PQerrorMessage(c));
                exit(1);
        }
        PQclear(r);
        PQfinish(c);
}

/* One call of another route, for scale (not the goal's figure). */
static double route_ms(Cdb *db, int64_t now, const char *path, const char *query) {
        ConsoleSession sess = { .user = "bench", .role = CONSOLE_ROLE_VIEWER };
        ConsoleRequest rq = { .method = "GET",
                              .path = path,
                              .query = query,
                              .session = &sess,
                              .db = db,
                              .zone = "Asia/Tokyo",
                              .peer = "127.0.0.1",
                              .now_us = now };
        ConsoleReply rp = { 0 };
        for (const ConsoleRoute *r = console_routes_fleet; r->method; r++)
                if (streq(r->method, "GET") && console_route_match(r->pattern, path)) {
                        double t = now_sec();
                        int k = r->fn(&rq, &rp);
                        t = now_sec() - t;
                        if (k < 0 || rp.status != 200) {
                                fprintf(stderr, "bench-console: %s: %d %u\n", path, k, rp.status);
                                exit(1);
                        }
                        console_reply_done(&rp);
                        return t * 1000;
                }
        exit(1);
}

static double overview_ms(Cdb *db, int64_t now, bool show) {
        ConsoleSession sess = { .user = "bench", .role = CONSOLE_ROLE_VIEWER };
        ConsoleRequest rq = { .method = "GET",
                              .path = "/overview",
                              .session = &sess,
                              .db = db,
                              .zone = "Asia/Tokyo",
                              .peer = "127.0.0.1",
                              .now_us = now };
        ConsoleReply rp = { 0 };
        const ConsoleRoute *route = console_routes_fleet;
        double t = now_sec();
        int r = route->fn(&rq, &rp);
        t = now_sec() - t;
        if (r < 0 || rp.status != 200) {
                fprintf(stderr, "bench-console: /overview: %d %u %.*s\n", r, rp.status, (int) rp.len, rp.body);
                exit(1);
        }
        if (show) { /* that it counted something: the 30 days, the stale hosts, the hosts */
                json_object *o = json_tokener_parse(rp.body), *w = NULL, *v = NULL;
                json_object_object_get_ex(o, "windows", &w);
                json_object_object_get_ex(w, "30d", &w);
                json_object_object_get_ex(w, "total", &v);
                printf("  overview: 30 days %" PRId64, json_object_get_int64(v));
                json_object_object_get_ex(o, "stale_av", &w);
                json_object_object_get_ex(w, "count", &v);
                printf(", stale av %" PRId64, json_object_get_int64(v));
                json_object_object_get_ex(o, "hosts", &w);
                json_object_object_get_ex(w, "total", &v);
                printf(", hosts %" PRId64, json_object_get_int64(v));
                json_object_object_get_ex(o, "rollup_behind", &v);
                printf(", rollup behind %" PRId64 ", %zu bytes\n", json_object_get_int64(v), rp.len);
                json_object_put(o);
        }
        console_reply_done(&rp);
        return t * 1000;
}

static void run(const char *backend, int64_t n, int64_t hosts, int days, size_t runs) {
        bool pg = streq(backend, "postgres");
        char dir[256] = "", path[300], conninfo[1024], dbname[64];
        StoreConfig cfg = { .busy_timeout_ms = 5000 };
        if (pg) {
                const char *base = getenv("MAMORI_TEST_PG_CONNINFO");
                if (!base) {
                        fprintf(stderr,
                                "bench-console: MAMORI_TEST_PG_CONNINFO is not set (tests/unit/with-postgres.sh)\n");
                        exit(1);
                }
                char sql[128];
                snprintf(dbname, sizeof dbname, "bench_console_%u", (unsigned) getpid());
                snprintf(sql, sizeof sql, "CREATE DATABASE %s", dbname);
                pg_admin(base, sql);
                snprintf(conninfo, sizeof conninfo, "%s dbname=%s", base, dbname);
                cfg.backend = STORE_POSTGRES;
                cfg.pg_conninfo = conninfo;
        } else {
                const char *tmp = getenv("TMPDIR");
                snprintf(dir, sizeof dir, "%s/bench-console.XXXXXX", tmp ? tmp : "/tmp");
                if (!mkdtemp(dir))
                        die("mkdtemp", -errno);
                snprintf(path, sizeof path, "%s/collector.db", dir);
                cfg.backend = STORE_SQLITE;
                cfg.sqlite_path = path;
        }

        Cdb *db = NULL;
        int r = cdb_open(&cfg, &db);
        if (r < 0)
                die("cdb_open", r);
        int64_t now = wall_us(), span = (int64_t) days * 86400 * 1000000, t0 = now - span - 3600LL * 1000000;
        int64_t step = span / n;
        if (pg) /* the monthly partitions the store would make ahead of need */
                for (int64_t t = t0; t < now + 62LL * 86400 * 1000000; t += 20LL * 86400 * 1000000) {
                        int64_t s, e;
                        unsigned m;
                        char sql[256];
                        store_month_bounds(t, &s, &e, &m);
                        snprintf(sql, sizeof sql,
                                 "CREATE TABLE IF NOT EXISTS events_%06u PARTITION OF events FOR VALUES FROM (%" PRId64
                                 ") TO (%" PRId64 ")",
                                 m, s, e);
                        exec_or_die(db, sql);
                }

        printf("\n== %s: %" PRId64 " events, %" PRId64 " hosts, %d days ==\n", backend, n, hosts, days);
        char sql[1024];
        snprintf(sql, sizeof sql,
                 pg ? "INSERT INTO hosts (machine_id, host_name, agent_version, policy_hash, first_seen, last_seen, "
                      "silent, stopped) SELECT lpad(to_hex(h), 32, '0'), 'pc-' || h, '0.1.0', repeat('a', 64), %" PRId64
                      ", %" PRId64 ", CASE WHEN h %% 100 = 0 THEN 1 ELSE 0 END, CASE WHEN h %% 250 = 0 THEN 1 ELSE 0 "
                      "END FROM generate_series(1, %" PRId64 ") AS g(h)"
                    : "WITH RECURSIVE c(h) AS (SELECT 1 UNION ALL SELECT h + 1 FROM c WHERE h < %3$" PRId64 ") "
                      "INSERT INTO hosts (machine_id, host_name, agent_version, policy_hash, first_seen, last_seen, "
                      "silent, stopped) SELECT printf('%%032x', h), 'pc-' || h, '0.1.0', printf('%%064d', 0), %1$" PRId64
                      ", %2$" PRId64 ", h %% 100 = 0, h %% 250 = 0 FROM c",
                 t0, now, hosts);
        exec_or_die(db, sql);
        /* open findings: the silent and stopped hosts, and some gaps */
        exec_or_die(db,
                    "INSERT INTO findings (machine_id, kind, severity, state, first_at, last_at) "
                    "SELECT machine_id, 'host.silent', 'high', 'open', last_seen, last_seen FROM hosts WHERE silent = 1");
        exec_or_die(db,
                    "INSERT INTO findings (machine_id, kind, severity, state, first_at, last_at) "
                    "SELECT machine_id, 'host.stopped', 'high', 'open', last_seen, last_seen FROM hosts WHERE stopped = 1");

        if (pg) /* the console's 30 s bound is for the console, not for a bulk fill */
                exec_or_die(db, "SET statement_timeout = 0");
        double t = now_sec();
        const int64_t chunk = 200000;
        for (int64_t i = 0; i < n; i += chunk) {
                insert_events(db, pg, i, i + chunk < n ? i + chunk : n, hosts, t0, step, 1);
                fprintf(stderr, "\r  filled %" PRId64 " rows (%.0f s)", i + chunk < n ? i + chunk : n, now_sec() - t);
        }
        fprintf(stderr, "\n");
        if (pg)
                exec_or_die(db, "ANALYZE");
        printf("fill (bulk SQL, not the ingest path): %.0f s, %.0f rows/s\n", now_sec() - t,
               (double) n / (now_sec() - t));

        if (pg)
                exec_or_die(db, "SET statement_timeout = 30000");
        /* the rollups from nothing, as collectord's timer would build them */
        t = now_sec();
        int64_t total = 0, k;
        while ((k = console_fleet_refresh(db, now + CONSOLE_FLEET_PG_LAG_US + 1, 0)) > 0)
                total += k;
        if (k < 0)
                die("refresh", (int) k);
        double dt = now_sec() - t;
        printf("rollups from nothing: %" PRId64 " rows in %.1f s: %.0f rows/s (batches of %d)\n", total, dt,
               (double) total / dt, CONSOLE_FLEET_REFRESH_ROWS);
        if (pg)
                exec_or_die(db, "ANALYZE");
        cdb_free(db);

        /* the first call on a new connection, then warm ones */
        r = cdb_open(&cfg, &db);
        if (r < 0)
                die("cdb_open", r);
        double first = overview_ms(db, now, false);
        double *v = calloc(runs, sizeof *v);
        if (!v)
                die("calloc", -ENOMEM);
        for (size_t i = 0; i < runs; i++)
                v[i] = overview_ms(db, now, i == 0);
        printf("/overview first call %.1f ms; warm p50 %.1f ms, p95 %.1f ms (%zu calls)\n", first, pct(v, runs, 0.5),
               pct(v, runs, 0.95), runs);

        char month[16], host[64];
        int64_t d = fleet_day_of(now);
        snprintf(month, sizeof month, "month=%04d-%02d", (int) (d / 10000), (int) (d / 100 % 100));
        snprintf(host, sizeof host, "/hosts/%032x", 4242 % (unsigned) hosts + 1);
        printf("one call each: /hosts/{id} %.1f ms, /hosts %.1f ms, /devices (30 days) %.1f ms, "
               "/reports/monthly %.1f ms\n",
               route_ms(db, now, host, NULL), route_ms(db, now, "/hosts", "stale_av=1"),
               route_ms(db, now, "/devices", NULL), route_ms(db, now, "/reports/monthly", month));

        /* with 1,000 new events before each call: the overview rolls them up itself */
        int64_t next = n;
        for (size_t i = 0; i < runs; i++) {
                int64_t t_new = now + (int64_t) (i + 1) * 1000000;
                /* new rows at t_new; the call's clock is past PostgreSQL's lag */
                insert_events(db, pg, next, next + 1000, hosts, t_new, 0, 2);
                next += 1000;
                v[i] = overview_ms(db, t_new + CONSOLE_FLEET_PG_LAG_US + 1, i + 1 == runs);
        }
        printf("/overview after 1,000 new events each: p50 %.1f ms, p95 %.1f ms (%zu calls)\n", pct(v, runs, 0.5),
               pct(v, runs, 0.95), runs);
        free(v);
        cdb_free(db);

        if (pg) {
                char q[128];
                snprintf(q, sizeof q, "DROP DATABASE %s WITH (FORCE)", dbname);
                pg_admin(getenv("MAMORI_TEST_PG_CONNINFO"), q);
        } else {
                char cmd[2 * sizeof dir + 32];
                snprintf(cmd, sizeof cmd, "du -sh '%s'; rm -rf '%s'", dir, dir);
                if (system(cmd) != 0)
                        fprintf(stderr, "bench-console: could not remove %s\n", dir);
        }
}

int main(int argc, char **argv) {
        int64_t n = 10000000, hosts = 10000;
        int days = 60;
        size_t runs = 50;
        int i = 1;
        setenv("TZ", ":Asia/Tokyo", 1); /* collectord sets the console's zone */
        tzset();
        for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
                if (i + 1 >= argc)
                        break;
                if (streq(argv[i], "--events"))
                        n = strtoll(argv[i + 1], NULL, 10);
                else if (streq(argv[i], "--hosts"))
                        hosts = strtoll(argv[i + 1], NULL, 10);
                else if (streq(argv[i], "--days"))
                        days = atoi(argv[i + 1]);
                else if (streq(argv[i], "--runs"))
                        runs = (size_t) atoi(argv[i + 1]);
                else
                        break;
        }
        if (n < 1000 || hosts < 1 || days < 1 || runs < 1) {
                fprintf(stderr, "usage: bench-console [--events N>=1000] [--hosts H] [--days D] [--runs R] "
                                "[sqlite|postgres]...\n");
                return 2;
        }
        if (i >= argc)
                run("sqlite", n, hosts, days, runs);
        for (; i < argc; i++)
                run(argv[i], n, hosts, days, runs);
        return 0;
}
