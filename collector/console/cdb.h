/* SPDX-License-Identifier: MIT */
#pragma once

/* The console's database access (issue 13): one connection to the same
 * database as the store (store.h), SQLite or PostgreSQL, with one small
 * call to run a statement on either. The store writes the feed; the console
 * reads it and writes only its own tables (users, sessions, audit,
 * triage, approvals: schema version 2 in store-schema.c).
 *
 * SQL is written once with SQLite's numbered parameters ?1 … ?N; for
 * PostgreSQL they become $1 … $N (outside quoted text). Where the dialects
 * differ, pass both texts through cdb_sql(). Parameters are sent as text
 * (PostgreSQL infers their type from the context; write CAST(?1 AS BIGINT)
 * where it cannot). A Cdb is one connection: one per thread, never shared.
 * Every function returns a negative errno, logged once here; -EBUSY and
 * -ECONNREFUSED mean "try again later" (the API answers 503). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store.h"

typedef struct Cdb Cdb;

typedef enum CdbType {
        CDB_NULL,
        CDB_TEXT,
        CDB_INT,
} CdbType;

typedef struct CdbValue {
        CdbType type;
        const char *text; /* CDB_TEXT: valid UTF-8, len bytes (no NUL inside) */
        size_t len;
        int64_t i; /* CDB_INT */
} CdbValue;

static inline CdbValue cdb_text(const char *s) {
        return s ? (CdbValue){ .type = CDB_TEXT, .text = s, .len = strlen(s) } : (CdbValue){ .type = CDB_NULL };
}
static inline CdbValue cdb_int(int64_t v) {
        return (CdbValue){ .type = CDB_INT, .i = v };
}
static inline CdbValue cdb_null(void) {
        return (CdbValue){ .type = CDB_NULL };
}

/* One row of a result, valid only during the callback. */
typedef struct CdbRow CdbRow;
size_t cdb_row_columns(const CdbRow *r);
bool cdb_row_is_null(const CdbRow *r, size_t col);
/* NULL for SQL NULL; else NUL-terminated text (an integer column as digits). */
const char *cdb_row_text(const CdbRow *r, size_t col);
size_t cdb_row_len(const CdbRow *r, size_t col);
/* 0 for NULL or text that is not an integer. */
int64_t cdb_row_int(const CdbRow *r, size_t col);

/* fn returning < 0 stops the statement with that error. */
typedef int (*CdbRowFn)(const CdbRow *r, void *userdata);

/* Opens a connection, after store_open() has created or migrated the
 * schema (cdb_open runs it once itself, so the console and the ctl never
 * see an older schema). */
int cdb_open(const StoreConfig *cfg, Cdb **ret);
Cdb *cdb_free(Cdb *db);
static inline void cdb_freep(Cdb **db) {
        if (*db)
                cdb_free(*db);
}
#define _cleanup_cdb_ __attribute__((cleanup(cdb_freep)))

StoreBackend cdb_backend(const Cdb *db);
/* The text for this connection's dialect. */
static inline const char *cdb_sql(const Cdb *db, const char *sqlite_sql, const char *postgres_sql) {
        return cdb_backend(db) == STORE_POSTGRES ? postgres_sql : sqlite_sql;
}

/* Runs one statement. fn may be NULL. Returns the number of rows given to
 * fn (a query) or changed (INSERT/UPDATE/DELETE), or a negative errno. */
int64_t cdb_exec(Cdb *db, const char *sql, const CdbValue *params, size_t n_params, CdbRowFn fn, void *userdata);

/* The longest one statement may run; past it the statement stops with
 * -EBUSY (the API answers 503). ms 0: the default. SQLite checks it through
 * a progress handler, PostgreSQL is told (statement_timeout). */
#define CDB_STATEMENT_TIMEOUT_MS 30000
int cdb_set_statement_timeout(Cdb *db, unsigned ms);

/* A write transaction (SQLite: BEGIN IMMEDIATE). cdb_end() commits when
 * r >= 0 and rolls back otherwise; it returns r, or the commit's error. */
int cdb_begin(Cdb *db);
int cdb_end(Cdb *db, int r);

/* Helpers for the common cases. */
/* The first column of the first row as an integer; -ENOENT when no row. */
int cdb_query_int(Cdb *db, const char *sql, const CdbValue *params, size_t n_params, int64_t *ret);
