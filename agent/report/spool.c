/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <zlib.h>

#include "log.h"
#include "spool-record.h"
#include "spool.h"

/* Flags of a record in memory. */
#define REC_TOMBSTONE (1u << 0)
#define REC_DROPPED (1u << 1)      /* a durable tombstone names it */
#define REC_DROP_QUEUED (1u << 2)  /* named by a tombstone that is not durable yet */
#define REC_LOST (1u << 3)         /* failed verification when read again */
#define REC_GONE (REC_DROPPED | REC_LOST)

/* Group commit: beyond this much queued, commit at once rather than at the end
 * of the loop iteration. */
#define FORCE_COMMIT_RECORDS 512u
/* If commits keep failing, stop queueing (the journal still has the events). */
#define QUEUE_HARD_MAX (8u * 1024u * 1024u)
#define DROP_MAX_ROUNDS 64u
#define SEGMENT_RETIRE_MIN (UINT64_C(64) * 1024)
#define DROP_PICKS_PER_ROUND 4096u

#define CURSOR_MAGIC UINT32_C(0x3143534d) /* "MSC1" */
#define CURSOR_SLOT_SIZE 32u
#define CURSOR_SLOT_STRIDE 512u /* one slot per sector: writing one never tears the other */

/* The index of one record. Offline, a full spool holds some 64,000 events and
 * their index stays in memory: 16 bytes each. What is needed rarely (the
 * time) is read from the record's header (rec_time()). */
typedef struct Rec {
        uint64_t seq;
        uint32_t offset;        /* in the segment, or in the queue before the commit */
        uint32_t size : 24;     /* on disk, header included: at most 32 + 1 MiB + 64 KiB */
        uint32_t severity : 3;  /* 0..SPOOL_RECORD_MAX_SEVERITY */
        uint32_t flags : 5;
} Rec;

_Static_assert(sizeof(Rec) == 16, "the spool's index costs 16 bytes a record");
_Static_assert(SPOOL_RECORD_HEADER_SIZE + SPOOL_RECORD_MAX_PAYLOAD < (1u << 24), "Rec.size holds any record");
_Static_assert(SPOOL_RECORD_MAX_SEVERITY < 8, "Rec.severity holds any severity");
/* The largest segment the spool writes: started below 4 MiB (seg_size), then
 * one commit of everything queued (QUEUE_HARD_MAX, and the record past it). */
_Static_assert(UINT64_C(4) * 1024 * 1024 + QUEUE_HARD_MAX + 2 * (SPOOL_RECORD_HEADER_SIZE + SPOOL_RECORD_MAX_PAYLOAD) <
                       SPOOL_SEGMENT_MAX, "SPOOL_SEGMENT_MAX is above any segment the spool writes");
_Static_assert(SPOOL_SEGMENT_MAX < UINT32_MAX, "Rec.offset holds any offset in a segment");

typedef struct Segment {
        uint64_t base;
        int fd;
        uint64_t size;
        Rec *recs;
        size_t n, cap;
        bool dirty; /* holds damaged bytes that a rewrite would remove */
} Segment;

struct Spool {
        char *dir;
        int dir_fd;
        int cursor_fd;
        bool sync;

        uint64_t max_bytes, seg_size, force_bytes;
        Segment **segs;
        size_t n_segs;
        uint64_t bytes;

        uint64_t next_seq;
        uint64_t acked;
        uint64_t floor;         /* a seq that may have been shown: next_seq stays above it */
        uint64_t cursor_gen;
        uint64_t inflight_last; /* 0: no batch out */
        uint64_t n_live;        /* committed, after the cursor, not gone */
        uint64_t n_drop_queued;

        /* the queue: encoded records waiting for the group commit */
        uint8_t *qbuf;
        size_t qlen, qcap;
        Rec *qrec;
        size_t qn, qcap_n;

        uint64_t appended, dropped, commits, fsyncs;
        bool warned_full;

        SpoolFinding *findings;
        size_t n_findings;

        sd_event_source *defer;
        sd_event_source *retry; /* armed only while commits fail */
        SpoolCallbacks cb;
        void *userdata;
        bool in_commit;
};

static const char *const damage_names[_SPOOL_DAMAGE_MAX] = {
        [SPOOL_DAMAGE_TORN] = "torn_write",
        [SPOOL_DAMAGE_CORRUPT] = "corrupt",
        [SPOOL_DAMAGE_CURSOR] = "cursor_unreadable",
        [SPOOL_DAMAGE_SEQ_RANGE] = "seq_out_of_range",
        [SPOOL_DAMAGE_OVERSIZED] = "oversized",
        [SPOOL_DAMAGE_NOT_A_FILE] = "foreign_file",
};

const char *spool_damage_to_string(SpoolDamage d) {
        return (unsigned) d < _SPOOL_DAMAGE_MAX ? damage_names[d] : "unknown";
}

/* ---- small helpers ---- */

static int sync_fd(Spool *s, int fd) {
        if (!s->sync)
                return 0;
        s->fsyncs++;
        return fdatasync(fd) < 0 ? negative_errno() : 0;
}

static int sync_dir(Spool *s) {
        if (!s->sync)
                return 0;
        s->fsyncs++;
        return fsync(s->dir_fd) < 0 ? negative_errno() : 0;
}

/* The whole of len at off, or an error: a short read means the file is shorter
 * than we know it to be (-EIO), as does a write that makes no progress. */
static int pio_all(int fd, void *buf, size_t len, uint64_t off, bool writing) {
        uint8_t *p = buf;
        while (len > 0) {
                ssize_t n = writing ? pwrite(fd, p, len, (off_t) off) : pread(fd, p, len, (off_t) off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        return -EIO;
                p += n;
                len -= (size_t) n;
                off += (uint64_t) n;
        }
        return 0;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off) {
        return pio_all(fd, (void *) buf, len, off, true);
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off) {
        return pio_all(fd, buf, len, off, false);
}

/* A record's time, from its header: in the queue, or in its segment (NULL: the
 * queue). 0 when it cannot be read. */
static usec_t rec_time(const Spool *s, const Segment *g, const Rec *m) {
        uint8_t h[SPOOL_RECORD_HEADER_SIZE];

        if (!g)
                memcpy(h, s->qbuf + m->offset, sizeof h);
        else if (pread_all(g->fd, h, sizeof h, m->offset) < 0)
                return 0;
        return spool_record_header_time(h);
}

static void segment_name(char buf[static 40], uint64_t base) {
        snprintf(buf, 40, "%016" PRIx64 ".seg", base);
}

static Segment *segment_free(Segment *g) {
        if (!g)
                return NULL;
        if (g->fd >= 0)
                close(g->fd);
        free(g->recs);
        free(g);
        return NULL;
}

static void segment_freep_(Segment **g) {
        segment_free(*g);
}

static int segment_reserve(Segment *g, size_t extra) {
        return GROW_ARRAY(g->recs, g->cap, g->n + extra, 64);
}

static int segment_push(Segment *g, const Rec *r) {
        int q = segment_reserve(g, 1);
        if (q < 0)
                return q;
        g->recs[g->n++] = *r;
        return 0;
}

static bool rec_live(const Spool *s, const Rec *r) {
        return r->seq > s->acked && !(r->flags & REC_GONE);
}

/* What a rewrite keeps: the undelivered records, and in the newest segment
 * its last record (its seq is the floor if the cursor is ever lost). */
static bool rec_kept(const Spool *s, const Segment *g, size_t k, bool newest) {
        const Rec *m = &g->recs[k];
        return !(m->flags & REC_GONE) && (m->seq > s->acked || (newest && k + 1 == g->n));
}

static void add_finding(Spool *s, const SpoolFinding *f) {
        SpoolFinding *n = reallocarray(s->findings, s->n_findings + 1, sizeof *n);
        if (!n) {
                log_oom();
                return;
        }
        s->findings = n;
        s->findings[s->n_findings++] = *f;
        if (s->defer)
                (void) sd_event_source_set_enabled(s->defer, SD_EVENT_ONESHOT);
}

/* Files in the spool are opened so that whatever sits under the name cannot
 * block or take over the terminal, nor be followed elsewhere. */
#define OPEN_FLAGS (O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)

/* A name the spool uses for a regular file (a segment, the cursor, a rewrite's
 * tmp file) holds something else: a directory, symlink, FIFO, socket or
 * device, left by a crash or put there. It is removed (a directory that is
 * not empty is renamed to <name>.bad-N, which the spool never reads) and
 * reported, so that the name is free for the spool. 1 if it was such a
 * thing, 0 if the name is free or a regular file. */
static int clear_non_file(Spool *s, const char *name) {
        struct stat st;
        char aside[64];
        bool moved = false;
        int r = -EEXIST;

        if (fstatat(s->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (S_ISREG(st.st_mode))
                return 0;
        if (unlinkat(s->dir_fd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) >= 0)
                r = 0;
        else
                for (unsigned i = 0; i < 100 && r == -EEXIST; i++) {
                        moved = true;
                        snprintf(aside, sizeof aside, "%s.bad-%u", name, i);
                        r = renameat2(s->dir_fd, name, s->dir_fd, aside, RENAME_NOREPLACE) < 0 ? negative_errno() : 0;
                }
        if (r < 0)
                return log_error_errno(r, "Cannot move %s/%s (not a regular file) out of the way: %m", s->dir, name);
        log_warning("%s/%s was not a regular file (mode %o): %s.", s->dir, name, (unsigned) st.st_mode,
                    moved ? "moved out of the way" : "removed");
        SpoolFinding f = { .kind = SPOOL_DAMAGE_NOT_A_FILE, .lost_first = 1, .lost_last = 0, .cut = true };
        snprintf(f.file, sizeof f.file, "%s", name);
        add_finding(s, &f);
        (void) sync_dir(s);
        return 1;
}

/* Opens a file of the spool, which must be a regular file (or be created as one). */
static int open_file(Spool *s, const char *name, int flags) {
        struct stat st;
        int fd, r;

        r = clear_non_file(s, name);
        if (r < 0)
                return r;
        fd = openat(s->dir_fd, name, O_RDWR | OPEN_FLAGS | flags, 0600);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return -EBADFD; /* swapped since the check */
        }
        return fd;
}

static uint64_t high_water(const Spool *s) {
        return s->max_bytes - MIN(s->max_bytes / 8, UINT64_C(64) * 1024);
}

void spool_set_max_bytes(Spool *s, uint64_t max_bytes) {
        if (max_bytes == 0)
                max_bytes = SPOOL_DEFAULT_MAX_BYTES;
        s->max_bytes = MAX(max_bytes, SPOOL_MIN_MAX_BYTES);
        s->seg_size = MIN(MAX(s->max_bytes / 8, UINT64_C(64) * 1024), UINT64_C(4) * 1024 * 1024);
        s->force_bytes = MIN(MAX(s->max_bytes / 16, UINT64_C(16) * 1024), UINT64_C(1024) * 1024);
        s->warned_full = false;
        /* A smaller bound is enforced by the next commit; make sure there is one. */
        if (s->bytes > high_water(s) && s->defer)
                (void) sd_event_source_set_enabled(s->defer, SD_EVENT_ONESHOT);
}

/* ---- the ack cursor ---- */

static void cursor_encode(uint8_t buf[static CURSOR_SLOT_SIZE], uint64_t gen, uint64_t acked) {
        memset(buf, 0, CURSOR_SLOT_SIZE);
        spool_put_le32(buf, CURSOR_MAGIC);
        spool_put_le64(buf + 8, gen);
        spool_put_le64(buf + 16, acked);
        spool_put_le32(buf + 24, (uint32_t) crc32(0L, buf, 24));
}

static bool cursor_decode(const uint8_t *buf, uint64_t *gen, uint64_t *acked) {
        if (spool_le32(buf) != CURSOR_MAGIC || spool_le32(buf + 24) != (uint32_t) crc32(0L, buf, 24))
                return false;
        *gen = spool_le64(buf + 8);
        *acked = spool_le64(buf + 16);
        return true;
}

static int cursor_store(Spool *s, uint64_t acked) {
        uint8_t buf[CURSOR_SLOT_SIZE];
        uint64_t gen = s->cursor_gen + 1;
        int r;

        cursor_encode(buf, gen, acked);
        r = pwrite_all(s->cursor_fd, buf, sizeof buf, (gen % 2) * CURSOR_SLOT_STRIDE);
        if (r < 0)
                return r;
        r = sync_fd(s, s->cursor_fd);
        if (r < 0)
                return r;
        s->cursor_gen = gen;
        return 0;
}

static int cursor_load(Spool *s) {
        uint8_t buf[CURSOR_SLOT_STRIDE + CURSOR_SLOT_SIZE] = { 0 };
        struct stat st;
        bool found = false;
        ssize_t n;

        s->cursor_fd = open_file(s, "cursor", O_CREAT);
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
                if (!cursor_decode(buf + slot * CURSOR_SLOT_STRIDE, &gen, &acked))
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
                add_finding(s, &(SpoolFinding){ .kind = SPOOL_DAMAGE_CURSOR, .file = "cursor", .bytes = (uint64_t) st.st_size,
                                                .lost_first = 1, .lost_last = 0 });
        /* A fresh cursor, durable with its directory entry. */
        s->cursor_gen = 0;
        s->acked = 0;
        int r = cursor_store(s, 0);
        if (r < 0)
                return r;
        return sync_dir(s);
}

/* ---- loading ---- */

typedef struct Ranges {
        uint64_t (*r)[2];
        size_t n, cap;
} Ranges;

static int ranges_add(Ranges *t, uint64_t first, uint64_t last) {
        if (GROW_ARRAY(t->r, t->cap, t->n + 1, 16) < 0)
                return -ENOMEM;
        t->r[t->n][0] = first;
        t->r[t->n][1] = last;
        t->n++;
        return 0;
}

static int cmp_range(const void *a, const void *b) {
        const uint64_t *x = a, *y = b;
        return x[0] < y[0] ? -1 : x[0] > y[0];
}

static bool ranges_contain(const Ranges *t, uint64_t seq) {
        size_t lo = 0, hi = t->n;
        /* Sorted by first; ranges of different drops never overlap. */
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (t->r[mid][0] <= seq)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo > 0 && t->r[lo - 1][0] <= seq && seq <= t->r[lo - 1][1];
}

static int read_file(int fd, uint64_t size, uint8_t **ret) {
        _cleanup_free_ uint8_t *buf = malloc(size ? size : 1);
        int r;
        if (!buf)
                return -ENOMEM;
        r = pread_all(fd, buf, size, 0);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* Cuts a segment back to its last intact byte, durably. */
static int segment_cut(Spool *s, Segment *g, uint64_t at) {
        if (ftruncate(g->fd, (off_t) at) < 0)
                return negative_errno();
        g->size = at;
        return sync_fd(s, g->fd);
}

static int load_segment(Spool *s, Segment *g, bool last, uint64_t next_base, uint64_t *prev_seq,
                        uint64_t *seq_floor, Ranges *tombs) {
        _cleanup_free_ uint8_t *buf = NULL;
        char name[40];
        struct stat st;
        uint64_t off = 0, size, file_size;
        bool oversized;
        int r;

        if (fstat(g->fd, &st) < 0)
                return negative_errno();
        /* Only what a segment of ours can hold is read: a larger file (a sparse
         * terabyte, say) is not ours past that, and is cut back below. */
        file_size = (uint64_t) st.st_size;
        oversized = file_size > SPOOL_SEGMENT_MAX;
        size = MIN(file_size, SPOOL_SEGMENT_MAX);
        r = read_file(g->fd, size, &buf);
        if (r < 0)
                return r;
        g->size = file_size;
        segment_name(name, g->base);

        while (off < size) {
                SpoolRecord rec;
                size_t sz;
                SpoolDecode d = spool_record_decode(buf + off, size - off, &rec, &sz);

                if (d == SPOOL_DECODE_OK && rec.seq > *prev_seq && rec.seq <= SPOOL_SEQ_FLOOR_MAX) {
                        Rec m = {
                                .seq = rec.seq,
                                .offset = (uint32_t) off,
                                .size = (uint32_t) sz,
                                .severity = rec.severity,
                                .flags = (rec.flags & SPOOL_RECORD_TOMBSTONE) ? REC_TOMBSTONE : 0,
                        };
                        r = segment_push(g, &m);
                        if (r < 0)
                                return r;
                        for (size_t i = 0; i < spool_tombstone_count(&rec); i++) {
                                uint64_t a, b;
                                spool_tombstone_get(&rec, i, &a, &b);
                                if (a <= b && b < rec.seq && ranges_add(tombs, a, b) < 0)
                                        return -ENOMEM;
                        }
                        *prev_seq = rec.seq;
                        off += sz;
                        continue;
                }
                if (d == SPOOL_DECODE_OK) {
                        /* Intact but out of order (a copy, or a file put back by hand), or
                         * with a seq no spool reaches (made, not written by us): skip it. */
                        SpoolFinding f = { .kind = SPOOL_DAMAGE_CORRUPT, .offset = off, .bytes = sz,
                                           .last_good_seq = *prev_seq, .lost_first = 1, .lost_last = 0 };
                        memcpy(f.file, name, sizeof name);
                        add_finding(s, &f);
                        g->dirty = true;
                        off += sz;
                        continue;
                }

                SpoolFinding f = { .offset = off, .bytes = file_size - off, .last_good_seq = *prev_seq };
                memcpy(f.file, name, sizeof name);
                if (d == SPOOL_DECODE_TORN && oversized)
                        /* Zeros, or a record cut by the bound: nothing a commit of ours wrote. */
                        break;
                if (d == SPOOL_DECODE_TORN && last) {
                        /* The end of the newest segment: a commit that never
                         * completed. Nothing in it was ever reported as
                         * recorded, so its seqs were never shown anywhere. */
                        f.kind = SPOOL_DAMAGE_TORN;
                        f.lost_first = 1;
                        f.lost_last = 0;
                        f.cut = true;
                        r = segment_cut(s, g, off);
                        if (r < 0)
                                return r;
                        add_finding(s, &f);
                        break;
                }

                f.kind = SPOOL_DAMAGE_CORRUPT;
                uint64_t next = off + spool_record_resync(buf + off, size - off);
                if (next < size) {
                        SpoolRecord nr;
                        size_t nsz;
                        (void) spool_record_decode(buf + next, size - next, &nr, &nsz);
                        f.bytes = next - off;
                        f.lost_first = *prev_seq + 1;
                        f.lost_last = nr.seq > *prev_seq ? nr.seq - 1 : *prev_seq;
                        /* A stretch holds at most one record per 33 bytes. */
                        f.lost_last = MIN(f.lost_last, *prev_seq + (next - off) / (SPOOL_RECORD_HEADER_SIZE + 1));
                        g->dirty = true;
                        add_finding(s, &f);
                        off = next;
                        continue;
                }
                /* Damaged up to the end: committed records may have been in
                 * it. Skip past every seq it could have held, so that none is
                 * ever handed out twice. */
                f.lost_first = *prev_seq + 1;
                f.lost_last = *prev_seq + (size - off + SPOOL_RECORD_HEADER_SIZE) / (SPOOL_RECORD_HEADER_SIZE + 1);
                if (!last && next_base > f.lost_first)
                        f.lost_last = MIN(f.lost_last, next_base - 1);
                if (oversized)
                        f.kind = SPOOL_DAMAGE_OVERSIZED;
                f.cut = true;
                r = segment_cut(s, g, off);
                if (r < 0)
                        return r;
                *seq_floor = MAX(*seq_floor, f.lost_last);
                add_finding(s, &f);
                break;
        }
        if (oversized && g->size > off) {
                /* Past the last record that fits the bound: nothing of ours. */
                SpoolFinding f = { .kind = SPOOL_DAMAGE_OVERSIZED, .offset = off, .bytes = g->size - off,
                                   .last_good_seq = *prev_seq, .lost_first = 1, .lost_last = 0, .cut = true };
                memcpy(f.file, name, sizeof name);
                r = segment_cut(s, g, off);
                if (r < 0)
                        return r;
                add_finding(s, &f);
        }
        return 0;
}

static int segment_filter(const struct dirent *de) {
        const char *n = de->d_name;
        return strlen(n) == 20 && strspn(n, "0123456789abcdef") == 16 && streq(n + 16, ".seg");
}

static int remove_segment_at(Spool *s, size_t i) {
        Segment *g = s->segs[i];
        char name[40];

        segment_name(name, g->base);
        if (unlinkat(s->dir_fd, name, 0) < 0 && errno != ENOENT)
                return negative_errno();
        s->bytes -= g->size;
        segment_free(g);
        memmove(s->segs + i, s->segs + i + 1, (s->n_segs - i - 1) * sizeof *s->segs);
        s->n_segs--;
        return 0;
}

static bool has_records(const Spool *s) {
        for (size_t i = 0; i < s->n_segs; i++)
                if (s->segs[i]->n > 0)
                        return true;
        return false;
}

/* The cursor against the records. Records up to the cursor's seq always stay
 * on disk (the newest segment keeps its last record), so a cursor past the
 * newest record, or past any seq a spool reaches, was not written by a
 * healthy spool: it is not believed (everything on disk is delivered again;
 * the collector drops what it has by id), and its seq is kept only as a
 * floor, when sane, so that no seq ever comes twice. */
static int check_cursor(Spool *s, uint64_t top) {
        bool bad_acked = s->acked > SPOOL_SEQ_FLOOR_MAX || (s->acked > top && has_records(s));
        bool bad_gen = s->cursor_gen > SPOOL_SEQ_FLOOR_MAX;

        if (bad_acked) {
                SpoolFinding f = { .kind = SPOOL_DAMAGE_SEQ_RANGE, .file = "cursor", .last_good_seq = top,
                                   .bad_seq = s->acked, .lost_first = 1, .lost_last = 0 };
                add_finding(s, &f);
                log_warning("The spool's cursor says %" PRIu64 " was delivered, past the newest record %" PRIu64
                            ": not believed, every event in the spool is delivered again.", s->acked, top);
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
        return cursor_store(s, s->acked);
}

static int load_segments(Spool *s) {
        struct dirent **names = NULL;
        Ranges tombs = { 0 };
        uint64_t prev_seq = 0, floor_seq = 0;
        int n, r = 0;

        /* Leftovers of a rewrite that a crash interrupted: the original is intact. */
        n = scandir(s->dir, &names, NULL, alphasort);
        if (n < 0)
                return negative_errno();
        for (int i = 0; i < n; i++) {
                if (endswith(names[i]->d_name, ".seg.tmp") && clear_non_file(s, names[i]->d_name) == 0)
                        (void) unlinkat(s->dir_fd, names[i]->d_name, 0);
                free(names[i]);
        }
        free(names);

        n = scandir(s->dir, &names, segment_filter, alphasort);
        if (n < 0)
                return negative_errno();
        s->segs = calloc(n > 0 ? (size_t) n : 1, sizeof *s->segs);
        if (!s->segs)
                r = -ENOMEM;
        for (int i = 0; i < n && r >= 0; i++) {
                Segment *g = calloc(1, sizeof *g);
                if (!g) {
                        r = -ENOMEM;
                        break;
                }
                g->base = strtoull(names[i]->d_name, NULL, 16);
                g->fd = open_file(s, names[i]->d_name, 0);
                if (g->fd < 0) {
                        /* Not a file (now moved out of the way), or not to be opened:
                         * the others are still worth reading. */
                        if (g->fd != -ENOENT)
                                log_warning_errno(g->fd, "Cannot open %s/%s, skipped: %m", s->dir, names[i]->d_name);
                        segment_free(g);
                        continue;
                }
                s->segs[s->n_segs++] = g;
        }
        for (int i = 0; i < n; i++)
                free(names[i]);
        free(names);
        if (r < 0)
                goto finish;

        for (size_t i = 0; i < s->n_segs; i++) {
                bool last = i + 1 == s->n_segs;
                /* segs[0..n_segs) are the segments opened above: none is NULL */
                assert(s->segs[i] && (last || s->segs[i + 1]));
                r = load_segment(s, s->segs[i], last, last ? 0 : s->segs[i + 1]->base, &prev_seq, &floor_seq, &tombs);
                if (r < 0)
                        goto finish;
                s->bytes += s->segs[i]->size;
        }
        r = check_cursor(s, MAX(prev_seq, floor_seq));
        if (r < 0)
                goto finish;

        /* Tombstones: what they name is gone, whatever is still on disk. */
        if (tombs.n > 0)
                qsort(tombs.r, tombs.n, sizeof *tombs.r, cmp_range);
        for (size_t i = 0; i < s->n_segs; i++) {
                Segment *g = s->segs[i];
                for (size_t k = 0; k < g->n; k++) {
                        if (tombs.n && ranges_contain(&tombs, g->recs[k].seq)) {
                                g->recs[k].flags |= REC_DROPPED;
                                g->dirty = true;
                        }
                        if (rec_live(s, &g->recs[k]))
                                s->n_live++;
                }
        }
        s->next_seq = MAX(MAX(MAX(prev_seq, s->acked), floor_seq), s->floor) + 1;

        /* Empty segments (nothing intact in them) are just files. */
        for (size_t i = 0; i < s->n_segs;)
                if (s->segs[i]->n == 0) {
                        r = remove_segment_at(s, i);
                        if (r < 0)
                                goto finish;
                } else
                        i++;
finish:
        free(tombs.r);
        return r;
}

/* ---- reclaiming space ---- */

/* Rewrites a segment with only the records that still matter: tmp file,
 * sync, rename over, sync the directory. */
static int segment_rewrite(Spool *s, Segment *g, bool newest) {
        _cleanup_free_ uint8_t *old = NULL, *out = NULL;
        _cleanup_free_ Rec *recs = NULL;
        _cleanup_close_ int fd = -EBADF;
        char name[40], tmp[48];
        size_t n = 0, len = 0;
        int r;

        r = read_file(g->fd, g->size, &old);
        if (r < 0)
                return r;
        out = malloc(g->size ? g->size : 1);
        recs = calloc(g->n ? g->n : 1, sizeof *recs);
        if (!out || !recs)
                return -ENOMEM;
        for (size_t k = 0; k < g->n; k++) {
                Rec *m = &g->recs[k];
                SpoolRecord rec;
                size_t sz;
                if (!rec_kept(s, g, k, newest))
                        continue;
                if (spool_record_decode(old + m->offset, m->size, &rec, &sz) != SPOOL_DECODE_OK || sz != m->size ||
                    rec.seq != m->seq) {
                        /* Rotted since it was read: do not carry it over. */
                        SpoolFinding f = { .kind = SPOOL_DAMAGE_CORRUPT, .offset = m->offset, .bytes = m->size,
                                           .lost_first = m->seq, .lost_last = m->seq };
                        segment_name(f.file, g->base);
                        add_finding(s, &f);
                        if (rec_live(s, m))
                                s->n_live--;
                        m->flags |= REC_LOST;
                        continue;
                }
                memcpy(out + len, old + m->offset, m->size);
                recs[n] = *m;
                recs[n].offset = (uint32_t) len;
                len += m->size;
                n++;
        }

        segment_name(name, g->base);
        snprintf(tmp, sizeof tmp, "%s.tmp", name);
        fd = open_file(s, tmp, O_CREAT | O_TRUNC);
        if (fd < 0)
                return fd;
        r = pwrite_all(fd, out, len, 0);
        if (r >= 0)
                r = sync_fd(s, fd);
        if (r >= 0 && renameat(s->dir_fd, tmp, s->dir_fd, name) < 0)
                r = negative_errno();
        if (r < 0) {
                (void) unlinkat(s->dir_fd, tmp, 0);
                return r;
        }
        (void) sync_dir(s);

        close(g->fd);
        g->fd = TAKE_FD(fd);
        s->bytes = s->bytes - g->size + len;
        g->size = len;
        free(g->recs);
        g->recs = TAKE_PTR(recs);
        g->n = g->cap = n;
        g->dirty = false;
        return 0;
}

/* Removes what is delivered or dropped. Fully spent segments go (never the
 * newest: its last record keeps the seq even if the cursor is lost);
 * with `rewrite`, partly spent ones are rewritten too. */
static int reclaim(Spool *s, bool rewrite) {
        int r = 0;

        for (size_t i = 0; i < s->n_segs;) {
                Segment *g = s->segs[i];
                bool newest = i + 1 == s->n_segs;
                size_t keep = 0;

                if (!rewrite && !g->dirty) {
                        /* The cheap case, after every ack: wholly delivered segments. */
                        if (!newest && (g->n == 0 || g->recs[g->n - 1].seq <= s->acked)) {
                                int q = remove_segment_at(s, i);
                                if (q >= 0)
                                        continue;
                                r = q;
                        }
                        i++;
                        continue;
                }
                for (size_t k = 0; k < g->n; k++)
                        if (rec_kept(s, g, k, newest))
                                keep++;
                if (keep == 0 && !newest) {
                        int q = remove_segment_at(s, i);
                        if (q >= 0)
                                continue;
                        r = q;
                } else if (keep < g->n || g->dirty) {
                        int q = segment_rewrite(s, g, newest);
                        if (q < 0)
                                r = q;
                }
                i++;
        }
        return r;
}

/* ---- open, free ---- */

/* The directory that holds the spool (the state directory) should be ours
 * and writable by nobody else; systemd's StateDirectory= sees to that. Said
 * if not, and left as it is (it is not the spool's to change). */
static void check_parent(const Spool *s) {
        _cleanup_close_ int fd = openat(s->dir_fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat st;

        if (fd < 0 || fstat(fd, &st) < 0)
                return;
        if (st.st_uid != geteuid() || (st.st_mode & 0022))
                log_warning("The directory above the spool %s belongs to uid %u with mode %04o: whoever else may write to it can replace the spool.",
                            s->dir, (unsigned) st.st_uid, (unsigned) st.st_mode & 07777);
}

/* The spool directory, made if need be (a symlink to a directory is followed:
 * an admin may have moved the spool). Whatever else holds its name (a file,
 * a dangling symlink, a directory of another user, who could change it under
 * us) is moved out of the way to <dir>.bad-N and a fresh one made. */
static int open_dir(Spool *s) {
        for (unsigned attempt = 0; attempt < 2; attempt++) {
                _cleanup_free_ char *aside = NULL;
                struct stat st;
                int fd, r = 0;

                if (mkdir(s->dir, 0700) < 0 && errno != EEXIST)
                        return negative_errno();
                fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        r = negative_errno();
                else if (fstat(fd, &st) < 0)
                        r = negative_errno();
                else if (st.st_uid != geteuid())
                        r = -EPERM;
                if (r == 0) {
                        assert(fd >= 0); /* r is negative whenever the open or the fstat failed */
                        if ((st.st_mode & 07777) != 0700) {
                                log_warning("The spool %s had mode %04o: made 0700.", s->dir, (unsigned) st.st_mode & 07777);
                                (void) fchmod(fd, 0700);
                        }
                        s->dir_fd = fd;
                        check_parent(s);
                        return 0;
                }
                if (fd >= 0)
                        close(fd);
                if (r != -ENOTDIR && r != -ELOOP && r != -EPERM && r != -ENOENT)
                        return r;
                for (unsigned i = 0; i < 100; i++) {
                        aside = mfree(aside);
                        if (asprintf(&aside, "%s.bad-%u", s->dir, i) < 0)
                                return -ENOMEM;
                        r = renameat2(AT_FDCWD, s->dir, AT_FDCWD, aside, RENAME_NOREPLACE) < 0 ? negative_errno() : 0;
                        if (r != -EEXIST)
                                break;
                }
                if (r < 0)
                        return log_error_errno(r, "Cannot move %s out of the way: %m", s->dir);
                log_warning("%s was not a directory of mamorid's: moved to %s, a new spool is made.", s->dir, aside);
                add_finding(s, &(SpoolFinding){ .kind = SPOOL_DAMAGE_NOT_A_FILE, .file = "spool", .lost_first = 1,
                                                .lost_last = 0, .cut = true });
        }
        return -ELOOP;
}

int spool_open(const char *dir, const SpoolOptions *opt, Spool **ret) {
        _cleanup_(spool_freep) Spool *s = calloc(1, sizeof *s);
        int r;

        if (!s)
                return -ENOMEM;
        s->dir_fd = s->cursor_fd = -EBADF;
        s->sync = !(opt && opt->no_sync);
        s->next_seq = 1;
        spool_set_max_bytes(s, opt ? opt->max_bytes : 0);
        s->dir = strdup(dir);
        if (!s->dir)
                return -ENOMEM;
        r = open_dir(s);
        if (r < 0)
                return r;
        /* Two writers would interleave records: one mamorid per spool. */
        if (flock(s->dir_fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : negative_errno();

        r = cursor_load(s);
        if (r < 0)
                return r;
        r = load_segments(s);
        if (r < 0)
                return r;
        if (opt && opt->min_next_seq > SPOOL_SEQ_FLOOR_MAX + 1) {
                /* The floor from an older format's seq file, past any sane seq. */
                add_finding(s, &(SpoolFinding){ .kind = SPOOL_DAMAGE_SEQ_RANGE, .file = "seq", .bad_seq = opt->min_next_seq,
                                                .last_good_seq = s->next_seq - 1, .lost_first = 1, .lost_last = 0 });
                log_warning("The seq file of an older version says %" PRIu64 ", past any sane seq: ignored.", opt->min_next_seq);
        } else if (opt)
                s->next_seq = MAX(s->next_seq, opt->min_next_seq);
        /* Dropped or damaged bytes found at open are removed now. */
        r = reclaim(s, false);
        if (r < 0)
                log_warning_errno(r, "Cannot compact the spool in %s yet: %m", dir);
        *ret = TAKE_PTR(s);
        return 0;
}

Spool *spool_free(Spool *s) {
        if (!s)
                return NULL;
        if (s->qn > 0 && s->dir_fd >= 0) {
                int r = spool_commit(s);
                if (r < 0)
                        log_error_errno(r, "Could not commit %zu queued event(s) to the spool at exit: %m", s->qn);
        }
        sd_event_source_disable_unref(s->defer);
        sd_event_source_disable_unref(s->retry);
        for (size_t i = 0; i < s->n_segs; i++)
                segment_free(s->segs[i]);
        free(s->segs);
        free(s->qbuf);
        free(s->qrec);
        free(s->findings);
        if (s->cursor_fd >= 0)
                close(s->cursor_fd);
        if (s->dir_fd >= 0)
                close(s->dir_fd);
        free(s->dir);
        free(s);
        return NULL;
}

void spool_set_callbacks(Spool *s, const SpoolCallbacks *cb, void *userdata) {
        s->cb = *cb;
        s->userdata = userdata;
}

static int on_defer(sd_event_source *src, void *userdata) {
        Spool *s = userdata;

        /* Findings first: they are reported outside of any spool call. */
        while (s->n_findings > 0) {
                SpoolFinding f = s->findings[0];
                memmove(s->findings, s->findings + 1, (s->n_findings - 1) * sizeof f);
                s->n_findings--;
                if (s->cb.damaged)
                        s->cb.damaged(&f, s->userdata);
        }
        (void) spool_commit(s);
        return 0;
}

static int on_retry(sd_event_source *src, uint64_t usec, void *userdata) {
        Spool *s = userdata;
        (void) spool_commit(s);
        return 0;
}

int spool_attach_event(Spool *s, sd_event *e, int64_t priority) {
        int r = sd_event_add_defer(e, &s->defer, on_defer, s);
        if (r < 0)
                return r;
        r = sd_event_add_time(e, &s->retry, CLOCK_MONOTONIC, 0, USEC_PER_SEC, on_retry, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(s->retry, SD_EVENT_OFF);
        (void) sd_event_source_set_priority(s->retry, priority);
        (void) sd_event_source_set_priority(s->defer, priority);
        (void) sd_event_source_set_description(s->defer, "spool-commit");
        return sd_event_source_set_enabled(s->defer, s->n_findings || s->qn || s->bytes > high_water(s)
                                                             ? SD_EVENT_ONESHOT
                                                             : SD_EVENT_OFF);
}

/* ---- append, commit ---- */

uint64_t spool_next_seq(const Spool *s) {
        return s->next_seq;
}

static int queue_record(Spool *s, const void *json, size_t len, const void *aux, size_t aux_len, uint8_t severity,
                        usec_t time, uint8_t flags) {
        size_t sz = spool_record_size(len, aux_len);
        SpoolRecord rec = {
                .seq = s->next_seq,
                .time = time,
                .severity = MIN(severity, SPOOL_RECORD_MAX_SEVERITY),
                .flags = (flags & REC_TOMBSTONE) ? SPOOL_RECORD_TOMBSTONE : 0,
                .json = json,
                .json_len = len,
                .aux = aux,
                .aux_len = aux_len,
        };

        if (sz == 0)
                return -E2BIG;
        if (s->qlen + sz > s->qcap) {
                size_t ncap = MAX(s->qcap * 2, s->qlen + sz + 4096);
                uint8_t *n = realloc(s->qbuf, ncap);
                if (!n)
                        return -ENOMEM;
                s->qbuf = n;
                s->qcap = ncap;
        }
        if (GROW_ARRAY(s->qrec, s->qcap_n, s->qn + 1, 64) < 0)
                return -ENOMEM;
        spool_record_encode(s->qbuf + s->qlen, &rec);
        s->qrec[s->qn++] = (Rec){
                .seq = rec.seq,
                .offset = (uint32_t) s->qlen,
                .size = (uint32_t) sz,
                .severity = rec.severity,
                .flags = flags & REC_TOMBSTONE,
        };
        s->qlen += sz;
        s->next_seq++;
        return 0;
}

int spool_append(Spool *s, const char *json, size_t len, uint8_t severity, usec_t time) {
        int r;

        if (len == 0 || len > SPOOL_EVENT_MAX)
                return -E2BIG;
        if (s->next_seq > SPOOL_RECORD_SEQ_MAX - SPOOL_DROP_MAX_RANGES)
                return -EOVERFLOW; /* never: the seq starts at most at 2^52 + 1 */
        if (s->qlen > QUEUE_HARD_MAX)
                return -ENOBUFS;
        r = queue_record(s, json, len, NULL, 0, severity, time, 0);
        if (r < 0)
                return r;
        s->appended++;
        if (s->qn >= FORCE_COMMIT_RECORDS || s->qlen >= s->force_bytes)
                (void) spool_commit(s);
        else if (s->defer)
                (void) sd_event_source_set_enabled(s->defer, SD_EVENT_ONESHOT);
        return 0;
}

typedef struct Pick {
        uint64_t seq;
        Rec *rec;
        Segment *seg;
} Pick;

static int cmp_pick(const void *a, const void *b) {
        const Pick *x = a, *y = b;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Chooses the oldest records of the lowest severity until `want` bytes are
 * freed, and queues the tombstone that drops them. The records are only
 * marked dropped once that tombstone is durable. Returns bytes freed (0: none
 * could be). */
static int64_t drop_round(Spool *s, uint64_t want) {
        _cleanup_free_ Pick *picks = calloc(DROP_PICKS_PER_ROUND, sizeof *picks);
        _cleanup_free_ uint64_t(*ranges)[2] = NULL;
        _cleanup_free_ uint8_t *aux = NULL;
        _cleanup_free_ char *json = NULL;
        size_t n = 0, n_ranges = 0, len = 0;
        uint64_t freed = 0;
        SpoolDrop d = { .reason = "spool_full", .max_bytes = s->max_bytes, .oldest_time = UINT64_MAX };
        uint8_t sev = 3; /* high, unless the renderer says otherwise */
        usec_t t = 0;
        int r;

        if (!picks)
                return -ENOMEM;
        for (unsigned severity = 0; severity <= SPOOL_RECORD_MAX_SEVERITY && freed < want && n < DROP_PICKS_PER_ROUND;
             severity++)
                for (size_t i = 0; i < s->n_segs && freed < want && n < DROP_PICKS_PER_ROUND; i++) {
                        Segment *g = s->segs[i];
                        for (size_t k = 0; k < g->n && freed < want && n < DROP_PICKS_PER_ROUND; k++) {
                                Rec *m = &g->recs[k];
                                /* The batch in flight may be delivered any moment; a
                                 * drop record is the count of others and stays. */
                                if (m->severity != severity || !rec_live(s, m) || m->seq <= s->inflight_last ||
                                    (m->flags & (REC_TOMBSTONE | REC_DROP_QUEUED)))
                                        continue;
                                picks[n++] = (Pick){ m->seq, m, g };
                                freed += m->size;
                        }
                }
        if (n == 0)
                return 0;

        qsort(picks, n, sizeof *picks, cmp_pick);
        ranges = calloc(n, sizeof *ranges);
        if (!ranges)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (n_ranges > 0 && ranges[n_ranges - 1][1] + 1 == picks[i].seq) {
                        ranges[n_ranges - 1][1] = picks[i].seq;
                        continue;
                }
                if (n_ranges == SPOOL_DROP_MAX_RANGES) {
                        n = i; /* the rest stays for the next round */
                        break;
                }
                ranges[n_ranges][0] = ranges[n_ranges][1] = picks[i].seq;
                n_ranges++;
        }

        freed = 0;
        for (size_t i = 0; i < n; i++) {
                Rec *m = picks[i].rec;
                d.count++;
                d.by_severity[m->severity]++;
                usec_t when = rec_time(s, picks[i].seg, m);
                if (when > 0) {
                        d.oldest_time = MIN(d.oldest_time, when);
                        d.newest_time = MAX(d.newest_time, when);
                }
                freed += m->size;
        }
        if (d.oldest_time == UINT64_MAX) /* no header could be read */
                d.oldest_time = 0;
        d.first_seq = picks[0].seq;
        d.last_seq = picks[n - 1].seq;
        d.ranges = (const uint64_t(*)[2]) ranges;
        d.n_ranges = n_ranges;
        d.total_dropped = s->dropped + d.count;

        if (!s->cb.render_drop)
                return -EOPNOTSUPP;
        r = s->cb.render_drop(&d, s->next_seq, &sev, &t, &json, &len, s->userdata);
        if (r < 0)
                return r;
        aux = malloc(n_ranges * 16);
        if (!aux)
                return -ENOMEM;
        for (size_t i = 0; i < n_ranges; i++)
                spool_tombstone_put(aux, i, ranges[i][0], ranges[i][1]);
        r = queue_record(s, json, len, aux, n_ranges * 16, sev, t ? t : now_usec(CLOCK_REALTIME), REC_TOMBSTONE);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                picks[i].rec->flags |= REC_DROP_QUEUED;
        s->n_drop_queued += n;
        return (int64_t) freed;
}

/* Makes the coming commit fit under max_bytes: spent records first, then drops. */
static void make_room(Spool *s) {
        uint64_t target, freed = 0;
        int r;

        if (s->bytes + s->qlen <= high_water(s))
                return;
        r = reclaim(s, true);
        if (r < 0)
                log_warning_errno(r, "Cannot reclaim delivered events from the spool: %m");
        target = high_water(s) - s->max_bytes / 10;
        for (unsigned round = 0; round < DROP_MAX_ROUNDS && s->bytes + s->qlen > target + freed; round++) {
                int64_t f = drop_round(s, s->bytes + s->qlen - target - freed);
                if (f < 0) {
                        log_error_errno((int) f, "Cannot drop events from the full spool: %m");
                        break;
                }
                if (f == 0)
                        break;
                freed += (uint64_t) f;
        }
        if (s->bytes + s->qlen > s->max_bytes + freed && !s->warned_full) {
                log_warning("The spool holds more than its bound of %" PRIu64 " bytes: what is left cannot be dropped (in flight, or reports of drops).",
                            s->max_bytes);
                s->warned_full = true;
        }
}

static int active_segment(Spool *s, Segment **ret) {
        _cleanup_(segment_freep_) Segment *g = NULL;
        Segment **n;
        char name[40];
        int r;

        if (s->n_segs > 0) {
                Segment *last = s->segs[s->n_segs - 1];
                /* A wholly delivered segment is retired once it is worth a file of its
                 * own: the disk and the index in memory then hold only unsent events,
                 * rather than growing to a full segment while online. */
                bool delivered = last->n > 0 && last->recs[last->n - 1].seq <= s->acked &&
                                 last->size >= SEGMENT_RETIRE_MIN;
                if (last->size < s->seg_size && !delivered) {
                        *ret = last;
                        return 0;
                }
        }
        g = calloc(1, sizeof *g);
        if (!g)
                return -ENOMEM;
        g->base = s->qrec[0].seq;
        segment_name(name, g->base);
        g->fd = open_file(s, name, O_CREAT | O_TRUNC);
        if (g->fd < 0)
                return g->fd;
        /* The new file must survive a power cut along with what goes into it. */
        r = sync_dir(s);
        if (r < 0)
                return r;
        n = reallocarray(s->segs, s->n_segs + 1, sizeof *n);
        if (!n)
                return -ENOMEM;
        s->segs = n;
        s->segs[s->n_segs++] = g;
        *ret = TAKE_PTR(g);
        return 0;
}

static int commit(Spool *s) {
        Segment *g = NULL;
        uint64_t last, n_dropped = 0;
        int r;

        make_room(s);
        if (s->qn == 0)
                return 0;

        r = active_segment(s, &g);
        if (r >= 0)
                r = segment_reserve(g, s->qn);
        if (r >= 0) {
                r = pwrite_all(g->fd, s->qbuf, s->qlen, g->size);
                if (r >= 0)
                        r = sync_fd(s, g->fd);
                if (r < 0)
                        /* Leave no half-written tail behind; the queue is retried. */
                        (void) ftruncate(g->fd, (off_t) g->size);
        }
        if (r < 0) {
                /* Disk full, I/O error: try again in a while, events or not. */
                if (s->retry && sd_event_source_set_time_relative(s->retry, 5 * USEC_PER_SEC) >= 0)
                        (void) sd_event_source_set_enabled(s->retry, SD_EVENT_ONESHOT);
                if (s->cb.committed)
                        s->cb.committed(0, r, s->userdata);
                return r;
        }

        for (size_t i = 0; i < s->qn; i++) {
                Rec m = s->qrec[i];
                m.offset += (uint32_t) g->size;
                g->recs[g->n++] = m;
        }
        last = s->qrec[s->qn - 1].seq;
        g->size += s->qlen;
        s->bytes += s->qlen;
        s->n_live += s->qn;
        s->qn = 0;
        s->qlen = 0;
        s->commits++;

        /* The tombstones are durable: what they name is gone now. */
        for (size_t i = 0; i < s->n_segs && s->n_drop_queued > 0; i++) {
                Segment *x = s->segs[i];
                for (size_t k = 0; k < x->n; k++)
                        if (x->recs[k].flags & REC_DROP_QUEUED) {
                                x->recs[k].flags = (uint8_t) ((x->recs[k].flags & ~REC_DROP_QUEUED) | REC_DROPPED);
                                if (x->recs[k].seq > s->acked)
                                        s->n_live--;
                                n_dropped++;
                                s->n_drop_queued--;
                        }
        }
        if (n_dropped) {
                s->dropped += n_dropped;
                r = reclaim(s, true);
                if (r < 0)
                        log_warning_errno(r, "Cannot compact the spool after dropping events: %m");
        }

        if (s->cb.committed)
                s->cb.committed(last, 0, s->userdata);
        return 0;
}

int spool_commit(Spool *s) {
        int r;
        if (s->in_commit)
                return 0;
        s->in_commit = true;
        r = commit(s);
        s->in_commit = false;
        return r;
}

/* ---- reading, acknowledging ---- */

/* The first record after `seq`: segment i, record k. */
static bool find_after(const Spool *s, uint64_t seq, size_t *ret_i, size_t *ret_k) {
        for (size_t i = 0; i < s->n_segs; i++) {
                const Segment *g = s->segs[i];
                size_t lo = 0, hi = g->n;
                if (g->n == 0 || g->recs[g->n - 1].seq <= seq)
                        continue;
                while (lo < hi) {
                        size_t mid = lo + (hi - lo) / 2;
                        if (g->recs[mid].seq <= seq)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                *ret_i = i;
                *ret_k = lo;
                return true;
        }
        return false;
}

static void lose(Spool *s, Segment *g, Rec *m) {
        SpoolFinding f = { .kind = SPOOL_DAMAGE_CORRUPT, .offset = m->offset, .bytes = m->size,
                           .lost_first = m->seq, .lost_last = m->seq };
        segment_name(f.file, g->base);
        if (rec_live(s, m))
                s->n_live--;
        m->flags |= REC_LOST;
        g->dirty = true;
        add_finding(s, &f);
}

typedef int (*RecVisit)(Spool *s, const Rec *m, const SpoolRecord *rec, void *userdata);

/* Visits live records after the cursor in order, reading each segment's span
 * in one go and checking every record again. Stops when fn returns > 0. */
static int visit_live(Spool *s, RecVisit fn, void *userdata) {
        size_t i, k;

        if (!find_after(s, s->acked, &i, &k))
                return 0;
        while (i < s->n_segs) {
                Segment *g = s->segs[i];
                _cleanup_free_ uint8_t *buf = NULL;
                size_t end = k;
                uint64_t from, to;
                int r;

                if (k >= g->n) {
                        i++;
                        k = 0;
                        continue;
                }
                /* Read at most 1 MiB per go. */
                while (end < g->n && (end == k || g->recs[end].offset + g->recs[end].size - g->recs[k].offset <= 1024 * 1024))
                        end++;
                from = g->recs[k].offset;
                to = g->recs[end - 1].offset + g->recs[end - 1].size;
                buf = malloc(to - from);
                if (!buf)
                        return -ENOMEM;
                r = pread_all(g->fd, buf, to - from, from);
                if (r < 0)
                        return r;
                for (size_t j = k; j < end; j++) {
                        Rec *m = &g->recs[j];
                        SpoolRecord rec;
                        size_t sz;
                        if (!rec_live(s, m))
                                continue;
                        if (spool_record_decode(buf + (m->offset - from), m->size, &rec, &sz) != SPOOL_DECODE_OK ||
                            rec.seq != m->seq) {
                                lose(s, g, m);
                                continue;
                        }
                        r = fn(s, m, &rec, userdata);
                        if (r != 0)
                                return r;
                }
                k = end;
        }
        return 0;
}

typedef struct BatchCtx {
        SpoolBatch *b;
        size_t cap, max_events, max_bytes;
} BatchCtx;

static int batch_add(Spool *s, const Rec *m, const SpoolRecord *rec, void *userdata) {
        BatchCtx *c = userdata;
        SpoolBatch *b = c->b;

        if (b->count >= c->max_events || (b->count > 0 && b->len + rec->json_len + 1 > c->max_bytes))
                return 1;
        if (b->len + rec->json_len + 1 > c->cap) {
                size_t ncap = MAX(c->cap * 2, b->len + rec->json_len + 1 + 4096);
                char *n = realloc(b->data, ncap);
                if (!n)
                        return -ENOMEM;
                b->data = n;
                c->cap = ncap;
        }
        memcpy(b->data + b->len, rec->json, rec->json_len);
        b->len += rec->json_len;
        b->data[b->len++] = '\n';
        if (b->count == 0)
                b->first_seq = m->seq;
        b->last_seq = m->seq;
        b->count++;
        return 0;
}

int spool_read_batch(Spool *s, size_t max_events, size_t max_bytes, SpoolBatch *ret) {
        SpoolBatch b = { 0 };
        BatchCtx c = { .b = &b, .max_events = max_events ? max_events : 1,
                       .max_bytes = MAX(MIN(max_bytes, s->max_bytes / 4), (size_t) 1) };
        int r;

        r = visit_live(s, batch_add, &c);
        if (r < 0) {
                free(b.data);
                return r;
        }
        if (b.count == 0) {
                free(b.data);
                return -ENODATA;
        }
        s->inflight_last = b.last_seq;
        *ret = b;
        return 0;
}

void spool_batch_done(SpoolBatch *b) {
        free(b->data);
        *b = (SpoolBatch){ 0 };
}

void spool_release(Spool *s) {
        s->inflight_last = 0;
}

int spool_ack(Spool *s, uint64_t last_seq) {
        int r;

        s->inflight_last = 0;
        if (last_seq <= s->acked)
                return 0;
        if (last_seq >= s->next_seq)
                return -ERANGE;
        r = cursor_store(s, last_seq);
        if (r < 0)
                return r;
        size_t i, k;
        if (find_after(s, s->acked, &i, &k))
                for (; i < s->n_segs; i++, k = 0)
                        for (; k < s->segs[i]->n && s->segs[i]->recs[k].seq <= last_seq; k++)
                                if (!(s->segs[i]->recs[k].flags & REC_GONE))
                                        s->n_live--;
        s->acked = last_seq;
        r = reclaim(s, false);
        if (r < 0)
                log_warning_errno(r, "Cannot remove delivered segments from the spool: %m");
        return 0;
}

/* ---- inspection ---- */

void spool_get_stats(const Spool *s, SpoolStats *ret) {
        usec_t oldest = 0;
        size_t i, k;

        /* Cheap: the index is in memory. */
        if (find_after(s, s->acked, &i, &k))
                for (; i < s->n_segs && !oldest; i++, k = 0)
                        for (; k < s->segs[i]->n; k++)
                                if (rec_live(s, &s->segs[i]->recs[k])) {
                                        oldest = rec_time(s, s->segs[i], &s->segs[i]->recs[k]);
                                        break;
                                }
        if (!oldest && s->qn > 0)
                oldest = rec_time(s, NULL, &s->qrec[0]);

        *ret = (SpoolStats){
                .depth = s->n_live + s->qn,
                .queued = s->qn,
                .bytes = s->bytes,
                .max_bytes = s->max_bytes,
                .next_seq = s->next_seq,
                .acked_seq = s->acked,
                .oldest_unsent = oldest,
                .appended = s->appended,
                .dropped = s->dropped,
                .commits = s->commits,
                .fsyncs = s->fsyncs,
                .segments = (unsigned) s->n_segs,
        };
}

typedef struct ForeachCtx {
        SpoolVisit fn;
        void *userdata;
} ForeachCtx;

static int foreach_one(Spool *s, const Rec *m, const SpoolRecord *rec, void *userdata) {
        ForeachCtx *c = userdata;
        return c->fn(m->seq, (const char *) rec->json, rec->json_len, c->userdata);
}

int spool_foreach(Spool *s, SpoolVisit fn, void *userdata) {
        ForeachCtx c = { fn, userdata };
        int r = visit_live(s, foreach_one, &c);
        return r < 0 ? r : 0;
}
