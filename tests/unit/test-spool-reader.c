/* SPDX-License-Identifier: MIT */
/* Two roles on one spool directory, in one process: mamorid's writer and the
 * uplink's read-only reader (agent/report/spool-reader.c), with the
 * `committed` mark and the uplink's cursor between them (spool-cursor.c). */
#include "unit.h"

#include <grp.h>
#include <sys/wait.h>
#include <zlib.h>

#include "spool-env.h"

#define MAX_SEQ 40000

/* The drops the writer reports, seq by seq: every seq must come out of the
 * reader or be named here. */
typedef struct Two {
        Env env; /* first: the callbacks of spool-env.h take it */
        char spool[96], cursor[96];
        uint8_t dropped[MAX_SEQ];
        unsigned delivered[MAX_SEQ];
        uint64_t last_read;
        sd_event *loop; /* every spool of the test is attached to it at open */
} Two;

static int two_render_drop(const SpoolDrop *d, uint64_t seq, uint8_t *sev, usec_t *t, char **json, size_t *len,
                           void *userdata) {
        Two *two = userdata;
        for (size_t i = 0; i < d->n_ranges; i++)
                for (uint64_t q = d->ranges[i][0]; q <= d->ranges[i][1]; q++) {
                        assert_true(q < MAX_SEQ);
                        two->dropped[q] = 1;
                }
        return render_drop(d, seq, sev, t, json, len, userdata);
}

static const SpoolCallbacks two_callbacks = { two_render_drop, committed, damaged };

static int two_setup(void **state) {
        Two *two = calloc(1, sizeof *two);
        assert_non_null(two);
        strcpy(two->env.dir, "/tmp/mamori-spool-XXXXXX");
        assert_non_null(mkdtemp(two->env.dir));
        snprintf(two->spool, sizeof two->spool, "%s/spool", two->env.dir);
        snprintf(two->cursor, sizeof two->cursor, "%s/uplink-cursor", two->env.dir);
        assert_int_equal(sd_event_new(&two->loop), 0);
        *state = two;
        return 0;
}

static int two_teardown(void **state) {
        Two *two = *state;
        sd_event_unref(two->loop);
        return teardown(state);
}

/* Findings are handed out from the event loop. */
static void run_loop(Two *two) {
        for (int i = 0; i < 3; i++)
                (void) sd_event_run(two->loop, 0);
}

/* spool-env.h's helpers, on the spool below the test's directory */
static void spool_env(Two *two, Env *e) {
        size_t n = strlen(two->spool);
        assert_true(n < sizeof e->dir);
        memcpy(e->dir, two->spool, n + 1);
}

static unsigned count_segs(Two *two) {
        Env e;
        spool_env(two, &e);
        return count_segments(&e);
}

static const char *last_seg(Two *two) {
        static char p[160];
        Env e;
        spool_env(two, &e);
        char *q = last_segment(&e);
        snprintf(p, sizeof p, "%s", q);
        free(q);
        return p;
}

static Spool *open_writer(Two *two, uint64_t max) {
        Spool *s = NULL;
        assert_int_equal(spool_open(two->spool, &(SpoolOptions){ .max_bytes = max, .no_sync = true }, &s), 0);
        spool_set_callbacks(s, &two_callbacks, two);
        assert_int_equal(spool_attach_event(s, two->loop, 0), 0);
        return s;
}

static Spool *open_reader(Two *two) {
        Spool *s = NULL;
        assert_int_equal(spool_open_reader(two->spool, two->cursor, &(SpoolReaderOptions){ .no_sync = true }, &s), 0);
        spool_set_callbacks(s, &two_callbacks, two);
        assert_int_equal(spool_attach_event(s, two->loop, 0), 0);
        assert_string_equal(spool_dir(s), two->spool);
        return s;
}

/* One batch through the reader: every seq checked against its line, counted, acked. */
static size_t read_ack(Two *two, Spool *rd, size_t max_events) {
        SpoolBatch b;
        size_t n = 0;
        int r = spool_read_batch(rd, max_events, 1 << 20, &b);

        if (r == -ENODATA)
                return 0;
        assert_int_equal(r, 0);
        for (const char *p = b.data; p < b.data + b.len; n++) {
                uint64_t seq;
                const char *nl = memchr(p, '\n', (size_t) (b.data + b.len - p));
                assert_non_null(nl);
                assert_int_equal(sscanf(p, "{\"seq\":%" SCNu64 ",", &seq), 1);
                assert_true(seq > two->last_read); /* in order */
                assert_true(seq < MAX_SEQ);
                assert_false(two->dropped[seq]); /* its tombstone was committed before */
                two->last_read = seq;
                two->delivered[seq]++;
                p = nl + 1;
        }
        assert_int_equal(n, b.count);
        assert_int_equal(spool_ack(rd, b.last_seq), 0);
        spool_batch_done(&b);
        return n;
}

static void put_committed(Two *two, uint64_t seq, bool good) {
        uint8_t b[20] = { 0 };
        char p[160];
        int fd;

        spool_put_le32(b, UINT32_C(0x314b534d));
        spool_put_le64(b + 8, seq);
        spool_put_le32(b + 16, (uint32_t) crc32(0L, b, 16) ^ (good ? 0 : 1));
        snprintf(p, sizeof p, "%s/committed", two->spool);
        fd = open(p, O_WRONLY);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, b, sizeof b, 0), (ssize_t) sizeof b);
        close(fd);
}

static void test_reader_basic(void **state) {
        Two *two = *state;
        Spool *w = open_writer(two, 0), *rd;
        SpoolStats st;
        struct stat sb;

        /* mamorid's spool: setgid, group-readable, files 0640 */
        assert_int_equal(stat(two->spool, &sb), 0);
        assert_int_equal(sb.st_mode & 07777, 02750);
        append_n(w, 10, 1, 10);
        assert_int_equal(spool_commit(w), 0);
        rd = open_reader(two);
        assert_int_equal(spool_append(rd, "{}", 2, 1, 1), -EROFS);
        assert_int_equal(spool_commit(rd), -EROFS);
        assert_int_equal(spool_refresh(rd), 1);
        assert_int_equal(read_ack(two, rd, 100), 10);
        assert_int_equal(two->last_read, 10);
        assert_int_equal(spool_refresh(rd), 0);

        /* queued, not committed: the reader does not see it */
        append_n(w, 5, 1, 10);
        assert_int_equal(spool_refresh(rd), 0);
        assert_int_equal(read_ack(two, rd, 100), 0);
        spool_get_stats(rd, &st);
        assert_int_equal(st.depth, 0);
        assert_int_equal(spool_commit(w), 0);
        assert_int_equal(spool_refresh(rd), 1);
        spool_get_stats(rd, &st);
        assert_int_equal(st.depth, 5);
        assert_int_equal(read_ack(two, rd, 100), 5);

        /* written, not yet synced (the mark lags): not read either */
        append_n(w, 5, 1, 10);
        assert_int_equal(spool_commit(w), 0);
        put_committed(two, 17, true);
        assert_int_equal(spool_refresh(rd), 1);
        assert_int_equal(read_ack(two, rd, 100), 2);
        put_committed(two, 19, false); /* a mark torn while written: the old one stands */
        assert_int_equal(spool_refresh(rd), 0);
        put_committed(two, 20, true);
        assert_int_equal(spool_refresh(rd), 1);
        assert_int_equal(read_ack(two, rd, 100), 3);
        assert_int_equal(two->last_read, 20);

        /* the writer learns what was delivered from the uplink's cursor */
        spool_get_stats(w, &st);
        assert_int_equal(st.acked_seq, 0);
        assert_int_equal(spool_set_delivered_source(w, two->cursor), 0);
        spool_get_stats(w, &st);
        assert_int_equal(st.acked_seq, 20);
        assert_int_equal(st.depth, 0);
        assert_int_equal(spool_pull_delivered(w), 0);
        assert_int_equal(stat(two->cursor, &sb), 0);
        assert_int_equal(sb.st_mode & 07777, 0644);
        char p[160];
        snprintf(p, sizeof p, "%s/committed", two->spool);
        assert_int_equal(stat(p, &sb), 0);
        assert_int_equal(sb.st_mode & 07777, 0640);
        assert_int_equal(sb.st_size, 20);
        spool_free(rd);
        spool_free(w);
}

/* Appends a record as mamorid would, behind its back, and moves the mark. */
static void put_record(Two *two, uint64_t seq, const uint64_t (*ranges)[2], size_t n_ranges) {
        char json[64];
        uint8_t aux[64], buf[256];
        int len = snprintf(json, sizeof json, "{\"seq\":%" PRIu64 ",\"kind\":\"x\"}", seq);
        SpoolRecord rec = { .seq = seq,
                            .time = 1000 + seq,
                            .severity = 1,
                            .flags = n_ranges ? SPOOL_RECORD_TOMBSTONE : 0,
                            .json = (const uint8_t *) json,
                            .json_len = (size_t) len,
                            .aux = aux,
                            .aux_len = n_ranges * 16 };
        size_t sz = spool_record_size(rec.json_len, rec.aux_len);
        int fd;

        for (size_t i = 0; i < n_ranges; i++)
                spool_tombstone_put(aux, i, ranges[i][0], ranges[i][1]);
        assert_true(sz <= sizeof buf);
        spool_record_encode(buf, &rec);
        fd = open(last_seg(two), O_WRONLY | O_APPEND);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, buf, sz), (ssize_t) sz);
        close(fd);
        put_committed(two, seq, true);
}

/* A tombstone names seqs the reader has indexed: they are skipped. */
static void test_reader_tombstone(void **state) {
        Two *two = *state;
        Spool *w = open_writer(two, 0), *rd;
        const uint64_t ranges[][2] = { { 2, 3 }, { 5, 5 } };

        append_n(w, 6, 1, 10);
        assert_int_equal(spool_commit(w), 0);
        spool_free(w);
        rd = open_reader(two);
        assert_int_equal(read_ack(two, rd, 1), 1);
        put_record(two, 7, ranges, ELEMENTSOF(ranges));
        assert_int_equal(spool_refresh(rd), 1);
        for (size_t i = 0; i < ELEMENTSOF(ranges); i++)
                for (uint64_t q = ranges[i][0]; q <= ranges[i][1]; q++)
                        two->dropped[q] = 1;
        while (read_ack(two, rd, 100) > 0)
                ;
        assert_int_equal(two->last_read, 7);
        for (uint64_t q = 1; q <= 7; q++)
                assert_int_equal(two->delivered[q], !two->dropped[q]);
        spool_free(rd);
}

/* Damage in committed records: skipped and said, the file left as it is. */
static void test_reader_damage(void **state) {
        Two *two = *state;
        Spool *w = open_writer(two, 0), *rd;
        SpoolStats st;
        struct stat a, b;
        const char *seg;
        int fd;

        append_n(w, 10, 1, 10);
        assert_int_equal(spool_commit(w), 0);
        spool_free(w);
        seg = last_seg(two);
        fd = open(seg, O_WRONLY);
        assert_true(fd >= 0);
        /* inside the 4th record (each 32 + 38 bytes) */
        assert_int_equal(pwrite(fd, "XXXX", 4, 3 * 70 + 40), 4);
        close(fd);
        assert_int_equal(stat(seg, &a), 0);
        rd = open_reader(two);
        run_loop(two);
        const SpoolFinding *f = find_kind(&two->env, SPOOL_DAMAGE_CORRUPT, 0);
        assert_non_null(f);
        assert_int_equal(f->lost_first, 4);
        assert_int_equal(f->lost_last, 4);
        assert_false(f->cut);
        while (read_ack(two, rd, 3) > 0)
                ;
        assert_int_equal(two->last_read, 10);
        for (uint64_t q = 1; q <= 10; q++)
                assert_int_equal(two->delivered[q], q != 4);
        /* said once, however often it looks again */
        assert_int_equal(spool_refresh(rd), 0);
        run_loop(two);
        assert_null(find_kind(&two->env, SPOOL_DAMAGE_CORRUPT, 1));
        spool_get_stats(rd, &st);
        assert_int_equal(st.depth, 0);
        assert_int_equal(st.acked_seq, 10);
        spool_free(rd);
        assert_int_equal(stat(seg, &b), 0);
        assert_int_equal(a.st_size, b.st_size);
        assert_int_equal(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
        assert_int_equal(a.st_ino, b.st_ino);
}

/* The writer rotates, retires, drops and rewrites segments under the reader;
 * nothing is lost, nothing comes twice. */
static void test_reader_follows_writer(void **state) {
        Two *two = *state;
        Spool *w = open_writer(two, SPOOL_MIN_MAX_BYTES), *rd = open_reader(two);
        uint64_t total;
        unsigned drops_seen;

        assert_int_equal(spool_set_delivered_source(w, two->cursor), 0);
        /* online: delivered as it comes, delivered segments retired */
        for (unsigned round = 0; round < 100; round++) {
                append_n(w, 20, (uint8_t) (round % 3), 400);
                assert_int_equal(spool_commit(w), 0);
                assert_true(spool_refresh(rd) >= 0);
                while (read_ack(two, rd, 7) > 0)
                        ;
        }
        assert_true(count_segs(two) <= 3);
        assert_int_equal(two->env.n_drops, 0);
        /* offline-ish: the reader falls behind, the spool fills, drops and rewrites */
        for (unsigned round = 0; round < 200; round++) {
                append_n(w, 20, (uint8_t) (round % 3), 1000);
                assert_int_equal(spool_commit(w), 0);
                assert_true(spool_refresh(rd) >= 0);
                (void) read_ack(two, rd, 3);
        }
        assert_true(two->env.n_drops > 0);
        drops_seen = two->env.n_drops;
        /* caught up */
        append_n(w, 1, 1, 10);
        assert_int_equal(spool_commit(w), 0);
        assert_true(spool_refresh(rd) >= 0);
        while (read_ack(two, rd, 100) > 0)
                ;
        assert_int_equal(spool_refresh(rd), 0);
        SpoolStats st;
        spool_get_stats(rd, &st);
        assert_int_equal(st.depth, 0);
        assert_true(st.bytes <= SPOOL_MIN_MAX_BYTES); /* what it indexes, never less than nothing */
        total = spool_next_seq(w) - 1;
        assert_true(total < MAX_SEQ);
        for (uint64_t q = 1; q <= total; q++) {
                /* each once; what was dropped only if not delivered before its tombstone */
                assert_true(two->delivered[q] <= 1);
                if (!two->delivered[q] && !two->dropped[q])
                        fail_msg("seq %" PRIu64 " neither delivered nor dropped", q);
        }
        assert_int_equal(two->env.n_drops, drops_seen);
        assert_null(find_kind(&two->env, SPOOL_DAMAGE_CORRUPT, 0));
        /* and the writer retired what the reader delivered */
        assert_int_equal(spool_pull_delivered(w), 1);
        append_n(w, 1, 1, 10);
        assert_int_equal(spool_commit(w), 0);
        assert_true(count_segs(two) <= 2);
        spool_free(rd);
        spool_free(w);
}

/* As the uplink's user: uid nobody, in the spool's group or not. */
static pid_t fork_as(gid_t gid) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0 && geteuid() == 0 &&
            (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(65534, 65534, 65534) < 0))
                _exit(10);
        return pid;
}

static void wait_ok(pid_t pid) {
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

/* Two processes at once, as in service: mamorid commits bursts into
 * rotating segments and retires what the uplink acked, while the reader
 * follows. Every event exactly once, in order. */
static void test_reader_concurrent(void **state) {
        Two *two = *state;
        const uint64_t n = 10000;
        Spool *w = open_writer(two, 0), *rd; /* 4 MiB segments, 64 MiB in all: no drops */
        usec_t deadline;
        pid_t pid;

        rd = open_reader(two);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                srand(7);
                if (spool_set_delivered_source(w, two->cursor) < 0)
                        _exit(10);
                while (spool_next_seq(w) <= n) {
                        unsigned k = MIN((unsigned) (1 + rand() % 300), (unsigned) (n + 1 - spool_next_seq(w)));
                        for (unsigned i = 0; i < k; i++) {
                                char buf[4096];
                                uint64_t seq = spool_next_seq(w);
                                int len = snprintf(buf, sizeof buf, "{\"seq\":%" PRIu64 ",\"pad\":\"%*s\"}", seq,
                                                   rand() % 3000, "");
                                if (spool_append(w, buf, (size_t) len, 1, 1000 + seq) < 0)
                                        _exit(11);
                        }
                        if (spool_commit(w) < 0)
                                _exit(12);
                        if (rand() % 4 == 0)
                                usleep(200);
                }
                _exit(two->env.n_drops == 0 ? 0 : 13);
        }
        deadline = now_usec(CLOCK_MONOTONIC) + 60 * USEC_PER_SEC;
        while (two->last_read < n) {
                assert_true(now_usec(CLOCK_MONOTONIC) < deadline);
                assert_true(spool_refresh(rd) >= 0);
                while (read_ack(two, rd, 1 + (size_t) (two->last_read % 500)) > 0)
                        ;
        }
        wait_ok(pid);
        for (uint64_t q = 1; q <= n; q++)
                assert_int_equal(two->delivered[q], 1);
        assert_int_equal(two->env.n_findings, 0);
        spool_free(rd);
        spool_free(w);
        /* and mamorid retired what was delivered */
        w = open_writer(two, 0);
        assert_int_equal(spool_set_delivered_source(w, two->cursor), 0);
        assert_int_equal(count_segs(two), 1);
        spool_free(w);
}

/* mamorid replaced the spool directory (one not its own was moved aside):
 * its seqs start over, and the reader follows it. */
static void test_reader_dir_replaced(void **state) {
        Two *two = *state;
        Spool *w = open_writer(two, 0), *rd = open_reader(two);
        char aside[128];

        append_n(w, 5, 1, 10);
        assert_int_equal(spool_commit(w), 0);
        assert_int_equal(spool_refresh(rd), 1);
        assert_int_equal(read_ack(two, rd, 100), 5);
        spool_free(w);
        snprintf(aside, sizeof aside, "%s/spool.bad-0", two->env.dir);
        assert_int_equal(rename(two->spool, aside), 0);
        /* gone for a moment: nothing new, no error */
        assert_int_equal(spool_refresh(rd), 0);
        w = open_writer(two, 0);
        assert_int_equal(spool_next_seq(w), 1);
        append_n(w, 3, 1, 10);
        assert_int_equal(spool_commit(w), 0);
        assert_int_equal(spool_refresh(rd), 1);
        two->last_read = 0;
        memset(two->delivered, 0, sizeof two->delivered);
        assert_int_equal(read_ack(two, rd, 100), 3);
        assert_int_equal(two->last_read, 3);
        spool_free(rd);
        spool_free(w);
}

/* The upgrade: no uplink cursor yet, so the reader starts from mamorid's. */
static void test_reader_cursor_from_writer(void **state) {
        Two *two = *state;
        Spool *w = open_writer(two, 0), *rd;
        SpoolBatch b;

        append_n(w, 10, 1, 10);
        assert_int_equal(spool_commit(w), 0);
        assert_int_equal(spool_read_batch(w, 4, 1 << 20, &b), 0); /* the one-process version */
        assert_int_equal(spool_ack(w, b.last_seq), 0);
        spool_batch_done(&b);
        rd = open_reader(two);
        two->last_read = 4;
        assert_int_equal(read_ack(two, rd, 3), 3);
        assert_int_equal(two->last_read, 7);
        spool_free(rd);
        /* from now on its own cursor */
        rd = open_reader(two);
        assert_int_equal(read_ack(two, rd, 100), 3);
        assert_int_equal(two->last_read, 10);
        spool_free(rd);
        /* its own cursor torn in both slots: mamorid's again, and said */
        assert_int_equal(truncate(two->cursor, 0), 0);
        int fd = open(two->cursor, O_WRONLY);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "garbage garbage garbage garbage garbage", 39), 39);
        close(fd);
        two->env.n_findings = 0;
        rd = open_reader(two);
        run_loop(two);
        assert_non_null(find_kind(&two->env, SPOOL_DAMAGE_CURSOR, 0));
        two->last_read = 4;
        assert_int_equal(read_ack(two, rd, 100), 6); /* duplicates, never losses */
        spool_free(rd);
        spool_free(w);
}

static void put_uplink_cursor(Two *two, const void *data, size_t len) {
        int fd = open(two->cursor, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t) len);
        close(fd);
}

static void put_uplink_value(Two *two, uint64_t gen, uint64_t acked) {
        uint8_t b[544] = { 0 };
        uint8_t *slot = b + (gen % 2) * 512;
        spool_put_le32(slot, UINT32_C(0x3143534d));
        spool_put_le64(slot + 8, gen);
        spool_put_le64(slot + 16, acked);
        spool_put_le32(slot + 24, (uint32_t) crc32(0L, slot, 24));
        put_uplink_cursor(two, b, sizeof b);
}

static unsigned count_kind(Env *env, SpoolDamage kind) {
        unsigned n = 0;
        while (find_kind(env, kind, n))
                n++;
        return n;
}

/* A cursor the uplink's user tampered with: said once, nothing retired. */
static void test_uplink_cursor_bad(void **state) {
        Two *two = *state;
        Spool *w = open_writer(two, 4 * 1024 * 1024); /* 512 KiB segments */
        SpoolStats st;

        for (unsigned i = 0; i < 3; i++) {
                append_n(w, 400, 1, 600);
                assert_int_equal(spool_commit(w), 0);
        }
        unsigned segs = count_segs(two);
        assert_true(segs >= 2);
        run_loop(two);
        two->env.n_findings = 0;

        put_uplink_cursor(two, "not a cursor at all", 19);
        assert_int_equal(spool_set_delivered_source(w, two->cursor), 0);
        assert_true(spool_pull_delivered(w) < 0);
        append_n(w, 1, 1, 10);
        assert_int_equal(spool_commit(w), 0); /* pulls it again */
        run_loop(two);
        assert_int_equal(count_kind(&two->env, SPOOL_DAMAGE_CURSOR), 1);
        assert_string_equal(find_kind(&two->env, SPOOL_DAMAGE_CURSOR, 0)->file, "uplink cursor");

        const uint64_t past[] = { 1202, UINT64_MAX, SPOOL_SEQ_FLOOR_MAX + 1 };
        for (size_t i = 0; i < ELEMENTSOF(past); i++) {
                put_uplink_value(two, 5 + i, past[i]);
                assert_int_equal(spool_pull_delivered(w), -ERANGE);
                assert_int_equal(spool_pull_delivered(w), -ERANGE);
                append_n(w, 1, 1, 10);
                assert_int_equal(spool_commit(w), 0);
        }
        run_loop(two);
        assert_int_equal(count_kind(&two->env, SPOOL_DAMAGE_SEQ_RANGE), ELEMENTSOF(past));
        assert_int_equal(find_kind(&two->env, SPOOL_DAMAGE_SEQ_RANGE, 0)->bad_seq, 1202);
        assert_string_equal(find_kind(&two->env, SPOOL_DAMAGE_SEQ_RANGE, 0)->file, "uplink cursor");
        spool_get_stats(w, &st);
        assert_int_equal(st.acked_seq, 0);
        assert_int_equal(st.depth, 1204);
        assert_true(count_segs(two) >= segs);

        /* a cursor that goes back is ignored; a good one retires */
        put_uplink_value(two, 9, 800);
        assert_int_equal(spool_pull_delivered(w), 1);
        put_uplink_value(two, 10, 700);
        assert_int_equal(spool_pull_delivered(w), 0);
        spool_get_stats(w, &st);
        assert_int_equal(st.acked_seq, 800);
        assert_true(count_segs(two) < segs + 3);
        /* a directory in its place */
        assert_int_equal(unlink(two->cursor), 0);
        assert_int_equal(mkdir(two->cursor, 0700), 0);
        assert_true(spool_pull_delivered(w) < 0);
        assert_true(spool_pull_delivered(w) < 0);
        run_loop(two);
        assert_int_equal(count_kind(&two->env, SPOOL_DAMAGE_CURSOR), 2);
        spool_free(w);
}

/* The uplink reads the spool through its group (tmpfiles makes the directory
 * 02750 root:mamori-uplink); without it, a negative errno, never a crash. */
static void test_reader_cannot_read(void **state) {
        Two *two = *state;
        Spool *w, *rd = NULL;
        pid_t pid;

        if (geteuid() != 0)
                skip();
        /* as the one-process version left it: 0700, files 0600 */
        w = open_writer(two, 0);
        append_n(w, 3, 1, 10);
        assert_int_equal(spool_commit(w), 0);
        spool_free(w);
        assert_int_equal(chmod(two->spool, 0700), 0);
        assert_int_equal(chmod(last_seg(two), 0600), 0);
        /* the upgrade's tmpfiles line: the directory only */
        assert_int_equal(chown(two->spool, 0, 65534), 0);
        assert_int_equal(chmod(two->spool, 02750), 0);
        w = open_writer(two, 0);
        assert_int_equal(chmod(two->env.dir, 0777), 0); /* for the uplink's cursor */

        pid = fork_as(65533);
        if (pid == 0) {
                int r = spool_open_reader(two->spool, two->cursor, NULL, &rd);
                _exit(r == -EACCES && !rd ? 0 : 11);
        }
        wait_ok(pid);

        pid = fork_as(65534);
        if (pid == 0) {
                char p[160];
                SpoolBatch b;
                if (spool_open_reader(two->spool, two->cursor, NULL, &rd) < 0)
                        _exit(11);
                if (spool_read_batch(rd, 100, 1 << 20, &b) < 0 || b.count != 3 || spool_ack(rd, 3) < 0)
                        _exit(12);
                spool_batch_done(&b);
                /* the uplink's user cannot touch the spool */
                snprintf(p, sizeof p, "%s/x", two->spool);
                if (open(p, O_CREAT | O_WRONLY, 0600) >= 0)
                        _exit(13);
                spool_free(rd);
                _exit(0);
        }
        wait_ok(pid);

        /* readable at open, then no longer (an admin's chmod): spool_refresh() says so */
        int go[2], ready[2];
        assert_int_equal(pipe(go), 0);
        assert_int_equal(pipe(ready), 0);
        pid = fork_as(65534);
        if (pid == 0) {
                char c = 0;
                if (spool_open_reader(two->spool, two->cursor, NULL, &rd) < 0 || spool_refresh(rd) != 0)
                        _exit(11);
                if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
                        _exit(12);
                if (spool_refresh(rd) != -EACCES)
                        _exit(13);
                spool_free(rd);
                _exit(0);
        }
        char c;
        /* only the child holds these ends: if it dies, read() sees the end of file */
        close(ready[1]);
        close(go[0]);
        assert_int_equal(read(ready[0], &c, 1), 1);
        assert_int_equal(chmod(two->spool, 0700), 0);
        assert_int_equal(write(go[1], "g", 1), 1);
        wait_ok(pid);
        assert_int_equal(chmod(two->spool, 02750), 0);
        close(go[1]);
        close(ready[0]);

        /* what it delivered, mamorid retires */
        assert_int_equal(spool_set_delivered_source(w, two->cursor), 0);
        SpoolStats st;
        spool_get_stats(w, &st);
        assert_int_equal(st.acked_seq, 3);
        spool_free(w);

        /* another user's spool, or one anybody may write to: not read */
        assert_int_equal(chmod(two->spool, 0777), 0);
        assert_int_equal(spool_open_reader(two->spool, two->cursor, NULL, &rd), -EPERM);
        assert_null(rd);
        assert_int_equal(chmod(two->spool, 02750), 0);
        assert_int_equal(chown(two->spool, 65534, 65534), 0);
        assert_int_equal(spool_open_reader(two->spool, two->cursor, NULL, &rd), -EPERM);
        assert_null(rd);
}

int main(void) {
        log_set_max_level(LOG_CRIT);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_reader_basic, two_setup, two_teardown),
                cmocka_unit_test_setup_teardown(test_reader_follows_writer, two_setup, two_teardown),
                cmocka_unit_test_setup_teardown(test_reader_tombstone, two_setup, two_teardown),
                cmocka_unit_test_setup_teardown(test_reader_damage, two_setup, two_teardown),
                cmocka_unit_test_setup_teardown(test_reader_dir_replaced, two_setup, two_teardown),
                cmocka_unit_test_setup_teardown(test_reader_concurrent, two_setup, two_teardown),
                cmocka_unit_test_setup_teardown(test_reader_cursor_from_writer, two_setup, two_teardown),
                cmocka_unit_test_setup_teardown(test_uplink_cursor_bad, two_setup, two_teardown),
                cmocka_unit_test_setup_teardown(test_reader_cannot_read, two_setup, two_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
