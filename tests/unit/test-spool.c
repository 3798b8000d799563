/* SPDX-License-Identifier: MIT */
/* The spool's API (agent/report/spool.c): seq, group commit, batches and acks. */
#include "unit.h"

#include "spool-env.h"

static void test_persist_and_seq(void **state) {
        Env *env = *state;
        Spool *s = open_spool(env, 0);
        Collected *c = calloc(1, sizeof *c);
        SpoolStats st;

        assert_int_equal(spool_next_seq(s), 1);
        append_n(s, 10, 1, 10);
        assert_int_equal(spool_commit(s), 0);
        assert_int_equal(env->last_committed, 10);
        spool_free(s);

        s = open_spool(env, 0);
        assert_int_equal(spool_next_seq(s), 11);
        assert_int_equal(spool_foreach(s, collect, c), 0);
        assert_int_equal(c->n, 10);
        for (size_t i = 0; i < c->n; i++)
                assert_int_equal(c->seqs[i], i + 1);
        spool_get_stats(s, &st);
        assert_int_equal(st.depth, 10);
        assert_int_equal(st.oldest_unsent, 1001);

        /* queued but never committed: spool_free commits it */
        append_n(s, 5, 1, 10);
        spool_free(s);
        s = open_spool(env, 0);
        assert_int_equal(spool_next_seq(s), 16);
        spool_free(s);
        free(c);
}

static void test_group_commit(void **state) {
        Env *env = *state;
        Spool *s = open_spool(env, 0);
        SpoolStats a, b;

        spool_get_stats(s, &a);
        append_n(s, 300, 1, 100);
        spool_get_stats(s, &b);
        assert_int_equal(b.fsyncs, a.fsyncs); /* nothing synced while queueing */
        assert_int_equal(b.queued, 300);
        assert_int_equal(spool_commit(s), 0);
        spool_get_stats(s, &b);
        /* one data sync, plus one for the new segment's directory entry */
        assert_true(b.fsyncs - a.fsyncs <= 2);
        assert_int_equal(b.commits, 1);

        /* a burst beyond the queue bound still costs few syncs */
        spool_get_stats(s, &a);
        append_n(s, 5000, 1, 100);
        assert_int_equal(spool_commit(s), 0);
        spool_get_stats(s, &b);
        assert_true(b.fsyncs - a.fsyncs < 5000 / 100);
        spool_free(s);
}

static void test_ack(void **state) {
        Env *env = *state;
        Spool *s = open_spool(env, 0);
        SpoolBatch b;
        SpoolStats st;

        append_n(s, 25, 1, 10);
        assert_int_equal(spool_commit(s), 0);
        assert_int_equal(spool_read_batch(s, 10, 1 << 20, &b), 0);
        assert_int_equal(b.count, 10);
        assert_int_equal(b.first_seq, 1);
        assert_int_equal(b.last_seq, 10);
        assert_int_equal(b.data[b.len - 1], '\n');
        spool_batch_done(&b);
        /* not delivered: read again from the same place */
        spool_release(s);
        assert_int_equal(spool_read_batch(s, 10, 1 << 20, &b), 0);
        assert_int_equal(b.first_seq, 1);
        assert_int_equal(spool_ack(s, b.last_seq), 0);
        spool_batch_done(&b);
        spool_get_stats(s, &st);
        assert_int_equal(st.depth, 15);
        assert_int_equal(st.acked_seq, 10);
        spool_free(s);

        s = open_spool(env, 0);
        assert_int_equal(spool_read_batch(s, 100, 1 << 20, &b), 0);
        assert_int_equal(b.first_seq, 11);
        assert_int_equal(b.last_seq, 25);
        assert_int_equal(spool_ack(s, 25), 0);
        spool_batch_done(&b);
        assert_int_equal(spool_read_batch(s, 100, 1 << 20, &b), -ENODATA);
        spool_get_stats(s, &st);
        assert_int_equal(st.depth, 0);
        assert_int_equal(st.oldest_unsent, 0);
        spool_free(s);

        /* everything delivered: the seq still continues */
        s = open_spool(env, 0);
        assert_int_equal(spool_next_seq(s), 26);
        assert_int_equal(spool_read_batch(s, 100, 1 << 20, &b), -ENODATA);
        spool_free(s);

        /* and without the cursor, from the newest segment's last record */
        char p[128];
        snprintf(p, sizeof p, "%s/cursor", env->dir);
        assert_int_equal(unlink(p), 0);
        s = open_spool(env, 0);
        assert_int_equal(spool_next_seq(s), 26);
        spool_free(s);
}

static void test_locked(void **state) {
        Env *env = *state;
        Spool *s = open_spool(env, 0), *t = NULL;
        assert_int_equal(spool_open(env->dir, NULL, &t), -EBUSY);
        spool_free(s);
}

static void test_refuse_oversize(void **state) {
        Env *env = *state;
        Spool *s = open_spool(env, 0);
        char *big = malloc(SPOOL_EVENT_MAX + 1);
        memset(big, 'a', SPOOL_EVENT_MAX + 1);
        assert_int_equal(spool_append(s, big, SPOOL_EVENT_MAX + 1, 0, 1), -E2BIG);
        assert_int_equal(spool_append(s, big, 0, 0, 1), -E2BIG);
        assert_int_equal(spool_next_seq(s), 1);
        free(big);
        spool_free(s);
}

static void test_old_floor_out_of_range(void **state) {
        Env *env = *state;
        Spool *s = NULL;

        assert_int_equal(spool_open(env->dir, &(SpoolOptions){ .min_next_seq = UINT64_MAX }, &s), 0);
        spool_set_callbacks(s, &callbacks, env);
        deliver_findings(env, s);
        assert_non_null(find_kind(env, SPOOL_DAMAGE_SEQ_RANGE, 0));
        assert_int_equal(spool_next_seq(s), 1);
        spool_free(s);
        assert_int_equal(spool_open(env->dir, &(SpoolOptions){ .min_next_seq = 5000 }, &s), 0);
        assert_int_equal(spool_next_seq(s), 5000);
        spool_free(s);
}

int main(void) {
        log_set_max_level(LOG_CRIT);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_persist_and_seq, setup, teardown),
                cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ack, setup, teardown),
                cmocka_unit_test_setup_teardown(test_locked, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuse_oversize, setup, teardown),
                cmocka_unit_test_setup_teardown(test_old_floor_out_of_range, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
