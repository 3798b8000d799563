/* SPDX-License-Identifier: MIT */
#pragma once

/* mamorid's side of the network quarantine (issue 15, docs/quarantine.md).
 * mamorid decides and records; mamori-netguard (its own program, libnl)
 * applies. The two share only files:
 *
 *   <state_dir>/quarantine         written here: root-only, fsync, rename
 *   /run/mamori-netguard/status    read here, through inotify (dirwatch)
 *
 * quarantine_engage() writes the state (active, the allowed destinations of
 * quarantine.allow) and records net.quarantined, which tells the person at
 * the PC (a notice) and the central team; engaging an active quarantine is
 * the same quarantine (nothing new is recorded). quarantine_release() needs
 * an admin's reason and records net.quarantine_released. A rise of
 * netguard's tamper counter, or netguard not running while the quarantine is
 * active, is net.quarantine_tampered. At start the state file is read back:
 * a PC quarantined before a restart or a reboot stays so. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "event-sink.h"
#include "json.h"
#include "macro.h"
#include "policy.h"
#include "quarantine-state.h"

typedef struct Quarantine Quarantine;

#define QUARANTINE_STATE_NAME "quarantine"
#define QUARANTINE_NETGUARD_STATUS_DEFAULT "/run/mamori-netguard/status"

typedef struct QuarantineOptions {
        sd_event *event;
        const char *state_dir;       /* the state file is <state_dir>/quarantine */
        const char *netguard_status; /* NULL: QUARANTINE_NETGUARD_STATUS_DEFAULT */
        EventEmitter emitter;
} QuarantineOptions;

int quarantine_new(const QuarantineOptions *o, Quarantine **ret);
Quarantine *quarantine_free(Quarantine *q);
DEFINE_POINTER_CLEANUP(Quarantine, quarantine_free);

/* The policy in force (takes a reference). An active quarantine's state file
 * is written again when quarantine.allow changed. */
void quarantine_set_policy(Quarantine *q, Policy *p);

/* Engages the quarantine. trigger: "av.detection" or "manual";
 * cause_event_id: the event that caused it (may be NULL); admin_reason, uid,
 * login_uid: for "manual" (NULL / -1 otherwise). 1 when engaged now, 0 when it
 * was active already, or a negative errno (logged). */
int quarantine_engage(Quarantine *q, const char *trigger, const char *cause_event_id, const char *admin_reason,
                      int64_t uid, int64_t login_uid);

/* The hook of av.detection (agent/manager.c calls it for each detection):
 * engages when quarantine.on lists av.detection. Same returns. */
int quarantine_on_detection(Quarantine *q, const char *event_id);

/* Releases it: -EINVAL without a good reason, -EALREADY when not active. */
int quarantine_release(Quarantine *q, const char *admin_reason, int64_t uid, int64_t login_uid);

bool quarantine_is_active(const Quarantine *q);
/* "since" (seconds since the epoch, 0: not active) and the state's reason. */
const QuarantineState *quarantine_state(const Quarantine *q);

/* "quarantine": { active, since, reason, allow, netguard: {...} } for
 * mamorictl status. */
void quarantine_write_status(Quarantine *q, JsonWriter *w);

/* Writes s to path atomically: a temporary file in the same directory
 * (0600), fsync, rename, fsync of the directory. 0 or a negative errno. */
int quarantine_state_write(const char *path, const QuarantineState *s);
