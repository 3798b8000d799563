/* SPDX-License-Identifier: MIT */
#pragma once

/* Full scans (対策基準 第7-3エ, issue 15): when the last full scan
 * completed, read by the generic sources of the pattern check (a file's
 * mtime with inotify, or a command's output; av-generic.c) or from the
 * journal (the last success of a service; av-journal.c), and judged against
 * antivirus.full_scan.max_age_days with av_judge(). A change of judgement is
 * an event: av.full_scan_overdue (older, never, or dated ahead),
 * av.full_scan_ok after a recovery. One realtime timer at the moment the
 * scan becomes overdue; nothing else wakes it (but the sources' hourly look
 * while overdue, where nothing tells of a recovery). */

#include <systemd/sd-event.h>

#include "av.h"
#include "event-sink.h"
#include "json.h"
#include "macro.h"
#include "policy.h"
#include "posture.h"

typedef struct AvFullScan AvFullScan;

int av_fullscan_new(sd_event *event, const EventEmitter *emit, AvFullScan **ret);
AvFullScan *av_fullscan_free(AvFullScan *f);
DEFINE_POINTER_CLEANUP(AvFullScan, av_fullscan_free);

/* The policy in force (a reference is taken); (re)starts the source when
 * antivirus.full_scan is set, stops it when not. */
void av_fullscan_set_policy(AvFullScan *f, Policy *p);

/* Reads the source again: a reload that left the policy as it was (an admin
 * who just ran a scan the journal or a command tells of, but nothing wakes us for). */
void av_fullscan_refresh(AvFullScan *f);

AvState av_fullscan_state(const AvFullScan *f);
/* "full_scan": {...} for mamorictl status; nothing when not configured. */
void av_fullscan_status(const AvFullScan *f, JsonWriter *w);
/* Its part of the posture: the date of the last completed full scan. */
void av_fullscan_posture(const AvFullScan *f, PostureAv *ret);
