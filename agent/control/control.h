/* SPDX-License-Identifier: MIT */
#pragma once

/* The control socket that mamorictl talks to: a root-only AF_UNIX stream
 * socket in the runtime directory (mode 0600, and every peer's SO_PEERCRED
 * uid checked). One request per connection, one line:
 *
 *     status | devices | events [N] | follow [N] | flush | reload | inspect
 *     quarantine engage REASON | quarantine release REASON
 *
 * The reply is JSON lines, then the daemon closes the connection; `follow`
 * stays open and gets every new event as it is recorded. An error is one line
 * {"error": "...", "errno": N}. Requests are bounded in size and time, clients
 * in number, and replies in the memory they may hold and in the time they may
 * take to be read (a client that does not read is dropped, a follower that
 * stops reading too); followers take at most half of the slots. Nothing here
 * blocks the event loop, and no set of stuck clients locks mamorictl out for
 * longer than those timeouts. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "event-sink.h"
#include "json.h"
#include "macro.h"

#define CONTROL_SOCKET_NAME "control"
#define CONTROL_REQUEST_MAX 256
#define CONTROL_EVENTS_KEPT 256 /* recent events `events` can show */

typedef struct Control Control;

typedef enum ControlVerb {
        CONTROL_STATUS,
        CONTROL_DEVICES,
        CONTROL_EVENTS,
        CONTROL_FOLLOW,
        CONTROL_FLUSH,
        CONTROL_RELOAD,
        CONTROL_INSPECT,
        CONTROL_QUARANTINE, /* issue 15: "quarantine engage|release REASON" */
        _CONTROL_VERB_MAX,
} ControlVerb;

typedef struct ControlRequest {
        ControlVerb verb;
        unsigned count; /* events/follow: how many recent events; 0 for the others */
        /* quarantine: the action and the admin's reason (the rest of the line, unchecked here) */
        bool release;
        char arg[CONTROL_REQUEST_MAX + 1];
        /* the peer, as the kernel says (SO_PEERCRED, and /proc/PID/loginuid); -1 unknown */
        int64_t peer_uid, peer_login_uid;
} ControlRequest;

/* Parses one request line (without its newline). Pure. 0 or -EINVAL/-EBADMSG. */
int control_request_parse(const char *line, size_t len, ControlRequest *ret);
const char *control_verb_to_string(ControlVerb v);

/* Writes the one JSON object that answers req (status, devices, flush,
 * reload: the state of the modules, control-reply.c). */
typedef void (*ControlReplyFn)(void *userdata, const ControlRequest *req, JsonWriter *w);

/* Binds <runtime_dir>/control and starts accepting on event; reply(userdata,
 * ...) answers the requests that ask for state. */
int control_new(sd_event *event, const char *runtime_dir, ControlReplyFn reply, void *userdata, Control **ret);
Control *control_free(Control *c);
DEFINE_POINTER_CLEANUP(Control, control_free);

/* The sink (event-sink.h): every recorded event, as its line of JSON, is
 * kept for `events` and sent to the followers. */
EventSink control_sink(Control *c);
