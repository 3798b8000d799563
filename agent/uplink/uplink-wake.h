/* SPDX-License-Identifier: MIT */
#pragma once

/* What wakes mamori-uplink, and nothing else does (idle = no timer, no wakeup):
 *
 * - inotify on mamorid's spool directory (a segment written, created,
 *   retired; the `committed` mark moved): `spool_changed`, once per batch of
 *   inotify events read;
 * - the control datagram socket <runtime dir>/control (SOCK_DGRAM): `flush`,
 *   when the datagram "flush" comes from uid 0 or from our own uid (its
 *   SCM_CREDENTIALS); anything else is logged at debug level and ignored. */

#include <stdbool.h>
#include <sys/inotify.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "macro.h"

/* Unlike DESIGN-11.md's mask, IN_ATTRIB too: a chmod or chgrp that makes the
 * spool readable again is the change an unreadable spool waits for. */
#define UPLINK_WAKE_SPOOL_MASK \
        (IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

/* The longest datagram read; a longer one is cut and ignored. */
#define UPLINK_WAKE_DATAGRAM_MAX 64u

typedef struct UplinkWake UplinkWake;

typedef struct UplinkWakeHandlers {
        void (*spool_changed)(void *userdata);
        void (*flush)(void *userdata);
} UplinkWakeHandlers;

int uplink_wake_new(sd_event *e, const UplinkWakeHandlers *h, void *userdata, UplinkWake **ret);
UplinkWake *uplink_wake_free(UplinkWake *w);
DEFINE_POINTER_CLEANUP(UplinkWake, uplink_wake_free);

/* Watches dir (again: after SIGHUP, or when it was moved or removed). 0, or a
 * negative errno (logged): then only SIGHUP tries again. */
int uplink_wake_watch_spool(UplinkWake *w, const char *dir);
bool uplink_wake_watching(const UplinkWake *w);

/* Binds the datagram socket at path (a stale socket there is replaced). */
int uplink_wake_listen(UplinkWake *w, const char *path);

/* Whether a datagram from uid, read as text of len bytes, is a flush we obey. Pure. */
bool uplink_wake_is_flush(const char *text, size_t len, uid_t sender, uid_t self);
