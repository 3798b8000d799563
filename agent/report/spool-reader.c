/* SPDX-License-Identifier: MIT */
/* The uplink's view of mamorid's spool (spool_open_reader()): read-only. The
 * same index as the writer's, built as mamorid commits: records are taken
 * only up to the `committed` mark (never one a crash could still tear);
 * segments mamorid retires are forgotten, segments it rewrites (another
 * inode renamed over the name) are read again; damage is skipped and
 * reported, never repaired (that is mamorid's, at its next open). */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "log.h"
#include "spool-internal.h"

#define READER_OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)

const char *spool_dir(const Spool *s) {
        assert(s);
        return s->dir;
}

static size_t spool_segment_live(const Spool *s, const Segment *g) {
        size_t n = 0;
        for (size_t k = 0; k < g->n; k++)
                if (spool_rec_live(s, &g->recs[k]))
                        n++;
        return n;
}

/* Back to nothing indexed: the file is read again from its start. */
static void spool_segment_unindex(Spool *s, Segment *g) {
        s->n_live -= spool_segment_live(s, g);
        g->n = 0;
        g->size = 0;
}

static void spool_reader_remove_at(Spool *s, size_t i) {
        s->bytes -= s->segs[i]->size;
        spool_segment_unindex(s, s->segs[i]);
        spool_segment_free(s->segs[i]);
        memmove(s->segs + i, s->segs + i + 1, (s->n_segs - i - 1) * sizeof *s->segs);
        s->n_segs--;
}

/* The seqs a tombstone names are skipped (one already sent was sent: at least once). */
static void spool_reader_apply_tombstone(Spool *s, const SpoolRecord *rec) {
        for (size_t t = 0; t < spool_tombstone_count(rec); t++) {
                uint64_t a, b;
                spool_tombstone_get(rec, t, &a, &b);
                if (a > b || b >= rec->seq)
                        continue;
                for (size_t i = 0; i < s->n_segs; i++) {
                        Segment *g = s->segs[i];
                        size_t lo = 0, hi = g->n;
                        if (g->n == 0 || g->recs[0].seq > b || g->recs[g->n - 1].seq < a)
                                continue;
                        while (lo < hi) {
                                size_t mid = lo + (hi - lo) / 2;
                                if (g->recs[mid].seq < a)
                                        lo = mid + 1;
                                else
                                        hi = mid;
                        }
                        for (; lo < g->n && g->recs[lo].seq <= b; lo++) {
                                if (spool_rec_live(s, &g->recs[lo]))
                                        s->n_live--;
                                g->recs[lo].flags |= REC_DROPPED;
                        }
                }
        }
}

/* After a segment was read again: the tombstones indexed before name seqs in it too. */
static int spool_reader_reapply_tombstones(Spool *s) {
        for (size_t i = 0; i < s->n_segs; i++) {
                Segment *g = s->segs[i];
                for (size_t k = 0; k < g->n; k++) {
                        _cleanup_free_ uint8_t *buf = NULL;
                        SpoolRecord rec;
                        size_t sz;
                        if (!(g->recs[k].flags & REC_TOMBSTONE))
                                continue;
                        buf = malloc(g->recs[k].size);
                        if (!buf)
                                return -ENOMEM;
                        if (spool_pread_all(g->fd, buf, g->recs[k].size, g->recs[k].offset) < 0 ||
                            spool_record_decode(buf, g->recs[k].size, &rec, &sz) != SPOOL_DECODE_OK)
                                continue; /* found when it is read for a batch */
                        spool_reader_apply_tombstone(s, &rec);
                }
        }
        return 0;
}

static void spool_reader_damage(Spool *s, const Segment *g, uint64_t off, uint64_t bytes, uint64_t prev,
                                uint64_t next_seq) {
        SpoolFinding f = { .kind = SPOOL_DAMAGE_CORRUPT, .offset = off, .bytes = bytes, .last_good_seq = prev };

        spool_segment_name(f.file, g->base);
        f.lost_first = prev + 1;
        f.lost_last = next_seq > prev + 1 ? next_seq - 1 : prev;
        if (f.lost_last < f.lost_first) {
                f.lost_first = 1;
                f.lost_last = 0;
        }
        log_warning("Damage in the spool's %s at %" PRIu64 " (%" PRIu64 " bytes): skipped.", f.file, off, bytes);
        spool_add_finding(s, &f);
}

/* Indexes what mamorid committed in g since the last look: records after
 * `lo`, up to `hi` (the next segment's first seq) and the committed mark. A
 * tail not committed yet, or being written, is left for the next look; so is
 * damage in the newest segment until a committed record follows it. */
static int spool_reader_scan(Spool *s, Segment *g, bool last, uint64_t lo, uint64_t hi) {
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat st;
        uint64_t end, off = 0, prev = lo;
        int r;

        if (g->n > 0)
                prev = g->recs[g->n - 1].seq;
        if (fstat(g->fd, &st) < 0)
                return negative_errno();
        end = MIN((uint64_t) st.st_size, SPOOL_SEGMENT_MAX);
        if (end <= g->size)
                return 0;
        buf = malloc(end - g->size);
        if (!buf)
                return -ENOMEM;
        r = spool_pread_all(g->fd, buf, end - g->size, g->size);
        if (r < 0)
                return r;

        while (off < end - g->size) {
                size_t len = end - g->size - off, sz;
                SpoolRecord rec;
                SpoolDecode d = spool_record_decode(buf + off, len, &rec, &sz);

                if (d == SPOOL_DECODE_OK) {
                        if (rec.seq > s->committed)
                                break; /* not durable yet */
                        if (rec.seq <= prev || rec.seq > hi || rec.seq > SPOOL_SEQ_FLOOR_MAX) {
                                /* out of order: not a record of this place */
                                spool_reader_damage(s, g, g->size + off, sz, prev, 0);
                                off += sz;
                                continue;
                        }
                        r = spool_segment_reserve(g, 1);
                        if (r < 0)
                                return r;
                        g->recs[g->n++] = (Rec){
                                .seq = rec.seq,
                                .offset = (uint32_t) (g->size + off),
                                .size = (uint32_t) sz,
                                .severity = rec.severity,
                                .flags = (rec.flags & SPOOL_RECORD_TOMBSTONE) ? REC_TOMBSTONE : 0,
                        };
                        if (spool_rec_live(s, &g->recs[g->n - 1]))
                                s->n_live++;
                        if (rec.flags & SPOOL_RECORD_TOMBSTONE)
                                spool_reader_apply_tombstone(s, &rec);
                        prev = rec.seq;
                        off += sz;
                        continue;
                }
                if (d == SPOOL_DECODE_END)
                        break;
                size_t next = d == SPOOL_DECODE_CORRUPT ? spool_record_resync(buf + off, len) : len;
                if (next < len) {
                        SpoolRecord nr;
                        size_t nsz;
                        (void) spool_record_decode(buf + off + next, len - next, &nr, &nsz);
                        if (nr.seq > s->committed)
                                break; /* judged once what follows is committed */
                        spool_reader_damage(s, g, g->size + off, next, prev, nr.seq);
                        off += next;
                        continue;
                }
                if (last)
                        break; /* a write under way, or damage mamorid cuts at its next open */
                /* A segment mamorid has moved on from: its end will not change. */
                spool_reader_damage(s, g, g->size + off, len, prev, hi == UINT64_MAX ? 0 : hi + 1);
                off = len;
        }
        s->bytes += off;
        g->size += off;
        return 0;
}

/* (Re)opens the file under g's name: 1 if it is there, 0 if it is gone. */
static int spool_reader_open_segment(Spool *s, Segment *g) {
        char name[40];
        struct stat st;
        int fd;

        spool_segment_name(name, g->base);
        fd = openat(s->dir_fd, name, READER_OPEN_FLAGS);
        if (fd < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                /* mamorid moves it out of the way at its next open */
                close(fd);
                return 0;
        }
        if (g->fd >= 0)
                close(g->fd);
        g->fd = fd;
        g->dev = st.st_dev;
        g->ino = st.st_ino;
        return 1;
}

/* Has mamorid rewritten g (another inode under its name) or cut it? Then it is
 * read again. 0: as it was, 1: read again, -ENOENT: gone. */
static int spool_reader_check_segment(Spool *s, Segment *g) {
        char name[40];
        struct stat st, fst;
        int r;

        spool_segment_name(name, g->base);
        if (fstatat(s->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? -ENOENT : negative_errno();
        if (st.st_dev == g->dev && st.st_ino == g->ino) {
                if (fstat(g->fd, &fst) < 0)
                        return negative_errno();
                if ((uint64_t) fst.st_size >= g->size)
                        return 0;
                /* cut in place (damage mamorid removed at its open) */
                s->bytes -= g->size;
                spool_segment_unindex(s, g);
                return 1;
        }
        r = spool_reader_open_segment(s, g);
        if (r <= 0)
                return r < 0 ? r : -ENOENT;
        s->bytes -= g->size;
        spool_segment_unindex(s, g);
        return 1;
}

static int spool_reader_read_committed(Spool *s) {
        _cleanup_close_ int fd = -EBADF;
        uint8_t buf[SPOOL_COMMITTED_SIZE];
        struct stat st;
        uint64_t v;
        ssize_t n;

        fd = openat(s->dir_fd, "committed", READER_OPEN_FLAGS);
        if (fd < 0)
                return errno == ENOENT || errno == ELOOP ? 0 : negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return 0;
        n = pread(fd, buf, sizeof buf, 0);
        if (n < 0)
                return negative_errno();
        /* A bad checksum (a write under way, or damage): the old value stands. */
        if (spool_committed_decode(buf, (size_t) n, &v) < 0 || v > SPOOL_SEQ_FLOOR_MAX)
                return 0;
        s->committed = MAX(s->committed, v);
        return 0;
}

static int spool_cmp_u64(const void *a, const void *b) {
        const uint64_t *x = a, *y = b;
        return *x < *y ? -1 : *x > *y;
}

/* The bases of the segment files, sorted. */
static int spool_reader_list(Spool *s, uint64_t **ret, size_t *ret_n) {
        _cleanup_free_ uint64_t *bases = NULL;
        size_t n = 0, cap = 0;
        DIR *d;
        int fd;

        fd = openat(s->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -ENOMEM;
        }
        for (;;) {
                struct dirent *de;
                errno = 0;
                de = readdir(d);
                if (!de)
                        break;
                const char *nm = de->d_name;
                if (strlen(nm) != 20 || strspn(nm, "0123456789abcdef") != 16 || !streq(nm + 16, ".seg"))
                        continue;
                if (GROW_ARRAY(bases, cap, n + 1, 16) < 0) {
                        closedir(d);
                        return -ENOMEM;
                }
                bases[n++] = strtoull(nm, NULL, 16);
        }
        int r = errno > 0 ? -errno : 0;
        closedir(d);
        if (r < 0)
                return r;
        if (n > 0)
                qsort(bases, n, sizeof *bases, spool_cmp_u64);
        *ret = TAKE_PTR(bases);
        *ret_n = n;
        return 0;
}

/* Segments whose records are all delivered or dropped, before one that holds
 * committed records (so none of theirs can still come): their index and fd
 * go; the file stays until mamorid retires it. */
void spool_reader_forget(Spool *s) {
        size_t until = 0;

        for (size_t i = 0; i < s->n_segs; i++)
                if (s->segs[i]->n > 0 || s->segs[i]->spent)
                        until = i;
        for (size_t i = 0; i < until; i++) {
                Segment *g = s->segs[i];
                if (g->spent || spool_segment_live(s, g) > 0)
                        continue;
                if (g->fd >= 0)
                        close(g->fd);
                g->fd = -EBADF;
                s->bytes -= g->size;
                g->size = 0;
                g->recs = mfree(g->recs);
                g->n = g->cap = 0;
                g->spent = true;
        }
}

static int spool_reader_cursor_restart(Spool *s);

/* The spool directory: mamorid's (root's, or ours in tests), writable by nobody else. */
static int spool_reader_open_dir(Spool *s) {
        _cleanup_close_ int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat st;

        if (fd < 0 || fstat(fd, &st) < 0)
                return negative_errno();
        /* Records planted by someone else would be sent as mamorid's. */
        if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 0002))
                return log_error_errno(-EPERM, "The spool %s belongs to uid %u with mode %04o: not mamorid's, not read.",
                                       s->dir, (unsigned) st.st_uid, (unsigned) st.st_mode & 07777);
        s->dir_dev = st.st_dev;
        s->dir_ino = st.st_ino;
        return TAKE_FD(fd);
}

/* mamorid moved a spool directory that was not its own out of the way and
 * made a new one: its seqs start over, and so does the reader, on it. */
static int spool_reader_replaced(Spool *s) {
        int fd = spool_reader_open_dir(s);

        if (fd < 0)
                return fd;
        log_warning("The spool %s was replaced: reading the new one.", s->dir);
        close(s->dir_fd);
        s->dir_fd = fd;
        for (size_t i = 0; i < s->n_segs; i++)
                spool_segment_free(s->segs[i]);
        s->n_segs = 0;
        s->n_live = s->bytes = s->committed = 0;
        s->inflight_last = 0;
        s->next_seq = 1;
        return spool_reader_cursor_restart(s);
}

int spool_refresh(Spool *s) {
        _cleanup_free_ uint64_t *bases = NULL;
        size_t n = 0, j = 0;
        bool reread = false;
        uint64_t prev = 0;
        struct stat st;
        int r;

        assert(s);
        if (!s->reader)
                return -EINVAL;
        if (stat(s->dir, &st) >= 0 && (st.st_dev != s->dir_dev || st.st_ino != s->dir_ino)) {
                r = spool_reader_replaced(s);
                if (r < 0)
                        return r;
        }
        /* The mark first: every record up to it is then complete in the files. */
        r = spool_reader_read_committed(s);
        if (r < 0)
                return r;
        r = spool_reader_list(s, &bases, &n);
        if (r < 0)
                return r;

        /* Merge what is there with what we know: both sorted by base. */
        for (size_t i = 0; i < s->n_segs;) {
                while (j < n && bases[j] < s->segs[i]->base)
                        j++;
                if (j < n && bases[j] == s->segs[i]->base) {
                        i++;
                        j++;
                } else
                        spool_reader_remove_at(s, i); /* retired by mamorid */
        }
        for (size_t k = 0, i = 0; k < n; k++) {
                while (i < s->n_segs && s->segs[i]->base < bases[k])
                        i++;
                if (i < s->n_segs && s->segs[i]->base == bases[k])
                        continue;
                Segment **nsegs = reallocarray(s->segs, s->n_segs + 1, sizeof *nsegs);
                Segment *g = calloc(1, sizeof *g);
                if (nsegs)
                        s->segs = nsegs;
                if (!nsegs || !g) {
                        free(g);
                        return -ENOMEM;
                }
                g->base = bases[k];
                g->fd = -EBADF;
                memmove(s->segs + i + 1, s->segs + i, (s->n_segs - i) * sizeof *s->segs);
                s->segs[i] = g;
                s->n_segs++;
        }

        for (size_t i = 0; i < s->n_segs;) {
                Segment *g = s->segs[i];
                bool last = i + 1 == s->n_segs;

                if (g->spent) {
                        i++;
                        continue;
                }
                bool fresh = g->fd < 0;
                r = fresh ? spool_reader_open_segment(s, g) : spool_reader_check_segment(s, g);
                if (r == 0 && g->fd < 0)
                        r = -ENOENT;
                if (r == -ENOENT) {
                        spool_reader_remove_at(s, i);
                        continue;
                }
                if (r < 0)
                        return r;
                reread = reread || (!fresh && r > 0);
                r = spool_reader_scan(s, g, last, prev, last ? UINT64_MAX : s->segs[i + 1]->base - 1);
                if (r < 0)
                        return r;
                if (g->n > 0)
                        prev = g->recs[g->n - 1].seq;
                i++;
        }
        if (reread) {
                r = spool_reader_reapply_tombstones(s);
                if (r < 0)
                        return r;
        }
        s->next_seq = MAX(MAX(prev, s->acked), s->next_seq - 1) + 1;
        spool_reader_forget(s);
        return s->n_live > 0;
}

/* The reader's own cursor: as stored, or (made now) where mamorid's says. */
static int spool_reader_cursor_open(Spool *s) {
        struct stat st;
        bool made = false;
        int r;

        s->cursor_fd = open(s->cursor_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (s->cursor_fd < 0 && errno == ENOENT) {
                s->cursor_fd = open(s->cursor_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
                made = s->cursor_fd >= 0;
        }
        if (s->cursor_fd < 0)
                return log_error_errno(errno, "Cannot open the uplink's cursor %s: %m", s->cursor_path);
        if (fstat(s->cursor_fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return log_error_errno(-EBADFD, "%s is not a regular file.", s->cursor_path);
        if (made && (st.st_mode & 07777) != 0644)
                (void) fchmod(s->cursor_fd, 0644);

        r = spool_cursor_read_fd(s->cursor_fd, &s->cursor_gen, &s->acked);
        if (r >= 0 && s->acked > SPOOL_SEQ_FLOOR_MAX) {
                spool_add_finding(s, &(SpoolFinding){ .kind = SPOOL_DAMAGE_SEQ_RANGE,
                                                      .file = "uplink cursor",
                                                      .bad_seq = s->acked,
                                                      .lost_first = 1,
                                                      .lost_last = 0 });
                r = -ERANGE;
        }
        if (r >= 0)
                return spool_cursor_check_gen(s);
        if (r != -EBADMSG && r != -ERANGE)
                return log_error_errno(r, "Cannot read the uplink's cursor %s: %m", s->cursor_path);
        if (r == -EBADMSG && st.st_size > 0) {
                log_warning("The uplink's cursor %s cannot be read: starting from mamorid's.", s->cursor_path);
                spool_add_finding(s, &(SpoolFinding){ .kind = SPOOL_DAMAGE_CURSOR,
                                                      .file = "uplink cursor",
                                                      .bytes = (uint64_t) st.st_size,
                                                      .lost_first = 1,
                                                      .lost_last = 0 });
        }

        r = spool_reader_cursor_restart(s);
        if (r < 0)
                return r;
        if (made && s->sync) {
                /* its directory entry, durable with it */
                _cleanup_free_ char *parent = strdup(s->cursor_path);
                char *slash = parent ? strrchr(parent, '/') : NULL;
                _cleanup_close_ int dfd = -EBADF;
                if (slash)
                        *(slash == parent ? slash + 1 : slash) = 0;
                dfd = open(slash ? parent : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd >= 0)
                        (void) fsync(dfd);
        }
        return 0;
}

/* None yet (or none that fits this spool): start where mamorid's cursor says
 * everything was delivered (the one-process version kept only that one). */
static int spool_reader_cursor_restart(Spool *s) {
        uint64_t gen = 0, acked = 0;
        struct stat st;
        int r;
        _cleanup_close_ int fd = openat(s->dir_fd, "cursor", READER_OPEN_FLAGS);
        if (fd >= 0 && fstat(fd, &st) >= 0 && S_ISREG(st.st_mode) && spool_cursor_read_fd(fd, &gen, &acked) >= 0 &&
            acked <= SPOOL_SEQ_FLOOR_MAX)
                s->acked = acked;
        else
                s->acked = 0;
        s->cursor_gen = 0;
        if (ftruncate(s->cursor_fd, 0) < 0)
                return negative_errno();
        r = spool_cursor_store(s, s->acked, true);
        if (r < 0)
                return log_error_errno(r, "Cannot write the uplink's cursor %s: %m", s->cursor_path);
        return 0;
}

int spool_open_reader(const char *dir, const char *cursor_path, const SpoolReaderOptions *opt, Spool **ret) {
        _cleanup_(spool_freep) Spool *s = NULL;
        int r;

        assert(dir);
        assert(cursor_path);
        assert(ret);
        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->dir_fd = s->cursor_fd = s->committed_fd = -EBADF;
        s->reader = true;
        s->sync = !(opt && opt->no_sync);
        s->next_seq = 1;
        spool_set_max_bytes(s, 0);
        s->dir = strdup(dir);
        s->cursor_path = strdup(cursor_path);
        if (!s->dir || !s->cursor_path)
                return -ENOMEM;
        s->dir_fd = spool_reader_open_dir(s);
        if (s->dir_fd < 0)
                return s->dir_fd;
        r = spool_reader_cursor_open(s);
        if (r < 0)
                return r;
        r = spool_refresh(s);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}
