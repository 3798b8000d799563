/* SPDX-License-Identifier: MIT */
#pragma once

/* What the files of the spool share (spool.h is the API):
 * - spool.c: the public API (open, append, group commit, read, ack);
 * - spool-segment.c: the segment files: opening, scanning, repairing damage,
 *   rotation, reclaiming space;
 * - spool-bound.c: the size bound, and what is dropped when it is reached;
 * - spool-cursor.c: the ack cursor's two checksummed slots, and the uplink's
 *   cursor that mamorid pulls;
 * - spool-reader.c: the uplink's read-only view of mamorid's spool. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/stat.h>
#include <systemd/sd-event.h>

#include "spool-record.h"
#include "spool.h"

/* Flags of a record in memory. */
#define REC_TOMBSTONE (1u << 0)
#define REC_DROPPED (1u << 1)     /* a durable tombstone names it */
#define REC_DROP_QUEUED (1u << 2) /* named by a tombstone that is not durable yet */
#define REC_LOST (1u << 3)        /* failed verification when read again */
#define REC_GONE (REC_DROPPED | REC_LOST)

/* If commits keep failing, stop queueing (the journal still has the events). */
#define QUEUE_HARD_MAX (8u * 1024u * 1024u)

/* The index of one record. Offline, a full spool holds some 64,000 events and
 * their index stays in memory: 16 bytes each. What is needed rarely (the
 * time) is read from the record's header (spool_rec_time()). */
typedef struct Rec {
        uint64_t seq;
        uint32_t offset;       /* in the segment, or in the queue before the commit */
        uint32_t size : 24;    /* on disk, header included: at most 32 + 1 MiB + 64 KiB */
        uint32_t severity : 3; /* 0..SPOOL_RECORD_MAX_SEVERITY */
        uint32_t flags : 5;
} Rec;

_Static_assert(sizeof(Rec) == 16, "the spool's index costs 16 bytes a record");
_Static_assert(SPOOL_RECORD_HEADER_SIZE + SPOOL_RECORD_MAX_PAYLOAD < (1u << 24), "Rec.size holds any record");
_Static_assert(SPOOL_RECORD_MAX_SEVERITY < 8, "Rec.severity holds any severity");
/* The largest segment the spool writes: started below 4 MiB (seg_size), then
 * one commit of everything queued (QUEUE_HARD_MAX, and the record past it). */
_Static_assert(UINT64_C(4) * 1024 * 1024 + QUEUE_HARD_MAX + 2 * (SPOOL_RECORD_HEADER_SIZE + SPOOL_RECORD_MAX_PAYLOAD) <
                       SPOOL_SEGMENT_MAX,
               "SPOOL_SEGMENT_MAX is above any segment the spool writes");
_Static_assert(SPOOL_SEGMENT_MAX < UINT32_MAX, "Rec.offset holds any offset in a segment");

typedef struct Segment {
        uint64_t base;
        int fd;
        uint64_t size;
        Rec *recs;
        size_t n, cap;
        bool dirty; /* holds damaged bytes that a rewrite would remove */
        /* reader: the inode the fd holds (a rewrite renames another over the
         * name); size is how far the file is indexed. */
        dev_t dev;
        ino_t ino;
        bool spent; /* reader: wholly delivered, fd and index dropped; the file waits for mamorid */
} Segment;

/* What an unreadable uplink cursor looked like when it was reported. */
typedef struct SpoolDeliveredKey {
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime;
        int error;
} SpoolDeliveredKey;

/* Both cursor slots and what lies between them. */
#define SPOOL_CURSOR_FILE_SIZE (512u + 32u)
/* The `committed` mark: "MSK1", pad, the last durable seq, crc32 of 0..15. */
#define SPOOL_COMMITTED_MAGIC UINT32_C(0x314b534d)
#define SPOOL_COMMITTED_SIZE 20u

struct Spool {
        char *dir;
        int dir_fd;
        int cursor_fd;    /* writer: <dir>/cursor; reader: its own cursor */
        int committed_fd; /* writer: <dir>/committed */
        bool sync;
        bool reader; /* the uplink's read-only view */
        gid_t dir_gid;

        /* writer: the uplink's cursor */
        char *delivered_path;
        SpoolDeliveredKey delivered_bad;
        bool delivered_bad_valid;
        uint64_t delivered_bad_seq;
        bool delivered_bad_seq_valid;

        /* reader */
        uint64_t committed; /* what mamorid says is durable */
        char *cursor_path;
        dev_t dir_dev;
        ino_t dir_ino;

        uint64_t max_bytes, seg_size, force_bytes;
        Segment **segs;
        size_t n_segs;
        uint64_t bytes;

        uint64_t next_seq;
        uint64_t acked;
        uint64_t floor; /* a seq that may have been shown: next_seq stays above it */
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
        /* The cursor file holds a seq past the records, not believed: rewritten
         * once a record above it is durable (it is the floor until then), so
         * that an uplink without a cursor of its own never starts from it. */
        bool cursor_disbelieved;

        SpoolFinding *findings;
        size_t n_findings;

        sd_event_source *defer;
        sd_event_source *retry; /* armed only while commits fail */
        SpoolCallbacks cb;
        void *userdata;
        bool in_commit;
};

static inline bool spool_rec_live(const Spool *s, const Rec *r) {
        return r->seq > s->acked && !(r->flags & REC_GONE);
}

/* spool.c */
/* Queued for the damaged callback, which the event loop calls. */
void spool_add_finding(Spool *s, const SpoolFinding *f);
int spool_queue_record(Spool *s, const void *json, size_t len, const void *aux, size_t aux_len, uint8_t severity,
                       usec_t time, uint8_t flags);

/* spool-segment.c */
int spool_sync_fd(Spool *s, int fd);
int spool_sync_dir(Spool *s);
int spool_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
int spool_pread_all(int fd, void *buf, size_t len, uint64_t off);
usec_t spool_rec_time(const Spool *s, const Segment *g, const Rec *m);
void spool_segment_name(char buf[static 40], uint64_t base);
Segment *spool_segment_free(Segment *g);
int spool_segment_reserve(Segment *g, size_t extra);
int spool_open_file(Spool *s, const char *name, int flags);
bool spool_has_records(const Spool *s);
int spool_open_dir(Spool *s);
int spool_segments_load(Spool *s);
int spool_segment_active(Spool *s, Segment **ret);
int spool_reclaim(Spool *s, bool rewrite);
void spool_committed_encode(uint8_t buf[static SPOOL_COMMITTED_SIZE], uint64_t seq);
int spool_committed_decode(const uint8_t *buf, size_t len, uint64_t *ret_seq);
int spool_committed_store(Spool *s, uint64_t seq);

/* spool-cursor.c */
/* The newer of the two slots; -EBADMSG when neither checks out. */
int spool_cursor_parse(const uint8_t *buf, size_t len, uint64_t *ret_gen, uint64_t *ret_acked);
int spool_cursor_read_fd(int fd, uint64_t *ret_gen, uint64_t *ret_acked);
int spool_cursor_check_gen(Spool *s);
int spool_cursor_load(Spool *s);
/* sync false: the uplink's cursor, which mamorid pulls, is the durable record
 * of what was delivered; mamorid's own copy may lag it after a crash. */
int spool_cursor_store(Spool *s, uint64_t acked, bool sync);
/* spool_ack() that leaves the cursor's fsync out (see spool_cursor_store()). */
int spool_ack_lazy(Spool *s, uint64_t last_seq);
int spool_cursor_check(Spool *s, uint64_t top);

/* spool-reader.c */
/* Forgets wholly delivered segments (the reader removes nothing on disk). */
void spool_reader_forget(Spool *s);

/* spool-bound.c */
uint64_t spool_high_water(const Spool *s);
void spool_make_room(Spool *s);
void spool_drop_settle(Spool *s);
