/* SPDX-License-Identifier: MIT */
#pragma once

/* The quarantine's pure parts (issue 15, docs/quarantine.md): the events it
 * records and mamori-netguard's status file read back. Data in, an Event or
 * a NetguardStatus out; nothing is opened here. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "event.h"
#include "quarantine-state.h"

/* The reason an admin gives (mamorictl quarantine ... --reason): one line of
 * clean text (UTF-8, no control or hidden characters), 1 to this many bytes. */
#define QUARANTINE_ADMIN_REASON_MAX 200

/* Whether s is acceptable as an admin's reason. */
bool quarantine_reason_ok(const char *s);

/* The trigger written into the state file's reason line (printable ASCII):
 * "av.detection <event id>" or "manual". */
int quarantine_state_reason(const char *trigger, const char *cause_event_id, char *buf, size_t size);

/* net.quarantined: trigger is "av.detection" or "manual"; admin_reason (the
 * text given by hand) and cause_event_id may be NULL; uid < 0: not by hand. */
Event *quarantine_event_engaged(const QuarantineState *s, const char *trigger, const char *cause_event_id,
                                const char *admin_reason, int64_t uid, int64_t login_uid);
/* net.quarantine_released: by whom (uid, login uid: -1 unknown), why, and
 * since when the PC was cut off. */
Event *quarantine_event_released(const QuarantineState *was, const char *admin_reason, int64_t uid, int64_t login_uid);
/* net.quarantine_tampered: what is "rules_repaired" (count: how many times
 * netguard put its rules back since last told, total: since it started) or
 * "netguard_stopped" (count and total 0). */
Event *quarantine_event_tampered(const char *what, uint64_t count, uint64_t total);

/* /run/mamori-netguard/status, one "key value" a line (agent/netguard/main.c).
 * Unknown keys are skipped (a newer netguard); a bad value of a known key,
 * a NUL byte or more than NETGUARD_STATUS_MAX bytes refuse the file. */
#define NETGUARD_STATUS_MAX 4096
typedef struct NetguardStatus {
        bool active;
        uint64_t rules, tampered, killed, state_errors;
        char kill[16]; /* ok, unsupported, failed; "" unknown */
} NetguardStatus;

int netguard_status_parse(const char *data, size_t len, NetguardStatus *ret);
