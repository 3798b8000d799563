/* SPDX-License-Identifier: MIT */
#pragma once

/* Optical drives (issue 14 item 3), on any transport (SATA, USB, SCSI): the
 * sr block devices and their sg nodes. Two levels, from devices.block:
 *
 *   optical-write  the drive stays usable for reading; nobody but root may
 *                  open its nodes for writing (group and other lose w, and
 *                  so do the named entries of systemd's uaccess ACL). The
 *                  kernel lets a read-only opener of sr or sg send only the
 *                  read-safe SCSI commands (scsi_cmd_allowed()), so no
 *                  WRITE, BLANK, SEND CUE SHEET ... reaches the drive.
 *   optical        the drive is unbound from sr (no block device at all)
 *                  and its sg node is root's alone (0600, no ACL).
 *
 * An allow entry `bus = "optical"; serial = "<ID_SERIAL>";` lifts both.
 * mamorid also writes what udev needs to act before mamorid hears of a new
 * drive (units/71-mamori-optical.rules): <runtime>/optical/block-write,
 * block-drive and allow/<ID_SERIAL>; see docs/devices-optical.md. */

#include <systemd/sd-event.h>

#include "event-sink.h"
#include "json.h"
#include "macro.h"
#include "policy.h"

typedef struct OpticalEnforcer OpticalEnforcer;

int optical_enforcer_new(sd_event *event, const char *runtime_dir, EventEmitter emitter, OpticalEnforcer **ret);
OpticalEnforcer *optical_enforcer_free(OpticalEnforcer *o);
DEFINE_POINTER_CLEANUP(OpticalEnforcer, optical_enforcer_free);

/* At start and after every reload that took: writes udev's decision files
 * and, once started, decides every known drive again (a reload that removes
 * an entry blocks its drive, one that adds an entry allows it). */
void optical_enforcer_set_policy(OpticalEnforcer *o, Policy *p);

/* Listens to the block, scsi_generic and scsi subsystems and decides the
 * drives already present. */
int optical_enforcer_start(OpticalEnforcer *o);

/* mamorictl devices: one object per known drive, {"device": ..., "decision":
 * {action, reason, explanation, level, rule}}, into an open array. */
void optical_enforcer_write_devices(OpticalEnforcer *o, JsonWriter *w);

/* Pure, for tests: clears the write bit of every entry of a POSIX access ACL
 * in its xattr form (system.posix_acl_access) except the owner's. Returns
 * the number of entries changed, or -EINVAL for a malformed ACL. */
int optical_acl_drop_write(void *buf, size_t size);
