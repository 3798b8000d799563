/* SPDX-License-Identifier: MIT */
#pragma once

/* What store.c dispatches to: one table of functions per backend. Not part
 * of the interface (store.h is); only store.c and store-*.c include it. */

#include <stdlib.h>

#include "store.h"

#define new0(t, n) ((t *) calloc((n), sizeof(t)))
#define new_array(t, n) ((t *) reallocarray(NULL, (n), sizeof(t)))
#define _fallthrough_ __attribute__((fallthrough))

/* A batch waiting in a StoreGroup (store.c). */
typedef struct StoreGroupRequest {
        Store *owner; /* its findings config is the one applied */
        const StoreBatch *batch;
        StoreIngestResult result;
        int r;
        bool done;
        struct StoreGroupRequest *next;
} StoreGroupRequest;

typedef struct StoreOps {
        const char *name;
        int (*ingest)(Store *s, const StoreBatch *b, StoreIngestResult *ret);
        /* Group commit (store.c): the batches of several Stores in one
         * transaction on s's connection, each in a savepoint of its own
         * (r[i] its result; a batch that fails is rolled back alone). Returns
         * the COMMIT's result: < 0 fails them all. NULL: no group commit. */
        int (*ingest_group)(Store *s, StoreGroupRequest *const *rq, size_t n);
        int (*sweep)(Store *s, int64_t now_us, size_t *changed);
        int (*retention)(Store *s, int64_t now_us, const RetentionConfig *rc, uint64_t *removed);
        int (*export_rows)(Store *s, const char *after, int64_t since_us, size_t max, StoreExportFn fn, void *userdata);
        int (*hosts)(Store *s, StoreHostFn fn, void *userdata);
        int (*findings)(Store *s, bool open_only, StoreFindingFn fn, void *userdata);
        void (*free)(Store *s);
} StoreOps;

/* Every backend's Store starts with this (its first member). */
typedef struct StoreBase {
        const StoreOps *ops;
        const FindingsConfig *fc;
        StoreGroup *group; /* joined, or NULL */
} StoreBase;

/* For the backends' free(): leaves the group. */
void store_base_done(StoreBase *b);

int store_sqlite_open(const StoreConfig *cfg, const FindingsConfig *fc, Store **ret);
int store_postgres_open(const StoreConfig *cfg, const FindingsConfig *fc, Store **ret);
