/* SPDX-License-Identifier: MIT */
#pragma once

/* FireWire SBP-2 storage (docs/devices-thunderbolt.md, "FireWire"): a unit
 * fwN.M with specifier_id 0x00609e and version 0x010483 is storage, named by
 * its node's GUID (fwN/guid). The bus has no authorized attribute: while the
 * category is blocked its drivers_autoprobe is off and mamorid probes
 * (drivers_probe) what it lets in: units that are not storage (audio, IP over
 * 1394) and allowed disks. A blocked disk bound all the same is unbound from
 * firewire_sbp2. Source: udev events of the firewire subsystem. */

#include <systemd/sd-event.h>

#include "event-sink.h"
#include "macro.h"
#include "policy.h"
#include "posture.h"

typedef struct FirewireEnforcer FirewireEnforcer;

int firewire_enforcer_new(sd_event *event, EventEmitter emitter, FirewireEnforcer **ret);
FirewireEnforcer *firewire_enforcer_free(FirewireEnforcer *f);
DEFINE_POINTER_CLEANUP(FirewireEnforcer, firewire_enforcer_free);

void firewire_enforcer_set_policy(FirewireEnforcer *f, Policy *p);
int firewire_enforcer_start(FirewireEnforcer *f);
/* Every device seen, for `mamorictl devices` (NULL: none). */
void firewire_enforcer_write_devices(FirewireEnforcer *f, JsonWriter *w);
int firewire_enforcer_scan(FirewireEnforcer *f);

/* Whether a FireWire host controller driver is loaded (a DMA risk). */
void firewire_posture(PostureFirewire *ret);
