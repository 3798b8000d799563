/* SPDX-License-Identifier: MIT */
#pragma once

/* INTERIM (h-uplink): the status file of mamori-uplink, as DESIGN-11.md
 * describes it. Helper "mamorid" owns this module; this copy only formats,
 * and goes at the merge of h-mamorid.
 *
 * Text, one KEY=VALUE per line, read by mamorid (heartbeat, mamorictl status). */

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#include "timeutil.h"

typedef enum UplinkState {
        UPLINK_OFF,     /* no collector.url, or it cannot be used (see last_error) */
        UPLINK_IDLE,    /* nothing to send */
        UPLINK_SENDING, /* a request is out */
        UPLINK_WAITING, /* backing off after a failure */
        _UPLINK_STATE_MAX,
} UplinkState;

const char *uplink_state_to_string(UplinkState s);
int uplink_state_from_string(const char *s);

typedef struct UplinkStatus {
        UplinkState state;
        char *url;           /* NULL: not configured */
        usec_t last_success; /* CLOCK_REALTIME of the last 2xx; 0: none since start */
        usec_t last_attempt; /* CLOCK_REALTIME */
        usec_t next_attempt; /* CLOCK_REALTIME, while waiting; 0 otherwise */
        unsigned failures;   /* in a row */
        long last_status;    /* HTTP status of the last answer; 0: none */
        char *last_error;    /* NULL after a success */
        uint64_t events_sent, batches_sent;
        uint64_t batches_rejected, events_rejected; /* moved to the dead-letter directory */
        uint64_t bytes_sent;
        uint64_t acked_seq;
        pid_t pid;
        usec_t updated; /* CLOCK_REALTIME of the write */
} UplinkStatus;

int uplink_status_format(const UplinkStatus *s, char **ret, size_t *ret_len);
void uplink_status_done(UplinkStatus *s);
