/* SPDX-License-Identifier: MIT */
#pragma once

/* Recording and delivery, wired to the Manager: every event gets its seq,
 * goes into the spool (agent/report/spool.c), reaches the journal once it is
 * durable, and is delivered by the uplink (agent/report/uplink.c), which netwatch
 * (agent/report/netwatch.c) wakes when the network comes back. Also the reports
 * about the spool itself (drops, damage) and the heartbeat.
 *
 * State directory layout: spool/ (segments and the ack cursor) and
 * dead-letter/ (batches the collector rejected). */

#include <stdbool.h>

#include "event.h"
#include "json.h"
#include "macro.h"
#include "policy.h"
#include "spool.h"
#include "uplink.h"

typedef struct Manager Manager;
typedef struct Reporting Reporting;

/* Opens the spool under m->state_dir; when it cannot be opened, events go to
 * the journal only (enforcement never depends on the disk). */
int reporting_new(Manager *m, Reporting **ret);
/* Commits whatever is queued. */
Reporting *reporting_free(Reporting *r);
DEFINE_POINTER_CLEANUP(Reporting, reporting_free);

/* At start and after every reload: spool bound, collector, heartbeat. */
int reporting_apply(Reporting *r, const Policy *p);

/* Numbers, spools and (once durable) journals one event. Takes ownership.
 * r may be NULL: journal only. */
int reporting_record(Reporting *r, Manager *m, Event *e);

/* Make everything queued durable now: before READY=1, at SIGTERM. */
void reporting_commit(Reporting *r);

/* For mamorictl. */
int reporting_flush(Reporting *r);                /* -ENOTCONN without a collector */
void reporting_status_json(Reporting *r, JsonWriter *w); /* members "spool" and "uplink" */
Spool *reporting_spool(Reporting *r);             /* NULL: journal only */
Uplink *reporting_uplink(Reporting *r);
