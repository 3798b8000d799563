/* SPDX-License-Identifier: MIT */
#pragma once

/* The schema of both storage backends (same tables, same columns; the SQL
 * dialects differ) and the small pieces both backends share. Times are
 * integers, µs since the epoch (UTC), in both: the same cursor, the same
 * retention arithmetic, and PostgreSQL's monthly partitions are ranges of it. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STORE_SCHEMA_VERSION 4

/* Rows per DELETE of the retention: short statements, so that ingest is not
 * held up behind one long delete. */
#define STORE_RETENTION_BATCH 5000
/* Hosts per transaction of a sweep. */
#define STORE_SWEEP_BATCH 500
/* A collector.* event line: findings_event_json() writes at most this. */
#define STORE_COLLECTOR_EVENT_MAX 8192

typedef enum StoreDialect {
        STORE_DIALECT_SQLITE,
        STORE_DIALECT_POSTGRES,
} StoreDialect;

typedef struct StoreMigration {
        unsigned version; /* the schema version once this step ran */
        const char *sql;  /* one or more statements */
} StoreMigration;

/* The steps from an empty database to STORE_SCHEMA_VERSION, in order. */
const StoreMigration *store_schema_migrations(StoreDialect d, size_t *n);

/* The severity classes, in retention order. */
extern const char *const store_severity_classes[5];
unsigned store_retention_days(const RetentionConfig *rc, const char *severity);

/* A random (v4) UUID, lower-case. */
void store_new_uuid(char ret[37]);

/* The export cursor: the row_id of the last row given, in decimal. ""/NULL = 0. */
int store_cursor_parse(const char *s, int64_t *ret);

/* The order in which a batch's events go through findings_on_event():
 * by machine_id, then seq (then line). idx gets n indices into b->events. */
void store_event_order(const StoreBatch *b, size_t *idx);

/* The collector.* event of a finding change, ready to be stored as a row:
 * *ev points into buf/uuid (which must outlive it). */
int store_collector_event(const FindingChange *f, const HostState *h, int64_t now_us, char uuid[37], char *kind,
                          size_t kind_size, char *buf, size_t size, StoreEvent *ev);

/* [start, end) of the UTC month that holds t_us, and its YYYYMM. */
void store_month_bounds(int64_t t_us, int64_t *start_us, int64_t *end_us, unsigned *yyyymm);
