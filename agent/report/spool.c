/* SPDX-License-Identifier: MIT */
/* The spool's API (spool.h): open and free, the queue and its group commit,
 * reading batches and acknowledging them. spool-internal.h says which file
 * holds the rest. */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "log.h"
#include "spool-internal.h"
#include "string-table.h"

/* Group commit: beyond this much queued, commit at once rather than at the end
 * of the loop iteration. */
#define FORCE_COMMIT_RECORDS 512u

static const char *const spool_damage_table[_SPOOL_DAMAGE_MAX] = {
        [SPOOL_DAMAGE_TORN] = "torn_write",          [SPOOL_DAMAGE_CORRUPT] = "corrupt",
        [SPOOL_DAMAGE_CURSOR] = "cursor_unreadable", [SPOOL_DAMAGE_SEQ_RANGE] = "seq_out_of_range",
        [SPOOL_DAMAGE_OVERSIZED] = "oversized",      [SPOOL_DAMAGE_NOT_A_FILE] = "foreign_file",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING_FALLBACK(spool_damage, SpoolDamage, "unknown");

/* ---- open, free ---- */

/* The `committed` mark says what the uplink may read. What is on disk at open
 * may have been written by a process that died before its sync: made durable
 * now, before the mark lets the uplink send it. */
static int spool_committed_open(Spool *s) {
        int r;

        s->committed_fd = spool_open_file(s, "committed", O_CREAT);
        if (s->committed_fd < 0)
                return log_error_errno(s->committed_fd, "Cannot open %s/committed: %m", s->dir);
        if (s->n_segs > 0) {
                r = spool_sync_fd(s, s->segs[s->n_segs - 1]->fd);
                if (r < 0)
                        return log_error_errno(r, "Cannot sync the spool in %s: %m", s->dir);
        }
        r = spool_committed_store(s, s->next_seq - 1);
        if (r < 0)
                return log_error_errno(r, "Cannot write %s/committed: %m", s->dir);
        return 0;
}

void spool_add_finding(Spool *s, const SpoolFinding *f) {
        SpoolFinding *n = reallocarray(s->findings, s->n_findings + 1, sizeof *n);
        if (!n) {
                log_oom();
                return;
        }
        s->findings = n;
        s->findings[s->n_findings++] = *f;
        if (s->defer)
                (void) sd_event_source_set_enabled(s->defer, SD_EVENT_ONESHOT);
}

void spool_set_max_bytes(Spool *s, uint64_t max_bytes) {
        assert(s);

        if (max_bytes == 0)
                max_bytes = SPOOL_DEFAULT_MAX_BYTES;
        s->max_bytes = MAX(max_bytes, SPOOL_MIN_MAX_BYTES);
        s->seg_size = MIN(MAX(s->max_bytes / 8, UINT64_C(64) * 1024), UINT64_C(4) * 1024 * 1024);
        s->force_bytes = MIN(MAX(s->max_bytes / 16, UINT64_C(16) * 1024), UINT64_C(1024) * 1024);
        s->warned_full = false;
        /* A smaller bound is enforced by the next commit; make sure there is one. */
        if (s->bytes > spool_high_water(s) && s->defer)
                (void) sd_event_source_set_enabled(s->defer, SD_EVENT_ONESHOT);
}

int spool_open(const char *dir, const SpoolOptions *opt, Spool **ret) {
        _cleanup_(spool_freep) Spool *s = NULL;
        int r;

        assert(dir);
        assert(ret);
        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->dir_fd = s->cursor_fd = s->committed_fd = -EBADF;
        s->sync = !(opt && opt->no_sync);
        s->next_seq = 1;
        spool_set_max_bytes(s, opt ? opt->max_bytes : 0);
        s->dir = strdup(dir);
        if (!s->dir)
                return -ENOMEM;
        r = spool_open_dir(s);
        if (r < 0)
                return r;
        /* Two writers would interleave records: one mamorid per spool. */
        if (flock(s->dir_fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : negative_errno();

        r = spool_cursor_load(s);
        if (r < 0)
                return r;
        r = spool_segments_load(s);
        if (r < 0)
                return r;
        if (opt && opt->min_next_seq > SPOOL_SEQ_FLOOR_MAX + 1) {
                /* The floor from an older format's seq file, past any sane seq. */
                spool_add_finding(s, &(SpoolFinding){ .kind = SPOOL_DAMAGE_SEQ_RANGE,
                                                      .file = "seq",
                                                      .bad_seq = opt->min_next_seq,
                                                      .last_good_seq = s->next_seq - 1,
                                                      .lost_first = 1,
                                                      .lost_last = 0 });
                log_warning("The seq file of an older version says %" PRIu64 ", past any sane seq: ignored.",
                            opt->min_next_seq);
        } else if (opt)
                s->next_seq = MAX(s->next_seq, opt->min_next_seq);
        /* Dropped or damaged bytes found at open are removed now. */
        r = spool_reclaim(s, false);
        if (r < 0)
                log_warning_errno(r, "Cannot compact the spool in %s yet: %m", dir);
        r = spool_committed_open(s);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

Spool *spool_free(Spool *s) {
        if (!s)
                return NULL;
        if (s->qn > 0 && s->dir_fd >= 0) {
                int r = spool_commit(s);
                if (r < 0)
                        log_error_errno(r, "Could not commit %zu queued event(s) to the spool at exit: %m", s->qn);
        }
        sd_event_source_disable_unref(s->defer);
        sd_event_source_disable_unref(s->retry);
        for (size_t i = 0; i < s->n_segs; i++)
                spool_segment_free(s->segs[i]);
        free(s->segs);
        free(s->qbuf);
        free(s->qrec);
        free(s->findings);
        free(s->delivered_path);
        free(s->cursor_path);
        if (s->committed_fd >= 0)
                close(s->committed_fd);
        if (s->cursor_fd >= 0)
                close(s->cursor_fd);
        if (s->dir_fd >= 0)
                close(s->dir_fd);
        free(s->dir);
        free(s);
        return NULL;
}

void spool_set_callbacks(Spool *s, const SpoolCallbacks *cb, void *userdata) {
        assert(s);
        assert(cb);
        s->cb = *cb;
        s->userdata = userdata;
}

static int spool_on_defer(sd_event_source *src, void *userdata) {
        Spool *s = userdata;

        /* Findings first: they are reported outside of any spool call. */
        while (s->n_findings > 0) {
                SpoolFinding f = s->findings[0];
                memmove(s->findings, s->findings + 1, (s->n_findings - 1) * sizeof f);
                s->n_findings--;
                if (s->cb.damaged)
                        s->cb.damaged(&f, s->userdata);
        }
        (void) spool_commit(s);
        return 0;
}

static int spool_on_retry(sd_event_source *src, uint64_t usec, void *userdata) {
        Spool *s = userdata;
        (void) spool_commit(s);
        return 0;
}

int spool_attach_event(Spool *s, sd_event *e, int64_t priority) {
        int r;

        assert(s);
        assert(e);
        r = sd_event_add_defer(e, &s->defer, spool_on_defer, s);
        if (r < 0)
                return r;
        r = sd_event_add_time(e, &s->retry, CLOCK_MONOTONIC, 0, USEC_PER_SEC, spool_on_retry, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(s->retry, SD_EVENT_OFF);
        (void) sd_event_source_set_priority(s->retry, priority);
        (void) sd_event_source_set_priority(s->defer, priority);
        (void) sd_event_source_set_description(s->defer, "spool-commit");
        return sd_event_source_set_enabled(s->defer,
                                           s->n_findings || s->qn || (!s->reader && s->bytes > spool_high_water(s))
                                                   ? SD_EVENT_ONESHOT
                                                   : SD_EVENT_OFF);
}

/* ---- append, commit ---- */

uint64_t spool_next_seq(const Spool *s) {
        assert(s);
        return s->next_seq;
}

int spool_queue_record(Spool *s, const void *json, size_t len, const void *aux, size_t aux_len, uint8_t severity,
                       usec_t time, uint8_t flags) {
        size_t sz = spool_record_size(len, aux_len);
        SpoolRecord rec = {
                .seq = s->next_seq,
                .time = time,
                .severity = MIN(severity, SPOOL_RECORD_MAX_SEVERITY),
                .flags = (flags & REC_TOMBSTONE) ? SPOOL_RECORD_TOMBSTONE : 0,
                .json = json,
                .json_len = len,
                .aux = aux,
                .aux_len = aux_len,
        };

        if (sz == 0)
                return -E2BIG;
        if (s->qlen + sz > s->qcap) {
                size_t ncap = MAX(s->qcap * 2, s->qlen + sz + 4096);
                uint8_t *n = realloc(s->qbuf, ncap);
                if (!n)
                        return -ENOMEM;
                s->qbuf = n;
                s->qcap = ncap;
        }
        if (GROW_ARRAY(s->qrec, s->qcap_n, s->qn + 1, 64) < 0)
                return -ENOMEM;
        spool_record_encode(s->qbuf + s->qlen, &rec);
        s->qrec[s->qn++] = (Rec){
                .seq = rec.seq,
                .offset = (uint32_t) s->qlen,
                .size = (uint32_t) sz,
                .severity = rec.severity,
                .flags = flags & REC_TOMBSTONE,
        };
        s->qlen += sz;
        s->next_seq++;
        return 0;
}

int spool_append(Spool *s, const char *json, size_t len, uint8_t severity, usec_t time) {
        int r;

        assert(s);
        assert(json);

        if (s->reader)
                return -EROFS;
        if (len == 0 || len > SPOOL_EVENT_MAX)
                return -E2BIG;
        if (s->next_seq > SPOOL_RECORD_SEQ_MAX - SPOOL_DROP_MAX_RANGES)
                return -EOVERFLOW; /* never: the seq starts at most at 2^52 + 1 */
        if (s->qlen > QUEUE_HARD_MAX)
                return -ENOBUFS;
        r = spool_queue_record(s, json, len, NULL, 0, severity, time, 0);
        if (r < 0)
                return r;
        s->appended++;
        if (s->qn >= FORCE_COMMIT_RECORDS || s->qlen >= s->force_bytes)
                (void) spool_commit(s);
        else if (s->defer)
                (void) sd_event_source_set_enabled(s->defer, SD_EVENT_ONESHOT);
        return 0;
}
static int spool_commit_queued(Spool *s) {
        Segment *g = NULL;
        uint64_t last;
        int r;

        /* What the uplink delivered, so that making room reclaims it first. */
        if (s->delivered_path && (s->qn > 0 || s->bytes + s->qlen > spool_high_water(s)))
                (void) spool_pull_delivered(s);
        spool_make_room(s);
        if (s->qn == 0)
                return 0;

        r = spool_segment_active(s, &g);
        if (r >= 0)
                r = spool_segment_reserve(g, s->qn);
        if (r >= 0) {
                r = spool_pwrite_all(g->fd, s->qbuf, s->qlen, g->size);
                if (r >= 0)
                        r = spool_sync_fd(s, g->fd);
                if (r < 0)
                        /* Leave no half-written tail behind; the queue is retried. */
                        (void) ftruncate(g->fd, (off_t) g->size);
        }
        if (r < 0) {
                /* Disk full, I/O error: try again in a while, events or not. */
                if (s->retry && sd_event_source_set_time_relative(s->retry, 5 * USEC_PER_SEC) >= 0)
                        (void) sd_event_source_set_enabled(s->retry, SD_EVENT_ONESHOT);
                if (s->cb.committed)
                        s->cb.committed(0, r, s->userdata);
                return r;
        }

        for (size_t i = 0; i < s->qn; i++) {
                Rec m = s->qrec[i];
                m.offset += (uint32_t) g->size;
                g->recs[g->n++] = m;
        }
        last = s->qrec[s->qn - 1].seq;
        g->size += s->qlen;
        s->bytes += s->qlen;
        s->n_live += s->qn;
        s->qn = 0;
        s->qlen = 0;
        s->commits++;

        /* Before the drops settle (which may rewrite segments): the uplink
         * then sees the tombstone no later than the rewrite. */
        if (s->cursor_disbelieved && spool_cursor_store(s, s->acked, true) >= 0)
                s->cursor_disbelieved = false;
        r = spool_committed_store(s, last);
        if (r < 0)
                log_warning_errno(r, "Cannot write %s/committed (the uplink waits for the next commit): %m", s->dir);

        spool_drop_settle(s);

        if (s->cb.committed)
                s->cb.committed(last, 0, s->userdata);
        return 0;
}

int spool_commit(Spool *s) {
        int r;

        assert(s);
        if (s->reader)
                return -EROFS;
        if (s->in_commit)
                return 0;
        s->in_commit = true;
        r = spool_commit_queued(s);
        s->in_commit = false;
        return r;
}

/* ---- reading, acknowledging ---- */

/* The first record after `seq`: segment i, record k. */
static bool spool_find_after(const Spool *s, uint64_t seq, size_t *ret_i, size_t *ret_k) {
        for (size_t i = 0; i < s->n_segs; i++) {
                const Segment *g = s->segs[i];
                size_t lo = 0, hi = g->n;
                if (g->n == 0 || g->recs[g->n - 1].seq <= seq)
                        continue;
                while (lo < hi) {
                        size_t mid = lo + (hi - lo) / 2;
                        if (g->recs[mid].seq <= seq)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                *ret_i = i;
                *ret_k = lo;
                return true;
        }
        return false;
}

static void spool_lose(Spool *s, Segment *g, Rec *m) {
        SpoolFinding f = { .kind = SPOOL_DAMAGE_CORRUPT,
                           .offset = m->offset,
                           .bytes = m->size,
                           .lost_first = m->seq,
                           .lost_last = m->seq };
        spool_segment_name(f.file, g->base);
        if (spool_rec_live(s, m))
                s->n_live--;
        m->flags |= REC_LOST;
        g->dirty = true;
        spool_add_finding(s, &f);
}

typedef int (*RecVisit)(Spool *s, const Rec *m, const SpoolRecord *rec, void *userdata);

/* Visits live records after the cursor in order, reading each segment's span
 * in one go and checking every record again. Stops when fn returns > 0. */
static int spool_visit_live(Spool *s, RecVisit fn, void *userdata) {
        size_t i, k;

        if (!spool_find_after(s, s->acked, &i, &k))
                return 0;
        while (i < s->n_segs) {
                Segment *g = s->segs[i];
                _cleanup_free_ uint8_t *buf = NULL;
                size_t end = k;
                uint64_t from, to;
                int r;

                if (k >= g->n) {
                        i++;
                        k = 0;
                        continue;
                }
                /* Read at most 1 MiB per go. */
                while (end < g->n &&
                       (end == k || g->recs[end].offset + g->recs[end].size - g->recs[k].offset <= 1024 * 1024))
                        end++;
                from = g->recs[k].offset;
                to = g->recs[end - 1].offset + g->recs[end - 1].size;
                buf = malloc(to - from);
                if (!buf)
                        return -ENOMEM;
                r = spool_pread_all(g->fd, buf, to - from, from);
                if (r < 0)
                        return r;
                for (size_t j = k; j < end; j++) {
                        Rec *m = &g->recs[j];
                        SpoolRecord rec;
                        size_t sz;
                        if (!spool_rec_live(s, m))
                                continue;
                        if (spool_record_decode(buf + (m->offset - from), m->size, &rec, &sz) != SPOOL_DECODE_OK ||
                            rec.seq != m->seq) {
                                spool_lose(s, g, m);
                                continue;
                        }
                        r = fn(s, m, &rec, userdata);
                        if (r != 0)
                                return r;
                }
                k = end;
        }
        return 0;
}

typedef struct BatchCtx {
        SpoolBatch *b;
        size_t cap, max_events, max_bytes;
} BatchCtx;

static int spool_batch_add(Spool *s, const Rec *m, const SpoolRecord *rec, void *userdata) {
        BatchCtx *c = userdata;
        SpoolBatch *b = c->b;

        if (b->count >= c->max_events || (b->count > 0 && b->len + rec->json_len + 1 > c->max_bytes))
                return 1;
        if (b->len + rec->json_len + 1 > c->cap) {
                size_t ncap = MAX(c->cap * 2, b->len + rec->json_len + 1 + 4096);
                char *n = realloc(b->data, ncap);
                if (!n)
                        return -ENOMEM;
                b->data = n;
                c->cap = ncap;
        }
        memcpy(b->data + b->len, rec->json, rec->json_len);
        b->len += rec->json_len;
        b->data[b->len++] = '\n';
        if (b->count == 0)
                b->first_seq = m->seq;
        b->last_seq = m->seq;
        b->count++;
        return 0;
}

int spool_read_batch(Spool *s, size_t max_events, size_t max_bytes, SpoolBatch *ret) {
        SpoolBatch b = { 0 };
        BatchCtx c = { .b = &b, .max_events = max_events ? max_events : 1 };
        int r;

        assert(s);
        assert(ret);
        c.max_bytes = MAX(MIN(max_bytes, s->max_bytes / 4), (size_t) 1);
        r = spool_visit_live(s, spool_batch_add, &c);
        if (r < 0) {
                free(b.data);
                return r;
        }
        if (b.count == 0) {
                free(b.data);
                return -ENODATA;
        }
        s->inflight_last = b.last_seq;
        *ret = b;
        return 0;
}

void spool_batch_done(SpoolBatch *b) {
        assert(b);
        free(b->data);
        *b = (SpoolBatch){ 0 };
}

void spool_release(Spool *s) {
        assert(s);
        s->inflight_last = 0;
}

static int spool_ack_with(Spool *s, uint64_t last_seq, bool sync) {
        int r;

        assert(s);
        s->inflight_last = 0;
        if (last_seq <= s->acked)
                return 0;
        if (last_seq >= s->next_seq)
                return -ERANGE;
        r = spool_cursor_store(s, last_seq, sync);
        if (r < 0)
                return r;
        size_t i, k;
        if (spool_find_after(s, s->acked, &i, &k))
                for (; i < s->n_segs; i++, k = 0)
                        for (; k < s->segs[i]->n && s->segs[i]->recs[k].seq <= last_seq; k++)
                                if (!(s->segs[i]->recs[k].flags & REC_GONE))
                                        s->n_live--;
        s->acked = last_seq;
        if (s->reader) {
                spool_reader_forget(s);
                return 0;
        }
        r = spool_reclaim(s, false);
        if (r < 0)
                log_warning_errno(r, "Cannot remove delivered segments from the spool: %m");
        return 0;
}

int spool_ack(Spool *s, uint64_t last_seq) {
        return spool_ack_with(s, last_seq, true);
}

int spool_ack_lazy(Spool *s, uint64_t last_seq) {
        return spool_ack_with(s, last_seq, false);
}

/* ---- inspection ---- */

void spool_get_stats(const Spool *s, SpoolStats *ret) {
        usec_t oldest = 0;
        size_t i, k;

        assert(s);
        assert(ret);

        /* Cheap: the index is in memory. */
        if (spool_find_after(s, s->acked, &i, &k))
                for (; i < s->n_segs && !oldest; i++, k = 0)
                        for (; k < s->segs[i]->n; k++)
                                if (spool_rec_live(s, &s->segs[i]->recs[k])) {
                                        oldest = spool_rec_time(s, s->segs[i], &s->segs[i]->recs[k]);
                                        break;
                                }
        if (!oldest && s->qn > 0)
                oldest = spool_rec_time(s, NULL, &s->qrec[0]);

        *ret = (SpoolStats){
                .depth = s->n_live + s->qn,
                .queued = s->qn,
                .bytes = s->bytes,
                .max_bytes = s->max_bytes,
                .next_seq = s->next_seq,
                .acked_seq = s->acked,
                .oldest_unsent = oldest,
                .appended = s->appended,
                .dropped = s->dropped,
                .commits = s->commits,
                .fsyncs = s->fsyncs,
                .segments = (unsigned) s->n_segs,
        };
}

typedef struct ForeachCtx {
        SpoolVisit fn;
        void *userdata;
} ForeachCtx;

static int spool_foreach_one(Spool *s, const Rec *m, const SpoolRecord *rec, void *userdata) {
        ForeachCtx *c = userdata;
        return c->fn(m->seq, (const char *) rec->json, rec->json_len, c->userdata);
}

int spool_foreach(Spool *s, SpoolVisit fn, void *userdata) {
        ForeachCtx c = { fn, userdata };
        int r;

        assert(s);
        assert(fn);
        r = spool_visit_live(s, spool_foreach_one, &c);
        return r < 0 ? r : 0;
}
