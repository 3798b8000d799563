/* SPDX-License-Identifier: MIT */
/* store.h's entry points: pick the backend at open, dispatch through its ops. */

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
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

/* ---- group commit ----
 * Leader and followers: a batch is queued; the first caller that finds no
 * leader at work becomes one, takes the whole queue, writes it in one
 * transaction on its own connection and answers every batch of it. The
 * batches that arrive meanwhile queue up for the next leader: the longer a
 * COMMIT (fsync) takes, the more batches share the next one. */

struct StoreGroup {
        atomic_uint refs;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        StoreGroupRequest *head, **tail;
        bool leading; /* a leader is writing */
};

int store_group_new(StoreGroup **ret) {
        if (!ret)
                return -EINVAL;
        StoreGroup *g = new0(StoreGroup, 1);
        if (!g)
                return -ENOMEM;
        atomic_init(&g->refs, 1);
        pthread_mutex_init(&g->lock, NULL);
        pthread_cond_init(&g->cond, NULL);
        g->tail = &g->head;
        *ret = g;
        return 0;
}

StoreGroup *store_group_ref(StoreGroup *g) {
        if (g)
                atomic_fetch_add(&g->refs, 1);
        return g;
}

StoreGroup *store_group_unref(StoreGroup *g) {
        if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
                return NULL;
        pthread_cond_destroy(&g->cond);
        pthread_mutex_destroy(&g->lock);
        free(g);
        return NULL;
}

int store_join_group(Store *s, StoreGroup *g) {
        StoreBase *b = (StoreBase *) s;
        if (!s || !g || b->group)
                return -EINVAL;
        b->group = store_group_ref(g);
        return 0;
}

void store_base_done(StoreBase *b) {
        b->group = store_group_unref(b->group);
}

static int store_group_ingest(Store *s, StoreGroup *g, const StoreBatch *b, StoreIngestResult *ret) {
        StoreGroupRequest me = { .owner = s, .batch = b };

        pthread_mutex_lock(&g->lock);
        *g->tail = &me;
        g->tail = &me.next;
        while (!me.done && g->leading)
                pthread_cond_wait(&g->cond, &g->lock);
        if (me.done) {
                pthread_mutex_unlock(&g->lock);
                if (me.r >= 0)
                        *ret = me.result;
                return me.r;
        }
        /* Leader: everything queued so far (me among it). */
        g->leading = true;
        StoreGroupRequest *list = g->head;
        g->head = NULL;
        g->tail = &g->head;
        pthread_mutex_unlock(&g->lock);

        size_t n = 0;
        for (StoreGroupRequest *q = list; q; q = q->next)
                n++;
        StoreGroupRequest **rq = new_array(StoreGroupRequest *, n);
        int r;
        if (rq) {
                size_t i = 0;
                for (StoreGroupRequest *q = list; q; q = q->next)
                        rq[i++] = q;
                r = store_ops(s)->ingest_group(s, rq, n);
                free(rq);
        } else
                r = -ENOMEM;

        pthread_mutex_lock(&g->lock);
        for (StoreGroupRequest *q = list, *next; q; q = next) {
                next = q->next; /* q may be gone once done is seen */
                if (r < 0)
                        q->r = r; /* not committed: nothing of it is stored */
                q->done = true;
        }
        g->leading = false;
        pthread_cond_broadcast(&g->cond);
        pthread_mutex_unlock(&g->lock);
        if (me.r >= 0)
                *ret = me.result;
        return me.r;
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
        StoreGroup *g = ((StoreBase *) s)->group;
        if (g && store_ops(s)->ingest_group)
                return store_group_ingest(s, g, b, ret ?: &dummy);
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
