/* SPDX-License-Identifier: MIT */
#pragma once

/* The uplink's state for mamorid and systemd: $RUNTIME_DIRECTORY/status
 * (common/uplink-status.h: KEY=VALUE lines, written to a temporary file and
 * renamed, 0644) and the unit's STATUS= line. Written once per loop
 * iteration after any change (a defer source: nothing runs when nothing
 * changes). */

#include <systemd/sd-event.h>

#include "macro.h"
#include "uplink.h"

typedef struct UplinkStateWriter UplinkStateWriter;

int uplink_state_writer_new(sd_event *e, Uplink *u, const char *runtime_dir, UplinkStateWriter **ret);
UplinkStateWriter *uplink_state_writer_free(UplinkStateWriter *w);
DEFINE_POINTER_CLEANUP(UplinkStateWriter, uplink_state_writer_free);

/* Something changed: write at the end of this loop iteration. */
void uplink_state_writer_schedule(UplinkStateWriter *w);
/* Writes now (at start, before READY=1). */
int uplink_state_writer_write(UplinkStateWriter *w);
