/* SPDX-License-Identifier: MIT */
#pragma once

/* The answers to the control socket's requests (agent/control/ speaks the
 * protocol): the Manager's own state and one section per module, which the
 * module writes of itself. At agent/ top, beside the Manager, because it is
 * where the modules are put together; no module includes it. */

#include "control.h"
#include "json.h"

typedef struct Manager Manager;

/* The replies, written as one JSON object each (control-reply.c). */
void control_reply_status(Manager *m, JsonWriter *w);
void control_reply_devices(Manager *m, JsonWriter *w);
void control_reply_flush(Manager *m, JsonWriter *w);
/* Reloads the configuration (as SIGHUP does) and says whether it took. */
void control_reply_reload(Manager *m, JsonWriter *w);
/* The self-inspection sheet's data (mamorictl inspect): the posture as
 * agent.posture records it (manager-posture.c). */
void control_reply_inspect(Manager *m, JsonWriter *w);
/* quarantine engage|release REASON (issue 15): as root only (the socket is);
 * {"quarantine": "engaged"|"already"|"released"} or an "error". */
void control_reply_quarantine(Manager *m, const ControlRequest *req, JsonWriter *w);
