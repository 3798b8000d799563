/* SPDX-License-Identifier: MIT */
/* An in-memory Store for the tests of the HTTP side while the real backends
 * (store-sqlite.c, store-postgres.c) are written: built only with
 * -Dcollector_store=stub, never into a packaged mamori-collectord. All Stores
 * of the process share one table per sqlite_path (the worker threads must
 * see each other's rows), hence the one static below. A file
 * "<sqlite_path>.busy" makes every write answer -EBUSY (the 503 test). */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "store.h"

typedef struct StubRow {
        char id[37];
        uint8_t hash[32];
        char *json;
        size_t len;
} StubRow;

typedef struct StubDb {
        pthread_mutex_t lock;
        StubRow *rows;
        size_t n, cap;
        size_t *index; /* open addressing over id: row + 1, 0 = free */
        size_t index_size;
        size_t n_rejected;
} StubDb;

struct Store {
        StubDb *db;
        char *busy_path;
};

static StubDb stub_db = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t stub_hash(const char *s) {
        uint64_t h = UINT64_C(1469598103934665603);
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * UINT64_C(1099511628211);
        return h;
}

static int stub_reindex(StubDb *db) {
        size_t size = MAX(db->index_size * 2, (size_t) 1024);
        size_t *ix = calloc(size, sizeof *ix);
        if (!ix)
                return -ENOMEM;
        for (size_t i = 0; i < db->n; i++) {
                size_t k = stub_hash(db->rows[i].id) % size;
                while (ix[k])
                        k = (k + 1) % size;
                ix[k] = i + 1;
        }
        free(db->index);
        db->index = ix;
        db->index_size = size;
        return 0;
}

static StubRow *stub_find(StubDb *db, const char *id) {
        if (!db->index)
                return NULL;
        for (size_t k = stub_hash(id) % db->index_size; db->index[k]; k = (k + 1) % db->index_size)
                if (streq(db->rows[db->index[k] - 1].id, id))
                        return &db->rows[db->index[k] - 1];
        return NULL;
}

int store_open(const StoreConfig *cfg, const FindingsConfig *fc, Store **ret) {
        Store *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->db = &stub_db;
        if (cfg->sqlite_path && asprintf(&s->busy_path, "%s.busy", cfg->sqlite_path) < 0) {
                free(s);
                return -ENOMEM;
        }
        *ret = s;
        return 0;
}

Store *store_free(Store *s) {
        if (s)
                free(s->busy_path);
        free(s);
        return NULL;
}

int store_ingest(Store *s, const StoreBatch *b, StoreIngestResult *ret) {
        StubDb *db = s->db;
        StoreIngestResult res = { 0 };

        if (s->busy_path && access(s->busy_path, F_OK) == 0)
                return -EBUSY;
        pthread_mutex_lock(&db->lock);
        for (size_t i = 0; i < b->n_events; i++) {
                const StoreEvent *e = &b->events[i];
                StubRow *row = stub_find(db, e->id);
                if (row) {
                        if (memcmp(row->hash, e->content_hash, 32) == 0)
                                res.duplicates++;
                        else
                                res.conflicts++;
                        continue;
                }
                if ((db->n + 1) * 2 > db->index_size && stub_reindex(db) < 0)
                        goto oom;
                if (GROW_ARRAY(db->rows, db->cap, db->n + 1, 1024) < 0)
                        goto oom;
                row = &db->rows[db->n];
                *row = (StubRow){ .len = e->json_len };
                snprintf(row->id, sizeof row->id, "%s", e->id);
                memcpy(row->hash, e->content_hash, 32);
                row->json = strndup(e->json, e->json_len);
                if (!row->json)
                        goto oom;
                db->n++;
                {
                        size_t k = stub_hash(row->id) % db->index_size;
                        while (db->index[k])
                                k = (k + 1) % db->index_size;
                        db->index[k] = db->n;
                }
                res.stored++;
        }
        db->n_rejected += b->n_rejected;
        pthread_mutex_unlock(&db->lock);
        *ret = res;
        return 0;
oom:
        pthread_mutex_unlock(&db->lock);
        return -ENOMEM;
}

int store_sweep(Store *s, int64_t now_us, size_t *changed) {
        *changed = 0;
        return 0;
}

int store_retention(Store *s, int64_t now_us, const RetentionConfig *rc, uint64_t *removed) {
        *removed = 0;
        return 0;
}

int store_export(Store *s, const char *after, int64_t since_us, size_t max, StoreExportFn fn, void *userdata) {
        StubDb *db = s->db;
        size_t start = after && *after ? strtoul(after, NULL, 10) : 0;
        int r = 0;

        pthread_mutex_lock(&db->lock);
        for (size_t i = start, k = 0; i < db->n && k < max; i++, k++) {
                char cursor[32];
                snprintf(cursor, sizeof cursor, "%zu", i + 1);
                r = fn(db->rows[i].json, db->rows[i].len, cursor, userdata);
                if (r < 0)
                        break;
        }
        pthread_mutex_unlock(&db->lock);
        return r < 0 ? r : 0;
}

int store_hosts(Store *s, StoreHostFn fn, void *userdata) {
        return 0;
}

int store_findings(Store *s, bool open_only, StoreFindingFn fn, void *userdata) {
        return 0;
}

/* Group commit: the stub commits nothing, so a group is only a reference count. */
struct StoreGroup {
        int refs;
};

static pthread_mutex_t stub_group_lock = PTHREAD_MUTEX_INITIALIZER;

int store_group_new(StoreGroup **ret) {
        StoreGroup *g = calloc(1, sizeof *g);
        if (!g)
                return -ENOMEM;
        g->refs = 1;
        *ret = g;
        return 0;
}

StoreGroup *store_group_ref(StoreGroup *g) {
        if (g) {
                pthread_mutex_lock(&stub_group_lock);
                g->refs++;
                pthread_mutex_unlock(&stub_group_lock);
        }
        return g;
}

StoreGroup *store_group_unref(StoreGroup *g) {
        if (!g)
                return NULL;
        pthread_mutex_lock(&stub_group_lock);
        bool last = --g->refs == 0;
        pthread_mutex_unlock(&stub_group_lock);
        if (last)
                free(g);
        return NULL;
}

int store_join_group(Store *s, StoreGroup *g) {
        return s && g ? 0 : -EINVAL;
}
