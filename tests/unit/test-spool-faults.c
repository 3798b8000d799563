/* SPDX-License-Identifier: MIT */
/* The spool's paths that only a fault reaches, each with the fault made real:
 * both cursor slots bad, damage in a segment that is not the newest, rot that
 * only compaction finds, a commit write the kernel refuses (RLIMIT_FSIZE) and
 * a full filesystem (a small tmpfs in a private mount namespace) with the
 * retry that must commit every event once space is freed. */
#include "unit.h"
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "log.h"
#include "spool-record.h"
#include "spool.h"

typedef struct Env {
        char dir[64];
        char spool[96];
        bool mounted;
        uint64_t last_committed;
        int commit_error;
        unsigned n_failed;
        SpoolFinding findings[16];
        unsigned n_findings;
} Env;

static int render_drop(const SpoolDrop *d, uint64_t seq, uint8_t *sev, usec_t *t, char **json, size_t *len,
                       void *userdata) {
        fail_msg("no test here fills the spool to its bound (seq %" PRIu64 ")", seq);
        return -EINVAL;
}

static void committed(uint64_t last, int error, void *userdata) {
        Env *env = userdata;
        if (error < 0) {
                env->commit_error = error;
                env->n_failed++;
        } else
                env->last_committed = last;
}

static void damaged(const SpoolFinding *f, void *userdata) {
        Env *env = userdata;
        assert_true(env->n_findings < 16);
        env->findings[env->n_findings++] = *f;
}

static const SpoolCallbacks callbacks = { render_drop, committed, damaged };

static Spool *open_spool(Env *env, uint64_t max) {
        Spool *s = NULL;
        assert_int_equal(spool_open(env->spool, &(SpoolOptions){ .max_bytes = max }, &s), 0);
        spool_set_callbacks(s, &callbacks, env);
        return s;
}

static void run_loop(sd_event *e) {
        for (int i = 0; i < 3; i++)
                (void) sd_event_run(e, 0);
}

/* Findings are handed out from the event loop; here, run it a little. A
 * spool is attached to one loop only: once per spool. */
static void deliver_findings(Spool *s) {
        sd_event *e = NULL;
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(spool_attach_event(s, e, 0), 0);
        run_loop(e);
        sd_event_unref(e);
}

static int setup(void **state) {
        Env *env = calloc(1, sizeof *env);
        strcpy(env->dir, "/tmp/mamori-spool-faults-XXXXXX");
        assert_non_null(mkdtemp(env->dir));
        snprintf(env->spool, sizeof env->spool, "%s/spool", env->dir);
        *state = env;
        return 0;
}

static int teardown(void **state) {
        Env *env = *state;
        char cmd[128];
        if (env->mounted)
                assert_int_equal(umount2(env->dir, MNT_DETACH), 0);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", env->dir);
        assert_int_equal(system(cmd), 0);
        free(env);
        return 0;
}

/* Events of about 1 KiB, each carrying its seq first, dated 1000 + seq µs. */
static void append_n(Spool *s, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                char buf[2048];
                uint64_t seq = spool_next_seq(s);
                int len = snprintf(buf, sizeof buf, "{\"seq\":%" PRIu64 ",\"pad\":\"%*s\"}", seq, 1000, "");
                assert_int_equal(spool_append(s, buf, (size_t) len, 1, 1000 + seq), 0);
        }
}

typedef struct Collected {
        uint64_t seqs[4096];
        size_t n;
} Collected;

static int collect(uint64_t seq, const char *json, size_t len, void *userdata) {
        Collected *c = userdata;
        char want[40];
        snprintf(want, sizeof want, "{\"seq\":%" PRIu64 ",", seq);
        assert_true(len > strlen(want));
        assert_memory_equal(json, want, strlen(want));
        assert_true(c->n < 4096);
        c->seqs[c->n++] = seq;
        return 0;
}

/* Every undelivered seq from first to last, except `missing` (0: none). */
static void assert_spool_holds(Spool *s, uint64_t first, uint64_t last, uint64_t missing) {
        _cleanup_free_ Collected *c = calloc(1, sizeof *c);
        size_t k = 0;
        assert_int_equal(spool_foreach(s, collect, c), 0);
        for (uint64_t seq = first; seq <= last; seq++) {
                if (seq == missing)
                        continue;
                assert_true(k < c->n);
                assert_int_equal(c->seqs[k], seq);
                k++;
        }
        assert_int_equal(k, c->n);
}

/* The segments' first seqs, oldest first. */
static size_t segments(Env *env, uint64_t *bases, size_t max) {
        struct dirent **names;
        size_t k = 0;
        int n = scandir(env->spool, &names, NULL, alphasort);
        assert_true(n >= 0);
        for (int i = 0; i < n; i++) {
                if (endswith(names[i]->d_name, ".seg") && k < max)
                        bases[k++] = strtoull(names[i]->d_name, NULL, 16);
                free(names[i]);
        }
        free(names);
        return k;
}

static void segment_path(Env *env, uint64_t base, char buf[static 160]) {
        snprintf(buf, 160, "%s/%016" PRIx64 ".seg", env->spool, base);
}

static off_t file_size(const char *path) {
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        return st.st_size;
}

/* Where record `seq` lies in a segment file, walking its records. */
static void record_at(const char *path, uint64_t seq, off_t *ret_off, size_t *ret_size) {
        off_t size = file_size(path);
        _cleanup_free_ uint8_t *buf = malloc((size_t) size);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t off = 0;

        assert_true(fd >= 0);
        assert_int_equal(pread(fd, buf, (size_t) size, 0), size);
        close(fd);
        while (off < (size_t) size) {
                SpoolRecord rec;
                size_t sz;
                assert_int_equal(spool_record_decode(buf + off, (size_t) size - off, &rec, &sz), SPOOL_DECODE_OK);
                if (rec.seq == seq) {
                        *ret_off = (off_t) off;
                        *ret_size = sz;
                        return;
                }
                off += sz;
        }
        fail_msg("seq %" PRIu64 " is not in %s", seq, path);
}

/* Flips a bit in the payload of record `seq`, as rot on the disk does. */
static void rot_record(const char *path, uint64_t seq) {
        off_t off = 0;
        size_t sz = 0; /* cmocka's failing asserts do not return: the analyzer cannot know */
        uint8_t b;
        int fd;

        record_at(path, seq, &off, &sz);
        fd = open(path, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        off += (off_t) sz / 2;
        assert_int_equal(pread(fd, &b, 1, off), 1);
        b ^= 0x10;
        assert_int_equal(pwrite(fd, &b, 1, off), 1);
        close(fd);
}

/* Three segments or more: the smallest bound makes 128 KiB segments. */
static Spool *spool_with_segments(Env *env, unsigned n, uint64_t *bases, size_t *n_bases) {
        Spool *s = open_spool(env, SPOOL_MIN_MAX_BYTES);
        append_n(s, n);
        assert_int_equal(spool_commit(s), 0);
        assert_int_equal(env->last_committed, n);
        *n_bases = segments(env, bases, 16);
        assert_true(*n_bases >= 3);
        return s;
}

/* ---- the cursor ---- */

static void test_cursor_both_slots_bad(void **state) {
        Env *env = *state;
        Spool *s = open_spool(env, 0);
        SpoolStats st;
        char p[160];
        int fd;

        append_n(s, 6);
        assert_int_equal(spool_commit(s), 0);
        assert_int_equal(spool_ack(s, 2), 0); /* generation 1: slot 1 */
        assert_int_equal(spool_ack(s, 4), 0); /* generation 2: slot 0 */
        spool_free(s);

        /* Both slots fail their checksum. */
        snprintf(p, sizeof p, "%s/cursor", env->spool);
        fd = open(p, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, "xx", 2, 10), 2);
        assert_int_equal(pwrite(fd, "yy", 2, 512 + 10), 2);
        close(fd);
        off_t cursor_size = file_size(p);

        s = open_spool(env, 0);
        deliver_findings(s);
        assert_int_equal(env->n_findings, 1);
        assert_int_equal(env->findings[0].kind, SPOOL_DAMAGE_CURSOR);
        assert_string_equal(env->findings[0].file, "cursor");
        assert_int_equal(env->findings[0].bytes, cursor_size);
        /* Nothing is lost: every event comes again, and no seq is handed out twice. */
        spool_get_stats(s, &st);
        assert_int_equal(st.acked_seq, 0);
        assert_int_equal(st.depth, 6);
        assert_int_equal(spool_next_seq(s), 7);
        assert_spool_holds(s, 1, 6, 0);
        /* The fresh cursor is durable: the next open finds nothing wrong. */
        assert_int_equal(spool_ack(s, 3), 0);
        spool_free(s);
        env->n_findings = 0;
        s = open_spool(env, 0);
        deliver_findings(s);
        assert_int_equal(env->n_findings, 0);
        assert_spool_holds(s, 4, 6, 0);
        spool_free(s);
}

/* ---- damage in a segment that is not the newest ---- */

/* Rot in the last record of a middle segment: the records after it live in
 * the next segment, so exactly the one seq before that segment's first is lost. */
static void test_damage_end_of_middle_segment(void **state) {
        Env *env = *state;
        uint64_t bases[16];
        size_t n;
        char p[160];
        Spool *s = spool_with_segments(env, 400, bases, &n);
        uint64_t victim = bases[2] - 1;

        spool_free(s);
        segment_path(env, bases[1], p);
        rot_record(p, victim);

        s = open_spool(env, SPOOL_MIN_MAX_BYTES);
        deliver_findings(s);
        assert_int_equal(env->n_findings, 1);
        assert_int_equal(env->findings[0].kind, SPOOL_DAMAGE_CORRUPT);
        assert_true(env->findings[0].cut);
        assert_int_equal(strtoull(env->findings[0].file, NULL, 16), bases[1]);
        assert_int_equal(env->findings[0].last_good_seq, victim - 1);
        assert_int_equal(env->findings[0].lost_first, victim);
        assert_int_equal(env->findings[0].lost_last, victim);
        assert_int_equal(spool_next_seq(s), 401);
        assert_spool_holds(s, 1, 400, victim);
        spool_free(s);
}

/* A middle segment cut short inside its last record: in the newest segment
 * that is a torn write never committed, here committed bytes are lost. */
static void test_truncated_middle_segment(void **state) {
        Env *env = *state;
        uint64_t bases[16];
        size_t n;
        char p[160];
        Spool *s = spool_with_segments(env, 400, bases, &n);
        uint64_t victim = bases[2] - 1;

        spool_free(s);
        segment_path(env, bases[1], p);
        off_t before = file_size(p), at;
        size_t sz;
        record_at(p, victim, &at, &sz);
        assert_int_equal(truncate(p, before - 100), 0);

        s = open_spool(env, SPOOL_MIN_MAX_BYTES);
        deliver_findings(s);
        assert_int_equal(env->n_findings, 1);
        assert_int_equal(env->findings[0].kind, SPOOL_DAMAGE_CORRUPT); /* not SPOOL_DAMAGE_TORN */
        assert_true(env->findings[0].cut);
        assert_int_equal(env->findings[0].offset, at);
        assert_int_equal(env->findings[0].lost_first, victim);
        assert_int_equal(env->findings[0].lost_last, victim);
        assert_int_equal(file_size(p), at);
        assert_int_equal(spool_next_seq(s), 401);
        assert_spool_holds(s, 1, 400, victim);
        spool_free(s);
}

/* ---- rot that compaction finds ---- */

static void test_rot_found_by_compaction(void **state) {
        Env *env = *state;
        Spool *s = open_spool(env, 0);
        uint64_t bases[4];
        sd_event *e = NULL;
        char p[160];
        SpoolBatch b;

        append_n(s, 50);
        assert_int_equal(spool_commit(s), 0);
        assert_int_equal(segments(env, bases, 4), 1);
        segment_path(env, bases[0], p);
        /* 3 rots before it is read, 40 after the batch: only compaction reads 40 again. */
        rot_record(p, 40); /* first: record_at() walks intact records only */
        rot_record(p, 3);

        assert_int_equal(spool_read_batch(s, 10, 1 << 20, &b), 0);
        assert_int_equal(b.first_seq, 1);
        assert_int_equal(b.last_seq, 11);
        assert_int_equal(b.count, 10);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(spool_attach_event(s, e, 0), 0);
        run_loop(e);
        assert_int_equal(env->n_findings, 1);
        assert_int_equal(env->findings[0].lost_first, 3);

        /* The ack compacts the segment (it holds damage): 40 does not check out. */
        assert_int_equal(spool_ack(s, b.last_seq), 0);
        spool_batch_done(&b);
        run_loop(e);
        assert_int_equal(env->n_findings, 2);
        assert_int_equal(env->findings[1].kind, SPOOL_DAMAGE_CORRUPT);
        assert_int_equal(strtoull(env->findings[1].file, NULL, 16), bases[0]);
        assert_int_equal(env->findings[1].lost_first, 40);
        assert_int_equal(env->findings[1].lost_last, 40);
        assert_spool_holds(s, 12, 50, 40);
        spool_free(s);
        sd_event_unref(e);

        /* The rewritten segment carries no rotten bytes: nothing to find again. */
        env->n_findings = 0;
        s = open_spool(env, 0);
        deliver_findings(s);
        assert_int_equal(env->n_findings, 0);
        assert_spool_holds(s, 12, 50, 40);
        assert_int_equal(spool_next_seq(s), 51);
        spool_free(s);
}

/* ---- a commit write the kernel refuses ---- */

static void test_commit_write_refused(void **state) {
        Env *env = *state;
        Spool *s = open_spool(env, 0);
        struct rlimit old, lim;
        SpoolStats st;
        uint64_t bases[4];
        char p[160];

        append_n(s, 5);
        assert_int_equal(spool_commit(s), 0);
        assert_int_equal(segments(env, bases, 4), 1);
        segment_path(env, bases[0], p);
        off_t before = file_size(p);

        /* Files of this process may not grow past 1,500 bytes more: the commit
         * of 10 KiB writes part of it, then fails with EFBIG. */
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        lim = old;
        lim.rlim_cur = (rlim_t) before + 1500;
        assert_int_equal(signal(SIGXFSZ, SIG_IGN) == SIG_ERR, false);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        append_n(s, 10);
        int r = spool_commit(s);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);

        assert_int_equal(r, -EFBIG);
        assert_int_equal(env->n_failed, 1);
        assert_int_equal(env->commit_error, -EFBIG);
        assert_int_equal(env->last_committed, 5);
        /* No half-written tail is left, and the events wait in the queue. */
        assert_int_equal(file_size(p), before);
        spool_get_stats(s, &st);
        assert_int_equal(st.queued, 10);
        assert_int_equal(st.depth, 15);

        assert_int_equal(spool_commit(s), 0);
        assert_int_equal(env->last_committed, 15);
        spool_free(s);
        s = open_spool(env, 0);
        deliver_findings(s);
        assert_int_equal(env->n_findings, 0);
        assert_spool_holds(s, 1, 15, 0);
        spool_free(s);
}

/* ---- a full filesystem, and the retry ---- */

static int setup_tmpfs(void **state) {
        Env *env;
        setup(state);
        env = *state;
        if (geteuid() != 0)
                return 0; /* the test skips */
        /* A private mount namespace: the small tmpfs is seen by this process only. */
        assert_int_equal(unshare(CLONE_NEWNS), 0);
        assert_int_equal(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        assert_int_equal(mount("tmpfs", env->dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=512k,mode=0700"), 0);
        env->mounted = true;
        return 0;
}

static void run_until(sd_event *e, Env *env, uint64_t want, usec_t timeout) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + timeout;
        while (env->last_committed < want) {
                assert_true(now_usec(CLOCK_MONOTONIC) < end);
                assert_true(sd_event_run(e, 100 * USEC_PER_MSEC) >= 0);
        }
}

static void test_disk_full_retry(void **state) {
        Env *env = *state;
        sd_event *e = NULL;
        uint64_t bases[4] = { 0 }; /* cmocka's failing asserts return, for the analyzer */
        char p[160], filler[160];
        Spool *s;
        int fd;

        if (!env->mounted) {
                print_message("skipped: needs root for a tmpfs in a private mount namespace\n");
                skip();
        }
        s = open_spool(env, SPOOL_MIN_MAX_BYTES);
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(spool_attach_event(s, e, 0), 0);
        append_n(s, 3);
        run_until(e, env, 3, 5 * USEC_PER_SEC);
        assert_int_equal(segments(env, bases, 4), 1);
        segment_path(env, bases[0], p);
        off_t before = file_size(p);

        /* Fill the filesystem to the last byte. */
        snprintf(filler, sizeof filler, "%s/filler", env->dir);
        fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        for (;;) {
                static const char zeros[4096];
                ssize_t n = write(fd, zeros, sizeof zeros);
                if (n < 0) {
                        assert_int_equal(errno, ENOSPC);
                        break;
                }
                if (n < (ssize_t) sizeof zeros) {
                        assert_true(write(fd, zeros, 1) < 0);
                        assert_int_equal(errno, ENOSPC);
                        break;
                }
        }
        close(fd);

        /* The group commit from the loop fails: nothing is committed, no tail is left. */
        append_n(s, 20);
        usec_t end = now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;
        while (env->n_failed == 0) {
                assert_true(now_usec(CLOCK_MONOTONIC) < end);
                assert_true(sd_event_run(e, 100 * USEC_PER_MSEC) >= 0);
        }
        assert_int_equal(env->commit_error, -ENOSPC);
        assert_int_equal(env->last_committed, 3);
        assert_int_equal(file_size(p), before);

        /* Space comes back: the retry timer, not a new event, commits the queue. */
        assert_int_equal(unlink(filler), 0);
        run_until(e, env, 23, 15 * USEC_PER_SEC);
        spool_free(s);
        sd_event_unref(e);

        s = open_spool(env, SPOOL_MIN_MAX_BYTES);
        deliver_findings(s);
        assert_int_equal(env->n_findings, 0);
        assert_spool_holds(s, 1, 23, 0);
        assert_int_equal(spool_next_seq(s), 24);
        spool_free(s);
}

int main(void) {
        log_set_max_level(LOG_CRIT);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_cursor_both_slots_bad, setup, teardown),
                cmocka_unit_test_setup_teardown(test_damage_end_of_middle_segment, setup, teardown),
                cmocka_unit_test_setup_teardown(test_truncated_middle_segment, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rot_found_by_compaction, setup, teardown),
                cmocka_unit_test_setup_teardown(test_commit_write_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_disk_full_retry, setup_tmpfs, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
