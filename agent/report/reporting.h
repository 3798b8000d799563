/* SPDX-License-Identifier: MIT */
#pragma once

/* Recording, the first event sink: every event gets its seq, goes into the
 * spool (agent/report/spool.c) and reaches the journal once it is durable.
 * Delivery is another program's, mamori-uplink (agent/uplink/), which reads
 * the spool as its own user: mamorid only reads its delivery cursor (through
 * the spool) and its status file, and sends it "flush" (uplink-link.c). Also
 * the reports about the spool itself (drops, damage) and the heartbeat.
 *
 * State directory layout: spool/ (segments, the ack cursor, committed). */

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "event-sink.h"
#include "event.h"
#include "json.h"
#include "macro.h"
#include "policy.h"
#include "spool.h"
#include "uplink-link.h"

typedef struct Reporting Reporting;

typedef struct ReportingOptions {
        sd_event *event;
        const char *state_dir;          /* spool/ */
        const char *uplink_state_dir;   /* mamori-uplink's: its delivery cursor */
        const char *uplink_runtime_dir; /* mamori-uplink's: its status file and control socket */
        uint64_t spool_max_bytes;       /* the bound while the spool is opened */
        usec_t started_at;              /* CLOCK_MONOTONIC: the heartbeat's uptime */
        EventEmitter emitter;           /* its own events: spool damage, heartbeat */
        EventRenderer renderer;         /* the envelope of every event it records */
        EventSinks *sinks;              /* told of every recorded event (their `recorded`) */
} ReportingOptions;

/* Opens the spool under o->state_dir; when it cannot be opened, events go to
 * the journal only (enforcement never depends on the disk). */
int reporting_new(const ReportingOptions *o, Reporting **ret);
/* Commits whatever is queued. */
Reporting *reporting_free(Reporting *r);
DEFINE_POINTER_CLEANUP(Reporting, reporting_free);

/* The policy in force, at start and after every reload (takes a reference):
 * spool bound, heartbeat (the collector's settings are mamori-uplink's). */
int reporting_set_policy(Reporting *r, Policy *p);

/* The first sink (event-sink.h): numbers, spools and, once durable, journals
 * every event, then hands it to the sinks' `recorded`. */
EventSink reporting_sink(Reporting *r);

/* Make everything queued durable now: before READY=1, at SIGTERM. */
void reporting_commit(Reporting *r);

/* For mamorictl. */
/* Commits, then asks mamori-uplink to send now (uplink_link_flush()):
 * -ENOTCONN without a collector.url, the datagram's error otherwise. */
int reporting_flush(Reporting *r);
void reporting_status_json(Reporting *r, JsonWriter *w); /* members "spool" and "uplink" */
Spool *reporting_spool(Reporting *r);                    /* NULL: journal only */
const char *reporting_collector_url(const Reporting *r); /* the policy's; NULL: none */
/* mamori-uplink's status file, for the delivery state of the posture; NULL: none. */
UplinkLink *reporting_uplink_link(Reporting *r);
