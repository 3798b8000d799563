/* SPDX-License-Identifier: MIT */
/* The ack cursor: <dir>/cursor, two checksummed slots written in turn, so that
 * a torn write leaves the other slot to read. */
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

int spool_cursor_store(Spool *s, uint64_t acked) {
        uint8_t buf[CURSOR_SLOT_SIZE];
        uint64_t gen = s->cursor_gen + 1;
        int r;

        spool_cursor_encode(buf, gen, acked);
        r = spool_pwrite_all(s->cursor_fd, buf, sizeof buf, (gen % 2) * CURSOR_SLOT_STRIDE);
        if (r < 0)
                return r;
        r = spool_sync_fd(s, s->cursor_fd);
        if (r < 0)
                return r;
        s->cursor_gen = gen;
        return 0;
}

int spool_cursor_load(Spool *s) {
        uint8_t buf[CURSOR_SLOT_STRIDE + CURSOR_SLOT_SIZE] = { 0 };
        struct stat st;
        bool found = false;
        ssize_t n;

        s->cursor_fd = spool_open_file(s, "cursor", O_CREAT);
        if (s->cursor_fd < 0)
                return s->cursor_fd;
        if (fstat(s->cursor_fd, &st) < 0)
                return negative_errno();
        n = pread(s->cursor_fd, buf, sizeof buf, 0);
        if (n < 0)
                return negative_errno();
        for (unsigned slot = 0; slot < 2; slot++) {
                uint64_t gen, acked;
                if ((size_t) n < slot * CURSOR_SLOT_STRIDE + CURSOR_SLOT_SIZE)
                        continue;
                if (!spool_cursor_decode(buf + slot * CURSOR_SLOT_STRIDE, &gen, &acked))
                        continue;
                if (!found || gen > s->cursor_gen) {
                        s->cursor_gen = gen;
                        s->acked = acked;
                        found = true;
                }
        }
        if (found)
                return 0;
        if (st.st_size > 0)
                spool_add_finding(s, &(SpoolFinding){ .kind = SPOOL_DAMAGE_CURSOR,
                                                      .file = "cursor",
                                                      .bytes = (uint64_t) st.st_size,
                                                      .lost_first = 1,
                                                      .lost_last = 0 });
        /* A fresh cursor, durable with its directory entry. */
        s->cursor_gen = 0;
        s->acked = 0;
        int r = spool_cursor_store(s, 0);
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
        bool bad_gen = s->cursor_gen > SPOOL_SEQ_FLOOR_MAX;

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
        }
        if (!bad_gen)
                return 0; /* the next ack overwrites it */
        /* A generation near the wrap would never win over the other slot
         * again: start the cursor over. */
        log_warning("The spool's cursor is at generation %" PRIu64 ": started over.", s->cursor_gen);
        if (ftruncate(s->cursor_fd, 0) < 0)
                return negative_errno();
        s->cursor_gen = 0;
        return spool_cursor_store(s, s->acked);
}
