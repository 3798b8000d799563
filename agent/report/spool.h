/* SPDX-License-Identifier: MIT */
#pragma once

/* The spool: every event, durable before it counts as recorded, until the
 * collector has it.
 *
 * - Records (spool-record.h) are appended to segment files
 *   <dir>/<first seq in hex>.seg. An append only queues the record; the
 *   group commit (one write and one fdatasync for everything queued) runs
 *   once per event-loop iteration, or at once when much is queued. Only then
 *   does the `committed` callback say the events are recorded.
 * - `seq` is contiguous over committed records and never repeats: the next
 *   one comes from the records themselves and from the ack cursor, both
 *   durable. A write that a crash tore was never committed, so its seq was
 *   never shown anywhere and is handed out again; damage to committed bytes
 *   skips past every seq it may have held and says which.
 * - The ack cursor (<dir>/cursor, two checksummed slots written in turn)
 *   holds the highest seq up to which everything was delivered or dropped. A
 *   batch leaves the spool only through spool_ack(), after a 2xx.
 * - Bounded: when the next commit would pass max_bytes, delivered records are
 *   reclaimed first, then the oldest records of the lowest severity are
 *   dropped. The drop is one record with the event that reports it
 *   (a tombstone), so the count is exact and never lost.
 * - A torn or corrupt stretch is found at open (and when a batch is read),
 *   cut off, and reported through the `damaged` callback. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "macro.h"
#include "timeutil.h"

#define SPOOL_DEFAULT_MAX_BYTES (UINT64_C(64) * 1024 * 1024)
#define SPOOL_MIN_MAX_BYTES (UINT64_C(1) * 1024 * 1024)
/* A single event larger than this is refused (it would not be an event). */
#define SPOOL_EVENT_MAX (256u * 1024u)
/* No segment the spool writes is larger (one is started at 4 MiB, and one
 * commit adds at most what may be queued); only this much of a segment file
 * is read at open, so a huge or sparse file cannot exhaust memory. */
#define SPOOL_SEGMENT_MAX (UINT64_C(32) * 1024 * 1024)
/* A seq (cursor, floor, record) read from disk beyond this is not believed:
 * no spool gets there, and appends stay below SPOOL_RECORD_SEQ_MAX. */
#define SPOOL_SEQ_FLOOR_MAX (UINT64_C(1) << 52)
/* Most seq ranges one drop record names; a larger drop takes several records. */
#define SPOOL_DROP_MAX_RANGES 1024u

typedef struct Spool Spool;

typedef struct SpoolOptions {
        uint64_t max_bytes;    /* 0: SPOOL_DEFAULT_MAX_BYTES */
        bool no_sync;          /* unit tests and the fuzzer only: skip fsync */
        uint64_t min_next_seq; /* seqs below this were handed out before (an older format) */
} SpoolOptions;

typedef enum SpoolDamage {
        SPOOL_DAMAGE_TORN,      /* an interrupted write at the end: it was never committed */
        SPOOL_DAMAGE_CORRUPT,   /* committed bytes that no longer check out */
        SPOOL_DAMAGE_CURSOR,    /* the ack cursor could not be read: delivered events may be sent again */
        SPOOL_DAMAGE_SEQ_RANGE, /* a cursor or seq floor beyond the records or any sane seq: not believed */
        SPOOL_DAMAGE_OVERSIZED, /* a segment larger than the spool ever writes: what lies past SPOOL_SEGMENT_MAX is cut */
        SPOOL_DAMAGE_NOT_A_FILE, /* a directory, symlink, FIFO, socket or device where a file of the spool belongs,
                                  * or a spool directory not ours: moved out of the way */
        _SPOOL_DAMAGE_MAX,
} SpoolDamage;

const char *spool_damage_to_string(SpoolDamage d);

typedef struct SpoolFinding {
        SpoolDamage kind;
        char file[40];          /* segment file name */
        uint64_t offset;        /* where the bad stretch starts */
        uint64_t bytes;         /* how long it is */
        uint64_t last_good_seq; /* the last intact record before it; 0: none */
        uint64_t lost_first;    /* seqs that may have been in it; lost_first > lost_last: none */
        uint64_t lost_last;
        bool cut;         /* removed from the file, or the file moved out of the way (else skipped) */
        uint64_t bad_seq; /* SPOOL_DAMAGE_SEQ_RANGE: the seq not believed */
} SpoolFinding;

typedef struct SpoolDrop {
        const char *reason;      /* "spool_full" */
        uint64_t count;          /* events dropped by this record */
        uint64_t by_severity[5]; /* indexed by severity */
        uint64_t first_seq, last_seq;
        usec_t oldest_time, newest_time; /* CLOCK_REALTIME of the events dropped */
        const uint64_t (*ranges)[2];     /* seq ranges, first..last inclusive */
        size_t n_ranges;
        uint64_t max_bytes;
        uint64_t total_dropped; /* since the spool was opened, this drop included */
} SpoolDrop;

typedef struct SpoolCallbacks {
        /* Renders the event that reports a drop: one JSON line carrying `seq`.
         * Called inside a commit; must not call back into the spool. */
        int (*render_drop)(const SpoolDrop *d, uint64_t seq, uint8_t *ret_severity, usec_t *ret_time, char **ret_json,
                           size_t *ret_len, void *userdata);
        /* After every commit: every record up to last_seq is durable, or error < 0. */
        void (*committed)(uint64_t last_seq, int error, void *userdata);
        /* Damage was found; called from the event loop, never from inside a spool call. */
        void (*damaged)(const SpoolFinding *f, void *userdata);
} SpoolCallbacks;

typedef struct SpoolStats {
        uint64_t depth;  /* events recorded (or queued) and not yet delivered */
        uint64_t queued; /* of which not yet durable */
        uint64_t bytes;  /* on disk */
        uint64_t max_bytes;
        uint64_t next_seq;
        uint64_t acked_seq;
        usec_t oldest_unsent; /* CLOCK_REALTIME of the oldest undelivered event; 0: none */
        uint64_t appended;    /* since open */
        uint64_t dropped;     /* since open */
        uint64_t commits;     /* since open */
        uint64_t fsyncs;      /* since open, every fsync/fdatasync the spool made */
        unsigned segments;
} SpoolStats;

typedef struct SpoolBatch {
        char *data; /* NDJSON: one event per line */
        size_t len;
        size_t count;
        uint64_t first_seq, last_seq;
} SpoolBatch;

int spool_open(const char *dir, const SpoolOptions *opt, Spool **ret);
/* Commits whatever is queued, then closes. */
Spool *spool_free(Spool *s);
DEFINE_POINTER_CLEANUP(Spool, spool_free);

void spool_set_callbacks(Spool *s, const SpoolCallbacks *cb, void *userdata);
/* The group commit runs from a defer source of this loop. */
int spool_attach_event(Spool *s, sd_event *e, int64_t priority);
void spool_set_max_bytes(Spool *s, uint64_t max_bytes);

/* The seq the next spool_append() gets. */
uint64_t spool_next_seq(const Spool *s);
/* Queues one event (JSON without newline) under spool_next_seq(). */
int spool_append(Spool *s, const char *json, size_t len, uint8_t severity, usec_t time);
/* Writes and syncs everything queued now. */
int spool_commit(Spool *s);

/* The oldest undelivered events, at most max_events and about max_bytes.
 * -ENODATA when nothing waits. They stay in the spool until spool_ack(). */
int spool_read_batch(Spool *s, size_t max_events, size_t max_bytes, SpoolBatch *ret);
void spool_batch_done(SpoolBatch *b);
/* Everything up to last_seq is delivered: persist the cursor, reclaim space. */
int spool_ack(Spool *s, uint64_t last_seq);
/* The batch read last was not delivered (it will be read again). */
void spool_release(Spool *s);

void spool_get_stats(const Spool *s, SpoolStats *ret);

/* ---- two processes: mamorid writes, mamori-uplink reads ----
 *
 * mamorid writes <dir>/committed (u32 magic "MSK1", u32 pad, u64 seq, u32
 * crc32 of bytes 0..15) after each commit's fdatasync: the uplink reads
 * records only up to that seq, so it never sends one a crash could tear.
 * The uplink keeps its own cursor (same format as <dir>/cursor), which
 * mamorid reads to retire what was delivered. */

/* mamorid: the uplink's cursor file, read now, before each commit and on
 * spool_pull_delivered(). NULL: none (unit tests, journal-only). A value
 * beyond the records, or unreadable, is reported once (SPOOL_DAMAGE_SEQ_RANGE
 * or SPOOL_DAMAGE_CURSOR, file "uplink cursor") and retires nothing. */
int spool_set_delivered_source(Spool *s, const char *cursor_path);
/* Reads it now (heartbeat). 1: acked moved, 0: no change, <0: error (already
 * reported as a finding). */
int spool_pull_delivered(Spool *s);

/* The uplink: the spool directory of another process, read-only. Never
 * writes, repairs, moves or removes anything under dir. Its own cursor lives
 * at cursor_path (created when missing, starting from dir/cursor when that is
 * readable: the upgrade from the one-process version). In this mode
 * spool_append() and spool_commit() return -EROFS, spool_ack() stores the
 * reader's cursor and forgets delivered segments, and damage is skipped and
 * reported (mamorid repairs it at its next open). */
typedef struct SpoolReaderOptions {
        bool no_sync; /* unit tests and the fuzzer only: skip fsync of the cursor */
} SpoolReaderOptions;
int spool_open_reader(const char *dir, const char *cursor_path, const SpoolReaderOptions *opt, Spool **ret);
/* Picks up what mamorid committed since: new bytes, new segments, segments it
 * retired or rewrote, a new `committed` mark. 1: records to send, 0: none,
 * <0: the spool cannot be read (-EACCES...): the caller logs. */
int spool_refresh(Spool *s);
/* The spool directory (to watch with inotify). */
const char *spool_dir(const Spool *s);

/* For tests and tools: calls fn for every undelivered event, oldest first. */
typedef int (*SpoolVisit)(uint64_t seq, const char *json, size_t len, void *userdata);
int spool_foreach(Spool *s, SpoolVisit fn, void *userdata);
