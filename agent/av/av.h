/* SPDX-License-Identifier: MIT */
#pragma once

/* Antivirus pattern age (対策基準 第7-2イ). A pattern source (one per engine:
 * av-clamav.c, av-generic.c) tells when the pattern in use was built; the
 * monitor judges it against antivirus.max_age_hours and records a change of
 * state: av.pattern_stale, av.pattern_ok after a recovery, av.missing. It
 * re-checks when a source sees a change (inotify) and at the one moment the
 * judgement changes by itself (a timer at build time + max age): no polling.
 * av-units.c checks that the configured units are active (av.engine_inactive). */

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "event-sink.h"
#include "json.h"
#include "macro.h"
#include "policy.h"
#include "posture.h"
#include "sysbus.h"
#include "timeutil.h"

typedef struct AvMonitor AvMonitor;
typedef struct AvSource AvSource;
typedef struct AvUnits AvUnits;

typedef enum AvState {
        AV_STATE_UNKNOWN, /* not read yet */
        AV_STATE_OK,
        AV_STATE_STALE,   /* older than max_age_hours */
        AV_STATE_FUTURE,  /* dated more than an hour ahead: the clock or the file is wrong */
        AV_STATE_MISSING, /* no database, no engine, or nothing readable */
        _AV_STATE_MAX,
} AvState;

/* libclamav warns from one hour ahead; so do we. */
#define AV_FUTURE_TOLERANCE (3600 * USEC_PER_SEC)

/* What a source read. Strings are sanitized by the source. */
typedef struct AvReading {
        bool found;      /* a pattern date was read */
        usec_t built_at; /* CLOCK_REALTIME */
        char *version;   /* may be NULL */
        char *file;      /* where it came from (a file, or the command) */
        char *reason;    /* !found: no_database, invalid_header, command_failed, ... */
        char *detail;    /* one line for people, e.g. the error */
        char *extra;     /* "{...}": members added to the event's "antivirus" object, or NULL */
} AvReading;

void av_reading_done(AvReading *r);

/* Pure: the state of a reading at now, and when it changes by time alone
 * (USEC_INFINITY if never). */
AvState av_judge(const AvReading *r, usec_t now, usec_t max_age, usec_t *ret_next_change);
const char *av_state_to_string(AvState s);

/* ---- the source interface ---- */

typedef struct AvSourceOps {
        const char *engine;
        /* Set up watches and make a first reading (now or later, through av_source_report). */
        int (*start)(AvSource *s);
        /* Read again: the monitor's timer says the state may have changed. */
        int (*refresh)(AvSource *s);
        void (*stop)(AvSource *s);
} AvSourceOps;

struct AvSource {
        const AvSourceOps *ops;
        AvMonitor *monitor;
        sd_event *event;
        const AvPolicy *policy; /* valid while the source runs */
        void *data;             /* the engine's */
        /* Another judge of the readings than the monitor (the full scan's,
         * av-fullscan.c); NULL: the monitor's. */
        void (*report)(AvSource *s, const AvReading *r);
        AvState (*state)(AvSource *s);
        void *owner;
};

extern const AvSourceOps av_clamav_ops;
extern const AvSourceOps av_generic_ops;
/* antivirus.full_scan.unit: its last success in the journal (av-journal.c). */
extern const AvSourceOps av_journal_ops;

/* Sources hand their readings here (ownership of r's strings stays with the caller). */
void av_source_report(AvSource *s, const AvReading *r);
/* The monitor's current judgement, for sources that look more often while it is bad. */
AvState av_source_state(AvSource *s);

/* ---- the monitor ---- */

/* The units are asked of systemd over bus (not taken); events go to emit. */
int av_monitor_new(sd_event *event, SysBus *bus, const EventEmitter *emit, AvMonitor **ret);
AvMonitor *av_monitor_free(AvMonitor *a);
DEFINE_POINTER_CLEANUP(AvMonitor, av_monitor_free);
/* After the first av_monitor_set_policy(). */
int av_monitor_start(AvMonitor *a);
/* The policy in force (a reference is taken): before the start, and after
 * every reload that replaced it. Once started, the source and the units are
 * set up again from it; a state that did not change is not reported again. */
void av_monitor_set_policy(AvMonitor *a, Policy *p);

AvState av_monitor_state(AvMonitor *a);
/* For mamorictl status: "antivirus": { ... } members. */
void av_monitor_status(AvMonitor *a, JsonWriter *w);
/* One entry of the status "checks" array: {"name": "antivirus", "state": ok |
 * stale | future | missing | engine_inactive | disabled | unknown, ...}. a may be NULL. */
void av_monitor_write_check(AvMonitor *a, JsonWriter *w);
/* Its part of the posture (agent.posture): engine, pattern, units; a may be NULL.
 * The strings are the monitor's, valid until its next reading. */
void av_monitor_posture(AvMonitor *a, PostureAv *ret);

/* ---- units (av-units.c) ---- */

int av_units_new(sd_event *event, SysBus *bus, const EventEmitter *emit, AvUnits **ret);
AvUnits *av_units_free(AvUnits *u);
DEFINE_POINTER_CLEANUP(AvUnits, av_units_free);
/* (Re)starts watching the units of policy (a reference is taken), the one in force. */
int av_units_start(AvUnits *u, Policy *policy);
/* How many configured units are known not to be active. */
size_t av_units_n_inactive(AvUnits *u);
void av_units_status(AvUnits *u, JsonWriter *w);
/* The units' part of the posture (agent.posture): name and whether active. */
void av_units_posture(AvUnits *u, PostureAv *ret);
