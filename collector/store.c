/* SPDX-License-Identifier: MIT */
/* store.h's entry points: pick the backend at open, dispatch through its ops. */

#include <errno.h>
#include <string.h>

#include "store-backend.h"

static const StoreOps *store_ops(Store *s) {
        return ((StoreBase *) s)->ops;
}

int store_open(const StoreConfig *cfg, const FindingsConfig *fc, Store **ret) {
        if (!cfg || !fc || !ret)
                return -EINVAL;
        switch (cfg->backend) {
        case STORE_SQLITE:
                return store_sqlite_open(cfg, fc, ret);
        case STORE_POSTGRES:
                return store_postgres_open(cfg, fc, ret);
        }
        return -EINVAL;
}

Store *store_free(Store *s) {
        if (s)
                store_ops(s)->free(s);
        return NULL;
}

/* event-check.c made the events; what the backends rely on is checked
 * once more here, so that a bug there is a 500, not a corrupt host row. */
static bool store_event_ok(const StoreEvent *e) {
        return e->id && e->machine_id && e->kind && e->severity && e->json &&
               strlen(e->machine_id) < sizeof(((HostState *) NULL)->machine_id);
}

int store_ingest(Store *s, const StoreBatch *b, StoreIngestResult *ret) {
        StoreIngestResult dummy;
        if (!s || !b || (b->n_events > 0 && !b->events) || (b->n_rejected > 0 && !b->rejected))
                return -EINVAL;
        for (size_t i = 0; i < b->n_events; i++)
                if (!store_event_ok(&b->events[i]))
                        return -EINVAL;
        return store_ops(s)->ingest(s, b, ret ?: &dummy);
}

int store_sweep(Store *s, int64_t now_us, size_t *changed) {
        size_t dummy;
        if (!s)
                return -EINVAL;
        return store_ops(s)->sweep(s, now_us, changed ?: &dummy);
}

int store_retention(Store *s, int64_t now_us, const RetentionConfig *rc, uint64_t *removed) {
        uint64_t dummy;
        if (!s || !rc)
                return -EINVAL;
        return store_ops(s)->retention(s, now_us, rc, removed ?: &dummy);
}

int store_export(Store *s, const char *after, int64_t since_us, size_t max, StoreExportFn fn, void *userdata) {
        if (!s || !fn)
                return -EINVAL;
        return store_ops(s)->export_rows(s, after, since_us, max, fn, userdata);
}

int store_hosts(Store *s, StoreHostFn fn, void *userdata) {
        if (!s || !fn)
                return -EINVAL;
        return store_ops(s)->hosts(s, fn, userdata);
}

int store_findings(Store *s, bool open_only, StoreFindingFn fn, void *userdata) {
        if (!s || !fn)
                return -EINVAL;
        return store_ops(s)->findings(s, open_only, fn, userdata);
}
