/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "seq-gaps.h"

/* Room for one operation's result before it is bounded again: an add may
 * put a hole between every pair of ranges, a split adds two. */
#define WORK_MAX (2 * FINDINGS_MAX_GAPS + 4)

typedef struct Work {
        SeqRange r[WORK_MAX];
        size_t n;
} Work;

static void work_push(Work *w, uint64_t first, uint64_t last, int64_t seen_us, bool explained) {
        SeqRange *prev = w->n > 0 ? &w->r[w->n - 1] : NULL;

        if (first > last)
                return;
        /* Touching ranges of the same status are one (no seq arrived between them). */
        if (prev && prev->explained == explained && prev->last != UINT64_MAX && prev->last + 1 == first) {
                prev->last = last;
                if (seen_us < prev->seen_us)
                        prev->seen_us = seen_us;
                return;
        }
        if (w->n >= WORK_MAX) /* cannot happen: callers stay within WORK_MAX */
                return;
        w->r[w->n++] = (SeqRange){ .first = first, .last = last, .seen_us = seen_us, .explained = explained };
}

static void work_push_range(Work *w, const SeqRange *r) {
        work_push(w, r->first, r->last, r->seen_us, r->explained);
}

/* The pair to merge: the oldest adjacent pair of the same status, else the oldest pair. */
static size_t merge_index(const Work *w) {
        for (size_t i = 0; i + 1 < w->n; i++)
                if (w->r[i].explained == w->r[i + 1].explained)
                        return i;
        return 0;
}

static void work_bound(Work *w) {
        while (w->n > FINDINGS_MAX_GAPS) {
                size_t i = merge_index(w);
                SeqRange *a = &w->r[i], *b = &w->r[i + 1];
                SeqRange m = { .first = a->first, .last = b->last, .explained = a->explained && b->explained };

                /* Unexplained keeps the seen time of its unexplained part(s): its grace is not shortened. */
                if (a->explained == b->explained)
                        m.seen_us = a->seen_us < b->seen_us ? a->seen_us : b->seen_us;
                else
                        m.seen_us = a->explained ? b->seen_us : a->seen_us;
                *a = m;
                memmove(b, b + 1, (w->n - i - 2) * sizeof(SeqRange));
                w->n--;
                /* The merged range may now touch its neighbours with the same status. */
                Work again = { .n = 0 };
                for (size_t k = 0; k < w->n; k++)
                        work_push_range(&again, &w->r[k]);
                *w = again;
        }
}

static void work_store(Work *w, SeqRange *gaps, size_t *n) {
        work_bound(w);
        memcpy(gaps, w->r, w->n * sizeof(SeqRange));
        *n = w->n;
}

void seq_gaps_add(SeqRange *gaps, size_t *n, uint64_t first, uint64_t last, int64_t seen_us) {
        Work w = { .n = 0 };
        uint64_t cur = first; /* the next seq of [first, last] not yet placed */
        bool done = false;

        if (first == 0 || first > last)
                return;
        for (size_t i = 0; i < *n; i++) {
                const SeqRange *r = &gaps[i];

                if (!done && r->last >= cur && r->first <= last) {
                        if (r->first > cur)
                                work_push(&w, cur, r->first - 1, seen_us, false);
                        if (r->last >= last)
                                done = true;
                        else
                                cur = r->last + 1;
                } else if (!done && r->first > last) {
                        work_push(&w, cur, last, seen_us, false);
                        done = true;
                }
                work_push_range(&w, r);
        }
        if (!done)
                work_push(&w, cur, last, seen_us, false);
        work_store(&w, gaps, n);
}

bool seq_gaps_fill(SeqRange *gaps, size_t *n, uint64_t seq) {
        Work w = { .n = 0 };
        bool found = false;

        for (size_t i = 0; i < *n; i++) {
                const SeqRange *r = &gaps[i];

                if (!found && r->first <= seq && seq <= r->last) {
                        found = true;
                        if (seq > r->first)
                                work_push(&w, r->first, seq - 1, r->seen_us, r->explained);
                        if (seq < r->last)
                                /* not merged with the left part: the seq between them arrived */
                                w.r[w.n++] = (SeqRange){ seq + 1, r->last, r->seen_us, r->explained };
                        continue;
                }
                work_push_range(&w, r);
        }
        if (found)
                work_store(&w, gaps, n);
        return found;
}

size_t seq_gaps_explain(SeqRange *gaps, size_t *n, uint64_t first, uint64_t last) {
        Work w = { .n = 0 };
        size_t touched = 0;

        if (first > last)
                return 0;
        for (size_t i = 0; i < *n; i++) {
                const SeqRange *r = &gaps[i];
                uint64_t a, b;

                if (r->last < first || r->first > last || r->explained) {
                        work_push_range(&w, r);
                        continue;
                }
                touched++;
                a = r->first > first ? r->first : first;
                b = r->last < last ? r->last : last;
                if (a > r->first)
                        work_push(&w, r->first, a - 1, r->seen_us, false);
                work_push(&w, a, b, r->seen_us, true);
                if (b < r->last)
                        work_push(&w, b + 1, r->last, r->seen_us, false);
        }
        if (touched > 0)
                work_store(&w, gaps, n);
        return touched;
}

int64_t seq_gaps_deadline(const SeqRange *r, int64_t grace_us) {
        if (grace_us > 0 && r->seen_us > INT64_MAX - grace_us)
                return INT64_MAX;
        return r->seen_us + grace_us;
}

size_t seq_gaps_overdue(const SeqRange *gaps, size_t n, int64_t grace_us, int64_t now_us, SeqRange *ret, size_t max) {
        size_t k = 0;

        for (size_t i = 0; i < n; i++) {
                if (gaps[i].explained || seq_gaps_deadline(&gaps[i], grace_us) > now_us)
                        continue;
                if (ret && k < max)
                        ret[k] = gaps[i];
                k++;
        }
        return k;
}
