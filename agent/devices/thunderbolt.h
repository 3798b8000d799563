/* SPDX-License-Identifier: MIT */
#pragma once

/* Thunderbolt and USB4 devices (docs/devices-thunderbolt.md): a device is
 * let in through /sys/bus/thunderbolt/devices/<d>/authorized, and named by
 * its unique_id. Source: udev events of the thunderbolt subsystem; decision:
 * policy_decide_device(); act: authorized; event: device.*.
 *
 * With boltd (it owns org.freedesktop.bolt on the system bus) mamorid does
 * not authorize: boltd keeps its keys and its own list. mamorid only takes
 * back (writes 0) a device that no entry allows and that is authorized, once
 * per plug: when something authorizes it again, mamorid reports
 * device.block_failed instead of fighting. Without boltd mamorid authorizes
 * the devices an entry allows. */

#include <systemd/sd-event.h>

#include "event-sink.h"
#include "macro.h"
#include "policy.h"
#include "posture.h"

typedef struct ThunderboltEnforcer ThunderboltEnforcer;
typedef struct SysBus SysBus;

/* sysbus may be NULL (boltd is then taken as absent). */
int thunderbolt_enforcer_new(sd_event *event, SysBus *sysbus, EventEmitter emitter, ThunderboltEnforcer **ret);
ThunderboltEnforcer *thunderbolt_enforcer_free(ThunderboltEnforcer *t);
DEFINE_POINTER_CLEANUP(ThunderboltEnforcer, thunderbolt_enforcer_free);

void thunderbolt_enforcer_set_policy(ThunderboltEnforcer *t, Policy *p);
/* Listens, then decides on every device present. */
int thunderbolt_enforcer_start(ThunderboltEnforcer *t);
/* Every present device decided again (a reload). */
/* Every device seen, for `mamorictl devices` (NULL: none). */
void thunderbolt_enforcer_write_devices(ThunderboltEnforcer *t, JsonWriter *w);
int thunderbolt_enforcer_scan(ThunderboltEnforcer *t);

/* The domains' security levels, their DMA protection and boltd. */
void thunderbolt_posture(ThunderboltEnforcer *t, PostureThunderbolt *ret);

/* Whether boltd runs: 1, 0, or negative when the system bus is not there. */
int thunderbolt_boltd_running(SysBus *sysbus);
