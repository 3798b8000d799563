/* SPDX-License-Identifier: MIT */
#pragma once

/* What the collector concludes (issue 12 item 5): a pure module. Data in
 * (a host's state, an event, the clock), finding changes out; no I/O, no
 * logging. The store calls it inside its transaction and persists both the
 * host state and the changes. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct StoreEvent StoreEvent;

typedef struct FindingsConfig {
        unsigned silent_margin_sec;   /* host.silent after 2 × heartbeat interval + this */
        unsigned stopped_after_sec;   /* host.stopped: agent.stopping and no start within this */
        unsigned gap_grace_sec;       /* a seq gap unexplained for this long: host.gap */
        unsigned late_heartbeat_sec;  /* a heartbeat that arrived this long after its time: host.late */
        char **current_policy_hashes; /* NULL-terminated; empty: no host.policy_drift */
        char *current_agent_version;  /* NULL: no host.outdated */
} FindingsConfig;

#define FINDINGS_MAX_GAPS 64 /* beyond it the oldest are merged: a host is not a memory sink */

typedef struct SeqRange {
        uint64_t first, last; /* inclusive */
        int64_t seen_us;      /* when the collector first saw it missing */
        bool explained;       /* covered by agent.events_dropped / agent.spool_corrupt */
} SeqRange;

/* A host's current state (the hosts table, and its gaps). */
typedef struct HostState {
        char machine_id[33];
        char host_name[256];
        char agent_version[64];
        char policy_hash[65];
        char cert_fingerprint[65];           /* first certificate seen for this machine_id */
        int64_t first_seen_us, last_seen_us; /* arrival (collector clock) */
        int64_t last_event_time_us;          /* the newest event's own time */
        uint64_t max_seq;                    /* highest seq stored */
        uint64_t events;                     /* events stored */
        unsigned heartbeat_interval_sec;     /* from the last agent.heartbeat; 0 = unknown */
        char last_kind[64];                  /* kind of the highest seq */
        bool fail_closed;
        bool silent; /* an open host.silent */
        int64_t silent_since_us;
        bool stopped;         /* an open host.stopped */
        int64_t stopping_us;  /* arrival time of the last agent.stopping, 0 if none pending */
        uint64_t spool_depth; /* from the last heartbeat */
        int64_t due_us;       /* next time findings_on_timer() has work; 0 = none */
        SeqRange gaps[FINDINGS_MAX_GAPS];
        size_t n_gaps;
        /* Memory only, never stored (a loaded host has 0): the now_us of the
         * batch that raised host.late / host.tampered, so that a batch raises
         * each at most once per host, not once per event of it. */
        int64_t late_batch_us, tampered_batch_us;
} HostState;

typedef enum FindingAction {
        FINDING_OPEN,   /* open (or update the open one of this kind and host) */
        FINDING_CLOSE,  /* close the open one of this kind and host */
        FINDING_NOTICE, /* a one-off fact (e.g. host.returned, host.late): open and closed at once */
} FindingAction;

#define FINDING_DETAIL_MAX 2048

typedef struct FindingChange {
        FindingAction action;
        const char *kind;     /* "host.silent", "host.returned", "host.stopped", "host.gap",
                               * "host.tampered", "host.policy_drift", "host.fail_closed",
                               * "host.outdated", "host.late", "host.new_certificate" */
        const char *severity; /* info … critical */
        int64_t first_us, last_us;
        char detail[FINDING_DETAIL_MAX]; /* a JSON object, e.g. {"missing":[[5,9]]} */
        char message[512];               /* one line for people, English */
} FindingChange;

#define FINDINGS_MAX_CHANGES 16

typedef struct FindingList {
        FindingChange changes[FINDINGS_MAX_CHANGES];
        size_t n;
} FindingList;

/* A stored finding (findings table), for the CLI, the export and the console. */
typedef struct FindingRow {
        int64_t id;
        char machine_id[33];
        char host_name[256];
        char kind[64];
        char severity[16];
        char state[16]; /* open, acknowledged, resolved, closed */
        int64_t first_us, last_us, closed_us;
        uint64_t count;
        const char *detail; /* JSON */
        const char *message;
} FindingRow;

/* A new event of host h (h is updated). dup_conflict: its id was stored
 * before with other content. cert_fingerprint: the batch's (NULL without mTLS). */
void findings_on_event(const FindingsConfig *c, HostState *h, const StoreEvent *e, bool dup_conflict,
                       const char *cert_fingerprint, int64_t now_us, FindingList *out);

/* The timer (h->due_us <= now_us): silence, a stop without start, gaps past their grace. */
void findings_on_timer(const FindingsConfig *c, HostState *h, int64_t now_us, FindingList *out);

/* The collector.* event for a change (same envelope as docs/events.md:
 * id, seq 0, time, kind "collector.<finding kind>", severity, host, agent
 * {name "mamori-collector"}, message, finding {...}). Writes a NUL-terminated
 * JSON line into buf; returns its length or -ENOBUFS. */
int findings_event_json(const FindingChange *f, const HostState *h, const char *event_id, int64_t now_us, char *buf,
                        size_t size);
