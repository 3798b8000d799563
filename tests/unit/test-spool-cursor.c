/* SPDX-License-Identifier: MIT */
/* The spool's ack cursor (agent/report/spool-cursor.c): its two checksummed
 * slots, torn or out of range. */
#include "unit.h"

#include <zlib.h>

#include "spool-env.h"

static void put_cursor(Env *env, uint64_t gen, uint64_t acked) {
        uint8_t b[32] = { 0 };
        char p[128];
        int fd;

        spool_put_le32(b, UINT32_C(0x3143534d));
        spool_put_le64(b + 8, gen);
        spool_put_le64(b + 16, acked);
        spool_put_le32(b + 24, (uint32_t) crc32(0L, b, 24));
        snprintf(p, sizeof p, "%s/cursor", env->dir);
        fd = open(p, O_RDWR | O_CREAT, 0600);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, b, sizeof b, (off_t) (gen % 2) * 512), (ssize_t) sizeof b);
        close(fd);
}

static void test_cursor_slot_torn(void **state) {
        Env *env = *state;
        Spool *s = open_spool(env, 0);
        SpoolBatch b;
        char p[128];
        int fd;

        append_n(s, 6, 1, 10);
        assert_int_equal(spool_commit(s), 0);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(spool_read_batch(s, 2, 1 << 20, &b), 0);
                assert_int_equal(spool_ack(s, b.last_seq), 0);
                spool_batch_done(&b);
        }
        spool_free(s);
        /* generation 4 went to slot 0 (the last one written): tear it */
        snprintf(p, sizeof p, "%s/cursor", env->dir);
        fd = open(p, O_RDWR);
        assert_int_equal(pwrite(fd, "xx", 2, 10), 2);
        close(fd);
        s = open_spool(env, 0);
        /* the older slot says 4: events 5 and 6 come again (duplicates, never losses) */
        assert_int_equal(spool_read_batch(s, 10, 1 << 20, &b), 0);
        assert_int_equal(b.first_seq, 5);
        spool_batch_done(&b);
        spool_free(s);
}

static void test_cursor_out_of_range(void **state) {
        Env *env = *state;
        const struct {
                uint64_t gen, acked, next;
        } cases[] = {
                { 100, UINT64_MAX, 7 },              /* the wrap: not believed, no floor */
                { 101, 1000, 1001 },                 /* past the records: a floor only */
                { 102, SPOOL_SEQ_FLOOR_MAX + 1, 7 }, /* past any sane seq */
                { UINT64_MAX, UINT64_MAX, 7 },       /* and a generation at the wrap */
        };
        Spool *s = open_spool(env, 0);
        SpoolBatch b;

        append_n(s, 6, 1, 10);
        assert_int_equal(spool_commit(s), 0);
        spool_free(s);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                put_cursor(env, cases[i].gen, cases[i].acked);
                env->n_findings = 0;
                s = open_spool(env, 0);
                deliver_findings(env, s);
                const SpoolFinding *f = find_kind(env, SPOOL_DAMAGE_SEQ_RANGE, 0);
                assert_non_null(f);
                assert_int_equal(f->bad_seq, cases[i].acked);
                assert_int_equal(f->last_good_seq, 6);
                /* every record comes again; seq goes on above the floor, never wraps */
                assert_int_equal(spool_read_batch(s, 100, 1 << 20, &b), 0);
                assert_int_equal(b.first_seq, 1);
                assert_int_equal(b.last_seq, 6);
                spool_batch_done(&b);
                assert_int_equal(spool_next_seq(s), cases[i].next);
                spool_free(s);
        }
        /* an ack puts it right: the next open believes the cursor */
        s = open_spool(env, 0);
        assert_int_equal(spool_read_batch(s, 100, 1 << 20, &b), 0);
        assert_int_equal(spool_ack(s, 3), 0);
        spool_batch_done(&b);
        spool_free(s);
        env->n_findings = 0;
        s = open_spool(env, 0);
        deliver_findings(env, s);
        assert_int_equal(env->n_findings, 0);
        assert_int_equal(spool_read_batch(s, 100, 1 << 20, &b), 0);
        assert_int_equal(b.first_seq, 4);
        spool_batch_done(&b);
        spool_free(s);
}

int main(void) {
        log_set_max_level(LOG_CRIT);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_cursor_slot_torn, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cursor_out_of_range, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
