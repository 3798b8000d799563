/* SPDX-License-Identifier: MIT */
#pragma once

/* agent.posture: what this PC enforces, per clause, recorded at start, once a
 * day, and whenever it changed (its stable form's hash differs from the last
 * one recorded). Looked at again within MANAGER_POSTURE_SETTLE of any event,
 * USB change or reload, at each heartbeat, and for `mamorictl inspect`. Part
 * of the Manager (agent/ top): it puts the modules' parts together
 * (usb_enforcer_posture(), lock_enforcer_posture(), av_monitor_posture(), the
 * uplink's status file); common/posture.c builds the object. */

#include "json.h"
#include "posture.h"

typedef struct Manager Manager;

#define MANAGER_POSTURE_SETTLE (2 * USEC_PER_SEC)
#define MANAGER_POSTURE_DAILY (24 * 3600 * USEC_PER_SEC)
/* mamori-uplink not running this soon after our start is "starting", not NG. */
#define MANAGER_POSTURE_UPLINK_GRACE (60 * USEC_PER_SEC)

/* Records the start's posture, then arms a look after MANAGER_POSTURE_SETTLE
 * (once the modules had their first readings) and the daily one. */
int manager_posture_start(Manager *m);
void manager_posture_stop(Manager *m);
/* Something may have changed: look again soon (coalesced). */
void manager_posture_changed(Manager *m);
/* The reply to `inspect`: the posture as of now (recorded first if it
 * changed), with the host and its site labels. */
void manager_posture_inspect(Manager *m, JsonWriter *w);
