/* SPDX-License-Identifier: MIT */
/* The ack cursors: two checksummed slots written in turn, so that a torn
 * write leaves the other slot to read. mamorid keeps <dir>/cursor; the uplink
 * keeps its own in its state directory (same format), which mamorid pulls
 * (spool_pull_delivered()) to retire what was delivered. */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include <zlib.h>

#include "log.h"
#include "spool-internal.h"

#define CURSOR_MAGIC UINT32_C(0x3143534d) /* "MSC1" */
#define CURSOR_SLOT_SIZE 32u
#define CURSOR_SLOT_STRIDE 512u /* one slot per sector: writing one never tears the other */

static void spool_cursor_encode(uint8_t buf[static CURSOR_SLOT_SIZE], uint64_t gen, uint64_t acked) {
        memset(buf, 0, CURSOR_SLOT_SIZE);
        spool_put_le32(buf, CURSOR_MAGIC);
        spool_put_le64(buf + 8, gen);
        spool_put_le64(buf + 16, acked);
        spool_put_le32(buf + 24, (uint32_t) crc32(0L, buf, 24));
}

static bool spool_cursor_decode(const uint8_t *buf, uint64_t *gen, uint64_t *acked) {
        if (spool_le32(buf) != CURSOR_MAGIC || spool_le32(buf + 24) != (uint32_t) crc32(0L, buf, 24))
                return false;
        *gen = spool_le64(buf + 8);
        *acked = spool_le64(buf + 16);
        return true;
}

int spool_cursor_parse(const uint8_t *buf, size_t len, uint64_t *ret_gen, uint64_t *ret_acked) {
        bool found = false;

        for (unsigned slot = 0; slot < 2; slot++) {
                uint64_t gen, acked;
                if (len < slot * CURSOR_SLOT_STRIDE + CURSOR_SLOT_SIZE)
                        continue;
                if (!spool_cursor_decode(buf + slot * CURSOR_SLOT_STRIDE, &gen, &acked))
                        continue;
                if (!found || gen > *ret_gen) {
                        *ret_gen = gen;
                        *ret_acked = acked;
                        found = true;
                }
        }
        return found ? 0 : -EBADMSG;
}

int spool_cursor_read_fd(int fd, uint64_t *ret_gen, uint64_t *ret_acked) {
        uint8_t buf[SPOOL_CURSOR_FILE_SIZE] = { 0 };
        ssize_t n = pread(fd, buf, sizeof buf, 0);

        if (n < 0)
                return negative_errno();
        return spool_cursor_parse(buf, (size_t) n, ret_gen, ret_acked);
}

int spool_cursor_store(Spool *s, uint64_t acked, bool sync) {
        uint8_t buf[CURSOR_SLOT_SIZE];
        uint64_t gen = s->cursor_gen + 1;
        int r;

        spool_cursor_encode(buf, gen, acked);
        r = spool_pwrite_all(s->cursor_fd, buf, sizeof buf, (gen % 2) * CURSOR_SLOT_STRIDE);
        if (r < 0)
                return r;
        if (sync) {
                r = spool_sync_fd(s, s->cursor_fd);
                if (r < 0)
                        return r;
        }
        s->cursor_gen = gen;
        return 0;
}

int spool_cursor_load(Spool *s) {
        struct stat st;
        int r;

        s->cursor_fd = spool_open_file(s, "cursor", O_CREAT);
        if (s->cursor_fd < 0)
                return s->cursor_fd;
        if (fstat(s->cursor_fd, &st) < 0)
                return negative_errno();
        r = spool_cursor_read_fd(s->cursor_fd, &s->cursor_gen, &s->acked);
        if (r != -EBADMSG)
                return r;
        if (st.st_size > 0)
                spool_add_finding(s, &(SpoolFinding){ .kind = SPOOL_DAMAGE_CURSOR,
                                                      .file = "cursor",
                                                      .bytes = (uint64_t) st.st_size,
                                                      .lost_first = 1,
                                                      .lost_last = 0 });
        /* A fresh cursor, durable with its directory entry. */
        s->cursor_gen = 0;
        s->acked = 0;
        r = spool_cursor_store(s, 0, true);
        if (r < 0)
                return r;
        return spool_sync_dir(s);
}

/* The cursor against the records. Records up to the cursor's seq always stay
 * on disk (the newest segment keeps its last record), so a cursor past the
 * newest record, or past any seq a spool reaches, was not written by a
 * healthy spool: it is not believed (everything on disk is delivered again;
 * the collector drops what it has by id), and its seq is kept only as a
 * floor, when sane, so that no seq ever comes twice. */
int spool_cursor_check(Spool *s, uint64_t top) {
        bool bad_acked = s->acked > SPOOL_SEQ_FLOOR_MAX || (s->acked > top && spool_has_records(s));

        if (bad_acked) {
                SpoolFinding f = { .kind = SPOOL_DAMAGE_SEQ_RANGE,
                                   .file = "cursor",
                                   .last_good_seq = top,
                                   .bad_seq = s->acked,
                                   .lost_first = 1,
                                   .lost_last = 0 };
                spool_add_finding(s, &f);
                log_warning("The spool's cursor says %" PRIu64 " was delivered, past the newest record %" PRIu64
                            ": not believed, every event in the spool is delivered again.",
                            s->acked, top);
                if (s->acked <= SPOOL_SEQ_FLOOR_MAX)
                        s->floor = s->acked;
                s->acked = 0;
                s->cursor_disbelieved = true;
        }
        return spool_cursor_check_gen(s);
}

/* A generation near the wrap would never win over the other slot again:
 * start the cursor over. */
int spool_cursor_check_gen(Spool *s) {
        if (s->cursor_gen <= SPOOL_SEQ_FLOOR_MAX)
                return 0; /* the next ack overwrites it */
        log_warning("The spool's cursor is at generation %" PRIu64 ": started over.", s->cursor_gen);
        if (ftruncate(s->cursor_fd, 0) < 0)
                return negative_errno();
        s->cursor_gen = 0;
        return spool_cursor_store(s, s->acked, true);
}

/* ---- the uplink's cursor, read by mamorid ---- */

int spool_set_delivered_source(Spool *s, const char *cursor_path) {
        assert(s);

        if (s->reader)
                return -EROFS;
        s->delivered_path = mfree(s->delivered_path);
        if (!cursor_path)
                return 0;
        s->delivered_path = strdup(cursor_path);
        if (!s->delivered_path)
                return -ENOMEM;
        (void) spool_pull_delivered(s);
        return 0;
}

/* The uplink's cursor could not be read: said once for each state of the file. */
static int spool_delivered_unreadable(Spool *s, const struct stat *st, int error) {
        SpoolDeliveredKey k = { .error = error };

        if (st)
                k = (SpoolDeliveredKey){
                        .dev = st->st_dev, .ino = st->st_ino, .size = st->st_size, .mtime = st->st_mtim, .error = error
                };
        if (s->delivered_bad_valid && memcmp(&k, &s->delivered_bad, sizeof k) == 0)
                return error;
        s->delivered_bad = k;
        s->delivered_bad_valid = true;
        log_warning_errno(error,
                          "Cannot read the uplink's cursor %s: %m. Nothing it delivered is retired until it can be read.",
                          s->delivered_path);
        spool_add_finding(s, &(SpoolFinding){ .kind = SPOOL_DAMAGE_CURSOR,
                                              .file = "uplink cursor",
                                              .bytes = st ? (uint64_t) st->st_size : 0,
                                              .lost_first = 1,
                                              .lost_last = 0 });
        return error;
}

int spool_pull_delivered(Spool *s) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        uint64_t gen = 0, v = 0, top;
        int r;

        assert(s);
        if (!s->delivered_path || s->reader)
                return 0;
        fd = open(s->delivered_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0; /* the uplink has not delivered anything yet */
                r = negative_errno();
                return spool_delivered_unreadable(s, lstat(s->delivered_path, &st) >= 0 ? &st : NULL, r);
        }
        if (fstat(fd, &st) < 0)
                return spool_delivered_unreadable(s, NULL, negative_errno());
        if (!S_ISREG(st.st_mode))
                return spool_delivered_unreadable(s, &st, -EBADFD);
        if (st.st_size == 0)
                return 0; /* just made, its first slot not written yet */
        r = spool_cursor_read_fd(fd, &gen, &v);
        if (r < 0)
                return spool_delivered_unreadable(s, &st, r);

        if (v <= s->acked)
                return 0;              /* acks only move forward */
        top = s->next_seq - 1 - s->qn; /* the last durable seq */
        if (v > top || v > SPOOL_SEQ_FLOOR_MAX) {
                if (s->delivered_bad_seq_valid && s->delivered_bad_seq == v)
                        return -ERANGE;
                s->delivered_bad_seq = v;
                s->delivered_bad_seq_valid = true;
                log_warning("The uplink's cursor %s says %" PRIu64 " was delivered, past the last recorded event %" PRIu64
                            ": not believed, nothing is retired.",
                            s->delivered_path, v, top);
                spool_add_finding(s, &(SpoolFinding){ .kind = SPOOL_DAMAGE_SEQ_RANGE,
                                                      .file = "uplink cursor",
                                                      .last_good_seq = top,
                                                      .bad_seq = v,
                                                      .lost_first = 1,
                                                      .lost_last = 0 });
                return -ERANGE;
        }
        uint64_t inflight = s->inflight_last;
        /* No fsync here: this runs before a group commit, on the way of every
         * event, and the uplink's cursor is the durable record of it. */
        r = spool_ack_lazy(s, v);
        if (inflight > v)
                s->inflight_last = inflight; /* a batch of our own still out */
        if (r < 0)
                return log_warning_errno(r, "Cannot store what the uplink delivered (up to %" PRIu64 "): %m", v);
        return 1;
}
