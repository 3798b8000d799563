/* SPDX-License-Identifier: MIT */
#pragma once

/* Network awareness: a libnl-3 route socket on the event loop watches links
 * and routes. When a link gains its carrier or a default route appears, the
 * handler hears of it at once, so that the uplink need not wait out a
 * backoff to notice that the network is back. Loopback is ignored. */

#include <systemd/sd-event.h>

#include "macro.h"

typedef struct Netwatch Netwatch;

/* why: "carrier on eth0", "default route (IPv4)" */
typedef void (*NetwatchHandler)(const char *why, void *userdata);

int netwatch_new(sd_event *e, NetwatchHandler handler, void *userdata, Netwatch **ret);
Netwatch *netwatch_free(Netwatch *n);
DEFINE_POINTER_CLEANUP(Netwatch, netwatch_free);
