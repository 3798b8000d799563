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

typedef struct Uplink Uplink;

typedef enum UplinkState {
        UPLINK_OFF,     /* no collector.url, or it cannot be used (see last_error) */
        UPLINK_IDLE,    /* nothing to send */
        UPLINK_SENDING, /* a request is out */
        UPLINK_WAITING, /* backing off after a failure */
        _UPLINK_STATE_MAX,
} UplinkState;

const char *uplink_state_to_string(UplinkState s);

typedef struct UplinkStatus {
        UplinkState state;
        const char *url;          /* NULL: not configured */
        usec_t last_success;      /* CLOCK_REALTIME of the last 2xx; 0: none since start */
        usec_t last_attempt;      /* CLOCK_REALTIME */
        usec_t next_attempt;      /* CLOCK_REALTIME, while waiting; 0 otherwise */
        unsigned failures;        /* in a row */
        long last_status;         /* HTTP status of the last answer; 0: none */
        const char *last_error;   /* NULL after a success */
        uint64_t events_sent, batches_sent;
        uint64_t batches_rejected, events_rejected; /* moved to the dead-letter directory */
        uint64_t bytes_sent;
} UplinkStatus;

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
