/* SPDX-License-Identifier: MIT */
#pragma once

/* The status file of mamori-uplink (/run/mamori-uplink/status): how delivery
 * state reaches mamorid, which shows it in the heartbeat and `mamorictl
 * status` without linking the uplink. Text, one KEY=VALUE a line, like
 * systemd's /run/systemd/netif/links files:
 *
 *     # written by mamori-uplink; read by mamorid (mamorictl status, heartbeat)
 *     PID=1234
 *     UPDATED=1764800000000000          (CLOCK_REALTIME, usec)
 *     STATE=off|idle|sending|waiting
 *     URL=https://collector.example/v1/events      (absent: not configured)
 *     LAST_SUCCESS= LAST_ATTEMPT= NEXT_ATTEMPT=     (usec; 0 or absent: none)
 *     FAILURES= LAST_STATUS=
 *     LAST_ERROR=<text>                 (absent after a success)
 *     EVENTS_SENT= BATCHES_SENT= BATCHES_REJECTED= EVENTS_REJECTED= BYTES_SENT=
 *     ACKED_SEQ=
 *     DEAD_LETTER_COUNT= DEAD_LETTER_BYTES=   (batches and bytes kept in the
 *                                       dead-letter and resend directories)
 *
 * URL and LAST_ERROR are escaped: \\ \n \t \xHH. Numbers are plain decimal
 * (no sign, no leading zero). The reader is mamorid (root) and the writer an
 * unprivileged user, so the parser is strict and bounded; it ignores unknown
 * keys (a newer uplink may add some). Pure: no I/O, no logging. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "timeutil.h"

#define UPLINK_STATUS_FILE_MAX (16U * 1024U) /* bytes of the whole file */
#define UPLINK_STATUS_TEXT_MAX 2048U         /* bytes of URL and LAST_ERROR, unescaped */

typedef enum UplinkState {
        UPLINK_OFF,     /* no collector.url, or it cannot be used (see last_error) */
        UPLINK_IDLE,    /* nothing to send */
        UPLINK_SENDING, /* a request is out */
        UPLINK_WAITING, /* backing off after a failure */
        _UPLINK_STATE_MAX,
} UplinkState;

/* "off", "idle", ...; "unknown" for a value out of the enum. */
const char *uplink_state_to_string(UplinkState s);
/* The state, or -EINVAL. */
int uplink_state_from_string(const char *s);

typedef struct UplinkStatus {
        pid_t pid;      /* the uplink's process */
        usec_t updated; /* CLOCK_REALTIME when it was written */
        UplinkState state;
        char *url;           /* NULL: not configured */
        usec_t last_success; /* CLOCK_REALTIME of the last 2xx; 0: none since start */
        usec_t last_attempt; /* CLOCK_REALTIME */
        usec_t next_attempt; /* CLOCK_REALTIME, while waiting; 0 otherwise */
        unsigned failures;   /* in a row */
        long last_status;    /* HTTP status of the last answer (0..999); 0: none */
        char *last_error;    /* NULL after a success */
        uint64_t events_sent, batches_sent;
        uint64_t batches_rejected, events_rejected; /* moved to the dead-letter directory */
        uint64_t bytes_sent;
        uint64_t acked_seq;                            /* the uplink's delivery cursor */
        uint64_t dead_letter_count, dead_letter_bytes; /* dead letters kept now (mamorictl dead-letter list) */
} UplinkStatus;

/* The file's text, newly allocated (NUL-terminated; *ret_len without the NUL).
 * The strings are only read: a writer may point url and last_error at its own.
 * -EINVAL when the status cannot be read back by uplink_status_parse(): pid not
 * positive, state out of the enum, last_status out of 0..999, a string over
 * UPLINK_STATUS_TEXT_MAX bytes, not UTF-8, or with a control character other
 * than \n and \t. -ENOMEM. */
int uplink_status_format(const UplinkStatus *s, char **ret, size_t *ret_len);

/* Parses the file's bytes (need not be NUL-terminated) into *ret, whose
 * strings are then owned (uplink_status_done()). Strict: every line ends in
 * \n; comments (#) and empty lines are skipped; a key repeated, a line without
 * '=', a bad number, state, escape, string (see uplink_status_format()) or a
 * NUL byte is -EBADMSG, and so is a file without PID, UPDATED or STATE.
 * Unknown keys are ignored. -EFBIG over UPLINK_STATUS_FILE_MAX bytes. -ENOMEM.
 * On error *ret is left untouched. */
int uplink_status_parse(const char *buf, size_t len, UplinkStatus *ret);

/* Frees the strings of a parsed status and zeroes it. */
void uplink_status_done(UplinkStatus *s);
