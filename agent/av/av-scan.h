/* SPDX-License-Identifier: MIT */
#pragma once

/* Media from outside are scanned when mounted (対策基準 第7-3ア, issue 15
 * item 3). mamorid watches its mount table (/proc/self/mountinfo; the unit's
 * PrivateMounts= namespace is a slave of the host's, so the host's later
 * mounts show up in it); a new mount of a removable device (av-media.c: usb,
 * mmc, optical, firewire) is handed to clamd as "zCONTSCAN <mount point>" on
 * clamd's AF_UNIX socket, so clamd reads the files with its own rights.
 * The socket is an sd-event io source, a timer bounds the scan, the reply is
 * bounded in bytes and lines; the result is media.scanned, and each finding
 * also goes the way of av.detection (the hook). */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "event-sink.h"
#include "json.h"
#include "macro.h"
#include "policy.h"

/* One line of clamd's reply is at most this long (PATH_MAX and a name). */
#define AV_SCAN_LINE_MAX 8192
/* All of one scan's reply; past it the scan is cut short (reply_too_large). */
#define AV_SCAN_REPLY_MAX (4u << 20)
/* Findings named in media.scanned; the rest are counted. */
#define AV_SCAN_FINDINGS_MAX 16
/* Scans at once (one per mount; more mounts wait in a queue of this size). */
#define AV_SCAN_QUEUE_MAX 8

typedef enum AvScanReplyKind {
        AV_SCAN_REPLY_OK,    /* "<path>: OK" */
        AV_SCAN_REPLY_FOUND, /* "<path>: <signature> FOUND" */
        AV_SCAN_REPLY_ERROR, /* "<text> ERROR" (a file clamd could not read, or the command) */
} AvScanReplyKind;

typedef struct AvScanReply {
        AvScanReplyKind kind;
        char *path;      /* sanitized; OK and FOUND only */
        char *signature; /* sanitized; FOUND only */
        char *message;   /* sanitized; ERROR only: the whole line */
        char *raw_path;  /* FOUND only: the bytes clamd sent (for the mount lookup) */
} AvScanReply;

void av_scan_reply_done(AvScanReply *r);

/* One reply line of clamd (without its NUL or newline terminator; hostile:
 * any bytes). 0 and *ret, -EBADMSG for a line that is none of the three
 * forms (empty, a NUL inside, too long, no path or no signature), -ENOMEM. */
int av_scan_parse_reply(const char *line, size_t len, AvScanReply *ret);

typedef struct AvScan AvScan;

typedef struct AvScanHooks {
        /* A finding of a scan, after media.scanned's data was taken: the
         * caller makes it an av.detection (engine, signature, raw path). */
        void (*on_finding)(void *userdata, const char *signature, const char *raw_path, const char *mount_point,
                           dev_t dev, const char *bus);
        void *userdata;
} AvScanHooks;

/* The mount table is /proc/self/mountinfo unless MAMORI_MOUNTINFO names
 * another file (tests); which device is removable is read from /sys
 * (av_detect_bus_of_block()). */
int av_scan_new(sd_event *event, const EventEmitter *emit, const AvScanHooks *hooks, AvScan **ret);
AvScan *av_scan_free(AvScan *s);
DEFINE_POINTER_CLEANUP(AvScan, av_scan_free);

/* antivirus.scan (a reference to p is taken); starts or stops the watch. */
void av_scan_set_policy(AvScan *s, Policy *p);
/* "media_scans": {"count", "running", "last": {...}} for mamorictl status. */
void av_scan_status(const AvScan *s, JsonWriter *w);
