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
 *     STATE=off|idle|sending|waiting|refused
 *     URL=https://collector.example/v1/events      (absent: not configured)
 *     LAST_SUCCESS= LAST_ATTEMPT= NEXT_ATTEMPT=     (usec; 0 or absent: none)
 *     FAILURES= LAST_STATUS=
 *     LAST_ERROR=<text>                 (absent after a success)
 *     EVENTS_SENT= BATCHES_SENT= BATCHES_REJECTED= EVENTS_REJECTED= BYTES_SENT=
 *     ACKED_SEQ=
 *     DEAD_LETTER_COUNT= DEAD_LETTER_BYTES=   (batches and bytes kept in the
 *                                       dead-letter and resend directories)
 *     REFUSED_STATUS=401                (these three with STATE=refused only, and
 *     REFUSED_SINCE=2026-12-04T01:00:00.000000Z     always all three: the collector
 *     REFUSED_ANSWER=<text>             refuses us, issue 16)
 *
 * URL, LAST_ERROR and REFUSED_ANSWER are escaped: \\ \n \t \xHH. Numbers are plain decimal
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
#define UPLINK_STATUS_ANSWER_MAX 512U        /* bytes of REFUSED_ANSWER, unescaped */

typedef enum UplinkState {
        UPLINK_OFF,     /* no collector.url, or it cannot be used (see last_error) */
        UPLINK_IDLE,    /* nothing to send */
        UPLINK_SENDING, /* a request is out */
        UPLINK_WAITING, /* backing off after a failure */
        UPLINK_REFUSED, /* the collector refuses us (a 4xx of the "refused" class: a token,
                         * a certificate, a path to fix): batches wait, backing off */
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
        /* state == UPLINK_REFUSED only (0 and NULL otherwise): */
        long refused_status;  /* the HTTP status, 400..499 */
        usec_t refused_since; /* CLOCK_REALTIME of the first answer of this status in a row; never 0 */
        char *refused_answer; /* the collector's answer: at most UPLINK_STATUS_ANSWER_MAX bytes of UTF-8
                               * without any control character (not even \n, \t); "" when it said nothing */
} UplinkStatus;

/* The file's text, newly allocated (NUL-terminated; *ret_len without the NUL).
 * The strings are only read: a writer may point url and last_error at its own.
 * -EINVAL when the status cannot be read back by uplink_status_parse(): pid not
 * positive, state out of the enum, last_status out of 0..999, a string over
 * UPLINK_STATUS_TEXT_MAX bytes, not UTF-8, or with a control character other
 * than \n and \t; state refused without a refused_status in 400..499, a
 * refused_since or a valid refused_answer (see above). The refused members
 * are written for state refused only. -ENOMEM. */
int uplink_status_format(const UplinkStatus *s, char **ret, size_t *ret_len);

/* Parses the file's bytes (need not be NUL-terminated) into *ret, whose
 * strings are then owned (uplink_status_done()). Strict: every line ends in
 * \n; comments (#) and empty lines are skipped; a key repeated, a line without
 * '=', a bad number, state, escape, string (see uplink_status_format()) or a
 * NUL byte is -EBADMSG, and so is a file without PID, UPDATED or STATE, a
 * STATE=refused without all of REFUSED_STATUS, REFUSED_SINCE (RFC 3339) and
 * REFUSED_ANSWER, or a REFUSED_* key with another state.
 * Unknown keys are ignored. -EFBIG over UPLINK_STATUS_FILE_MAX bytes. -ENOMEM.
 * On error *ret is left untouched. */
int uplink_status_parse(const char *buf, size_t len, UplinkStatus *ret);

/* What a refused status (a 4xx the agent keeps its batches for: issue 16)
 * usually means, one English sentence for the admin: 401 a token rotated on
 * the collector, 403 a client certificate not enrolled or revoked, ... Never
 * NULL. */
const char *uplink_refused_meaning(long status);

/* Frees the strings of a parsed status and zeroes it. */
void uplink_status_done(UplinkStatus *s);
