/* SPDX-License-Identifier: MIT */
#pragma once

/* Recording and delivery, the first event sink: every event gets its seq,
 * goes into the spool (agent/report/spool.c), reaches the journal once it is
 * durable, and is delivered by the uplink (agent/report/uplink.c), which netwatch
 * (agent/report/netwatch.c) wakes when the network comes back. Also the reports
 * about the spool itself (drops, damage) and the heartbeat.
 *
 * State directory layout: spool/ (segments and the ack cursor) and
 * dead-letter/ (batches the collector rejected). */

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "event-sink.h"
#include "event.h"
#include "json.h"
#include "macro.h"
#include "policy.h"
#include "spool.h"
#include "uplink.h"

typedef struct Reporting Reporting;

typedef struct ReportingOptions {
        sd_event *event;
        const char *state_dir;    /* spool/ and dead-letter/ */
        uint64_t spool_max_bytes; /* the bound while the spool is opened */
        usec_t started_at;        /* CLOCK_MONOTONIC: the heartbeat's uptime */
        EventEmitter emitter;     /* its own events: spool damage, heartbeat */
        EventRenderer renderer;   /* the envelope of every event it records */
        EventSinks *sinks;        /* told of every recorded event (their `recorded`) */
} ReportingOptions;

/* Opens the spool under o->state_dir; when it cannot be opened, events go to
 * the journal only (enforcement never depends on the disk). */
int reporting_new(const ReportingOptions *o, Reporting **ret);
/* Commits whatever is queued. */
Reporting *reporting_free(Reporting *r);
DEFINE_POINTER_CLEANUP(Reporting, reporting_free);

/* The policy in force, at start and after every reload (takes a reference):
 * spool bound, collector, heartbeat. It is in force even when the uplink
 * cannot be configured (the error is logged and returned). */
int reporting_set_policy(Reporting *r, Policy *p);

/* The first sink (event-sink.h): numbers, spools and, once durable, journals
 * every event, then hands it to the sinks' `recorded`. */
EventSink reporting_sink(Reporting *r);

/* Make everything queued durable now: before READY=1, at SIGTERM. */
void reporting_commit(Reporting *r);

/* For mamorictl. */
int reporting_flush(Reporting *r);                       /* -ENOTCONN without a collector */
void reporting_status_json(Reporting *r, JsonWriter *w); /* members "spool" and "uplink" */
Spool *reporting_spool(Reporting *r);                    /* NULL: journal only */
Uplink *reporting_uplink(Reporting *r);
