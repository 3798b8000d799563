/* SPDX-License-Identifier: MIT */
#pragma once

/* USB's part of the posture (agent.posture, mamorictl inspect): what the
 * policy blocks, each root hub's defaults as sysfs has them now, and whether
 * the udev rule and the initramfs hook that hold devices back before mamorid
 * runs are in place. Read when the Manager looks at the posture (at start,
 * after a change, daily), never on mamorictl's status path. */

#include <stdbool.h>

#include "policy.h"
#include "posture.h"
#include "usb-enforce.h"

/* root: a directory the installed files are looked for under ("" or NULL:
 * /; the tests give one). The strings set in ret are static or the
 * enforcer's, valid until its next change. u may be NULL. */
void usb_enforcer_posture(UsbEnforcer *u, const Policy *p, bool monitoring, const char *root, PostureUsb *ret);
