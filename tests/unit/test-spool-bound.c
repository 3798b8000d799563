/* SPDX-License-Identifier: MIT */
/* The spool's size bound (agent/report/spool-bound.c): what is dropped when
 * it is full, and the drop records that count it. */
#include "unit.h"

#include "spool-env.h"

typedef struct SevCount {
        unsigned info, high, drops;
} SevCount;

static int count_sev(uint64_t seq, const char *json, size_t len, void *userdata) {
        SevCount *c = userdata;
        if (memmem(json, len, "events_dropped", 14))
                c->drops++;
        else if (memmem(json, len, "\"sev\":3", 7))
                c->high++;
        else
                c->info++;
        return 0;
}

static void test_full_drops_low_severity(void **state) {
        Env *env = *state;
        Spool *s = open_spool(env, SPOOL_MIN_MAX_BYTES);
        Collected *c = calloc(1, sizeof *c);
        SpoolStats st;

        /* 3 MiB of 1 KiB events into a 1 MiB spool */
        for (unsigned i = 0; i < 3000; i++)
                append_n(s, 1, i % 10 == 0 ? 3 : 0, 1000);
        assert_int_equal(spool_commit(s), 0);
        spool_get_stats(s, &st);
        assert_true(st.bytes <= st.max_bytes);
        assert_true(env->n_drops > 0);
        assert_int_equal(st.dropped, env->dropped);
        assert_int_equal(st.depth + env->dropped, st.next_seq - 1);
        spool_free(s);

        /* Every seq is either still there or named by a drop: nothing vanished. */
        s = open_spool(env, SPOOL_MIN_MAX_BYTES);
        assert_int_equal(spool_foreach(s, collect, c), 0);
        assert_int_equal(c->n + env->dropped, spool_next_seq(s) - 1);
        for (size_t i = 1; i < c->n; i++)
                assert_true(c->seqs[i] > c->seqs[i - 1]);
        spool_free(s);
        free(c);
}

static void test_full_keeps_high(void **state) {
        Env *env = *state;
        Spool *s = open_spool(env, SPOOL_MIN_MAX_BYTES);
        SevCount c = { 0 };
        unsigned high = 0, info = 0;

        for (unsigned i = 0; i < 3000; i++) {
                uint8_t sev = i % 10 == 0 ? 3 : 0;
                append_n(s, 1, sev, 1000);
                if (sev)
                        high++;
                else
                        info++;
        }
        assert_int_equal(spool_commit(s), 0);
        spool_free(s);
        s = open_spool(env, SPOOL_MIN_MAX_BYTES);
        assert_int_equal(spool_foreach(s, count_sev, &c), 0);
        assert_int_equal(c.high, high);                /* no high event was dropped */
        assert_int_equal(c.drops, env->n_drops);       /* every drop is reported, once */
        assert_int_equal(c.info + env->dropped, info); /* the count is exact */
        spool_free(s);
}

static void test_drop_skips_inflight(void **state) {
        Env *env = *state;
        Spool *s = open_spool(env, SPOOL_MIN_MAX_BYTES);
        SpoolBatch b;
        Collected *c = calloc(1, sizeof *c);

        append_n(s, 50, 0, 1000);
        assert_int_equal(spool_commit(s), 0);
        assert_int_equal(spool_read_batch(s, 20, 1 << 20, &b), 0);
        append_n(s, 2000, 0, 1000);
        assert_int_equal(spool_commit(s), 0);
        assert_true(env->dropped > 0);
        /* the batch in flight was not dropped: delivering it is fine */
        assert_int_equal(spool_ack(s, b.last_seq), 0);
        spool_batch_done(&b);
        assert_int_equal(spool_foreach(s, collect, c), 0);
        assert_int_equal(c->n + env->dropped + 20, spool_next_seq(s) - 1);
        spool_free(s);
        free(c);
}

int main(void) {
        log_set_max_level(LOG_CRIT);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_full_drops_low_severity, setup, teardown),
                cmocka_unit_test_setup_teardown(test_full_keeps_high, setup, teardown),
                cmocka_unit_test_setup_teardown(test_drop_skips_inflight, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
