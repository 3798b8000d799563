/* SPDX-License-Identifier: MIT */
/* The spool's segment files: opening them (and the directory), scanning them
 * at open, repairing what is damaged, starting a new one, reclaiming space. */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include <zlib.h>

#include "log.h"
#include "spool-internal.h"

/* A wholly delivered segment is retired once it is this large. */
#define SEGMENT_RETIRE_MIN (UINT64_C(64) * 1024)

/* ---- small helpers ---- */

int spool_sync_fd(Spool *s, int fd) {
        if (!s->sync)
                return 0;
        s->fsyncs++;
        return fdatasync(fd) < 0 ? negative_errno() : 0;
}

int spool_sync_dir(Spool *s) {
        if (!s->sync)
                return 0;
        s->fsyncs++;
        return fsync(s->dir_fd) < 0 ? negative_errno() : 0;
}

/* The whole of len at off, or an error: a short read means the file is shorter
 * than we know it to be (-EIO), as does a write that makes no progress. */
static int spool_pio_all(int fd, void *buf, size_t len, uint64_t off, bool writing) {
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

int spool_pwrite_all(int fd, const void *buf, size_t len, uint64_t off) {
        return spool_pio_all(fd, (void *) buf, len, off, true);
}

int spool_pread_all(int fd, void *buf, size_t len, uint64_t off) {
        return spool_pio_all(fd, buf, len, off, false);
}

/* A record's time, from its header: in the queue, or in its segment (NULL: the
 * queue). 0 when it cannot be read. */
usec_t spool_rec_time(const Spool *s, const Segment *g, const Rec *m) {
        uint8_t h[SPOOL_RECORD_HEADER_SIZE];

        if (!g)
                memcpy(h, s->qbuf + m->offset, sizeof h);
        else if (spool_pread_all(g->fd, h, sizeof h, m->offset) < 0)
                return 0;
        return spool_record_header_time(h);
}

void spool_segment_name(char buf[static 40], uint64_t base) {
        snprintf(buf, 40, "%016" PRIx64 ".seg", base);
}

Segment *spool_segment_free(Segment *g) {
        if (!g)
                return NULL;
        if (g->fd >= 0)
                close(g->fd);
        free(g->recs);
        free(g);
        return NULL;
}

static void spool_segment_freep(Segment **g) {
        spool_segment_free(*g);
}

int spool_segment_reserve(Segment *g, size_t extra) {
        return GROW_ARRAY(g->recs, g->cap, g->n + extra, 64);
}

static int spool_segment_push(Segment *g, const Rec *r) {
        int q = spool_segment_reserve(g, 1);
        if (q < 0)
                return q;
        g->recs[g->n++] = *r;
        return 0;
}

/* What a rewrite keeps: the undelivered records, and in the newest segment
 * its last record (its seq is the floor if the cursor is ever lost). */
static bool spool_rec_kept(const Spool *s, const Segment *g, size_t k, bool newest) {
        const Rec *m = &g->recs[k];
        return !(m->flags & REC_GONE) && (m->seq > s->acked || (newest && k + 1 == g->n));
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
static int spool_clear_non_file(Spool *s, const char *name) {
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
        spool_add_finding(s, &f);
        (void) spool_sync_dir(s);
        return 1;
}

/* Opens a file of the spool, which must be a regular file (or be created as one). */
int spool_open_file(Spool *s, const char *name, int flags) {
        struct stat st;
        int fd, r;

        r = spool_clear_non_file(s, name);
        if (r < 0)
                return r;
        fd = openat(s->dir_fd, name, O_RDWR | OPEN_FLAGS | flags, 0640);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return -EBADFD; /* swapped since the check */
        }
        /* Readable by the uplink (the directory's group), whatever the umask,
         * and for files an older version made 0600. */
        if (st.st_gid != s->dir_gid && fchown(fd, (uid_t) -1, s->dir_gid) < 0)
                log_debug_errno(errno, "Cannot give %s/%s the spool's group: %m", s->dir, name);
        if ((st.st_mode & 07777) != 0640 && fchmod(fd, 0640) < 0)
                log_debug_errno(errno, "Cannot make %s/%s mode 0640: %m", s->dir, name);
        return fd;
}

/* ---- the committed mark ---- */

void spool_committed_encode(uint8_t buf[static SPOOL_COMMITTED_SIZE], uint64_t seq) {
        memset(buf, 0, SPOOL_COMMITTED_SIZE);
        spool_put_le32(buf, SPOOL_COMMITTED_MAGIC);
        spool_put_le64(buf + 8, seq);
        spool_put_le32(buf + 16, (uint32_t) crc32(0L, buf, 16));
}

int spool_committed_decode(const uint8_t *buf, size_t len, uint64_t *ret_seq) {
        if (len < SPOOL_COMMITTED_SIZE || spool_le32(buf) != SPOOL_COMMITTED_MAGIC ||
            spool_le32(buf + 16) != (uint32_t) crc32(0L, buf, 16))
                return -EBADMSG;
        *ret_seq = spool_le64(buf + 8);
        return 0;
}

/* After the data is durable: tells the uplink how far it may read. No sync:
 * the mark only ever lags the records. */
int spool_committed_store(Spool *s, uint64_t seq) {
        uint8_t buf[SPOOL_COMMITTED_SIZE];

        if (s->committed_fd < 0)
                return 0;
        spool_committed_encode(buf, seq);
        return spool_pwrite_all(s->committed_fd, buf, sizeof buf, 0);
}

/* ---- loading ---- */

typedef struct Ranges {
        uint64_t (*r)[2];
        size_t n, cap;
} Ranges;

static int spool_ranges_add(Ranges *t, uint64_t first, uint64_t last) {
        if (GROW_ARRAY(t->r, t->cap, t->n + 1, 16) < 0)
                return -ENOMEM;
        t->r[t->n][0] = first;
        t->r[t->n][1] = last;
        t->n++;
        return 0;
}

static int spool_cmp_range(const void *a, const void *b) {
        const uint64_t *x = a, *y = b;
        return x[0] < y[0] ? -1 : x[0] > y[0];
}

static bool spool_ranges_contain(const Ranges *t, uint64_t seq) {
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

static int spool_read_file(int fd, uint64_t size, uint8_t **ret) {
        _cleanup_free_ uint8_t *buf = malloc(size ? size : 1);
        int r;
        if (!buf)
                return -ENOMEM;
        r = spool_pread_all(fd, buf, size, 0);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* Cuts a segment back to its last intact byte, durably. */
static int spool_segment_cut(Spool *s, Segment *g, uint64_t at) {
        if (ftruncate(g->fd, (off_t) at) < 0)
                return negative_errno();
        g->size = at;
        return spool_sync_fd(s, g->fd);
}

static int spool_segment_load(Spool *s, Segment *g, bool last, uint64_t next_base, uint64_t *prev_seq,
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
        r = spool_read_file(g->fd, size, &buf);
        if (r < 0)
                return r;
        g->size = file_size;
        spool_segment_name(name, g->base);

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
                        r = spool_segment_push(g, &m);
                        if (r < 0)
                                return r;
                        for (size_t i = 0; i < spool_tombstone_count(&rec); i++) {
                                uint64_t a, b;
                                spool_tombstone_get(&rec, i, &a, &b);
                                if (a <= b && b < rec.seq && spool_ranges_add(tombs, a, b) < 0)
                                        return -ENOMEM;
                        }
                        *prev_seq = rec.seq;
                        off += sz;
                        continue;
                }
                if (d == SPOOL_DECODE_OK) {
                        /* Intact but out of order (a copy, or a file put back by hand), or
                         * with a seq no spool reaches (made, not written by us): skip it. */
                        SpoolFinding f = { .kind = SPOOL_DAMAGE_CORRUPT,
                                           .offset = off,
                                           .bytes = sz,
                                           .last_good_seq = *prev_seq,
                                           .lost_first = 1,
                                           .lost_last = 0 };
                        memcpy(f.file, name, sizeof name);
                        spool_add_finding(s, &f);
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
                        r = spool_segment_cut(s, g, off);
                        if (r < 0)
                                return r;
                        spool_add_finding(s, &f);
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
                        spool_add_finding(s, &f);
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
                r = spool_segment_cut(s, g, off);
                if (r < 0)
                        return r;
                *seq_floor = MAX(*seq_floor, f.lost_last);
                spool_add_finding(s, &f);
                break;
        }
        if (oversized && g->size > off) {
                /* Past the last record that fits the bound: nothing of ours. */
                SpoolFinding f = { .kind = SPOOL_DAMAGE_OVERSIZED,
                                   .offset = off,
                                   .bytes = g->size - off,
                                   .last_good_seq = *prev_seq,
                                   .lost_first = 1,
                                   .lost_last = 0,
                                   .cut = true };
                memcpy(f.file, name, sizeof name);
                r = spool_segment_cut(s, g, off);
                if (r < 0)
                        return r;
                spool_add_finding(s, &f);
        }
        return 0;
}

static int spool_segment_filter(const struct dirent *de) {
        const char *n = de->d_name;
        return strlen(n) == 20 && strspn(n, "0123456789abcdef") == 16 && streq(n + 16, ".seg");
}

static int spool_segment_remove_at(Spool *s, size_t i) {
        Segment *g = s->segs[i];
        char name[40];

        spool_segment_name(name, g->base);
        if (unlinkat(s->dir_fd, name, 0) < 0 && errno != ENOENT)
                return negative_errno();
        s->bytes -= g->size;
        spool_segment_free(g);
        memmove(s->segs + i, s->segs + i + 1, (s->n_segs - i - 1) * sizeof *s->segs);
        s->n_segs--;
        return 0;
}

bool spool_has_records(const Spool *s) {
        for (size_t i = 0; i < s->n_segs; i++)
                if (s->segs[i]->n > 0)
                        return true;
        return false;
}

int spool_segments_load(Spool *s) {
        struct dirent **names = NULL;
        Ranges tombs = { 0 };
        uint64_t prev_seq = 0, floor_seq = 0;
        int n, r = 0;

        /* Leftovers of a rewrite that a crash interrupted: the original is intact. */
        n = scandir(s->dir, &names, NULL, alphasort);
        if (n < 0)
                return negative_errno();
        for (int i = 0; i < n; i++) {
                if (endswith(names[i]->d_name, ".seg.tmp") && spool_clear_non_file(s, names[i]->d_name) == 0)
                        (void) unlinkat(s->dir_fd, names[i]->d_name, 0);
                free(names[i]);
        }
        free(names);

        n = scandir(s->dir, &names, spool_segment_filter, alphasort);
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
                g->fd = spool_open_file(s, names[i]->d_name, 0);
                if (g->fd < 0) {
                        /* Not a file (now moved out of the way), or not to be opened:
                         * the others are still worth reading. */
                        if (g->fd != -ENOENT)
                                log_warning_errno(g->fd, "Cannot open %s/%s, skipped: %m", s->dir, names[i]->d_name);
                        spool_segment_free(g);
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
                r = spool_segment_load(s, s->segs[i], last, last ? 0 : s->segs[i + 1]->base, &prev_seq, &floor_seq,
                                       &tombs);
                if (r < 0)
                        goto finish;
                s->bytes += s->segs[i]->size;
        }
        r = spool_cursor_check(s, MAX(prev_seq, floor_seq));
        if (r < 0)
                goto finish;

        /* Tombstones: what they name is gone, whatever is still on disk. */
        if (tombs.n > 0)
                qsort(tombs.r, tombs.n, sizeof *tombs.r, spool_cmp_range);
        for (size_t i = 0; i < s->n_segs; i++) {
                Segment *g = s->segs[i];
                for (size_t k = 0; k < g->n; k++) {
                        if (tombs.n && spool_ranges_contain(&tombs, g->recs[k].seq)) {
                                g->recs[k].flags |= REC_DROPPED;
                                g->dirty = true;
                        }
                        if (spool_rec_live(s, &g->recs[k]))
                                s->n_live++;
                }
        }
        s->next_seq = MAX(MAX(MAX(prev_seq, s->acked), floor_seq), s->floor) + 1;

        /* Empty segments (nothing intact in them) are just files. */
        for (size_t i = 0; i < s->n_segs;)
                if (s->segs[i]->n == 0) {
                        r = spool_segment_remove_at(s, i);
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
static int spool_segment_rewrite(Spool *s, Segment *g, bool newest) {
        _cleanup_free_ uint8_t *old = NULL, *out = NULL;
        _cleanup_free_ Rec *recs = NULL;
        _cleanup_close_ int fd = -EBADF;
        char name[40], tmp[48];
        size_t n = 0, len = 0;
        int r;

        r = spool_read_file(g->fd, g->size, &old);
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
                if (!spool_rec_kept(s, g, k, newest))
                        continue;
                if (spool_record_decode(old + m->offset, m->size, &rec, &sz) != SPOOL_DECODE_OK || sz != m->size ||
                    rec.seq != m->seq) {
                        /* Rotted since it was read: do not carry it over. */
                        SpoolFinding f = { .kind = SPOOL_DAMAGE_CORRUPT,
                                           .offset = m->offset,
                                           .bytes = m->size,
                                           .lost_first = m->seq,
                                           .lost_last = m->seq };
                        spool_segment_name(f.file, g->base);
                        spool_add_finding(s, &f);
                        if (spool_rec_live(s, m))
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

        spool_segment_name(name, g->base);
        snprintf(tmp, sizeof tmp, "%s.tmp", name);
        fd = spool_open_file(s, tmp, O_CREAT | O_TRUNC);
        if (fd < 0)
                return fd;
        r = spool_pwrite_all(fd, out, len, 0);
        if (r >= 0)
                r = spool_sync_fd(s, fd);
        if (r >= 0 && renameat(s->dir_fd, tmp, s->dir_fd, name) < 0)
                r = negative_errno();
        if (r < 0) {
                (void) unlinkat(s->dir_fd, tmp, 0);
                return r;
        }
        (void) spool_sync_dir(s);

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
int spool_reclaim(Spool *s, bool rewrite) {
        int r = 0;

        for (size_t i = 0; i < s->n_segs;) {
                Segment *g = s->segs[i];
                bool newest = i + 1 == s->n_segs;
                size_t keep = 0;

                if (!rewrite && !g->dirty) {
                        /* The cheap case, after every ack: wholly delivered segments. */
                        if (!newest && (g->n == 0 || g->recs[g->n - 1].seq <= s->acked)) {
                                int q = spool_segment_remove_at(s, i);
                                if (q >= 0)
                                        continue;
                                r = q;
                        }
                        i++;
                        continue;
                }
                for (size_t k = 0; k < g->n; k++)
                        if (spool_rec_kept(s, g, k, newest))
                                keep++;
                if (keep == 0 && !newest) {
                        int q = spool_segment_remove_at(s, i);
                        if (q >= 0)
                                continue;
                        r = q;
                } else if (keep < g->n || g->dirty) {
                        int q = spool_segment_rewrite(s, g, newest);
                        if (q < 0)
                                r = q;
                }
                i++;
        }
        return r;
}

/* ---- the directory, a new segment ---- */

/* The directory that holds the spool (the state directory) should be ours
 * and writable by nobody else; systemd's StateDirectory= sees to that. Said
 * if not, and left as it is (it is not the spool's to change). */
static void spool_check_parent(const Spool *s) {
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
int spool_open_dir(Spool *s) {
        for (unsigned attempt = 0; attempt < 2; attempt++) {
                _cleanup_free_ char *aside = NULL;
                struct stat st;
                int fd, r = 0;

                bool made = mkdir(s->dir, 0750) >= 0;
                if (!made && errno != EEXIST)
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
                        /* Ours, and at most readable by its group (the uplink's, set by
                         * tmpfiles; setgid so that the files get it too): 02750. */
                        mode_t mode = st.st_mode & 07777, want = made ? 02750 : (mode & 02750) | 0700;
                        if (mode != want) {
                                if (!made)
                                        log_warning("The spool %s had mode %04o: made %04o.", s->dir, (unsigned) mode,
                                                    (unsigned) want);
                                (void) fchmod(fd, want);
                        }
                        s->dir_gid = st.st_gid;
                        s->dir_fd = fd;
                        spool_check_parent(s);
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
                spool_add_finding(s, &(SpoolFinding){ .kind = SPOOL_DAMAGE_NOT_A_FILE,
                                                      .file = "spool",
                                                      .lost_first = 1,
                                                      .lost_last = 0,
                                                      .cut = true });
        }
        return -ELOOP;
}

/* The segment the next commit goes to: the newest, or a new one when that is
 * full or wholly delivered. */
int spool_segment_active(Spool *s, Segment **ret) {
        _cleanup_(spool_segment_freep) Segment *g = NULL;
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
        spool_segment_name(name, g->base);
        g->fd = spool_open_file(s, name, O_CREAT | O_TRUNC);
        if (g->fd < 0)
                return g->fd;
        /* The new file must survive a power cut along with what goes into it. */
        r = spool_sync_dir(s);
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
