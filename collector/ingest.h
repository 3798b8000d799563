/* SPDX-License-Identifier: MIT */
#pragma once

/* POST /v1/events, the body (issue 12 item 2): a stream of bytes in (as
 * libmicrohttpd hands them), gzip inflated on the fly, split into lines, every
 * bound of DESIGN-12 checked as the bytes come, so that nothing hostile costs
 * more than the bound: the body size, the decompressed size and ratio (a gzip
 * bomb stops at the byte that crosses it), the event count; a line longer than
 * max_line_bytes is kept as a rejected line (its first 4 KiB), not a 413.
 * Then each line goes through event-check into a StoreBatch. No I/O, no
 * logging: the HTTP layer (collector-http.c) answers and logs. */

#include <stdbool.h>
#include <stddef.h>

#include <zlib.h>

#include "collector-config.h"
#include "event-check.h"
#include "store.h"

#define INGEST_RAW_MAX 4096 /* of a rejected line, what is kept */

typedef struct IngestLine {
        size_t off, kept; /* in the arena */
        size_t len;       /* the whole line */
} IngestLine;

typedef struct Ingest {
        CollectorLimits limits;
        bool gzip;
        z_stream z;
        bool z_ready, z_ended;
        size_t body_bytes, out_bytes;
        char *arena;
        size_t arena_len, arena_cap;
        IngestLine *lines;
        size_t n_lines, lines_cap;
        IngestLine cur; /* the line being read */
        bool in_line;
        int status;       /* 0, or the HTTP status the body has earned (400, 413) */
        char reason[160]; /* why, for the answer and the log */
} Ingest;

void ingest_init(Ingest *in, const CollectorLimits *limits, bool gzip);
void ingest_done(Ingest *in);
/* Takes the next bytes of the body. 0 while it is fine; a negative errno once
 * the body has earned a status (in->status, in->reason): the rest is to be
 * discarded. -ENOMEM: out of memory (500). */
int ingest_feed(Ingest *in, const void *data, size_t len);
/* The body is complete. 0, or as ingest_feed(). */
int ingest_finish(Ingest *in);

/* Who sent the batch, for require_name_match: the names of its client
 * certificate (CN and SANs), NULL-terminated; NULL without one. */
typedef struct IngestIdentity {
        bool require_name_match;
        const char *const *cert_names;
} IngestIdentity;

typedef struct IngestBatch {
        CheckedEvent *checked;
        StoreEvent *events;
        size_t n_events;
        StoreRejected *rejected;
        size_t n_rejected;
        char (*reasons)[EVENT_CHECK_REASON_MAX];
        char (*machine_ids)[33];
        size_t n_objects; /* lines that were JSON objects */
} IngestBatch;

/* Checks every line of a finished body. 0, or -ENOMEM. */
int ingest_check(Ingest *in, const IngestIdentity *id, IngestBatch *ret);
void ingest_batch_done(IngestBatch *b);

/* Whether one of names (NULL-terminated) equals machine_id or host_name,
 * ignoring case. */
bool ingest_name_matches(const char *const *names, const char *machine_id, const char *host_name);
