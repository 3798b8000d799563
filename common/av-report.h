/* SPDX-License-Identifier: MIT */
#pragma once

/* A detection report of an antivirus engine (issue 15 item 1), as one
 * message on mamorid's report socket (docs/lock-and-antivirus.md,
 * "Detections"). The protocol, one message per datagram, at most
 * AV_REPORT_MAX bytes, UTF-8 or not:
 *
 *     mamori-av-report 1\n
 *     engine=clamav\n
 *     signature=Eicar-Test-Signature\n
 *     path=/home/taro/eicar.com\n
 *
 * The first line names the protocol; then engine and signature (required)
 * and path (optional), each once, in any order, each line ending in \n. A
 * value is bytes; a byte below 0x20, 0x7f and '%' are written as %XX (upper
 * or lower case hex), so that a file name with a newline cannot add a line.
 * Anything else (an unknown key, a key twice, a bad escape, a NUL, a missing
 * final newline) refuses the whole report.
 *
 * Pure: bytes in, a report or a negative errno and a reason out. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "timeutil.h"

#define AV_REPORT_MAX 8192 /* bytes of one message */
#define AV_REPORT_MAGIC "mamori-av-report 1"
#define AV_REPORT_ENGINE_MAX 32     /* [a-z0-9_.-], what av_report_engine_ok() takes */
#define AV_REPORT_SIGNATURE_MAX 256 /* bytes of the decoded name */
#define AV_REPORT_PATH_MAX 4096     /* bytes of the decoded path (PATH_MAX) */

typedef struct AvReport {
        char *engine;    /* checked: [a-z0-9_.-]{1,32} */
        char *signature; /* sanitized (common/text.h) */
        char *path;      /* sanitized for people; NULL when not given */
        char *raw_path;  /* the decoded bytes, NUL-free, absolute; NULL when not given */
        bool path_truncated;
} AvReport;

void av_report_done(AvReport *r);

/* 0 and *ret filled, or -EBADMSG / -EMSGSIZE / -ENOMEM with *ret_reason (a
 * static word: bad_magic, bad_line, unknown_key, duplicate_key, bad_escape,
 * bad_engine, missing_engine, missing_signature, bad_signature, bad_path,
 * too_long) when it is not a report. */
int av_report_parse(const void *buf, size_t len, AvReport *ret, const char **ret_reason);

bool av_report_engine_ok(const char *s);

/* The message for engine, signature and path (may be NULL); newly allocated,
 * -EMSGSIZE when it would exceed AV_REPORT_MAX, -EINVAL for a bad engine or an
 * empty signature. */
int av_report_format(const char *engine, const char *signature, const char *path, char **ret, size_t *ret_len);

/* A token bucket: burst reports at once, then one every interval. Pure: the
 * caller passes the time (CLOCK_MONOTONIC). */
typedef struct AvReportLimit {
        unsigned burst;
        usec_t interval;
        unsigned tokens;
        usec_t last; /* when tokens were last refilled; 0: never */
} AvReportLimit;

void av_report_limit_init(AvReportLimit *l, unsigned burst, usec_t interval);
/* True when a report may pass now (and takes its token). */
bool av_report_limit_take(AvReportLimit *l, usec_t now);
/* When the next token is due (for a timer after a drop). */
usec_t av_report_limit_next(const AvReportLimit *l);
