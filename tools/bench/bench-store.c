/* SPDX-License-Identifier: MIT */
/* The collector's store (collector/store.h): events per second ingested by
 * each backend with batches of 1, 100 and 1000 events, one writer, as a
 * worker of mamori-collectord would write; with --writers N, N threads
 * (workers), each with its own Store and hosts, as the collector's worker
 * pool writes; --group joins their Stores to one StoreGroup (SQLite's group
 * commit). Prints figures; not a test.
 *
 *   bench-store [--events N] [--hosts H] [--writers N] [--group] [sqlite|postgres]...
 *
 * SQLite writes a database in a temporary directory (on the file system of
 * $TMPDIR: put it on the disk you mean to measure). PostgreSQL needs
 * MAMORI_TEST_PG_CONNINFO; tests/unit/with-postgres.sh sets it up:
 *   tests/unit/with-postgres.sh build/tools/bench/bench-store sqlite postgres
 * The findings rules are the real ones (collector/findings.c). */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "macro.h"
#include "sha256.h"
#include "store.h"

typedef struct BenchEvent {
        char id[37];
        char machine_id[33];
        char json[700];
        StoreEvent ev;
} BenchEvent;

static double now_sec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Shaped like the events of docs/events.md: an envelope, a device, a policy reference. */
static void make_events(BenchEvent *e, size_t n, size_t hosts, size_t host_base, unsigned run) {
        for (size_t i = 0; i < n; i++) {
                size_t h = host_base + i % hosts;
                uint64_t seq = i / hosts + 1;
                snprintf(e[i].id, sizeof e[i].id, "%08x-%04x-4000-8000-%012" PRIx64, run, (unsigned) (h & 0xffff),
                         (uint64_t) (i & 0xffffffffffffU));
                snprintf(e[i].machine_id, sizeof e[i].machine_id, "%032zx", h + 1);
                snprintf(e[i].json, sizeof e[i].json,
                         "{\"v\":1,\"id\":\"%s\",\"seq\":%" PRIu64 ",\"time\":\"2026-12-04T01:00:00.000000Z\","
                         "\"kind\":\"usb.blocked\",\"severity\":\"high\",\"host\":{\"machine_id\":\"%s\","
                         "\"name\":\"pc-%zu\"},\"agent\":{\"name\":\"mamorid\",\"version\":\"0.1.0\"},"
                         "\"policy\":{\"hash\":\"%064x\",\"ref\":\"usb.storage\"},\"user\":\"taro\","
                         "\"device\":{\"vendor\":\"0781\",\"product\":\"5581\",\"serial\":\"4C530001%08zx\","
                         "\"class\":\"storage\"},\"message\":\"USB storage blocked\"}",
                         e[i].id, seq, e[i].machine_id, h, 0, i);
                e[i].ev = (StoreEvent){
                        .id = e[i].id,
                        .machine_id = e[i].machine_id,
                        .seq = seq,
                        .time_us = 1796346000000000LL,
                        .kind = "usb.blocked",
                        .severity = "high",
                        .host_name = "pc",
                        .agent_version = "0.1.0",
                        .policy_ref = "usb.storage",
                        .user_name = "taro",
                        .device_vendor = "0781",
                        .device_product = "5581",
                        .json = e[i].json,
                        .json_len = strlen(e[i].json),
                };
                sha256(e[i].json, e[i].ev.json_len, e[i].ev.content_hash);
        }
}

static int pg_admin(const char *sql) {
        PGconn *c = PQconnectdb(getenv("MAMORI_TEST_PG_CONNINFO"));
        int r = 0;
        if (PQstatus(c) != CONNECTION_OK) {
                fprintf(stderr, "bench-store: %s", PQerrorMessage(c));
                r = -ECONNREFUSED;
        } else {
                PGresult *res = PQexec(c, sql);
                if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                        fprintf(stderr, "bench-store: %s: %s", sql, PQerrorMessage(c));
                        r = -EIO;
                }
                PQclear(res);
        }
        PQfinish(c);
        return r;
}

typedef struct Writer {
        const StoreConfig *cfg;
        StoreGroup *group;
        StoreEvent *ev;
        size_t n, batch;
        size_t stored;
        double worst;
        pthread_barrier_t *start;
        int r;
} Writer;

static void *writer_run(void *p) {
        static const FindingsConfig fc = { .silent_margin_sec = 300 };
        Writer *w = p;
        Store *s = NULL;
        w->r = store_open(w->cfg, &fc, &s);
        if (w->r >= 0 && w->group)
                w->r = store_join_group(s, w->group);
        pthread_barrier_wait(w->start);
        for (size_t i = 0; i < w->n && w->r >= 0; i += w->batch) {
                StoreBatch b = { .received_us = 1796346000000000LL + (int64_t) i,
                                 .peer = "192.0.2.1:4000",
                                 .events = w->ev + i,
                                 .n_events = MIN(w->batch, w->n - i) };
                StoreIngestResult res = {};
                double t = now_sec();
                w->r = store_ingest(s, &b, &res);
                w->worst = MAX(w->worst, now_sec() - t);
                w->stored += res.stored;
        }
        store_free(s);
        return NULL;
}

static int bench(const char *backend, size_t batch, size_t n_events, size_t hosts, size_t writers, bool group,
                 unsigned run) {
        char dir[] = "/tmp/bench-store.XXXXXX", path[64], conninfo[1024], db[32];
        StoreConfig cfg = { .busy_timeout_ms = 30000 };
        if (strcmp(backend, "postgres") == 0) {
                if (!getenv("MAMORI_TEST_PG_CONNINFO")) {
                        fprintf(stderr, "bench-store: postgres needs MAMORI_TEST_PG_CONNINFO "
                                        "(tests/unit/with-postgres.sh)\n");
                        return -EINVAL;
                }
                snprintf(db, sizeof db, "bench_%u_%u", (unsigned) getpid(), run);
                char sql[64];
                snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
                if (pg_admin(sql) < 0)
                        return -EIO;
                snprintf(conninfo, sizeof conninfo, "%s dbname=%s", getenv("MAMORI_TEST_PG_CONNINFO"), db);
                cfg.backend = STORE_POSTGRES;
                cfg.pg_conninfo = conninfo;
        } else {
                if (!mkdtemp(dir))
                        return -errno;
                snprintf(path, sizeof path, "%s/collector.db", dir);
                cfg.backend = STORE_SQLITE;
                cfg.sqlite_path = path;
        }

        /* Each writer its own hosts (an agent posts to one worker at a time). */
        size_t per = n_events / writers;
        BenchEvent *e = calloc(n_events, sizeof *e);
        StoreEvent *ev = calloc(n_events, sizeof *ev);
        Writer *w = calloc(writers, sizeof *w);
        pthread_t *th = calloc(writers, sizeof *th);
        StoreGroup *g = NULL;
        int r = 0;
        if (!e || !ev || !w || !th)
                r = -ENOMEM;
        if (r >= 0 && group)
                r = store_group_new(&g);
        if (r < 0) {
                free(e);
                free(ev);
                free(w);
                free(th);
                return r;
        }
        for (size_t t = 0; t < writers; t++) {
                make_events(e + t * per, per, hosts, t * hosts, run * 64 + (unsigned) t);
                for (size_t i = 0; i < per; i++)
                        ev[t * per + i] = e[t * per + i].ev;
        }

        /* The schema made once, before the clock starts. */
        {
                static const FindingsConfig fc0 = { .silent_margin_sec = 300 };
                Store *s = NULL;
                r = store_open(&cfg, &fc0, &s);
                if (r < 0)
                        fprintf(stderr, "bench-store: cannot open the %s store: %s\n", backend, strerror(-r));
                store_free(s);
        }
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, (unsigned) writers + 1);
        size_t started = 0;
        for (size_t t = 0; r >= 0 && t < writers; t++) {
                w[t] = (Writer){ .cfg = &cfg, .group = g, .ev = ev + t * per, .n = per, .batch = batch, .start = &start };
                if (pthread_create(&th[t], NULL, writer_run, &w[t]) != 0)
                        r = -EAGAIN;
                else
                        started++;
        }
        if (started < writers) {
                /* Never happens on a sane machine; the started ones wait at the barrier for ever. */
                fprintf(stderr, "bench-store: cannot start the writers\n");
                exit(1);
        }
        pthread_barrier_wait(&start);
        double begin = now_sec(), worst = 0;
        size_t stored = 0;
        for (size_t t = 0; t < started; t++) {
                pthread_join(th[t], NULL);
                stored += w[t].stored;
                worst = MAX(worst, w[t].worst);
                if (w[t].r < 0 && r >= 0)
                        r = w[t].r;
        }
        double took = now_sec() - begin;
        pthread_barrier_destroy(&start);
        store_group_unref(g);
        if (r < 0)
                fprintf(stderr, "bench-store: ingest failed: %s\n", strerror(-r));
        else
                printf("%-9s batch %5zu, %zu writer%s%s: %7zu events in %6.2f s = %8.0f events/s, "
                       "%7.1f ms/batch (worst %.1f ms)\n",
                       backend, batch, writers, writers == 1 ? "" : "s", group ? " (group)" : "", stored, took,
                       (double) stored / took,
                       took * 1000.0 * (double) writers / (double) ((n_events + batch - 1) / batch), worst * 1000.0);
        if (cfg.backend == STORE_POSTGRES) {
                char sql[64];
                snprintf(sql, sizeof sql, "DROP DATABASE %s", db);
                (void) pg_admin(sql);
        } else {
                char cmd[96];
                snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
                (void) !system(cmd);
        }
        free(e);
        free(ev);
        free(w);
        free(th);
        return r < 0 ? r : 0;
}

int main(int argc, char **argv) {
        size_t n_events = 20000, hosts = 100, writers = 1;
        bool group = false;
        int i = 1;
        for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
                if (strcmp(argv[i], "--group") == 0) {
                        group = true;
                        i--;
                        continue;
                }
                if (i + 1 >= argc)
                        break;
                if (strcmp(argv[i], "--writers") == 0)
                        writers = strtoul(argv[i + 1], NULL, 10);
                else if (strcmp(argv[i], "--events") == 0)
                        n_events = strtoul(argv[i + 1], NULL, 10);
                else if (strcmp(argv[i], "--hosts") == 0)
                        hosts = strtoul(argv[i + 1], NULL, 10);
                else {
                        fprintf(stderr,
                                "usage: bench-store [--events N] [--hosts H] [--writers N] [--group] [sqlite|postgres]...\n");
                        return 2;
                }
        }
        if (n_events == 0 || hosts == 0 || writers == 0 || writers > 64 || hosts > 1000000)
                return 2;
        const char *def[] = { "sqlite" };
        const char **backends = i < argc ? (const char **) argv + i : def;
        size_t n_backends = i < argc ? (size_t) (argc - i) : 1;
        unsigned run = 0;
        int rc = 0;
        for (size_t k = 0; k < n_backends; k++) {
                const size_t batches[] = { 1, 100, 1000 };
                for (size_t j = 0; j < ELEMENTSOF(batches); j++) {
                        /* One event per transaction is one fsync each: fewer of them. */
                        size_t n = batches[j] == 1 ? MIN(n_events, (size_t) 2000) : n_events;
                        if (bench(backends[k], batches[j], n, hosts, writers, group, ++run) < 0)
                                rc = 1;
                }
        }
        return rc;
}
