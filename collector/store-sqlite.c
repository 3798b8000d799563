/* SPDX-License-Identifier: MIT */
/* The embedded backend (issue 12 item 4): one SQLite file in the state
 * directory. WAL (readers never block the writer) with synchronous=FULL: a
 * COMMIT has reached the disk before store_ingest() returns, so a 2xx
 * survives a power loss. A batch is one BEGIN IMMEDIATE transaction: the
 * write lock is taken at once, and a writer that cannot get it within
 * busy_timeout_ms gets -EBUSY (the HTTP layer answers 503). The worker
 * Stores of a StoreGroup (store.c) share COMMITs: one of them writes the
 * queued batches of all in one transaction (sqlite_ingest_group()). */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "macro.h"
#include "store-backend.h"
#include "store-schema.h"

typedef enum Stmt {
        ST_INSERT_EVENT,
        ST_EVENT_HASH,
        ST_INSERT_REJECTED,
        ST_HOST_LOAD,
        ST_HOST_SAVE,
        ST_GAPS_LOAD,
        ST_GAPS_DELETE,
        ST_GAP_INSERT,
        ST_FINDING_UPDATE,
        ST_FINDING_INSERT,
        ST_FINDING_CLOSE,
        ST_DUE_HOSTS,
        ST_EXPORT,
        _ST_MAX,
} Stmt;

#define HOST_COLUMNS \
        "machine_id, host_name, agent_version, policy_hash, cert_fingerprint, first_seen, last_seen, " \
        "last_event_time, max_seq, events, heartbeat_interval_sec, last_kind, fail_closed, silent, " \
        "silent_since, stopped, stopping_at, spool_depth, due_at"

static const char *const stmt_sql[_ST_MAX] = {
        [ST_INSERT_EVENT] = "INSERT INTO events (id, machine_id, seq, time, received_at, kind, severity, policy_ref, "
                            "user_name, device_vendor, device_product, device_serial, content_hash, json) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) "
                            "ON CONFLICT (id) DO NOTHING",
        [ST_EVENT_HASH] = "SELECT content_hash FROM events WHERE id = ?1",
        [ST_INSERT_REJECTED] = "INSERT INTO rejected (received_at, peer, machine_id, line_no, reason, line_len, raw) "
                               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        [ST_HOST_LOAD] = "SELECT " HOST_COLUMNS " FROM hosts WHERE machine_id = ?1",
        [ST_HOST_SAVE] = "INSERT INTO hosts (" HOST_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                         "?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19) ON CONFLICT (machine_id) DO UPDATE SET "
                         "host_name = ?2, agent_version = ?3, policy_hash = ?4, cert_fingerprint = ?5, "
                         "first_seen = ?6, last_seen = ?7, last_event_time = ?8, max_seq = ?9, events = ?10, "
                         "heartbeat_interval_sec = ?11, last_kind = ?12, fail_closed = ?13, silent = ?14, "
                         "silent_since = ?15, stopped = ?16, stopping_at = ?17, spool_depth = ?18, due_at = ?19",
        [ST_GAPS_LOAD] = "SELECT first_seq, last_seq, seen_at, explained FROM gaps WHERE machine_id = ?1 "
                         "ORDER BY first_seq",
        [ST_GAPS_DELETE] = "DELETE FROM gaps WHERE machine_id = ?1",
        [ST_GAP_INSERT] = "INSERT INTO gaps (machine_id, first_seq, last_seq, seen_at, explained) "
                          "VALUES (?1, ?2, ?3, ?4, ?5)",
        [ST_FINDING_UPDATE] = "UPDATE findings SET last_at = MAX(last_at, ?3), count = count + 1, severity = ?4, "
                              "detail = ?5, message = ?6 WHERE machine_id = ?1 AND kind = ?2 AND closed_at IS NULL",
        [ST_FINDING_INSERT] = "INSERT INTO findings (machine_id, kind, severity, state, first_at, last_at, closed_at, "
                              "count, detail, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9)",
        [ST_FINDING_CLOSE] = "UPDATE findings SET state = 'closed', closed_at = ?3, last_at = MAX(last_at, ?4) "
                             "WHERE machine_id = ?1 AND kind = ?2 AND closed_at IS NULL",
        [ST_DUE_HOSTS] = "SELECT machine_id FROM hosts WHERE due_at > 0 AND due_at <= ?1 AND machine_id > ?2 "
                         "ORDER BY machine_id LIMIT ?3",
        [ST_EXPORT] = "SELECT row_id, json FROM events WHERE row_id > ?1 AND received_at >= ?2 "
                      "ORDER BY row_id LIMIT ?3",
};

struct Store {
        StoreBase base;
        sqlite3 *db;
        sqlite3_stmt *stmts[_ST_MAX];
};

/* SQLite's answer as an errno: busy/locked is "cannot store now" (503). */
static int sqlite_errno(int rc) {
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_READONLY:
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_CANTOPEN:
                return -ENOENT;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EUCLEAN;
        case SQLITE_CONSTRAINT:
        case SQLITE_MISMATCH:
        case SQLITE_RANGE:
        case SQLITE_TOOBIG:
                return -EINVAL;
        default:
                return -EIO;
        }
}

/* The one place a database error is logged: busy is the 503 case and only
 * worth a debug line; anything else is a broken database or a bug. */
static int sqlite_fail(Store *s, int rc, const char *what) {
        int r = sqlite_errno(rc);
        if (r == 0)
                r = -EIO;
        if (r == -EBUSY)
                return log_debug_errno(r, "SQLite: %s: database busy.", what);
        return log_error_errno(r, "SQLite: %s: %s", what, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

static int sqlite_exec(Store *s, const char *sql) {
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return sqlite_fail(s, rc, sql);
        return 0;
}

/* A cached statement, reset and unbound. */
static int stmt(Store *s, Stmt which, sqlite3_stmt **ret) {
        *ret = NULL;
        if (!s->stmts[which]) {
                int rc = sqlite3_prepare_v3(s->db, stmt_sql[which], -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[which],
                                            NULL);
                if (rc != SQLITE_OK) {
                        int r = sqlite_fail(s, rc, "prepare");
                        return r < 0 ? r : -EIO;
                }
        } else {
                sqlite3_reset(s->stmts[which]);
                sqlite3_clear_bindings(s->stmts[which]);
        }
        *ret = s->stmts[which];
        return 0;
}

/* Runs a statement that returns no rows. */
static int step_done(Store *s, sqlite3_stmt *st, const char *what) {
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE) {
                int r = sqlite_fail(s, rc, what);
                sqlite3_reset(st);
                return r;
        }
        sqlite3_reset(st);
        return 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v) {
        if (v)
                sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
        else
                sqlite3_bind_null(st, i);
}

static const char *col_text(sqlite3_stmt *st, int i) {
        const unsigned char *t = sqlite3_column_text(st, i);
        return t ? (const char *) t : "";
}

static void sqlite3_finalizep(sqlite3_stmt **st) {
        sqlite3_finalize(*st);
}

static void copy_text(char *dst, size_t size, const char *src) {
        snprintf(dst, size, "%s", src ?: "");
}

/* ---- schema ---- */

static int sqlite_schema_version(Store *s, unsigned *ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
                                    -1, &st, NULL);
        if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
                return sqlite_fail(s, rc, "read the schema");
        bool has_meta = sqlite3_column_int(st, 0) > 0;
        *ret = 0;
        if (!has_meta)
                return 0;
        sqlite3_finalize(st);
        st = NULL;
        rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_fail(s, rc, "read the schema version");
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                *ret = (unsigned) strtoul(col_text(st, 0), NULL, 10);
        else if (rc != SQLITE_DONE)
                return sqlite_fail(s, rc, "read the schema version");
        return 0;
}

static int sqlite_migrate_in_tx(Store *s) {
        unsigned version = 0;
        int r = sqlite_schema_version(s, &version);
        if (r < 0)
                return r;
        if (version > STORE_SCHEMA_VERSION)
                return log_error_errno(EPROTONOSUPPORT,
                                       "SQLite: the database has schema version %u, this collector knows up to %u.",
                                       version, STORE_SCHEMA_VERSION);
        size_t n;
        const StoreMigration *m = store_schema_migrations(STORE_DIALECT_SQLITE, &n);
        for (size_t i = 0; i < n; i++) {
                if (m[i].version <= version)
                        continue;
                r = sqlite_exec(s, m[i].sql);
                if (r < 0)
                        return r;
                char sql[128];
                snprintf(sql, sizeof sql,
                         "INSERT INTO meta (key, value) VALUES ('schema_version', '%u') "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                         m[i].version);
                r = sqlite_exec(s, sql);
                if (r < 0)
                        return r;
                log_info("SQLite: schema migrated to version %u.", m[i].version);
        }
        return 0;
}

static int sqlite_begin(Store *s) {
        return sqlite_exec(s, "BEGIN IMMEDIATE");
}

/* COMMIT, or ROLLBACK when r < 0; returns r or the COMMIT's error. */
static int sqlite_end(Store *s, int r) {
        if (r < 0) {
                (void) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
                return r;
        }
        r = sqlite_exec(s, "COMMIT");
        if (r < 0)
                (void) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
}

/* ---- hosts ---- */

static void host_from_row(sqlite3_stmt *st, HostState *h) {
        copy_text(h->machine_id, sizeof h->machine_id, col_text(st, 0));
        copy_text(h->host_name, sizeof h->host_name, col_text(st, 1));
        copy_text(h->agent_version, sizeof h->agent_version, col_text(st, 2));
        copy_text(h->policy_hash, sizeof h->policy_hash, col_text(st, 3));
        copy_text(h->cert_fingerprint, sizeof h->cert_fingerprint, col_text(st, 4));
        h->first_seen_us = sqlite3_column_int64(st, 5);
        h->last_seen_us = sqlite3_column_int64(st, 6);
        h->last_event_time_us = sqlite3_column_int64(st, 7);
        h->max_seq = (uint64_t) sqlite3_column_int64(st, 8);
        h->events = (uint64_t) sqlite3_column_int64(st, 9);
        h->heartbeat_interval_sec = (unsigned) sqlite3_column_int64(st, 10);
        copy_text(h->last_kind, sizeof h->last_kind, col_text(st, 11));
        h->fail_closed = sqlite3_column_int64(st, 12) != 0;
        h->silent = sqlite3_column_int64(st, 13) != 0;
        h->silent_since_us = sqlite3_column_int64(st, 14);
        h->stopped = sqlite3_column_int64(st, 15) != 0;
        h->stopping_us = sqlite3_column_int64(st, 16);
        h->spool_depth = (uint64_t) sqlite3_column_int64(st, 17);
        h->due_us = sqlite3_column_int64(st, 18);
}

static int sqlite_gaps_load(Store *s, HostState *h) {
        sqlite3_stmt *st;
        int r = stmt(s, ST_GAPS_LOAD, &st);
        if (r < 0)
                return r;
        bind_text(st, 1, h->machine_id);
        int rc;
        h->n_gaps = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && h->n_gaps < FINDINGS_MAX_GAPS)
                h->gaps[h->n_gaps++] = (SeqRange){
                        .first = (uint64_t) sqlite3_column_int64(st, 0),
                        .last = (uint64_t) sqlite3_column_int64(st, 1),
                        .seen_us = sqlite3_column_int64(st, 2),
                        .explained = sqlite3_column_int64(st, 3) != 0,
                };
        r = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqlite_fail(s, rc, "load the gaps");
        sqlite3_reset(st);
        return r;
}

/* The host's row, or a fresh state when the machine_id is new. */
static int sqlite_host_load(Store *s, const char *machine_id, HostState *h) {
        sqlite3_stmt *st;
        int r = stmt(s, ST_HOST_LOAD, &st);
        if (r < 0)
                return r;
        *h = (HostState){};
        bind_text(st, 1, machine_id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                host_from_row(st, h);
        else if (rc != SQLITE_DONE)
                r = sqlite_fail(s, rc, "load a host");
        sqlite3_reset(st);
        if (r < 0)
                return r;
        if (rc == SQLITE_DONE) {
                copy_text(h->machine_id, sizeof h->machine_id, machine_id);
                return 0;
        }
        return sqlite_gaps_load(s, h);
}

/* had_gaps: the host had gap rows when loaded (else none to delete: the
 * common case, one statement less per host). */
static int sqlite_host_save(Store *s, const HostState *h, bool had_gaps) {
        sqlite3_stmt *st;
        int r = stmt(s, ST_HOST_SAVE, &st);
        if (r < 0)
                return r;
        bind_text(st, 1, h->machine_id);
        bind_text(st, 2, h->host_name);
        bind_text(st, 3, h->agent_version);
        bind_text(st, 4, h->policy_hash);
        bind_text(st, 5, h->cert_fingerprint);
        sqlite3_bind_int64(st, 6, h->first_seen_us);
        sqlite3_bind_int64(st, 7, h->last_seen_us);
        sqlite3_bind_int64(st, 8, h->last_event_time_us);
        sqlite3_bind_int64(st, 9, (int64_t) h->max_seq);
        sqlite3_bind_int64(st, 10, (int64_t) h->events);
        sqlite3_bind_int64(st, 11, h->heartbeat_interval_sec);
        bind_text(st, 12, h->last_kind);
        sqlite3_bind_int64(st, 13, h->fail_closed);
        sqlite3_bind_int64(st, 14, h->silent);
        sqlite3_bind_int64(st, 15, h->silent_since_us);
        sqlite3_bind_int64(st, 16, h->stopped);
        sqlite3_bind_int64(st, 17, h->stopping_us);
        sqlite3_bind_int64(st, 18, (int64_t) h->spool_depth);
        sqlite3_bind_int64(st, 19, h->due_us);
        r = step_done(s, st, "save a host");
        if (r < 0)
                return r;

        if (had_gaps) {
                r = stmt(s, ST_GAPS_DELETE, &st);
                if (r < 0)
                        return r;
                bind_text(st, 1, h->machine_id);
                r = step_done(s, st, "save the gaps");
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < MIN(h->n_gaps, (size_t) FINDINGS_MAX_GAPS); i++) {
                r = stmt(s, ST_GAP_INSERT, &st);
                if (r < 0)
                        return r;
                bind_text(st, 1, h->machine_id);
                sqlite3_bind_int64(st, 2, (int64_t) h->gaps[i].first);
                sqlite3_bind_int64(st, 3, (int64_t) h->gaps[i].last);
                sqlite3_bind_int64(st, 4, h->gaps[i].seen_us);
                sqlite3_bind_int64(st, 5, h->gaps[i].explained);
                r = step_done(s, st, "save the gaps");
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- events and findings ---- */

/* 1: stored, 0: the id was there already. */
static int sqlite_insert_event(Store *s, const StoreEvent *e, int64_t received_us) {
        sqlite3_stmt *st;
        int r = stmt(s, ST_INSERT_EVENT, &st);
        if (r < 0)
                return r;
        bind_text(st, 1, e->id);
        bind_text(st, 2, e->machine_id);
        sqlite3_bind_int64(st, 3, (int64_t) e->seq);
        sqlite3_bind_int64(st, 4, e->time_us);
        sqlite3_bind_int64(st, 5, received_us);
        bind_text(st, 6, e->kind);
        bind_text(st, 7, e->severity);
        bind_text(st, 8, e->policy_ref);
        bind_text(st, 9, e->user_name);
        bind_text(st, 10, e->device_vendor);
        bind_text(st, 11, e->device_product);
        bind_text(st, 12, e->device_serial);
        sqlite3_bind_blob(st, 13, e->content_hash, sizeof e->content_hash, SQLITE_STATIC);
        sqlite3_bind_text(st, 14, e->json, (int) e->json_len, SQLITE_STATIC);
        r = step_done(s, st, "store an event");
        if (r < 0)
                return r;
        return sqlite3_changes(s->db) > 0;
}

/* An id already stored: 1 if with the same content, 0 if with other content. */
static int sqlite_same_content(Store *s, const StoreEvent *e) {
        sqlite3_stmt *st;
        int r = stmt(s, ST_EVENT_HASH, &st);
        if (r < 0)
                return r;
        bind_text(st, 1, e->id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                r = sqlite3_column_bytes(st, 0) == sizeof e->content_hash &&
                    memcmp(sqlite3_column_blob(st, 0), e->content_hash, sizeof e->content_hash) == 0;
        else
                r = sqlite_fail(s, rc, "compare an event");
        sqlite3_reset(st);
        return r;
}

/* 1: written, 0: a CLOSE of a finding not open. */
static int sqlite_apply_change(Store *s, const HostState *h, const FindingChange *f, int64_t now_us) {
        sqlite3_stmt *st;
        int r;

        switch (f->action) {
        case FINDING_OPEN:
                r = stmt(s, ST_FINDING_UPDATE, &st);
                if (r < 0)
                        return r;
                bind_text(st, 1, h->machine_id);
                bind_text(st, 2, f->kind);
                sqlite3_bind_int64(st, 3, f->last_us);
                bind_text(st, 4, f->severity);
                bind_text(st, 5, f->detail);
                bind_text(st, 6, f->message);
                r = step_done(s, st, "update a finding");
                if (r < 0 || sqlite3_changes(s->db) > 0)
                        break;
                _fallthrough_;
        case FINDING_NOTICE: {
                bool notice = f->action == FINDING_NOTICE;
                r = stmt(s, ST_FINDING_INSERT, &st);
                if (r < 0)
                        return r;
                bind_text(st, 1, h->machine_id);
                bind_text(st, 2, f->kind);
                bind_text(st, 3, f->severity);
                bind_text(st, 4, notice ? "closed" : "open");
                sqlite3_bind_int64(st, 5, f->first_us ?: now_us);
                sqlite3_bind_int64(st, 6, f->last_us ?: now_us);
                if (notice)
                        sqlite3_bind_int64(st, 7, now_us);
                else
                        sqlite3_bind_null(st, 7);
                bind_text(st, 8, f->detail[0] ? f->detail : "{}");
                bind_text(st, 9, f->message);
                r = step_done(s, st, "insert a finding");
                break;
        }
        case FINDING_CLOSE:
                r = stmt(s, ST_FINDING_CLOSE, &st);
                if (r < 0)
                        return r;
                bind_text(st, 1, h->machine_id);
                bind_text(st, 2, f->kind);
                sqlite3_bind_int64(st, 3, now_us);
                sqlite3_bind_int64(st, 4, f->last_us);
                r = step_done(s, st, "close a finding");
                /* Not open (the rules close on every report of a good
                 * state): nothing changed, nothing to tell the feed. */
                if (r >= 0 && sqlite3_changes(s->db) == 0)
                        return 0;
                break;
        default:
                return -EINVAL;
        }
        if (r < 0)
                return r;

        /* Every change is also an event of the feed (kind collector.*), so
         * that a SIEM downstream of the export sees it. */
        char uuid[37], kind[80], buf[STORE_COLLECTOR_EVENT_MAX];
        StoreEvent ev;
        r = store_collector_event(f, h, now_us, uuid, kind, sizeof kind, buf, sizeof buf, &ev);
        if (r < 0)
                return log_error_errno(r, "The collector event of %s for %s does not fit: %m", f->kind, h->machine_id);
        r = sqlite_insert_event(s, &ev, now_us);
        return r < 0 ? r : 1;
}

static int sqlite_apply_changes(Store *s, const HostState *h, const FindingList *l, int64_t now_us, size_t *count) {
        for (size_t i = 0; i < MIN(l->n, (size_t) FINDINGS_MAX_CHANGES); i++) {
                int r = sqlite_apply_change(s, h, &l->changes[i], now_us);
                if (r < 0)
                        return r;
                *count += (size_t) r;
        }
        return 0;
}

static int sqlite_insert_rejected(Store *s, const StoreBatch *b, const StoreRejected *j) {
        sqlite3_stmt *st;
        int r = stmt(s, ST_INSERT_REJECTED, &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, b->received_us);
        bind_text(st, 2, b->peer);
        bind_text(st, 3, j->machine_id);
        sqlite3_bind_int64(st, 4, (int64_t) j->line_no);
        bind_text(st, 5, j->reason ?: "");
        sqlite3_bind_int64(st, 6, (int64_t) j->line_len);
        sqlite3_bind_blob(st, 7, j->raw ?: "", (int) MIN(j->raw_len, (size_t) 4096), SQLITE_STATIC);
        return step_done(s, st, "store a rejected line");
}

static int sqlite_ingest_in_tx(Store *s, const FindingsConfig *fc, const StoreBatch *b, StoreIngestResult *res) {
        int r;
        for (size_t i = 0; i < b->n_rejected; i++) {
                r = sqlite_insert_rejected(s, b, &b->rejected[i]);
                if (r < 0)
                        return r;
        }
        if (b->n_events == 0)
                return 0;

        _cleanup_free_ size_t *idx = new_array(size_t, b->n_events);
        _cleanup_free_ HostState *h = new0(HostState, 1);
        if (!idx || !h)
                return log_oom();
        store_event_order(b, idx);

        /* One host at a time, its events in seq order (findings need that). */
        for (size_t k = 0; k < b->n_events;) {
                const char *machine_id = b->events[idx[k]].machine_id;
                if (!machine_id || !b->events[idx[k]].id)
                        return -EINVAL;
                r = sqlite_host_load(s, machine_id, h);
                if (r < 0)
                        return r;
                bool had_gaps = h->n_gaps > 0;
                for (; k < b->n_events && streq(b->events[idx[k]].machine_id ?: "", machine_id); k++) {
                        const StoreEvent *e = &b->events[idx[k]];
                        if (!e->id)
                                return -EINVAL;
                        r = sqlite_insert_event(s, e, b->received_us);
                        if (r < 0)
                                return r;
                        bool conflict = false;
                        if (r == 0) {
                                r = sqlite_same_content(s, e);
                                if (r < 0)
                                        return r;
                                if (r > 0) {
                                        res->duplicates++;
                                        continue;
                                }
                                res->conflicts++;
                                conflict = true;
                        } else
                                res->stored++;
                        FindingList l = {};
                        findings_on_event(fc, h, e, conflict, b->cert_fingerprint, b->received_us, &l);
                        r = sqlite_apply_changes(s, h, &l, b->received_us, &res->findings);
                        if (r < 0)
                                return r;
                }
                r = sqlite_host_save(s, h, had_gaps);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int sqlite_ingest(Store *s, const StoreBatch *b, StoreIngestResult *ret) {
        StoreIngestResult res = {};
        int r = sqlite_begin(s);
        if (r < 0)
                return r;
        r = sqlite_end(s, sqlite_ingest_in_tx(s, s->base.fc, b, &res));
        if (r < 0)
                return r;
        *ret = res;
        return 0;
}

/* Group commit (store.c): the batches of several workers in one
 * transaction, one savepoint each, so that a batch that fails (a bug, a bad
 * row) is rolled back alone and the others still share the one COMMIT. */
static int sqlite_ingest_group(Store *s, StoreGroupRequest *const *rq, size_t n) {
        int r = sqlite_begin(s);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                StoreGroupRequest *q = rq[i];
                q->result = (StoreIngestResult){};
                r = sqlite_exec(s, "SAVEPOINT batch");
                if (r < 0)
                        break;
                q->r = sqlite_ingest_in_tx(s, ((StoreBase *) q->owner)->fc, q->batch, &q->result);
                if (q->r < 0) {
                        r = sqlite_exec(s, "ROLLBACK TO batch");
                        if (r < 0)
                                break;
                }
                r = sqlite_exec(s, "RELEASE batch");
                if (r < 0)
                        break;
        }
        return sqlite_end(s, r);
}

/* ---- the timer ---- */

static int sqlite_sweep_batch(Store *s, int64_t now_us, char *after, size_t *hosts, size_t *changed) {
        sqlite3_stmt *st;
        int r = stmt(s, ST_DUE_HOSTS, &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, now_us);
        bind_text(st, 2, after);
        sqlite3_bind_int(st, 3, STORE_SWEEP_BATCH);
        char(*ids)[33] = calloc(STORE_SWEEP_BATCH, 33);
        if (!ids)
                return log_oom();
        size_t n = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < STORE_SWEEP_BATCH)
                copy_text(ids[n++], 33, col_text(st, 0));
        r = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqlite_fail(s, rc, "find the due hosts");
        sqlite3_reset(st);

        _cleanup_free_ HostState *h = new0(HostState, 1);
        if (!h)
                r = log_oom();
        for (size_t i = 0; r >= 0 && i < n; i++) {
                r = sqlite_host_load(s, ids[i], h);
                if (r < 0)
                        break;
                bool had_gaps = h->n_gaps > 0;
                FindingList l = {};
                findings_on_timer(s->base.fc, h, now_us, &l);
                r = sqlite_apply_changes(s, h, &l, now_us, changed);
                if (r >= 0)
                        r = sqlite_host_save(s, h, had_gaps);
        }
        if (n > 0)
                copy_text(after, 33, ids[n - 1]);
        free(ids);
        *hosts = n;
        return r;
}

static int sqlite_sweep(Store *s, int64_t now_us, size_t *changed) {
        char after[33] = "";
        size_t total = 0;
        for (;;) {
                size_t n = 0, c = 0;
                int r = sqlite_begin(s);
                if (r < 0)
                        return r;
                r = sqlite_end(s, sqlite_sweep_batch(s, now_us, after, &n, &c));
                if (r < 0)
                        return r;
                total += c;
                if (n < STORE_SWEEP_BATCH)
                        break;
        }
        *changed = total;
        return 0;
}

/* ---- retention ---- */

/* Deletes the rows `sql` selects (?1 = cutoff) in transactions of at most
 * STORE_RETENTION_BATCH rows, so that ingest waits for one short statement
 * at most. */
static int sqlite_delete_batched(Store *s, const char *sql, int64_t cutoff, uint64_t *removed) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_fail(s, rc, "prepare the retention");
        for (;;) {
                int r = sqlite_begin(s);
                if (r < 0)
                        return r;
                sqlite3_reset(st);
                sqlite3_bind_int64(st, 1, cutoff);
                sqlite3_bind_int(st, 2, STORE_RETENTION_BATCH);
                rc = sqlite3_step(st);
                int n = sqlite3_changes(s->db);
                r = sqlite_end(s, rc == SQLITE_DONE ? 0 : sqlite_fail(s, rc, "retention"));
                if (r < 0)
                        return r;
                *removed += (uint64_t) n;
                if (n < STORE_RETENTION_BATCH)
                        return 0;
        }
}

static int sqlite_retention(Store *s, int64_t now_us, const RetentionConfig *rc, uint64_t *removed) {
        uint64_t events = 0, findings = 0, rejected = 0;
        unsigned longest = 0;
        bool forever = false;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(store_severity_classes); i++) {
                const char *sev = store_severity_classes[i];
                unsigned days = store_retention_days(rc, sev);
                if (days == 0) {
                        forever = true;
                        continue;
                }
                longest = MAX(longest, days);
                char sql[256];
                snprintf(sql, sizeof sql,
                         "DELETE FROM events WHERE row_id IN (SELECT row_id FROM events WHERE severity = '%s' "
                         "AND received_at < ?1 ORDER BY received_at LIMIT ?2)",
                         sev);
                r = sqlite_delete_batched(s, sql, now_us - (int64_t) days * (int64_t) USEC_PER_DAY, &events);
                if (r < 0)
                        return r;
        }
        /* Rejected lines have no severity: kept as long as the longest class. */
        if (!forever && longest > 0) {
                r = sqlite_delete_batched(s,
                                          "DELETE FROM rejected WHERE row_id IN (SELECT row_id FROM rejected "
                                          "WHERE received_at < ?1 ORDER BY received_at LIMIT ?2)",
                                          now_us - (int64_t) longest * (int64_t) USEC_PER_DAY, &rejected);
                if (r < 0)
                        return r;
        }
        /* Findings (and their triage, by cascade) once closed for findings_days; open ones stay. */
        if (rc->findings_days > 0) {
                r = sqlite_delete_batched(s,
                                          "DELETE FROM findings WHERE id IN (SELECT id FROM findings "
                                          "WHERE closed_at IS NOT NULL AND closed_at < ?1 LIMIT ?2)",
                                          now_us - (int64_t) rc->findings_days * (int64_t) USEC_PER_DAY, &findings);
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

static int sqlite_export(Store *s, const char *after, int64_t since_us, size_t max, StoreExportFn fn, void *userdata) {
        int64_t cursor;
        int r = store_cursor_parse(after, &cursor);
        if (r < 0)
                return r;
        sqlite3_stmt *st;
        r = stmt(s, ST_EXPORT, &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, cursor);
        sqlite3_bind_int64(st, 2, since_us);
        sqlite3_bind_int64(st, 3, (int64_t) MIN(max, (size_t) INT64_MAX));
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                char c[24];
                snprintf(c, sizeof c, "%" PRId64, (int64_t) sqlite3_column_int64(st, 0));
                const char *json = col_text(st, 1);
                r = fn(json, (size_t) sqlite3_column_bytes(st, 1), c, userdata);
                if (r < 0) {
                        sqlite3_reset(st);
                        return r;
                }
        }
        r = rc == SQLITE_DONE ? 0 : sqlite_fail(s, rc, "export");
        sqlite3_reset(st);
        return r;
}

static int sqlite_hosts(Store *s, StoreHostFn fn, void *userdata) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, "SELECT " HOST_COLUMNS " FROM hosts ORDER BY machine_id", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_fail(s, rc, "list the hosts");
        _cleanup_free_ HostState *h = new0(HostState, 1);
        if (!h)
                return log_oom();
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                *h = (HostState){};
                host_from_row(st, h);
                int r = sqlite_gaps_load(s, h);
                if (r < 0)
                        return r;
                r = fn(h, userdata);
                if (r < 0)
                        return r;
        }
        return rc == SQLITE_DONE ? 0 : sqlite_fail(s, rc, "list the hosts");
}

static int sqlite_findings(Store *s, bool open_only, StoreFindingFn fn, void *userdata) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db,
                                    open_only ? "SELECT f.id, f.machine_id, coalesce(h.host_name, ''), f.kind, "
                                                "f.severity, f.state, f.first_at, f.last_at, coalesce(f.closed_at, 0), "
                                                "f.count, f.detail, f.message FROM findings f LEFT JOIN hosts h "
                                                "USING (machine_id) WHERE f.closed_at IS NULL ORDER BY f.id"
                                              : "SELECT f.id, f.machine_id, coalesce(h.host_name, ''), f.kind, "
                                                "f.severity, f.state, f.first_at, f.last_at, coalesce(f.closed_at, 0), "
                                                "f.count, f.detail, f.message FROM findings f LEFT JOIN hosts h "
                                                "USING (machine_id) ORDER BY f.id",
                                    -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_fail(s, rc, "list the findings");
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                FindingRow f = {
                        .id = sqlite3_column_int64(st, 0),
                        .first_us = sqlite3_column_int64(st, 6),
                        .last_us = sqlite3_column_int64(st, 7),
                        .closed_us = sqlite3_column_int64(st, 8),
                        .count = (uint64_t) sqlite3_column_int64(st, 9),
                        .detail = col_text(st, 10),
                        .message = col_text(st, 11),
                };
                copy_text(f.machine_id, sizeof f.machine_id, col_text(st, 1));
                copy_text(f.host_name, sizeof f.host_name, col_text(st, 2));
                copy_text(f.kind, sizeof f.kind, col_text(st, 3));
                copy_text(f.severity, sizeof f.severity, col_text(st, 4));
                copy_text(f.state, sizeof f.state, col_text(st, 5));
                int r = fn(&f, userdata);
                if (r < 0)
                        return r;
        }
        return rc == SQLITE_DONE ? 0 : sqlite_fail(s, rc, "list the findings");
}

/* ---- open/free ---- */

static void sqlite_free(Store *s) {
        for (size_t i = 0; i < _ST_MAX; i++)
                sqlite3_finalize(s->stmts[i]);
        sqlite3_close(s->db);
        store_base_done(&s->base);
        free(s);
}

static const StoreOps sqlite_ops = {
        .name = "sqlite",
        .ingest = sqlite_ingest,
        .ingest_group = sqlite_ingest_group,
        .sweep = sqlite_sweep,
        .retention = sqlite_retention,
        .export_rows = sqlite_export,
        .hosts = sqlite_hosts,
        .findings = sqlite_findings,
        .free = sqlite_free,
};

int store_sqlite_open(const StoreConfig *cfg, const FindingsConfig *fc, Store **ret) {
        if (!cfg->sqlite_path)
                return -EINVAL;
        _cleanup_store_ Store *s = new0(Store, 1);
        if (!s)
                return log_oom();
        s->base = (StoreBase){ .ops = &sqlite_ops, .fc = fc };

        int rc = sqlite3_open_v2(cfg->sqlite_path, &s->db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK)
                return log_error_errno(sqlite_errno(rc) ?: -EIO, "SQLite: cannot open %s: %s", cfg->sqlite_path,
                                       s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        sqlite3_extended_result_codes(s->db, 1);
        sqlite3_busy_timeout(s->db, (int) MIN(cfg->busy_timeout_ms, (unsigned) INT32_MAX));

        /* WAL: readers (export, the CLI) never block the writer. FULL: the
         * WAL is synced at every COMMIT, so an answered batch survives a
         * power loss. */
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
                return sqlite_fail(s, rc ?: sqlite3_errcode(s->db), "set WAL");
        if (strcasecmp(col_text(st, 0), "wal") != 0)
                return log_error_errno(EIO, "SQLite: %s cannot be put in WAL mode (journal mode %s).", cfg->sqlite_path,
                                       col_text(st, 0));
        sqlite3_finalize(TAKE_PTR(st)); /* a statement in progress would hold back COMMIT */
        int r = sqlite_exec(s, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");
        if (r < 0)
                return r;

        /* Up to date (the common case: a worker opening its connection):
         * no write lock needed, so a busy database does not delay the open. */
        unsigned version = 0;
        r = sqlite_schema_version(s, &version);
        if (r < 0)
                return r;
        if (version != STORE_SCHEMA_VERSION) {
                r = sqlite_begin(s);
                if (r < 0)
                        return r;
                r = sqlite_end(s, sqlite_migrate_in_tx(s));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(s);
        return 0;
}
