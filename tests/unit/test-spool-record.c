/* SPDX-License-Identifier: MIT */
/* The record format of the spool (common/spool-record.c). */
#include "unit.h"

#include "log.h"
#include "spool-record.h"

static void test_record_roundtrip(void **state) {
        uint8_t aux[32], buf[256];
        SpoolRecord r = { .seq = 42,
                          .time = 7,
                          .severity = 2,
                          .flags = SPOOL_RECORD_TOMBSTONE,
                          .json = (const uint8_t *) "{\"a\":1}",
                          .json_len = 7,
                          .aux = aux,
                          .aux_len = 32 },
                    d;
        size_t sz = spool_record_size(7, 32), got;

        spool_tombstone_put(aux, 0, 3, 5);
        spool_tombstone_put(aux, 1, 9, 9);
        assert_int_equal(sz, SPOOL_RECORD_HEADER_SIZE + 39);
        spool_record_encode(buf, &r);
        assert_int_equal(spool_record_decode(buf, sz, &d, &got), SPOOL_DECODE_OK);
        assert_int_equal(got, sz);
        assert_int_equal(d.seq, 42);
        assert_int_equal(d.json_len, 7);
        assert_int_equal(spool_tombstone_count(&d), 2);
        uint64_t a, b;
        spool_tombstone_get(&d, 1, &a, &b);
        assert_int_equal(a, 9);
        assert_int_equal(b, 9);

        /* every prefix is torn, never OK and never a crash */
        for (size_t i = 1; i < sz; i++)
                assert_int_equal(spool_record_decode(buf, i, &d, &got), SPOOL_DECODE_TORN);
        /* every single flipped bit is caught */
        for (size_t i = 0; i < sz * 8; i++) {
                buf[i / 8] ^= (uint8_t) (1u << (i % 8));
                assert_int_not_equal(spool_record_decode(buf, sz, &d, &got), SPOOL_DECODE_OK);
                buf[i / 8] ^= (uint8_t) (1u << (i % 8));
        }
        memset(buf, 0, sizeof buf);
        assert_int_equal(spool_record_decode(buf, 100, &d, &got), SPOOL_DECODE_TORN);
        assert_int_equal(spool_record_decode(buf, 0, &d, &got), SPOOL_DECODE_END);
        assert_int_equal(spool_record_size(0, 0), 0);
}

static void test_record_seq_range(void **state) {
        uint8_t buf[64];
        SpoolRecord r = { .json = (const uint8_t *) "{}", .json_len = 2 }, d;
        size_t got, sz = spool_record_size(2, 0);
        const uint64_t bad[] = { 0, SPOOL_RECORD_SEQ_MAX + 1, UINT64_MAX };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                r.seq = bad[i];
                spool_record_encode(buf, &r);
                assert_int_equal(spool_record_decode(buf, sz, &d, &got), SPOOL_DECODE_CORRUPT);
        }
        r.seq = SPOOL_RECORD_SEQ_MAX;
        spool_record_encode(buf, &r);
        assert_int_equal(spool_record_decode(buf, sz, &d, &got), SPOOL_DECODE_OK);
}

int main(void) {
        log_set_max_level(LOG_CRIT);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_record_roundtrip),
                cmocka_unit_test(test_record_seq_range),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
