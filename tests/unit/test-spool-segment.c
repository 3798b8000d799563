/* SPDX-License-Identifier: MIT */
/* The spool's segment files (agent/report/spool-segment.c): damage found at
 * open or on reading, and repaired; foreign files; retiring delivered segments. */
#include "unit.h"

#include "spool-env.h"

static void test_torn_tail(void **state) {
        Env *env = *state;
        Spool *s = open_spool(env, 0);
        _cleanup_free_ char *seg = NULL;
        uint8_t half[20];
        int fd;

        append_n(s, 5, 1, 10);
        assert_int_equal(spool_commit(s), 0);
        spool_free(s);

        /* half a header of record 6, as a crash in the middle of a write leaves it */
        seg = last_segment(env);
        off_t before = file_size(seg);
        spool_put_le32(half, SPOOL_RECORD_MAGIC);
        spool_put_le32(half + 4, 100);
        spool_put_le64(half + 8, 6);
        fd = open(seg, O_WRONLY | O_APPEND);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, half, sizeof half), (ssize_t) sizeof half);
        close(fd);

        s = open_spool(env, 0);
        deliver_findings(env, s);
        assert_int_equal(env->n_findings, 1);
        assert_int_equal(env->findings[0].kind, SPOOL_DAMAGE_TORN);
        assert_true(env->findings[0].cut);
        assert_int_equal(env->findings[0].last_good_seq, 5);
        assert_int_equal(env->findings[0].bytes, sizeof half);
        assert_int_equal(file_size(seg), before);
        /* the torn record was never committed: its seq was never shown and is used now */
        assert_int_equal(spool_next_seq(s), 6);
        spool_free(s);
}

static void test_corrupt_tail(void **state) {
        Env *env = *state;
        Spool *s = open_spool(env, 0);
        _cleanup_free_ char *seg = NULL;
        Collected *c = calloc(1, sizeof *c);
        uint8_t b;
        int fd;

        append_n(s, 5, 1, 200);
        assert_int_equal(spool_commit(s), 0);
        spool_free(s);

        /* a flipped bit in the last record, inside its payload */
        seg = last_segment(env);
        fd = open(seg, O_RDWR);
        assert_true(fd >= 0);
        off_t at = file_size(seg) - 50;
        assert_int_equal(pread(fd, &b, 1, at), 1);
        b ^= 0x10;
        assert_int_equal(pwrite(fd, &b, 1, at), 1);
        close(fd);

        s = open_spool(env, 0);
        deliver_findings(env, s);
        assert_int_equal(env->n_findings, 1);
        assert_int_equal(env->findings[0].kind, SPOOL_DAMAGE_CORRUPT);
        assert_true(env->findings[0].cut);
        assert_int_equal(env->findings[0].last_good_seq, 4);
        assert_int_equal(env->findings[0].lost_first, 5);
        assert_true(env->findings[0].lost_last >= 5);
        /* seq 5 may have been delivered: it is never handed out again */
        assert_true(spool_next_seq(s) > 5);
        assert_int_equal(spool_next_seq(s), env->findings[0].lost_last + 1);
        assert_int_equal(spool_foreach(s, collect, c), 0);
        assert_int_equal(c->n, 4);
        spool_free(s);
        free(c);
}

static void test_corrupt_middle(void **state) {
        Env *env = *state;
        Spool *s = open_spool(env, 0);
        _cleanup_free_ char *seg = NULL;
        Collected *c = calloc(1, sizeof *c);
        uint8_t junk[7] = { 1, 2, 3, 4, 5, 6, 7 };
        int fd;

        append_n(s, 10, 1, 60);
        assert_int_equal(spool_commit(s), 0);
        spool_free(s);

        /* Records are 32 + 84 bytes here: scribble over the middle of record 4. */
        seg = last_segment(env);
        off_t rec = file_size(seg) / 10;
        fd = open(seg, O_RDWR);
        assert_int_equal(pwrite(fd, junk, sizeof junk, 3 * rec + 10), (ssize_t) sizeof junk);
        close(fd);

        s = open_spool(env, 0);
        deliver_findings(env, s);
        assert_int_equal(env->n_findings, 1);
        assert_int_equal(env->findings[0].kind, SPOOL_DAMAGE_CORRUPT);
        assert_false(env->findings[0].cut);
        /* exactly seq 4 is missing, and the finding says so */
        assert_int_equal(env->findings[0].lost_first, 4);
        assert_int_equal(env->findings[0].lost_last, 4);
        assert_int_equal(spool_next_seq(s), 11);
        assert_int_equal(spool_foreach(s, collect, c), 0);
        assert_int_equal(c->n, 9);
        spool_free(s);
        free(c);
}

static void test_read_time_corruption(void **state) {
        Env *env = *state;
        Spool *s = open_spool(env, 0);
        _cleanup_free_ char *seg = NULL;
        SpoolBatch b;
        int fd;

        append_n(s, 3, 1, 100);
        assert_int_equal(spool_commit(s), 0);
        seg = last_segment(env);
        fd = open(seg, O_RDWR);
        assert_int_equal(pwrite(fd, "XX", 2, 40), 2); /* inside record 1 */
        close(fd);
        assert_int_equal(spool_read_batch(s, 10, 1 << 20, &b), 0);
        assert_int_equal(b.first_seq, 2);
        assert_int_equal(b.count, 2);
        spool_batch_done(&b);
        deliver_findings(env, s);
        assert_int_equal(env->n_findings, 1);
        assert_int_equal(env->findings[0].lost_first, 1);
        spool_free(s);
}

static void test_sparse_terabyte_segment(void **state) {
        Env *env = *state;
        Spool *s = open_spool(env, 0);
        Collected *c = calloc(1, sizeof *c);
        _cleanup_free_ char *seg = NULL;
        off_t good;

        append_n(s, 5, 1, 10);
        assert_int_equal(spool_commit(s), 0);
        spool_free(s);
        seg = last_segment(env);
        good = file_size(seg);
        assert_int_equal(truncate(seg, (off_t) 1 << 40), 0);

        s = open_spool(env, 0); /* reads at most SPOOL_SEGMENT_MAX of it */
        deliver_findings(env, s);
        const SpoolFinding *f = find_kind(env, SPOOL_DAMAGE_OVERSIZED, 0);
        assert_non_null(f);
        assert_int_equal(f->offset, good);
        assert_int_equal(f->bytes, ((uint64_t) 1 << 40) - (uint64_t) good);
        assert_true(f->cut && f->lost_first > f->lost_last);
        assert_int_equal(file_size(seg), good);
        assert_int_equal(spool_foreach(s, collect, c), 0);
        assert_int_equal(c->n, 5);
        assert_int_equal(spool_next_seq(s), 6);
        spool_free(s);
        env->n_findings = 0;
        s = open_spool(env, 0);
        deliver_findings(env, s);
        assert_int_equal(env->n_findings, 0);
        spool_free(s);
        free(c);
}

static void test_foreign_names(void **state) {
        Env *env = *state;
        Spool *s = open_spool(env, 0);
        Collected *c = calloc(1, sizeof *c);
        char p[160];

        append_n(s, 3, 1, 10);
        assert_int_equal(spool_commit(s), 0);
        spool_free(s);
        snprintf(p, sizeof p, "%s/00000000000000f0.seg", env->dir);
        assert_int_equal(mkfifo(p, 0600), 0);
        snprintf(p, sizeof p, "%s/00000000000000f1.seg", env->dir);
        assert_int_equal(symlink("/etc/passwd", p), 0);
        snprintf(p, sizeof p, "%s/00000000000000f2.seg", env->dir);
        assert_int_equal(mkdir(p, 0700), 0);
        snprintf(p, sizeof p, "%s/00000000000000f2.seg/x", env->dir);
        assert_int_equal(mkdir(p, 0700), 0);

        s = open_spool(env, 0);
        deliver_findings(env, s);
        assert_non_null(find_kind(env, SPOOL_DAMAGE_NOT_A_FILE, 2));
        assert_null(find_kind(env, SPOOL_DAMAGE_NOT_A_FILE, 3));
        assert_int_equal(spool_foreach(s, collect, c), 0);
        assert_int_equal(c->n, 3);
        append_n(s, 1, 1, 10);
        assert_int_equal(spool_commit(s), 0);
        spool_free(s);
        snprintf(p, sizeof p, "%s/00000000000000f2.seg.bad-0/x", env->dir);
        assert_int_equal(access(p, F_OK), 0);
        free(c);
}

/* Online, events are delivered as they come: the spool must not grow to a full
 * segment (on disk and in its index) of delivered events. */
static void test_delivered_segment_retired(void **state) {
        Env *env = *state;
        Spool *s = open_spool(env, 0); /* default size: 8 MiB segments */
        SpoolStats st;

        for (unsigned round = 0; round < 200; round++) {
                SpoolBatch b;
                append_n(s, 10, 1, 900); /* ~9.5 KiB a round, ~1.9 MiB in all */
                assert_int_equal(spool_commit(s), 0);
                assert_int_equal(spool_read_batch(s, 100, 1 << 20, &b), 0);
                assert_int_equal(b.count, 10);
                assert_int_equal(spool_ack(s, b.last_seq), 0);
                spool_batch_done(&b);
                spool_get_stats(s, &st);
                assert_int_equal(st.depth, 0);
                /* at most the retired-at-the-next-append segment and a new one */
                assert_true(count_segments(env) <= 2);
                assert_true(st.bytes < 2 * 80 * 1024);
        }
        spool_free(s);
        s = open_spool(env, 0);
        assert_int_equal(spool_next_seq(s), 2001);
        spool_free(s);
}

/* A commit goes to a new segment once the newest is full, named for its first
 * seq; reopened, the spool reads them all in order. */
static void test_rotation(void **state) {
        Env *env = *state;
        Spool *s = open_spool(env, 2 * SPOOL_MIN_MAX_BYTES); /* 256 KiB segments */
        Collected *c = calloc(1, sizeof *c);
        char p[160];

        for (unsigned i = 0; i < 10; i++) {
                append_n(s, 100, 1, 1000); /* ~100 KiB a commit, ~1 MiB in all */
                assert_int_equal(spool_commit(s), 0);
        }
        assert_int_equal(env->n_drops, 0);
        spool_free(s);
        assert_true(count_segments(env) >= 4);
        snprintf(p, sizeof p, "%s/%016x.seg", env->dir, 1);
        assert_int_equal(access(p, F_OK), 0);

        s = open_spool(env, 2 * SPOOL_MIN_MAX_BYTES);
        assert_int_equal(spool_foreach(s, collect, c), 0);
        assert_int_equal(c->n, 1000);
        for (size_t i = 0; i < c->n; i++)
                assert_int_equal(c->seqs[i], i + 1);
        assert_int_equal(spool_next_seq(s), 1001);
        spool_free(s);
        free(c);

        /* every segment file is named for the seq of its first record */
        struct dirent **names;
        int n = scandir(env->dir, &names, NULL, alphasort);
        for (int i = 0; i < n; i++) {
                if (endswith(names[i]->d_name, ".seg")) {
                        _cleanup_free_ char *path = NULL;
                        uint8_t h[SPOOL_RECORD_HEADER_SIZE];
                        int fd;
                        assert_true(asprintf(&path, "%s/%s", env->dir, names[i]->d_name) > 0);
                        fd = open(path, O_RDONLY);
                        assert_true(fd >= 0);
                        assert_int_equal(pread(fd, h, sizeof h, 0), (ssize_t) sizeof h);
                        close(fd);
                        assert_int_equal(spool_le64(h + 8), strtoull(names[i]->d_name, NULL, 16));
                }
                free(names[i]);
        }
        free(names);
}

int main(void) {
        log_set_max_level(LOG_CRIT);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_tail, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_middle, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_time_corruption, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sparse_terabyte_segment, setup, teardown),
                cmocka_unit_test_setup_teardown(test_foreign_names, setup, teardown),
                cmocka_unit_test_setup_teardown(test_delivered_segment_retired, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
