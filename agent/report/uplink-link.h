/* SPDX-License-Identifier: MIT */
#pragma once

/* mamorid's side of mamori-uplink, which delivers the spool as its own
 * unprivileged user (issue 11): all mamorid knows of it is its status file
 * (<runtime>/status, common/uplink-status.h), read when a heartbeat or
 * `mamorictl status` needs it, and all it says to it is one datagram, "flush",
 * on <runtime>/control. Its delivery cursor (<state>/cursor) is read by the
 * spool (spool_set_delivered_source()). Nothing here blocks: the status file
 * is on a tmpfs, opened O_NONBLOCK, and the datagram is sent MSG_DONTWAIT. */

#include <stdbool.h>

#include "event.h"
#include "json.h"
#include "macro.h"
#include "uplink-status.h"

typedef struct UplinkLink UplinkLink;

/* What the status file said, read now. */
typedef struct UplinkLinkStatus {
        bool present;        /* the file is there and parses: status holds it */
        bool running;        /* ... and its PID is a live process named mamori-uplink */
        UplinkStatus status; /* zeroed when !present */
        const char *detail;  /* why not running (static text); NULL when running */
} UplinkLinkStatus;

/* state_dir: the uplink's StateDirectory (its cursor); runtime_dir: its
 * RuntimeDirectory (status file, control socket). */
int uplink_link_new(const char *state_dir, const char *runtime_dir, UplinkLink **ret);
UplinkLink *uplink_link_free(UplinkLink *l);
DEFINE_POINTER_CLEANUP(UplinkLink, uplink_link_free);

/* <state>/cursor: the uplink's delivery cursor, for the spool. */
const char *uplink_link_cursor_path(const UplinkLink *l);

/* Reads the status file. Never fails: a missing, unreadable or bad file, or a
 * dead PID, is "not running" (a bad file is logged once per change of it). */
void uplink_link_read(UplinkLink *l, UplinkLinkStatus *ret);
void uplink_link_status_done(UplinkLinkStatus *s);

/* The members of the "uplink" object of the heartbeat and `mamorictl status`
 * (docs/events.md): state ("not-running" when !running), running,
 * status_age_s, url, last_success, ... configured_url: the policy's
 * collector.url, shown while the uplink does not say its own. */
void uplink_link_status_json(const UplinkLinkStatus *s, const char *configured_url, JsonWriter *w);

/* The alarm of issue 16: whether the collector began or stopped refusing
 * this PC since the last call, as the event to record (*ret NULL: no change).
 * Began: the uplink's state is refused with another status or since than the
 * last one told (agent.delivery_refused, once per change, not per retry).
 * Ended: it runs, is idle, sending or waiting, and has had an HTTP answer
 * since it started (agent.delivery_resumed). A missing file, a stopped uplink
 * or state off change nothing: the uplink may restart in between. -ENOMEM. */
int uplink_link_refused_event(UplinkLink *l, const UplinkLinkStatus *s, Event **ret);

/* Asks mamori-uplink to send now (the datagram "flush\n"). 0: it went out;
 * -ENOENT, -ECONNREFUSED: no uplink listens; -EAGAIN: its queue is full;
 * another negative errno otherwise. Never blocks; the caller logs. */
int uplink_link_flush(UplinkLink *l);
