/* SPDX-License-Identifier: MIT */
/* collector/seq-gaps.c: the missing seq ranges of a host. Each operation is
 * also checked against a plain model (a set of seqs with a status) on small
 * numbers, so that the bounded list never loses a missing seq. */
#include "unit.h"

#include "macro.h"
#include "seq-gaps.h"

typedef struct Gaps {
        SeqRange r[FINDINGS_MAX_GAPS];
        size_t n;
} Gaps;

static void check_sorted(const Gaps *g) {
        assert_true(g->n <= FINDINGS_MAX_GAPS);
        for (size_t i = 0; i < g->n; i++) {
                assert_true(g->r[i].first >= 1);
                assert_true(g->r[i].first <= g->r[i].last);
                if (i > 0) {
                        assert_true(g->r[i - 1].last < g->r[i].first);
                        /* touching ranges of one status are one */
                        if (g->r[i - 1].last + 1 == g->r[i].first)
                                assert_true(g->r[i - 1].explained != g->r[i].explained);
                }
        }
}

static void expect(const Gaps *g, size_t n, const uint64_t (*want)[3]) {
        check_sorted(g);
        assert_int_equal(g->n, n);
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(g->r[i].first, want[i][0]);
                assert_int_equal(g->r[i].last, want[i][1]);
                assert_int_equal(g->r[i].explained, (bool) want[i][2]);
        }
}

static void test_add(void **state) {
        Gaps g = { .n = 0 };

        seq_gaps_add(g.r, &g.n, 5, 9, 100);
        expect(&g, 1, (const uint64_t[][3]){ { 5, 9, 0 } });
        assert_int_equal(g.r[0].seen_us, 100);
        seq_gaps_add(g.r, &g.n, 20, 20, 200);
        expect(&g, 2, (const uint64_t[][3]){ { 5, 9, 0 }, { 20, 20, 0 } });
        /* Nothing for an empty or reversed range, or seq 0. */
        seq_gaps_add(g.r, &g.n, 30, 29, 300);
        seq_gaps_add(g.r, &g.n, 0, 3, 300);
        expect(&g, 2, (const uint64_t[][3]){ { 5, 9, 0 }, { 20, 20, 0 } });
        /* Overlapping an existing range: the known part keeps its seen time, the holes are new. */
        seq_gaps_add(g.r, &g.n, 1, 25, 400);
        expect(&g, 1, (const uint64_t[][3]){ { 1, 25, 0 } });
        assert_int_equal(g.r[0].seen_us, 100);
        /* Up to the top of the seq space. */
        seq_gaps_add(g.r, &g.n, UINT64_MAX - 1, UINT64_MAX, 500);
        expect(&g, 2, (const uint64_t[][3]){ { 1, 25, 0 }, { UINT64_MAX - 1, UINT64_MAX, 0 } });
        seq_gaps_add(g.r, &g.n, 1, UINT64_MAX, 600);
        expect(&g, 1, (const uint64_t[][3]){ { 1, UINT64_MAX, 0 } });
}

static void test_add_keeps_explained(void **state) {
        Gaps g = { .n = 0 };

        seq_gaps_add(g.r, &g.n, 10, 19, 100);
        assert_int_equal(seq_gaps_explain(g.r, &g.n, 12, 14), 1);
        expect(&g, 3, (const uint64_t[][3]){ { 10, 11, 0 }, { 12, 14, 1 }, { 15, 19, 0 } });
        seq_gaps_add(g.r, &g.n, 5, 25, 200);
        expect(&g, 3, (const uint64_t[][3]){ { 5, 11, 0 }, { 12, 14, 1 }, { 15, 25, 0 } });
}

static void test_fill(void **state) {
        Gaps g = { .n = 0 };

        seq_gaps_add(g.r, &g.n, 5, 9, 100);
        assert_false(seq_gaps_fill(g.r, &g.n, 4));
        assert_false(seq_gaps_fill(g.r, &g.n, 10));
        assert_true(seq_gaps_fill(g.r, &g.n, 5));
        expect(&g, 1, (const uint64_t[][3]){ { 6, 9, 0 } });
        assert_true(seq_gaps_fill(g.r, &g.n, 9));
        expect(&g, 1, (const uint64_t[][3]){ { 6, 8, 0 } });
        assert_true(seq_gaps_fill(g.r, &g.n, 7));
        expect(&g, 2, (const uint64_t[][3]){ { 6, 6, 0 }, { 8, 8, 0 } });
        assert_int_equal(g.r[1].seen_us, 100);
        assert_false(seq_gaps_fill(g.r, &g.n, 7));
        assert_true(seq_gaps_fill(g.r, &g.n, 6));
        assert_true(seq_gaps_fill(g.r, &g.n, 8));
        expect(&g, 0, NULL);
        /* The edges of the seq space. */
        seq_gaps_add(g.r, &g.n, UINT64_MAX - 2, UINT64_MAX, 1);
        assert_true(seq_gaps_fill(g.r, &g.n, UINT64_MAX));
        assert_true(seq_gaps_fill(g.r, &g.n, UINT64_MAX - 1));
        expect(&g, 1, (const uint64_t[][3]){ { UINT64_MAX - 2, UINT64_MAX - 2, 0 } });
        assert_false(seq_gaps_fill(g.r, &g.n, 0));
}

static void test_explain(void **state) {
        Gaps g = { .n = 0 };

        seq_gaps_add(g.r, &g.n, 5, 9, 100);
        seq_gaps_add(g.r, &g.n, 20, 29, 200);
        /* Outside every gap: received seqs, nothing to explain. */
        assert_int_equal(seq_gaps_explain(g.r, &g.n, 10, 19), 0);
        assert_int_equal(seq_gaps_explain(g.r, &g.n, 30, 40), 0);
        assert_int_equal(seq_gaps_explain(g.r, &g.n, 9, 5), 0);
        /* Across two gaps, partly. */
        assert_int_equal(seq_gaps_explain(g.r, &g.n, 7, 22), 2);
        expect(&g, 4, (const uint64_t[][3]){ { 5, 6, 0 }, { 7, 9, 1 }, { 20, 22, 1 }, { 23, 29, 0 } });
        assert_int_equal(g.r[3].seen_us, 200);
        /* Explained again: nothing changes. */
        assert_int_equal(seq_gaps_explain(g.r, &g.n, 7, 9), 0);
        /* The rest: touching explained parts become one. */
        assert_int_equal(seq_gaps_explain(g.r, &g.n, 1, 100), 2);
        expect(&g, 2, (const uint64_t[][3]){ { 5, 9, 1 }, { 20, 29, 1 } });
        assert_int_equal(seq_gaps_overdue(g.r, g.n, 0, INT64_MAX, NULL, 0), 0);
        /* A filled explained seq leaves it like any. */
        assert_true(seq_gaps_fill(g.r, &g.n, 5));
        expect(&g, 2, (const uint64_t[][3]){ { 6, 9, 1 }, { 20, 29, 1 } });
        /* The whole seq space. */
        seq_gaps_add(g.r, &g.n, 100, UINT64_MAX, 300);
        assert_int_equal(seq_gaps_explain(g.r, &g.n, UINT64_MAX, UINT64_MAX), 1);
        expect(&g, 4,
               (const uint64_t[][3]){
                       { 6, 9, 1 }, { 20, 29, 1 }, { 100, UINT64_MAX - 1, 0 }, { UINT64_MAX, UINT64_MAX, 1 } });
}

static void test_overdue(void **state) {
        Gaps g = { .n = 0 };
        SeqRange out[4];

        seq_gaps_add(g.r, &g.n, 5, 9, 100);
        seq_gaps_add(g.r, &g.n, 20, 29, 200);
        seq_gaps_add(g.r, &g.n, 40, 49, 300);
        seq_gaps_explain(g.r, &g.n, 20, 29);
        assert_int_equal(seq_gaps_overdue(g.r, g.n, 50, 149, out, 4), 0);
        assert_int_equal(seq_gaps_overdue(g.r, g.n, 50, 150, out, 4), 1);
        assert_int_equal(out[0].first, 5);
        assert_int_equal(seq_gaps_overdue(g.r, g.n, 50, 350, out, 4), 2);
        assert_int_equal(out[1].first, 40);
        assert_int_equal(seq_gaps_overdue(g.r, g.n, 50, 350, out, 1), 2); /* counted, one written */
        assert_int_equal(seq_gaps_deadline(&g.r[0], 50), 150);
        g.r[0].seen_us = INT64_MAX - 10;
        assert_int_equal(seq_gaps_deadline(&g.r[0], 50), INT64_MAX);
}

/* 200 gaps into 64 slots: every missing seq is still in a range. */
static void test_bound(void **state) {
        Gaps g = { .n = 0 };

        for (uint64_t i = 0; i < 200; i++)
                seq_gaps_add(g.r, &g.n, 10 * i + 1, 10 * i + 5, (int64_t) i);
        check_sorted(&g);
        assert_int_equal(g.n, FINDINGS_MAX_GAPS);
        for (uint64_t i = 0; i < 200; i++)
                for (uint64_t s = 10 * i + 1; s <= 10 * i + 5; s++) {
                        bool in = false;
                        for (size_t k = 0; k < g.n; k++)
                                in = in || (g.r[k].first <= s && s <= g.r[k].last);
                        assert_true(in);
                }
        /* The newest are kept as they were: the merges took the oldest. */
        assert_int_equal(g.r[g.n - 1].first, 1991);
        assert_int_equal(g.r[g.n - 1].last, 1995);
        assert_int_equal(g.r[0].first, 1);
        assert_int_equal(g.r[0].seen_us, 0);
}

/* Merges prefer two ranges of the same status; mixed, the unexplained seen time stays. */
static void test_bound_status(void **state) {
        Gaps g = { .n = 0 };

        for (uint64_t i = 0; i < FINDINGS_MAX_GAPS; i++)
                seq_gaps_add(g.r, &g.n, 10 * i + 1, 10 * i + 5, 1000 + (int64_t) i);
        /* alternate explained / unexplained from the start: 0 explained, 1 not, ... */
        for (uint64_t i = 0; i < FINDINGS_MAX_GAPS; i += 2)
                seq_gaps_explain(g.r, &g.n, 10 * i + 1, 10 * i + 5);
        /* make the last two unexplained ones adjacent of one status */
        seq_gaps_fill(g.r, &g.n, 0);
        seq_gaps_add(g.r, &g.n, 10000, 10000, 5);
        check_sorted(&g);
        assert_int_equal(g.n, FINDINGS_MAX_GAPS);
        /* the pair merged: the last unexplained (631-635) and the new one (10000), both unexplained */
        assert_int_equal(g.r[g.n - 1].first, 631);
        assert_int_equal(g.r[g.n - 1].last, 10000);
        assert_false(g.r[g.n - 1].explained);
        assert_int_equal(g.r[g.n - 1].seen_us, 5);
        assert_int_equal(g.r[0].first, 1);
        assert_true(g.r[0].explained);

        /* All alternating: the oldest pair merges, unexplained, with the unexplained one's time. */
        g.n = 0;
        for (uint64_t i = 0; i < FINDINGS_MAX_GAPS; i++) {
                seq_gaps_add(g.r, &g.n, 10 * i + 1, 10 * i + 5, 1000 + (int64_t) i);
                if (i % 2 == 1)
                        seq_gaps_explain(g.r, &g.n, 10 * i + 1, 10 * i + 5);
        }
        seq_gaps_add(g.r, &g.n, 10 * FINDINGS_MAX_GAPS + 1, 10 * FINDINGS_MAX_GAPS + 1, 7);
        check_sorted(&g);
        assert_int_equal(g.n, FINDINGS_MAX_GAPS);
        assert_int_equal(g.r[0].first, 1);
        assert_int_equal(g.r[0].last, 15); /* 1-5 unexplained, 11-15 explained: merged over 6-10 */
        assert_false(g.r[0].explained);
        assert_int_equal(g.r[0].seen_us, 1000);
        assert_int_equal(g.r[g.n - 1].first, 10 * FINDINGS_MAX_GAPS + 1);

        /* Explained first: the merged range keeps the unexplained one's time. */
        g.n = 0;
        for (uint64_t i = 0; i < FINDINGS_MAX_GAPS; i++) {
                seq_gaps_add(g.r, &g.n, 10 * i + 1, 10 * i + 5, 1000 + (int64_t) i);
                if (i % 2 == 0)
                        seq_gaps_explain(g.r, &g.n, 10 * i + 1, 10 * i + 5);
        }
        /* a split of the last one: 66 ranges, all alternating, two merges at the oldest end */
        assert_int_equal(seq_gaps_explain(g.r, &g.n, 633, 633), 1);
        check_sorted(&g);
        assert_int_equal(g.n, FINDINGS_MAX_GAPS);
        assert_int_equal(g.r[0].first, 1);
        assert_int_equal(g.r[0].last, 25);
        assert_false(g.r[0].explained);
        assert_int_equal(g.r[0].seen_us, 1001);
}

/* Random operations as the collector makes them (a gap opens above the
 * highest seq, a late seq fills, a report explains) against a model of every
 * seq: a seq the model calls missing is always in a range, and one missing
 * unexplained in the model is unexplained there too (a merge may claim more
 * missing and less explained, never the other way). */
static uint64_t rnd_state = 12345;
static uint64_t rnd(uint64_t n) {
        rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
        return (rnd_state >> 33) % n;
}

static void test_model(void **state) {
        enum { N = 4000 };
        static int model[N + 16]; /* 0 received, 1 missing, 2 missing explained */

        for (int round = 0; round < 100; round++) {
                Gaps g = { .n = 0 };
                uint64_t max = 0;

                memset(model, 0, sizeof(model));
                for (int op = 0; op < 400; op++) {
                        uint64_t r = rnd(3), a, b;

                        if (r == 0 || max < 2) {
                                /* seq b+1 arrives: a..b missing */
                                a = max + 1;
                                b = a + rnd(5);
                                seq_gaps_add(g.r, &g.n, a, b, op);
                                for (uint64_t s = a; s <= b; s++)
                                        model[s] = 1;
                                max = b + 1;
                        } else if (r == 1) {
                                bool in = false;
                                a = 1 + rnd(max);
                                for (size_t k = 0; k < g.n; k++)
                                        in = in || (g.r[k].first <= a && a <= g.r[k].last);
                                assert_int_equal(seq_gaps_fill(g.r, &g.n, a), in);
                                model[a] = 0;
                        } else {
                                a = 1 + rnd(max);
                                b = MIN(a + rnd(8), max);
                                seq_gaps_explain(g.r, &g.n, a, b);
                                for (uint64_t s = a; s <= b; s++)
                                        if (model[s] == 1)
                                                model[s] = 2;
                        }
                        check_sorted(&g);
                        for (uint64_t s = 1; s <= max; s++) {
                                const SeqRange *in = NULL;
                                for (size_t k = 0; k < g.n; k++)
                                        if (g.r[k].first <= s && s <= g.r[k].last)
                                                in = &g.r[k];
                                if (model[s] != 0)
                                        assert_non_null(in);
                                if (model[s] == 1)
                                        assert_true(in && !in->explained);
                        }
                }
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_add),          cmocka_unit_test(test_add_keeps_explained),
                cmocka_unit_test(test_fill),         cmocka_unit_test(test_explain),
                cmocka_unit_test(test_overdue),      cmocka_unit_test(test_bound),
                cmocka_unit_test(test_bound_status), cmocka_unit_test(test_model),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
