/* SPDX-License-Identifier: MIT */
#pragma once

/* The uplink: takes batches from the spool and POSTs them as NDJSON to
 * collector.url over verified TLS, one batch at a time and in seq order, on
 * the event loop (agent/report/curl-event.c): nothing blocks, no thread.
 *
 * - 2xx: the batch leaves the spool (spool_ack) and the next one goes at once.
 * - transport error, timeout, 408, 429, 5xx: the batch stays; exponential
 *   backoff with jitter, or Retry-After when the collector says how long.
 * - 413: the batch is halved and sent again.
 * - any other 4xx: the batch is written to the dead-letter directory with
 *   the status and the answer, acknowledged, and the rest keeps flowing.
 * Without a url nothing is sent: events stay in the spool and the journal. */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "json.h"
#include "macro.h"
#include "policy.h"
#include "spool.h"
#include "timeutil.h"
#include "uplink-status.h"

typedef struct Uplink Uplink;

/* UplinkState and UplinkStatus: common/uplink-status.h (the status file's format). */

/* dead_letter_dir: where rejected batches go; dead_letter_max: its bound in bytes. */
int uplink_new(sd_event *e, Spool *spool, const char *dead_letter_dir, Uplink **ret);
Uplink *uplink_free(Uplink *u);
DEFINE_POINTER_CLEANUP(Uplink, uplink_free);

/* Applies collector settings (at start and on reload). */
int uplink_configure(Uplink *u, const CollectorSettings *c, uint64_t dead_letter_max);

/* New events are durable: send them when nothing is out. */
void uplink_kick(Uplink *u);
/* mamorictl flush: try now, even in the middle of a backoff. -ENOTCONN without a url. */
int uplink_flush(Uplink *u);
/* netwatch: a carrier or a default route appeared; retry now unless the
 * collector itself asked us to wait (Retry-After). */
void uplink_network_up(Uplink *u, const char *why);

void uplink_get_status(const Uplink *u, UplinkStatus *ret);
/* The status as JSON members of the object being written (heartbeat, mamorictl). */
void uplink_status_json(const Uplink *u, JsonWriter *w);
