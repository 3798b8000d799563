/* SPDX-License-Identifier: MIT */
#include "unit.h"
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include <zlib.h>

#include "log.h"
#include "spool-record.h"
#include "spool.h"

typedef struct Env {
        char dir[64];
        uint64_t last_committed;
        int commit_error;
        unsigned n_commits;
        SpoolFinding findings[16];
        unsigned n_findings;
        uint64_t dropped;
        unsigned n_drops;
        uint64_t drop_ranges_total;
} Env;

static int render_drop(const SpoolDrop *d, uint64_t seq, uint8_t *sev, usec_t *t, char **json, size_t *len,
                       void *userdata) {
        Env *env = userdata;
        uint64_t in_ranges = 0;
        int n;

        for (size_t i = 0; i < d->n_ranges; i++)
                in_ranges += d->ranges[i][1] - d->ranges[i][0] + 1;
        /* The ranges name exactly the events counted. */
        assert_int_equal(in_ranges, d->count);
        /* append_n() dates every event 1000 + seq µs: the times come from the records */
        assert_int_equal(d->oldest_time, 1000 + d->ranges[0][0]);
        assert_int_equal(d->newest_time, 1000 + d->ranges[d->n_ranges - 1][1]);
        env->drop_ranges_total += in_ranges;
        env->dropped += d->count;
        env->n_drops++;
        n = asprintf(json, "{\"seq\":%" PRIu64 ",\"kind\":\"agent.events_dropped\",\"count\":%" PRIu64 "}", seq, d->count);
        assert_true(n > 0);
        *len = (size_t) n;
        *sev = 3;
        *t = 0;
        return 0;
}

static void committed(uint64_t last, int error, void *userdata) {
        Env *env = userdata;
        env->n_commits++;
        if (error < 0)
                env->commit_error = error;
        else
                env->last_committed = last;
}

static void damaged(const SpoolFinding *f, void *userdata) {
        Env *env = userdata;
        if (env->n_findings < 16)
                env->findings[env->n_findings++] = *f;
}

static const SpoolCallbacks callbacks = { render_drop, committed, damaged };

static Spool *open_spool(Env *env, uint64_t max) {
        Spool *s = NULL;
        int r = spool_open(env->dir, &(SpoolOptions){ .max_bytes = max }, &s);
        assert_int_equal(r, 0);
        spool_set_callbacks(s, &callbacks, env);
        return s;
}

/* Findings are handed out from the event loop; here, run it once. */
static void deliver_findings(Env *env, Spool *s) {
        sd_event *e = NULL;
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(spool_attach_event(s, e, 0), 0);
        for (int i = 0; i < 3; i++)
                (void) sd_event_run(e, 0);
        /* detach: the spool keeps its source; drop the loop at free time */
        sd_event_unref(e);
}

static int setup(void **state) {
        Env *env = calloc(1, sizeof *env);
        strcpy(env->dir, "/tmp/mamori-spool-XXXXXX");
        assert_non_null(mkdtemp(env->dir));
        *state = env;
        return 0;
}

static int teardown(void **state) {
        Env *env = *state;
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", env->dir);
        assert_int_equal(system(cmd), 0);
        free(env);
        return 0;
}

static void append_n(Spool *s, unsigned n, uint8_t sev, size_t pad) {
        for (unsigned i = 0; i < n; i++) {
                char buf[8192];
                uint64_t seq = spool_next_seq(s);
                int len = snprintf(buf, sizeof buf, "{\"seq\":%" PRIu64 ",\"sev\":%u,\"pad\":\"%*s\"}", seq, sev,
                                   (int) pad, "");
                assert_int_equal(spool_append(s, buf, (size_t) len, sev, 1000 + seq), 0);
        }
}

typedef struct Collected {
        uint64_t seqs[20000];
        size_t n;
} Collected;

static int collect(uint64_t seq, const char *json, size_t len, void *userdata) {
        Collected *c = userdata;
        char want[40];
        /* each line carries its own seq first */
        snprintf(want, sizeof want, "{\"seq\":%" PRIu64 ",", seq);
        assert_true(len > strlen(want));
        assert_memory_equal(json, want, strlen(want));
        if (c->n < 20000)
                c->seqs[c->n++] = seq;
        return 0;
}

static char *last_segment(Env *env) {
        struct dirent **names;
        char *path = NULL;
        int n = scandir(env->dir, &names, NULL, alphasort);
        for (int i = n - 1; i >= 0; i--) {
                if (!path && endswith(names[i]->d_name, ".seg"))
                        assert_true(asprintf(&path, "%s/%s", env->dir, names[i]->d_name) > 0);
                free(names[i]);
        }
        free(names);
        assert_non_null(path);
        return path;
}

static off_t file_size(const char *path) {
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        return st.st_size;
}

/* ---- tests ---- */

static void test_record_roundtrip(void **state) {
        uint8_t aux[32], buf[256];
        SpoolRecord r = { .seq = 42, .time = 7, .severity = 2, .flags = SPOOL_RECORD_TOMBSTONE,
                          .json = (const uint8_t *) "{\"a\":1}", .json_len = 7, .aux = aux, .aux_len = 32 }, d;
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

static unsigned count_segments(Env *env) {
        struct dirent **names;
        unsigned c = 0;
        int n = scandir(env->dir, &names, NULL, alphasort);
        for (int i = 0; i < n; i++) {
                if (endswith(names[i]->d_name, ".seg"))
                        c++;
                free(names[i]);
        }
        free(names);
        return c;
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
        assert_int_equal(c.high, high);              /* no high event was dropped */
        assert_int_equal(c.drops, env->n_drops);     /* every drop is reported, once */
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

static const SpoolFinding *find_kind(Env *env, SpoolDamage kind, unsigned nth) {
        for (unsigned i = 0; i < env->n_findings; i++)
                if (env->findings[i].kind == kind && nth-- == 0)
                        return &env->findings[i];
        return NULL;
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

static void test_cursor_out_of_range(void **state) {
        Env *env = *state;
        const struct {
                uint64_t gen, acked, next;
        } cases[] = {
                { 100, UINT64_MAX, 7 },                         /* the wrap: not believed, no floor */
                { 101, 1000, 1001 },                            /* past the records: a floor only */
                { 102, SPOOL_SEQ_FLOOR_MAX + 1, 7 },            /* past any sane seq */
                { UINT64_MAX, UINT64_MAX, 7 },                  /* and a generation at the wrap */
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

int main(void) {
        log_set_max_level(LOG_CRIT);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_record_roundtrip),
                cmocka_unit_test_setup_teardown(test_persist_and_seq, setup, teardown),
                cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_tail, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_middle, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ack, setup, teardown),
                cmocka_unit_test_setup_teardown(test_delivered_segment_retired, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cursor_slot_torn, setup, teardown),
                cmocka_unit_test_setup_teardown(test_full_drops_low_severity, setup, teardown),
                cmocka_unit_test_setup_teardown(test_full_keeps_high, setup, teardown),
                cmocka_unit_test_setup_teardown(test_drop_skips_inflight, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_time_corruption, setup, teardown),
                cmocka_unit_test_setup_teardown(test_locked, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuse_oversize, setup, teardown),
                cmocka_unit_test(test_record_seq_range),
                cmocka_unit_test_setup_teardown(test_sparse_terabyte_segment, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cursor_out_of_range, setup, teardown),
                cmocka_unit_test_setup_teardown(test_old_floor_out_of_range, setup, teardown),
                cmocka_unit_test_setup_teardown(test_foreign_names, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
