/* SPDX-License-Identifier: MIT */
#pragma once

/* Idle lock (対策基準 第3-2エ). For every active, local, graphical session
 * (x11, wayland, mir) that logind reports idle (IdleHint) for longer than
 * lock.idle_timeout and not locked (LockedHint), call Session.Lock() and
 * check that LockedHint turns true within lock.verify_timeout:
 * lock.enforced when it did, lock.failed when no locker answered.
 * tty and remote sessions follow lock.tty: ignore, report (lock.idle_session)
 * or terminate after the longer tty idle timeout (lock.session_terminated).
 *
 * One timer per idle session, set from IdleSinceHint(Monotonic); nothing runs
 * while nothing changes. At most one Lock() per idle period. */

#include <stdint.h>

#include <systemd/sd-event.h>

#include "event-sink.h"
#include "json.h"
#include "macro.h"
#include "policy.h"
#include "posture.h"
#include "sessions.h"

typedef struct LockEnforcer LockEnforcer;

/* Follows the sessions of the tracker (not taken: free the enforcer first,
 * it listens to the tracker until then) and hands its events to emit.
 * Nothing is enforced before the first lock_enforcer_set_policy(). */
int lock_enforcer_new(sd_event *event, SessionTracker *sessions, const EventEmitter *emit, LockEnforcer **ret);
LockEnforcer *lock_enforcer_free(LockEnforcer *l);
DEFINE_POINTER_CLEANUP(LockEnforcer, lock_enforcer_free);

/* The policy in force (a reference is taken): at start, and after every
 * reload that replaced it; timers then follow the new timeouts. */
void lock_enforcer_set_policy(LockEnforcer *l, Policy *p);

typedef struct LockCounters {
        uint64_t enforced, failed, idle_reported, terminated;
        usec_t last_enforced, last_failed; /* CLOCK_REALTIME of the last of each; 0: none since start */
        size_t watched;                    /* sessions with a timer or a lock under way */
} LockCounters;
LockCounters lock_enforcer_counters(LockEnforcer *l);

/* For mamorictl status: "lock": { ... } members. */
void lock_enforcer_status(LockEnforcer *l, JsonWriter *w);
/* One entry of the status "checks" array: {"name": "lock", "state": ok |
 * not_locked | unavailable, "detail": ..., ...}. l may be NULL. */
void lock_enforcer_write_check(LockEnforcer *l, JsonWriter *w);
/* Its part of the posture (agent.posture); l may be NULL. */
void lock_enforcer_posture(LockEnforcer *l, PostureLock *ret);
