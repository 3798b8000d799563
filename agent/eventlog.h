/* SPDX-License-Identifier: MIT */
#pragma once

/* An append-only JSON-lines file of events under the state directory, and the
 * per-host sequence counter that never repeats (persisted by reservation).
 * The reporting issue replaces this with the durable spool. */

#include <stddef.h>
#include <stdint.h>

#include "macro.h"

typedef struct EventLog EventLog;

int eventlog_open(const char *state_dir, EventLog **ret);
EventLog *eventlog_free(EventLog *l);
DEFINE_POINTER_CLEANUP(EventLog, eventlog_free);
/* The next sequence number; -errno if the counter could not be persisted. */
int eventlog_next_seq(EventLog *l, uint64_t *ret);
int eventlog_append(EventLog *l, const char *json, size_t len);
