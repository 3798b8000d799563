/* SPDX-License-Identifier: MIT */
#pragma once

/* Detections (対策基準 第7-3, issue 15 item 1): mamorid's report socket
 * <runtime_dir>/av-report.sock (AF_UNIX, SOCK_DGRAM, one report per
 * datagram, the protocol of common/av-report.h). Only root and the users of
 * antivirus.report_users may report (the kernel's SCM_CREDENTIALS of each
 * datagram); what passes the rate limit (AV_DETECT_BURST at once, then one
 * per AV_DETECT_INTERVAL) becomes av.detection (critical), the rest is
 * counted and told in one av.reports_dropped. A sender that bound an address
 * gets one datagram back: "ok\n" or "refused <reason>\n". */

#include <stdbool.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "event-sink.h"
#include "json.h"
#include "macro.h"
#include "policy.h"
#include "timeutil.h"

#define AV_DETECT_SOCKET_NAME "av-report.sock"
#define AV_DETECT_BURST 20
#define AV_DETECT_INTERVAL (1 * USEC_PER_SEC)
/* The drops of a flood are told once this long after the first. */
#define AV_DETECT_DROP_WINDOW (10 * USEC_PER_SEC)
#define AV_DETECT_USERS_MAX 16

typedef struct AvDetect AvDetect;

/* One detection as it was reported (strings sanitized). */
typedef struct AvDetection {
        usec_t at; /* CLOCK_REALTIME */
        char *engine, *signature, *path;
        uid_t reporter;
        bool removable;
        char *bus;         /* "usb", "mmc", ...; NULL when fixed or not known */
        char *mount_point; /* sanitized; NULL when not known */
        char event_id[37]; /* of its av.detection event: what a response cites */
} AvDetection;

typedef struct AvDetectHooks {
        /* After av.detection was emitted: the response (the quarantine,
         * agent/manager.c) takes its trigger here. */
        void (*on_detection)(void *userdata, const AvDetection *d);
        void *userdata;
} AvDetectHooks;

/* The mount table is /proc/self/mountinfo unless MAMORI_MOUNTINFO names
 * another file (tests; secure_getenv). sysfs is /sys (umockdev's in tests). */
int av_detect_new(sd_event *event, const char *runtime_dir, const EventEmitter *emit, const AvDetectHooks *hooks,
                  AvDetect **ret);
AvDetect *av_detect_free(AvDetect *d);
DEFINE_POINTER_CLEANUP(AvDetect, av_detect_free);

/* Who may report (a reference to p is taken). Looks the users up in the
 * passwd database (files): once per policy, not per report. */
void av_detect_set_policy(AvDetect *d, Policy *p);

/* A detection found by mamorid's own request (a scan of media by clamd,
 * av-scan.c): recorded as a report of root's, through the same rate limit,
 * av.detection and the hook. -EBUSY when over the limit (counted). */
/* The whole of a mountinfo file from fd (read again from its start; at most
 * 8 MiB): av-detect's lookup and av-scan's mount watch share it. */
int av_read_mountinfo_fd(int fd, char **ret, size_t *ret_len);

int av_detect_record_local(AvDetect *d, const char *engine, const char *signature, const char *raw_path);

/* The removable bus ("usb", "mmc", ...) of the block device at the sysfs
 * path (/sys/dev/block/M:m), through device-mapper's and md's slaves/; NULL
 * when fixed or not known. */
const char *av_detect_bus_of_block(const char *syspath);

/* The last detection since the start, or NULL. */
const AvDetection *av_detect_last(const AvDetect *d);
/* "detections": {"count", "refused", "malformed", "dropped", "last": {...}} for mamorictl status. */
void av_detect_status(const AvDetect *d, JsonWriter *w);
