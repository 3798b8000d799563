/* SPDX-License-Identifier: MIT */
#pragma once

/* The collector's storage: one interface, two backends (store-sqlite.c,
 * store-postgres.c) with the same schema and the same tests (issue 12).
 * A Store is one database connection: one per worker thread, never shared
 * between threads. Every function returns 0 or a negative errno:
 * -EBUSY/-EAGAIN/-ETIMEDOUT/-ECONNREFUSED/-ENOTCONN mean "cannot store now"
 * (the HTTP layer answers 503 with Retry-After); anything else is a bug or a
 * broken database (500). Nothing is half-stored: a batch is one transaction. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "findings.h"

typedef enum StoreBackend {
        STORE_SQLITE,
        STORE_POSTGRES,
} StoreBackend;

typedef struct StoreConfig {
        StoreBackend backend;
        char *sqlite_path;        /* STORE_SQLITE: the database file (WAL beside it) */
        char *pg_conninfo;        /* STORE_POSTGRES: a libpq conninfo string (read from a file of root's) */
        unsigned busy_timeout_ms; /* how long a write may wait for the database before -EBUSY (503) */
} StoreConfig;

/* Days to keep, per severity class of the events (第5-8 一定期間保存);
 * 0 keeps forever. Findings and their triage records have their own. */
typedef struct RetentionConfig {
        unsigned info_days, low_days, medium_days, high_days, critical_days;
        unsigned findings_days;
} RetentionConfig;

/* One validated line of a batch (collector/event-check.c made it). Strings
 * are NUL-terminated, valid UTF-8, bounded; optional ones may be NULL. */
typedef struct StoreEvent {
        const char *id;         /* UUID, lower-case: the de-duplication key */
        const char *machine_id; /* 32 lower-case hex digits */
        uint64_t seq;           /* >= 1 */
        int64_t time_us;        /* the event's own time, µs since the epoch (UTC) */
        const char *kind;
        const char *severity; /* info, low, medium, high, critical */
        const char *host_name;
        const char *agent_version;
        const char *policy_hash;
        const char *policy_ref, *user_name;
        const char *device_vendor, *device_product, *device_serial;
        const char *json; /* the whole line as received (no newline) */
        size_t json_len;
        uint8_t content_hash[32]; /* SHA-256 of json: an id reused with other content is tampering */
} StoreEvent;

/* A line that is not a valid mamori event: kept raw, with the reason,
 * visible to the team; the rest of the batch is stored. */
typedef struct StoreRejected {
        size_t line_no;         /* 1-based line of the batch */
        const char *reason;     /* e.g. "not JSON", "seq missing", "line longer than 65536 bytes" */
        const char *machine_id; /* when the line named one that checks out, else NULL */
        const char *raw;        /* at most the first 4 KiB of the line (raw_len says how much) */
        size_t raw_len;
        size_t line_len; /* the whole line's length */
} StoreRejected;

typedef struct StoreBatch {
        int64_t received_us;          /* the collector's clock when the batch arrived */
        const char *peer;             /* "address:port" of the client */
        const char *cert_fingerprint; /* SHA-256 (hex) of the client certificate; NULL without mTLS */
        const char *cert_name;        /* the certificate's CN, NULL without mTLS */
        const char *batch_header;     /* X-Mamori-Batch as received (sanitized), may be NULL */
        const StoreEvent *events;
        size_t n_events;
        const StoreRejected *rejected;
        size_t n_rejected;
} StoreBatch;

typedef struct StoreIngestResult {
        size_t stored;     /* new events */
        size_t duplicates; /* ids already stored with the same content */
        size_t conflicts;  /* ids already stored with other content (host.tampered raised) */
        size_t findings;   /* finding changes written (opened, updated, closed) */
} StoreIngestResult;

typedef struct Store Store;

/* Opens (and creates or migrates) the schema. fc is borrowed: the findings
 * rules applied inside store_ingest() and store_sweep(). */
int store_open(const StoreConfig *cfg, const FindingsConfig *fc, Store **ret);
Store *store_free(Store *s);
static inline void store_freep(Store **s) {
        if (*s)
                store_free(*s);
}
#define _cleanup_store_ __attribute__((cleanup(store_freep)))

/* Group commit (SQLite): the Stores of the worker threads of one storage
 * configuration may join one StoreGroup. Their concurrent batches are then
 * written by one of them in one transaction (one savepoint per batch, one
 * COMMIT, one fsync), and each store_ingest() returns only once its batch is
 * committed; a failed COMMIT fails every batch of the group. The group is
 * reference-counted: each Store that joined holds a reference. PostgreSQL
 * ignores the group (the server does its own group commit). */
typedef struct StoreGroup StoreGroup;
int store_group_new(StoreGroup **ret);
StoreGroup *store_group_ref(StoreGroup *g);
StoreGroup *store_group_unref(StoreGroup *g);
static inline void store_group_unrefp(StoreGroup **g) {
        if (*g)
                store_group_unref(*g);
}
#define _cleanup_store_group_ __attribute__((cleanup(store_group_unrefp)))
/* Once, right after store_open(); all Stores of a group must have the same
 * StoreConfig. Only store_ingest() goes through the group. */
int store_join_group(Store *s, StoreGroup *g);

/* One transaction: the events (ON CONFLICT on id: nothing), the rejected
 * lines, for each host touched its row (locked: several collectors may share
 * one PostgreSQL), findings_on_event() for each new event, the finding rows
 * and their collector.* events. Only when it returns 0 may the batch be
 * answered 2xx. */
int store_ingest(Store *s, const StoreBatch *b, StoreIngestResult *ret);

/* The timer: findings_on_timer() for the hosts whose next deadline
 * (HostState.due_us) has passed, found through an index, never a scan of
 * events. *changed = finding changes written. */
int store_sweep(Store *s, int64_t now_us, size_t *changed);

/* Retention: events older than their class's days (SQLite: deletes in
 * batches of a few thousand rows; PostgreSQL: whole monthly partitions
 * once all of their rows are past), findings past findings_days. */
int store_retention(Store *s, int64_t now_us, const RetentionConfig *rc, uint64_t *removed);

/* Export in arrival order: rows after `after` (an opaque cursor, "" or NULL
 * for the start), at most max; fn gets each stored line (agent events as
 * received, collector.* events as written) and the cursor just after it.
 * fn returning < 0 stops with that error. */
typedef int (*StoreExportFn)(const char *json, size_t len, const char *cursor, void *userdata);
int store_export(Store *s, const char *after, int64_t since_us, size_t max, StoreExportFn fn, void *userdata);

/* For mamori-collectorctl and the tests. */
typedef int (*StoreHostFn)(const HostState *h, void *userdata);
int store_hosts(Store *s, StoreHostFn fn, void *userdata);
typedef int (*StoreFindingFn)(const FindingRow *f, void *userdata);
int store_findings(Store *s, bool open_only, StoreFindingFn fn, void *userdata);
