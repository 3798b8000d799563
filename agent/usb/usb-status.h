/* SPDX-License-Identifier: MIT */
#pragma once

/* What mamorictl hears of USB enforcement: its sections of the control
 * socket's replies, built from the enforcer's public view (usb-enforce.h). */

#include <stdbool.h>

#include "json.h"
#include "policy.h"
#include "usb-enforce.h"

/* One entry of status's "checks": {"name": "usb", "state": ok | degraded |
 * failed | fail_closed, "detail": ..., counts}. p is the policy in force,
 * monitoring whether uevents reach the enforcer; u may be NULL. */
void usb_enforcer_write_check(UsbEnforcer *u, const Policy *p, bool monitoring, JsonWriter *w);

/* The elements of devices's "devices" array: each tracked device and what p
 * decides of it now. u may be NULL (none). */
void usb_enforcer_write_devices(UsbEnforcer *u, const Policy *p, JsonWriter *w);
