/* SPDX-License-Identifier: MIT */
/* The shared backend (issue 12 item 4): PostgreSQL 13+ through libpq, for
 * several collector instances writing one database.
 *
 * - De-duplication across instances: events is partitioned by month, and a
 *   unique index on a partitioned table must contain the partition key; so
 *   the key is a separate table event_ids (id PRIMARY KEY, received_at,
 *   content_hash), inserted first with ON CONFLICT DO NOTHING. Two instances
 *   storing the same event serialize on that row; the second sees the first's
 *   content hash (duplicate or conflict).
 * - Host rows are locked (INSERT … ON CONFLICT DO NOTHING, then SELECT … FOR
 *   UPDATE) in machine_id order, so that two instances never compute a
 *   host's findings from the same old state, and never deadlock on it.
 * - Export order: a bigserial is taken at INSERT time, not at COMMIT, so a
 *   reader could see row 11 before row 10 commits and step its cursor past
 *   10 for good. Every writer of events therefore takes one transaction-level
 *   advisory lock (STORE_PG_EXPORT_LOCK) just before it inserts its event rows
 *   and keeps it to COMMIT: row_ids are handed out in commit order and the
 *   committed rows are always a prefix of row_id order. The lock covers only
 *   the final INSERTs and the COMMIT (host locks and findings are done before).
 * - Retention: whole monthly partitions are dropped once their end is past
 *   the longest class's days; rows of the other classes (and of the longest
 *   in the month that straddles its limit) are deleted in batches.
 * - A lost connection gives -ENOTCONN (the HTTP layer answers 503); the next
 *   call reconnects (-ECONNREFUSED while the server is away).
 * - lock_timeout = busy_timeout_ms: a lock that cannot be had in time gives
 *   -EBUSY (503) rather than a request that waits without bound. */

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "log.h"
#include "macro.h"
#include "store-backend.h"
#include "store-schema.h"

#define STORE_PG_EXPORT_LOCK INT64_C(0x6d616d6f72690001)    /* "mamori" 1 */
#define STORE_PG_SCHEMA_LOCK INT64_C(0x6d616d6f72690002)    /* migrations */
#define STORE_PG_PARTITION_LOCK INT64_C(0x6d616d6f72690003) /* CREATE TABLE … PARTITION OF */
#define STORE_PG_MONTHS 32                                  /* partitions known to exist */
#define STORE_PG_MAX_PARAMS 20

#define HOST_COLUMNS \
        "machine_id, host_name, agent_version, policy_hash, cert_fingerprint, first_seen, last_seen, " \
        "last_event_time, max_seq, events, heartbeat_interval_sec, last_kind, fail_closed, silent, " \
        "silent_since, stopped, stopping_at, spool_depth, due_at"

struct Store {
        StoreBase base;
        PGconn *conn;
        char *conninfo;
        unsigned busy_timeout_ms;
        unsigned months[STORE_PG_MONTHS]; /* YYYYMM of partitions made or seen */
        size_t n_months;
        bool prepared; /* pg_stmts on this connection */
};

/* A collector.* event waiting for the export lock (see above). */
typedef struct Pending {
        char uuid[37];
        char kind[80];
        StoreEvent ev;
        char buf[STORE_COLLECTOR_EVENT_MAX];
} Pending;

typedef struct PendingList {
        const StoreEvent **events; /* the batch's new events, then the collector's */
        size_t n, allocated;
        Pending **owned;
        size_t n_owned;
} PendingList;

static void pending_done(PendingList *l) {
        for (size_t i = 0; i < l->n_owned; i++)
                free(l->owned[i]);
        free(l->owned);
        free(l->events);
        *l = (PendingList){};
}

static int pending_add(PendingList *l, const StoreEvent *e) {
        if (l->n == l->allocated) {
                size_t n = MAX(l->allocated * 2, (size_t) 64);
                const StoreEvent **p = reallocarray(l->events, n, sizeof *p);
                if (!p)
                        return -ENOMEM;
                l->events = p;
                l->allocated = n;
        }
        l->events[l->n++] = e;
        return 0;
}

static Pending *pending_new(PendingList *l) {
        Pending **o = reallocarray(l->owned, l->n_owned + 1, sizeof *o);
        if (!o)
                return NULL;
        l->owned = o;
        Pending *p = calloc(1, sizeof *p);
        if (p)
                l->owned[l->n_owned++] = p;
        return p;
}

/* ---- parameters ---- */

typedef struct Params {
        const char *v[STORE_PG_MAX_PARAMS];
        int len[STORE_PG_MAX_PARAMS];
        int fmt[STORE_PG_MAX_PARAMS];
        char num[STORE_PG_MAX_PARAMS][24];
        int n;
} Params;

static void p_text(Params *p, const char *v) {
        p->v[p->n] = v;
        p->len[p->n] = 0;
        p->fmt[p->n] = 0;
        p->n++;
}

static void p_int(Params *p, int64_t v) {
        snprintf(p->num[p->n], sizeof p->num[p->n], "%" PRId64, v);
        p_text(p, p->num[p->n]);
}

static void p_bin(Params *p, const void *v, size_t len) {
        p->v[p->n] = v;
        p->len[p->n] = (int) len;
        p->fmt[p->n] = 1;
        p->n++;
}

static void pqclearp(PGresult **r) {
        if (*r)
                PQclear(*r);
}
#define _cleanup_pgresult_ _cleanup_(pqclearp)

/* ---- errors and the connection ---- */

static int pg_errno(Store *s, const PGresult *res) {
        if (PQstatus(s->conn) != CONNECTION_OK)
                return -ENOTCONN;
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        if (!state)
                return -EIO;
        if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
                return -ENOTCONN; /* connection exception, admin shutdown */
        if (streq(state, "55P03"))
                return -EBUSY; /* lock_timeout */
        if (streq(state, "40001") || streq(state, "40P01") || strncmp(state, "53", 2) == 0)
                return -EAGAIN; /* serialization, deadlock, out of resources */
        if (streq(state, "57014"))
                return -ETIMEDOUT;
        if (streq(state, "23514"))
                return -ESRCH; /* no partition for the row */
        return -EIO;
}

/* libpq's messages end in a newline and may span lines: one line for the log. */
static const char *pg_message(const char *m, char *buf, size_t size) {
        snprintf(buf, size, "%s", m ?: "");
        for (char *p = buf; *p; p++)
                if (*p == '\n' || *p == '\t')
                        *p = ' ';
        for (size_t n = strlen(buf); n > 0 && buf[n - 1] == ' '; n--)
                buf[n - 1] = 0;
        return buf;
}

/* The one place a database error is logged. */
static int pg_fail(Store *s, const PGresult *res, const char *what) {
        int r = pg_errno(s, res);
        const char *m = res ? PQresultErrorMessage(res) : NULL;
        char msg[512];
        pg_message(m && *m ? m : PQerrorMessage(s->conn), msg, sizeof msg);
        if (r == -EBUSY || r == -EAGAIN)
                return log_debug_errno(r, "PostgreSQL: %s: %s", what, msg);
        if (r == -ENOTCONN)
                return log_warning_errno(r, "PostgreSQL: %s: connection lost: %s", what, msg);
        return log_error_errno(r, "PostgreSQL: %s: %s", what, msg);
}

static int pg_exec_params(Store *s, const char *sql, const Params *p, ExecStatusType expect, PGresult **ret) {
        /* Without parameters: the simple protocol, which takes several statements (the schema). */
        PGresult *res = p ? PQexecParams(s->conn, sql, p->n, NULL, p->v, p->len, p->fmt, 0) : PQexec(s->conn, sql);
        if (!res || PQresultStatus(res) != expect) {
                int r = pg_fail(s, res, sql);
                PQclear(res);
                return r;
        }
        if (ret)
                *ret = res;
        else
                PQclear(res);
        return 0;
}

static int pg_exec(Store *s, const char *sql) {
        return pg_exec_params(s, sql, NULL, PGRES_COMMAND_OK, NULL);
}

static int pg_command(Store *s, const char *sql, const Params *p, uint64_t *affected) {
        _cleanup_pgresult_ PGresult *res = NULL;
        int r = pg_exec_params(s, sql, p, PGRES_COMMAND_OK, &res);
        if (r < 0)
                return r;
        if (affected)
                *affected = strtoull(PQcmdTuples(res), NULL, 10);
        return 0;
}

static int pg_query(Store *s, const char *sql, const Params *p, PGresult **ret) {
        return pg_exec_params(s, sql, p, PGRES_TUPLES_OK, ret);
}

/* (Re)connects when the connection is gone; a server that is away gives
 * -ECONNREFUSED, which the HTTP layer answers 503 like -ENOTCONN. */
static int pg_ready(Store *s) {
        if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
                return 0;
        if (s->conn)
                PQreset(s->conn);
        else
                s->conn = PQconnectdb(s->conninfo);
        if (!s->conn)
                return log_oom();
        if (PQstatus(s->conn) != CONNECTION_OK) {
                char msg[512];
                return log_warning_errno(ECONNREFUSED, "PostgreSQL: cannot connect: %s",
                                         pg_message(PQerrorMessage(s->conn), msg, sizeof msg));
        }
        s->n_months = 0; /* partitions may have come and gone meanwhile */
        s->prepared = false;
        /* force_custom_plan: the prepared statements look rows up by
         * "= ANY($1::text[])"; a generic plan, blind to the array, was seen
         * to scan event_ids whole (a batch's cost growing with the table). A
         * plan per run costs far less than that. */
        char sql[320];
        snprintf(sql, sizeof sql,
                 "SET lock_timeout = %u; SET synchronous_commit = on; SET client_min_messages = warning; "
                 "SET client_encoding = 'UTF8'; SET plan_cache_mode = force_custom_plan",
                 s->busy_timeout_ms);
        return pg_exec(s, sql);
}

static int pg_begin(Store *s) {
        return pg_exec(s, "BEGIN");
}

static int pg_end(Store *s, int r) {
        if (r < 0) {
                if (PQstatus(s->conn) == CONNECTION_OK)
                        PQclear(PQexec(s->conn, "ROLLBACK"));
                return r;
        }
        r = pg_exec(s, "COMMIT");
        if (r < 0 && PQstatus(s->conn) == CONNECTION_OK)
                PQclear(PQexec(s->conn, "ROLLBACK"));
        return r;
}

static int64_t get_int(const PGresult *res, int row, int col) {
        return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static void copy_text(char *dst, size_t size, const char *src) {
        snprintf(dst, size, "%s", src ?: "");
}

static int pg_lock(Store *s, int64_t key) {
        Params p = {};
        p_int(&p, key);
        return pg_query(s, "SELECT pg_advisory_xact_lock($1::bigint)", &p, NULL);
}

/* ---- schema and partitions ---- */

static int pg_schema_version(Store *s, unsigned *ret) {
        _cleanup_pgresult_ PGresult *res = NULL;
        int r = pg_query(s, "SELECT to_regclass('meta') IS NOT NULL", NULL, &res);
        if (r < 0)
                return r;
        *ret = 0;
        if (!streq(PQgetvalue(res, 0, 0), "t"))
                return 0;
        PQclear(res);
        res = NULL;
        r = pg_query(s, "SELECT value FROM meta WHERE key = 'schema_version'", NULL, &res);
        if (r < 0)
                return r;
        if (PQntuples(res) > 0)
                *ret = (unsigned) strtoul(PQgetvalue(res, 0, 0), NULL, 10);
        return 0;
}

static int pg_migrate_in_tx(Store *s) {
        int r = pg_lock(s, STORE_PG_SCHEMA_LOCK);
        if (r < 0)
                return r;
        unsigned version = 0;
        r = pg_schema_version(s, &version);
        if (r < 0)
                return r;
        if (version > STORE_SCHEMA_VERSION)
                return log_error_errno(EPROTONOSUPPORT,
                                       "PostgreSQL: the database has schema version %u, this collector knows up "
                                       "to %u.",
                                       version, STORE_SCHEMA_VERSION);
        size_t n;
        const StoreMigration *m = store_schema_migrations(STORE_DIALECT_POSTGRES, &n);
        for (size_t i = 0; i < n; i++) {
                if (m[i].version <= version)
                        continue;
                r = pg_exec(s, m[i].sql);
                if (r < 0)
                        return r;
                Params p = {};
                p_int(&p, m[i].version);
                r = pg_command(s,
                               "INSERT INTO meta (key, value) VALUES ('schema_version', $1) "
                               "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                               &p, NULL);
                if (r < 0)
                        return r;
                log_info("PostgreSQL: schema migrated to version %u.", m[i].version);
        }
        return 0;
}

static bool pg_month_known(Store *s, unsigned yyyymm) {
        for (size_t i = 0; i < s->n_months; i++)
                if (s->months[i] == yyyymm)
                        return true;
        return false;
}

/* The partition of t_us's month and of the next one (ahead of need), in
 * their own short transaction: CREATE TABLE … PARTITION OF locks the parent. */
static int pg_ensure_partition(Store *s, int64_t t_us) {
        int64_t start, end, start2, end2;
        unsigned m, m2;
        store_month_bounds(t_us, &start, &end, &m);
        store_month_bounds(end, &start2, &end2, &m2);
        if (pg_month_known(s, m) && pg_month_known(s, m2))
                return 0;
        int r = pg_begin(s);
        if (r < 0)
                return r;
        r = pg_lock(s, STORE_PG_PARTITION_LOCK);
        for (int i = 0; r >= 0 && i < 2; i++) {
                char sql[256];
                snprintf(sql, sizeof sql,
                         "CREATE TABLE IF NOT EXISTS events_%06u PARTITION OF events "
                         "FOR VALUES FROM (%" PRId64 ") TO (%" PRId64 ")",
                         i == 0 ? m : m2, i == 0 ? start : start2, i == 0 ? end : end2);
                r = pg_exec(s, sql);
        }
        r = pg_end(s, r);
        if (r < 0)
                return r;
        if (s->n_months + 2 > STORE_PG_MONTHS)
                s->n_months = 0;
        s->months[s->n_months++] = m;
        s->months[s->n_months++] = m2;
        return 0;
}

/* ---- pipelines ----
 * A batch costs a few round trips, not a few per event: the statements of
 * each step go out in libpq's pipeline mode (PostgreSQL 14's client; any
 * server), in chunks of STORE_PG_PIPE_CHUNK so that neither side's socket
 * buffer fills while the other is still sending. */

#define STORE_PG_PIPE_CHUNK 256

typedef struct PgPipe {
        Store *s;
        bool keep;      /* keep every result (in order), else only check them */
        PGresult **res; /* keep: one per statement sent */
        size_t n, allocated;
        size_t in_flight; /* sent, not yet read */
        int error;        /* the first error */
} PgPipe;

static void pg_pipe_done(PgPipe *p) {
        for (size_t i = 0; i < p->n; i++)
                PQclear(p->res[i]);
        free(p->res);
        p->res = NULL;
        p->n = p->allocated = 0;
}

/* Reads the results of what is in flight, up to the sync point. */
static int pg_pipe_drain(PgPipe *p) {
        Store *s = p->s;
        if (p->in_flight == 0)
                return p->error;
        if (PQpipelineSync(s->conn) != 1) {
                p->in_flight = 0;
                return p->error = pg_fail(s, NULL, "pipeline sync");
        }
        for (; p->in_flight > 0; p->in_flight--) {
                PGresult *res = PQgetResult(s->conn);
                if (!res) {
                        p->in_flight = 0;
                        if (p->error >= 0)
                                p->error = pg_fail(s, NULL, "pipeline");
                        return p->error;
                }
                ExecStatusType st = PQresultStatus(res);
                if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && p->error >= 0) {
                        if (st != PGRES_PIPELINE_ABORTED)
                                p->error = pg_fail(s, res, "pipeline");
                        else
                                p->error = -EIO;
                }
                if (p->keep && p->error >= 0) {
                        if (p->n == p->allocated) {
                                size_t n = MAX(p->allocated * 2, (size_t) 64);
                                PGresult **a = reallocarray(p->res, n, sizeof *a);
                                if (!a) {
                                        PQclear(res);
                                        p->error = log_oom();
                                        continue;
                                }
                                p->res = a;
                                p->allocated = n;
                        }
                        p->res[p->n++] = res;
                } else
                        PQclear(res);
                /* The end of this statement's results. */
                while ((res = PQgetResult(s->conn)))
                        PQclear(res);
        }
        PGresult *sync = PQgetResult(s->conn);
        if (!sync || PQresultStatus(sync) != PGRES_PIPELINE_SYNC) {
                if (p->error >= 0)
                        p->error = pg_fail(s, sync, "pipeline sync");
        }
        PQclear(sync);
        return p->error;
}

static int pg_pipe_begin(Store *s, PgPipe *p, bool keep) {
        *p = (PgPipe){ .s = s, .keep = keep };
        if (PQenterPipelineMode(s->conn) != 1)
                return pg_fail(s, NULL, "pipeline mode");
        return 0;
}

/* Drains, leaves pipeline mode; returns the first error. */
static int pg_pipe_end(PgPipe *p) {
        int r = pg_pipe_drain(p);
        if (PQpipelineStatus(p->s->conn) != PQ_PIPELINE_OFF && PQexitPipelineMode(p->s->conn) != 1 && r >= 0)
                r = pg_fail(p->s, NULL, "pipeline end");
        return r;
}

static void pg_pipe_send_fmt(PgPipe *p, const char *sql, const Params *q, int result_format) {
        if (p->error < 0)
                return;
        if (PQsendQueryParams(p->s->conn, sql, q ? q->n : 0, NULL, q ? q->v : NULL, q ? q->len : NULL,
                              q ? q->fmt : NULL, result_format) != 1) {
                p->error = pg_fail(p->s, NULL, sql);
                return;
        }
        if (++p->in_flight >= STORE_PG_PIPE_CHUNK)
                (void) pg_pipe_drain(p);
}

static void pg_pipe_send(PgPipe *p, const char *sql, const Params *q) {
        pg_pipe_send_fmt(p, sql, q, 0);
}

/* ---- arrays and prepared statements ----
 * Each step of a batch is one statement over arrays (INSERT … SELECT FROM
 * unnest($1::text[], …)), not one statement per row: the server parses,
 * plans and runs it once, whatever the batch's size. The arrays go in
 * PostgreSQL's binary format (the JSON lines need no quoting); the
 * statements are prepared once per connection. */

#define PG_OID_BYTEA 17
#define PG_OID_INT8 20
#define PG_OID_TEXT 25
#define PG_ARRAY_HEADER 20 /* ndim, flags, element type, size, lower bound */

typedef struct PgArray {
        char *buf;
        size_t len, allocated;
        uint32_t n;
        bool nulls;
        int error;
} PgArray;

static void pga_put(PgArray *a, const void *p, size_t len) {
        if (a->error < 0)
                return;
        if (len > SIZE_MAX / 4 - a->len) {
                a->error = -E2BIG;
                return;
        }
        if (a->len + len > a->allocated) {
                size_t n = MAX(a->allocated * 2, a->len + len + 256);
                char *b = realloc(a->buf, n);
                if (!b) {
                        a->error = -ENOMEM;
                        return;
                }
                a->buf = b;
                a->allocated = n;
        }
        memcpy(a->buf + a->len, p, len);
        a->len += len;
}

static void pga_u32(PgArray *a, uint32_t v) {
        v = htobe32(v);
        pga_put(a, &v, sizeof v);
}

static void pga_begin(PgArray *a, uint32_t oid) {
        *a = (PgArray){};
        pga_u32(a, 1); /* one dimension */
        pga_u32(a, 0); /* has nulls: set at the end */
        pga_u32(a, oid);
        pga_u32(a, 0); /* its size: set at the end */
        pga_u32(a, 1); /* its lower bound */
}

/* p NULL: an SQL NULL. */
static void pga_bytes(PgArray *a, const void *p, size_t len) {
        if (!p) {
                pga_u32(a, UINT32_MAX); /* -1 */
                a->nulls = true;
        } else if (len > INT32_MAX)
                a->error = -E2BIG;
        else {
                pga_u32(a, (uint32_t) len);
                pga_put(a, p, len);
        }
        a->n++;
}

static void pga_text(PgArray *a, const char *s) {
        pga_bytes(a, s, s ? strlen(s) : 0);
}

static void pga_int(PgArray *a, int64_t v) {
        uint64_t x = htobe64((uint64_t) v);
        pga_u32(a, sizeof x);
        pga_put(a, &x, sizeof x);
        a->n++;
}

static int pga_end(PgArray *a) {
        if (a->error >= 0 && (a->len > INT32_MAX || a->n > INT32_MAX))
                a->error = -E2BIG;
        if (a->error < 0)
                return a->error;
        uint32_t v = htobe32(a->nulls);
        memcpy(a->buf + 4, &v, sizeof v);
        if (a->n == 0) {
                v = 0; /* an empty array has no dimension */
                memcpy(a->buf, &v, sizeof v);
                a->len = 12;
        } else {
                v = htobe32(a->n);
                memcpy(a->buf + 12, &v, sizeof v);
        }
        return 0;
}

static void pga_free(PgArray *a, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(a[i].buf);
}

/* Ends the arrays and makes them the parameters of p (borrowed: send
 * before the arrays are freed). */
static int p_arrays(Params *p, PgArray *a, size_t n) {
        for (size_t i = 0; i < n; i++) {
                int r = pga_end(&a[i]);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0)
                        return log_error_errno(r, "PostgreSQL: a batch too large for one statement.");
                p_bin(p, a[i].buf, a[i].len);
        }
        return 0;
}

typedef enum PgStmt {
        PS_HOSTS_NEW,
        PS_HOSTS_LOCK,
        PS_GAPS_LOAD,
        PS_OPEN_FINDINGS,
        PS_CLAIM,
        PS_HASHES,
        PS_EVENTS,
        PS_HOSTS_SAVE,
        PS_GAPS_DELETE,
        PS_GAPS_INSERT,
        _PS_MAX,
} PgStmt;

static const struct {
        const char *name, *sql;
} pg_stmts[_PS_MAX] = {
        [PS_HOSTS_NEW] = { "mamori_hosts_new", "INSERT INTO hosts (machine_id) SELECT * FROM unnest($1::text[]) "
                                               "ON CONFLICT (machine_id) DO NOTHING" },
        /* ORDER BY: the rows are locked in that order (no deadlock between instances). */
        [PS_HOSTS_LOCK] = { "mamori_hosts_lock", "SELECT " HOST_COLUMNS " FROM hosts WHERE machine_id = "
                                                 "ANY($1::text[]) ORDER BY machine_id FOR UPDATE" },
        [PS_GAPS_LOAD] = { "mamori_gaps_load", "SELECT machine_id, first_seq, last_seq, seen_at, explained FROM gaps "
                                               "WHERE machine_id = ANY($1::text[]) ORDER BY machine_id, first_seq" },
        [PS_OPEN_FINDINGS] = { "mamori_open_findings", "SELECT machine_id, kind FROM findings WHERE machine_id = "
                                                       "ANY($1::text[]) AND closed_at IS NULL" },
        [PS_CLAIM] = { "mamori_claim", "INSERT INTO event_ids (id, received_at, content_hash) SELECT * FROM "
                                       "unnest($1::text[], $2::bigint[], $3::bytea[]) ON CONFLICT (id) DO NOTHING "
                                       "RETURNING id" },
        [PS_HASHES] = { "mamori_hashes", "SELECT id, content_hash FROM event_ids WHERE id = ANY($1::text[])" },
        [PS_EVENTS] = { "mamori_events",
                        "INSERT INTO events (id, machine_id, seq, time, received_at, kind, severity, policy_ref, "
                        "user_name, device_vendor, device_product, device_serial, content_hash, json) SELECT * FROM "
                        "unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], "
                        "$7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::bytea[], "
                        "$14::text[])" },
        [PS_HOSTS_SAVE] = { "mamori_hosts_save",
                            "UPDATE hosts h SET host_name = u.host_name, agent_version = u.agent_version, "
                            "policy_hash = u.policy_hash, cert_fingerprint = u.cert_fingerprint, first_seen = "
                            "u.first_seen, last_seen = u.last_seen, last_event_time = u.last_event_time, max_seq = "
                            "u.max_seq, events = u.events, heartbeat_interval_sec = u.heartbeat_interval_sec, "
                            "last_kind = u.last_kind, fail_closed = u.fail_closed, silent = u.silent, silent_since = "
                            "u.silent_since, stopped = u.stopped, stopping_at = u.stopping_at, spool_depth = "
                            "u.spool_depth, due_at = u.due_at FROM unnest($1::text[], $2::text[], $3::text[], "
                            "$4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], "
                            "$10::bigint[], $11::bigint[], $12::text[], $13::bigint[], $14::bigint[], $15::bigint[], "
                            "$16::bigint[], $17::bigint[], $18::bigint[], $19::bigint[]) AS u (" HOST_COLUMNS
                            ") WHERE h.machine_id = u.machine_id" },
        [PS_GAPS_DELETE] = { "mamori_gaps_delete", "DELETE FROM gaps WHERE machine_id = ANY($1::text[])" },
        [PS_GAPS_INSERT] = { "mamori_gaps_insert", "INSERT INTO gaps (machine_id, first_seq, last_seq, seen_at, "
                                                   "explained) SELECT * FROM unnest($1::text[], $2::bigint[], "
                                                   "$3::bigint[], $4::bigint[], $5::bigint[])" },
};

/* Once per connection (a new one has none): after the schema is there. */
static int pg_prepare(Store *s) {
        if (s->prepared)
                return 0;
        /* A half-done earlier attempt on this connection left some. */
        int r = pg_exec(s, "DEALLOCATE ALL");
        if (r < 0)
                return r;
        for (size_t i = 0; i < _PS_MAX; i++) {
                _cleanup_pgresult_ PGresult *res = PQprepare(s->conn, pg_stmts[i].name, pg_stmts[i].sql, 0, NULL);
                if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
                        return pg_fail(s, res, pg_stmts[i].name);
        }
        s->prepared = true;
        return 0;
}

static void pg_pipe_send_stmt(PgPipe *p, PgStmt st, const Params *q, int result_format) {
        if (p->error < 0)
                return;
        if (PQsendQueryPrepared(p->s->conn, pg_stmts[st].name, q->n, q->v, q->len, q->fmt, result_format) != 1) {
                p->error = pg_fail(p->s, NULL, pg_stmts[st].name);
                return;
        }
        if (++p->in_flight >= STORE_PG_PIPE_CHUNK)
                (void) pg_pipe_drain(p);
}

/* A statement over one array of text (the machine_ids of a batch). */
static void pg_pipe_send_ids(PgPipe *p, PgStmt st, const PgArray *ids) {
        Params q = {};
        p_bin(&q, ids->buf, ids->len);
        pg_pipe_send_stmt(p, st, &q, 0);
}

static int pg_ids_array(PgArray *a, const HostState *hosts, size_t n) {
        pga_begin(a, PG_OID_TEXT);
        for (size_t i = 0; i < n; i++)
                pga_text(a, hosts[i].machine_id);
        Params unused = {};
        return p_arrays(&unused, a, 1);
}

/* ---- hosts ---- */

static void host_from_row(const PGresult *res, int row, HostState *h) {
        *h = (HostState){};
        copy_text(h->machine_id, sizeof h->machine_id, PQgetvalue(res, row, 0));
        copy_text(h->host_name, sizeof h->host_name, PQgetvalue(res, row, 1));
        copy_text(h->agent_version, sizeof h->agent_version, PQgetvalue(res, row, 2));
        copy_text(h->policy_hash, sizeof h->policy_hash, PQgetvalue(res, row, 3));
        copy_text(h->cert_fingerprint, sizeof h->cert_fingerprint, PQgetvalue(res, row, 4));
        h->first_seen_us = get_int(res, row, 5);
        h->last_seen_us = get_int(res, row, 6);
        h->last_event_time_us = get_int(res, row, 7);
        h->max_seq = (uint64_t) get_int(res, row, 8);
        h->events = (uint64_t) get_int(res, row, 9);
        h->heartbeat_interval_sec = (unsigned) get_int(res, row, 10);
        copy_text(h->last_kind, sizeof h->last_kind, PQgetvalue(res, row, 11));
        h->fail_closed = get_int(res, row, 12) != 0;
        h->silent = get_int(res, row, 13) != 0;
        h->silent_since_us = get_int(res, row, 14);
        h->stopped = get_int(res, row, 15) != 0;
        h->stopping_us = get_int(res, row, 16);
        h->spool_depth = (uint64_t) get_int(res, row, 17);
        h->due_us = get_int(res, row, 18);
}

static const char gaps_sql[] = "SELECT first_seq, last_seq, seen_at, explained FROM gaps WHERE machine_id = $1 "
                               "ORDER BY first_seq";

static void gaps_from_result(const PGresult *res, HostState *h) {
        h->n_gaps = 0;
        for (int i = 0; i < PQntuples(res) && h->n_gaps < FINDINGS_MAX_GAPS; i++)
                h->gaps[h->n_gaps++] = (SeqRange){
                        .first = (uint64_t) get_int(res, i, 0),
                        .last = (uint64_t) get_int(res, i, 1),
                        .seen_us = get_int(res, i, 2),
                        .explained = get_int(res, i, 3) != 0,
                };
}

static int pg_gaps_load(Store *s, HostState *h) {
        Params p = {};
        p_text(&p, h->machine_id);
        _cleanup_pgresult_ PGresult *res = NULL;
        int r = pg_query(s, gaps_sql, &p, &res);
        if (r < 0)
                return r;
        gaps_from_result(res, h);
        return 0;
}

/* The finding kinds open for a host (the findings table): a CLOSE of a kind
 * that is not open changes nothing and is not written (no collector.* event
 * for it). Past STORE_PG_OPEN_KINDS kinds every CLOSE is written. */
#define STORE_PG_OPEN_KINDS 16

typedef struct OpenKinds {
        char kind[STORE_PG_OPEN_KINDS][48];
        size_t n;
        bool overflow;
} OpenKinds;

static bool open_kinds_has(const OpenKinds *o, const char *kind) {
        for (size_t i = 0; i < o->n; i++)
                if (streq(o->kind[i], kind))
                        return true;
        return o->overflow;
}

static void open_kinds_add(OpenKinds *o, const char *kind) {
        if (o->overflow || open_kinds_has(o, kind))
                return;
        if (o->n >= STORE_PG_OPEN_KINDS || strlen(kind) >= sizeof o->kind[0])
                o->overflow = true;
        else
                copy_text(o->kind[o->n++], sizeof o->kind[0], kind);
}

static void open_kinds_remove(OpenKinds *o, const char *kind) {
        for (size_t i = 0; i < o->n; i++)
                if (streq(o->kind[i], kind)) {
                        memmove(o->kind[i], o->kind[i + 1], (o->n - i - 1) * sizeof o->kind[0]);
                        o->n--;
                        return;
                }
}

static int host_cmp(const void *a, const void *b) {
        return strcmp(((const HostState *) a)->machine_id, ((const HostState *) b)->machine_id);
}

/* hosts is sorted by machine_id (strcmp). */
static HostState *host_find(HostState *hosts, size_t n, const char *machine_id) {
        HostState key;
        copy_text(key.machine_id, sizeof key.machine_id, machine_id);
        return n > 0 ? bsearch(&key, hosts, n, sizeof *hosts, host_cmp) : NULL;
}

/* The rows of PS_GAPS_LOAD and PS_OPEN_FINDINGS to their hosts. */
static void hosts_fill(HostState *hosts, OpenKinds *open, size_t n, const PGresult *gaps, const PGresult *kinds) {
        for (size_t i = 0; i < n; i++)
                hosts[i].n_gaps = 0;
        for (int i = 0; i < PQntuples(gaps); i++) {
                HostState *h = host_find(hosts, n, PQgetvalue(gaps, i, 0));
                if (!h || h->n_gaps >= FINDINGS_MAX_GAPS)
                        continue;
                h->gaps[h->n_gaps++] = (SeqRange){
                        .first = (uint64_t) get_int(gaps, i, 1),
                        .last = (uint64_t) get_int(gaps, i, 2),
                        .seen_us = get_int(gaps, i, 3),
                        .explained = get_int(gaps, i, 4) != 0,
                };
        }
        for (int i = 0; i < PQntuples(kinds); i++) {
                HostState *h = host_find(hosts, n, PQgetvalue(kinds, i, 0));
                if (h)
                        open_kinds_add(&open[h - hosts], PQgetvalue(kinds, i, 1));
        }
}

/* Creates the rows of new hosts and locks every host row of the batch until
 * the transaction ends, in machine_id order (the same order in every
 * instance: no deadlock between them); their gaps and open findings. Sent
 * into p (kept results from *first on: 4 of them). */
static void pg_send_hosts_lock(PgPipe *p, const PgArray *ids) {
        pg_pipe_send_ids(p, PS_HOSTS_NEW, ids);
        pg_pipe_send_ids(p, PS_HOSTS_LOCK, ids);
        pg_pipe_send_ids(p, PS_GAPS_LOAD, ids);
        pg_pipe_send_ids(p, PS_OPEN_FINDINGS, ids);
}

static int pg_hosts_locked(PGresult *const *res, HostState *hosts, OpenKinds *open, size_t n) {
        const PGresult *rows = res[1];
        size_t found = 0;
        for (int i = 0; i < PQntuples(rows); i++) {
                HostState *h = host_find(hosts, n, PQgetvalue(rows, i, 0));
                if (!h)
                        continue;
                host_from_row(rows, i, h);
                found++;
        }
        if (found != n)
                return log_error_errno(EIO, "PostgreSQL: %zu of the %zu host rows of a batch vanished.", n - found, n);
        hosts_fill(hosts, open, n, res[2], res[3]);
        return 0;
}

/* Called on the hosts as loaded: without gap rows there is nothing for
 * pg_hosts_save() to delete (the common case). */
static bool hosts_have_gaps(const HostState *hosts, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (hosts[i].n_gaps > 0)
                        return true;
        return false;
}

/* had_gaps: hosts_have_gaps() when they were loaded. */
static int pg_hosts_save(PgPipe *w, const HostState *hosts, size_t n, bool had_gaps) {
        enum { N_COLS = 19 };
        PgArray a[N_COLS], ids, g[5];
        static const uint32_t oid[N_COLS] = { PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT,
                                              PG_OID_INT8, PG_OID_INT8, PG_OID_INT8, PG_OID_INT8, PG_OID_INT8,
                                              PG_OID_INT8, PG_OID_TEXT, PG_OID_INT8, PG_OID_INT8, PG_OID_INT8,
                                              PG_OID_INT8, PG_OID_INT8, PG_OID_INT8, PG_OID_INT8 };
        if (n == 0)
                return 0;
        for (size_t c = 0; c < N_COLS; c++)
                pga_begin(&a[c], oid[c]);
        pga_begin(&ids, PG_OID_TEXT);
        pga_begin(&g[0], PG_OID_TEXT);
        for (size_t c = 1; c < 5; c++)
                pga_begin(&g[c], PG_OID_INT8);
        for (size_t i = 0; i < n; i++) {
                const HostState *h = &hosts[i];
                pga_text(&a[0], h->machine_id);
                pga_text(&a[1], h->host_name);
                pga_text(&a[2], h->agent_version);
                pga_text(&a[3], h->policy_hash);
                pga_text(&a[4], h->cert_fingerprint);
                pga_int(&a[5], h->first_seen_us);
                pga_int(&a[6], h->last_seen_us);
                pga_int(&a[7], h->last_event_time_us);
                pga_int(&a[8], (int64_t) h->max_seq);
                pga_int(&a[9], (int64_t) h->events);
                pga_int(&a[10], h->heartbeat_interval_sec);
                pga_text(&a[11], h->last_kind);
                pga_int(&a[12], h->fail_closed);
                pga_int(&a[13], h->silent);
                pga_int(&a[14], h->silent_since_us);
                pga_int(&a[15], h->stopped);
                pga_int(&a[16], h->stopping_us);
                pga_int(&a[17], (int64_t) h->spool_depth);
                pga_int(&a[18], h->due_us);
                pga_text(&ids, h->machine_id);
                for (size_t k = 0; k < MIN(h->n_gaps, (size_t) FINDINGS_MAX_GAPS); k++) {
                        pga_text(&g[0], h->machine_id);
                        pga_int(&g[1], (int64_t) h->gaps[k].first);
                        pga_int(&g[2], (int64_t) h->gaps[k].last);
                        pga_int(&g[3], h->gaps[k].seen_us);
                        pga_int(&g[4], h->gaps[k].explained);
                }
        }
        Params p = {}, q = {}, r = {};
        int e = p_arrays(&p, a, N_COLS);
        if (e >= 0)
                e = p_arrays(&q, &ids, 1);
        if (e >= 0)
                e = p_arrays(&r, g, 5);
        if (e >= 0) {
                pg_pipe_send_stmt(w, PS_HOSTS_SAVE, &p, 0);
                if (had_gaps)
                        pg_pipe_send_stmt(w, PS_GAPS_DELETE, &q, 0);
                if (g[0].n > 0)
                        pg_pipe_send_stmt(w, PS_GAPS_INSERT, &r, 0);
        }
        pga_free(a, N_COLS);
        pga_free(&ids, 1);
        pga_free(g, 5);
        return e;
}

/* ---- events and findings ---- */

/* The ids of the batch: each distinct id once, in id order (the same order
 * in every instance: two claiming the same ids never deadlock). */
typedef struct Claims {
        const StoreEvent *ev;
        const size_t *idx; /* the batch's (machine_id, seq) order */
        size_t n;
        size_t *byid;  /* positions k of idx, by (id, k) */
        size_t *group; /* per k: where its id's run starts in byid */
        size_t *dist;  /* the start of each run: the distinct ids */
        size_t n_dist;
        bool *inserted;         /* per distinct id: claimed by this batch */
        const uint8_t **stored; /* per distinct id: its stored content hash */
} Claims;

static void claims_done(Claims *c) {
        free(c->byid);
        free(c->group);
        free(c->dist);
        free(c->inserted);
        free(c->stored);
}

static const char *claim_id(const Claims *c, size_t k) {
        return c->ev[c->idx[k]].id;
}

static int claim_cmp(const void *a, const void *b, void *userdata) {
        const Claims *c = userdata;
        size_t i = *(const size_t *) a, j = *(const size_t *) b;
        int r = strcmp(claim_id(c, i), claim_id(c, j));
        return r != 0 ? r : (i > j) - (i < j);
}

static int claims_init(Claims *c, const StoreEvent *ev, const size_t *idx, size_t n) {
        *c = (Claims){ .ev = ev, .idx = idx, .n = n };
        c->byid = new_array(size_t, n);
        c->group = new_array(size_t, n);
        c->dist = new_array(size_t, n);
        c->inserted = new0(bool, n);
        c->stored = new0(const uint8_t *, n);
        if (!c->byid || !c->group || !c->dist || !c->inserted || !c->stored)
                return log_oom();
        for (size_t k = 0; k < n; k++)
                c->byid[k] = k;
        qsort_r(c->byid, n, sizeof(size_t), claim_cmp, c);
        for (size_t j = 0; j < n; j++) {
                size_t k = c->byid[j];
                if (j == 0 || !streq(claim_id(c, c->byid[j - 1]), claim_id(c, k)))
                        c->dist[c->n_dist++] = k;
                c->group[k] = c->n_dist - 1;
        }
        return 0;
}

/* The distinct id equal to id, or SIZE_MAX. */
static size_t claims_find(const Claims *c, const char *id) {
        size_t lo = 0, hi = c->n_dist;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int r = strcmp(id, claim_id(c, c->dist[mid]));
                if (r == 0)
                        return mid;
                if (r < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return SIZE_MAX;
}

/* Sends the claims (one INSERT … ON CONFLICT DO NOTHING RETURNING id over
 * arrays) and the look at the stored hashes of every id of the batch: a
 * statement of its own, so that it sees the rows of other instances that
 * the INSERT waited for (READ COMMITTED: a new snapshot per statement). */
static int pg_send_claims(PgPipe *p, const Claims *c, int64_t received_us) {
        PgArray a[3];
        pga_begin(&a[0], PG_OID_TEXT);
        pga_begin(&a[1], PG_OID_INT8);
        pga_begin(&a[2], PG_OID_BYTEA);
        for (size_t i = 0; i < c->n_dist; i++) {
                const StoreEvent *e = &c->ev[c->idx[c->dist[i]]];
                pga_text(&a[0], e->id);
                pga_int(&a[1], received_us);
                pga_bytes(&a[2], e->content_hash, sizeof e->content_hash);
        }
        Params q = {}, h = {};
        int r = p_arrays(&q, a, 3);
        if (r >= 0) {
                p_bin(&h, a[0].buf, a[0].len);
                pg_pipe_send_stmt(p, PS_CLAIM, &q, 0);
                pg_pipe_send_stmt(p, PS_HASHES, &h, 1); /* binary: the hash as is */
        }
        pga_free(a, 3);
        return r;
}

/* verdict[k] = 1 new, 0 already stored with the same content, 2 with other
 * content. The first of an id twice in the batch is new (if the id was not
 * stored), the others are compared with it. */
static int claims_verdicts(Claims *c, const PGresult *claimed, const PGresult *hashes, int *verdict) {
        for (int i = 0; i < PQntuples(claimed); i++) {
                size_t g = claims_find(c, PQgetvalue(claimed, i, 0));
                if (g != SIZE_MAX)
                        c->inserted[g] = true;
        }
        for (int i = 0; i < PQntuples(hashes); i++) {
                size_t g = claims_find(c, PQgetvalue(hashes, i, 0));
                if (g != SIZE_MAX && PQgetlength(hashes, i, 1) == 32)
                        c->stored[g] = (const uint8_t *) PQgetvalue(hashes, i, 1);
        }
        for (size_t k = 0; k < c->n; k++) {
                size_t g = c->group[k];
                const StoreEvent *e = &c->ev[c->idx[k]];
                if (c->dist[g] == k && c->inserted[g])
                        verdict[k] = 1;
                else if (!c->stored[g])
                        return log_error_errno(EIO, "PostgreSQL: event id %s claimed but not found.", e->id);
                else
                        verdict[k] = memcmp(c->stored[g], e->content_hash, sizeof e->content_hash) == 0 ? 0 : 2;
        }
        return 0;
}

/* 1: written, 0: a CLOSE of a finding not open (nothing to write). */
static int pg_apply_change(PgPipe *w, const HostState *h, OpenKinds *open, const FindingChange *f, int64_t now_us,
                           PendingList *pl) {
        Params p = {};
        switch (f->action) {
        case FINDING_OPEN:
        case FINDING_NOTICE: {
                bool notice = f->action == FINDING_NOTICE;
                p_text(&p, h->machine_id);
                p_text(&p, f->kind);
                p_text(&p, f->severity);
                p_text(&p, notice ? "closed" : "open");
                p_int(&p, f->first_us ?: now_us);
                p_int(&p, f->last_us ?: now_us);
                if (notice)
                        p_int(&p, now_us);
                else
                        p_text(&p, NULL);
                p_text(&p, f->detail[0] ? f->detail : "{}");
                p_text(&p, f->message);
                /* OPEN: the open row of this host and kind is updated (the
                 * partial unique index findings_open); a NOTICE is closed at
                 * once, so it never meets that index. */
                pg_pipe_send(w,
                             "INSERT INTO findings (machine_id, kind, severity, state, first_at, last_at, "
                             "closed_at, count, detail, message) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9) "
                             "ON CONFLICT (machine_id, kind) WHERE closed_at IS NULL DO UPDATE SET "
                             "last_at = GREATEST(findings.last_at, excluded.last_at), count = findings.count + 1, "
                             "severity = excluded.severity, detail = excluded.detail, message = excluded.message",
                             &p);
                if (!notice)
                        open_kinds_add(open, f->kind);
                break;
        }
        case FINDING_CLOSE:
                if (!open_kinds_has(open, f->kind))
                        return 0;
                open_kinds_remove(open, f->kind);
                p_text(&p, h->machine_id);
                p_text(&p, f->kind);
                p_int(&p, now_us);
                p_int(&p, f->last_us);
                pg_pipe_send(w,
                             "UPDATE findings SET state = 'closed', closed_at = $3, last_at = GREATEST(last_at, $4) "
                             "WHERE machine_id = $1 AND kind = $2 AND closed_at IS NULL",
                             &p);
                break;
        default:
                return -EINVAL;
        }

        Pending *pe = pending_new(pl);
        if (!pe)
                return log_oom();
        int r = store_collector_event(f, h, now_us, pe->uuid, pe->kind, sizeof pe->kind, pe->buf, sizeof pe->buf,
                                      &pe->ev);
        if (r < 0)
                return log_error_errno(r, "The collector event of %s for %s does not fit: %m", f->kind, h->machine_id);
        return pending_add(pl, &pe->ev) < 0 ? log_oom() : 1;
}

static int pg_apply_changes(PgPipe *w, const HostState *h, OpenKinds *open, const FindingList *l, int64_t now_us,
                            PendingList *pl, size_t *count) {
        for (size_t i = 0; i < MIN(l->n, (size_t) FINDINGS_MAX_CHANGES); i++) {
                int r = pg_apply_change(w, h, open, &l->changes[i], now_us, pl);
                if (r < 0)
                        return r;
                *count += (size_t) r;
        }
        return 0;
}

/* The last statements of every transaction that stores events: the
 * collector's own events claimed (fresh random ids: no look for a
 * conflict), then the export lock (see the top) and every event of the
 * transaction in one INSERT, in arrival order. */
static int pg_send_pending(PgPipe *w, const PendingList *pl, int64_t received_us) {
        enum { N_COLS = 14 };
        static const uint32_t oid[N_COLS] = { PG_OID_TEXT, PG_OID_TEXT, PG_OID_INT8,  PG_OID_INT8, PG_OID_INT8,
                                              PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT,  PG_OID_TEXT, PG_OID_TEXT,
                                              PG_OID_TEXT, PG_OID_TEXT, PG_OID_BYTEA, PG_OID_TEXT };
        PgArray a[N_COLS], c[3];
        if (pl->n == 0)
                return 0;
        for (size_t i = 0; i < N_COLS; i++)
                pga_begin(&a[i], oid[i]);
        pga_begin(&c[0], PG_OID_TEXT);
        pga_begin(&c[1], PG_OID_INT8);
        pga_begin(&c[2], PG_OID_BYTEA);
        for (size_t i = 0; i < pl->n_owned; i++) {
                const StoreEvent *e = &pl->owned[i]->ev;
                pga_text(&c[0], e->id);
                pga_int(&c[1], received_us);
                pga_bytes(&c[2], e->content_hash, sizeof e->content_hash);
        }
        for (size_t i = 0; i < pl->n; i++) {
                const StoreEvent *e = pl->events[i];
                pga_text(&a[0], e->id);
                pga_text(&a[1], e->machine_id);
                pga_int(&a[2], (int64_t) e->seq);
                pga_int(&a[3], e->time_us);
                pga_int(&a[4], received_us);
                pga_text(&a[5], e->kind);
                pga_text(&a[6], e->severity);
                pga_text(&a[7], e->policy_ref);
                pga_text(&a[8], e->user_name);
                pga_text(&a[9], e->device_vendor);
                pga_text(&a[10], e->device_product);
                pga_text(&a[11], e->device_serial);
                pga_bytes(&a[12], e->content_hash, sizeof e->content_hash);
                pga_bytes(&a[13], e->json, e->json_len); /* text in binary format: as is, no NUL needed */
        }
        Params p = {}, q = {}, l = {};
        int r = p_arrays(&p, a, N_COLS);
        if (r >= 0)
                r = p_arrays(&q, c, 3);
        if (r >= 0) {
                if (pl->n_owned > 0)
                        pg_pipe_send_stmt(w, PS_CLAIM, &q, 0);
                p_int(&l, STORE_PG_EXPORT_LOCK);
                pg_pipe_send(w, "SELECT pg_advisory_xact_lock($1::bigint)", &l);
                pg_pipe_send_stmt(w, PS_EVENTS, &p, 0);
        }
        pga_free(a, N_COLS);
        pga_free(c, 3);
        return r;
}

static void pg_send_rejected(PgPipe *w, const StoreBatch *b) {
        for (size_t i = 0; i < b->n_rejected; i++) {
                const StoreRejected *j = &b->rejected[i];
                Params p = {};
                p_int(&p, b->received_us);
                p_text(&p, b->peer);
                p_text(&p, j->machine_id);
                p_int(&p, (int64_t) j->line_no);
                p_text(&p, j->reason ?: "");
                p_int(&p, (int64_t) j->line_len);
                p_bin(&p, j->raw ?: "", MIN(j->raw_len, (size_t) 4096));
                pg_pipe_send(w,
                             "INSERT INTO rejected (received_at, peer, machine_id, line_no, reason, line_len, raw) "
                             "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                             &p);
        }
}

typedef struct IngestWork {
        size_t *idx;      /* events in (machine_id, seq) order */
        int *verdict;     /* per idx: 1 new, 0 duplicate, 2 conflict */
        HostState *hosts; /* the distinct machine_ids, in order */
        OpenKinds *open;
        size_t n_hosts;
        bool had_gaps; /* when loaded */
        Claims claims;
        PgArray ids;
} IngestWork;

static void ingest_work_done(IngestWork *w) {
        free(w->idx);
        free(w->verdict);
        free(w->hosts);
        free(w->open);
        claims_done(&w->claims);
        pga_free(&w->ids, 1);
}

/* Round trip 1: BEGIN, the host rows locked and loaded (with their gaps and
 * open findings), the ids claimed. */
static int pg_ingest_lock(Store *s, const StoreBatch *b, IngestWork *wk) {
        size_t n = b->n_events;
        PgPipe p;
        int r = pg_pipe_begin(s, &p, true);
        if (r < 0)
                return r;
        pg_pipe_send(&p, "BEGIN", NULL);
        pg_send_hosts_lock(&p, &wk->ids);
        r = pg_send_claims(&p, &wk->claims, b->received_us);
        int q = pg_pipe_end(&p);
        if (r >= 0)
                r = q;
        if (r >= 0 && p.n != 7)
                r = log_error_errno(EIO, "PostgreSQL: %zu results for a batch's first step, not 7.", p.n);
        if (r >= 0)
                r = pg_hosts_locked(p.res + 1, wk->hosts, wk->open, wk->n_hosts);
        wk->had_gaps = hosts_have_gaps(wk->hosts, wk->n_hosts);
        if (r >= 0)
                r = claims_verdicts(&wk->claims, p.res[5], p.res[6], wk->verdict);
        (void) n;
        pg_pipe_done(&p);
        return r;
}

/* Round trip 2: the findings worked out here, then every write and the
 * COMMIT in one pipeline. */
static int pg_ingest_write(Store *s, const StoreBatch *b, IngestWork *wk, StoreIngestResult *res, PendingList *pl) {
        size_t n = b->n_events;
        PgPipe w;
        int r = pg_pipe_begin(s, &w, false);
        if (r < 0)
                return r;
        if (n == 0)
                pg_pipe_send(&w, "BEGIN", NULL);
        pg_send_rejected(&w, b);
        /* One host at a time, its events in seq order (findings need that). */
        for (size_t k = 0, hi = 0; r >= 0 && k < n; hi++) {
                HostState *h = &wk->hosts[hi];
                for (; r >= 0 && k < n && streq(b->events[wk->idx[k]].machine_id, h->machine_id); k++) {
                        const StoreEvent *e = &b->events[wk->idx[k]];
                        if (wk->verdict[k] == 0) {
                                res->duplicates++;
                                continue;
                        }
                        if (wk->verdict[k] == 1) {
                                res->stored++;
                                if (pending_add(pl, e) < 0) {
                                        r = log_oom();
                                        break;
                                }
                        } else
                                res->conflicts++;
                        FindingList l = {};
                        findings_on_event(s->base.fc, h, e, wk->verdict[k] == 2, b->cert_fingerprint, b->received_us, &l);
                        r = pg_apply_changes(&w, h, &wk->open[hi], &l, b->received_us, pl, &res->findings);
                }
        }
        if (r >= 0)
                r = pg_hosts_save(&w, wk->hosts, wk->n_hosts, wk->had_gaps);
        if (r >= 0)
                r = pg_send_pending(&w, pl, b->received_us);
        if (r >= 0)
                pg_pipe_send(&w, "COMMIT", NULL);
        int q = pg_pipe_end(&w);
        return r < 0 ? r : q;
}

/* Two round trips; the caller rolls back on an error. *wrote: the second
 * (with the COMMIT) was begun. */
static int pg_ingest_tx(Store *s, const StoreBatch *b, StoreIngestResult *res, PendingList *pl, bool *wrote) {
        _cleanup_(ingest_work_done) IngestWork wk = {};
        size_t n = b->n_events;
        int r;

        if (n > 0) {
                wk.idx = new_array(size_t, n);
                wk.verdict = new_array(int, n);
                wk.hosts = new0(HostState, n);
                if (!wk.idx || !wk.verdict || !wk.hosts)
                        return log_oom();
                store_event_order(b, wk.idx);
                for (size_t i = 0; i < n; i++) {
                        const StoreEvent *e = &b->events[wk.idx[i]];
                        if (!e->machine_id || !e->id)
                                return -EINVAL;
                        if (wk.n_hosts == 0 || !streq(wk.hosts[wk.n_hosts - 1].machine_id, e->machine_id))
                                copy_text(wk.hosts[wk.n_hosts++].machine_id, sizeof wk.hosts[0].machine_id,
                                          e->machine_id);
                }
                wk.open = new0(OpenKinds, wk.n_hosts);
                if (!wk.open)
                        return log_oom();
                r = pg_ids_array(&wk.ids, wk.hosts, wk.n_hosts);
                if (r < 0)
                        return r;
                r = claims_init(&wk.claims, b->events, wk.idx, n);
                if (r < 0)
                        return r;
                r = pg_ingest_lock(s, b, &wk);
                if (r < 0)
                        return r;
        }
        *wrote = true;
        return pg_ingest_write(s, b, &wk, res, pl);
}

/* A missing partition (another instance's retention dropped one we knew):
 * forget what we know, so that the next call makes it again. */
static int pg_after(Store *s, int r) {
        if (r == -ESRCH) {
                s->n_months = 0;
                return -EAGAIN;
        }
        return r;
}

static int pg_ingest_ready(Store *s, int64_t received_us) {
        int r = pg_ready(s);
        if (r >= 0)
                r = pg_prepare(s);
        if (r >= 0)
                r = pg_ensure_partition(s, received_us);
        return r;
}

static int pg_ingest(Store *s, const StoreBatch *b, StoreIngestResult *ret) {
        StoreIngestResult res;
        int r;
        for (unsigned attempt = 0;; attempt++) {
                PendingList pl = {};
                bool wrote = false;
                res = (StoreIngestResult){};
                r = pg_ingest_ready(s, b->received_us);
                if (r >= 0) {
                        r = pg_ingest_tx(s, b, &res, &pl, &wrote);
                        if (r < 0 && PQstatus(s->conn) == CONNECTION_OK)
                                PQclear(PQexec(s->conn, "ROLLBACK"));
                }
                pending_done(&pl);
                /* The server went away while we were idle (a restart): no
                 * COMMIT was sent yet, so try once on a new connection. */
                if (r != -ENOTCONN || wrote || attempt > 0)
                        break;
        }
        if (r < 0)
                return pg_after(s, r);
        *ret = res;
        return 0;
}

/* ---- the timer ---- */

static int pg_sweep_batch(Store *s, int64_t now_us, char *after, size_t *hosts, size_t *changed) {
        Params p = {};
        p_int(&p, now_us);
        p_text(&p, after);
        p_int(&p, STORE_SWEEP_BATCH);
        _cleanup_pgresult_ PGresult *res = NULL;
        /* SKIP LOCKED: a host being ingested right now is not due any more. */
        int r = pg_query(s,
                         "SELECT " HOST_COLUMNS " FROM hosts WHERE due_at > 0 AND due_at <= $1 AND machine_id > $2 "
                         "ORDER BY machine_id LIMIT $3 FOR UPDATE SKIP LOCKED",
                         &p, &res);
        if (r < 0)
                return r;
        int n = PQntuples(res);
        _cleanup_free_ HostState *hs = new0(HostState, (size_t) MAX(n, 1));
        _cleanup_free_ OpenKinds *open = new0(OpenKinds, (size_t) MAX(n, 1));
        if (!hs || !open)
                return log_oom();
        for (int i = 0; i < n; i++)
                host_from_row(res, i, &hs[i]);
        qsort(hs, (size_t) n, sizeof *hs, host_cmp);
        /* Their gaps and open findings, in one round trip. */
        PgArray ids = {};
        r = pg_ids_array(&ids, hs, (size_t) n);
        PgPipe g;
        if (r >= 0)
                r = pg_pipe_begin(s, &g, true);
        if (r < 0) {
                pga_free(&ids, 1);
                return r;
        }
        pg_pipe_send_ids(&g, PS_GAPS_LOAD, &ids);
        pg_pipe_send_ids(&g, PS_OPEN_FINDINGS, &ids);
        r = pg_pipe_end(&g);
        pga_free(&ids, 1);
        if (r >= 0 && g.n == 2)
                hosts_fill(hs, open, (size_t) n, g.res[0], g.res[1]);
        else if (r >= 0)
                r = log_error_errno(EIO, "PostgreSQL: %zu results for the due hosts, not 2.", g.n);
        pg_pipe_done(&g);
        if (r < 0)
                return r;

        bool had_gaps = hosts_have_gaps(hs, (size_t) n);
        PendingList pl = {};
        PgPipe w;
        r = pg_pipe_begin(s, &w, false);
        for (int i = 0; r >= 0 && i < n; i++) {
                FindingList l = {};
                findings_on_timer(s->base.fc, &hs[i], now_us, &l);
                r = pg_apply_changes(&w, &hs[i], &open[i], &l, now_us, &pl, changed);
        }
        if (r >= 0)
                r = pg_hosts_save(&w, hs, (size_t) n, had_gaps);
        if (r >= 0)
                r = pg_send_pending(&w, &pl, now_us);
        int q = pg_pipe_end(&w);
        pending_done(&pl);
        if (n > 0)
                copy_text(after, 33, PQgetvalue(res, n - 1, 0));
        *hosts = (size_t) n;
        return r < 0 ? r : q;
}

static int pg_sweep(Store *s, int64_t now_us, size_t *changed) {
        int r = pg_ingest_ready(s, now_us);
        if (r < 0)
                return r;
        char after[33] = "";
        size_t total = 0;
        for (;;) {
                size_t n = 0, c = 0;
                r = pg_begin(s);
                if (r < 0)
                        return r;
                r = pg_end(s, pg_sweep_batch(s, now_us, after, &n, &c));
                if (r < 0)
                        return pg_after(s, r);
                total += c;
                if (n < STORE_SWEEP_BATCH)
                        break;
        }
        *changed = total;
        return 0;
}

/* ---- retention ---- */

/* Runs `sql` ($1 = cutoff, $2 = batch; it returns one count) in
 * transactions until a batch removes less than a full one. */
static int pg_delete_batched(Store *s, const char *sql, const char *arg, int64_t cutoff, uint64_t *removed) {
        for (;;) {
                Params p = {};
                p_int(&p, cutoff);
                p_int(&p, STORE_RETENTION_BATCH);
                if (arg)
                        p_text(&p, arg);
                _cleanup_pgresult_ PGresult *res = NULL;
                int r = pg_query(s, sql, &p, &res);
                if (r < 0)
                        return r;
                uint64_t n = (uint64_t) get_int(res, 0, 0);
                *removed += n;
                if (n < STORE_RETENTION_BATCH)
                        return 0;
        }
}

/* Drops the monthly partitions that end at or before cutoff: every row in
 * them is past the longest class's days. */
static int pg_drop_partitions(Store *s, int64_t cutoff, uint64_t *removed) {
        _cleanup_pgresult_ PGresult *res = NULL;
        int r = pg_query(s,
                         "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                         "WHERE i.inhparent = 'events'::regclass ORDER BY c.relname",
                         NULL, &res);
        if (r < 0)
                return r;
        for (int i = 0; i < PQntuples(res); i++) {
                const char *name = PQgetvalue(res, i, 0);
                unsigned y, m;
                if (sscanf(name, "events_%4u%2u", &y, &m) != 2 || strlen(name) != 13 || m < 1 || m > 12)
                        continue; /* not ours: left alone */
                struct tm tm = { .tm_year = (int) y - 1900, .tm_mon = (int) m - 1, .tm_mday = 15 };
                int64_t start, end;
                store_month_bounds((int64_t) timegm(&tm) * 1000000, &start, &end, NULL);
                if (end > cutoff)
                        continue;
                r = pg_begin(s);
                if (r < 0)
                        return r;
                char sql[128];
                snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", name);
                _cleanup_pgresult_ PGresult *cnt = NULL;
                r = pg_query(s, sql, NULL, &cnt);
                if (r >= 0) {
                        snprintf(sql, sizeof sql, "DROP TABLE %s", name);
                        r = pg_exec(s, sql);
                }
                r = pg_end(s, r);
                if (r < 0)
                        return r;
                *removed += (uint64_t) get_int(cnt, 0, 0);
                log_info("Retention dropped the partition %s.", name);
        }
        s->n_months = 0;
        return 0;
}

static int pg_retention(Store *s, int64_t now_us, const RetentionConfig *rc, uint64_t *removed) {
        int r = pg_ready(s);
        if (r < 0)
                return r;
        uint64_t events = 0, findings = 0, rejected = 0;
        unsigned longest = 0;
        bool forever = false;
        for (size_t i = 0; i < ELEMENTSOF(store_severity_classes); i++) {
                unsigned days = store_retention_days(rc, store_severity_classes[i]);
                if (days == 0)
                        forever = true;
                longest = MAX(longest, days);
        }
        if (!forever && longest > 0) {
                int64_t cutoff = now_us - (int64_t) longest * (int64_t) USEC_PER_DAY;
                r = pg_drop_partitions(s, cutoff, &events);
                if (r < 0)
                        return r;
                /* The ids of the dropped months (below the cutoff's month start). */
                int64_t month_start, month_end;
                store_month_bounds(cutoff, &month_start, &month_end, NULL);
                uint64_t ids = 0;
                r = pg_delete_batched(s,
                                      "WITH d AS (DELETE FROM event_ids WHERE id IN (SELECT id FROM event_ids "
                                      "WHERE received_at < $1 LIMIT $2) RETURNING 1) SELECT count(*) FROM d",
                                      NULL, month_start, &ids);
                if (r < 0)
                        return r;
                r = pg_delete_batched(s,
                                      "WITH d AS (DELETE FROM rejected WHERE row_id IN (SELECT row_id FROM rejected "
                                      "WHERE received_at < $1 LIMIT $2) RETURNING 1) SELECT count(*) FROM d",
                                      NULL, cutoff, &rejected);
                if (r < 0)
                        return r;
        }
        /* The rest, row by row in batches: the shorter classes, and the
         * longest one in the month that straddles its limit. */
        for (size_t i = 0; i < ELEMENTSOF(store_severity_classes); i++) {
                unsigned days = store_retention_days(rc, store_severity_classes[i]);
                if (days == 0)
                        continue;
                r = pg_delete_batched(s,
                                      "WITH d AS (DELETE FROM events WHERE row_id IN (SELECT row_id FROM events "
                                      "WHERE severity = $3 AND received_at < $1 LIMIT $2) AND received_at < $1 "
                                      "RETURNING id), e AS (DELETE FROM event_ids WHERE id IN (SELECT id FROM d)) "
                                      "SELECT count(*) FROM d",
                                      store_severity_classes[i], now_us - (int64_t) days * (int64_t) USEC_PER_DAY,
                                      &events);
                if (r < 0)
                        return r;
        }
        if (rc->findings_days > 0) {
                r = pg_delete_batched(s,
                                      "WITH d AS (DELETE FROM findings WHERE id IN (SELECT id FROM findings "
                                      "WHERE closed_at IS NOT NULL AND closed_at < $1 LIMIT $2) RETURNING 1) "
                                      "SELECT count(*) FROM d",
                                      NULL, now_us - (int64_t) rc->findings_days * (int64_t) USEC_PER_DAY, &findings);
                if (r < 0)
                        return r;
        }
        if (events + findings + rejected > 0)
                log_info("Retention removed %" PRIu64 " events, %" PRIu64 " findings, %" PRIu64 " rejected lines.",
                         events, findings, rejected);
        *removed = events + findings + rejected;
        return 0;
}

/* ---- reading ---- */

static int pg_export(Store *s, const char *after, int64_t since_us, size_t max, StoreExportFn fn, void *userdata) {
        int64_t cursor;
        int r = store_cursor_parse(after, &cursor);
        if (r < 0)
                return r;
        r = pg_ready(s);
        if (r < 0)
                return r;
        Params p = {};
        p_int(&p, cursor);
        p_int(&p, since_us);
        p_int(&p, (int64_t) MIN(max, (size_t) INT64_MAX));
        _cleanup_pgresult_ PGresult *res = NULL;
        static const char sql[] = "SELECT row_id, json FROM events WHERE row_id > $1 AND received_at >= $2 "
                                  "ORDER BY row_id LIMIT $3";
        r = pg_query(s, sql, &p, &res);
        if (r == -ENOTCONN) {
                /* The server went away while this connection was idle (a
                 * restart): a read, so try once on a new connection. */
                r = pg_ready(s);
                if (r >= 0)
                        r = pg_query(s, sql, &p, &res);
        }
        if (r < 0)
                return r;
        for (int i = 0; i < PQntuples(res); i++) {
                r = fn(PQgetvalue(res, i, 1), (size_t) PQgetlength(res, i, 1), PQgetvalue(res, i, 0), userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int pg_hosts(Store *s, StoreHostFn fn, void *userdata) {
        int r = pg_ready(s);
        if (r < 0)
                return r;
        _cleanup_pgresult_ PGresult *res = NULL;
        r = pg_query(s, "SELECT " HOST_COLUMNS " FROM hosts ORDER BY machine_id", NULL, &res);
        if (r < 0)
                return r;
        _cleanup_free_ HostState *h = new0(HostState, 1);
        if (!h)
                return log_oom();
        for (int i = 0; i < PQntuples(res); i++) {
                host_from_row(res, i, h);
                r = pg_gaps_load(s, h);
                if (r < 0)
                        return r;
                r = fn(h, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int pg_findings(Store *s, bool open_only, StoreFindingFn fn, void *userdata) {
        int r = pg_ready(s);
        if (r < 0)
                return r;
        _cleanup_pgresult_ PGresult *res = NULL;
        r = pg_query(s,
                     open_only ? "SELECT f.id, f.machine_id, coalesce(h.host_name, ''), f.kind, f.severity, f.state, "
                                 "f.first_at, f.last_at, coalesce(f.closed_at, 0), f.count, f.detail, f.message "
                                 "FROM findings f LEFT JOIN hosts h USING (machine_id) WHERE f.closed_at IS NULL "
                                 "ORDER BY f.id"
                               : "SELECT f.id, f.machine_id, coalesce(h.host_name, ''), f.kind, f.severity, f.state, "
                                 "f.first_at, f.last_at, coalesce(f.closed_at, 0), f.count, f.detail, f.message "
                                 "FROM findings f LEFT JOIN hosts h USING (machine_id) ORDER BY f.id",
                     NULL, &res);
        if (r < 0)
                return r;
        for (int i = 0; i < PQntuples(res); i++) {
                FindingRow f = {
                        .id = get_int(res, i, 0),
                        .first_us = get_int(res, i, 6),
                        .last_us = get_int(res, i, 7),
                        .closed_us = get_int(res, i, 8),
                        .count = (uint64_t) get_int(res, i, 9),
                        .detail = PQgetvalue(res, i, 10),
                        .message = PQgetvalue(res, i, 11),
                };
                copy_text(f.machine_id, sizeof f.machine_id, PQgetvalue(res, i, 1));
                copy_text(f.host_name, sizeof f.host_name, PQgetvalue(res, i, 2));
                copy_text(f.kind, sizeof f.kind, PQgetvalue(res, i, 3));
                copy_text(f.severity, sizeof f.severity, PQgetvalue(res, i, 4));
                copy_text(f.state, sizeof f.state, PQgetvalue(res, i, 5));
                r = fn(&f, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- open/free ---- */

static void pg_free(Store *s) {
        if (s->conn)
                PQfinish(s->conn);
        free(s->conninfo);
        store_base_done(&s->base);
        free(s);
}

static const StoreOps pg_ops = {
        .name = "postgresql",
        .ingest = pg_ingest,
        .sweep = pg_sweep,
        .retention = pg_retention,
        .export_rows = pg_export,
        .hosts = pg_hosts,
        .findings = pg_findings,
        .free = pg_free,
};

int store_postgres_open(const StoreConfig *cfg, const FindingsConfig *fc, Store **ret) {
        if (!cfg->pg_conninfo)
                return -EINVAL;
        _cleanup_store_ Store *s = new0(Store, 1);
        if (!s)
                return log_oom();
        s->base = (StoreBase){ .ops = &pg_ops, .fc = fc };
        s->busy_timeout_ms = cfg->busy_timeout_ms;
        s->conninfo = strdup(cfg->pg_conninfo);
        if (!s->conninfo)
                return log_oom();
        int r = pg_ready(s);
        if (r < 0)
                return r;
        /* The lines are UTF-8 (event-check.c): a database in another
         * encoding would refuse some of them, and the agents would retry
         * that batch for ever. */
        const char *enc = PQparameterStatus(s->conn, "server_encoding");
        if (!enc || !streq(enc, "UTF8"))
                return log_error_errno(EINVAL, "PostgreSQL: the database's encoding is %s, not UTF8 (createdb -E UTF8).",
                                       enc ?: "unknown");

        /* Up to date (the common case): no transaction, no lock. */
        unsigned version = 0;
        r = pg_schema_version(s, &version);
        if (r < 0)
                return r;
        if (version != STORE_SCHEMA_VERSION) {
                r = pg_begin(s);
                if (r < 0)
                        return r;
                r = pg_end(s, pg_migrate_in_tx(s));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(s);
        return 0;
}
