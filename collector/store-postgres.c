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
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SET lock_timeout = %u; SET synchronous_commit = on; SET client_min_messages = warning; "
                 "SET client_encoding = 'UTF8'",
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

/* Creates the rows of new hosts and locks every host row of the batch until
 * the transaction ends, in machine_id order (the same order in every
 * instance: no deadlock between them). */
static int pg_hosts_lock(Store *s, char **ids, size_t n, HostState *hosts) {
        PgPipe p;
        int r = pg_pipe_begin(s, &p, true);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                Params q = {};
                p_text(&q, ids[i]);
                pg_pipe_send(&p, "INSERT INTO hosts (machine_id) VALUES ($1) ON CONFLICT (machine_id) DO NOTHING", &q);
                pg_pipe_send(&p, "SELECT " HOST_COLUMNS " FROM hosts WHERE machine_id = $1 FOR UPDATE", &q);
                pg_pipe_send(&p, gaps_sql, &q);
        }
        r = pg_pipe_end(&p);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                const PGresult *row = p.res[3 * i + 1];
                if (PQntuples(row) != 1) {
                        r = log_error_errno(EIO, "PostgreSQL: the host row of %s vanished.", ids[i]);
                        break;
                }
                host_from_row(row, 0, &hosts[i]);
                gaps_from_result(p.res[3 * i + 2], &hosts[i]);
        }
        pg_pipe_done(&p);
        return r;
}

static void pg_host_save(PgPipe *w, const HostState *h) {
        Params p = {};
        p_text(&p, h->machine_id);
        p_text(&p, h->host_name);
        p_text(&p, h->agent_version);
        p_text(&p, h->policy_hash);
        p_text(&p, h->cert_fingerprint);
        p_int(&p, h->first_seen_us);
        p_int(&p, h->last_seen_us);
        p_int(&p, h->last_event_time_us);
        p_int(&p, (int64_t) h->max_seq);
        p_int(&p, (int64_t) h->events);
        p_int(&p, h->heartbeat_interval_sec);
        p_text(&p, h->last_kind);
        p_int(&p, h->fail_closed);
        p_int(&p, h->silent);
        p_int(&p, h->silent_since_us);
        p_int(&p, h->stopped);
        p_int(&p, h->stopping_us);
        p_int(&p, (int64_t) h->spool_depth);
        p_int(&p, h->due_us);
        pg_pipe_send(w,
                     "UPDATE hosts SET host_name = $2, agent_version = $3, policy_hash = $4, "
                     "cert_fingerprint = $5, first_seen = $6, last_seen = $7, last_event_time = $8, "
                     "max_seq = $9, events = $10, heartbeat_interval_sec = $11, last_kind = $12, "
                     "fail_closed = $13, silent = $14, silent_since = $15, stopped = $16, stopping_at = $17, "
                     "spool_depth = $18, due_at = $19 WHERE machine_id = $1",
                     &p);
        Params g = {};
        p_text(&g, h->machine_id);
        pg_pipe_send(w, "DELETE FROM gaps WHERE machine_id = $1", &g);
        for (size_t i = 0; i < MIN(h->n_gaps, (size_t) FINDINGS_MAX_GAPS); i++) {
                Params q = {};
                p_text(&q, h->machine_id);
                p_int(&q, (int64_t) h->gaps[i].first);
                p_int(&q, (int64_t) h->gaps[i].last);
                p_int(&q, h->gaps[i].seen_us);
                p_int(&q, h->gaps[i].explained);
                pg_pipe_send(w,
                             "INSERT INTO gaps (machine_id, first_seq, last_seq, seen_at, explained) "
                             "VALUES ($1, $2, $3, $4, $5)",
                             &q);
        }
}

/* ---- events and findings ---- */

static void claim_params(Params *p, const StoreEvent *e, int64_t received_us) {
        p_text(p, e->id);
        p_int(p, received_us);
        p_bin(p, e->content_hash, sizeof e->content_hash);
}

static const char claim_sql[] = "INSERT INTO event_ids (id, received_at, content_hash) VALUES ($1, $2, $3) "
                                "ON CONFLICT (id) DO NOTHING";

/* Claims the ids of the batch's events: verdict[i] = 1 new, 0 already
 * stored with the same content, 2 with other content. Two instances
 * claiming one id serialize on it: the second waits for the first's
 * transaction and then sees its row. */
static int pg_claim_ids(Store *s, const StoreEvent *ev, const size_t *idx, size_t n, int64_t received_us, int *verdict) {
        PgPipe p;
        int r = pg_pipe_begin(s, &p, true);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                Params q = {};
                claim_params(&q, &ev[idx[i]], received_us);
                pg_pipe_send(&p, claim_sql, &q);
        }
        r = pg_pipe_end(&p);
        size_t taken = 0;
        for (size_t i = 0; r >= 0 && i < n; i++) {
                verdict[i] = strtoull(PQcmdTuples(p.res[i]), NULL, 10) > 0 ? 1 : 0;
                taken += verdict[i] == 0;
        }
        pg_pipe_done(&p);
        if (r < 0 || taken == 0)
                return r;

        /* The ids that were there: same content or not (binary: the hash as is). */
        r = pg_pipe_begin(s, &p, true);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (verdict[i] == 0) {
                        Params q = {};
                        p_text(&q, ev[idx[i]].id);
                        pg_pipe_send_fmt(&p, "SELECT content_hash FROM event_ids WHERE id = $1", &q, 1);
                }
        r = pg_pipe_end(&p);
        for (size_t i = 0, k = 0; r >= 0 && i < n; i++) {
                if (verdict[i] != 0)
                        continue;
                const PGresult *res = p.res[k++];
                const StoreEvent *e = &ev[idx[i]];
                if (PQntuples(res) != 1) {
                        r = log_error_errno(EIO, "PostgreSQL: event id %s claimed but not found.", e->id);
                        break;
                }
                bool same = PQgetlength(res, 0, 0) == (int) sizeof e->content_hash &&
                            memcmp(PQgetvalue(res, 0, 0), e->content_hash, sizeof e->content_hash) == 0;
                verdict[i] = same ? 0 : 2;
        }
        pg_pipe_done(&p);
        return r;
}

static void pg_insert_event(PgPipe *w, const StoreEvent *e, int64_t received_us) {
        Params p = {};
        p_text(&p, e->id);
        p_text(&p, e->machine_id);
        p_int(&p, (int64_t) e->seq);
        p_int(&p, e->time_us);
        p_int(&p, received_us);
        p_text(&p, e->kind);
        p_text(&p, e->severity);
        p_text(&p, e->policy_ref);
        p_text(&p, e->user_name);
        p_text(&p, e->device_vendor);
        p_text(&p, e->device_product);
        p_text(&p, e->device_serial);
        p_bin(&p, e->content_hash, sizeof e->content_hash);
        p_bin(&p, e->json, e->json_len); /* text in binary format: as is, no NUL needed */
        pg_pipe_send(w,
                     "INSERT INTO events (id, machine_id, seq, time, received_at, kind, severity, policy_ref, "
                     "user_name, device_vendor, device_product, device_serial, content_hash, json) "
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                     &p);
}

static int pg_apply_change(PgPipe *w, const HostState *h, const FindingChange *f, int64_t now_us, PendingList *pl) {
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
                break;
        }
        case FINDING_CLOSE:
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
        /* A fresh random id: claimed without a look for a conflict. */
        Params q = {};
        claim_params(&q, &pe->ev, now_us);
        pg_pipe_send(w, claim_sql, &q);
        return pending_add(pl, &pe->ev) < 0 ? log_oom() : 0;
}

static int pg_apply_changes(PgPipe *w, const HostState *h, const FindingList *l, int64_t now_us, PendingList *pl,
                            size_t *count) {
        for (size_t i = 0; i < MIN(l->n, (size_t) FINDINGS_MAX_CHANGES); i++) {
                int r = pg_apply_change(w, h, &l->changes[i], now_us, pl);
                if (r < 0)
                        return r;
                (*count)++;
        }
        return 0;
}

/* The last statements of every transaction that stores events: see the
 * export note at the top. */
static void pg_send_pending(PgPipe *w, const PendingList *pl, int64_t received_us) {
        if (pl->n == 0)
                return;
        Params p = {};
        p_int(&p, STORE_PG_EXPORT_LOCK);
        pg_pipe_send(w, "SELECT pg_advisory_xact_lock($1::bigint)", &p);
        for (size_t i = 0; i < pl->n; i++)
                pg_insert_event(w, pl->events[i], received_us);
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
        size_t *idx;  /* events in (machine_id, seq) order */
        int *verdict; /* per idx: 1 new, 0 duplicate, 2 conflict */
        char **ids;   /* distinct machine_ids, in order */
        HostState *hosts;
        size_t n_hosts;
} IngestWork;

static void ingest_work_done(IngestWork *w) {
        free(w->idx);
        free(w->verdict);
        free(w->ids);
        free(w->hosts);
}

static int pg_ingest_in_tx(Store *s, const StoreBatch *b, StoreIngestResult *res, PendingList *pl) {
        _cleanup_(ingest_work_done) IngestWork wk = {};
        size_t n = b->n_events;
        int r;

        if (n > 0) {
                wk.idx = new_array(size_t, n);
                wk.verdict = new_array(int, n);
                wk.ids = new_array(char *, n);
                if (!wk.idx || !wk.verdict || !wk.ids)
                        return log_oom();
                store_event_order(b, wk.idx);
                for (size_t i = 0; i < n; i++) {
                        const StoreEvent *e = &b->events[wk.idx[i]];
                        if (!e->machine_id || !e->id)
                                return -EINVAL;
                        if (wk.n_hosts == 0 || !streq(wk.ids[wk.n_hosts - 1], e->machine_id))
                                wk.ids[wk.n_hosts++] = (char *) e->machine_id;
                }
                wk.hosts = new0(HostState, wk.n_hosts);
                if (!wk.hosts)
                        return log_oom();
                r = pg_hosts_lock(s, wk.ids, wk.n_hosts, wk.hosts);
                if (r < 0)
                        return r;
                r = pg_claim_ids(s, b->events, wk.idx, n, b->received_us, wk.verdict);
                if (r < 0)
                        return r;
        }

        PgPipe w;
        r = pg_pipe_begin(s, &w, false);
        if (r < 0)
                return r;
        pg_send_rejected(&w, b);
        /* One host at a time, its events in seq order (findings need that). */
        for (size_t k = 0, hi = 0; r >= 0 && k < n; hi++) {
                HostState *h = &wk.hosts[hi];
                for (; r >= 0 && k < n && streq(b->events[wk.idx[k]].machine_id, wk.ids[hi]); k++) {
                        const StoreEvent *e = &b->events[wk.idx[k]];
                        if (wk.verdict[k] == 0) {
                                res->duplicates++;
                                continue;
                        }
                        if (wk.verdict[k] == 1) {
                                res->stored++;
                                if (pending_add(pl, e) < 0) {
                                        r = log_oom();
                                        break;
                                }
                        } else
                                res->conflicts++;
                        FindingList l = {};
                        findings_on_event(s->base.fc, h, e, wk.verdict[k] == 2, b->cert_fingerprint, b->received_us, &l);
                        r = pg_apply_changes(&w, h, &l, b->received_us, pl, &res->findings);
                }
                pg_host_save(&w, h);
        }
        if (r >= 0)
                pg_send_pending(&w, pl, b->received_us);
        int q = pg_pipe_end(&w);
        return r < 0 ? r : q;
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

static int pg_ingest(Store *s, const StoreBatch *b, StoreIngestResult *ret) {
        int r = pg_ready(s);
        if (r < 0)
                return r;
        r = pg_ensure_partition(s, b->received_us);
        if (r < 0)
                return r;
        StoreIngestResult res = {};
        PendingList pl = {};
        r = pg_begin(s);
        if (r == -ENOTCONN) {
                /* The server went away while we were idle (a restart): nothing
                 * was sent yet, so try once on a new connection. */
                r = pg_ready(s);
                if (r >= 0)
                        r = pg_ensure_partition(s, b->received_us);
                if (r >= 0)
                        r = pg_begin(s);
        }
        if (r >= 0)
                r = pg_end(s, pg_ingest_in_tx(s, b, &res, &pl));
        pending_done(&pl);
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
        if (!hs)
                return log_oom();
        /* Their gaps, in one pipeline. */
        PgPipe g;
        r = pg_pipe_begin(s, &g, true);
        if (r < 0)
                return r;
        for (int i = 0; i < n; i++) {
                host_from_row(res, i, &hs[i]);
                Params q = {};
                p_text(&q, hs[i].machine_id);
                pg_pipe_send(&g, gaps_sql, &q);
        }
        r = pg_pipe_end(&g);
        for (int i = 0; r >= 0 && g.res && i < n; i++)
                gaps_from_result(g.res[i], &hs[i]);
        pg_pipe_done(&g);
        if (r < 0)
                return r;

        PendingList pl = {};
        PgPipe w;
        r = pg_pipe_begin(s, &w, false);
        for (int i = 0; r >= 0 && i < n; i++) {
                FindingList l = {};
                findings_on_timer(s->base.fc, &hs[i], now_us, &l);
                r = pg_apply_changes(&w, &hs[i], &l, now_us, &pl, changed);
                pg_host_save(&w, &hs[i]);
        }
        if (r >= 0)
                pg_send_pending(&w, &pl, now_us);
        int q = pg_pipe_end(&w);
        pending_done(&pl);
        if (n > 0)
                copy_text(after, 33, PQgetvalue(res, n - 1, 0));
        *hosts = (size_t) n;
        return r < 0 ? r : q;
}

static int pg_sweep(Store *s, int64_t now_us, size_t *changed) {
        int r = pg_ready(s);
        if (r < 0)
                return r;
        r = pg_ensure_partition(s, now_us);
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
