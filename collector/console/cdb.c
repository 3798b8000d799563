/* SPDX-License-Identifier: MIT */
/* cdb.h: one statement on SQLite or PostgreSQL. */

#include "cdb.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "log.h"
#include "macro.h"

#define CDB_MAX_PARAMS 64

struct Cdb {
        StoreBackend backend;
        sqlite3 *sqlite;
        PGconn *pg;
        char *pg_conninfo;
        unsigned busy_timeout_ms;
        unsigned statement_timeout_ms;
        int64_t deadline_us; /* SQLite: the running statement's, CLOCK_MONOTONIC */
};

struct CdbRow {
        sqlite3_stmt *st; /* SQLite */
        PGresult *res;    /* PostgreSQL */
        int row;
        size_t columns;
};

StoreBackend cdb_backend(const Cdb *db) {
        return db->backend;
}

size_t cdb_row_columns(const CdbRow *r) {
        return r->columns;
}

bool cdb_row_is_null(const CdbRow *r, size_t col) {
        if (col >= r->columns)
                return true;
        if (r->st)
                return sqlite3_column_type(r->st, (int) col) == SQLITE_NULL;
        return PQgetisnull(r->res, r->row, (int) col);
}

const char *cdb_row_text(const CdbRow *r, size_t col) {
        if (cdb_row_is_null(r, col))
                return NULL;
        if (r->st)
                return (const char *) sqlite3_column_text(r->st, (int) col);
        return PQgetvalue(r->res, r->row, (int) col);
}

size_t cdb_row_len(const CdbRow *r, size_t col) {
        if (cdb_row_is_null(r, col))
                return 0;
        if (r->st) {
                (void) sqlite3_column_text(r->st, (int) col); /* the length of the text form */
                return (size_t) sqlite3_column_bytes(r->st, (int) col);
        }
        return (size_t) PQgetlength(r->res, r->row, (int) col);
}

int64_t cdb_row_int(const CdbRow *r, size_t col) {
        if (cdb_row_is_null(r, col))
                return 0;
        if (r->st)
                return sqlite3_column_int64(r->st, (int) col);
        const char *s = PQgetvalue(r->res, r->row, (int) col);
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno != 0 || end == s || *end)
                return 0;
        return v;
}

/* ---- SQLite ---- */

static int cdb_sqlite_errno(int rc) {
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
        case SQLITE_INTERRUPT: /* the statement time limit */
                return -EBUSY;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_CONSTRAINT:
                return (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) ? -EEXIST : -EINVAL;
        case SQLITE_READONLY:
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_CANTOPEN:
                return -ENOENT;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EUCLEAN;
        case SQLITE_MISMATCH:
        case SQLITE_RANGE:
        case SQLITE_TOOBIG:
        case SQLITE_ERROR:
                return -EINVAL;
        default:
                return -EIO;
        }
}

/* The one place an error is logged: busy and a unique key are answers the
 * caller handles, only worth a debug line. */
static int cdb_sqlite_fail(Cdb *db, int rc, const char *what) {
        int r = cdb_sqlite_errno(rc) ?: -EIO;
        if ((rc & 0xff) == SQLITE_INTERRUPT)
                log_warning("console db (SQLite): %s: a statement ran past %u ms, stopped.", what,
                            db->statement_timeout_ms);
        else if (r == -EBUSY || r == -EEXIST)
                log_debug("console db (SQLite): %s: %s", what, sqlite3_errmsg(db->sqlite));
        else
                log_error("console db (SQLite): %s: %s", what, sqlite3_errmsg(db->sqlite));
        return r;
}

static int64_t cdb_now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* SQLite has no statement timeout: its progress handler is called every
 * few thousand VM steps and stops the statement past the deadline, as
 * PostgreSQL's statement_timeout does (a filter that no index serves must
 * not hold a worker unbounded). */
static int cdb_sqlite_progress(void *userdata) {
        Cdb *db = userdata;
        return db->deadline_us > 0 && cdb_now_us() > db->deadline_us;
}

static void cdb_finalizep(sqlite3_stmt **st) {
        sqlite3_finalize(*st); /* NULL is a no-op */
}

static int64_t cdb_sqlite_exec(Cdb *db, const char *sql, const CdbValue *params, size_t n, CdbRowFn fn, void *userdata) {
        __attribute__((cleanup(cdb_finalizep))) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db->sqlite, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return cdb_sqlite_fail(db, rc, "prepare");
        for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
                int col = (int) i + 1;
                switch (params[i].type) {
                case CDB_TEXT:
                        rc = sqlite3_bind_text(st, col, params[i].text, (int) params[i].len, SQLITE_STATIC);
                        break;
                case CDB_INT:
                        rc = sqlite3_bind_int64(st, col, params[i].i);
                        break;
                default:
                        rc = sqlite3_bind_null(st, col);
                        break;
                }
        }
        if (rc != SQLITE_OK)
                return cdb_sqlite_fail(db, rc, "bind");
        CdbRow row = { .st = st, .columns = (size_t) sqlite3_column_count(st) };
        int64_t rows = 0;
        db->deadline_us = cdb_now_us() + (int64_t) db->statement_timeout_ms * 1000;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                rows++;
                if (fn) {
                        int k = fn(&row, userdata);
                        if (k < 0)
                                return k;
                }
        }
        if (rc != SQLITE_DONE)
                return cdb_sqlite_fail(db, rc, "step");
        return row.columns > 0 ? rows : sqlite3_changes64(db->sqlite);
}

/* ---- PostgreSQL ---- */

/* ?N → $N outside '…', "…" and comments; the rest as written. */
static char *cdb_pg_rewrite(const char *sql) {
        size_t len = strlen(sql);
        char *out = malloc(len + 1);
        if (!out)
                return NULL;
        char quote = 0;
        size_t o = 0;
        for (size_t i = 0; i < len; i++) {
                char c = sql[i];
                if (quote) {
                        if (c == quote)
                                quote = 0;
                } else if (c == '\'' || c == '"')
                        quote = c;
                else if (c == '?' && i + 1 < len && sql[i + 1] >= '0' && sql[i + 1] <= '9')
                        c = '$';
                out[o++] = c;
        }
        out[o] = 0;
        return out;
}

static int cdb_pg_errno(Cdb *db, const PGresult *res) {
        if (PQstatus(db->pg) != CONNECTION_OK)
                return -ECONNREFUSED;
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        if (!state)
                return -EIO;
        if (strcmp(state, "23505") == 0)
                return -EEXIST;
        if (strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0 || strncmp(state, "42", 2) == 0)
                return -EINVAL;
        if (strncmp(state, "40", 2) == 0 || strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0)
                return -EBUSY; /* serialization, deadlock, lock timeout, statement timeout */
        if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
                return -ECONNREFUSED;
        if (strcmp(state, "53100") == 0)
                return -ENOSPC;
        return -EIO;
}

static int cdb_pg_fail(Cdb *db, const PGresult *res, const char *what) {
        int r = cdb_pg_errno(db, res);
        char msg[512];
        snprintf(msg, sizeof msg, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(db->pg));
        msg[strcspn(msg, "\r\n")] = 0;
        if (r == -EBUSY || r == -EEXIST)
                log_debug("console db (PostgreSQL): %s: %s", what, msg);
        else
                log_error("console db (PostgreSQL): %s: %s", what, msg);
        return r;
}

static int cdb_pg_ready(Cdb *db) {
        if (db->pg && PQstatus(db->pg) == CONNECTION_OK)
                return 0;
        if (db->pg)
                PQreset(db->pg);
        else
                db->pg = PQconnectdb(db->pg_conninfo);
        if (!db->pg)
                return log_oom();
        if (PQstatus(db->pg) != CONNECTION_OK)
                return cdb_pg_fail(db, NULL, "connect");
        char sql[200];
        snprintf(sql, sizeof sql,
                 "SET lock_timeout = %u; SET statement_timeout = %u; SET client_min_messages = warning; "
                 "SET client_encoding = 'UTF8'",
                 db->busy_timeout_ms, db->statement_timeout_ms);
        PGresult *res = PQexec(db->pg, sql);
        int r = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : cdb_pg_fail(db, res, "session settings");
        PQclear(res);
        return r;
}

static int64_t cdb_pg_exec(Cdb *db, const char *sql, const CdbValue *params, size_t n, CdbRowFn fn, void *userdata) {
        int r = cdb_pg_ready(db);
        if (r < 0)
                return r;
        _cleanup_free_ char *text = cdb_pg_rewrite(sql);
        if (!text)
                return log_oom();
        const char *values[CDB_MAX_PARAMS];
        int lengths[CDB_MAX_PARAMS], formats[CDB_MAX_PARAMS];
        char ints[CDB_MAX_PARAMS][24];
        for (size_t i = 0; i < n; i++) {
                formats[i] = 0;
                lengths[i] = 0;
                switch (params[i].type) {
                case CDB_TEXT:
                        values[i] = params[i].text;
                        lengths[i] = (int) params[i].len;
                        break;
                case CDB_INT:
                        snprintf(ints[i], sizeof ints[i], "%" PRId64, params[i].i);
                        values[i] = ints[i];
                        break;
                default:
                        values[i] = NULL;
                        break;
                }
        }
        /* libpq reads a text parameter up to its NUL: CdbValue.text is
         * NUL-terminated at len by contract (cdb_text()). */
        PGresult *res = PQexecParams(db->pg, text, (int) n, NULL, values, lengths, formats, 0);
        ExecStatusType st = PQresultStatus(res);
        int64_t ret;
        if (st == PGRES_TUPLES_OK) {
                CdbRow row = { .res = res, .columns = (size_t) PQnfields(res) };
                int rows = PQntuples(res);
                ret = rows;
                for (int i = 0; fn && i < rows; i++) {
                        row.row = i;
                        int k = fn(&row, userdata);
                        if (k < 0) {
                                ret = k;
                                break;
                        }
                }
        } else if (st == PGRES_COMMAND_OK) {
                const char *t = PQcmdTuples(res);
                ret = t && *t ? strtoll(t, NULL, 10) : 0;
        } else
                ret = cdb_pg_fail(db, res, "statement");
        PQclear(res);
        return ret;
}

/* ---- both ---- */

int64_t cdb_exec(Cdb *db, const char *sql, const CdbValue *params, size_t n_params, CdbRowFn fn, void *userdata) {
        if (n_params > CDB_MAX_PARAMS)
                return log_error_errno(E2BIG, "console db: %zu parameters, at most %d.", n_params, CDB_MAX_PARAMS);
        if (db->backend == STORE_POSTGRES)
                return cdb_pg_exec(db, sql, params, n_params, fn, userdata);
        return cdb_sqlite_exec(db, sql, params, n_params, fn, userdata);
}

int cdb_set_statement_timeout(Cdb *db, unsigned ms) {
        db->statement_timeout_ms = ms ?: CDB_STATEMENT_TIMEOUT_MS;
        if (db->backend != STORE_POSTGRES || !db->pg || PQstatus(db->pg) != CONNECTION_OK)
                return 0; /* SQLite reads it per statement; PostgreSQL at its next connect */
        char sql[64];
        snprintf(sql, sizeof sql, "SET statement_timeout = %u", db->statement_timeout_ms);
        int64_t r = cdb_exec(db, sql, NULL, 0, NULL, NULL);
        return r < 0 ? (int) r : 0;
}

int cdb_begin(Cdb *db) {
        int64_t r = cdb_exec(db, cdb_sql(db, "BEGIN IMMEDIATE", "BEGIN"), NULL, 0, NULL, NULL);
        return r < 0 ? (int) r : 0;
}

int cdb_end(Cdb *db, int r) {
        if (r >= 0) {
                int64_t k = cdb_exec(db, "COMMIT", NULL, 0, NULL, NULL);
                if (k >= 0)
                        return r;
                r = (int) k;
        }
        (void) cdb_exec(db, "ROLLBACK", NULL, 0, NULL, NULL);
        return r;
}

static int cdb_first_int(const CdbRow *row, void *userdata) {
        int64_t *v = userdata;
        *v = cdb_row_int(row, 0);
        return -ECANCELED; /* the first row is enough */
}

int cdb_query_int(Cdb *db, const char *sql, const CdbValue *params, size_t n_params, int64_t *ret) {
        int64_t v = 0;
        int64_t r = cdb_exec(db, sql, params, n_params, cdb_first_int, &v);
        if (r == -ECANCELED) {
                *ret = v;
                return 0;
        }
        return r < 0 ? (int) r : -ENOENT;
}

int cdb_open(const StoreConfig *cfg, Cdb **ret) {
        /* The store creates or migrates the schema; the console never runs
         * against an older one. */
        FindingsConfig fc = { 0 };
        Store *s = NULL;
        int r = store_open(cfg, &fc, &s);
        if (r < 0)
                return r;
        store_free(s);

        Cdb *db = calloc(1, sizeof *db);
        if (!db)
                return log_oom();
        db->backend = cfg->backend;
        db->busy_timeout_ms = cfg->busy_timeout_ms ?: 2000;
        db->statement_timeout_ms = CDB_STATEMENT_TIMEOUT_MS;
        if (cfg->backend == STORE_POSTGRES) {
                db->pg_conninfo = strdup(cfg->pg_conninfo ?: "");
                if (!db->pg_conninfo) {
                        cdb_free(db);
                        return log_oom();
                }
                r = cdb_pg_ready(db);
        } else {
                int rc = sqlite3_open_v2(cfg->sqlite_path, &db->sqlite, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                                         NULL);
                if (rc != SQLITE_OK)
                        r = cdb_sqlite_fail(db, rc, "open");
                else {
                        sqlite3_extended_result_codes(db->sqlite, 1); /* a unique key: -EEXIST */
                        sqlite3_busy_timeout(db->sqlite, (int) MIN(db->busy_timeout_ms, (unsigned) INT32_MAX));
                        sqlite3_progress_handler(db->sqlite, 10000, cdb_sqlite_progress, db);
                        int64_t k = cdb_exec(db, "PRAGMA foreign_keys = ON", NULL, 0, NULL, NULL);
                        if (k >= 0)
                                k = cdb_exec(db, "PRAGMA synchronous = FULL", NULL, 0, NULL, NULL);
                        r = k < 0 ? (int) k : 0;
                }
        }
        if (r < 0) {
                cdb_free(db);
                return r;
        }
        *ret = db;
        return 0;
}

Cdb *cdb_free(Cdb *db) {
        if (!db)
                return NULL;
        if (db->sqlite)
                sqlite3_close_v2(db->sqlite);
        if (db->pg)
                PQfinish(db->pg);
        free(db->pg_conninfo);
        free(db);
        return NULL;
}
