/* SPDX-License-Identifier: MIT */
/* The spool's size bound: when the next commit would pass it, delivered
 * records are reclaimed, then the oldest of the lowest severity are dropped,
 * under one record (a tombstone) that reports the drop. */
#include <inttypes.h>

#include "log.h"
#include "spool-internal.h"

#define DROP_MAX_ROUNDS 64u
#define DROP_PICKS_PER_ROUND 4096u

/* Past this, the next commit makes room first: the bound less the smaller of
 * an eighth of it and 64 KiB. */
uint64_t spool_high_water(const Spool *s) {
        return s->max_bytes - MIN(s->max_bytes / 8, UINT64_C(64) * 1024);
}

typedef struct Pick {
        uint64_t seq;
        Rec *rec;
        Segment *seg;
} Pick;

static int spool_cmp_pick(const void *a, const void *b) {
        const Pick *x = a, *y = b;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Chooses the oldest records of the lowest severity until `want` bytes are
 * freed, and queues the tombstone that drops them. The records are only
 * marked dropped once that tombstone is durable. Returns bytes freed (0: none
 * could be). */
static int64_t spool_drop_round(Spool *s, uint64_t want) {
        _cleanup_free_ Pick *picks = calloc(DROP_PICKS_PER_ROUND, sizeof *picks);
        _cleanup_free_ uint64_t(*ranges)[2] = NULL;
        _cleanup_free_ uint8_t *aux = NULL;
        _cleanup_free_ char *json = NULL;
        size_t n = 0, n_ranges = 0, len = 0;
        uint64_t freed = 0;
        SpoolDrop d = { .reason = "spool_full", .max_bytes = s->max_bytes, .oldest_time = UINT64_MAX };
        uint8_t sev = 3; /* high, unless the renderer says otherwise */
        usec_t t = 0;
        int r;

        if (!picks)
                return -ENOMEM;
        for (unsigned severity = 0; severity <= SPOOL_RECORD_MAX_SEVERITY && freed < want && n < DROP_PICKS_PER_ROUND;
             severity++)
                for (size_t i = 0; i < s->n_segs && freed < want && n < DROP_PICKS_PER_ROUND; i++) {
                        Segment *g = s->segs[i];
                        for (size_t k = 0; k < g->n && freed < want && n < DROP_PICKS_PER_ROUND; k++) {
                                Rec *m = &g->recs[k];
                                /* The batch in flight may be delivered any moment; a
                                 * drop record is the count of others and stays. */
                                if (m->severity != severity || !spool_rec_live(s, m) || m->seq <= s->inflight_last ||
                                    (m->flags & (REC_TOMBSTONE | REC_DROP_QUEUED)))
                                        continue;
                                picks[n++] = (Pick){ m->seq, m, g };
                                freed += m->size;
                        }
                }
        if (n == 0)
                return 0;

        qsort(picks, n, sizeof *picks, spool_cmp_pick);
        ranges = calloc(n, sizeof *ranges);
        if (!ranges)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (n_ranges > 0 && ranges[n_ranges - 1][1] + 1 == picks[i].seq) {
                        ranges[n_ranges - 1][1] = picks[i].seq;
                        continue;
                }
                if (n_ranges == SPOOL_DROP_MAX_RANGES) {
                        n = i; /* the rest stays for the next round */
                        break;
                }
                ranges[n_ranges][0] = ranges[n_ranges][1] = picks[i].seq;
                n_ranges++;
        }

        freed = 0;
        for (size_t i = 0; i < n; i++) {
                Rec *m = picks[i].rec;
                d.count++;
                d.by_severity[m->severity]++;
                usec_t when = spool_rec_time(s, picks[i].seg, m);
                if (when > 0) {
                        d.oldest_time = MIN(d.oldest_time, when);
                        d.newest_time = MAX(d.newest_time, when);
                }
                freed += m->size;
        }
        if (d.oldest_time == UINT64_MAX) /* no header could be read */
                d.oldest_time = 0;
        d.first_seq = picks[0].seq;
        d.last_seq = picks[n - 1].seq;
        d.ranges = (const uint64_t(*)[2]) ranges;
        d.n_ranges = n_ranges;
        d.total_dropped = s->dropped + d.count;

        if (!s->cb.render_drop)
                return -EOPNOTSUPP;
        r = s->cb.render_drop(&d, s->next_seq, &sev, &t, &json, &len, s->userdata);
        if (r < 0)
                return r;
        aux = malloc(n_ranges * 16);
        if (!aux)
                return -ENOMEM;
        for (size_t i = 0; i < n_ranges; i++)
                spool_tombstone_put(aux, i, ranges[i][0], ranges[i][1]);
        r = spool_queue_record(s, json, len, aux, n_ranges * 16, sev, t ? t : now_usec(CLOCK_REALTIME), REC_TOMBSTONE);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                picks[i].rec->flags |= REC_DROP_QUEUED;
        s->n_drop_queued += n;
        return (int64_t) freed;
}

/* Makes the coming commit fit under max_bytes: spent records first, then drops. */
void spool_make_room(Spool *s) {
        uint64_t target, freed = 0;
        int r;

        if (s->bytes + s->qlen <= spool_high_water(s))
                return;
        r = spool_reclaim(s, true);
        if (r < 0)
                log_warning_errno(r, "Cannot reclaim delivered events from the spool: %m");
        target = spool_high_water(s) - s->max_bytes / 10;
        for (unsigned round = 0; round < DROP_MAX_ROUNDS && s->bytes + s->qlen > target + freed; round++) {
                int64_t f = spool_drop_round(s, s->bytes + s->qlen - target - freed);
                if (f < 0) {
                        log_error_errno((int) f, "Cannot drop events from the full spool: %m");
                        break;
                }
                if (f == 0)
                        break;
                freed += (uint64_t) f;
        }
        if (s->bytes + s->qlen > s->max_bytes + freed && !s->warned_full) {
                log_warning("The spool holds more than its bound of %" PRIu64
                            " bytes: what is left cannot be dropped (in flight, or reports of drops).",
                            s->max_bytes);
                s->warned_full = true;
        }
}

/* After a commit: the tombstones are durable, so what they name is gone now. */
void spool_drop_settle(Spool *s) {
        uint64_t n_dropped = 0;
        int r;

        for (size_t i = 0; i < s->n_segs && s->n_drop_queued > 0; i++) {
                Segment *x = s->segs[i];
                for (size_t k = 0; k < x->n; k++)
                        if (x->recs[k].flags & REC_DROP_QUEUED) {
                                x->recs[k].flags = (uint8_t) ((x->recs[k].flags & ~REC_DROP_QUEUED) | REC_DROPPED);
                                if (x->recs[k].seq > s->acked)
                                        s->n_live--;
                                n_dropped++;
                                s->n_drop_queued--;
                        }
        }
        if (n_dropped) {
                s->dropped += n_dropped;
                r = spool_reclaim(s, true);
                if (r < 0)
                        log_warning_errno(r, "Cannot compact the spool after dropping events: %m");
        }
}
