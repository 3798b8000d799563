/* SPDX-License-Identifier: MIT */
/* The console's violations list (GET /events, collector/console/api-events.c)
 * on a large database: fills one with N events over H hosts and D days
 * (SQLite file, or PostgreSQL through tests/unit/with-postgres.sh), then
 * calls the handler itself, as console-http.c would, R times per filter
 * with varied values, and prints p50/p95 of the server time. Not a test.
 *
 *   bench-console-events [--events N] [--hosts H] [--days D] [--rounds R]
 *                        [--dir DIR] [--keep] sqlite|postgres...
 *
 * The fill bypasses the store (direct INSERT in one transaction on SQLite,
 * COPY on PostgreSQL, the indexes dropped and made again afterwards): the
 * store's own ingest rate is bench-store's. The SQLite file is deleted
 * afterwards unless --keep (it is GBs at 10^7). */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "cdb.h"
#include "console-api.h"
#include "events-query.h"
#include "macro.h"
#include "store-schema.h"
#include "store.h"

#define DAY_US (86400LL * 1000000)
#define MAX_INDEXES 64

static size_t n_events = 1000000, n_hosts = 10000, n_days = 90, rounds = 20;
static const char *dir_base = "/tmp";
static bool keep;
static int64_t now_us;

static double now_sec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* A small deterministic generator: the same data on both backends. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return rng_state;
}

typedef struct Gen {
        char id[48], machine_id[33], time[80], user[32], vendor[5], product[5], serial[16];
        const char *kind, *severity, *ref;
        int64_t received, time_us;
        uint64_t seq;
        bool device;
        char json[900];
} Gen;

static uint64_t *host_seq;

/* The index definitions kept while COPY fills the table. */
static void free_defs(char **defs, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(defs[i]);
}

static void machine_id_of(size_t h, char out[33]) {
        snprintf(out, 33, "%032zx", h + 1);
}

/* Event i of N, in arrival order over the D days before now. */
static void gen(size_t i, Gen *g) {
        size_t h = rnd() % MAX(n_hosts, (size_t) 1); /* main() refuses 0; the analyzer cannot see it */
        unsigned k = (unsigned) (rnd() % 100);
        g->received = now_us - (int64_t) n_days * DAY_US +
                      (int64_t) ((double) i * (double) n_days * DAY_US / (double) MAX(n_events, (size_t) 1));
        g->time_us = g->received - 1000000;
        g->seq = ++host_seq[h];
        snprintf(g->id, sizeof g->id, "%08x-0000-4000-8000-%012zx", 0xbe5cu, i);
        machine_id_of(h, g->machine_id);
        snprintf(g->user, sizeof g->user, "u%05zu", h * 2 + (rnd() & 1));
        g->device = false;
        g->ref = NULL;
        if (k < 30) {
                g->kind = "usb.blocked", g->severity = "high", g->device = true, g->ref = "対策基準 第8-3";
        } else if (k < 75)
                g->kind = "agent.heartbeat", g->severity = "info";
        else if (k < 85)
                g->kind = "usb.allowed", g->severity = "info", g->device = true, g->ref = "対策基準 第8-3";
        else if (k < 93)
                g->kind = "agent.posture", g->severity = k < 91 ? "info" : "medium", g->ref = "対策基準 第3-6";
        else if (k < 98)
                g->kind = "agent.config_changed", g->severity = "medium", g->ref = "対策基準 第9";
        else if (k < 99)
                g->kind = "usb.block_failed", g->severity = "critical", g->device = true, g->ref = "対策基準 第8-3";
        else
                g->kind = "collector.host.silent", g->severity = "high";
        unsigned d = (unsigned) (rnd() % 300);
        snprintf(g->vendor, sizeof g->vendor, "%04x", 0x0700 + d % 50);
        snprintf(g->product, sizeof g->product, "%04x", 0x1000 + d);
        snprintf(g->serial, sizeof g->serial, "SN%06u", (unsigned) (rnd() % 5000));
        time_t t = (time_t) (g->time_us / 1000000);
        struct tm tm;
        gmtime_r(&t, &tm);
        snprintf(g->time, sizeof g->time, "%04d-%02d-%02dT%02d:%02d:%02d.000000Z", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        char device[256] = "";
        if (g->device)
                snprintf(device, sizeof device,
                         ",\"device\":{\"vendor_id\":\"%s\",\"product_id\":\"%s\",\"serial\":\"%s\","
                         "\"manufacturer\":\"Vendor %u\",\"product\":\"Stick %u\",\"category\":\"storage\"}",
                         g->vendor, g->product, g->serial, d % 50, d);
        char ref[64] = "";
        if (g->ref)
                snprintf(ref, sizeof ref, ",\"policy_ref\":\"%s\"", g->ref);
        snprintf(g->json, sizeof g->json,
                 "{\"id\":\"%s\",\"seq\":%" PRIu64 ",\"time\":\"%s\",\"kind\":\"%s\",\"severity\":\"%s\","
                 "\"host\":{\"machine_id\":\"%s\",\"name\":\"pc-%05zu\"},\"agent\":{\"name\":\"mamori\","
                 "\"version\":\"0.1.0\",\"policy_hash\":\"%064x\"},\"site\":{\"department\":\"部署%02zu\","
                 "\"location\":null},\"user\":{\"name\":\"%s\"}%s%s}",
                 g->id, g->seq, g->time, g->kind, g->severity, g->machine_id, h, 0, h % 40, g->user, ref, device);
}

/* ---- SQLite ---- */

static int sqlite_fill(const char *path) {
        sqlite3 *db;
        if (sqlite3_open(path, &db) != SQLITE_OK)
                return -EIO;
        char *idx[MAX_INDEXES];
        size_t n_idx = 0;
        sqlite3_stmt *st;
        sqlite3_prepare_v2(db,
                           "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' "
                           "AND sql IS NOT NULL",
                           -1, &st, NULL);
        while (sqlite3_step(st) == SQLITE_ROW && n_idx < MAX_INDEXES)
                idx[n_idx++] = strdup((const char *) sqlite3_column_text(st, 1));
        sqlite3_finalize(st);
        sqlite3_exec(db, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -1000000", NULL,
                     NULL, NULL);
        for (size_t i = 0; i < n_idx; i++) {
                char drop[256];
                const char *name = idx[i] + strlen("CREATE INDEX ");
                snprintf(drop, sizeof drop, "DROP INDEX %.*s", (int) strcspn(name, " "), name);
                sqlite3_exec(db, drop, NULL, NULL, NULL);
        }
        double t0 = now_sec();
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        sqlite3_prepare_v2(db, "INSERT INTO hosts (machine_id, host_name, first_seen, last_seen) VALUES (?1, ?2, 1, 1)",
                           -1, &st, NULL);
        for (size_t h = 0; h < n_hosts; h++) {
                char m[33], name[32];
                machine_id_of(h, m);
                snprintf(name, sizeof name, "pc-%05zu", h);
                sqlite3_bind_text(st, 1, m, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
                sqlite3_step(st);
                sqlite3_reset(st);
        }
        sqlite3_finalize(st);
        sqlite3_prepare_v2(db,
                           "INSERT INTO events (id, machine_id, seq, time, received_at, kind, severity, policy_ref, "
                           "user_name, device_vendor, device_product, device_serial, content_hash, json) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, zeroblob(32), ?13)",
                           -1, &st, NULL);
        Gen g;
        for (size_t i = 0; i < n_events; i++) {
                gen(i, &g);
                sqlite3_bind_text(st, 1, g.id, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, g.machine_id, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 3, (int64_t) g.seq);
                sqlite3_bind_int64(st, 4, g.time_us);
                sqlite3_bind_int64(st, 5, g.received);
                sqlite3_bind_text(st, 6, g.kind, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 7, g.severity, -1, SQLITE_STATIC);
                if (g.ref)
                        sqlite3_bind_text(st, 8, g.ref, -1, SQLITE_STATIC);
                else
                        sqlite3_bind_null(st, 8);
                sqlite3_bind_text(st, 9, g.user, -1, SQLITE_STATIC);
                for (int c = 10; c <= 12; c++)
                        if (g.device)
                                sqlite3_bind_text(st, c,
                                                  c == 10   ? g.vendor
                                                  : c == 11 ? g.product
                                                            : g.serial,
                                                  -1, SQLITE_STATIC);
                        else
                                sqlite3_bind_null(st, c);
                sqlite3_bind_text(st, 13, g.json, -1, SQLITE_STATIC);
                if (sqlite3_step(st) != SQLITE_DONE) {
                        fprintf(stderr, "bench: insert: %s\n", sqlite3_errmsg(db));
                        return -EIO;
                }
                sqlite3_reset(st);
        }
        sqlite3_finalize(st);
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        double t1 = now_sec();
        for (size_t i = 0; i < n_idx; i++) {
                char *err = NULL;
                if (sqlite3_exec(db, idx[i], NULL, NULL, &err) != SQLITE_OK)
                        fprintf(stderr, "bench: %s: %s\n", idx[i], err);
                sqlite3_free(err);
                free(idx[i]);
        }
        sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL", NULL, NULL, NULL);
        printf("sqlite: filled %zu events in %.0f s, %zu indexes in %.0f s\n", n_events, t1 - t0, n_idx, now_sec() - t1);
        sqlite3_close(db);
        return 0;
}

/* ---- PostgreSQL ---- */

static int pg_do(PGconn *c, const char *sql) {
        PGresult *res = PQexec(c, sql);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
        if (!ok)
                fprintf(stderr, "bench: %s: %s", sql, PQerrorMessage(c));
        PQclear(res);
        return ok ? 0 : -EIO;
}

static int pg_fill(const char *conninfo) {
        PGconn *c = PQconnectdb(conninfo);
        if (PQstatus(c) != CONNECTION_OK)
                return -ECONNREFUSED;
        /* the monthly partitions the data needs, as the store names them */
        for (int64_t t = now_us - (int64_t) n_days * DAY_US - 31 * DAY_US; t < now_us + 62 * DAY_US; t += 28 * DAY_US) {
                int64_t start, end;
                unsigned m;
                store_month_bounds(t, &start, &end, &m);
                char sql[256];
                snprintf(sql, sizeof sql,
                         "CREATE TABLE IF NOT EXISTS events_%06u PARTITION OF events FOR VALUES FROM (%" PRId64
                         ") TO (%" PRId64 ")",
                         m, start, end);
                if (pg_do(c, sql) < 0)
                        return -EIO;
        }
        char *idx[MAX_INDEXES];
        size_t n_idx = 0;
        PGresult *res = PQexec(c, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'events'");
        for (int i = 0; i < PQntuples(res) && n_idx < MAX_INDEXES; i++) {
                char drop[160];
                snprintf(drop, sizeof drop, "DROP INDEX %s", PQgetvalue(res, i, 0));
                /* pg_indexes says "ON ONLY events" for the parent's
                 * index: made so, it would cover no partition */
                char *def = strdup(PQgetvalue(res, i, 1)), *only = strstr(def, " ON ONLY ");
                if (only)
                        memmove(only + 3, only + 8, strlen(only + 8) + 1);
                idx[n_idx++] = def;
                pg_do(c, drop);
        }
        PQclear(res);
        double t0 = now_sec();
        char sql[256];
        for (size_t h = 0; h < n_hosts; h += 1000) {
                snprintf(sql, sizeof sql,
                         "INSERT INTO hosts (machine_id, host_name, first_seen, last_seen) SELECT "
                         "lpad(to_hex(g + 1), 32, '0'), 'pc-' || lpad(g::text, 5, '0'), 1, 1 "
                         "FROM generate_series(%zu, %zu) g",
                         h, MIN(h + 999, n_hosts - 1));
                pg_do(c, sql);
        }
        res = PQexec(c, "COPY events (id, machine_id, seq, time, received_at, kind, severity, policy_ref, user_name, "
                        "device_vendor, device_product, device_serial, content_hash, json) FROM STDIN");
        if (PQresultStatus(res) != PGRES_COPY_IN) {
                fprintf(stderr, "bench: COPY: %s", PQerrorMessage(c));
                PQclear(res);
                return free_defs(idx, n_idx), -EIO;
        }
        PQclear(res);
        static char buf[1 << 20];
        size_t used = 0;
        Gen g;
        for (size_t i = 0; i < n_events; i++) {
                gen(i, &g);
                char line[1400];
                /* text COPY: no tab, newline or backslash in the values but
                 * the bytea's, written \\x… */
                int n = snprintf(line, sizeof line,
                                 "%s\t%s\t%" PRIu64 "\t%" PRId64 "\t%" PRId64 "\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t"
                                 "\\\\x%064d\t%s\n",
                                 g.id, g.machine_id, g.seq, g.time_us, g.received, g.kind, g.severity, g.ref ?: "\\N",
                                 g.user, g.device ? g.vendor : "\\N", g.device ? g.product : "\\N",
                                 g.device ? g.serial : "\\N", 0, g.json);
                if (used + (size_t) n > sizeof buf) {
                        if (PQputCopyData(c, buf, (int) used) != 1)
                                return free_defs(idx, n_idx), -EIO;
                        used = 0;
                }
                memcpy(buf + used, line, (size_t) n);
                used += (size_t) n;
        }
        if ((used && PQputCopyData(c, buf, (int) used) != 1) || PQputCopyEnd(c, NULL) != 1)
                return free_defs(idx, n_idx), -EIO;
        res = PQgetResult(c);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                fprintf(stderr, "bench: COPY: %s", PQerrorMessage(c));
                PQclear(res);
                return free_defs(idx, n_idx), -EIO;
        }
        PQclear(res);
        double t1 = now_sec();
        for (size_t i = 0; i < n_idx; i++) {
                pg_do(c, idx[i]);
                free(idx[i]);
        }
        pg_do(c, "ANALYZE");
        printf("postgres: filled %zu events in %.0f s, %zu indexes and ANALYZE in %.0f s\n", n_events, t1 - t0, n_idx,
               now_sec() - t1);
        PQfinish(c);
        return 0;
}

/* ---- the measure ---- */

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static const ConsoleRoute *events_route(void) {
        for (const ConsoleRoute *r = console_routes_events; r->method; r++)
                if (strcmp(r->method, "GET") == 0 && console_route_match(r->pattern, "/events"))
                        return r;
        return NULL;
}

static ConsoleSession viewer = { .user = "bench", .role = CONSOLE_ROLE_VIEWER };

/* One call; its time in ms, its row count and next cursor. */
static double call(Cdb *db, const char *query, size_t *rows, char *next, size_t next_size) {
        ConsoleRequest rq = { .method = "GET",
                              .path = "/events",
                              .query = query,
                              .session = &viewer,
                              .db = db,
                              .zone = "UTC",
                              .peer = "127.0.0.1",
                              .now_us = now_us };
        ConsoleReply rp = { 0 };
        double t = now_sec();
        int r = events_route()->fn(&rq, &rp);
        double ms = (now_sec() - t) * 1000.0;
        if (r < 0 || rp.status != 200) {
                fprintf(stderr, "bench: %s: %d %u %s\n", query, r, rp.status, rp.body ?: "");
                exit(1);
        }
        if (strncmp(rp.content_type, "text/csv", 8) == 0) {
                *rows = 0;
                for (const char *p = rp.body; (p = strstr(p, "\r\n")); p += 2)
                        (*rows)++;
                (*rows)--; /* the header */
                next[0] = 0;
                console_reply_done(&rp);
                return ms;
        }
        json_object *o = json_tokener_parse(rp.body);
        *rows = json_object_array_length(json_object_object_get(o, "rows"));
        const char *n = json_object_get_string(json_object_object_get(o, "next"));
        snprintf(next, next_size, "%s", n ?: "");
        json_object_put(o);
        console_reply_done(&rp);
        return ms;
}

typedef struct Case {
        const char *name;
        const char *fmt; /* %1$s: a machine id, %2$s: a host name, %3$s a user, %4$s a device, %5$s a date */
        unsigned pages;  /* > 1: follow the cursor; the time of the last page */
} Case;

static const Case cases[] = {
        { "default (last 24 h)", "", 1 },
        { "kind=usb.blocked", "kind=usb.blocked", 1 },
        { "severity=critical, 90 d", "severity=critical&from=%5$s", 1 },
        { "host=<machine_id> (24 h)", "host=%1$s", 1 },
        { "host=<machine_id>, 90 d", "host=%1$s&from=%5$s", 1 },
        { "host=<name>, 90 d", "host=%2$s&from=%5$s", 1 },
        { "user, 90 d", "user=%3$s&from=%5$s", 1 },
        { "device=v:p, 90 d", "device=%4$s&from=%5$s", 1 },
        { "clause prefix, 90 d", "clause=%%E5%%AF%%BE%%E7%%AD%%96%%E5%%9F%%BA%%E6%%BA%%96+%%E7%%AC%%AC3&from=%5$s", 1 },
        { "clause word 第9, 90 d", "clause=%%E7%%AC%%AC9&from=%5$s", 1 },
        { "clause matching nothing, 24 h", "clause=%%E7%%AC%%AC7", 1 },
        { "clause matching nothing, 90 d", "clause=%%E7%%AC%%AC7&from=%5$s", 1 },
        { "department, 90 d", "department=%%E9%%83%%A8%%E7%%BD%%B207&from=%5$s", 1 },
        { "triage=acknowledged, 90 d", "triage=acknowledged&from=%5$s", 1 },
        { "triage=new (24 h)", "triage=new", 1 },
        { "kind+severity+department, 90 d",
          "kind=usb.blocked&severity=high&department=%%E9%%83%%A8%%E7%%BD%%B207&from=%5$s", 1 },
        { "kind=agent.config_changed+user, 90 d", "kind=agent.config_changed&user=%3$s&from=%5$s", 1 },
        { "page 10, kind=usb.blocked, 90 d", "kind=usb.blocked&from=%5$s", 10 },
        { "limit=500, 90 d", "limit=500&from=%5$s", 1 },
        { "CSV, kind=usb.blocked, 24 h", "format=csv&kind=usb.blocked", 1 },
        { "CSV, host=<name>, 90 d", "format=csv&host=%2$s&from=%5$s", 1 },
};

static int explain_row(const CdbRow *r, void *userdata) {
        (void) userdata;
        for (size_t i = 0; i < cdb_row_columns(r); i++)
                printf("%s%s", i ? " " : "    ", cdb_row_text(r, i) ?: "");
        printf("\n");
        return 0;
}

/* BENCH_EXPLAIN=1: the plan of a query, as the database runs it. */
static void explain(Cdb *db, const char *query) {
        ConsoleRequest rq = { .query = query, .zone = "UTC", .now_us = now_us };
        EventsQuery q;
        const char *bad;
        QuerySql sql;
        if (events_query_parse(&rq, &q, &bad) < 0 || events_query_sql(&q, cdb_backend(db), q.limit + 1, &sql) < 0)
                return;
        char text[EVENTS_SQL_MAX + 64];
        snprintf(text, sizeof text, "%s%s",
                 cdb_backend(db) == STORE_POSTGRES ? "EXPLAIN (ANALYZE, COSTS OFF) " : "EXPLAIN QUERY PLAN ", sql.text);
        cdb_exec(db, text, sql.params, sql.n_params, explain_row, NULL);
}

static void measure(Cdb *db, const char *label) {
        printf("%s: %zu events, %zu hosts, %zu days, %zu rounds per filter\n", label, n_events, n_hosts, n_days, rounds);
        printf("| filter | p50 ms | p95 ms | rows |\n|---|---|---|---|\n");
        char from[16];
        time_t t = (time_t) ((now_us - (int64_t) n_days * DAY_US) / 1000000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(from, sizeof from, "%Y-%m-%d", &tm);
        double *ms = calloc(rounds, sizeof *ms);
        for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
                size_t rows_total = 0;
                for (size_t i = 0; i < rounds; i++) {
                        size_t h = rnd() % n_hosts;
                        unsigned d = (unsigned) (rnd() % 300);
                        char m[33], name[32], user[32], dev[32], query[512], next[64] = "", q2[600];
                        machine_id_of(h, m);
                        snprintf(name, sizeof name, "pc-%05zu", h);
                        snprintf(user, sizeof user, "u%05zu", h * 2);
                        snprintf(dev, sizeof dev, "%04x:%04x", 0x0700 + d % 50, 0x1000 + d);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
                        snprintf(query, sizeof query, cases[c].fmt, m, name, user, dev, from);
#pragma GCC diagnostic pop
                        if (i == 0 && getenv("BENCH_EXPLAIN")) {
                                printf("  plan of %s:\n", query);
                                explain(db, query);
                        }
                        size_t rows = 0;
                        for (unsigned p = 0; p < cases[c].pages; p++) {
                                snprintf(q2, sizeof q2, "%s%s%s", query, next[0] ? "&after=" : "", next);
                                ms[i] = call(db, q2, &rows, next, sizeof next);
                                if (!next[0])
                                        break;
                        }
                        rows_total += rows;
                }
                qsort(ms, rounds, sizeof *ms, cmp_double);
                size_t p95 = (rounds * 95 + 99) / 100 - 1;
                printf("| %s | %.1f | %.1f | %.0f |\n", cases[c].name, ms[rounds / 2], ms[MIN(p95, rounds - 1)],
                       (double) rows_total / (double) rounds);
                fflush(stdout);
        }
        free(ms);
}

static void add_triage(Cdb *db) {
        /* 2,000 triaged events, spread over the whole range */
        cdb_exec(db, "BEGIN", NULL, 0, NULL, NULL);
        for (size_t k = 0; k < 2000; k++) {
                char id[48];
                snprintf(id, sizeof id, "%08x-0000-4000-8000-%012zx", 0xbe5cu, (size_t) (rnd() % n_events));
                static const char *const states[] = { "acknowledged", "assigned", "resolved" };
                CdbValue p[] = { cdb_text(id), cdb_text(states[k % 3]) };
                cdb_exec(db,
                         "INSERT INTO triage_state (target, target_id, state, updated_at, updated_by) "
                         "VALUES ('event', ?1, ?2, 1, 'bench') ON CONFLICT DO NOTHING",
                         p, 2, NULL, NULL);
        }
        cdb_exec(db, "COMMIT", NULL, 0, NULL, NULL);
}

static int run(const char *backend) {
        StoreConfig cfg = { .busy_timeout_ms = 5000 };
        char dir[256], path[300], conninfo[1024];
        bool pg = strcmp(backend, "postgres") == 0;
        if (pg) {
                if (!getenv("MAMORI_TEST_PG_CONNINFO")) {
                        fprintf(stderr, "bench: postgres needs tests/unit/with-postgres.sh\n");
                        return -EINVAL;
                }
                snprintf(conninfo, sizeof conninfo, "%s", getenv("MAMORI_TEST_PG_CONNINFO"));
                cfg.backend = STORE_POSTGRES;
                cfg.pg_conninfo = conninfo;
        } else {
                snprintf(dir, sizeof dir, "%s/bench-console.XXXXXX", dir_base);
                if (!mkdtemp(dir))
                        return -errno;
                snprintf(path, sizeof path, "%s/collector.db", dir);
                cfg.backend = STORE_SQLITE;
                cfg.sqlite_path = path;
        }
        Cdb *db = NULL;
        int r = cdb_open(&cfg, &db); /* creates the schema */
        if (r < 0)
                return r;
        cdb_free(db);
        free(host_seq);
        host_seq = calloc(n_hosts, sizeof *host_seq);
        rng_state = 0x9e3779b97f4a7c15ULL;
        r = pg ? pg_fill(conninfo) : sqlite_fill(path);
        if (r >= 0)
                r = cdb_open(&cfg, &db);
        if (r >= 0) {
                add_triage(db);
                measure(db, pg ? "PostgreSQL" : "SQLite");
                cdb_free(db);
        }
        if (!pg && !keep) {
                char cmd[320];
                snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
                (void) !system(cmd);
        } else if (!pg)
                printf("kept %s\n", path);
        return r;
}

int main(int argc, char **argv) {
        int i = 1;
        for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
                if (strcmp(argv[i], "--keep") == 0) {
                        keep = true;
                        continue;
                }
                if (i + 1 >= argc)
                        return 2;
                if (strcmp(argv[i], "--events") == 0)
                        n_events = strtoul(argv[++i], NULL, 10);
                else if (strcmp(argv[i], "--hosts") == 0)
                        n_hosts = strtoul(argv[++i], NULL, 10);
                else if (strcmp(argv[i], "--days") == 0)
                        n_days = strtoul(argv[++i], NULL, 10);
                else if (strcmp(argv[i], "--rounds") == 0)
                        rounds = strtoul(argv[++i], NULL, 10);
                else if (strcmp(argv[i], "--dir") == 0)
                        dir_base = argv[++i];
                else {
                        fprintf(stderr, "usage: bench-console-events [--events N] [--hosts H] [--days D] "
                                        "[--rounds R] [--dir DIR] [--keep] sqlite|postgres...\n");
                        return 2;
                }
        }
        if (n_events == 0 || n_hosts == 0 || n_days == 0 || rounds == 0 || i >= argc)
                return 2;
        setenv("TZ", "UTC", 1);
        tzset();
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        now_us = (int64_t) ts.tv_sec * 1000000;
        int rc = 0;
        for (; i < argc; i++)
                if (run(argv[i]) < 0)
                        rc = 1;
        return rc;
}
